"""Read readiness of every socket of a Trio run from one edge-triggered epoll set (Linux).

Trio's ``wait_readable`` arms the socket in Trio's epoll for one event (``EPOLLONESHOT``), so
each wait costs an ``epoll_ctl`` system call; a server waits to read after every message, so
that is a system call per message, as dear as the read itself. Here each socket is registered
once, edge-triggered, in an epoll set of our own, and one task turns that set's events into
wake-ups: two system calls per batch of ready sockets, and a busy server finds dozens of them
ready per batch (40 on average with 100 calls in the benchmark).

A socket's callback may also read and handle what arrived itself, from the poller's task,
while the socket's reader stays parked (:meth:`~._sansio_socket.Socket.pump`: a task step
fewer per message, issue 23); the poller then yields every :data:`HANDLED_PER_CHECKPOINT`
such reads, so that however many sockets a batch reports, the other tasks run at a bounded
interval.

The waits are only for reading: writes rarely wait, and use Trio's ``wait_writable``. Where
there is no epoll, or the set fails, :func:`read_poller` gives ``None`` and sockets wait with
Trio's ``wait_readable`` as before.
"""

from __future__ import annotations

import logging
import select
import socket
from contextlib import suppress

import trio

__all__ = ["HANDLED_PER_CHECKPOINT", "HANG_UP", "OnEvent", "ReadPoller", "read_poller"]

log = logging.getLogger("jbtrio.poller")

#: Events taken from the set per system call, at least (more when more sockets are registered).
MIN_EVENTS = 64

_EPOLL = getattr(select, "epoll", None)
#: Event flags saying the peer hung up or the socket failed: no edge comes after them.
HANG_UP = (
    getattr(select, "EPOLLRDHUP", 0)
    | getattr(select, "EPOLLHUP", 0)
    | getattr(select, "EPOLLERR", 0)
)
_FLAGS = (
    getattr(select, "EPOLLIN", 0) | getattr(select, "EPOLLRDHUP", 0) | getattr(select, "EPOLLET", 0)
)

#: Reads a callback may handle itself (each at most one slice of bytes, see
#: :meth:`~._sansio_socket.Socket.pump`) before the poller yields once.
HANDLED_PER_CHECKPOINT = 32


class OnEvent:
    """What the poller calls with a registered socket's event flags: an object, not any
    callable, so that the compiled build calls it as a native method, without a bound
    method's or a ``partial``'s call and its arguments parsed (issue 23)."""

    __slots__ = ()

    def on_event(self, flags: int) -> bool:
        """From the poller's task: must not block nor raise. True when it read and handled
        bytes itself (then it counts towards :data:`HANDLED_PER_CHECKPOINT`), False when it
        only woke the socket's reader."""
        raise NotImplementedError


class ReadPoller:
    """The epoll set and the watcher of each registered socket (one per Trio run)."""

    def __init__(self) -> None:
        assert _EPOLL is not None
        self._epoll: select.epoll = _EPOLL()
        self._callbacks: dict[int, OnEvent] = {}
        self.failed = False
        """Set when the set failed: every socket then waits with Trio's ``wait_readable``."""

    def register(self, sock: socket.socket, watcher: OnEvent) -> bool:
        """Call ``watcher.on_event(flags)`` whenever ``sock`` gets something to read, or is
        hung up (``flags & HANG_UP``: remember it, as no edge follows); False when it could
        not be registered (then wait with Trio's ``wait_readable``).

        A socket that is readable already is reported at once. Unregister it before closing
        it: its descriptor may live on in another process, and the set would keep it.
        """
        if self.failed:
            return False
        fd = sock.fileno()
        try:
            self._epoll.register(fd, _FLAGS)
        except OSError as exc:
            log.warning("socket %d not added to the read poller: %s", fd, exc)
            return False
        self._callbacks[fd] = watcher
        return True

    def unregister(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` (before it is closed or handed over)."""
        fd = sock.fileno()
        if self._callbacks.pop(fd, None) is not None:
            with suppress(OSError, ValueError):
                self._epoll.unregister(fd)

    async def run(self) -> None:
        """Wake the sockets the set reports, until the run ends. Never raises but
        ``Cancelled``: on a failure it wakes every socket and leaves them to Trio."""
        epoll = self._epoll
        callbacks = self._callbacks
        handled = 0
        try:
            while True:
                await trio.lowlevel.wait_readable(epoll.fileno())
                for fd, flags in epoll.poll(0, max(MIN_EVENTS, len(callbacks))):
                    watcher = callbacks.get(fd)
                    if watcher is not None and watcher.on_event(flags):
                        handled += 1
                        if handled == HANDLED_PER_CHECKPOINT:
                            # Peer input read in this task: the others run now and then.
                            handled = 0
                            await trio.lowlevel.checkpoint()
        except Exception as exc:
            log.error("read poller failed (%r): sockets wait with Trio's own poller", exc)
            self.failed = True
            for watcher in callbacks.values():
                watcher.on_event(0)  # each waiting reader looks again, then waits Trio's way
            callbacks.clear()
        finally:
            epoll.close()


_CURRENT: trio.lowlevel.RunVar[ReadPoller | None] = trio.lowlevel.RunVar("jbtrio_read_poller")


def read_poller() -> ReadPoller | None:
    """This Trio run's poller, started on first use; ``None`` where there is no epoll."""
    try:
        return _CURRENT.get()
    except LookupError:
        pass
    poller = None
    if _EPOLL is not None:
        try:
            poller = ReadPoller()
        except OSError as exc:
            log.warning("no read poller (%s): sockets wait with Trio's own poller", exc)
        else:
            trio.lowlevel.spawn_system_task(poller.run, name="jbtrio read poller")
    _CURRENT.set(poller)
    return poller
