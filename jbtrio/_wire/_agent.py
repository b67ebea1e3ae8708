"""The ``agent`` verb's messages, from jambonz 10.x/11.x (docs/jambonz.md, jambonz 10.x/11.x).

jambonz 0.9.8 never sends them. The ``agent`` verb (10.1) runs a voice agent inside jambonz and
reports to the app over the same socket: ``agent:event`` for its ``eventHook`` (turn taking,
transcripts, the end of each turn with per-component latency; shapes in
``jambonz-schema/callbacks/agent-turn.schema.json``) and ``agent:tool-call`` for its
``toolHook``. Like ``llm:event``/``llm:tool-call`` both carry ``hook`` and are not acked; a tool
result goes back as the ``llm:tool-output`` command with the top-level ``tool_call_id``.

Fields the schema and docs define are typed; anything else (11.1.16's events about
``agent:update``, turn-taking signals, ...) is kept in ``extra`` and re-encoded as sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from ._fields import validate_extra
from ._inbound import FunctionCall, InboundMessage
from ._registry import inbound
from ._results import AgentEventType, PreflightResult

__all__ = [
    "AgentEvent",
    "AgentEventData",
    "AgentLatency",
    "AgentPreflight",
    "AgentToolCall",
    "AgentToolCallData",
]


@attrs.frozen(kw_only=True)
class AgentPreflight:
    """Early-generation metrics of a turn (only with the verb's ``earlyGeneration``).

    ``result`` is ``"hit"`` (the speculative transcript matched the final one), ``"miss"`` or
    ``"pending"``; ``tokens`` the tokens buffered, on a hit.
    """

    result: PreflightResult | None = None
    tokens: int | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=validate_extra)


@attrs.frozen(kw_only=True)
class AgentLatency:
    """``latency`` of a ``turn_end`` event, in milliseconds; a field is ``None`` when absent.

    ``transcriber_latency``: end of speech to final transcript; ``turn_detection_latency``:
    the wait for end of turn after it; ``model_latency``: to the LLM's first token (absent on
    a preflight hit); ``voice_latency``: first text to the TTS engine to its first audio. The
    schema says integers; any JSON number is accepted, so a fractional figure does not cost
    the whole event.
    """

    transcriber_latency: int | float | None = None
    turn_detection_latency: int | float | None = None
    model_latency: int | float | None = None
    voice_latency: int | float | None = None
    preflight: AgentPreflight | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=validate_extra)


@attrs.frozen(kw_only=True)
class AgentEventData:
    """``data`` of ``agent:event``: ``type`` is one of the constants below (or a newer one).

    ``user_transcript`` has ``transcript`` (the caller's final words, the LLM is prompted);
    ``llm_response`` has ``response``; ``user_interruption`` has nothing else; ``turn_end``
    sums the turn up: ``transcript``, ``response`` (trimmed to what was spoken when
    interrupted), ``interrupted`` and ``latency``.
    """

    TURN_END: ClassVar[str] = "turn_end"
    USER_TRANSCRIPT: ClassVar[str] = "user_transcript"
    LLM_RESPONSE: ClassVar[str] = "llm_response"
    USER_INTERRUPTION: ClassVar[str] = "user_interruption"

    type: AgentEventType | None = None
    transcript: str | None = None
    response: str | None = None
    interrupted: bool | None = None
    latency: AgentLatency | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=validate_extra)


@attrs.frozen(kw_only=True)
class AgentToolCallData:
    """``data`` of ``agent:tool-call``: ``{tool_call_id, name, arguments}``.

    jambonz's ``agent`` docs name the parsed arguments ``arguments``, where
    ``llm:tool-call`` says ``args``; both keys are typed, and :attr:`calls` reads whichever came,
    so a tool server can treat this message as it treats an :class:`~jbtrio.LlmToolCall`.
    """

    tool_call_id: str | None = None
    name: str | None = None
    arguments: Any = None
    args: Any = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=validate_extra)

    @property
    def calls(self) -> tuple[FunctionCall, ...]:
        """The one function call, in :attr:`ToolCall.calls <jbtrio.ToolCall.calls>`'s form."""
        args = self.arguments if self.arguments is not None else self.args
        return (FunctionCall(id=self.tool_call_id, name=self.name, args=args),)


@inbound("agent:event", ack=False)
@attrs.frozen(kw_only=True)
class AgentEvent(InboundMessage):
    """An event of a running ``agent`` verb, sent to its ``eventHook`` (``hook``). Do not ack."""

    hook: str | None = None
    data: AgentEventData = attrs.field(factory=AgentEventData)

    @property
    def event_type(self) -> str | None:
        """The event's type (``data.type``): ``turn_end``, ``user_transcript``, ..."""
        return self.data.type


@inbound("agent:tool-call", ack=False)
@attrs.frozen(kw_only=True)
class AgentToolCall(InboundMessage):
    """The ``agent`` verb's LLM wants a tool result (``hook`` is the ``toolHook``).

    Not acked; answer with the ``llm:tool-output`` command carrying ``data.tool_call_id``.
    """

    hook: str | None = None
    data: AgentToolCallData = attrs.field(factory=AgentToolCallData)
