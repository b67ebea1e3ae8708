"""Ack bookkeeping for requests jambonz sends and waits on (docs/jambonz.md, Acks).

A :class:`PendingAck` outlives the msgid it was sent under: when the socket drops before the
``session:new`` ack, jambonz re-keys the very same pending request (and its original timer) to
the ``session:reconnect`` msgid (§5.4). Keeping the deadline on the object rather than on a
timer keyed by msgid reproduces that for free.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import trio

__all__ = ["AckFailed", "AckOk", "AckResult", "PendingAck"]


@attrs.frozen
class AckOk:
    """The app acked; ``has_data`` says whether the ack had a ``data`` member at all."""

    data: Any = None
    has_data: bool = False


@attrs.frozen
class AckFailed:
    """No usable ack: timed out, abandoned on a socket drop, or the connection never came.

    ``reason`` is one line for logs and outcomes. ``message`` is what jambonz's code sees as
    ``err.message`` and reports as ``details``: jambonz rejects a timed-out or abandoned
    request with a plain string (``"timeout from far end for msgid ..."``, ``"abandoning
    msgid ... since socket is closed"``), which has no ``.message``, so it is ``None`` then and
    the ``details`` key is absent from what jambonz sends (ws-requestor.js, gather.js, read at
    feature-server 0.9.8); a failed connect rejects with an Error, whose text it is.
    """

    reason: str
    timed_out: bool = False
    message: str | None = None


AckResult = AckOk | AckFailed


class PendingAck:
    """One ack-awaiting request; the ack timer starts only when the frame is written."""

    def __init__(self, msg_type: str, hook: str | None = None) -> None:
        self.msg_type = msg_type
        self.hook = hook
        self.msgid: str | None = None
        self.deadline = math.inf
        self.result: AckResult | None = None
        self._written = trio.Event()
        self._done = trio.Event()

    def mark_written(self, msgid: str, deadline: float) -> None:
        """The frame went out under ``msgid``; the response timer runs until ``deadline``."""
        self.msgid = msgid
        self.deadline = deadline
        self._written.set()

    def resolve(self, result: AckResult) -> bool:
        """Settle the request once; later settlements are ignored (returns False)."""
        if self.result is not None:
            return False
        self.result = result
        self._written.set()
        self._done.set()
        return True

    async def wait(self) -> AckResult:
        """Wait for the ack; a written request times out at its deadline.

        A request that is still queued (never written) has no timer, as in jambonz.
        """
        await self._written.wait()
        with trio.move_on_at(self.deadline):
            await self._done.wait()
        if self.result is None:
            self.resolve(AckFailed(f"timeout from far end for msgid {self.msgid}", timed_out=True))
        assert self.result is not None
        return self.result
