"""The TCP stream under every socket: a plain non-blocking socket driven by ``trio.lowlevel``,
its reads woken by the run's read poller (:mod:`._poller`)."""

from __future__ import annotations

import socket
from collections.abc import Coroutine
from contextlib import suppress
from typing import Any

import trio

from ._poller import ReadPoller, read_poller
from ._sansio_inline import READ_SIZE, Reader, StreamEvents
from ._wakeups import Wakeup

__all__ = ["READ_SIZE", "RawSocketStream", "remote_address", "take_over"]


class RawSocketStream(trio.abc.Stream):
    """A TCP stream on a plain non-blocking socket, driven by ``trio.lowlevel``.

    Trio's ``SocketStream`` tries each ``recv`` before waiting (in a request/response
    protocol the try nearly always fails: one wasted syscall per message) and yields after
    every send. Here a receive waits for readability first unless the last read filled the
    buffer (then it only yields: every receive is a checkpoint, but the first, which only
    checks for cancellation), and a send that the kernel takes whole returns at once.
    Readability comes from the run's :class:`~jbtrio._runtime._poller.ReadPoller` (no
    system call per wait) where there is one, but for the first wait, Trio's own (see
    :meth:`_wait_readable`). The socket is used by one reader and one writer at a time
    (:class:`Socket` guarantees it).
    """

    # Slots (Trio's stream ABCs have none of their own): one stream per live call, and an
    # instance dict of its attributes is ~300 B more.
    __slots__ = (
        "_fresh",
        "_hung_up",
        "_maybe_more",
        "_poller",
        "_readable",
        "_registered",
        "_waited",
        "closed",
        "inline",
        "remote",
        "socket",
    )

    def __init__(self, sock: socket.socket, *, remote: str | None = None) -> None:
        sock.setblocking(False)
        self.socket = sock
        # The peer's ``host:port`` when the accept gave it (else :func:`remote_address` asks
        # the socket): the same string the handshake keeps, not one more system call per
        # connection (issue 23).
        self.remote = remote
        # A new connection's first bytes (jambonz's upgrade request) have usually arrived by
        # the time it is accepted: the first read tries before it waits.
        self._maybe_more = True
        self._fresh = True  # no read yet (see receive_some)
        self.closed = False
        """Whether :meth:`aclose` (or :meth:`close_now`) was called; set by the stream only.
        An attribute, not a property: it is read for every message sent (issue 23)."""
        self._readable = Wakeup()
        self._poller: ReadPoller | None = None
        self._registered = False
        self._waited = False  # waited for readability once (see _wait_readable)
        # The poller reported a hang-up: a read may not wait for an edge again (none comes).
        self._hung_up = False
        self.inline: Reader | None = None
        """Set while the reader waits in :meth:`readable`: the poller's callback then reads
        and handles what came for it, from the poller's task, instead of waking it
        (:func:`~._sansio_inline.read_inline`; see :meth:`~._sansio_socket.Socket.pump`)."""

    def _poller_failed(self) -> bool:
        poller = self._poller
        return poller is None or poller.failed

    @property
    def parks(self) -> bool:
        """Whether a read would wait for the poller's wake-up (its usual case): then
        :meth:`readable` may wait instead, with :attr:`inline` set."""
        return not (self._maybe_more or self._hung_up or self.closed or self._poller_failed())

    def wake(self) -> None:
        """Wake the reader waiting in :meth:`readable` (:attr:`inline` left it work)."""
        self._readable.set()

    def readable(self) -> Coroutine[Any, Any, None]:
        """Wait for the poller's wake-up (see :attr:`parks`); then :meth:`receive_nowait`
        reads what came, unless :attr:`inline` read it already. The wake-up's own wait,
        not a coroutine around it: an idle call is parked there, and each coroutine frame
        it holds is ~200 B (issue 23)."""
        return self._readable.wait()

    def use_poller(self) -> None:
        """Wait for readability with the run's read poller from now on (where there is one):
        a socket that is read more than once is registered with it, once."""
        if not self._registered:
            self._registered = True
            poller = read_poller()
            # The watcher is a native class in the compiled build: a message the poller
            # reads costs no interpreted call on the socket's side (issue 23).
            if poller is not None and poller.register(
                self.socket, StreamEvents(self, self._readable, poller)
            ):
                self._poller = poller

    async def _wait_readable(self) -> None:
        if self._hung_up:
            await trio.lowlevel.checkpoint()
            return
        if not self._registered:
            if not self._waited:
                # The connection's first wait (for jambonz's session message, after the
                # upgrade): Trio's own, which wakes this task itself, not through a step of
                # the poller's task (issue 23). A socket that waits again is registered.
                self._waited = True
                await trio.lowlevel.wait_readable(self.socket)
                return
            self.use_poller()
        poller = self._poller
        if poller is None or poller.failed:
            await trio.lowlevel.wait_readable(self.socket)
        else:
            await self._readable.wait()  # set by the poller on every arrival (edge-triggered)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self.closed:
            raise trio.ClosedResourceError("the stream is closed")
        size = max_bytes or READ_SIZE
        sock = self.socket
        if self._maybe_more:
            if self._fresh:
                # The connection's first read, by a task that has only just started: no
                # one waited on it yet, so it only checks for cancellation (the upgrade's
                # scope may be cut short already), a turn of the scheduler fewer per
                # connection (issue 23).
                self._fresh = False
                await trio.lowlevel.checkpoint_if_cancelled()
            else:
                # The last read filled the buffer: read again at once, but still yield
                # first, or a peer that keeps the buffer full would keep this task from
                # ever yielding.
                await trio.lowlevel.checkpoint()
        elif self._poller is not None and not self._poller.failed and not self._hung_up:
            await self._readable.wait()  # _wait_readable's usual case, a coroutine fewer
        else:
            await self._wait_readable()
        while True:
            try:
                data = sock.recv(size)
            except BlockingIOError:
                await self._wait_readable()
                continue
            except OSError as exc:
                if self.closed:
                    raise trio.ClosedResourceError("the stream was closed") from None
                raise trio.BrokenResourceError(str(exc)) from exc
            self._maybe_more = len(data) == size
            return data

    def receive_nowait(self, max_bytes: int = READ_SIZE) -> bytes | None:
        """What has arrived, without waiting: ``None`` when nothing has (then
        :meth:`receive_some` waits for readability first), ``b""`` at the end of the stream.
        Not a checkpoint."""
        if self.closed:
            raise trio.ClosedResourceError("the stream is closed")
        self._fresh = False
        try:
            data = self.socket.recv(max_bytes)
        except BlockingIOError:
            self._maybe_more = False
            return None
        except OSError as exc:
            raise trio.BrokenResourceError(str(exc)) from exc
        self._maybe_more = len(data) == max_bytes
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            raise trio.ClosedResourceError("the stream is closed")
        await trio.lowlevel.checkpoint_if_cancelled()
        sock = self.socket
        view = data  # a memoryview only once the kernel took part of it (issue 23)
        while view:
            try:
                sent = sock.send(view)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(sock)
                continue
            except OSError as exc:
                if self.closed:
                    raise trio.ClosedResourceError("the stream was closed") from None
                raise trio.BrokenResourceError(str(exc)) from exc
            if sent == len(view):
                return
            view = memoryview(view)[sent:]

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.wait_writable(self.socket)

    async def aclose(self) -> None:
        self.close_now()
        await trio.lowlevel.checkpoint()

    def close_now(self) -> None:
        """Close the socket without a checkpoint (what ``aclose_forcefully`` would do, minus
        its cancel scope and the ``Cancelled`` it raises: a flood of connections closing at
        once costs less)."""
        if not self.closed:
            self.closed = True
            if self._poller is not None:
                self._poller.unregister(self.socket)
            self._readable.set()  # a reader parked on the poller finds the stream closed
            trio.lowlevel.notify_closing(self.socket)
            self.socket.close()


def take_over(stream: trio.abc.Stream) -> trio.abc.Stream:
    """Take a TCP ``SocketStream``'s socket over as a :class:`RawSocketStream`."""
    if not isinstance(stream, trio.SocketStream):
        return stream  # in-memory streams in tests, TLS, ...
    trio_socket = stream.socket
    sock = socket.socket(trio_socket.family, trio_socket.type, fileno=trio_socket.detach())
    return RawSocketStream(sock)


def remote_address(stream: trio.abc.Stream) -> str:
    """The peer's address of a TCP stream (``host:port``), for logs."""
    if type(stream) is RawSocketStream and stream.remote is not None:
        return stream.remote
    if isinstance(stream, trio.SocketStream | RawSocketStream):
        with suppress(OSError):
            peer = stream.socket.getpeername()
            if isinstance(peer, tuple) and len(peer) >= 2:
                return f"{peer[0]}:{peer[1]}"
    return "in-memory stream"  # not a socket: no address to report
