"""The testing kit as a user meets it: run_app, a crashing app failing its test, scripts."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import jbtrio
import jbtrio.testing
from jbtrio.testing import (
    AppCommand,
    AppFailed,
    Caller,
    DialOutcome,
    FakeJambonz,
    HangUp,
    JambonzConfig,
    LlmScript,
    ScriptedToolCall,
    Silence,
    Turn,
    run_app,
)
from jbtrio.verbs import Dial, Gather, Hangup, Say, Target


def crashing_app(**kwargs: Any) -> jbtrio.App:
    app = jbtrio.App(**kwargs)

    @app.flow("/crash")
    async def crash(call: jbtrio.Call) -> jbtrio.Steps:
        yield Say(text="Hello.")
        raise RuntimeError("boom")

    return app


# ---------------------------------------------------------------------- a crash fails the test


async def test_run_app_passes_a_working_app(autojump_clock: trio.testing.MockClock) -> None:
    from examples.ivr import app

    call = await run_app(app, "/ivr", caller=Caller(speech=["I need help"]))
    assert call.outcome.ok
    assert call.executed_verbs[-2:] == [
        {"verb": "say", "text": "You said: I need help"},
        {"verb": "hangup"},
    ]


async def test_a_crashing_flow_fails_with_its_exception_and_call_sid(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with pytest.raises(AppFailed) as failed:
        await run_app(crashing_app(), "/crash")
    call = failed.value.call
    message = str(failed.value)
    assert message.startswith(
        f"app failed: flow crash raised RuntimeError('boom') (call_sid {call.call_sid})"
    )
    assert 'say "Sorry, something went wrong. Goodbye."' in message  # the transcript's tail
    assert isinstance(failed.value.__cause__, RuntimeError)
    error = call.outcome.app_errors[0]
    assert error.exception is failed.value.__cause__ and error.call_sid == call.call_sid
    assert not call.outcome.ok


async def test_check_false_returns_the_failed_call(autojump_clock: trio.testing.MockClock) -> None:
    call = await run_app(crashing_app(), "/crash", check=False)
    assert not call.outcome.ok
    assert isinstance(call.outcome.app_errors[0].exception, RuntimeError)
    # what jambonz saw: the apology, then a hangup the caller did not ask for
    assert call.executed_verbs == [
        {"verb": "say", "text": "Hello."},
        {"verb": "say", "text": "Sorry, something went wrong. Goodbye."},
        {"verb": "hangup"},
    ]


async def test_an_unknown_verb_fails_the_test(autojump_clock: trio.testing.MockClock) -> None:
    app = jbtrio.App()

    @app.flow("/typo")
    async def typo(call: jbtrio.Call) -> jbtrio.Steps:
        yield jbtrio.Step({"verb": "sya", "text": "Hello"})

    with pytest.raises(AppFailed, match="unknown verb 'sya'") as failed:
        await run_app(app, "/typo")
    assert isinstance(failed.value.__cause__, jbtrio.VerbError)
    # the apology comes at once: the caller does not wait in silence for the deadline ack
    ack = failed.value.call.received("ack")[0]
    assert ack.time == failed.value.call.transcript[0].time
    assert "Sorry, something went wrong" in ack.text


async def test_a_handler_crash_fails_the_test(autojump_clock: trio.testing.MockClock) -> None:
    app = jbtrio.App()

    @app.route("/h")
    async def handler(call: jbtrio.Call) -> None:
        await call.run(Say(text="one moment"))
        raise KeyError("account")

    with pytest.raises(AppFailed, match=r"handler .*handler raised KeyError\('account'\)"):
        await run_app(app, "/h")


async def test_an_event_handler_crash_fails_the_test(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()

    @app.on("call:status")
    async def on_status(event: jbtrio.Event) -> None:
        raise ValueError("bad status handling")

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        yield Gather(input=["speech"])
        yield Hangup()

    with pytest.raises(AppFailed, match="an event handler raised ValueError") as failed:
        await run_app(app, "/f", caller=Caller(speech=["hi"]))
    assert isinstance(failed.value.__cause__, ValueError)


async def test_a_flow_that_returns_no_generator_apologises(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()

    async def not_a_flow(call: jbtrio.Call) -> None:
        pass

    @app.route("/h")
    async def handler(call: jbtrio.Call) -> None:
        await call.run_flow(not_a_flow)  # type: ignore[arg-type]

    call = await run_app(app, "/h", check=False)
    assert isinstance(call.outcome.app_errors[0].exception, TypeError)
    apology = {"verb": "say", "text": "Sorry, something went wrong. Goodbye."}
    assert call.executed_verbs[0] == apology


def test_a_non_generator_flow_is_refused_when_registered() -> None:
    app = jbtrio.App()
    with pytest.raises(TypeError, match="async def without yield"):

        @app.flow("/f")  # type: ignore[type-var]
        async def no_yield(call: jbtrio.Call) -> None:
            pass

    with pytest.raises(TypeError, match="not an async generator function"):
        app.flow("/g")(lambda call: None)  # type: ignore[type-var]
    with pytest.raises(TypeError, match=r"it is a flow, register it with @app.flow"):

        @app.route("/r")  # type: ignore[type-var]
        async def flow(call: jbtrio.Call) -> jbtrio.Steps:
            yield Hangup()

    assert app.paths == ()


async def test_the_apology_is_recognised_over_the_wire(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Out of process, the fake sees only what jambonz sees: the apology and a hangup."""
    app = crashing_app(error_verbs=[Say(text="Oops."), Hangup()])
    async with trio.open_nursery() as nursery:
        server: jbtrio.Server = await nursery.start(jbtrio.Server(app).run_in)
        fake, url = FakeJambonz(), "ws://jbtrio.test/crash"
        plain = await fake.place_call(url, connector=server.open_memory_stream)
        told = await fake.place_call(
            url, connector=server.open_memory_stream, error_verbs=app.error_verbs
        )
        await server.shutdown(grace=0)
    assert plain.outcome.ok  # not jbtrio's default apology: nothing to recognise
    assert not told.outcome.ok
    assert told.outcome.app_errors[0].exception is None
    assert told.outcome.summary() == (
        "app failed: a flow crashed: its apology (error_verbs) was played "
        f"(call_sid {told.call_sid}; the exception is in the app's log)"
    )


async def test_the_fixture_runs_apps_in_process(
    fake_jambonz: FakeJambonz, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(AppFailed):
        await fake_jambonz.run_app(crashing_app(), "/crash")
    from examples.hello import app

    call = await fake_jambonz.run_app(app, "/hello")
    assert call.executed_verbs[-1] == {"verb": "hangup"}


async def test_listeners_are_removed_and_only_hear_their_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = crashing_app()
    heard: list[str] = []
    remove = app.add_failure_listener(lambda call, where, exc: heard.append(where))
    async with trio.open_nursery() as nursery:
        for _ in range(2):
            nursery.start_soon(lambda: run_app(app, "/crash", check=False))
    remove()
    assert heard == ["flow crash"] * 2
    assert app._failure_listeners == []


# ---------------------------------------------------------------------- the caller's script


async def test_turns_in_any_order_and_a_hang_up(autojump_clock: trio.testing.MockClock) -> None:
    app = jbtrio.App()
    heard: list[str] = []

    @app.flow("/menu")
    async def menu(call: jbtrio.Call) -> jbtrio.Steps:
        for _ in range(4):
            answer: jbtrio.GatherResult = yield Gather(input=["speech", "digits"], timeout=5)
            heard.append(f"{answer.reason}:{answer.digits or answer.speech_text or ''}")

    caller = Caller(turns=[Turn("digits", "12"), Silence(), Turn("speech", "hi"), HangUp()])
    call = await run_app(app, "/menu", caller=caller)
    assert heard == ["dtmfDetected:12", "timeout:", "speechDetected:hi"]
    assert call.outcome.reason == "caller hung up" and call.outcome.ended_by == "caller"


async def test_one_dial_outcome_per_dial(autojump_clock: trio.testing.MockClock) -> None:
    app = jbtrio.App()
    results: list[str] = []

    @app.flow("/dial")
    async def dial(call: jbtrio.Call) -> jbtrio.Steps:
        for number in ("+15550001", "+15550002"):
            result: jbtrio.DialResult = yield Dial(target=[Target(type="phone", number=number)])
            results.append(str(result.dial_call_status))
        yield Hangup()

    busy = DialOutcome(answered=False, call_status="busy", sip_status=486)
    await run_app(app, "/dial", caller=Caller(dial=[busy, DialOutcome(duration=1)]))
    assert results == ["busy", "completed"]


SCRIPT = {
    "turns": [{"digits": "1"}, "silence", {"say": "I need help", "confidence": 0.7}, "hangup"],
    "response_delay": 0.5,
    "idle_hangup": "never",
    "dial": [{"answered": False, "call_status": "no-answer", "sip_status": 480}, {}],
    "llm": {"tool_calls": [{"name": "get_weather", "args": {"city": "Paris"}}]},
}
SCRIPT_TOML = """
response_delay = 0.5
idle_hangup = "never"
turns = [{ digits = "1" }, "silence", { say = "I need help", confidence = 0.7 }, "hangup"]

[[dial]]
answered = false
call_status = "no-answer"
sip_status = 480

[[dial]]

[llm]
tool_calls = [{ name = "get_weather", args = { city = "Paris" } }]
"""


def test_a_script_file_in_json_or_toml(tmp_path: Path) -> None:
    expected = Caller(
        turns=[Turn("digits", "1"), Silence(), Turn("speech", "I need help", 0.7), HangUp()],
        response_delay=0.5,
        idle_hangup=None,
        dial=(DialOutcome(answered=False, call_status="no-answer", sip_status=480), DialOutcome()),
        llm=LlmScript(tool_calls=(ScriptedToolCall("get_weather", {"city": "Paris"}, "call_1"),)),
    )
    (tmp_path / "caller.json").write_text(json.dumps(SCRIPT))
    (tmp_path / "caller.toml").write_text(SCRIPT_TOML)
    assert Caller.from_file(tmp_path / "caller.json") == expected
    assert Caller.from_file(tmp_path / "caller.toml") == expected


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ({"turns": [{"sya": "hi"}]}, r"turns\[0\]: unknown key\(s\) \['sya'\]"),
        ({"turn": []}, r"the script: unknown key\(s\) \['turn'\]"),
        ({"turns": ["mumble"]}, r"turns\[0\]: 'mumble' is not a turn"),
        ({"turns": [{"say": "a", "digits": "1"}]}, "one of 'say' and 'digits'"),
        ({"dial": {"answerd": True}}, r"dial: unknown key\(s\) \['answerd'\]"),
        ({"llm": {"tool_calls": [{"nam": "x"}]}}, r"llm.tool_calls\[0\]: unknown key"),
        ({"response_delay": "1"}, "response_delay: expected a number"),
    ],
)
def test_a_script_with_a_typo_is_refused(script: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Caller.from_dict(script)


# ---------------------------------------------------------------------- smaller things


async def test_received_finds_commands_by_name(autojump_clock: trio.testing.MockClock) -> None:
    from examples.tts_stream import app

    call = await run_app(app, "/tts-stream")
    tokens = call.received("tts:tokens")
    assert tokens and all(f.type == "command" for f in tokens)
    assert all(isinstance(c, AppCommand) for c in call.commands)
    assert "tts:tokens" in call.readable()


def test_no_stray_names_in_the_public_modules() -> None:
    assert "annotations" not in dir(jbtrio)
    assert "annotations" not in dir(jbtrio.testing)
    assert "annotations" not in dir(jbtrio.verbs)


def _public(module: object) -> set[str]:
    """Public names a module defines or re-exports (its imported submodules, such as
    ``jbtrio.testing.audio`` beside ``jbtrio.audio``, are not names it exports)."""
    return {
        name
        for name in dir(module)
        if not name.startswith("_") and not isinstance(getattr(module, name), types.ModuleType)
    }


def test_the_testing_kit_shadows_no_name_of_jbtrio() -> None:
    assert not _public(jbtrio.testing) & (_public(jbtrio) | _public(jbtrio.verbs))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Call", "FakeCall"),
        ("CallEndedError", "FakeCallEnded"),
        ("Frame", "TranscriptFrame"),
        ("ToolCall", "ScriptedToolCall"),
    ],
)
def test_the_old_names_of_the_kit_still_work_with_a_warning(old: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"use jbtrio.testing.{new}"):
        value = getattr(jbtrio.testing, old)
    assert value is getattr(jbtrio.testing, new)
    with pytest.raises(AttributeError):
        jbtrio.testing.NoSuchName  # type: ignore[attr-defined]  # noqa: B018


async def test_the_fake_follows_its_config(autojump_clock: trio.testing.MockClock) -> None:
    from examples.hello import app

    config = JambonzConfig(say_seconds_per_char=1.0)
    call = await run_app(app, "/hello", config=config)
    assert call.transcript[-1].time - call.transcript[0].time >= 30
