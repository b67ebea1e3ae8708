"""Hypothesis strategies for every jambonz wire message, for jbtrio's tests and for yours.

Every strategy produces values that can be built and sent: ``decode(encode(m)) == m`` holds for
all of them, including the awkward cases the wire allows (unknown keys everywhere, known keys
present as ``null``, JSON values of every shape in ``extra``). Use :func:`messages` for "any
message", the per-class strategies to target one type, and :func:`json_objects` for raw payloads::

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
    Ack,
    CallInfo,
    CallStatus,
    Command,
    DialConfirm,
    ErrorDetails,
    FunctionCall,
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
    ToolCall,
    TtsStreamingEvent,
    TtsTokensResult,
    UnknownMessage,
    VerbHook,
    VerbStatus,
    VerbStatusEvent,
)
from jbtrio._wire._callinfo import _CALL_INFO_SPEC, unstructure_call_info
from jbtrio._wire._inbound import KNOWN_TYPES
from jbtrio._wire._outbound import DATA_OPTIONAL_COMMANDS, js_falsy

from ._executor import KNOWN_COMMANDS

__all__ = [
    "acks",
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


_CHECK_TO_STRATEGY: Final[dict[str, st.SearchStrategy[Any]]] = {
    "check_str": texts(),
    "check_id": texts(),  # at most 20 characters: within MAX_ID_CHARS
    "check_int": _INT64,
    "check_number": st.one_of(
        st.integers(min_value=0, max_value=2**31), st.floats(0, 1e9, allow_nan=False)
    ),
    "check_bool": st.booleans(),
    "check_object": json_objects(),
}
_CALL_INFO_FIELD_CHECKS: Final = tuple(_CALL_INFO_SPEC.values())
_CALL_INFO_NULLABLE: Final = {wire: attr for wire, (attr, _) in _CALL_INFO_SPEC.items()}


@cache
def call_infos(*, reserved: frozenset[str] = frozenset()) -> st.SearchStrategy[CallInfo]:
    """A :class:`CallInfo` with any subset of typed fields set and arbitrary ``extra``.

    ``reserved`` keys are kept out of ``extra`` (for keys whose content another class checks,
    like ``parent_call_info`` of ``session:adulting``).
    """
    extra_strategy = extras(frozenset(_CALL_INFO_NULLABLE), reserved)

    @st.composite
    def build(draw: st.DrawFn) -> CallInfo:
        # A subset of the 31 fields, drawn by name: drawing "maybe None" for each one is
        # several times slower and shrinks no better.
        kwargs: dict[str, Any] = {}
        for attr, check in draw(st.lists(st.sampled_from(_CALL_INFO_FIELD_CHECKS), unique=True)):
            kwargs[attr] = draw(_CHECK_TO_STRATEGY[check.__name__])
        extra = drop_shadowed(draw(extra_strategy), _CALL_INFO_NULLABLE, kwargs)
        return CallInfo(extra=extra, **kwargs)

    return build()


_ENVELOPE_RESERVED: Final = frozenset({"type", "msgid", "data"})


@cache
def _envelope(hook: bool) -> st.SearchStrategy[dict[str, Any]]:
    names = ("call_sid", "b3", "hook") if hook else ("call_sid", "b3")
    wire_to_attr = {name: name for name in names}
    extra_strategy = extras(frozenset(names), _ENVELOPE_RESERVED)
    msgids = texts(min_size=1, max_size=22)
    optional_text = _optional(texts())

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"msgid": draw(msgids)}
        for name in names:
            kwargs[name] = draw(optional_text)
        kwargs["extra"] = drop_shadowed(draw(extra_strategy), wire_to_attr, kwargs)
        return kwargs

    return build()


def _call_info_message(cls: Callable[..., _M], hook: bool) -> st.SearchStrategy[_M]:
    return st.builds(lambda env, data: cls(data=data, **env), _envelope(hook), call_infos())


@cache
def session_news() -> st.SearchStrategy[SessionNew]:
    """``session:new`` messages."""
    return _call_info_message(SessionNew, hook=False)


@cache
def session_reconnects() -> st.SearchStrategy[SessionReconnect]:
    """``session:reconnect`` messages."""
    return _call_info_message(SessionReconnect, hook=False)


@cache
def session_redirects() -> st.SearchStrategy[SessionRedirect]:
    """``session:redirect`` messages."""
    return _call_info_message(SessionRedirect, hook=True)


@st.composite
def _session_adultings(draw: st.DrawFn) -> SessionAdulting:
    env = draw(_envelope(hook=False))
    data = draw(call_infos(reserved=frozenset({"parent_call_info"})))
    parent = draw(st.sampled_from(["absent", "null", "object"]))
    if parent == "null":
        data = attrs.evolve(data, extra={**data.extra, "parent_call_info": None})
    elif parent == "object":
        parent_info = unstructure_call_info(draw(call_infos()))
        data = attrs.evolve(data, extra={**data.extra, "parent_call_info": parent_info})
    return SessionAdulting(data=data, **env)


@cache
def session_adultings() -> st.SearchStrategy[SessionAdulting]:
    """``session:adulting`` messages, with a valid, null or absent ``parent_call_info``."""
    return _session_adultings()


@cache
def call_statuses() -> st.SearchStrategy[CallStatus]:
    """``call:status`` messages."""
    return _call_info_message(CallStatus, hook=False)


@cache
def verb_hooks() -> st.SearchStrategy[VerbHook]:
    """``verb:hook`` messages (the results in ``data.extra`` are arbitrary JSON)."""
    return _call_info_message(VerbHook, hook=True)


@cache
def dial_confirms() -> st.SearchStrategy[DialConfirm]:
    """``dial:confirm`` messages."""
    return _call_info_message(DialConfirm, hook=True)


def _typed_data(
    cls: Callable[..., _M], fields: Mapping[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[_M]:
    """A data object whose typed fields (named as on the wire) are drawn from ``fields``."""
    names = tuple(fields)
    wire_to_attr = {name: name for name in names}
    extra_strategy = extras(frozenset(names))
    optional = {name: _optional(strategy) for name, strategy in fields.items()}

    @st.composite
    def build(draw: st.DrawFn) -> _M:
        kwargs = {name: draw(strategy) for name, strategy in optional.items()}
        extra = drop_shadowed(draw(extra_strategy), wire_to_attr, kwargs)
        return cls(extra=extra, **kwargs)

    return build()


def _simple_message(
    cls: Callable[..., _M], data: st.SearchStrategy[Any], hook: bool = False
) -> st.SearchStrategy[_M]:
    return st.builds(lambda env, d: cls(data=d, **env), _envelope(hook), data)


@cache
def verb_statuses() -> st.SearchStrategy[VerbStatus]:
    """``verb:status`` messages."""
    data = _typed_data(
        VerbStatusEvent,
        {
            "event": st.sampled_from(["starting", "finished", "start-playback"]) | texts(),
            "id": texts(),
            "name": texts(),
            "verb": texts(),
        },
    )
    return _simple_message(VerbStatus, data)


@cache
def jambonz_errors() -> st.SearchStrategy[JambonzError]:
    """``jambonz:error`` messages."""
    data = _typed_data(
        ErrorDetails,
        {
            "msg": texts(),
            "details": json_values(),
            "content": texts(),
            "verb": texts(),
            "id": texts(),
            "failover": texts(),
        },
    )
    return _simple_message(JambonzError, data)


@cache
def llm_events() -> st.SearchStrategy[LlmEvent]:
    """``llm:event`` messages (data is an arbitrary JSON object)."""
    return _simple_message(LlmEvent, json_objects(), hook=True)


@cache
def llm_tool_calls() -> st.SearchStrategy[LlmToolCall]:
    """``llm:tool-call`` messages, in the single-call and Google multi-call forms."""
    function_calls = _typed_data(
        FunctionCall, {"id": texts(), "name": texts(), "args": json_values()}
    )
    data = _typed_data(
        ToolCall,
        {
            "tool_call_id": texts(),
            "name": texts(),
            "args": json_values(),
            "type": texts(),
            "function_calls": st.lists(function_calls, max_size=3).map(tuple),
        },
    )
    return _simple_message(LlmToolCall, data, hook=True)


@cache
def tts_tokens_results() -> st.SearchStrategy[TtsTokensResult]:
    """``tts:tokens-result`` messages."""
    data = _typed_data(
        TokensResult,
        {
            "id": _INT64 | texts(),
            "status": st.sampled_from(["ok", "failed"]) | texts(),
            "reason": st.sampled_from(["full", "missing tokens"]) | texts(),
        },
    )
    return _simple_message(TtsTokensResult, data)


@cache
def tts_streaming_events() -> st.SearchStrategy[TtsStreamingEvent]:
    """``tts:streaming-event`` messages."""
    data = _typed_data(
        StreamingEvent,
        {
            "event_type": st.sampled_from(
                [
                    StreamingEvent.STREAM_OPEN,
                    StreamingEvent.STREAM_PAUSED,
                    StreamingEvent.STREAM_RESUMED,
                    StreamingEvent.STREAM_CLOSED,
                    StreamingEvent.USER_INTERRUPTION,
                    StreamingEvent.TTS_SPOKEN,
                ]
            )
            | texts()
        },
    )
    return _simple_message(TtsStreamingEvent, data)


@cache
def inbound_messages() -> st.SearchStrategy[InboundMessage]:
    """Any message of a type jambonz sends (not :class:`UnknownMessage`)."""
    return st.one_of(
        session_news(),
        session_reconnects(),
        session_redirects(),
        session_adultings(),
        call_statuses(),
        verb_hooks(),
        dial_confirms(),
        verb_statuses(),
        jambonz_errors(),
        llm_events(),
        llm_tool_calls(),
        tts_tokens_results(),
        tts_streaming_events(),
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


_COMMAND_WIRE: Final = {
    "queueCommand": "queue_command",
    "callSid": "call_sid",
    "tool_call_id": "tool_call_id",
    "msgid": "msgid",
}
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
        st.sampled_from(["agent:event", "agent:tool-call", "queue:status"])
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
    """Messages of types jbtrio does not know (v10 ``agent:event`` among them)."""
    return _unknown_messages()


@cache
def messages() -> st.SearchStrategy[Message]:
    """Any message in either direction, known or unknown."""
    return st.one_of(inbound_messages(), acks(), commands(), unknown_messages())
