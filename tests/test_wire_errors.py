"""Every way a frame can be invalid gives a ProtocolError that says what is wrong.

Also: oversize outbound frames give MessageTooLargeError before anything is sent, and the
constructors refuse values that could not survive a round trip.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from jbtrio._errors import MessageTooLargeError, ProtocolError
from jbtrio._wire import (
    MAX_DEPTH,
    MAX_FRAME_BYTES,
    Ack,
    CallInfo,
    Command,
    SessionAdulting,
    UnknownMessage,
    VerbHook,
    decode,
    encode,
)

HOOK_ENVELOPE = {"type": "verb:hook", "msgid": "m1", "call_sid": "c1", "hook": "/h"}


def frame(**data: Any) -> str:
    """A verb:hook frame with ``data``."""
    return orjson.dumps({**HOOK_ENVELOPE, "data": data}).decode()


def reason_of(text: str | bytes) -> str:
    with pytest.raises(ProtocolError) as info:
        decode(text)
    assert info.value.raw == text
    return info.value.reason


# --------------------------------------------------------------------------- not JSON


def test_invalid_json() -> None:
    assert reason_of('{"type": "verb:hook",').startswith("invalid JSON")


def test_empty_input() -> None:
    assert reason_of("").startswith("invalid JSON")
    assert reason_of(b"").startswith("invalid JSON")


def test_invalid_utf8_bytes() -> None:
    assert reason_of(b'{"type":"ack","msgid":"\xff"}').startswith("invalid UTF-8")


def test_lone_surrogate_in_str() -> None:
    assert reason_of('{"type":"ack","msgid":"\ud800"}').startswith("invalid UTF-8")


def test_escaped_lone_surrogate() -> None:
    assert reason_of('{"type":"ack","msgid":"\\ud800"}').startswith("invalid JSON")


def test_too_deeply_nested() -> None:
    text = '{"type":"llm:event","msgid":"m","data":' + '{"a":' * 2000 + "1" + "}" * 2001
    assert reason_of(text).startswith("invalid JSON")


def test_nesting_deeper_than_can_be_re_encoded() -> None:
    # orjson reads 1024 levels but writes 254: a frame jbtrio accepts must be sendable again.
    def frame_with_depth(depth: int) -> str:
        inner = "[" * (depth - 2) + "]" * (depth - 2)
        return '{"type":"llm:event","msgid":"m","data":{"x":' + inner + "}}"

    assert MAX_DEPTH == 254
    message = decode(frame_with_depth(MAX_DEPTH))
    assert decode(encode(message, max_bytes=None)) == message
    reason = reason_of(frame_with_depth(MAX_DEPTH + 1))
    assert reason.startswith("nested deeper than 254 levels")
    assert reason_of(frame_with_depth(MAX_DEPTH + 1).encode()).startswith("nested deeper")


def test_number_out_of_range() -> None:
    assert reason_of('{"type":"ack","msgid":"m","x":1e400}').startswith("invalid JSON")


# Compiled (mypyc), decode() checks its argument's declared type first: a TypeError.
@pytest.mark.pure_python
def test_not_str_or_bytes() -> None:
    with pytest.raises(ProtocolError, match="expected str or bytes"):
        decode(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- envelope


@pytest.mark.parametrize(
    ("text", "kind"),
    [("[]", "array"), ('"verb:hook"', "string"), ("12", "integer"), ("null", "null")],
)
def test_not_an_object(text: str, kind: str) -> None:
    assert reason_of(text) == f"$: expected a JSON object, got {kind}"


def test_missing_type() -> None:
    assert reason_of('{"msgid":"m"}').startswith("$.type: missing")


@pytest.mark.parametrize(("value", "kind"), [("1", "integer"), ("null", "null"), ("[]", "array")])
def test_non_string_type(value: str, kind: str) -> None:
    assert reason_of(f'{{"type":{value},"msgid":"m"}}') == f"$.type: expected string, got {kind}"


def test_missing_msgid() -> None:
    assert reason_of('{"type":"verb:hook","data":{}}').startswith("$.msgid: missing")


@pytest.mark.parametrize(("value", "kind"), [("1", "integer"), ("null", "null"), ("{}", "object")])
def test_non_string_msgid(value: str, kind: str) -> None:
    text = f'{{"type":"call:status","msgid":{value},"data":{{}}}}'
    assert reason_of(text) == f"$.msgid: expected string, got {kind}"


def test_empty_msgid_is_refused() -> None:
    """An empty msgid names no message (an ack could not answer it): jambonz never sends one."""
    text = '{"type":"verb:hook","msgid":"","hook":"/h","data":{}}'
    assert reason_of(text).startswith("$.msgid: empty")


def test_missing_data() -> None:
    assert reason_of('{"type":"call:status","msgid":"m"}').startswith("$.data: missing")


@pytest.mark.parametrize(
    ("value", "kind"), [("[]", "array"), ('"x"', "string"), ("null", "null"), ("0", "integer")]
)
def test_data_not_an_object(value: str, kind: str) -> None:
    text = f'{{"type":"tts:streaming-event","msgid":"m","data":{value}}}'
    assert reason_of(text) == f"$.data: expected object, got {kind}"


@pytest.mark.parametrize(
    ("key", "kind"), [("call_sid", "integer"), ("hook", "array"), ("b3", "boolean")]
)
def test_envelope_field_types(key: str, kind: str) -> None:
    value = {"integer": 7, "array": [], "boolean": True}[kind]
    text = orjson.dumps({**HOOK_ENVELOPE, key: value, "data": {}}).decode()
    assert reason_of(text) == f"$.{key}: expected string, got {kind}"


# --------------------------------------------------------------------------- call info


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("sip_status", "200", "$.data.sip_status: expected integer, got string"),
        ("sip_status", True, "$.data.sip_status: expected integer, got boolean"),
        ("sip_status", 200.0, "$.data.sip_status: expected integer, got number"),
        ("duration", "37", "$.data.duration: expected number, got string"),
        ("duration", False, "$.data.duration: expected number, got boolean"),
        ("has_recording", "false", "$.data.has_recording: expected boolean, got string"),
        ("has_recording", 0, "$.data.has_recording: expected boolean, got integer"),
        ("call_sid", 1, "$.data.call_sid: expected string, got integer"),
        ("from", ["+1"], "$.data.from: expected string, got array"),
        ("headers", [], "$.data.headers: expected object, got array"),
        ("customerData", "x", "$.data.customerData: expected object, got string"),
        ("env_vars", 3, "$.data.env_vars: expected object, got integer"),
    ],
)
def test_call_info_field_types(key: str, value: Any, expected: str) -> None:
    assert reason_of(frame(**{key: value})) == expected


def test_adulting_parent_call_info_not_an_object() -> None:
    text = '{"type":"session:adulting","msgid":"m","data":{"parent_call_info":"x"}}'
    assert reason_of(text) == "$.data.parent_call_info: expected object, got string"


def test_adulting_parent_call_info_field_type() -> None:
    text = '{"type":"session:adulting","msgid":"m","data":{"parent_call_info":{"sip_status":"1"}}}'
    assert reason_of(text) == "$.data.parent_call_info.sip_status: expected integer, got string"


# --------------------------------------------------------------------------- other payloads


@pytest.mark.parametrize(
    ("wire_type", "data", "expected"),
    [
        ("verb:status", {"event": 1}, "$.data.event: expected string, got integer"),
        ("verb:status", {"id": None, "name": []}, "$.data.name: expected string, got array"),
        ("jambonz:error", {"msg": {}}, "$.data.msg: expected string, got object"),
        ("jambonz:error", {"content": 5}, "$.data.content: expected string, got integer"),
        ("tts:tokens-result", {"id": True}, "$.data.id: expected string or integer, got boolean"),
        ("tts:tokens-result", {"id": 1.5}, "$.data.id: expected string or integer, got number"),
        ("tts:tokens-result", {"status": 1}, "$.data.status: expected string, got integer"),
        (
            "tts:streaming-event",
            {"event_type": 1},
            "$.data.event_type: expected string, got integer",
        ),
        ("llm:tool-call", {"tool_call_id": 1}, "$.data.tool_call_id: expected string, got integer"),
        (
            "llm:tool-call",
            {"function_calls": {}},
            "$.data.function_calls: expected array, got object",
        ),
        (
            "llm:tool-call",
            {"function_calls": [{"id": "a"}, "b"]},
            "$.data.function_calls[1]: expected object, got string",
        ),
        (
            "llm:tool-call",
            {"function_calls": [{"id": 1}]},
            "$.data.function_calls[0].id: expected string, got integer",
        ),
    ],
)
def test_payload_field_types(wire_type: str, data: dict[str, Any], expected: str) -> None:
    text = orjson.dumps({"type": wire_type, "msgid": "m", "data": data}).decode()
    assert reason_of(text) == expected


def test_llm_event_data_must_be_an_object() -> None:
    assert reason_of('{"type":"llm:event","msgid":"m","data":[1]}') == (
        "$.data: expected object, got array"
    )


# --------------------------------------------------------------------------- ack / command


def test_ack_missing_msgid() -> None:
    assert reason_of('{"type":"ack","data":[]}').startswith("$.msgid: missing")


def test_ack_empty_msgid() -> None:
    assert reason_of('{"type":"ack","msgid":""}') == "$.msgid: must not be empty"


def test_ack_msgid_not_a_string() -> None:
    assert reason_of('{"type":"ack","msgid":5}') == "$.msgid: expected string, got integer"


def test_ack_data_not_an_array() -> None:
    text = '{"type":"ack","msgid":"m","data":{"verb":"say"}}'
    assert reason_of(text) == "$.data: expected array of verbs, got object"


def test_ack_verb_not_an_object() -> None:
    text = '{"type":"ack","msgid":"m","data":[{"verb":"say"},"hangup"]}'
    assert reason_of(text) == "$.data[1]: expected verb object, got string"


def test_command_missing_command() -> None:
    assert reason_of('{"type":"command","data":{}}').startswith("$.command: missing")


def test_command_not_a_string() -> None:
    text = '{"type":"command","command":["redirect"],"data":[]}'
    assert reason_of(text) == "$.command: expected string, got array"


def test_command_empty() -> None:
    assert reason_of('{"type":"command","command":"","data":[]}') == "$.command: must not be empty"


@pytest.mark.parametrize("data", ["", ',"data":null', ',"data":0', ',"data":""', ',"data":false'])
def test_command_without_truthy_data(data: str) -> None:
    reason = reason_of(f'{{"type":"command","command":"redirect"{data}}}')
    assert reason.startswith("$.data: command 'redirect' needs truthy data")


@pytest.mark.parametrize("command", ["tts:flush", "tts:clear", "llm:tool-output"])
def test_commands_that_need_no_data(command: str) -> None:
    message = decode(f'{{"type":"command","command":"{command}"}}')
    assert isinstance(message, Command)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("queueCommand", "true", "$.queueCommand: expected boolean, got string"),
        ("queueCommand", 1, "$.queueCommand: expected boolean, got integer"),
        ("callSid", 1, "$.callSid: expected string, got integer"),
        ("tool_call_id", {}, "$.tool_call_id: expected string, got object"),
        ("msgid", 3, "$.msgid: expected string, got integer"),
    ],
)
def test_command_field_types(key: str, value: Any, expected: str) -> None:
    text = orjson.dumps({"type": "command", "command": "redirect", "data": [], key: value})
    assert reason_of(text) == expected


# --------------------------------------------------------------------------- error object


def test_protocol_error_is_a_value_error_with_raw_preview() -> None:
    text = frame(sip_status="x", padding="y" * 500)
    with pytest.raises(ValueError, match=r"sip_status") as info:
        decode(text)
    error = info.value
    assert isinstance(error, ProtocolError)
    assert error.raw == text
    assert "..." in str(error)  # long raw text is abbreviated in the message
    assert error.__cause__ is None and error.__suppress_context__


# --------------------------------------------------------------------------- payload views


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"speech": "hello"}, "$.data.speech: expected object, got string"),
        (
            {"speech": {"alternatives": {}}},
            "$.data.speech.alternatives: expected array, got object",
        ),
        (
            {"speech": {"alternatives": [{"transcript": 1}]}},
            "$.data.speech.alternatives[0].transcript: expected string, got integer",
        ),
        (
            {"speech": {"alternatives": [{"confidence": "high"}]}},
            "$.data.speech.alternatives[0].confidence: expected number, got string",
        ),
        ({"speech": {"is_final": "yes"}}, "$.data.speech.is_final: expected boolean, got string"),
        ({"digits": 12}, "$.data.digits: expected string, got integer"),
        ({"reason": []}, "$.data.reason: expected string, got array"),
    ],
)
def test_malformed_gather_result(data: dict[str, Any], expected: str) -> None:
    hook = decode(frame(**data))
    assert isinstance(hook, VerbHook)
    with pytest.raises(ProtocolError) as info:
        hook.gather()
    assert info.value.reason == expected


def test_malformed_dial_and_llm_results() -> None:
    hook = decode(frame(dial_sip_status="486", completion_reason=5))
    assert isinstance(hook, VerbHook)
    with pytest.raises(ProtocolError, match=r"\$\.data\.dial_sip_status: expected integer"):
        hook.dial()
    with pytest.raises(ProtocolError, match=r"\$\.data\.completion_reason: expected string"):
        hook.llm()


# --------------------------------------------------------------------------- size limit


def tokens_command(size: int, char: str = "a") -> Command:
    """A tts:tokens command whose encoded frame is exactly ``size`` bytes."""
    base = len(encode(Command(command="tts:tokens", data={"id": 1, "tokens": "x"})).encode())
    pad = size - base + 1
    count, rest = divmod(pad, len(char.encode()))
    return Command(command="tts:tokens", data={"id": 1, "tokens": char * count + "x" * rest})


def test_frame_at_the_limit_is_accepted() -> None:
    text = encode(tokens_command(MAX_FRAME_BYTES))
    assert len(text.encode()) == MAX_FRAME_BYTES == 24576


def test_frame_one_byte_over_the_limit_is_refused() -> None:
    with pytest.raises(MessageTooLargeError) as info:
        encode(tokens_command(MAX_FRAME_BYTES + 1))
    assert info.value.size == 24577
    assert info.value.limit == 24576
    assert "'tts:tokens' command" in str(info.value)


def test_limit_counts_utf8_bytes_not_characters() -> None:
    command = tokens_command(MAX_FRAME_BYTES + 1, char="é")
    text = encode(command, max_bytes=None)
    assert len(text) < MAX_FRAME_BYTES < len(text.encode())
    with pytest.raises(MessageTooLargeError):
        encode(command)


def test_limit_can_be_changed_or_disabled() -> None:
    command = tokens_command(MAX_FRAME_BYTES + 1)
    assert len(encode(command, max_bytes=None).encode()) == MAX_FRAME_BYTES + 1
    with pytest.raises(MessageTooLargeError):
        encode(Command(command="tts:flush"), max_bytes=10)


def test_inbound_frames_are_checked_only_when_asked() -> None:
    hook = VerbHook(msgid="m", data=CallInfo(extra={"big": "x" * MAX_FRAME_BYTES}))
    assert len(encode(hook, max_bytes=None)) > MAX_FRAME_BYTES
    with pytest.raises(MessageTooLargeError, match="'verb:hook' message"):
        encode(hook)


def test_encode_refuses_values_json_cannot_carry() -> None:
    with pytest.raises(TypeError):
        encode(Command(command="config", data={"x": object()}))
    with pytest.raises(TypeError):
        encode(Command(command="config", data={"x": 2**70}))


# --------------------------------------------------------------------------- constructors


def test_ack_needs_a_msgid() -> None:
    with pytest.raises(ValueError, match="msgid"):
        Ack(msgid="")


def test_ack_verbs_must_be_verbs() -> None:
    with pytest.raises(TypeError, match="verb #1"):
        Ack(msgid="m", verbs=[{"verb": "say"}, 3])
    with pytest.raises(TypeError, match="iterable of verbs"):
        Ack(msgid="m", verbs="say")


def test_command_needs_truthy_data() -> None:
    with pytest.raises(ValueError, match="needs truthy data"):
        Command(command="redirect")
    with pytest.raises(ValueError, match="needs truthy data"):
        Command(command="boostAudioSignal", data=0)
    with pytest.raises(ValueError, match="non-empty sub-type"):
        Command(command="", data=[1])


def test_extra_cannot_shadow_a_typed_field() -> None:
    with pytest.raises(ValueError, match="typed field"):
        CallInfo(extra={"call_sid": "x"})
    with pytest.raises(ValueError, match="cannot be both"):
        CallInfo(call_sid="x", extra={"call_sid": None})
    with pytest.raises(ValueError, match="must not contain"):
        VerbHook(msgid="m", extra={"type": "x"})
    with pytest.raises(ValueError, match="cannot be both"):
        VerbHook(msgid="m", hook="/h", extra={"hook": None})
    with pytest.raises(ValueError, match="must not contain"):
        Command(command="tts:flush", extra={"data": None})
    with pytest.raises(ValueError, match="cannot be both"):
        Ack(msgid="m", verbs=[], extra={"data": None})


def test_unknown_message_must_be_unknown_and_consistent() -> None:
    with pytest.raises(ValueError, match="known type"):
        UnknownMessage.from_raw({"type": "verb:hook", "msgid": "m"})
    with pytest.raises(ValueError, match="raw"):
        UnknownMessage(type="x:y", raw={"type": "x:z"})
    with pytest.raises(ValueError, match="msgid"):
        UnknownMessage(type="x:y", msgid="a", raw={"type": "x:y"})


def test_adulting_without_parent_info() -> None:
    message = decode('{"type":"session:adulting","msgid":"m","data":{"call_sid":"c"}}')
    assert isinstance(message, SessionAdulting)
    assert message.parent_call_info is None


# ------------------------------------------------------- call info: the checks a fast path skips


@pytest.mark.parametrize(
    ("key", "value", "path"),
    [
        ("call_sid", "x" * 129, "$.data.call_sid"),  # an id: a string, and not too long
        ("sip_status", True, "$.data.sip_status"),  # a boolean is no integer
        ("sip_status", "200", "$.data.sip_status"),
        ("duration", "12", "$.data.duration"),
        ("direction", 5, "$.data.direction"),
        ("from", 5, "$.data.from"),
    ],
)
def test_call_info_values_of_the_wrong_kind_name_their_path(
    key: str, value: Any, path: str
) -> None:
    from jbtrio._wire import structure_call_info

    with pytest.raises(ProtocolError, match=f"^{path.replace('$', '[$]')}: "):
        structure_call_info({"call_status": "ringing", key: value})


def test_call_info_values_of_the_right_kind_are_kept_as_sent() -> None:
    from jbtrio._wire import CallInfo, structure_call_info

    wire = {
        "call_sid": "c" * 128,
        "from": "+1555",
        "sip_status": 200,
        "duration": 1.5,
        "has_recording": False,
        "to": None,
        "speech": {"is_final": True},
    }
    info = structure_call_info(wire)
    assert info == CallInfo(
        call_sid="c" * 128,
        from_="+1555",
        sip_status=200,
        duration=1.5,
        has_recording=False,
        extra={"to": None, "speech": {"is_final": True}},
    )
    assert type(info.sip_status) is int
