"""``/agent``: a voice agent on jambonz 10.x/11.x's ``agent`` verb, with two tools.

jambonz runs the whole conversation itself (speech-to-text, turn detection, the LLM, text-to-
speech, barge-in); the app hands it the agent's configuration, serves its tools and watches
its turns:

- ``order_status`` and ``book_callback`` are served by ``@app.tool``: jambonz sends
  ``agent:tool-call``, jbtrio runs the tool in the call's nursery and answers with
  ``llm:tool-output`` (``{"result": ...}``);
- once the agent has greeted the caller, a CRM lookup starts; when it returns, the app gives
  the agent the account (``call.agent.inject_context``) and makes it speak up
  (``call.agent.generate_reply``), in the middle of the conversation;
- every ``turn_end`` event carries the latency of each stage of the turn (speech-to-text,
  turn detection, the LLM's first token, the TTS's first audio): the app logs them, and
  tags the call with its slowest turn when the agent is done.

Run it against the fake jambonz with ``jbtrio serve examples.agent:app`` and
``jbtrio call ws://127.0.0.1:3000/agent --script examples/agent_script.json``.
"""

from __future__ import annotations

from typing import Any

import trio

import jbtrio
from jbtrio.verbs import (
    Agent,
    AgentBargeIn,
    AgentLlm,
    AgentLlmOptions,
    Hangup,
    Recognizer,
    Say,
    Synthesizer,
    Tag,
)

app = jbtrio.App(jambonz="11")

#: How long the (simulated) CRM takes to find the caller's account.
CRM_SECONDS = 2.0

PROMPT = (
    "You are the voice assistant of Acme Deliveries. Answer in one or two short sentences. "
    "Use order_status for questions about an order and book_callback when the caller wants "
    "a person to call them back."
)
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "order_status",
            "description": "Where an order is and when it arrives",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "book_callback",
            "description": "Book a call back from a person at the given time (HH:MM)",
            "parameters": {
                "type": "object",
                "properties": {"time": {"type": "string"}},
                "required": ["time"],
            },
        },
    },
]

ORDERS = {"1234": {"order_id": "1234", "status": "out for delivery", "eta": "today 17:00"}}


@app.tool("order_status")
async def order_status(call: jbtrio.Call, order_id: str = "") -> dict[str, Any]:
    """A stand-in for the order database."""
    return ORDERS.get(order_id, {"order_id": order_id, "status": "unknown order"})


@app.tool("book_callback")
async def book_callback(call: jbtrio.Call, time: str = "") -> str:
    """A stand-in for the callback scheduler; refuses times it cannot read."""
    hours, _, minutes = time.partition(":")
    if not (hours.isdigit() and minutes.isdigit()):
        raise ValueError(f"cannot read the time {time!r}")
    call.locals["callback"] = time
    return f"callback booked at {time}"


async def crm_lookup(call: jbtrio.Call) -> None:
    """Find the caller's account, then tell the agent and have it speak up."""
    await trio.sleep(CRM_SECONDS)  # a stand-in for the CRM's API
    await call.agent.inject_context(
        [{"role": "system", "content": f"The caller ({call.info.from_}) is Ada, a Gold member."}]
    )
    await call.agent.generate_reply(instructions="Greet Ada by name and thank her for being Gold.")


@app.flow("/agent")
async def agent(call: jbtrio.Call) -> jbtrio.Steps:
    """Run the agent until it ends, then tag the call with its turns and hang up."""
    turns: list[jbtrio.AgentLatency] = []

    async def on_turn(event: jbtrio.Event) -> None:
        """Each event runs in its own task of the call: it may take its time."""
        message = event.message
        assert isinstance(message, jbtrio.AgentEvent)
        data = message.data
        if data.type != "turn_end" or data.latency is None:
            return
        turns.append(data.latency)
        call.log.info(
            "turn %d: stt %s ms, end of turn %s ms, llm %s ms, tts %s ms%s",
            len(turns),
            data.latency.transcriber_latency,
            data.latency.turn_detection_latency,
            data.latency.model_latency,
            data.latency.voice_latency,
            " (interrupted)" if data.interrupted else "",
        )
        if len(turns) == 1:  # the greeting is over: now ask the CRM who is calling
            await crm_lookup(call)

    call.on("agent:event", on_turn)
    result: jbtrio.AgentResult = yield Agent(
        stt=Recognizer(vendor="deepgram", language="en-US"),
        tts=Synthesizer(vendor="cartesia", voice="sonic-english"),
        llm=AgentLlm(
            vendor="openai",
            model="gpt-4.1-mini",
            llm_options=AgentLlmOptions(
                messages=[{"role": "system", "content": PROMPT}], tools=TOOLS
            ),
        ),
        turn_detection="krisp",
        barge_in=AgentBargeIn(enable=True),
    )
    slowest = max((_total(t) for t in turns), default=0)
    yield [
        Tag(data={"agent_turns": len(turns), "slowest_turn_ms": slowest}),
        Say(text=f"Thanks for calling Acme. Goodbye! ({result.completion_reason or 'done'})"),
        Hangup(),
    ]


def _total(latency: jbtrio.AgentLatency) -> int | float:
    stages = (
        latency.transcriber_latency,
        latency.turn_detection_latency,
        latency.model_latency,
        latency.voice_latency,
    )
    return sum(stage for stage in stages if stage is not None)
