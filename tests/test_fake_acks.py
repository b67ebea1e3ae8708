"""Acks: session:new validity and timeout, hook acks replacing/continuing, late/unknown acks."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from _standalone_app import AppConn, StandaloneApp, place

from jbtrio.testing import Caller


def ignoring(*types: str) -> Any:
    """An on_message that swallows (never acks) the given types."""

    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        return msg.get("type") in types

    return on_message


async def test_session_new_ack_timeout_fails_call_with_1001(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(on_message=ignoring("session:new"))
    call = await place(app)
    assert call.outcome.status == "failed"
    assert call.outcome.reason == "session:new ack timed out"
    assert app.conns[0].close_code == 1001
    close = call.events[-1]
    assert (close.kind, close.code, close.by) == ("close", 1001, "jambonz")
    assert close.time == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("verbs", "reason"),
    [
        ([], "invalid verbs: no application provided"),
        ({"verb": "say"}, "invalid verbs: malformed jambonz payload: must be array"),
        (None, "invalid verbs: malformed jambonz payload: must be array"),
        ([{"verb": "sayy", "text": "x"}], "invalid verbs: verb #0: unknown verb 'sayy'"),
    ],
)
async def test_bad_session_new_ack_fails_call(
    autojump_clock: trio.testing.MockClock, verbs: Any, reason: str
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "session:new":
            if verbs is None:
                await conn.ack(msg["msgid"])
            else:
                await conn.send({"type": "ack", "msgid": msg["msgid"], "data": verbs})
            return True
        return False

    app = StandaloneApp(on_message=on_message)
    call = await place(app)
    assert call.outcome.status == "failed"
    assert call.outcome.reason.startswith(reason)
    assert app.conns[0].close_code == 1001


async def test_late_and_unknown_acks_are_discarded(autojump_clock: trio.testing.MockClock) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "session:new":
            await conn.ack("no-such-msgid", [{"verb": "hangup"}])
            await trio.sleep(6)
            await conn.ack(msg["msgid"], [{"verb": "hangup"}])
            return True
        return False

    app = StandaloneApp(on_message=on_message)
    call = await place(app)
    assert call.outcome.reason == "session:new ack timed out"
    assert call.acks == []


async def test_hook_ack_with_verbs_replaces_stack(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(
        initial_verbs=[
            {"verb": "gather", "input": ["digits"], "actionHook": "/gather"},
            {"verb": "say", "text": "never reached"},
        ]
    )
    call = await place(app, caller=Caller(digits=["42"]))
    assert call.outcome.ok
    names = [v["verb"] for v in call.executed_verbs]
    assert names == ["gather", "say", "hangup"]
    assert call.spoken == ["You pressed 42"]
    hook = call.sent("verb:hook")[0]
    assert hook.data is not None and hook.data["hook"] == "/gather"
    assert hook.payload["digits"] == "42" and hook.payload["reason"] == "dtmfDetected"


async def test_empty_hook_ack_continues(autojump_clock: trio.testing.MockClock) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "verb:hook":
            await conn.ack(msg["msgid"])
            return True
        return False

    app = StandaloneApp(
        initial_verbs=[
            {"verb": "gather", "input": ["speech"], "actionHook": "/gather"},
            {"verb": "say", "text": "continued"},
            {"verb": "hangup"},
        ],
        on_message=on_message,
    )
    call = await place(app, caller=Caller(speech=["hello"]))
    assert call.outcome.ok
    assert call.spoken == ["continued"]


async def test_unacked_gather_hook_sends_error_and_continues(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(
        initial_verbs=[
            {"verb": "gather", "id": "g1", "input": ["speech"], "actionHook": "/gather"},
            {"verb": "say", "text": "after"},
            {"verb": "hangup"},
        ],
        on_message=ignoring("verb:hook"),
    )
    call = await place(app, caller=Caller(speech=["hello"]))
    hook = call.sent("verb:hook")[0]
    error = call.sent("jambonz:error")[0]
    assert error.time - hook.time == pytest.approx(5.0)
    assert error.payload["msg"] == "invalid actionHook response"
    assert error.payload["verb"] == "gather" and error.payload["id"] == "g1"
    # jambonz rejects a timed-out request with a plain string: err.message is undefined, so
    # neither the error nor the status carries it (gather.js, ws-requestor.js 0.9.8).
    assert list(error.payload) == ["msg", "verb", "id"]
    statuses = [f.payload for f in call.sent("call:status")]
    failed = [s for s in statuses if s.get("error") == "invalid actionHook response"]
    assert failed and "reason" not in failed[0]
    assert call.spoken == ["after"]
    assert call.outcome.status == "completed"
    assert not call.outcome.ok
    assert call.outcome.faults[0] == "verb:hook /gather ack timed out"


async def test_invalid_verbs_in_hook_ack_is_a_gather_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "verb:hook":
            await conn.ack(msg["msgid"], [{"verb": "say", "text": 5}])
            return True
        return False

    app = StandaloneApp(
        initial_verbs=[
            {"verb": "gather", "input": ["speech"], "actionHook": "/gather"},
            {"verb": "hangup"},
        ],
        on_message=on_message,
    )
    call = await place(app, caller=Caller(speech=["x"]))
    assert call.sent("jambonz:error")[0].payload["msg"] == "invalid actionHook response"
    assert call.outcome.faults[0].startswith("verb:hook /gather: invalid verbs:")
