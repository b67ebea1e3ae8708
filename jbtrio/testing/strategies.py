"""Hypothesis strategies for every jambonz wire message, for jbtrio's tests and for yours.

Every strategy produces values that can be built and sent: ``decode(encode(m)) == m`` holds for
all of them, including the awkward cases the wire allows (unknown keys everywhere, known keys
present as ``null``, JSON values of every shape in ``extra``). Use :func:`messages` for "any
message", :func:`messages_of` (or the named per-class strategies) to target one type, and
:func:`json_objects` for raw payloads. The message strategies are derived from jbtrio's message
registry, so a newly registered type is covered without an edit here::

    from hypothesis import given
    from jbtrio.testing.strategies import verb_hooks

    @given(verb_hooks())
    def test_my_handler_never_crashes(hook):
        my_handler(hook)

Strings exclude lone surrogates (they are not valid UTF-8 and cannot be sent); integers stay in
the 64-bit range and floats are finite, because those are what JSON frames can carry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Final, TypeVar

import attrs
from hypothesis import strategies as st

from jbtrio._wire import (
    ABSENT,
    DATA_OPTIONAL_COMMANDS,
    KNOWN_TYPES,
    REGISTRY,
    Ack,
    AgentEvent,
    AgentEventData,
    AgentPreflight,
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
    StreamingEvent,
    TokensResult,
    TtsStreamingEvent,
    TtsTokensResult,
    UnknownMessage,
    VerbHook,
    VerbStatus,
    VerbStatusEvent,
    WireField,
    converter,
    js_falsy,
    registration_of,
    wire_fields,
)

from ._executor import KNOWN_COMMANDS

__all__ = [
    "acks",
    "agent_events",
    "agent_tool_calls",
    "call_infos",
    "call_statuses",
    "commands",
    "dial_confirms",
    "drop_shadowed",
    "extras",
    "inbound_messages",
    "jambonz_errors",
    "json_objects",
    "json_scalars",
    "json_values",
    "llm_events",
    "llm_tool_calls",
    "messages",
    "messages_of",
    "payloads",
    "session_adultings",
    "session_news",
    "session_reconnects",
    "session_redirects",
    "texts",
    "tts_streaming_events",
    "tts_tokens_results",
    "unknown_messages",
    "verb_hooks",
    "verb_statuses",
    "verbs",
]

_M = TypeVar("_M")

#: Command sub-types jambonz 0.9.8 handles (the fake's own list) plus a v10 one, so examples
#: hit real names.
COMMAND_NAMES = (*sorted(KNOWN_COMMANDS), "agent:update")


@cache
def texts(*, min_size: int = 0, max_size: int = 20) -> st.SearchStrategy[str]:
    """Strings that can be sent in a frame: any code point except lone surrogates."""
    return st.text(min_size=min_size, max_size=max_size)


_INT64: Final = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@cache
def json_scalars() -> st.SearchStrategy[Any]:
    """``null``, booleans, 64-bit integers, finite floats and strings."""
    return st.one_of(
        st.none(), st.booleans(), _INT64, st.floats(allow_nan=False, allow_infinity=False), texts()
    )


@cache
def json_values(*, max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value as orjson decodes it (lists and dicts, never tuples)."""
    return st.recursive(
        json_scalars(),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(texts(max_size=8), children, max_size=4),
        ),
        max_leaves=max_leaves,
    )


@cache
def json_objects(*, max_size: int = 4) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object with arbitrary keys and values."""
    return st.dictionaries(texts(max_size=8), json_values(), max_size=max_size)


@cache
def extras(
    nullable: frozenset[str] = frozenset(), reserved: frozenset[str] = frozenset()
) -> st.SearchStrategy[dict[str, Any]]:
    """An ``extra`` mapping: unknown keys with any value, plus some ``nullable`` keys as ``None``.

    ``nullable`` are the wire keys of typed fields: they appear only with the value ``None``
    (a JSON ``null``); drop those whose field is set (see :func:`drop_shadowed`).
    ``reserved`` keys never appear.
    """
    known = nullable | reserved
    unknown = st.dictionaries(
        texts(max_size=10).filter(lambda key: key not in known), json_values(), max_size=3
    )
    if not nullable:
        return unknown
    nulls = st.lists(st.sampled_from(sorted(nullable)), unique=True, max_size=3)
    return st.builds(lambda extra, keys: {**extra, **dict.fromkeys(keys)}, unknown, nulls)


def drop_shadowed(
    extra: Mapping[str, Any], wire_to_attr: Mapping[str, str], fields: Mapping[str, Any]
) -> dict[str, Any]:
    """``extra`` without the ``null`` entries of typed fields that are set in ``fields``."""
    return {
        key: value
        for key, value in extra.items()
        if not (key in wire_to_attr and fields.get(wire_to_attr[key]) is not None)
    }


def _optional(strategy: st.SearchStrategy[_M]) -> st.SearchStrategy[_M | None]:
    return st.one_of(st.none(), strategy)


_KIND_TO_STRATEGY: Final[dict[str, st.SearchStrategy[Any]]] = {
    "string": texts(),
    "integer": _INT64,
    "number": st.one_of(
        st.integers(min_value=0, max_value=2**31), st.floats(0, 1e9, allow_nan=False)
    ),
    "boolean": st.booleans(),
    "object": json_objects(),
    "string or integer": _INT64 | texts(),
    "any": json_values(),
}

#: Values jambonz really sends for some fields, drawn beside arbitrary ones so that examples
#: also hit the names code dispatches on.
_EXAMPLES: Final[dict[tuple[type[Any], str], tuple[Any, ...]]] = {
    (VerbStatusEvent, "event"): ("starting", "finished", "start-playback"),
    (TokensResult, "status"): ("ok", "failed"),
    (TokensResult, "reason"): ("full", "missing tokens"),
    (StreamingEvent, "event_type"): (
        StreamingEvent.STREAM_OPEN,
        StreamingEvent.STREAM_PAUSED,
        StreamingEvent.STREAM_RESUMED,
        StreamingEvent.STREAM_CLOSED,
        StreamingEvent.USER_INTERRUPTION,
        StreamingEvent.TTS_SPOKEN,
    ),
    (AgentEventData, "type"): (
        AgentEventData.TURN_END,
        AgentEventData.USER_TRANSCRIPT,
        AgentEventData.LLM_RESPONSE,
        AgentEventData.USER_INTERRUPTION,
    ),
    (AgentPreflight, "result"): ("hit", "miss", "pending"),
}


def _field_strategy(cls: type[Any], field: WireField) -> st.SearchStrategy[Any]:
    if field.payload is not None:
        nested = payloads(field.payload)
        if field.kind == "payloads":
            return st.lists(nested, max_size=3).map(tuple)
        return nested
    strategy = _KIND_TO_STRATEGY[field.kind]
    examples = _EXAMPLES.get((cls, field.attr))
    return strategy if examples is None else st.sampled_from(examples) | strategy


_PAYLOADS: dict[tuple[type[Any], frozenset[str]], st.SearchStrategy[Any]] = {}


def payloads(cls: type[Any], *, reserved: frozenset[str] = frozenset()) -> st.SearchStrategy[Any]:
    """Instances of a wire class (a ``data`` payload, :class:`CallInfo`, ...) built from its
    declared wire fields: any subset set, arbitrary ``extra`` (no ``reserved`` keys in it)."""
    strategy = _PAYLOADS.get((cls, reserved))
    if strategy is None:
        strategy = _PAYLOADS[cls, reserved] = _payloads(cls, reserved)
    return strategy


def _payloads(cls: type[Any], reserved: frozenset[str]) -> st.SearchStrategy[Any]:
    fields = wire_fields(cls)
    nullable = {field.wire: field.attr for field in fields}
    extra_strategy = extras(frozenset(nullable), reserved)
    by_field = tuple((field.attr, _field_strategy(cls, field)) for field in fields)

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        # A subset of the fields, drawn by name: drawing "maybe None" for each one is several
        # times slower on a 31-field call info and shrinks no better.
        kwargs: dict[str, Any] = {}
        if by_field:
            for attr, strategy in draw(st.lists(st.sampled_from(by_field), unique=True)):
                kwargs[attr] = draw(strategy)
        extra = drop_shadowed(draw(extra_strategy), nullable, kwargs)
        return cls(extra=extra, **kwargs)

    return build()


@cache
def call_infos(*, reserved: frozenset[str] = frozenset()) -> st.SearchStrategy[CallInfo]:
    """A :class:`CallInfo` with any subset of typed fields set and arbitrary ``extra``.

    ``reserved`` keys are kept out of ``extra`` (for keys whose content another class checks,
    like ``parent_call_info`` of ``session:adulting``).
    """
    return payloads(CallInfo, reserved=reserved)


_ENVELOPES: dict[type[Any], st.SearchStrategy[dict[str, Any]]] = {}


def _envelope(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for a message's envelope: ``msgid`` and its optional fields."""
    strategy = _ENVELOPES.get(cls)
    if strategy is None:
        strategy = _ENVELOPES[cls] = _envelope_of(cls)
    return strategy


def _envelope_of(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    fields = wire_fields(cls)
    nullable = {field.wire: field.attr for field in fields}
    extra_strategy = extras(frozenset(nullable), frozenset({"type", "msgid", "data"}))
    msgids = texts(min_size=1, max_size=22)
    optional = tuple((field.attr, _optional(_field_strategy(cls, field))) for field in fields)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"msgid": draw(msgids)}
        for attr, strategy in optional:
            kwargs[attr] = draw(strategy)
        kwargs["extra"] = drop_shadowed(draw(extra_strategy), nullable, kwargs)
        return kwargs

    return build()


@st.composite
def _session_adultings(draw: st.DrawFn) -> SessionAdulting:
    env = draw(_envelope(SessionAdulting))
    data = draw(call_infos(reserved=frozenset({"parent_call_info"})))
    parent = draw(st.sampled_from(["absent", "null", "object"]))
    if parent == "null":
        data = attrs.evolve(data, extra={**data.extra, "parent_call_info": None})
    elif parent == "object":
        parent_info = converter.unstructure(draw(call_infos()))
        data = attrs.evolve(data, extra={**data.extra, "parent_call_info": parent_info})
    return SessionAdulting(data=data, **env)


#: Messages whose payload has rules of its own beyond its fields' declarations.
_SPECIAL: Final[dict[type[Any], Callable[[], st.SearchStrategy[Any]]]] = {
    SessionAdulting: _session_adultings,
}


_MESSAGES: dict[type[Any], st.SearchStrategy[Any]] = {}


def messages_of(cls: type[Any]) -> st.SearchStrategy[Any]:
    """Messages of one registered jambonz→app class, derived from its registration: the
    envelope from its fields, ``data`` from its payload class (or any JSON object)."""
    strategy = _MESSAGES.get(cls)
    if strategy is None:
        special = _SPECIAL.get(cls)
        if special is not None:
            strategy = special()
        else:
            payload = registration_of(cls).payload
            data = json_objects() if payload is None else payloads(payload)
            strategy = st.builds(lambda env, d: cls(data=d, **env), _envelope(cls), data)
        _MESSAGES[cls] = strategy
    return strategy


@cache
def session_news() -> st.SearchStrategy[SessionNew]:
    """``session:new`` messages."""
    return messages_of(SessionNew)


@cache
def session_reconnects() -> st.SearchStrategy[SessionReconnect]:
    """``session:reconnect`` messages."""
    return messages_of(SessionReconnect)


@cache
def session_redirects() -> st.SearchStrategy[SessionRedirect]:
    """``session:redirect`` messages."""
    return messages_of(SessionRedirect)


@cache
def session_adultings() -> st.SearchStrategy[SessionAdulting]:
    """``session:adulting`` messages, with a valid, null or absent ``parent_call_info``."""
    return messages_of(SessionAdulting)


@cache
def call_statuses() -> st.SearchStrategy[CallStatus]:
    """``call:status`` messages."""
    return messages_of(CallStatus)


@cache
def verb_hooks() -> st.SearchStrategy[VerbHook]:
    """``verb:hook`` messages (the results in ``data.extra`` are arbitrary JSON)."""
    return messages_of(VerbHook)


@cache
def dial_confirms() -> st.SearchStrategy[DialConfirm]:
    """``dial:confirm`` messages."""
    return messages_of(DialConfirm)


@cache
def verb_statuses() -> st.SearchStrategy[VerbStatus]:
    """``verb:status`` messages."""
    return messages_of(VerbStatus)


@cache
def jambonz_errors() -> st.SearchStrategy[JambonzError]:
    """``jambonz:error`` messages."""
    return messages_of(JambonzError)


@cache
def llm_events() -> st.SearchStrategy[LlmEvent]:
    """``llm:event`` messages (data is an arbitrary JSON object)."""
    return messages_of(LlmEvent)


@cache
def llm_tool_calls() -> st.SearchStrategy[LlmToolCall]:
    """``llm:tool-call`` messages, in the single-call and Google multi-call forms."""
    return messages_of(LlmToolCall)


@cache
def tts_tokens_results() -> st.SearchStrategy[TtsTokensResult]:
    """``tts:tokens-result`` messages."""
    return messages_of(TtsTokensResult)


@cache
def tts_streaming_events() -> st.SearchStrategy[TtsStreamingEvent]:
    """``tts:streaming-event`` messages."""
    return messages_of(TtsStreamingEvent)


@cache
def agent_events() -> st.SearchStrategy[AgentEvent]:
    """``agent:event`` messages (jambonz 10.x/11.x), ``turn_end`` latency figures and all."""
    return messages_of(AgentEvent)


@cache
def agent_tool_calls() -> st.SearchStrategy[AgentToolCall]:
    """``agent:tool-call`` messages (jambonz 10.x/11.x)."""
    return messages_of(AgentToolCall)


@cache
def inbound_messages() -> st.SearchStrategy[InboundMessage]:
    """Any message of a type jambonz sends (not :class:`UnknownMessage`): every registered one."""
    return st.one_of(
        [
            messages_of(registration.cls)
            for registration in REGISTRY.values()
            if registration.inbound
        ]
    )


@cache
def verbs() -> st.SearchStrategy[dict[str, Any]]:
    """A verb-shaped dict (``{"verb": name, ...}``); not validated against the verb spec."""
    return st.builds(
        lambda name, props: {**props, "verb": name},
        st.sampled_from(["say", "play", "gather", "hangup", "pause", "config"]),
        json_objects(max_size=3),
    )


_ACK_EXTRAS: Final = extras(frozenset({"data"}), frozenset({"type", "msgid"}))


@st.composite
def _acks(draw: st.DrawFn) -> Ack:
    verb_list = draw(_optional(st.lists(verbs() | json_objects(), max_size=3).map(tuple)))
    extra = drop_shadowed(draw(_ACK_EXTRAS), {"data": "verbs"}, {"verbs": verb_list})
    return Ack(msgid=draw(texts(min_size=1, max_size=22)), verbs=verb_list, extra=extra)


@cache
def acks() -> st.SearchStrategy[Ack]:
    """``ack`` messages, with and without verbs."""
    return _acks()


_COMMAND_WIRE: Final = {field.wire: field.attr for field in wire_fields(Command)}
_COMMAND_EXTRAS: Final = extras(frozenset(_COMMAND_WIRE), frozenset({"type", "command", "data"}))
_TRUTHY_JSON: Final = json_values().filter(lambda value: not js_falsy(value))
_OPTIONAL_DATA: Final = st.just(ABSENT) | json_values()


@st.composite
def _commands(draw: st.DrawFn) -> Command:
    name = draw(st.sampled_from(COMMAND_NAMES) | texts(min_size=1))
    data = draw(_OPTIONAL_DATA if name in DATA_OPTIONAL_COMMANDS else _TRUTHY_JSON)
    kwargs: dict[str, Any] = {
        "queue_command": draw(_optional(st.booleans())),
        "call_sid": draw(_optional(texts())),
        "tool_call_id": draw(_optional(texts())),
        "msgid": draw(_optional(texts())),
    }
    extra = drop_shadowed(draw(_COMMAND_EXTRAS), _COMMAND_WIRE, kwargs)
    return Command(command=name, data=data, extra=extra, **kwargs)


@cache
def commands() -> st.SearchStrategy[Command]:
    """``command`` messages with any sub-type and data jambonz would accept."""
    return _commands()


@st.composite
def _unknown_messages(draw: st.DrawFn) -> UnknownMessage:
    wire_type = draw(
        st.sampled_from(["agent:future", "queue:status"])
        | texts(min_size=1).filter(lambda name: name not in KNOWN_TYPES)
    )
    raw: dict[str, Any] = draw(json_objects())
    raw["type"] = wire_type
    msgid = draw(st.one_of(st.none(), texts(min_size=1, max_size=22), json_scalars()))
    if msgid is not None:
        raw["msgid"] = msgid
    else:
        raw.pop("msgid", None)
    return UnknownMessage.from_raw(raw)


@cache
def unknown_messages() -> st.SearchStrategy[UnknownMessage]:
    """Messages of types jbtrio does not know."""
    return _unknown_messages()


@cache
def messages() -> st.SearchStrategy[Message]:
    """Any message in either direction, known or unknown."""
    return st.one_of(inbound_messages(), acks(), commands(), unknown_messages())
