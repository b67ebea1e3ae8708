"""A call's **timer** task: one task for every deadline of the call — the ack tracker (it
lets the core ack for a slow app), the send-stall watchdog, the socket's keepalive pings and
the reconnect supervisor (after a drop, the call waits, bounded, for ``session:reconnect``
on a new socket). Deadlines are set on its cancel scope, so arming one costs no task switch.
A part of :class:`~._session.CallSession`."""

from __future__ import annotations

import math

import trio

from ._session_parts import SessionParts

__all__ = ["arm", "timer"]


def arm(self: SessionParts, deadline: float | None) -> None:
    """Make the timer wake at ``deadline`` at the latest (no task switch).

    The timer may wake earlier than needed (a deadline armed for an ack that was sent
    since): it then finds nothing due and re-arms for what is next."""
    if deadline is not None and deadline < self._armed:
        self._armed = deadline
        self._timer_scope.deadline = deadline


async def timer(self: SessionParts) -> None:
    """Every deadline of the call: acks on the app's behalf, stalled sends, reconnects."""
    stall = self.config.send_stall_timeout
    while True:
        now = trio.current_time()
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
                self.log.warning(
                    "no pong within %g s: treating jambonz as gone", socket.pong_timeout
                )
                await socket.abort(f"no pong within {socket.pong_timeout:g} s")
        if self._socket is None and now >= self._reconnect_by:
            self.end(
                f"jambonz did not reconnect within {self.config.reconnect_timeout:g} s "
                "after the socket dropped"
            )
            return
        wake = min(
            math.inf if deadline is None else deadline,
            math.inf if since is None else since + stall,
            self._reconnect_by,
            math.inf if self._socket is None else self._socket.keepalive_at,
        )
        self._armed = wake
        self._timer_scope = trio.CancelScope(deadline=wake)
        with self._timer_scope:
            await trio.sleep_forever()
