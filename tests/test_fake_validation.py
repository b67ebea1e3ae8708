"""Validation of app frames: InvalidMessage errors keep the socket open; >24 KiB closes 1009."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import trio
import trio.testing
from _standalone_app import AppConn, StandaloneApp, place

from jbtrio.testing import Caller


def sending_after_ack(*frames: str | bytes) -> Any:
    """Send ``frames`` raw right after the in-progress call:status arrives."""

    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "call:status" and msg["data"]["call_status"] == "in-progress":
            for frame in frames:
                await conn.send_raw(frame)
            return True
        return False

    return on_message


@pytest.mark.parametrize(
    ("frame", "details"),
    [
        ("{not json", "Unexpected token '{', \"{not json\" is not valid JSON"),
        ('{"type": "bogus", "msgid": "x2"}', "invalid type property: bogus"),
        ('{"type": "command", "command": "redirect"}', "data property not supplied"),
        ('{"type": "ack"}', "msgid property not supplied"),
        ('{"type": "command", "data": {}}', "command property not supplied"),
    ],
)
async def test_invalid_frames_get_jambonz_error_and_socket_stays_open(
    autojump_clock: trio.testing.MockClock, frame: str, details: str
) -> None:
    app = StandaloneApp(on_message=sending_after_ack(frame))
    call = await place(app, caller=Caller(speech=["still here"]))
    error = call.sent("jambonz:error")[0]
    assert error.payload == {"msg": "InvalidMessage", "details": details, "content": frame}
    assert len(app.conns) == 1
    assert call.spoken[-1] == "You said still here"
    assert call.outcome.status == "completed"
    assert not call.outcome.ok
    assert call.outcome.faults == (f"jambonz:error: InvalidMessage: {details}",)


async def test_binary_frame_is_parsed_like_text(autojump_clock: trio.testing.MockClock) -> None:
    command = {"type": "command", "command": "redirect", "data": [{"verb": "hangup"}]}
    app = StandaloneApp(
        initial_verbs=[{"verb": "pause", "length": 30}],
        on_message=sending_after_ack(orjson.dumps(command)),
    )
    call = await place(app)
    assert call.outcome.ok
    assert call.outcome.ended_by == "app"
    assert call.sent("call:status")[-1].time < 1


async def test_oversized_frame_closes_1009_then_reconnects(
    autojump_clock: trio.testing.MockClock,
) -> None:
    big = orjson.dumps(
        {"type": "command", "command": "config", "data": {"notifyEvents": False, "x": "a" * 25000}}
    ).decode()
    app = StandaloneApp(
        initial_verbs=[{"verb": "pause", "length": 3}, {"verb": "hangup"}],
        on_message=sending_after_ack(big),
    )
    call = await place(app)
    assert app.conns[0].close_code == 1009
    closes = [e for e in call.events if e.kind == "close"]
    assert (closes[0].code, closes[0].by) == (1009, "jambonz")
    assert len(app.conns) == 2
    first = app.conns[1].messages[0]
    assert first["type"] == "session:reconnect"
    assert first["data"] == app.conns[0].messages[0]["data"]
    # recorded in the transcript, but never processed
    assert [f.text for f in call.received("command")] == [big]
    assert call.commands == []
    assert call.outcome.status == "completed"
    assert call.outcome.faults == (f"app frame of {len(big)} bytes over 24576",)


async def test_frame_at_the_limit_is_accepted(autojump_clock: trio.testing.MockClock) -> None:
    base = {"type": "command", "command": "config", "data": {"x": ""}}
    pad = 24 * 1024 - len(orjson.dumps(base))
    frame = orjson.dumps({"type": "command", "command": "config", "data": {"x": "a" * pad}})
    assert len(frame) == 24 * 1024
    app = StandaloneApp(on_message=sending_after_ack(frame.decode()))
    call = await place(app, caller=Caller(speech=["x"]))
    assert len(app.conns) == 1
    assert call.outcome.ok


WEIRD_COMMANDS: list[dict[str, Any]] = [
    {"type": "command", "command": "redirect", "data": "not verbs"},
    {"type": "command", "command": "redirect", "data": {"call_hook": 5}},
    {"type": "command", "command": "call:status", "data": "completed"},
    {"type": "command", "command": "config", "data": [1, 2]},
    {"type": "command", "command": "config", "data": {"ttsStream": {"enable": "yes"}}},
    {"type": "command", "command": "tts:tokens", "data": ["a"]},
    {"type": "command", "command": "tts:tokens", "data": {"id": {"x": 1}, "tokens": 42}},
    {"type": "command", "command": "tts:flush", "data": 7},
    {"type": "command", "command": "llm:tool-output", "tool_call_id": [1]},
    {"type": "command", "command": "mute:status", "data": "mute", "callSid": 3},
    {"type": "command", "command": 12, "data": {}},
    {"type": "ack", "msgid": 99, "data": "x"},
    {"type": "ack", "msgid": "nope", "data": [{"verb": "hangup"}]},
]


async def test_odd_but_well_formed_frames_never_crash_the_fake(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "call:status" and msg["data"]["call_status"] == "in-progress":
            for frame in WEIRD_COMMANDS:
                await conn.send(frame)
            return True
        if msg["type"] == "verb:hook":
            await conn.send({"type": "ack", "msgid": msg["msgid"], "data": {"verb": "hangup"}})
            return True
        return False

    app = StandaloneApp(
        initial_verbs=[
            {"verb": "gather", "input": ["digits"], "actionHook": "/g", "timeout": 3},
            {"verb": "say", "text": "end"},
            {"verb": "hangup"},
        ],
        on_message=on_message,
    )
    call = await place(app)
    assert call.outcome.status == "completed", call.outcome
    assert call.outcome.reason == "app hung up"
    assert call.sent("jambonz:error") == []
    assert len(call.commands) == len(WEIRD_COMMANDS) - 2
    assert call.spoken[-1] == "end"
