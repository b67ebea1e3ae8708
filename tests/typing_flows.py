"""Type-checking tests of flows, checked by ``mypy --strict`` (not collected by pytest).

Each ``type: ignore[code]`` marks a line mypy must refuse: with ``warn_unused_ignores`` (part
of ``--strict``), a line mypy started accepting makes its ignore unused, and mypy fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jbtrio
from jbtrio.verbs import (
    Agent,
    AgentLlm,
    Dial,
    Gather,
    Hangup,
    Listen,
    Llm,
    OpenaiS2s,
    Room,
    Say,
    Target,
    Transfer,
)

app = jbtrio.App()


@app.flow("/typed")
async def typed(call: jbtrio.Call) -> jbtrio.Steps:
    answer: jbtrio.GatherResult = yield Gather(input=["speech"], say=Say(text="Yes?"))
    yield [Say(text=f"You said {answer.speech_text}"), Hangup()]
    yield (Say(text="a tuple"), Hangup())
    yield jbtrio.Step([{"verb": "say", "text": "wire dicts go in a Step"}])
    yield jbtrio.until_finished(Say(text="and then"))


@app.flow("/wrong")
async def wrong(call: jbtrio.Call) -> jbtrio.Steps:
    yield 42  # type: ignore[misc]
    yield {"verb": "sya"}  # type: ignore[misc]
    yield [{"verb": "say", "text": "a dict in a list"}]  # type: ignore[list-item]
    yield "say hello"  # type: ignore[misc]


if TYPE_CHECKING:  # at run time, @app.flow refuses it with a TypeError

    @app.flow("/not-a-flow")  # type: ignore[type-var]
    async def not_a_flow(call: jbtrio.Call) -> None:
        return None


@app.route("/awaiting")
async def awaiting(call: jbtrio.Call) -> None:
    result: jbtrio.GatherResult = await call.gather(input=["speech"], timeout=5)
    await call.gather(inputt=["speech"])  # type: ignore[call-arg]
    dialed: jbtrio.DialResult = await call.ask(Dial(target=[Target(type="phone", number="1")]))
    done: jbtrio.LlmResult = await call.ask(Llm(vendor="openai", llm_options={}))
    done = await call.ask(OpenaiS2s(llm_options={}))
    wrong: jbtrio.DialResult = await call.ask(Gather(input=["digits"]))  # type: ignore[assignment]
    speech = result.reason == "speechDetected"
    typo = result.reason == "speech"  # type: ignore[comparison-overlap]
    busy = dialed.dial_call_status == "busy"
    target = [Target(type="phone", number="1")]
    moved: jbtrio.TransferResult = await call.ask(Transfer(mode="blind", target=target))
    bridged = moved.transfer_result == "bridged"
    unanswered = moved.transfer_reason == "noanswer"  # type: ignore[comparison-overlap]
    ended: jbtrio.AgentResult = await call.ask(Agent(llm=AgentLlm(vendor="openai")))
    left: jbtrio.ConferenceResult = await call.ask(Room(name="r"))
    heard: jbtrio.ListenResult = await call.ask(Listen(url="/audio"))
    del result, dialed, done, wrong, moved, ended, left, heard, speech, typo, busy
    del bridged, unanswered
