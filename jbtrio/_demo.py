"""``jbtrio demo``: the example apps served on loopback, called by the fake jambonz.

A newcomer sees real call flows work in seconds with no jambonz account: each example in
``examples/`` is served by jbtrio on a loopback port, the testing kit's fake jambonz places
scripted calls to them over TCP, and the transcript of each call is printed — what the caller
said, what the app answered, every hook and command. Exit status 0 only when every call
completed as expected.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import trio

from ._app import App
from ._runtime import Server, ServerConfig
from .testing import (
    AgentScript,
    AgentTurn,
    Caller,
    FakeCall,
    FakeJambonz,
    JambonzConfig,
    LlmScript,
    ScriptedToolCall,
    ScriptedTransfer,
)

__all__ = ["add_arguments", "run"]

#: Media timings of the fake, sped up so the demo takes seconds (the protocol timers — acks,
#: reconnects — stay real).
_FAST_MEDIA = JambonzConfig(
    say_seconds_per_char=0.004, say_min_seconds=0.1, play_seconds=0.3, dial_answer_seconds=0.3
)


@attrs.frozen
class Scenario:
    """One demo call: which example, what the caller does, what must happen."""

    module: str
    path: str
    title: str
    caller: Caller
    expect: Callable[[FakeCall], str | None]
    """Returns ``None`` when the call went as expected, else what went wrong."""


def _last_said(call: FakeCall) -> str:
    said = [v.get("text", "") for v in call.executed_verbs if v.get("verb") == "say"]
    return said[-1] if said else ""


def _expect_said(text: str) -> Callable[[FakeCall], str | None]:
    def check(call: FakeCall) -> str | None:
        last = _last_said(call)
        return None if last.startswith(text) else f"expected the app to say {text!r}, got {last!r}"

    return check


def _expect_tools(call: FakeCall) -> str | None:
    if len(call.record.tool_outputs) != 2:
        return f"expected 2 tool outputs, got {len(call.record.tool_outputs)}"
    return None


def _expect_agent(call: FakeCall) -> str | None:
    """The agent call: two tools answered, a reply generated mid-call, the turns' latencies
    read by the app (it tags the call with them), the app's goodbye and hangup."""
    outputs = [o["data"].get("result") for o in call.record.tool_outputs]
    if len(outputs) != 2 or None in outputs:
        return f"expected 2 tool results, got {outputs}"
    if "generate_reply" not in [u.get("type") for u in call.record.agent_updates]:
        return "expected the app to send a generate_reply"
    tags = [v for v in call.executed_verbs if v.get("verb") == "tag"]
    if not tags or tags[0]["data"].get("agent_turns") != 4:
        return f"expected the app to tag the call with its 4 turns, got {tags}"
    if call.executed_verbs[-1] != {"verb": "hangup"}:
        return "expected the app to hang up"
    return None


#: The agent's side of the demo's agent call (``examples/agent_script.json`` is the same for
#: ``jbtrio call``).
_AGENT = AgentScript(
    greeting="Hello, this is Acme Deliveries. How can I help?",
    turns=[
        AgentTurn(
            says="Where is my order 1234?",
            tool_calls=[
                ScriptedToolCall("order_status", {"order_id": "1234"}, tool_call_id="call_1_1")
            ],
            reply="Your order 1234 is out for delivery and arrives today at 5 pm.",
        ),
        AgentTurn(
            says="Can someone call me back at five?",
            tool_calls=[
                ScriptedToolCall(
                    "book_callback",
                    {"time": "17:00"},
                    tool_call_id="call_2_1",
                    expect="callback booked at 17:00",
                )
            ],
            reply="Done: a colleague will call you back at 5 pm. Anything else for today?",
            barge_in=True,
        ),
    ],
    replies=["Hi Ada, thank you for being a Gold member!"],
    response_delay=0.5,
    linger=0.5,
)


def _expect_transferred(call: FakeCall) -> str | None:
    numbers = [v["target"][0]["number"] for v in call.executed_verbs if v["verb"] == "transfer"]
    if numbers != ["+15551230001", "+15551230002"]:
        return f"expected transfers to sales, then support; got {numbers}"
    return None


def _expect_tts(call: FakeCall) -> str | None:
    tokens = [c for c in call.commands if c.command == "tts:tokens"]
    if not tokens or len(tokens) >= 300:
        return f"expected far fewer than 300 tts:tokens for 300 deltas, got {len(tokens)}"
    return None


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("examples.hello", "/hello", "hello: say and hang up", Caller(), _expect_said("Hello")),
    Scenario(
        "examples.ivr",
        "/ivr",
        'ivr: the caller says "I need help"',
        Caller(speech=["I need help"], response_delay=0.3),
        _expect_said("You said: I need help"),
    ),
    Scenario(
        "examples.ivr",
        "/ivr",
        "ivr: the caller presses 1",
        Caller(digits=["1"], response_delay=0.3),
        _expect_said("Connecting you to sales"),
    ),
    Scenario(
        "examples.dial_confirm",
        "/dial-confirm",
        "dial-confirm: screen the callee, whisper, report",
        Caller(),
        _expect_said("The call ended: completed"),
    ),
    Scenario(
        "examples.voice_agent",
        "/voice-agent",
        "voice-agent: the model calls two tools",
        Caller(
            llm=LlmScript(
                tool_calls=[
                    ScriptedToolCall(
                        name="get_weather", args={"city": "Paris"}, tool_call_id="call_1"
                    ),
                    ScriptedToolCall(name="book_table", args={"people": 4}, tool_call_id="call_2"),
                ],
                duration=0.3,
            )
        ),
        _expect_tools,
    ),
    Scenario(
        "examples.agent",
        "/agent",
        "agent: jambonz runs the agent; the app serves two tools, speaks up mid-call "
        "(generate_reply) and reads each turn's latencies",
        Caller(agent=_AGENT),
        _expect_agent,
    ),
    Scenario(
        "examples.transfer",
        "/transfer",
        "transfer: sales is busy, the caller takes support instead",
        Caller(
            speech=["sales please", "yes"],
            response_delay=0.3,
            transfer=[
                ScriptedTransfer("returned", "busy", sip_status=486),
                ScriptedTransfer(duration=1),
            ],
        ),
        _expect_transferred,
    ),
    Scenario(
        "examples.tts_stream",
        "/tts-stream",
        "tts-stream: an LLM answer as 300 deltas into a streaming say",
        Caller(),
        _expect_tts,
    ),
    Scenario(
        "examples.slow_backend",
        "/slow-backend",
        "slow-backend: the flow thinks for 8 s; jbtrio acks in time",
        Caller(speech=["what is the meaning of life"], response_delay=0.3),
        _expect_said("Thanks for waiting"),
    ),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``demo`` subcommand's options."""
    parser.add_argument("--only", metavar="PATH", help="run only the scenarios for this path")
    parser.add_argument("--json", action="store_true", help="print frames as JSON lines")


def _import_examples() -> None:
    """Make the repository's ``examples`` package importable (the demo serves it)."""
    here = Path(__file__).resolve().parent.parent
    for root in (Path.cwd(), here):
        if (root / "examples" / "__init__.py").exists():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return
    raise SystemExit(
        "jbtrio demo serves the apps in the repository's examples/ folder: "
        "run it from a checkout (bash scripts/demo)"
    )


def build_app(scenarios: Sequence[Scenario]) -> App:
    """One app with every example mounted, as ``jbtrio serve`` would serve each."""
    app = App()
    mounted: set[str] = set()
    for scenario in scenarios:
        if scenario.module in mounted:
            continue
        mounted.add(scenario.module)
        example: App = importlib.import_module(scenario.module).app
        app._routes.update(example._routes)
        app._confirm_flows.update(example._confirm_flows)
        app._tools.update(example._tools)
        app._subscriptions.extend(example._subscriptions)
    return app


def _print_call(scenario: Scenario, call: FakeCall, problem: str | None, as_json: bool) -> None:
    print(f"\n── {scenario.title}  [ws://…{scenario.path}]")
    if as_json:
        for frame in call.transcript:
            print(frame.to_json())
    else:
        print(call.readable())
    outcome = call.outcome
    verdict = "✓" if outcome.ok and problem is None else "✗"
    print(f"  {verdict} {outcome.summary()}" + (f"; {problem}" if problem else ""))


async def _run(scenarios: Sequence[Scenario], as_json: bool) -> int:
    app = build_app(scenarios)
    fake = FakeJambonz(_FAST_MEDIA)
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app, ServerConfig()).run, "127.0.0.1", 0)
        print(f"jbtrio is serving {len(scenarios)} example call(s) on ws://127.0.0.1:{server.port}")
        calls: list[FakeCall] = []
        async with trio.open_nursery() as calls_nursery:
            for scenario in scenarios:
                call = fake.new_call(
                    f"ws://127.0.0.1:{server.port}{scenario.path}", caller=scenario.caller
                )
                calls.append(call)
                calls_nursery.start_soon(call.run, name=f"demo call {scenario.path}")
        failures = 0
        for scenario, call in zip(scenarios, calls, strict=True):
            problem = scenario.expect(call)
            failures += not (call.outcome.ok and problem is None)
            _print_call(scenario, call, problem, as_json)
        await server.shutdown(grace=1.0)
    print(
        f"\n{len(scenarios) - failures} of {len(scenarios)} demo calls completed as expected."
        + ("" if failures == 0 else " See the ✗ lines above.")
    )
    return 1 if failures else 0


def run(args: argparse.Namespace) -> int:
    """Serve the examples, call them, print the transcripts."""
    _import_examples()
    scenarios = [s for s in SCENARIOS if args.only is None or s.path == args.only]
    if not scenarios:
        raise SystemExit(f"no demo scenario for {args.only}")
    return trio.run(_run, scenarios, args.json)
