"""What the call core reports back to the runtime, as small frozen values."""

from __future__ import annotations

from typing import Final

import attrs

from .._wire import InboundMessage, SessionReconnect, UnknownMessage
from ._outbox import Frame
from ._reply import ReplyHandle

__all__ = [
    "Abandoned",
    "AutoAcked",
    "Confirmed",
    "CoreEvent",
    "Duplicate",
    "Ended",
    "ForceReconnect",
    "FrameRewritten",
    "Received",
    "Refused",
    "Resent",
    "Resumed",
    "Unconfirmed",
]


@attrs.frozen
class Received:
    """A message for the app; ``reply`` is its handle when jambonz waits for an ack."""

    message: InboundMessage | UnknownMessage
    reply: ReplyHandle | None


_new: Final = object.__new__
_SET_RECEIVED_MESSAGE, _SET_RECEIVED_REPLY = (
    getattr(Received, field.name).__set__ for field in attrs.fields(Received)
)
if [field.name for field in attrs.fields(Received)] != ["message", "reply"]:
    raise TypeError("received() sets message and reply: Received's fields changed")


def received(message: InboundMessage | UnknownMessage, reply: ReplyHandle | None) -> Received:
    """``Received(message, reply)``, without the frozen class's generated ``__init__``
    (fields set through ``object.__setattr__``): one per message (issue 23)."""
    event = _new(Received)
    _SET_RECEIVED_MESSAGE(event, message)
    _SET_RECEIVED_REPLY(event, reply)
    return event


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
class Resent:
    """Frames written to a socket that died were not read by jambonz (``evidence`` says how
    that is known); what they would have done goes out again as ``frame`` (a ``redirect``,
    first in the queue)."""

    lost: tuple[Frame, ...]
    frame: Frame | None
    evidence: str


@attrs.frozen
class Confirmed:
    """Frames in doubt after a drop were read by jambonz after all (``evidence``)."""

    evidence: str


@attrs.frozen
class Unconfirmed:
    """Frames in doubt after a drop whose fate nothing can tell: jambonz ran the probe
    before any of their verbs (it never read them, or ran them to the end while their
    receipts died with the socket), or nothing came within ``CoreConfig.doubt_timeout``.
    They were neither confirmed nor re-sent (a re-send might run them twice)."""

    frames: tuple[Frame, ...]


@attrs.frozen
class ForceReconnect:
    """jambonz may be holding every message back after a re-keyed reconnect (the re-key
    stall): the runtime should close the socket with 1011 (not 1000, which would end the
    call) so that jambonz reconnects normally and releases them. Nothing more is written on
    this socket."""

    reason: str


@attrs.frozen
class Refused:
    """A message that makes no sense at this point of the call was refused (``reason``)."""

    message: InboundMessage | UnknownMessage
    reason: str


@attrs.frozen
class Ended:
    """The call is over; ``unsent`` frames could not be delivered."""

    unsent: tuple[Frame, ...]


CoreEvent = (
    Received
    | AutoAcked
    | Abandoned
    | Resumed
    | Duplicate
    | FrameRewritten
    | Resent
    | Confirmed
    | Unconfirmed
    | ForceReconnect
    | Refused
    | Ended
)
