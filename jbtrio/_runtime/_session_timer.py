"""A call's deadlines — the ack tracker (it lets the core ack for a slow app), the send-stall
watchdog, the socket's keepalive pings and the reconnect supervisor (after a drop, the call
waits, bounded, for ``session:reconnect`` on a new socket) — served without a task of their
own while the writer is idle: its wait is bounded by the next deadline, and it calls
:func:`serve_deadlines` when that one comes. While the writer is in a socket operation that
may wait (a send the kernel did not take at once, a flush, a close), a **timer** task serves
them instead, until the operation is over or, after a send, until its next wake, a second
later at the latest (:func:`cover`, :func:`uncover`). An idle call so holds no task, no
coroutine and no cancel scope for its deadlines (~3 KiB, issue 23). Deadlines are set on
the cancel scope of whoever serves them, so arming one costs no task switch. A part of
:class:`~._session.CallSession`."""

from __future__ import annotations

import math

import trio

from ._session_parts import SessionParts

__all__ = ["LINGER", "arm", "cover", "serve_deadlines", "timer", "uncover"]

#: Seconds the timer task stays up after a send (see :func:`uncover`): a stream of frames on
#: a socket without a ``send_nowait`` path starts a task per LINGER, not per frame, and an
#: idle call holds no timer task for longer.
LINGER = 1.0


def arm(self: SessionParts, deadline: float | None) -> None:
    """Make the call wake at ``deadline`` at the latest (no task switch).

    It may wake earlier than needed (a deadline armed for an ack that was sent since): it
    then finds nothing due and re-arms for what is next."""
    if deadline is not None and deadline < self._armed:
        self._armed = deadline
        scope = self._timer_scope
        if scope is not None:  # else the next wait starts with it
            scope.deadline = deadline


async def serve_deadlines(self: SessionParts) -> bool:
    """Run what is due now, and arm the next wake; False once the call is over."""
    stall = self.config.send_stall_timeout
    now = self._now()
    deadline = self.core.next_deadline()
    if deadline is not None and deadline <= now:
        self._handle_core_events(self.core.tick(now))
        self._frames_ready.set()
        deadline = self.core.next_deadline()
    since = self._sending_since
    if since is not None and now - since >= stall and self._socket is not None:
        self.log.error("send stalled for %.1f s: aborting the socket", now - since)
        await self._socket.abort("send stalled")
        since = None
    socket = self._socket
    if socket is not None and now >= socket.keepalive_at:
        if socket.keepalive(now):
            self._frames_ready.set()  # the writer sends the ping
        else:
            self.log.warning("no pong within %g s: treating jambonz as gone", socket.pong_timeout)
            await socket.abort(f"no pong within {socket.pong_timeout:g} s")
    if self._socket is None and now >= self._reconnect_by:
        self.end(
            f"jambonz did not reconnect within {self.config.reconnect_timeout:g} s "
            "after the socket dropped"
        )
        return False
    self._armed = min(
        math.inf if deadline is None else deadline,
        math.inf if since is None else since + stall,
        self._reconnect_by,
        math.inf if self._socket is None else self._socket.keepalive_at,
    )
    return True


def cover(self: SessionParts) -> None:
    """The writer starts a socket operation that may wait: the timer task serves the
    call's deadlines until it is over (started if it is not up)."""
    self._busy = True
    if not self._timer_up and self._nursery is not None:
        self._timer_up = True
        self._nursery.start_soon(self._timer, name=f"call {self.call_sid} timer")


def uncover(self: SessionParts, *, linger: bool = False) -> None:
    """The writer's socket operation is over: the timer task hands the deadlines back to
    it, at once or, with ``linger`` (a frame sent: more may follow, as on a socket without
    a ``send_nowait`` path), at its next wake (a deadline, or :data:`LINGER` at the
    latest), so that a stream of frames does not start a task per frame."""
    self._busy = False
    if not linger and self._timer_up and (scope := self._timer_scope) is not None:
        scope.cancel()  # wakes it if it sleeps; else it sees _busy cleared


async def timer(self: SessionParts) -> None:
    """Every deadline of the call while the writer is busy with a socket operation (and
    until the first one after, see :func:`uncover`)."""
    try:
        while True:
            # at most LINGER after the writer's last operation, it hands the deadlines back
            # (an early wake, as _armed allows: it re-arms for what is due next)
            wake = self._armed = min(self._armed, self._now() + LINGER)
            scope = self._timer_scope = trio.CancelScope(deadline=wake)
            with scope:
                await trio.sleep_forever()
            self._timer_scope = None
            if not await serve_deadlines(self) or not self._busy:
                return
    finally:
        self._timer_up = False
        # the writer may wait without a deadline meanwhile: it takes the deadlines back
        self._frames_ready.set()
