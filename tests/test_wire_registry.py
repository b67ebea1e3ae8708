"""The message registry: what is derived from each registration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import pytest

from jbtrio import ProtocolError
from jbtrio._wire import (
    KNOWN_TYPES,
    REGISTRY,
    CallInfo,
    Command,
    InboundMessage,
    inbound,
    spec_of,
    validate_extra,
    wire,
    wire_fields,
)
from jbtrio.testing._envelope import ACK_TYPES, HOOK_TYPES

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
    assert {r.wire_type for r in INBOUND if r.hook} == HOOK_TYPES


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
