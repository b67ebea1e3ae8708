"""The messages jambonz sends to the app (REFERENCE §3), one frozen class per ``type``.

Every class carries the envelope (``msgid``, ``call_sid``, ``b3``, unknown envelope keys in
``extra``), ``hook`` where jambonz sends one, and a typed ``data``. ``TYPE`` is the wire
``type`` and ``REQUIRES_ACK`` says whether jambonz waits (5 s) for an ``ack`` with the same
``msgid`` (REFERENCE §2.2: the six session/hook types do, the seven notifications do not).

A ``type`` jbtrio does not know becomes :class:`UnknownMessage`, never an exception: jambonz adds
message types over time (v10 has ``agent:event``), and a newer server must not break an app.

The ``from_wire``/``to_wire`` functions here are the hand-written cattrs hooks that
``_codec`` registers on the converter; they check types with JSON paths and keep every key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final

import attrs

from .._errors import ProtocolError
from ._callinfo import (
    MAX_ID_CHARS,
    CallInfo,
    Checker,
    check_any,
    check_extra,
    check_id,
    check_object,
    check_str,
    check_str_or_int,
    extra_validator,
    join_known,
    split_known,
    structure_call_info,
    type_error,
    unstructure_call_info,
)
from ._payloads import DialResult, GatherResult, LlmResult

__all__ = [
    "CallStatus",
    "DialConfirm",
    "ErrorDetails",
    "FunctionCall",
    "InboundMessage",
    "JambonzError",
    "LlmEvent",
    "LlmToolCall",
    "SessionAdulting",
    "SessionNew",
    "SessionReconnect",
    "SessionRedirect",
    "StreamingEvent",
    "TokensResult",
    "ToolCall",
    "TtsStreamingEvent",
    "TtsTokensResult",
    "UnknownMessage",
    "VerbHook",
    "VerbStatus",
    "VerbStatusEvent",
]

#: Notification types (never acked), including the v10-only ones documented in REFERENCE §3.14.
NOTIFICATION_TYPES: Final = frozenset(
    {
        "call:status",
        "verb:status",
        "jambonz:error",
        "llm:event",
        "llm:tool-call",
        "tts:tokens-result",
        "tts:streaming-event",
        "agent:event",
        "agent:tool-call",
    }
)


# --------------------------------------------------------------------------- data payloads


def _same(*keys: str) -> dict[str, str]:
    """A wire-key -> attribute map for fields named as on the wire."""
    return {key: key for key in keys}


@attrs.frozen(kw_only=True)
class VerbStatusEvent:
    """``data`` of ``verb:status``: ``event`` (``starting``, ``finished``, ``start-playback``, ...).

    The verb's name is in ``name`` for ``starting``/``finished`` and in ``verb`` for the other
    events (REFERENCE §3.8); ``id`` is the verb's ``id`` when the app set one. Event specific
    fields (``vendor``, ``characters``, ``served_from_cache``, ...) are in ``extra``.
    """

    event: str | None = None
    id: str | None = None
    name: str | None = None
    verb: str | None = None
    extra: Mapping[str, Any] = attrs.field(
        factory=dict, validator=extra_validator(_same("event", "id", "name", "verb"))
    )

    @property
    def verb_name(self) -> str | None:
        """The verb this event is about, whichever of ``name``/``verb`` jambonz used."""
        return self.name if self.name is not None else self.verb


_VERB_STATUS_SPEC: Final[dict[str, tuple[str, Checker]]] = {
    "event": ("event", check_str),
    "id": ("id", check_str),
    "name": ("name", check_str),
    "verb": ("verb", check_str),
}


@attrs.frozen(kw_only=True)
class ErrorDetails:
    """``data`` of ``jambonz:error`` (REFERENCE §3.9).

    A verb error has ``msg`` (``"TTS error"``), ``details``, ``verb``, ``id`` and maybe
    ``failover``; a rejected app frame has ``msg="InvalidMessage"``, ``details`` and ``content``
    (the offending frame as text). ``details`` is kept verbatim because a failed ``dial`` command
    reports a REST error body there.
    """

    msg: str | None = None
    details: Any = None
    content: str | None = None
    verb: str | None = None
    id: str | None = None
    failover: str | None = None
    extra: Mapping[str, Any] = attrs.field(
        factory=dict,
        validator=extra_validator(_same("msg", "details", "content", "verb", "id", "failover")),
    )


_ERROR_SPEC: Final[dict[str, tuple[str, Checker]]] = {
    "msg": ("msg", check_str),
    "details": ("details", check_any),
    "content": ("content", check_str),
    "verb": ("verb", check_str),
    "id": ("id", check_str),
    "failover": ("failover", check_str),
}


@attrs.frozen(kw_only=True)
class FunctionCall:
    """One function call the LLM asked for: ``id``, ``name`` and ``args`` (verbatim)."""

    id: str | None = None
    name: str | None = None
    args: Any = None
    extra: Mapping[str, Any] = attrs.field(
        factory=dict, validator=extra_validator(_same("id", "name", "args"))
    )


_FUNCTION_CALL_SPEC: Final[dict[str, tuple[str, Checker]]] = {
    "id": ("id", check_str),
    "name": ("name", check_str),
    "args": ("args", check_any),
}
_FUNCTION_CALL_FIELDS: Final = (("id", "id"), ("name", "name"), ("args", "args"))


@attrs.frozen(kw_only=True)
class ToolCall:
    """``data`` of ``llm:tool-call`` (REFERENCE §3.11).

    OpenAI, Microsoft, Ultravox, ElevenLabs and Deepgram send one call:
    ``{tool_call_id, name, args}``. Google sends ``{tool_call_id, type: "toolCall",
    function_calls: [{id, name, args}]}``; ``function_calls`` is ``None`` when the key is absent.
    :attr:`calls` gives both forms as one list. ``args`` is the parsed arguments, verbatim.
    """

    tool_call_id: str | None = None
    name: str | None = None
    args: Any = None
    type: str | None = None
    function_calls: tuple[FunctionCall, ...] | None = None
    extra: Mapping[str, Any] = attrs.field(
        factory=dict,
        validator=extra_validator(_same("tool_call_id", "name", "args", "type", "function_calls")),
    )

    @property
    def calls(self) -> tuple[FunctionCall, ...]:
        """Every function call in this message, whatever the vendor's form."""
        if self.function_calls is not None:
            return self.function_calls
        return (FunctionCall(id=self.tool_call_id, name=self.name, args=self.args),)


_TOOL_CALL_SPEC: Final[dict[str, tuple[str, Checker]]] = {
    "tool_call_id": ("tool_call_id", check_str),
    "name": ("name", check_str),
    "args": ("args", check_any),
    "type": ("type", check_str),
}
_TOOL_CALL_FIELDS: Final = (
    ("tool_call_id", "tool_call_id"),
    ("name", "name"),
    ("args", "args"),
    ("type", "type"),
)


@attrs.frozen(kw_only=True)
class TokensResult:
    """``data`` of ``tts:tokens-result``: the echoed ``id`` and ``status`` (``ok``/``failed``).

    ``reason`` explains a failure: ``"full"`` means the tokens were NOT stored and must be sent
    again after ``stream_resumed`` (REFERENCE §5.2). ``status`` may be absent when the session
    has no streaming buffer.
    """

    id: str | int | None = None
    status: str | None = None
    reason: str | None = None
    extra: Mapping[str, Any] = attrs.field(
        factory=dict, validator=extra_validator(_same("id", "status", "reason"))
    )

    @property
    def ok(self) -> bool:
        """True when jambonz accepted the tokens."""
        return self.status == "ok"


_TOKENS_RESULT_SPEC: Final[dict[str, tuple[str, Checker]]] = {
    "id": ("id", check_str_or_int),
    "status": ("status", check_str),
    "reason": ("reason", check_str),
}


@attrs.frozen(kw_only=True)
class StreamingEvent:
    """``data`` of ``tts:streaming-event``: ``event_type`` is one of the constants below.

    Other keys (v10's ``text`` and ``bargein`` on ``tts_spoken``) are in ``extra``.
    """

    STREAM_OPEN: ClassVar[str] = "stream_open"
    STREAM_PAUSED: ClassVar[str] = "stream_paused"
    STREAM_RESUMED: ClassVar[str] = "stream_resumed"
    STREAM_CLOSED: ClassVar[str] = "stream_closed"
    USER_INTERRUPTION: ClassVar[str] = "user_interruption"
    TTS_SPOKEN: ClassVar[str] = "tts_spoken"

    event_type: str | None = None
    extra: Mapping[str, Any] = attrs.field(
        factory=dict, validator=extra_validator(_same("event_type"))
    )


_STREAMING_EVENT_SPEC: Final[dict[str, tuple[str, Checker]]] = {
    "event_type": ("event_type", check_str),
}


# --------------------------------------------------------------------------- envelopes


def _validate_envelope_extra(inst: Any, attribute: Any, value: Mapping[str, Any]) -> None:
    """Keep ``extra`` from shadowing envelope keys (see ``check_extra`` for why)."""
    if value:
        check_extra(inst, value, type(inst)._NULLABLE, _RESERVED)


_RESERVED: Final = frozenset({"type", "msgid", "data"})


@attrs.frozen(kw_only=True)
class InboundMessage:
    """Base of the messages jambonz sends; use it for ``isinstance`` checks.

    ``msgid`` is jambonz's id for this message (echo it in the ``ack``); ``call_sid`` is the
    envelope's sid, absent on ``/adulting`` and redirect-opened sockets; ``b3`` is trace context;
    ``extra`` keeps envelope keys jbtrio does not know.
    """

    TYPE: ClassVar[str] = ""
    REQUIRES_ACK: ClassVar[bool] = False
    _NULLABLE: ClassVar[Mapping[str, str]] = _same("call_sid", "b3")

    msgid: str
    call_sid: str | None = None
    b3: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=_validate_envelope_extra)

    @property
    def sid(self) -> str | None:
        """The call sid this message is about (``data.call_sid`` first, then the envelope)."""
        return self.call_sid

    @property
    def should_ack(self) -> bool:
        """Whether the app must answer with an ``ack`` carrying this ``msgid``."""
        return self.REQUIRES_ACK


@attrs.frozen(kw_only=True)
class _CallInfoMessage(InboundMessage):
    data: CallInfo = attrs.field(factory=CallInfo)

    @property
    def sid(self) -> str | None:
        sid = self.data.call_sid
        return sid if sid is not None else self.call_sid


class _HookMixin:
    """Marks the types whose envelope has ``hook`` (REFERENCE §2.1)."""

    __slots__ = ()
    _NULLABLE: ClassVar[Mapping[str, str]] = _same("call_sid", "b3", "hook")


@attrs.frozen(kw_only=True)
class SessionNew(_CallInfoMessage):
    """First message of a new call: ack it with a non-empty verb list within 5 s.

    ``data.sip`` is the raw SIP INVITE, ``data.defaults`` the account's speech defaults and
    ``data.env_vars`` the application's environment variables.
    """

    TYPE: ClassVar[str] = "session:new"
    REQUIRES_ACK: ClassVar[bool] = True


@attrs.frozen(kw_only=True)
class SessionReconnect(_CallInfoMessage):
    """First message on a re-established socket; ``data`` is the cached ``session:new`` data."""

    TYPE: ClassVar[str] = "session:reconnect"
    REQUIRES_ACK: ClassVar[bool] = True


@attrs.frozen(kw_only=True)
class SessionRedirect(_HookMixin, _CallInfoMessage):
    """The call moves to the application at ``hook``; the ack's verbs replace the stack."""

    TYPE: ClassVar[str] = "session:redirect"
    REQUIRES_ACK: ClassVar[bool] = True
    hook: str | None = None


@attrs.frozen(kw_only=True)
class SessionAdulting(_CallInfoMessage):
    """A dialed B-leg now runs as its own session on an ``/adulting`` socket.

    ``data`` is the child's call info; the parent's is in ``data.extra["parent_call_info"]``
    and typed by :attr:`parent_call_info`. The ack's verbs are ignored.
    """

    TYPE: ClassVar[str] = "session:adulting"
    REQUIRES_ACK: ClassVar[bool] = True

    @property
    def parent_call_info(self) -> CallInfo | None:
        """The parent leg's call info, or ``None`` when jambonz did not send one."""
        raw = self.data.extra.get("parent_call_info")
        if raw is None:
            return None
        return structure_call_info(raw, "$.data.parent_call_info")


@attrs.frozen(kw_only=True)
class CallStatus(_CallInfoMessage):
    """A call-state change of this call or of a dialed B-leg (``data.direction == "outbound"``).

    Do not ack. ``completed`` carries ``duration`` and ``call_termination_by``.
    """

    TYPE: ClassVar[str] = "call:status"
    REQUIRES_ACK: ClassVar[bool] = False


@attrs.frozen(kw_only=True)
class VerbHook(_HookMixin, _CallInfoMessage):
    """A verb's hook fired; ``data.extra`` has its results. Ack within 5 s.

    :meth:`gather`, :meth:`dial` and :meth:`llm` give typed views of the common results.
    """

    TYPE: ClassVar[str] = "verb:hook"
    REQUIRES_ACK: ClassVar[bool] = True
    hook: str | None = None

    def gather(self) -> GatherResult:
        """The result of a ``gather`` verb (ProtocolError if it is malformed)."""
        try:
            return GatherResult.from_call_info(self.data)
        except ProtocolError as exc:
            raise self._malformed("gather", exc) from None

    def dial(self) -> DialResult:
        """The result of a ``dial`` verb (ProtocolError if it is malformed)."""
        try:
            return DialResult.from_call_info(self.data)
        except ProtocolError as exc:
            raise self._malformed("dial", exc) from None

    def llm(self) -> LlmResult:
        """The result of an ``llm`` verb (ProtocolError if it is malformed)."""
        try:
            return LlmResult.from_call_info(self.data)
        except ProtocolError as exc:
            raise self._malformed("llm", exc) from None

    def _malformed(self, verb: str, exc: ProtocolError) -> ProtocolError:
        """The error of a result that is not what jambonz sends, naming the hook it came in:
        jambonz's fault, not the app's (a flow waiting for it gets it at its ``yield``)."""
        return ProtocolError(
            exc.reason,
            context=f"verb:hook {self.msgid} ({self.hook}) carries a malformed {verb} result",
        )


@attrs.frozen(kw_only=True)
class DialConfirm(_HookMixin, _CallInfoMessage):
    """A dialed party answered and ``hook`` (the confirmHook) must supply a screening app.

    ``data`` is the B-leg's call info. Ack with verbs (or with none to bridge at once).
    """

    TYPE: ClassVar[str] = "dial:confirm"
    REQUIRES_ACK: ClassVar[bool] = True
    hook: str | None = None


@attrs.frozen(kw_only=True)
class VerbStatus(InboundMessage):
    """A verb lifecycle event, sent only after ``config`` with ``notifyEvents: true``."""

    TYPE: ClassVar[str] = "verb:status"
    REQUIRES_ACK: ClassVar[bool] = False
    data: VerbStatusEvent = attrs.field(factory=VerbStatusEvent)


@attrs.frozen(kw_only=True)
class JambonzError(InboundMessage):
    """jambonz reports a verb failure or a frame from the app it rejected. Do not ack."""

    TYPE: ClassVar[str] = "jambonz:error"
    REQUIRES_ACK: ClassVar[bool] = False
    data: ErrorDetails = attrs.field(factory=ErrorDetails)


@attrs.frozen(kw_only=True)
class LlmEvent(_HookMixin, InboundMessage):
    """A raw vendor event from a running ``llm`` verb (keys snake-cased by jambonz)."""

    TYPE: ClassVar[str] = "llm:event"
    REQUIRES_ACK: ClassVar[bool] = False
    hook: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def event_type(self) -> str | None:
        """The vendor's event type (``data["type"]``) when it is a string."""
        value = self.data.get("type")
        return value if isinstance(value, str) else None


@attrs.frozen(kw_only=True)
class LlmToolCall(_HookMixin, InboundMessage):
    """The LLM wants a function result; answer with the ``llm:tool-output`` command."""

    TYPE: ClassVar[str] = "llm:tool-call"
    REQUIRES_ACK: ClassVar[bool] = False
    hook: str | None = None
    data: ToolCall = attrs.field(factory=ToolCall)


@attrs.frozen(kw_only=True)
class TtsTokensResult(InboundMessage):
    """jambonz's answer to one ``tts:tokens`` command (matched by ``data.id``)."""

    TYPE: ClassVar[str] = "tts:tokens-result"
    REQUIRES_ACK: ClassVar[bool] = False
    data: TokensResult = attrs.field(factory=TokensResult)


@attrs.frozen(kw_only=True)
class TtsStreamingEvent(InboundMessage):
    """A TTS stream state change (``data.event_type``; REFERENCE §5.4)."""

    TYPE: ClassVar[str] = "tts:streaming-event"
    REQUIRES_ACK: ClassVar[bool] = False
    data: StreamingEvent = attrs.field(factory=StreamingEvent)


KNOWN_INBOUND: Final[tuple[type[InboundMessage], ...]] = (
    SessionNew,
    SessionReconnect,
    SessionRedirect,
    SessionAdulting,
    CallStatus,
    VerbHook,
    DialConfirm,
    VerbStatus,
    JambonzError,
    LlmEvent,
    LlmToolCall,
    TtsTokensResult,
    TtsStreamingEvent,
)
#: Every ``type`` that has its own class (the two app→jambonz types included).
KNOWN_TYPES: Final = frozenset({cls.TYPE for cls in KNOWN_INBOUND} | {"ack", "command"})


def _validate_unknown(inst: UnknownMessage, attribute: Any, value: Any) -> None:
    if inst.type in KNOWN_TYPES:
        raise ValueError(f"UnknownMessage cannot have the known type {inst.type!r}")
    if inst.raw.get("type") != inst.type:
        raise ValueError("UnknownMessage.raw['type'] must equal UnknownMessage.type")
    raw_msgid = inst.raw.get("msgid")
    if inst.msgid != (raw_msgid if isinstance(raw_msgid, str) else None):
        raise ValueError("UnknownMessage.msgid must be raw['msgid'] when that is a string")


@attrs.frozen(kw_only=True)
class UnknownMessage:
    """A message whose ``type`` jbtrio does not know, kept whole in ``raw``.

    ``msgid`` is ``raw["msgid"]`` when that is a string. Build one with :meth:`from_raw`.
    """

    type: str
    msgid: str | None = None
    raw: Mapping[str, Any] = attrs.field(validator=_validate_unknown)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> UnknownMessage:
        """Wrap a decoded JSON object whose ``type`` is a string jbtrio does not know."""
        msgid = raw.get("msgid")
        return cls(type=raw["type"], msgid=msgid if isinstance(msgid, str) else None, raw=raw)

    @property
    def sid(self) -> str | None:
        """The envelope ``call_sid`` when it is a string."""
        sid = self.raw.get("call_sid")
        return sid if isinstance(sid, str) else None

    @property
    def should_ack(self) -> bool:
        """REFERENCE §7.3: ack an unknown type that has a msgid unless it is a notification."""
        return self.msgid is not None and self.type not in NOTIFICATION_TYPES


# --------------------------------------------------------------------------- hooks

_ENVELOPE_SPEC: Final[dict[str, tuple[str, Checker]]] = {
    "call_sid": ("call_sid", check_id),
    "b3": ("b3", check_str),
}
_HOOK_ENVELOPE_SPEC: Final[dict[str, tuple[str, Checker]]] = {
    **_ENVELOPE_SPEC,
    "hook": ("hook", check_str),
}
_SKIP: Final = frozenset({"type", "msgid", "data"})


def _envelope(obj: Mapping[str, Any], spec: Mapping[str, tuple[str, Checker]]) -> dict[str, Any]:
    """Keyword arguments for the envelope part of ``obj`` (msgid required, rest lossless)."""
    msgid = obj.get("msgid")
    if type(msgid) is not str:
        if "msgid" not in obj:
            raise ProtocolError("$.msgid: missing (every jambonz message has a msgid)")
        raise type_error("$.msgid", "string", msgid)
    if len(msgid) > MAX_ID_CHARS:
        check_id(msgid, "$.msgid")
    kwargs: dict[str, Any] = {"msgid": msgid}
    extra: dict[str, Any] = {}
    for key, value in obj.items():
        if key in _SKIP:
            continue
        entry = spec.get(key)
        if entry is None or value is None:
            extra[key] = value
        else:
            try:
                kwargs[entry[0]] = entry[1](value, "")  # path built only on failure
            except ProtocolError:
                entry[1](value, f"$.{key}")
                raise
    kwargs["extra"] = extra
    return kwargs


def _data(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    data = obj.get("data")
    if type(data) is dict:
        return data
    if "data" not in obj:
        raise ProtocolError("$.data: missing (jambonz always sends a data object)")
    raise type_error("$.data", "object", data)


def _call_info_from_wire(
    cls: type[_CallInfoMessage], spec: Mapping[str, tuple[str, Checker]]
) -> Callable[[Any, Any], Any]:
    def from_wire(obj: Any, _: Any = None) -> Any:
        kwargs = _envelope(obj, spec)
        return cls(data=structure_call_info(_data(obj)), **kwargs)

    return from_wire


def _adulting_from_wire(obj: Any, _: Any = None) -> SessionAdulting:
    kwargs = _envelope(obj, _ENVELOPE_SPEC)
    msg = SessionAdulting(data=structure_call_info(_data(obj)), **kwargs)
    msg.parent_call_info  # noqa: B018 - validate now, so a bad parent fails at decode time
    return msg


def _simple_from_wire(
    cls: type[InboundMessage],
    spec: Mapping[str, tuple[str, Checker]],
    data_cls: Callable[..., Any],
    data_spec: Mapping[str, tuple[str, Checker]],
) -> Callable[[Any, Any], Any]:
    def from_wire(obj: Any, _: Any = None) -> Any:
        kwargs = _envelope(obj, spec)
        data_kwargs, data_extra = split_known(_data(obj), data_spec, "$.data")
        return cls(data=data_cls(extra=data_extra, **data_kwargs), **kwargs)  # type: ignore[call-arg]

    return from_wire


def _llm_event_from_wire(obj: Any, _: Any = None) -> LlmEvent:
    kwargs = _envelope(obj, _HOOK_ENVELOPE_SPEC)
    return LlmEvent(data=_data(obj), **kwargs)


def _tool_call_from_wire(obj: Any, _: Any = None) -> LlmToolCall:
    kwargs = _envelope(obj, _HOOK_ENVELOPE_SPEC)
    data = dict(_data(obj))
    raw_calls = data.get("function_calls")
    function_calls: tuple[FunctionCall, ...] | None = None
    if raw_calls is not None:
        del data["function_calls"]
        if type(raw_calls) is not list:
            raise type_error("$.data.function_calls", "array", raw_calls)
        calls = []
        for index, raw in enumerate(raw_calls):
            path = f"$.data.function_calls[{index}]"
            call_kwargs, call_extra = split_known(
                check_object(raw, path), _FUNCTION_CALL_SPEC, path
            )
            calls.append(FunctionCall(extra=call_extra, **call_kwargs))
        function_calls = tuple(calls)
    data_kwargs, data_extra = split_known(data, _TOOL_CALL_SPEC, "$.data")
    tool_call = ToolCall(function_calls=function_calls, extra=data_extra, **data_kwargs)
    return LlmToolCall(data=tool_call, **kwargs)


def _envelope_to_wire(msg: InboundMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"type": msg.TYPE, "msgid": msg.msgid}
    if msg.call_sid is not None:
        out["call_sid"] = msg.call_sid
    hook = getattr(msg, "hook", None)
    if hook is not None:
        out["hook"] = hook
    if msg.b3 is not None:
        out["b3"] = msg.b3
    if msg.extra:
        out.update(msg.extra)
    return out


def _call_info_message_to_wire(msg: Any) -> dict[str, Any]:
    out = _envelope_to_wire(msg)
    out["data"] = unstructure_call_info(msg.data)
    return out


def _simple_to_wire(fields: tuple[tuple[str, str], ...]) -> Callable[[Any], dict[str, Any]]:
    def to_wire(msg: Any) -> dict[str, Any]:
        out = _envelope_to_wire(msg)
        out["data"] = join_known(msg.data, fields, msg.data.extra)
        return out

    return to_wire


def _llm_event_to_wire(msg: LlmEvent) -> dict[str, Any]:
    out = _envelope_to_wire(msg)
    out["data"] = msg.data
    return out


def _tool_call_to_wire(msg: LlmToolCall) -> dict[str, Any]:
    out = _envelope_to_wire(msg)
    tool_call = msg.data
    data = join_known(tool_call, _TOOL_CALL_FIELDS, {})
    if tool_call.function_calls is not None:
        data["function_calls"] = [
            join_known(call, _FUNCTION_CALL_FIELDS, call.extra) for call in tool_call.function_calls
        ]
    if tool_call.extra:
        data.update(tool_call.extra)
    out["data"] = data
    return out


def _fields(spec: Mapping[str, tuple[str, Checker]]) -> tuple[tuple[str, str], ...]:
    return tuple((attr, wire) for wire, (attr, _) in spec.items())


def unknown_from_wire(obj: Any, _: Any = None) -> UnknownMessage:
    """Wrap a decoded object whose (string) ``type`` has no class (its string ``msgid`` and
    ``call_sid`` bounded as every message's are)."""
    for key in ("msgid", "call_sid"):
        value = obj.get(key)
        if type(value) is str and len(value) > MAX_ID_CHARS:
            check_id(value, f"$.{key}")
    return UnknownMessage.from_raw(obj)


def unknown_to_wire(msg: UnknownMessage) -> dict[str, Any]:
    """The wire object of an :class:`UnknownMessage`: its ``raw`` mapping."""
    return dict(msg.raw)


#: type -> (class, structure hook, unstructure hook); ``_codec`` registers these.
INBOUND_HOOKS: Final[
    dict[str, tuple[type[Any], Callable[[Any, Any], Any], Callable[[Any], dict[str, Any]]]]
] = {
    "session:new": (
        SessionNew,
        _call_info_from_wire(SessionNew, _ENVELOPE_SPEC),
        _call_info_message_to_wire,
    ),
    "session:reconnect": (
        SessionReconnect,
        _call_info_from_wire(SessionReconnect, _ENVELOPE_SPEC),
        _call_info_message_to_wire,
    ),
    "session:redirect": (
        SessionRedirect,
        _call_info_from_wire(SessionRedirect, _HOOK_ENVELOPE_SPEC),
        _call_info_message_to_wire,
    ),
    "session:adulting": (SessionAdulting, _adulting_from_wire, _call_info_message_to_wire),
    "call:status": (
        CallStatus,
        _call_info_from_wire(CallStatus, _ENVELOPE_SPEC),
        _call_info_message_to_wire,
    ),
    "verb:hook": (
        VerbHook,
        _call_info_from_wire(VerbHook, _HOOK_ENVELOPE_SPEC),
        _call_info_message_to_wire,
    ),
    "dial:confirm": (
        DialConfirm,
        _call_info_from_wire(DialConfirm, _HOOK_ENVELOPE_SPEC),
        _call_info_message_to_wire,
    ),
    "verb:status": (
        VerbStatus,
        _simple_from_wire(VerbStatus, _ENVELOPE_SPEC, VerbStatusEvent, _VERB_STATUS_SPEC),
        _simple_to_wire(_fields(_VERB_STATUS_SPEC)),
    ),
    "jambonz:error": (
        JambonzError,
        _simple_from_wire(JambonzError, _ENVELOPE_SPEC, ErrorDetails, _ERROR_SPEC),
        _simple_to_wire(_fields(_ERROR_SPEC)),
    ),
    "llm:event": (LlmEvent, _llm_event_from_wire, _llm_event_to_wire),
    "llm:tool-call": (LlmToolCall, _tool_call_from_wire, _tool_call_to_wire),
    "tts:tokens-result": (
        TtsTokensResult,
        _simple_from_wire(TtsTokensResult, _ENVELOPE_SPEC, TokensResult, _TOKENS_RESULT_SPEC),
        _simple_to_wire(_fields(_TOKENS_RESULT_SPEC)),
    ),
    "tts:streaming-event": (
        TtsStreamingEvent,
        _simple_from_wire(TtsStreamingEvent, _ENVELOPE_SPEC, StreamingEvent, _STREAMING_EVENT_SPEC),
        _simple_to_wire(_fields(_STREAMING_EVENT_SPEC)),
    ),
}
