"""The message registry: what is derived from each registration, and the agent messages added
through it (jambonz 10.x/11.x ``agent:event`` and ``agent:tool-call``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given

from jbtrio import ProtocolError
from jbtrio._core import CallCore, CoreConfig, Received
from jbtrio._wire import (
    KNOWN_TYPES,
    REGISTRY,
    AgentEvent,
    AgentEventData,
    AgentLatency,
    AgentToolCall,
    AgentToolCallData,
    CallInfo,
    Command,
    InboundMessage,
    UnknownMessage,
    VerbHook,
    decode,
    encode,
    inbound,
    spec_of,
    validate_extra,
    wire,
    wire_fields,
)
from jbtrio.testing import strategies as jst
from jbtrio.testing._envelope import ACK_TYPES, HOOK_TYPES, V10_HOOK_TYPES

INBOUND = [registration for registration in REGISTRY.values() if registration.inbound]


@pytest.mark.parametrize("registration", INBOUND, ids=lambda r: r.wire_type)
def test_a_registration_sets_the_class_up(registration: Any) -> None:
    cls = registration.cls
    assert issubclass(cls, InboundMessage)
    assert registration.wire_type == cls.TYPE
    assert cls.REQUIRES_ACK is registration.requires_ack
    assert cls.STARTS_SESSION is registration.starts_session
    assert ("hook" in attrs.fields_dict(cls)) is registration.hook
    assert registration.wire_type in KNOWN_TYPES


def test_the_registry_agrees_with_the_fake_jambonz() -> None:
    # The fake plays jambonz 0.9.8 from its own notes; the model must say the same.
    assert {r.wire_type for r in INBOUND if r.requires_ack} == ACK_TYPES
    hooked = {r.wire_type for r in INBOUND if r.hook}
    assert hooked - HOOK_TYPES == {"agent:event", "agent:tool-call"}  # 10.x/11.x only
    assert hooked == V10_HOOK_TYPES


def test_the_session_starting_types() -> None:
    starting = {r.wire_type for r in INBOUND if r.starts_session}
    assert starting == {"session:new", "session:reconnect", "session:redirect", "session:adulting"}


def test_a_type_is_registered_once() -> None:
    with pytest.raises(ValueError, match="registered twice"):

        @inbound("verb:hook", ack=True)
        @attrs.frozen(kw_only=True)
        class Again(InboundMessage):
            data: Mapping[str, Any] = attrs.field(factory=dict)

    assert REGISTRY["verb:hook"].cls.__name__ == "VerbHook"


def test_a_field_without_a_wire_check_is_refused_at_declaration() -> None:
    @attrs.frozen(kw_only=True)
    class Odd:
        when: complex | None = None
        extra: Mapping[str, Any] = attrs.field(factory=dict)

    with pytest.raises(TypeError, match=r"Odd\.when: no wire check"):
        wire_fields(Odd)


def upper(value: Any, path: str) -> str:
    if type(value) is str and value.isupper():
        return value
    raise ProtocolError(f"{path}: expected an upper-case string")


@attrs.frozen(kw_only=True)
class Shout:
    """A payload with a renamed field and a check stricter than its annotation's."""

    word: str | None = attrs.field(default=None, metadata=wire("Word", check=upper))
    count: int | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=validate_extra)


def test_a_declared_check_and_wire_name_are_used() -> None:
    [word, count] = wire_fields(Shout)
    assert (word.wire, word.kind, word.check) == ("Word", "string", upper)
    assert (count.wire, count.kind) == ("count", "integer")
    spec = spec_of(Shout)
    assert spec.structure({"Word": "HI", "count": 2, "x": None}, "$.data") == Shout(
        word="HI", count=2, extra={"x": None}
    )
    with pytest.raises(ProtocolError, match=r"^\$\.data\.Word: expected an upper-case string"):
        spec.structure({"Word": "hi"}, "$.data")
    assert spec.unstructure(Shout(word="HI", extra={"count": None})) == {
        "Word": "HI",
        "count": None,
    }
    with pytest.raises(ValueError, match="typed field"):
        Shout(extra={"Word": "HI"})


def test_wire_names_come_from_the_declarations() -> None:
    call_info = {field.attr: field.wire for field in wire_fields(CallInfo)}
    assert call_info["from_"] == "from" and call_info["customer_data"] == "customerData"
    assert len(call_info) == 31
    command = {field.attr: field.wire for field in wire_fields(Command)}
    assert command == {
        "queue_command": "queueCommand",
        "call_sid": "callSid",
        "tool_call_id": "tool_call_id",
        "msgid": "msgid",
    }


# --------------------------------------------------------------------------- agent messages


def agent_frame(wire_type: str, data: Any, msgid: str = "m1") -> str:
    envelope = {"type": wire_type, "msgid": msgid, "call_sid": "c1", "hook": "/agent"}
    return orjson.dumps({**envelope, "data": data}).decode()


def test_agent_messages_are_no_longer_unknown() -> None:
    event = decode(agent_frame("agent:event", {"type": "user_transcript", "transcript": "hi"}))
    assert isinstance(event, AgentEvent) and not isinstance(event, UnknownMessage)
    assert event.hook == "/agent" and not event.should_ack
    with pytest.raises(ValueError, match="known type"):
        UnknownMessage.from_raw({"type": "agent:tool-call", "msgid": "m"})


def test_turn_end_latency_is_typed_and_unknown_keys_are_kept() -> None:
    data = {
        "type": "turn_end",
        "transcript": "hello",
        "response": "hi there",
        "interrupted": True,
        "latency": {"transcriber_latency": 120.5, "model_latency": 300, "mystery": 1},
        "turn_id": 7,
    }
    message = decode(agent_frame("agent:event", data))
    assert isinstance(message, AgentEvent)
    assert message.event_type == AgentEventData.TURN_END
    assert message.data.interrupted is True
    assert message.data.latency == AgentLatency(
        transcriber_latency=120.5, model_latency=300, extra={"mystery": 1}
    )
    assert message.data.extra == {"turn_id": 7}
    assert orjson.loads(encode(message)) == orjson.loads(agent_frame("agent:event", data))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": 1}, "$.data.type: expected string, got integer"),
        ({"interrupted": "no"}, "$.data.interrupted: expected boolean, got string"),
        ({"latency": []}, "$.data.latency: expected object, got array"),
        (
            {"latency": {"voice_latency": "fast"}},
            "$.data.latency.voice_latency: expected number, got string",
        ),
        (
            {"latency": {"preflight": {"tokens": 1.5}}},
            "$.data.latency.preflight.tokens: expected integer, got number",
        ),
    ],
)
def test_agent_event_field_errors_name_their_path(data: Any, expected: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(agent_frame("agent:event", data))
    assert info.value.reason == expected


def test_agent_tool_call_reads_arguments_or_args() -> None:
    documented = decode(
        agent_frame("agent:tool-call", {"tool_call_id": "t1", "name": "f", "arguments": {"a": 1}})
    )
    assert isinstance(documented, AgentToolCall)
    [call] = documented.data.calls
    assert (call.id, call.name, call.args) == ("t1", "f", {"a": 1})
    as_llm = decode(agent_frame("agent:tool-call", {"tool_call_id": "t2", "args": {"b": 2}}))
    assert isinstance(as_llm, AgentToolCall)
    assert as_llm.data.calls[0].args == {"b": 2}
    assert AgentToolCallData().calls[0].args is None


def test_agent_messages_are_notifications_for_the_core() -> None:
    core = CallCore(CoreConfig(receipts=False))
    core.attach()
    for frame in (
        agent_frame("agent:event", {"type": "user_interruption"}),
        agent_frame("agent:tool-call", {"tool_call_id": "t1", "name": "f"}, msgid="m2"),
    ):
        message = decode(frame)
        assert isinstance(message, InboundMessage)
        [event] = core.receive(message, 1.0)
        assert isinstance(event, Received) and event.reply is None
    assert core.next_frame() is None  # nothing acked


@given(jst.messages_of(AgentEvent) | jst.messages_of(AgentToolCall))
def test_agent_messages_round_trip(message: InboundMessage) -> None:
    text = encode(message, max_bytes=None)
    assert decode(text) == message


def test_slot_setters_refuse_a_class_whose_init_does_more_than_set() -> None:
    """The decoders that build instances through their slots (issue 23) rely on this."""
    from jbtrio._wire._fields import slot_setters

    @attrs.frozen
    class Plain:
        a: int | None = None

    @attrs.frozen
    class Converted:
        a: int = attrs.field(converter=int)

    @attrs.frozen
    class Validated:
        a: int = attrs.field(validator=attrs.validators.instance_of(int))

    @attrs.frozen
    class PostInit:
        a: int | None = None

        def __attrs_post_init__(self) -> None:
            pass

    assert [name for name, _ in slot_setters(Plain)] == ["a"]
    for cls in (Converted, Validated, PostInit):
        with pytest.raises(TypeError):
            slot_setters(cls)
    assert [name for name, _ in slot_setters(Validated, validated=frozenset({"a"}))] == ["a"]


def test_a_verb_hook_decodes_to_the_instance_its_constructor_makes() -> None:
    """With and without unknown envelope keys (the second takes the constructor's path)."""
    for envelope in ({}, {"future_key": 1}):
        frame = {
            "type": "verb:hook",
            "msgid": "m1",
            "call_sid": "c1",
            "hook": "/h",
            "data": {"call_sid": "c1", "speech": {"alternatives": [{"transcript": "a"}]}},
            **envelope,
        }
        message = decode(orjson.dumps(frame))
        assert isinstance(message, VerbHook)
        built = VerbHook(
            msgid="m1",
            call_sid="c1",
            hook="/h",
            data=message.data,
            extra=dict(envelope),
        )
        assert message == built
        assert repr(message) == repr(built)
