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
from typing import Any

import attrs
import trio

from ._app import App
from ._runtime import Server, ServerConfig
from .testing import Call as FakeCall
from .testing import Caller, FakeJambonz, Frame, JambonzConfig, LlmScript, ToolCall

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
                    ToolCall(name="get_weather", args={"city": "Paris"}, tool_call_id="call_1"),
                    ToolCall(name="book_table", args={"people": 4}, tool_call_id="call_2"),
                ],
                duration=0.3,
            )
        ),
        _expect_tools,
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


def describe_verbs(verbs: Any) -> str:
    """``say "Hi" · gather(speech) → /hook · hangup``."""
    if not isinstance(verbs, list) or not verbs:
        return "(no verbs)"
    parts = []
    for verb in verbs:
        if not isinstance(verb, dict):
            parts.append(repr(verb))
            continue
        name = verb.get("verb", "?")
        if name == "say" and verb.get("stream"):
            parts.append("say (streaming: text comes as tts:tokens)")
        elif name == "say":
            parts.append(f'say "{verb.get("text", "")}"')
        elif name == "gather":
            inputs = ",".join(verb.get("input") or [])
            prompt = (verb.get("say") or {}).get("text")
            head = f"gather({inputs})" + (f' "{prompt}"' if prompt else "")
            parts.append(f"{head} → {verb.get('actionHook')}")
        elif name == "dial":
            numbers = [t.get("number") for t in verb.get("target") or [] if isinstance(t, dict)]
            parts.append(f"dial {','.join(str(n) for n in numbers)} → {verb.get('actionHook')}")
        elif name == "llm":
            parts.append(f"llm {verb.get('vendor')} → {verb.get('actionHook')}")
        elif name == "config":
            keys = ",".join(k for k in verb if k != "verb")
            parts.append(f"config({keys})")
        else:
            parts.append(str(name))
    return " · ".join(parts)


def describe(frame: Frame) -> str:
    """One readable line for a frame of the transcript."""
    data = frame.data or {}
    payload = data.get("data")
    kind = frame.type or "?"
    if kind == "session:new" and isinstance(payload, dict):
        return f"session:new      from {payload.get('from')} to {payload.get('to')}"
    if kind == "verb:hook" and isinstance(payload, dict):
        detail = ""
        speech = payload.get("speech")
        if isinstance(speech, dict) and speech.get("alternatives"):
            detail = f'caller said "{speech["alternatives"][0].get("transcript")}"'
        elif payload.get("digits"):
            detail = f"caller pressed {payload['digits']}"
        elif payload.get("dial_call_status"):
            detail = f"dial {payload['dial_call_status']}"
        elif payload.get("completion_reason"):
            detail = str(payload["completion_reason"])
        elif payload.get("reason"):
            detail = str(payload["reason"])
        return f"verb:hook {data.get('hook')}  {detail}"
    if kind == "call:status" and isinstance(payload, dict):
        leg = " (dialed leg)" if payload.get("direction") == "outbound" else ""
        return f"call:status      {payload.get('call_status')}{leg}"
    if kind == "dial:confirm":
        return f"dial:confirm {data.get('hook')}  callee answered"
    if kind == "llm:tool-call" and isinstance(payload, dict):
        return f"llm:tool-call    {payload.get('name')}({payload.get('args')})"
    if kind == "ack":
        return f"ack              {describe_verbs(data.get('data'))}"
    if kind == "command":
        name = data.get("command")
        if name in ("redirect", "whisper"):
            verbs = payload.get("whisper") if isinstance(payload, dict) else payload
            if isinstance(verbs, dict):
                verbs = [verbs]
            leg = " (to the dialed leg)" if data.get("callSid") else ""
            return f"command {name}{leg}  {describe_verbs(verbs)}"
        if name == "llm:tool-output":
            return f"command llm:tool-output {data.get('tool_call_id')}"
        if name == "tts:tokens" and isinstance(payload, dict):
            text = str(payload.get("tokens", ""))
            return f'command tts:tokens #{payload.get("id")} ({len(text)} chars) "{text[:40]}…"'
        return f"command {name}"
    if kind == "tts:tokens-result" and isinstance(payload, dict):
        return f"tts:tokens-result #{payload.get('id')} {payload.get('status')}"
    if kind == "tts:streaming-event" and isinstance(payload, dict):
        return f"tts:streaming-event {payload.get('event_type')}"
    return kind


def _is_tts_traffic(frame: Frame) -> bool:
    data = frame.data or {}
    return frame.type == "tts:tokens-result" or data.get("command") == "tts:tokens"


def _print_call(scenario: Scenario, call: FakeCall, problem: str | None, as_json: bool) -> None:
    print(f"\n── {scenario.title}  [ws://…{scenario.path}]")
    t0 = call.transcript[0].time if call.transcript else 0.0
    run: list[Frame] = []  # consecutive tts:tokens traffic, shown as one line

    def show_run() -> None:
        if not run:
            return
        sent = [f for f in run if f.direction == "in"]
        chars = sum(len(str((f.payload or {}).get("tokens", ""))) for f in sent)
        ok = sum(1 for f in run if f.direction == "out" and (f.payload or {}).get("status") == "ok")
        print(
            f"  {run[0].time - t0:6.2f}s  app ⇄ jambonz  {len(sent)} tts:tokens, {chars} chars "
            f"(one in flight, deltas coalesced), {ok} answered ok"
        )
        run.clear()

    for frame in call.transcript:
        if as_json:
            print(frame.to_json())
            continue
        if _is_tts_traffic(frame):
            run.append(frame)
            continue
        show_run()
        arrow = "jambonz → app" if frame.direction == "out" else "app → jambonz"
        print(f"  {frame.time - t0:6.2f}s  {arrow}  {describe(frame)}")
    show_run()
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
