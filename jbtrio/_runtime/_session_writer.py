"""A call's outbound side: replies and commands queued in its core, and the **writer** task
that sends them in order, never with a timeout around a send (the timer aborts a stalled
one). While the writer is idle, a task that queues a frame writes it itself if the kernel
takes it at once (:meth:`SessionWriter.send_queued`): the writer's own step, minus a task
switch; anything that would wait is left to the writer, so writes never overlap. A part of
:class:`~._session.CallSession`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress
from typing import Any

import trio

from .._core import Frame, ReplyHandle
from .._errors import CallEndedError, ReplyError
from .._wire import Command
from . import _observe
from ._session_parts import SessionParts
from ._transport_api import SocketClosed, WebSocket, Written

__all__ = [
    "extend_reply",
    "finish_partial",
    "reply",
    "send",
    "send_queued",
    "sent",
    "start_send",
    "writer",
]


def reply(
    self: SessionParts,
    handle: ReplyHandle,
    verbs: Iterable[Mapping[str, Any] | Any] | None,
    *,
    now: bool = True,
) -> None:
    """Queue the ack of ``handle`` and send it; never blocks (see :meth:`CallCore.reply`
    for the errors it raises).

    The ack is written from the calling task when the writer is idle (see
    :meth:`send_queued`). ``now=False`` leaves it to the writer, which runs after the
    caller's next checkpoint: until then the ack stays queued, so a flow step resumed at
    once may still join it (:meth:`extend_reply`).
    """
    at = self._now()
    try:
        self.core.reply(handle, verbs, at)
    except ReplyError:
        self.stats.late_replies += 1
        raise
    if _observe.installed:  # no call per reply when no observer is installed (issue 23)
        _observe.replied(self, handle, at - handle.received_at)
    if self.core.abort_reason is not None:
        self.abort(self.core.abort_reason)
        return
    if now:
        self.send_queued(at)
    else:
        self._frames_ready.set()


def send_queued(self: SessionParts, now: float | None = None) -> None:
    """Write the queued frames from the calling task if the writer is idle, else wake it.
    ``now``: the caller's ``trio.current_time()``, if it has one (saves asking again).

    A reply written here costs no task switch (the writer's would be the third of a round
    trip, after the reader's and the app's). It is the writer's own work done in its
    absence, one frame at a time and never waiting: anything the kernel does not take at
    once (and every frame after it) is left to the writer.
    """
    socket = self._socket
    if socket is None or self._partial is not None or not self._frames_ready.waiting:
        self._frames_ready.set()
        return
    core = self.core
    while (frame := core.next_frame()) is not None:
        data = frame.data
        written = socket.send_nowait(data)
        if written is Written.ALL:
            # self._sent(frame, now), inline: one call fewer per reply (issue 23)
            started = core.sent(frame, self._now if now is None else now)
            stats = self.stats
            stats.frames_out += 1
            stats.bytes_out += len(data)
            self._queue_drained.notify()
            if started:
                self._arm(core.next_deadline())
            continue
        if written is Written.PART:
            core.sending(frame)
            self._partial = (frame, socket)
            self._start_send()
        self._frames_ready.set()
        return


def extend_reply(
    self: SessionParts, handle: ReplyHandle, verbs: Iterable[Mapping[str, Any] | Any]
) -> bool:
    """Append ``verbs`` to ``handle``'s ack if it is still queued (see
    :meth:`CallCore.extend_reply`); False when they must go as a ``redirect``."""
    return self.core.extend_reply(handle, verbs, self._now())


async def send(self: SessionParts, command: Command) -> None:
    """Queue ``command``, waiting while the call's outbound queue is full."""
    while not self.core.can_queue_command:
        if self.ended:
            break
        await self._queue_drained.wait()
    if self.ended:
        raise CallEndedError(f"call {self.call_sid} has ended; {command.command} not sent")
    await trio.lowlevel.checkpoint()
    now = self._now()
    self.core.command(command, now)
    self.send_queued(now)


def start_send(self: SessionParts) -> None:
    now = self._now()
    self._sending_since = now
    self._arm(now + self.config.send_stall_timeout)


def sent(self: SessionParts, frame: Frame, now: float | None = None) -> None:
    core = self.core
    # the clock is read only if the core needs it (issue 23)
    started = core.sent(frame, self._now if now is None else now)
    stats = self.stats
    stats.frames_out += 1
    stats.bytes_out += len(frame.data)
    self._queue_drained.notify()
    if started:
        # the first ack starts the command gate's grace, a reconnect's the re-key watch
        self._arm(core.next_deadline())


async def writer(self: SessionParts) -> None:
    """Send the call's frames in order; while idle, serve its deadlines (see
    :mod:`._session_timer`: around a socket operation that may wait, the timer task does)."""
    core = self.core
    while True:
        if self._partial is not None:
            self._cover()
            try:
                await self._finish_partial(*self._partial)
            finally:
                self._uncover(linger=True)
            continue
        frame = core.next_frame()
        socket = self._socket
        if frame is None or socket is None:
            if socket is not None and socket.has_pending:
                self._cover()
                try:
                    with suppress(SocketClosed):  # the reader sees the close too
                        await socket.flush()
                finally:
                    self._uncover()
                continue
            if socket is not None and self._force_close is not None:
                # Not 1000 (jambonz would never reconnect): a drop it recovers from.
                self._force_close = None
                self._cover()
                try:
                    await socket.close(1011, "jbtrio: reconnect to release held messages")
                finally:
                    self._uncover()
                continue
            # Woken while it worked (the socket attached, a reply queued): look again now.
            # A wait would return at once, after a checkpoint: the call's set-up cost a
            # task switch and a scope each time (issue 23).
            if self._frames_ready.take():
                continue
            if self.ended:
                # end() woke it: it returns rather than raise the nursery's Cancelled, which
                # Trio wraps, records and strips again at every call's end (issue 23).
                return
            # Idle: wait for frames, serving the call's deadlines meanwhile (unless the timer
            # task is still up: it serves them, and wakes the writer as it goes). Inline,
            # not a helper: a parked call holds one coroutine frame less (issue 23).
            if self._timer_up:
                await self._frames_ready.wait()
                continue
            scope = self._timer_scope = trio.CancelScope(deadline=self._armed)
            with scope:
                await self._frames_ready.wait()
            self._timer_scope = None  # arming sets no deadline on a scope left (issue 23)
            if scope.cancelled_caught and not await self._serve_deadlines():
                return  # the call is over
            continue
        # What the kernel takes at once needs no timer task (see send_queued).
        written = socket.send_nowait(frame.data)
        if written is Written.ALL:
            self._sent(frame)
            continue
        if written is Written.PART:
            core.sending(frame)
            self._partial = (frame, socket)
            self._start_send()
            continue
        self._start_send()
        core.sending(frame)
        self._cover()
        # A flag, not ``continue`` in the ``except``: mypyc cannot compile a ``continue``
        # inside ``try``/``finally``.
        sent = False
        try:
            await socket.send(frame.data)
            sent = True
        except SocketClosed:
            # The reader sees the close too and detaches; the frame stays queued.
            while self._socket is socket:
                await self._socket_changed.wait()
        finally:
            self._uncover(linger=True)
            self._sending_since = None
            core.sending(None)
        if sent:
            self._sent(frame)


async def finish_partial(self: SessionParts, frame: Frame, socket: WebSocket) -> None:
    """Write the rest of a frame :meth:`send_queued` wrote in part."""
    try:
        if socket is self._socket:
            await socket.flush()
            self._sent(frame)
            return
        # The socket went before its rest did: the frame is still queued, and goes out
        # whole on the next socket.
    except SocketClosed:
        while self._socket is socket:
            await self._socket_changed.wait()
    finally:
        self._partial = None
        self._sending_since = None
        self.core.sending(None)
