"""End to end: the fake jambonz against a stand-alone trio-websocket app, step by step."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
from _standalone_app import StandaloneApp, place

from jbtrio.testing import Caller, FakeCall, FakeCallEnded, FakeJambonz, JambonzConfig


def check_conversation(call: FakeCall, app: StandaloneApp) -> None:
    """session:new -> say + gather -> verb:hook with speech -> say + hangup -> completed."""
    kinds = [(f.direction, f.type) for f in call.transcript]
    assert kinds == [
        ("out", "session:new"),
        ("in", "ack"),
        ("out", "call:status"),
        ("out", "verb:hook"),
        ("in", "ack"),
        ("out", "call:status"),
    ]
    new, ack1, progress, hook, ack2, completed = call.transcript
    assert ack1.msgid == new.msgid and ack2.msgid == hook.msgid
    assert [v["verb"] for v in ack1.payload] == ["say", "gather"]
    assert progress.payload["call_status"] == "in-progress"
    assert hook.data is not None and hook.data["hook"] == "/gather"
    speech = hook.payload["speech"]
    assert speech["is_final"] is True
    assert speech["alternatives"][0]["transcript"] == "I need help"
    assert hook.payload["reason"] == "speechDetected"
    assert ack2.payload == [{"verb": "say", "text": "You said I need help"}, {"verb": "hangup"}]
    assert completed.payload["call_status"] == "completed"
    assert [e.kind for e in call.events] == ["open", "close"]
    assert (call.events[1].code, call.events[1].by) == (1000, "jambonz")
    assert app.conns[0].close_code == 1000
    assert call.spoken == ["Hi, how can I help?", "You said I need help"]
    assert call.acked_verbs[-1] == {"verb": "hangup"}
    assert call.outcome.ok
    assert call.outcome.ended_by == "app"


async def test_conversation_over_memory_streams(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp()
    call = await place(app, caller=Caller(speech=["I need help"]))
    check_conversation(call, app)
    # say of 19 characters at 0.05 s/char, then the caller answers after 1 s
    assert call.transcript[3].time == pytest.approx(0.95 + 1.0)


async def test_conversation_over_loopback_tcp() -> None:
    app = StandaloneApp()
    config = JambonzConfig(say_seconds_per_char=0.0001, say_min_seconds=0.001)
    async with trio.open_nursery() as nursery:
        port = await app.serve(nursery)
        call = await FakeJambonz(config).place_call(
            f"ws://127.0.0.1:{port}/", caller=Caller(speech=["I need help"], response_delay=0.01)
        )
        nursery.cancel_scope.cancel()
    check_conversation(call, app)


async def test_interactive_call_and_wait_for(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp()
    async with trio.open_nursery() as nursery:
        async with FakeJambonz().call(app.memory_connector(nursery)) as call:
            # The in-progress call:status follows the processing of the session:new ack.
            await call.wait_for_type("call:status")
            assert call.acked_verbs[1]["verb"] == "gather"
            call.speak("I need help")
            hook = await call.wait_for_type("verb:hook")
            assert hook.payload["speech"]["alternatives"][0]["transcript"] == "I need help"
        nursery.cancel_scope.cancel()
    check_conversation(call, app)
    with pytest.raises(FakeCallEnded):
        await call.wait_for_type("session:redirect")


async def test_outcome_before_the_end_raises(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp()
    async with trio.open_nursery() as nursery:
        async with FakeJambonz().call(
            app.memory_connector(nursery), caller=Caller(speech=["x"])
        ) as call:
            assert not call.is_finished
            with pytest.raises(RuntimeError):
                _ = call.outcome
        nursery.cancel_scope.cancel()
    assert call.is_finished and call.outcome.ok


async def test_log_records_carry_the_call_sid(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="jbtrio.testing")
    app = StandaloneApp()
    call = await place(app, caller=Caller(speech=["x"]), call_sid="sid-123")
    records = [r for r in caplog.records if r.name.startswith("jbtrio.testing")]
    assert records
    assert all(getattr(r, "call_sid", None) == "sid-123" for r in records)
    assert all(r.getMessage().startswith("[sid-123] ") for r in records)
    assert call.outcome.ok
