"""jbtrio's wire model: frozen attrs classes for every message both ways, and the codec.

Nothing here knows about sockets, Trio or the protocol state machine; the layers above import
from this package (and :mod:`jbtrio` re-exports the public names). Every message type is
declared once and registered by its wire type: ``_registry.py`` says how, and how to add one.
"""

from __future__ import annotations

from ._agent import (
    AgentEvent,
    AgentEventData,
    AgentLatency,
    AgentPreflight,
    AgentToolCall,
    AgentToolCallData,
)
from ._callinfo import CallInfo, structure_call_info
from ._codec import (
    MAX_DEPTH,
    MAX_FRAME_BYTES,
    Message,
    converter,
    decode,
    encode,
    encode_bytes,
)
from ._fields import WireField, spec_of, validate_extra, wire, wire_fields
from ._inbound import (
    CallStatus,
    DialConfirm,
    ErrorDetails,
    FunctionCall,
    InboundMessage,
    JambonzError,
    LlmEvent,
    LlmToolCall,
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
from ._outbound import (
    ABSENT,
    DATA_OPTIONAL_COMMANDS,
    Ack,
    Command,
    SupportsToDict,
    js_falsy,
    verb_dicts,
)
from ._payloads import DialResult, GatherResult, LlmResult, SpeechAlternative, SpeechResult
from ._registry import KNOWN_TYPES, REGISTRY, Registration, inbound, registration_of

__all__ = [
    "ABSENT",
    "DATA_OPTIONAL_COMMANDS",
    "KNOWN_TYPES",
    "MAX_DEPTH",
    "MAX_FRAME_BYTES",
    "REGISTRY",
    "Ack",
    "AgentEvent",
    "AgentEventData",
    "AgentLatency",
    "AgentPreflight",
    "AgentToolCall",
    "AgentToolCallData",
    "CallInfo",
    "CallStatus",
    "Command",
    "DialConfirm",
    "DialResult",
    "ErrorDetails",
    "FunctionCall",
    "GatherResult",
    "InboundMessage",
    "JambonzError",
    "LlmEvent",
    "LlmResult",
    "LlmToolCall",
    "Message",
    "Registration",
    "SessionAdulting",
    "SessionNew",
    "SessionReconnect",
    "SessionRedirect",
    "SpeechAlternative",
    "SpeechResult",
    "StreamingEvent",
    "SupportsToDict",
    "TokensResult",
    "ToolCall",
    "TtsStreamingEvent",
    "TtsTokensResult",
    "UnknownMessage",
    "VerbHook",
    "VerbStatus",
    "VerbStatusEvent",
    "WireField",
    "converter",
    "decode",
    "encode",
    "encode_bytes",
    "inbound",
    "js_falsy",
    "registration_of",
    "spec_of",
    "structure_call_info",
    "validate_extra",
    "verb_dicts",
    "wire",
    "wire_fields",
]
