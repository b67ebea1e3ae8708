"""Property tests: every message class survives encode/decode, and decoding loses no key.

The strategies are the public ones in :mod:`jbtrio.testing.strategies`, so these tests also
check that what the strategies build is valid.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jbtrio._wire import (
    REGISTRY,
    Ack,
    AgentEvent,
    AgentToolCall,
    CallInfo,
    CallStatus,
    Command,
    DialConfirm,
    InboundMessage,
    JambonzError,
    LlmEvent,
    LlmToolCall,
    Message,
    SessionAdulting,
    SessionNew,
    SessionReconnect,
    SessionRedirect,
    TtsStreamingEvent,
    TtsTokensResult,
    UnknownMessage,
    VerbHook,
    VerbStatus,
    converter,
    decode,
    encode,
    structure_call_info,
    wire_fields,
)
from jbtrio.testing import strategies as jst

#: Every registered class, with the strategy the registry gives it.
STRATEGIES: list[tuple[type[Any], Callable[[], st.SearchStrategy[Any]]]] = [
    (registration.cls, partial(jst.messages_of, registration.cls))
    for registration in REGISTRY.values()
    if registration.inbound
] + [
    (Ack, jst.acks),
    (Command, jst.commands),
    (UnknownMessage, jst.unknown_messages),
]

#: The named strategies of the testing kit, each for its class.
NAMED: list[tuple[type[Any], Callable[[], st.SearchStrategy[Any]]]] = [
    (SessionNew, jst.session_news),
    (SessionReconnect, jst.session_reconnects),
    (SessionRedirect, jst.session_redirects),
    (SessionAdulting, jst.session_adultings),
    (CallStatus, jst.call_statuses),
    (VerbHook, jst.verb_hooks),
    (DialConfirm, jst.dial_confirms),
    (VerbStatus, jst.verb_statuses),
    (JambonzError, jst.jambonz_errors),
    (LlmEvent, jst.llm_events),
    (LlmToolCall, jst.llm_tool_calls),
    (TtsTokensResult, jst.tts_tokens_results),
    (TtsStreamingEvent, jst.tts_streaming_events),
    (AgentEvent, jst.agent_events),
    (AgentToolCall, jst.agent_tool_calls),
]


@pytest.mark.parametrize(("cls", "strategy"), NAMED, ids=lambda v: getattr(v, "__name__", ""))
def test_named_strategies_are_the_registry_ones(
    cls: type[Any], strategy: Callable[[], st.SearchStrategy[Any]]
) -> None:
    assert strategy() is jst.messages_of(cls)


def test_every_registered_type_has_a_named_strategy() -> None:
    named = {cls for cls, _ in NAMED} | {Ack, Command}
    assert {registration.cls for registration in REGISTRY.values()} == named


@pytest.mark.parametrize(("cls", "strategy"), STRATEGIES, ids=lambda v: getattr(v, "__name__", ""))
def test_round_trip_per_class(
    cls: type[Any], strategy: Callable[[], st.SearchStrategy[Any]]
) -> None:
    @settings(max_examples=100)
    @given(strategy())
    def check(message: Message) -> None:
        assert type(message) is cls
        text = encode(message, max_bytes=None)
        again = decode(text)
        assert again == message
        assert encode(again, max_bytes=None) == text

    check()


@given(jst.messages())
def test_round_trip_through_bytes_and_converter(message: Message) -> None:
    text = encode(message, max_bytes=None)
    assert decode(text.encode()) == message
    assert converter.structure(converter.unstructure(message), Message) == message  # type: ignore[arg-type]


_ENVELOPE_NULLABLE = ("call_sid", "b3", "hook")
_RESERVED_TOP = frozenset({"type", "msgid", "data", "command", "call_sid", "b3", "hook"})
_RESERVED_TOP |= {"queueCommand", "callSid", "tool_call_id"}


@st.composite
def mutated_frames(draw: st.DrawFn) -> dict[str, Any]:
    """A valid frame with unknown keys added and known optional keys set to null."""
    message = draw(jst.messages())
    obj: dict[str, Any] = orjson.loads(encode(message, max_bytes=None))
    # unknown top-level keys with any JSON value
    for key, value in draw(
        st.dictionaries(
            jst.texts(max_size=8).filter(lambda k: k not in _RESERVED_TOP),
            jst.json_values(),
            max_size=3,
        )
    ).items():
        obj[key] = value
    if isinstance(message, InboundMessage):
        for key in draw(st.lists(st.sampled_from(_ENVELOPE_NULLABLE), unique=True)):
            if key != "hook" or hasattr(message, "hook"):
                obj[key] = None
        data = obj["data"]
        if not isinstance(message, LlmEvent):
            # every known data key may be null; unknown ones may hold anything
            for key in draw(st.lists(st.sampled_from(sorted(data) or ["x"]), max_size=3)):
                if key in data:
                    data[key] = None
        typed = _typed_data_keys(message)
        for key, value in draw(
            st.dictionaries(jst.texts(max_size=8), jst.json_values(), max_size=2)
        ).items():
            if key not in data and key not in typed:
                data[key] = value
    return obj


def _typed_data_keys(message: InboundMessage) -> frozenset[str]:
    """Wire keys of the message's typed data fields: junk there is a type error, not a key."""
    data = message.data  # type: ignore[attr-defined]
    if not attrs.has(type(data)):
        return frozenset()
    keys = frozenset(field.wire for field in wire_fields(type(data)))
    return keys | {"parent_call_info"} if isinstance(data, CallInfo) else keys


@settings(max_examples=300)
@given(mutated_frames())
def test_encode_decode_loses_no_key(obj: dict[str, Any]) -> None:
    text = orjson.dumps(obj)
    try:
        message = decode(text)
    except Exception as exc:  # pragma: no cover - shown on failure
        pytest.fail(f"valid frame rejected: {exc!r}")
    assert orjson.loads(encode(message, max_bytes=None)) == obj


@given(jst.call_infos())
def test_known_keys_as_null_are_preserved(info: Any) -> None:
    frame = {"type": "call:status", "msgid": "m", "data": converter.unstructure(info)}
    for key in list(frame["data"]):
        frame["data"][key] = None
    message = decode(orjson.dumps(frame))
    assert isinstance(message, CallStatus)
    assert message.data.call_sid is None
    assert orjson.loads(encode(message)) == frame


def test_a_decoded_call_info_behaves_as_a_constructed_one() -> None:
    # Decoding skips the constructor (the instance keeps only the keys jambonz sent); nothing
    # a user can see may tell the two apart.
    import pickle

    wire = {"call_sid": "c1", "sip_status": 200, "direction": None, "speech": {"x": 1}}
    decoded = structure_call_info(wire)
    built = CallInfo(call_sid="c1", sip_status=200, extra={"direction": None, "speech": {"x": 1}})
    assert decoded == built
    assert repr(decoded) == repr(built)
    assert decoded.to is None and decoded.direction is None and decoded.headers is None
    assert attrs.asdict(decoded) == attrs.asdict(built)
    assert attrs.evolve(decoded, to="+1555") == attrs.evolve(built, to="+1555")
    assert pickle.loads(pickle.dumps(decoded)) == built
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        decoded.to = "x"  # type: ignore[misc]
    assert CallInfo().to is None  # the class-level defaults serve constructed ones too
