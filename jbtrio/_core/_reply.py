"""One reply handle per ack-required message.

The existing SDKs keep a single "last msgid" slot, so a second hook arriving before the app
replies to the first leaves the first one unacked. Here every ack-required message gets its
own handle, bound to its msgid and deadline, and the ledger of handles is plain data.
"""

from __future__ import annotations

import enum
from typing import Any

from .._wire import InboundMessage

__all__ = ["ReplyHandle", "ReplyState"]


class ReplyState(enum.Enum):
    """Where a reply handle is in its life."""

    OPEN = "open"
    """jambonz is waiting; the app may reply."""
    REPLIED = "replied"
    """The app replied; the ack is queued or sent."""
    AUTO_ACKED = "auto_acked"
    """The app missed its window, so the core acked on its behalf."""
    ABANDONED = "abandoned"
    """The socket dropped; jambonz gave up on this msgid ("abandoning msgid ...")."""
    ENDED = "ended"
    """The call ended before anyone replied."""


class ReplyHandle:
    """The right (and duty) to answer one ack-required message, exactly once.

    ``deadline`` is when jambonz stops waiting; ``reply_by`` is when the core acks for the app
    (``deadline`` minus the configured margin). ``ack_msgid`` is the msgid the ack will carry:
    the message's own, except for a ``session:new`` whose socket dropped before it was acked,
    which jambonz re-keys to the ``session:reconnect`` that follows (docs/jambonz.md, Reconnects).

    Mutable state of the core, compared by identity: a plain slotted class, not an attrs one,
    so that the compiled build makes it a native class (one per hook, read all along its
    reply; issue 23).
    """

    __slots__ = (
        "ack_msgid",
        "deadline",
        "message",
        "received_at",
        "reply_by",
        "state",
        "verbs",
    )

    def __init__(
        self,
        message: InboundMessage,
        received_at: float,
        deadline: float,
        reply_by: float,
        ack_msgid: str,
        *,
        state: ReplyState = ReplyState.OPEN,
        verbs: tuple[dict[str, Any], ...] | None = None,
    ) -> None:
        self.message = message
        self.received_at = received_at
        self.deadline = deadline
        self.reply_by = reply_by
        self.ack_msgid = ack_msgid
        self.state = state
        self.verbs = verbs

    @property
    def msgid(self) -> str:
        """The msgid of the message this handle answers."""
        return self.message.msgid

    @property
    def type(self) -> str:
        """The wire type of the message this handle answers."""
        return self.message.TYPE

    @property
    def is_open(self) -> bool:
        """Whether a reply can still go out as an ack."""
        return self.state is ReplyState.OPEN

    def __repr__(self) -> str:
        return f"<ReplyHandle {self.type} {self.msgid} {self.state.value}>"

    @property
    def why_closed(self) -> str:
        """Why a reply can no longer go out as this handle's ack (for :class:`ReplyError`)."""
        what = f"{self.type} {self.msgid}"
        reasons = {
            ReplyState.REPLIED: f"{what} was already answered",
            ReplyState.AUTO_ACKED: (
                f"{what} was acked automatically because its reply window passed; "
                "send the verbs as a redirect command instead"
            ),
            ReplyState.ABANDONED: (
                f"{what} was abandoned by jambonz when the socket dropped; "
                "send the verbs as a redirect command instead"
            ),
            ReplyState.ENDED: f"{what} cannot be answered: the call has ended",
        }
        return reasons.get(self.state, f"{what} is {self.state.value}")
