"""The messages jambonz 0.9.8 sends to the app, one frozen class per ``type``.

What each message means and carries is in docs/jambonz.md, Messages from jambonz.

Every class carries the envelope (``msgid``, ``call_sid``, ``b3``, unknown envelope keys in
``extra``), ``hook`` where jambonz sends one, and a typed ``data``. Each is registered by its
wire ``type`` with :func:`~._registry.inbound`, which sets ``TYPE``, ``REQUIRES_ACK`` (whether
jambonz waits 5 s for an ``ack`` with the same ``msgid``, docs/jambonz.md, Acks) and
``STARTS_SESSION``, and derives the class's decoder and encoder from its fields: see
``_registry.py`` for how to add a type. jambonz 10.x/11.x's agent messages are in ``_agent.py``.

A ``type`` jbtrio does not know becomes :class:`UnknownMessage`, never an exception: jambonz adds
message types over time, and a newer server must not break an app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from ._callinfo import CallInfo
from ._callinfo_decode import structure_call_info
from ._fields import MAX_ID_CHARS, check_id, reserved, validate_extra, wire
from ._hooks import ViewT, dial_result, gather_result, llm_result, result_as
from ._payloads import DialResult, GatherResult, LlmResult
from ._registry import KNOWN_TYPES, inbound
from ._results import TtsStreamingEventType, VerbStatusEventType

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


# --------------------------------------------------------------------------- data payloads


@attrs.frozen(kw_only=True)
class VerbStatusEvent:
    """``data`` of ``verb:status``: ``event`` (``starting``, ``finished``, ``start-playback``, ...).

    The verb's name is in ``name`` for ``starting``/``finished`` and in ``verb`` for the other
    events (docs/jambonz.md, Messages from jambonz); ``id`` is the verb's ``id`` when the app set
    one. Event specific fields (``vendor``, ``characters``, ``served_from_cache``, ...) are in
    ``extra``.
    """

    event: VerbStatusEventType | None = None
    id: str | None = None
    name: str | None = None
    verb: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=validate_extra)

    @property
    def verb_name(self) -> str | None:
        """The verb this event is about, whichever of ``name``/``verb`` jambonz used."""
        return self.name if self.name is not None else self.verb


@attrs.frozen(kw_only=True)
class ErrorDetails:
    """``data`` of ``jambonz:error`` (docs/jambonz.md, Messages from jambonz).

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
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=validate_extra)


@attrs.frozen(kw_only=True)
class FunctionCall:
    """One function call the LLM asked for: ``id``, ``name`` and ``args`` (verbatim)."""

    id: str | None = None
    name: str | None = None
    args: Any = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=validate_extra)


@attrs.frozen(kw_only=True)
class ToolCall:
    """``data`` of ``llm:tool-call`` (docs/jambonz.md, Messages from jambonz).

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
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=validate_extra)

    @property
    def calls(self) -> tuple[FunctionCall, ...]:
        """Every function call in this message, whatever the vendor's form."""
        if self.function_calls is not None:
            return self.function_calls
        return (FunctionCall(id=self.tool_call_id, name=self.name, args=self.args),)


@attrs.frozen(kw_only=True)
class TokensResult:
    """``data`` of ``tts:tokens-result``: the echoed ``id`` and ``status`` (``ok``/``failed``).

    ``reason`` explains a failure: ``"full"`` means the tokens were NOT stored and must be sent
    again after ``stream_resumed`` (docs/jambonz.md, Streaming TTS). ``status`` may be absent when
    the session has no streaming buffer.
    """

    id: str | int | None = None
    status: str | None = None
    reason: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=validate_extra)

    @property
    def ok(self) -> bool:
        """True when jambonz accepted the tokens."""
        return self.status == "ok"


@attrs.frozen(kw_only=True)
class StreamingEvent:
    """``data`` of ``tts:streaming-event``: ``event_type`` is one of the constants below.

    jambonz 10.x/11.x's ``tts_spoken`` (with ``config.trackTtsPlayout``) carries ``text``, what
    the caller actually heard of the streamed speech, and ``bargein``, whether they
    interrupted it; other keys are in ``extra``.
    """

    STREAM_OPEN: ClassVar[str] = "stream_open"
    STREAM_PAUSED: ClassVar[str] = "stream_paused"
    STREAM_RESUMED: ClassVar[str] = "stream_resumed"
    STREAM_CLOSED: ClassVar[str] = "stream_closed"
    USER_INTERRUPTION: ClassVar[str] = "user_interruption"
    TTS_SPOKEN: ClassVar[str] = "tts_spoken"

    event_type: TtsStreamingEventType | None = None
    text: str | None = None
    bargein: bool | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=validate_extra)


# --------------------------------------------------------------------------- envelopes


@attrs.frozen(kw_only=True)
class InboundMessage:
    """Base of the messages jambonz sends; use it for ``isinstance`` checks.

    ``msgid`` is jambonz's id for this message (echo it in the ``ack``); ``call_sid`` is the
    envelope's sid, absent on ``/adulting`` and redirect-opened sockets; ``b3`` is trace context;
    ``extra`` keeps envelope keys jbtrio does not know. ``TYPE``, ``REQUIRES_ACK`` and
    ``STARTS_SESSION`` are set by the class's registration.
    """

    TYPE: ClassVar[str] = ""
    REQUIRES_ACK: ClassVar[bool] = False
    STARTS_SESSION: ClassVar[bool] = False

    msgid: str
    call_sid: str | None = attrs.field(default=None, metadata=wire(check=check_id))
    b3: str | None = None
    extra: Mapping[str, Any] = attrs.field(
        factory=dict, validator=validate_extra, metadata=reserved("type", "msgid", "data")
    )

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


@inbound("session:new", ack=True, starts_session=True)
@attrs.frozen(kw_only=True)
class SessionNew(_CallInfoMessage):
    """First message of a new call: ack it with a non-empty verb list within 5 s.

    ``data.sip`` is the raw SIP INVITE, ``data.defaults`` the account's speech defaults and
    ``data.env_vars`` the application's environment variables.
    """


@inbound("session:reconnect", ack=True, starts_session=True)
@attrs.frozen(kw_only=True)
class SessionReconnect(_CallInfoMessage):
    """First message on a re-established socket; ``data`` is the cached ``session:new`` data."""


@inbound("session:redirect", ack=True, starts_session=True)
@attrs.frozen(kw_only=True)
class SessionRedirect(_CallInfoMessage):
    """The call moves to the application at ``hook``; the ack's verbs replace the stack."""

    hook: str | None = None


@inbound("session:adulting", ack=True, starts_session=True)
@attrs.frozen(kw_only=True)
class SessionAdulting(_CallInfoMessage):
    """A dialed B-leg now runs as its own session on an ``/adulting`` socket.

    ``data`` is the child's call info; the parent's is in ``data.extra["parent_call_info"]``
    and typed by :attr:`parent_call_info`. The ack's verbs are ignored.
    """

    @property
    def parent_call_info(self) -> CallInfo | None:
        """The parent leg's call info, or ``None`` when jambonz did not send one."""
        raw = self.data.extra.get("parent_call_info")
        if raw is None:
            return None
        return structure_call_info(raw, "$.data.parent_call_info")

    def _check_decoded(self) -> None:
        """Called by decode: a bad parent call info fails there, not when first read."""
        self.parent_call_info  # noqa: B018


@inbound("call:status", ack=False)
@attrs.frozen(kw_only=True)
class CallStatus(_CallInfoMessage):
    """A call-state change of this call or of a dialed B-leg (``data.direction == "outbound"``).

    Do not ack. ``completed`` carries ``duration`` and ``call_termination_by``.
    """


@inbound("verb:hook", ack=True)
@attrs.frozen(kw_only=True)
class VerbHook(_CallInfoMessage):
    """A verb's hook fired; ``data.extra`` has its results. Ack within 5 s.

    :meth:`gather`, :meth:`dial` and :meth:`llm` give typed views of the common results,
    :meth:`result` any other (:class:`~jbtrio.TransferResult`, :class:`~jbtrio.AmdEvent`,
    ...).
    """

    hook: str | None = None

    def gather(self) -> GatherResult:
        """The result of a ``gather`` verb (ProtocolError if it is malformed)."""
        return gather_result(self)

    def dial(self) -> DialResult:
        """The result of a ``dial`` verb (ProtocolError if it is malformed)."""
        return dial_result(self)

    def llm(self) -> LlmResult:
        """The result of an ``llm`` verb (ProtocolError if it is malformed)."""
        return llm_result(self)

    def result(self, view: type[ViewT]) -> ViewT:
        """The hook's payload read as ``view``: ``hook.result(jbtrio.TransferResult)``,
        ``hook.result(jbtrio.AmdEvent)``, ... (ProtocolError if it is malformed)."""
        return result_as(view, self)


@inbound("dial:confirm", ack=True)
@attrs.frozen(kw_only=True)
class DialConfirm(_CallInfoMessage):
    """A dialed party answered and ``hook`` (the confirmHook) must supply a screening app.

    ``data`` is the B-leg's call info. Ack with verbs (or with none to bridge at once).
    """

    hook: str | None = None


@inbound("verb:status", ack=False)
@attrs.frozen(kw_only=True)
class VerbStatus(InboundMessage):
    """A verb lifecycle event, sent only after ``config`` with ``notifyEvents: true``."""

    data: VerbStatusEvent = attrs.field(factory=VerbStatusEvent)


@inbound("jambonz:error", ack=False)
@attrs.frozen(kw_only=True)
class JambonzError(InboundMessage):
    """jambonz reports a verb failure or a frame from the app it rejected. Do not ack."""

    data: ErrorDetails = attrs.field(factory=ErrorDetails)


@inbound("llm:event", ack=False)
@attrs.frozen(kw_only=True)
class LlmEvent(InboundMessage):
    """A raw vendor event from a running ``llm`` verb (keys snake-cased by jambonz)."""

    hook: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def event_type(self) -> str | None:
        """The vendor's event type (``data["type"]``) when it is a string."""
        value = self.data.get("type")
        return value if isinstance(value, str) else None


@inbound("llm:tool-call", ack=False)
@attrs.frozen(kw_only=True)
class LlmToolCall(InboundMessage):
    """The LLM wants a function result; answer with the ``llm:tool-output`` command."""

    hook: str | None = None
    data: ToolCall = attrs.field(factory=ToolCall)


@inbound("tts:tokens-result", ack=False)
@attrs.frozen(kw_only=True)
class TtsTokensResult(InboundMessage):
    """jambonz's answer to one ``tts:tokens`` command (matched by ``data.id``)."""

    data: TokensResult = attrs.field(factory=TokensResult)


@inbound("tts:streaming-event", ack=False)
@attrs.frozen(kw_only=True)
class TtsStreamingEvent(InboundMessage):
    """A TTS stream state change (``data.event_type``; docs/jambonz.md, Streaming TTS)."""

    data: StreamingEvent = attrs.field(factory=StreamingEvent)


# --------------------------------------------------------------------------- unknown types


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
        """Ack an unknown type that has a msgid unless it is a notification.

        Why: docs/jambonz.md, Messages from jambonz. Every type jambonz sends without waiting for an
        ack (0.9.8's seven notifications and 10.x/11.x's ``agent:*``) has a class, so an unknown
        type is acked when it has a msgid (an empty one names no message: nothing to ack).
        """
        return bool(self.msgid)


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
