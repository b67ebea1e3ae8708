"""What the call core reports back to the runtime, as small frozen values."""

from __future__ import annotations

import attrs

from .._wire import InboundMessage, SessionReconnect, UnknownMessage
from ._outbox import Frame
from ._reply import ReplyHandle

__all__ = [
    "Abandoned",
    "AutoAcked",
    "CoreEvent",
    "Duplicate",
    "Ended",
    "FrameRewritten",
    "Received",
    "Recovered",
    "Resumed",
]


@attrs.frozen
class Received:
    """A message for the app; ``reply`` is its handle when jambonz waits for an ack."""

    message: InboundMessage | UnknownMessage
    reply: ReplyHandle | None


@attrs.frozen
class AutoAcked:
    """The app missed its reply window, so the core acked for it (``handle.verbs`` says how)."""

    handle: ReplyHandle


@attrs.frozen
class Abandoned:
    """The socket dropped before the app replied; jambonz gave this msgid up."""

    handle: ReplyHandle


@attrs.frozen
class Resumed:
    """``session:reconnect`` rebound the call to a new socket.

    ``session_new_pending`` is true when the drop came before the ``session:new`` ack reached
    jambonz, so the reply to ``session:new`` now travels as the reconnect's ack.
    """

    message: SessionReconnect
    session_new_pending: bool


@attrs.frozen
class Duplicate:
    """A message whose msgid was already seen (a duplicated delivery); it was dropped."""

    message: InboundMessage | UnknownMessage


@attrs.frozen
class FrameRewritten:
    """A queued ack outlived its msgid (the socket dropped first).

    Its verbs now go out as ``replacement`` (a ``redirect`` command in the same place), or,
    when there were no verbs or they cannot apply any more, ``replacement`` is ``None``.
    """

    original: Frame
    replacement: Frame | None
    reason: str


@attrs.frozen
class Recovered:
    """jambonz reported it never read the ack of ``handle`` (the socket had dropped); its
    verbs are re-sent as the ``redirect`` command in ``frame``."""

    handle: ReplyHandle
    frame: Frame


@attrs.frozen
class Ended:
    """The call is over; ``unsent`` frames could not be delivered."""

    unsent: tuple[Frame, ...]


CoreEvent = (
    Received | AutoAcked | Abandoned | Resumed | Duplicate | FrameRewritten | Recovered | Ended
)
