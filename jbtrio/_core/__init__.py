"""The sans-IO protocol core: per-call state machines with no Trio and no sockets.

Layer 2 of jbtrio (wire model -> core -> runtime -> app API). Everything here takes decoded
messages and the current time and returns events and frames, so it can be tested
synchronously and hammered by Hypothesis state machines.
"""

from __future__ import annotations

from ._call import CallCore
from ._config import DEFAULT_FALLBACK_VERBS, CoreConfig
from ._events import (
    Abandoned,
    AutoAcked,
    Confirmed,
    CoreEvent,
    Duplicate,
    Ended,
    ForceReconnect,
    FrameRewritten,
    Received,
    Refused,
    Resent,
    Resumed,
    Unconfirmed,
)
from ._identity import IDENTITY_FIELDS, session_identity
from ._outbox import Frame
from ._receipts import verb_body
from ._reply import ReplyHandle, ReplyState

__all__ = [
    "DEFAULT_FALLBACK_VERBS",
    "IDENTITY_FIELDS",
    "Abandoned",
    "AutoAcked",
    "CallCore",
    "Confirmed",
    "CoreConfig",
    "CoreEvent",
    "Duplicate",
    "Ended",
    "ForceReconnect",
    "Frame",
    "FrameRewritten",
    "Received",
    "Refused",
    "ReplyHandle",
    "ReplyState",
    "Resent",
    "Resumed",
    "Unconfirmed",
    "session_identity",
    "verb_body",
]

from ._tts_pump import DEFAULT_MAX_CHARS as DEFAULT_MAX_CHARS
from ._tts_pump import DEFAULT_RESULT_TIMEOUT as DEFAULT_RESULT_TIMEOUT
from ._tts_pump import DEFAULT_RESUME_TIMEOUT as DEFAULT_RESUME_TIMEOUT
from ._tts_pump import Cleared as Cleared
from ._tts_pump import Delivered as Delivered
from ._tts_pump import Dropped as Dropped
from ._tts_pump import Failed as Failed
from ._tts_pump import FlushDone as FlushDone
from ._tts_pump import PumpOutput as PumpOutput
from ._tts_pump import SendClear as SendClear
from ._tts_pump import SendFlush as SendFlush
from ._tts_pump import SendTokens as SendTokens
from ._tts_pump import TtsPump as TtsPump
from ._tts_pump import TtsResult as TtsResult
