"""The sans-IO protocol core: per-call state machines with no Trio and no sockets.

Layer 2 of jbtrio (wire model -> core -> runtime -> app API). Everything here takes decoded
messages and the current time and returns events and frames, so it can be tested
synchronously and hammered by Hypothesis state machines.
"""

from __future__ import annotations

from ._call import CallCore, abandoned_msgid
from ._config import DEFAULT_FALLBACK_VERBS, CoreConfig
from ._events import (
    Abandoned,
    AutoAcked,
    CoreEvent,
    Duplicate,
    Ended,
    FrameRewritten,
    Received,
    Recovered,
    Resumed,
)
from ._identity import IDENTITY_FIELDS, session_identity
from ._outbox import Frame
from ._reply import ReplyHandle, ReplyState

__all__ = [
    "DEFAULT_FALLBACK_VERBS",
    "IDENTITY_FIELDS",
    "Abandoned",
    "AutoAcked",
    "CallCore",
    "CoreConfig",
    "CoreEvent",
    "Duplicate",
    "Ended",
    "Frame",
    "FrameRewritten",
    "Received",
    "Recovered",
    "ReplyHandle",
    "ReplyState",
    "Resumed",
    "abandoned_msgid",
    "session_identity",
]

from ._tts_pump import TtsPump as TtsPump
