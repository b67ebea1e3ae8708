"""Drops and reconnects: session:reconnect, queueing, abandoned acks, backoff, caps, §5.4."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio
import trio.testing
from _standalone_app import AppConn, StandaloneApp, place

from jbtrio.testing import At, Caller, Drop, FakeJambonz, Faults, JambonzConfig


def in_progress(msg: dict[str, Any]) -> bool:
    return bool(msg["type"] == "call:status" and msg["data"]["call_status"] == "in-progress")


async def test_drop_reconnects_with_original_session_data(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(
        initial_verbs=[{"verb": "pause", "length": 5}, {"verb": "hangup"}],
    )
    faults = Faults([Drop(At("out", type="call:status"))])
    call = await place(app, faults=faults)
    assert call.outcome.ok
    assert len(app.conns) == 2
    assert app.conns[0].close_code == 1006
    new, reconnect = app.conns[0].messages[0], app.conns[1].messages[0]
    assert reconnect["type"] == "session:reconnect"
    assert reconnect["msgid"] != new["msgid"]
    assert reconnect["call_sid"] == new["call_sid"]
    assert reconnect["data"] == new["data"]
    opens = [e for e in call.events if e.kind == "open"]
    close = next(e for e in call.events if e.kind == "close")
    assert opens[1].time - close.time == pytest.approx(0.5)


async def test_app_close_with_non_1000_code_reconnects(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if in_progress(msg) and conn.index == 1:
            await conn.close(4000)
            return True
        return False

    app = StandaloneApp(
        initial_verbs=[{"verb": "pause", "length": 5}, {"verb": "hangup"}], on_message=on_message
    )
    call = await place(app)
    close = next(e for e in call.events if e.kind == "close")
    assert (close.code, close.by) == (4000, "app")
    assert [m["type"] for m in app.conns[1].messages][:1] == ["session:reconnect"]
    assert call.outcome.status == "completed"
    assert call.outcome.faults == ("app closed the socket with 4000",)


async def test_app_close_1000_never_reconnects_and_discards(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if in_progress(msg):
            await conn.close(1000)
            return True
        return False

    app = StandaloneApp(
        initial_verbs=[
            {"verb": "config", "notifyEvents": True},
            {"verb": "pause", "length": 5},
            {"verb": "gather", "input": ["speech"], "actionHook": "/gather"},
        ],
        on_message=on_message,
    )
    call = await place(app, caller=Caller(speech=["anyone?"]))
    assert len(app.conns) == 1
    assert call.outcome.status == "completed"
    assert call.outcome.reason == "app closed the socket (1000)"
    close = next(e for e in call.events if e.kind == "close")
    assert (close.code, close.by) == (1000, "app")
    assert all(f.time <= close.time for f in call.sent())
    paused = [f.payload for f in call.sent("verb:status") if f.payload["name"] == "pause"]
    assert {"event": "finished", "name": "pause"} not in paused
    assert [v["verb"] for v in call.executed_verbs] == ["config", "pause", "gather"]


async def test_messages_produced_while_down_are_queued_and_flushed_after_ack(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "session:reconnect":
            await trio.sleep(2)
            await conn.ack(msg["msgid"])
            return True
        return False

    app = StandaloneApp(
        initial_verbs=[
            {"verb": "config", "notifyEvents": True},
            {"verb": "pause", "length": 0.2},
            {"verb": "pause", "length": 5},
            {"verb": "hangup"},
        ],
        on_message=on_message,
    )
    faults = Faults(
        [Drop(At("out", type="verb:status", predicate=lambda f: f.payload["name"] == "pause"))]
    )
    call = await place(app, faults=faults)
    assert call.outcome.ok
    second = app.conns[1].messages
    assert second[0]["type"] == "session:reconnect"
    # The message that started the connect goes out after what was queued meanwhile.
    assert [m["data"] for m in second[1:3]] == [
        {"event": "starting", "name": "pause"},
        {"event": "finished", "name": "pause"},
    ]
    reconnect_frame = call.sent("session:reconnect")[0]
    flushed = [f for f in call.sent("verb:status") if f.connection == 2]
    assert flushed[0].time - reconnect_frame.time == pytest.approx(2)
    # the verb:status produced at 0.2 s connected at once, without the 0.5 s backoff
    opens = [e for e in call.events if e.kind == "open"]
    assert opens[1].time == pytest.approx(0.2)


async def test_in_flight_hook_is_abandoned_on_drop(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(
        initial_verbs=[
            {"verb": "gather", "input": ["speech"], "actionHook": "/gather"},
            {"verb": "say", "text": "moved on"},
            {"verb": "hangup"},
        ],
    )
    faults = Faults([Drop(At("out", type="verb:hook"), when="after")])
    call = await place(app, caller=Caller(speech=["hello"]))
    assert call.outcome.ok
    call = await place(app, caller=Caller(speech=["hello"]), faults=faults)
    error = call.sent("jambonz:error")[0]
    hook = call.sent("verb:hook")[0]
    assert error.time >= hook.time
    # The real shape: abandoning is a plain-string rejection, so no details (0.9.8).
    assert error.payload == {"msg": "invalid actionHook response", "verb": "gather"}
    assert call.spoken == ["moved on"]
    assert call.outcome.faults == ()


async def test_no_reconnect_ack_hangs_up(autojump_clock: trio.testing.MockClock) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        return bool(msg["type"] == "session:reconnect")

    app = StandaloneApp(initial_verbs=[{"verb": "pause", "length": 60}], on_message=on_message)
    faults = Faults([Drop(At("out", type="call:status"))])
    call = await place(app, faults=faults)
    assert call.outcome.status == "failed"
    assert call.outcome.reason == "session:reconnect ack timed out"
    reconnect = call.sent("session:reconnect")[0]
    assert call.events[-1].kind == "close"
    assert call.events[-1].time - reconnect.time == pytest.approx(5)
    assert app.conns[1].close_code == 1000


async def test_reconnect_backoff_and_cap(autojump_clock: trio.testing.MockClock) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] in ("session:new", "session:reconnect"):
            await conn.ack(msg["msgid"], [{"verb": "pause", "length": 100}])
            await conn.close(4001)
            return True
        return False

    app = StandaloneApp(on_message=on_message)
    call = await place(app, fake=FakeJambonz(JambonzConfig(max_duration=50)))
    opens = [e.time for e in call.events if e.kind == "open"]
    assert len(opens) == 5
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(opens)]
    assert gaps == [0.5, 1.0, 2.0, 4.0]
    assert call.outcome.reason == "max duration reached"


async def test_rc_fragment_lowers_reconnect_cap(autojump_clock: trio.testing.MockClock) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] in ("session:new", "session:reconnect"):
            await conn.ack(msg["msgid"], [{"verb": "pause", "length": 100}])
            await conn.close(4001)
            return True
        return False

    app = StandaloneApp(on_message=on_message)
    async with trio.open_nursery() as nursery:
        call = await FakeJambonz(JambonzConfig(max_duration=50)).place_call(
            "ws://app/#rc=2", connector=app.memory_connector(nursery)
        )
        nursery.cancel_scope.cancel()
    assert len([e for e in call.events if e.kind == "open"]) == 2


async def drop_before_session_new_ack(app: StandaloneApp, config: JambonzConfig) -> Any:
    faults = Faults([Drop(At("in", type="ack"), when="before")])
    return await place(app, fake=FakeJambonz(config), faults=faults, caller=Caller(speech=["x"]))


async def test_drop_before_session_new_ack_rekeys_and_stalls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "session:reconnect":
            await conn.ack(msg["msgid"], app.initial_verbs)
            return True
        return False

    app = StandaloneApp(on_message=on_message)
    call = await drop_before_session_new_ack(app, JambonzConfig(max_duration=60))
    assert [m["type"] for m in app.conns[1].messages] == ["session:reconnect"]
    assert [a.msg_type for a in call.acks] == ["session:new"]
    assert call.executed_verbs[0]["verb"] == "say"
    # §5.4: every later message stays queued for ever, so the gather hook never goes out.
    assert call.sent("verb:hook") == []
    assert call.outcome.reason == "max duration reached"


async def test_drop_before_session_new_ack_without_stall(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "session:reconnect":
            await conn.ack(msg["msgid"], app.initial_verbs)
            return True
        return False

    app = StandaloneApp(on_message=on_message)
    call = await drop_before_session_new_ack(app, JambonzConfig(reproduce_rekey_stall=False))
    assert call.outcome.ok
    assert call.spoken[-1] == "You said x"


async def test_rekeyed_reconnect_acked_without_verbs_fails_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp()
    call = await drop_before_session_new_ack(app, JambonzConfig())
    assert call.outcome.reason == "invalid verbs: malformed jambonz payload: must be array"
    assert app.conns[1].close_code == 1001


async def test_session_new_timer_survives_rekeying(autojump_clock: trio.testing.MockClock) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        return bool(msg["type"] == "session:reconnect")

    app = StandaloneApp(on_message=on_message)
    call = await drop_before_session_new_ack(app, JambonzConfig())
    assert call.outcome.reason == "session:new ack timed out"
    session_new = call.sent("session:new")[0]
    assert call.events[-1].time - session_new.time == pytest.approx(5)


async def test_a_normal_reconnect_releases_the_rekey_stall(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The app's one recovery from §5.4 (checked against ws-requestor.js 0.9.8): ack the
    # re-keyed session:reconnect, then close with a code other than 1000; jambonz reconnects
    # normally, and that reconnect's ack flushes every message it held back, in order.
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "session:reconnect" and conn.index == 2:
            await conn.ack(msg["msgid"], app.initial_verbs)
            await conn.close(1011)
            return True
        return False

    app = StandaloneApp(on_message=on_message)
    call = await drop_before_session_new_ack(app, JambonzConfig(max_duration=60))
    assert [e.kind for e in call.events if e.kind == "open"] == ["open"] * 3
    assert [m["type"] for m in app.conns[1].messages] == ["session:reconnect"]
    assert app.conns[2].messages[0]["type"] == "session:reconnect"
    assert call.sent("verb:hook"), "the held gather hook went out after the normal reconnect"
    assert call.outcome.ok, call.outcome.summary()  # that close was the recovery, no fault
    assert call.spoken[-1] == "You said x"


async def test_closing_a_socket_jambonz_is_writing_on_is_still_a_fault(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "verb:hook" and conn.index == 1:
            await conn.close(1011)
            return True
        return False

    app = StandaloneApp(on_message=on_message)
    call = await place(app, caller=Caller(speech=["x"]))
    assert "app closed the socket with 1011" in call.outcome.faults


async def test_any_ack_clears_the_initial_msgid(autojump_clock: trio.testing.MockClock) -> None:
    # _recvAck clears _initMsgId before it looks the msgid up: after an ack to an unknown
    # msgid, a drop before the session:new ack is no longer re-keyed on the next socket.
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "session:new":
            await conn.ack("not-a-msgid-jambonz-sent")
            await conn.close(4000)
            return True
        if msg["type"] == "session:reconnect":
            await conn.ack(msg["msgid"])
            return True
        return False

    app = StandaloneApp(on_message=on_message)
    call = await place(app, fake=FakeJambonz(JambonzConfig(max_duration=20)))
    # So the drop abandons the pending session:new itself (a plain-string rejection): the
    # call is rejected, as middleware.js does for any session:new failure.
    assert call.outcome.status == "failed"
    assert call.outcome.reason.startswith("abandoning msgid ")
