"""jbtrio's wire model: frozen attrs classes for every message both ways, and the codec.

Nothing here knows about sockets, Trio or the protocol state machine; the layers above import
from this package (and :mod:`jbtrio` re-exports the public names).
"""

from __future__ import annotations

from ._callinfo import CallInfo
from ._codec import (
    MAX_DEPTH,
    MAX_FRAME_BYTES,
    MAX_ID_CHARS,
    Message,
    converter,
    decode,
    encode,
    encode_bytes,
)
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
from ._outbound import ABSENT, Ack, Command
from ._payloads import DialResult, GatherResult, LlmResult, SpeechAlternative, SpeechResult

__all__ = [
    "ABSENT",
    "MAX_DEPTH",
    "MAX_FRAME_BYTES",
    "MAX_ID_CHARS",
    "Ack",
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
    "SessionAdulting",
    "SessionNew",
    "SessionReconnect",
    "SessionRedirect",
    "SpeechAlternative",
    "SpeechResult",
    "StreamingEvent",
    "TokensResult",
    "ToolCall",
    "TtsStreamingEvent",
    "TtsTokensResult",
    "UnknownMessage",
    "VerbHook",
    "VerbStatus",
    "VerbStatusEvent",
    "converter",
    "decode",
    "encode",
    "encode_bytes",
]
