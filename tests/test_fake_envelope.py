"""The fake's envelope: msgids, snake_case rules, hook/call_sid placement, app-frame checks."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jbtrio.testing._config import parse_hook_url
from jbtrio.testing._envelope import (
    AppAck,
    AppCommand,
    InvalidAppMessage,
    build_frame,
    js_truthy,
    new_msgid,
    parse_app_frame,
    snake_keys,
)

BASE58 = set("123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ")


def test_msgids_are_22_base58_chars_and_unique() -> None:
    ids = {new_msgid() for _ in range(500)}
    assert len(ids) == 500
    for i in ids:
        assert len(i) == 22
        assert set(i) <= BASE58


def test_snake_case_except_verbatim_subtrees() -> None:
    data = {
        "callSid": "x",
        "customerData": {"fooBar": 1},
        "sip": {"headers": {"X-Custom-Header": "kept"}},
        "env_vars": {"camelCaseVar": "v"},
        "args": {"cityName": "Paris"},
        "headers": {"X-Reason": "r"},
        "functionCalls": [{"callId": 1}],
    }
    assert snake_keys(data) == {
        "call_sid": "x",
        "customerData": {"fooBar": 1},
        "sip": {"headers": {"X-Custom-Header": "kept"}},
        "env_vars": {"camelCaseVar": "v"},
        "args": {"cityName": "Paris"},
        "headers": {"x_reason": "r"},
        "function_calls": [{"call_id": 1}],
    }


@pytest.mark.parametrize(
    ("msg_type", "has_hook"),
    [
        ("verb:hook", True),
        ("dial:confirm", True),
        ("session:redirect", True),
        ("llm:event", True),
        ("llm:tool-call", True),
        ("call:status", False),
        ("session:new", False),
        ("verb:status", False),
    ],
)
def test_hook_only_on_hook_types(msg_type: str, has_hook: bool) -> None:
    frame = build_frame(msg_type, {}, msgid="m", call_sid="c", hook="/h")
    assert ("hook" in frame) is has_hook
    assert frame["data"] == {}


def test_call_sid_absent_when_unknown() -> None:
    assert "call_sid" not in build_frame("session:adulting", {"a": 1}, msgid="m", call_sid=None)


def test_js_truthiness() -> None:
    falsy: list[object] = [None, False, 0, 0.0, "", float("nan")]
    truthy: list[object] = [[], {}, "0", 1, True, -1]
    assert not any(js_truthy(v) for v in falsy)
    assert all(js_truthy(v) for v in truthy)


@pytest.mark.parametrize(
    ("text", "details"),
    [
        ("not json", "Unexpected token 'n', \"not json\" is not valid JSON"),
        ("", "Unexpected end of JSON input"),
        ("null", "Cannot read properties of null (reading 'type')"),
        ("[1]", "type property not supplied"),
        ('{"msgid": "x"}', "type property not supplied"),
        ('{"type": "bogus", "msgid": "x2"}', "invalid type property: bogus"),
        ('{"type": "tts:tokens", "data": {}}', "invalid type property: tts:tokens"),
        ('{"type": "ack"}', "msgid property not supplied"),
        ('{"type": "command", "data": {}}', "command property not supplied"),
        ('{"type": "command", "command": "redirect"}', "data property not supplied"),
        ('{"type": "command", "command": "config", "data": 0}', "data property not supplied"),
    ],
)
def test_invalid_app_frames(text: str, details: str) -> None:
    parsed = parse_app_frame(text)
    assert parsed == InvalidAppMessage(details, text)


@pytest.mark.parametrize("command", ["tts:flush", "tts:clear", "llm:tool-output"])
def test_commands_that_need_no_data(command: str) -> None:
    parsed = parse_app_frame(orjson.dumps({"type": "command", "command": command}).decode())
    assert isinstance(parsed, AppCommand)
    assert parsed.command == command


def test_ack_and_command_parsing() -> None:
    ack = parse_app_frame('{"type": "ack", "msgid": "abc", "data": [{"verb": "hangup"}]}')
    assert ack == AppAck("abc", [{"verb": "hangup"}], True)
    bare = parse_app_frame('{"type": "ack", "msgid": "abc"}')
    assert bare == AppAck("abc", None, False)
    cmd = parse_app_frame(
        '{"type": "command", "command": "redirect", "queueCommand": true, '
        '"callSid": "b", "data": [{"verb": "hangup"}]}'
    )
    assert isinstance(cmd, AppCommand)
    assert cmd.queue_command and cmd.call_sid == "b"


def test_hook_url_fragment_parsing() -> None:
    h = parse_hook_url("ws://app:3000/path?x=1#rc=2&rp=4xx,ct")
    assert h.url == "ws://app:3000/path?x=1"
    assert h.max_reconnects == 2
    assert h.retry_policy == ("4xx", "ct")
    plain = parse_hook_url("ws://app/")
    assert (plain.url, plain.max_reconnects, plain.retry_policy) == ("ws://app/", None, None)
    bad = parse_hook_url("ws://app/#rc=9&rp=nope")
    assert (bad.max_reconnects, bad.retry_policy) == (None, None)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@given(st.text())
def test_parse_app_frame_never_raises_on_text(text: str) -> None:
    assert isinstance(parse_app_frame(text), AppAck | AppCommand | InvalidAppMessage)


@given(
    st.dictionaries(
        st.sampled_from(["type", "msgid", "command", "data", "queueCommand", "callSid"]),
        json_values,
    )
)
def test_parse_app_frame_never_raises_on_envelopes(obj: dict[str, object]) -> None:
    parsed = parse_app_frame(orjson.dumps(obj).decode())
    if isinstance(parsed, AppAck):
        assert obj["type"] == "ack" and js_truthy(obj["msgid"])
    elif isinstance(parsed, AppCommand):
        assert obj["type"] == "command" and js_truthy(obj["command"])
