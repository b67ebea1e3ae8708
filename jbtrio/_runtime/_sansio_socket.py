"""The sans-IO backend's socket: a Trio driver over websockets' sans-IO core.

The protocol engine (framing, masking, close handshake, size limits) is websockets'
``ServerProtocol``, which does no I/O; this module owns the stream and the tasks. Why not a
ready-made Trio websocket server (README, Hardening): one exception escaping a handler kills the
whole trio-websocket server, its inbound queue is a separate reader task (two task switches
per message), a cancelled send silently corrupts the stream, and it has no keepalive (the
trio-websocket backend, :mod:`._tws_socket`, wraps those traps). Here:

- the **reader** is the caller of :meth:`Socket.receive` (or :meth:`Socket.pump`) itself,
  with no task in between, and it yields at a bounded interval whatever the peer sends
  (:mod:`._sansio_reading`; the frames are parsed in :mod:`._sansio_frames`);
  keepalive pings are queued by :meth:`Socket.keepalive` on the owner's timer and go out with
  the next write, so a socket costs no task of its own;
- every write goes through one lock, a whole number of frames per ``send_all``; a write that
  is interrupted half-way (cancelled, or the stream closed under it) breaks the socket for
  good (:class:`SocketClosed` 1006) instead of sending the rest of a frame later;
  :meth:`Socket.send_nowait` writes a frame without waiting when nothing else is being
  written (what the kernel does not take goes first in line for the next write);
- reads wait on the run's edge-triggered read poller (:mod:`._poller`) instead of re-arming
  Trio's epoll for every message (the stream: :mod:`._rawstream`; the HTTP upgrade:
  :mod:`._sansio_upgrade`);
- :meth:`Socket.abort` closes the stream under a stalled writer: the only way to unblock a
  send, since we never put a timeout around one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextlib import suppress
from typing import NoReturn

import trio
from websockets.protocol import State

from . import _sansio_send
from ._methods import as_method
from ._rawstream import RawSocketStream
from ._sansio_engine import Engine
from ._sansio_frames import binary_frame, text_frame
from ._sansio_inline import feed
from ._sansio_reading import YIELD_EVERY, Reading
from ._transport_api import (
    ABNORMAL_CLOSURE,
    MAX_FRAGMENTS,
    Handshake,
    Keepalive,
    SocketClosed,
)

__all__ = [
    "YIELD_EVERY",
    "Socket",
    "binary_frame",
    "release_stream",
    "text_frame",
]


class Socket(Reading):
    """An accepted websocket (:class:`~._transport_api.WebSocket`) on websockets' engine.

    :meth:`receive` is called by one task only (the connection's reader). :meth:`send` is
    called by the call's writer; the reader's own control frames share the write lock, so
    frames never interleave. ``abort`` is how a stalled writer is unblocked: closing the
    stream under it, never cancelling the send mid-frame.
    """

    # Slots: one socket per live call; an instance dict of this many attributes is ~1.2 KiB.
    __slots__ = (
        "__weakref__",
        "_broken",
        "_close_timeout",
        "_closed",
        "_closed_event",
        "_next_ping",
        "_ping_every",
        "_pong_timeout",
        "_queued",
        "_stream",
        "_write_waiters",
        "_writing",
        "_written",
        "close_code",
        "close_reason",
        "closed_by_us",
        "handshake",
    )

    def __init__(
        self,
        protocol: Engine,
        stream: trio.abc.Stream,
        handshake: Handshake,
        keepalive: Keepalive,
        close_timeout: float,
        *,
        received: bytes = b"",
        max_fragments: int = MAX_FRAGMENTS,
        engine_only: bool = False,
    ) -> None:
        self._protocol = protocol
        # The rest of a read, fed to the protocol in slices; first, what another process read
        # before the socket came here.
        self._unparsed = memoryview(received)
        self._since_yield = 0  # messages returned from the queue since the last checkpoint
        self._max_fragments = max_fragments
        self._close_timeout = close_timeout
        self._stream = stream
        self.handshake = handshake
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed_by_us = False
        # Messages parsed and not yet returned: a list read from ``_taken`` on and cleared
        # once read out (an idle socket holds an empty list, 56 B; a deque is 600 B more).
        self._messages: list[str | bytes] = []
        self._taken = 0
        self._fragments: list[bytes] = []
        self._fragment_opcode: int | None = None
        self._fragment_count = 0
        self._fragment_bytes = 0  # the size of the message in progress so far
        # The frames are parsed here (:meth:`_parse`) unless the engine already holds part of
        # the stream (``engine_only``): then it parses all of it, as it does after a failure.
        self._engine_only = engine_only or protocol.max_fragment_size is not None
        self._max_size = protocol.max_message_size or 2**63  # None: no bound
        self._rest: bytearray | None = None  # the start of a frame, until the rest comes
        self._reading = False
        self._failed = False
        self._queued = 0  # text frames handed to the protocol
        self._written = 0  # ... and known to be written to the stream
        self._writing = False
        # Made when a write first has to wait, as the close's event when a close first waits
        # for the reader: an idle call holds neither (~250 B each; issue 23).
        self._write_waiters: trio.lowlevel.ParkingLot | None = None
        self._broken = False
        self._closed = False
        self._closed_event: trio.Event | None = None
        self._ping_every = keepalive.interval
        self._pong_timeout = keepalive.timeout
        now = trio.current_time()
        self._next_ping = math.inf if keepalive.interval is None else now + keepalive.interval
        self._ping_payload: bytes | None = None
        self._pong_deadline = math.inf
        self._probes: dict[bytes, trio.Event] | None = None  # pings of probe(), by payload
        # While :meth:`pump` runs on a raw stream: the stream, whose poller callback reads for
        # the parked reader (:func:`~._sansio_inline.read_inline`), and where messages go.
        self._pumped: RawSocketStream | None = None
        self._consumer: Callable[[str | bytes], None] | None = None
        # What the poller's callback left the reader to do when it wakes it: bytes to parse
        # (the end of the stream, a read larger than a slice), a settle, an exception of
        # ``deliver`` to raise.
        self._handed: bytes | None = None
        self._settle_due = False
        self._handed_error: Exception | None = None

    def forget_headers(self) -> None:
        """Drop the upgrade request's headers, once the socket is bound to its call."""
        # Made directly, not with attrs.evolve (which reads the class's fields first; issue 23).
        kept = self.handshake
        self.handshake = Handshake(kept.path, (), kept.subprotocols, kept.remote)

    @property
    def path(self) -> str:
        """The request path this socket was opened on."""
        return self.handshake.path

    @property
    def remote(self) -> str:
        """The peer's address (``host:port``), for logs."""
        return self.handshake.remote

    @property
    def subprotocol(self) -> str:
        """The subprotocol accepted in the upgrade."""
        return str(self._protocol.subprotocol)

    # ------------------------------------------------------------------ keepalive

    @property
    def keepalive_at(self) -> float:
        """When :meth:`keepalive` has work next (a ping due, or a pong overdue)."""
        return min(self._next_ping, self._pong_deadline)

    def keepalive(self, now: float) -> bool:
        """Run the keepalive at ``now``: queue a ping when one is due (then :meth:`flush`
        sends it). False when the last ping's pong is overdue: the peer is gone."""
        if self._protocol.state is not State.OPEN or self._broken:
            self._next_ping = self._pong_deadline = math.inf  # closing: nothing to keep alive
            return True
        if now >= self._pong_deadline:
            return False
        if now >= self._next_ping:
            self._ping_payload = os.urandom(4)
            self._engine().send_ping(self._ping_payload)
            self._pong_deadline = now + self._pong_timeout
            assert self._ping_every is not None
            self._next_ping = now + self._ping_every
        return True

    def _set_closed(self) -> None:
        self._closed = True
        if self._closed_event is not None:
            self._closed_event.set()
        if self._probes:
            for waiting in self._probes.values():
                waiting.set()  # a closed socket answers no ping: wake the probes now
            self._probes.clear()

    async def probe(self) -> bool:
        """Ping the peer and wait for its pong: True once it came, False if the socket is
        (or gets) closed. Bound it with a cancel scope (no pong in time: the peer is not alive). The
        pong is read by the socket's reader, which must be running; a write cut short by the
        cancellation breaks the socket (a peer that does not read is not alive either)."""
        if self._protocol.state is not State.OPEN or self._broken or self._closed:
            return False
        payload = os.urandom(8)
        answered = trio.Event()
        if self._probes is None:
            self._probes = {}
        self._probes[payload] = answered
        try:
            self._engine().send_ping(payload)
            await self._flush()
            await answered.wait()  # the pong, or the socket closing
            return not self._closed and not self._broken
        finally:
            self._probes.pop(payload, None)

    @property
    def pong_timeout(self) -> float:
        """Seconds a pong may take."""
        return self._pong_timeout

    def _note_closed(self) -> None:
        if self.close_code is None:
            protocol = self._protocol
            rcvd = protocol.close_rcvd
            sent = protocol.close_sent
            if rcvd is not None:
                self._note(rcvd.code, rcvd.reason or None)
            elif sent is not None:
                self._note(sent.code, sent.reason or None)
            else:
                self._note(ABNORMAL_CLOSURE, None)
        self._set_closed()

    # ------------------------------------------------------------------ writing

    async def send(self, text: str | bytes) -> None:
        """Send one text frame (``bytes`` must be UTF-8 text already); raises
        :class:`SocketClosed` if the socket is gone."""
        payload = text.encode() if isinstance(text, str) else text
        await self._send_frame(text_frame(payload))

    async def send_binary(self, data: bytes) -> None:
        """Send one binary frame; raises :class:`SocketClosed` if the socket is gone."""
        await self._send_frame(binary_frame(data))

    async def _send_frame(self, frame: bytes) -> None:
        if self._protocol.state is not State.OPEN or self._broken:
            raise SocketClosed(self.close_code or ABNORMAL_CLOSURE, self.close_reason)
        # No extension is ever negotiated, and a server's frames are unmasked, so a frame is a
        # fixed header and the payload.
        self._queued += 1
        mine = self._queued
        writes = self._protocol.writes
        if self._writing or writes:
            # The frame bytes go into the protocol's write queue, to keep their order with
            # its control frames (and another task's flush may take them along).
            writes.append(frame)
            await self._flush()
        else:
            # Nothing waits and nobody writes: the frame goes out alone, without the queue's
            # list and join (issue 23).
            self._writing = True
            try:
                await self._stream.send_all(frame)
            except BaseException as exc:
                self._write_failed(exc)
            finally:
                self._writing = False
                if self._write_waiters:  # None, or a lot with nobody in it: nobody waits
                    self._write_waiters.unpark()
            self._written = mine
        if self._written < mine:
            # Another task's flush took our frame with its own and that write failed.
            raise SocketClosed(self.close_code or ABNORMAL_CLOSURE, self.close_reason)

    # The usual reply's write, from the task that made it: a compiled function in the
    # compiled build (issue 23), bound as this method.
    send_nowait = as_method(_sansio_send.send_nowait)
    """Write one text (or ``binary``) frame now, if that needs no waiting (see
    :func:`~._sansio_send.send_nowait`)."""

    @property
    def has_pending(self) -> bool:
        """Whether control frames (a ping) wait for :meth:`flush`."""
        return bool(self._protocol.writes) and not self._broken

    async def flush(self) -> None:
        """Write what is queued (a keepalive ping); raises :class:`SocketClosed` if gone."""
        await self._flush()
        if self._broken:
            raise SocketClosed(self.close_code or ABNORMAL_CLOSURE, self.close_reason)

    async def _flush(self) -> None:
        """Write whatever the protocol has queued, whole frames only, one writer at a time."""
        while self._writing:
            if self._write_waiters is None:
                self._write_waiters = trio.lowlevel.ParkingLot()
            await self._write_waiters.park()
        upto = self._queued
        chunks = self._protocol.data_to_send()
        if not chunks:
            return
        eof = chunks[-1] == b""
        self._writing = True
        try:
            if self._broken:
                return  # nothing more goes out on a broken socket
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if data:
                try:
                    await self._stream.send_all(data)
                except BaseException as exc:
                    self._write_failed(exc)
            self._written = upto
            if eof:
                # The protocol is done with the connection (close handshake or failure).
                stream = self._stream
                if type(stream) is RawSocketStream:
                    # Without _release's schedule points: the reader's read before this was
                    # one, and so is the end of close() after it (issue 23).
                    stream.close_now()
                else:
                    await release_stream(stream)
                self._note_closed()
        finally:
            self._writing = False
            if self._write_waiters:
                self._write_waiters.unpark()

    def _write_failed(self, exc: BaseException) -> NoReturn:
        """A write raised ``exc``: the socket is broken for good (re-raises ``exc``, or
        :class:`SocketClosed` when the stream broke or was closed)."""
        if isinstance(exc, trio.BrokenResourceError | trio.ClosedResourceError):
            self._break(str(exc) or type(exc).__name__)
            raise SocketClosed(ABNORMAL_CLOSURE, self.close_reason) from None
        # Cancelled half-way: the peer may hold part of a frame. Never write again.
        self._break("write interrupted")
        raise exc

    def _break(self, reason: str) -> None:
        self._broken = True
        self._engine_only = True  # the engine discards what comes after the failure
        if self.close_code is None:
            self._note(ABNORMAL_CLOSURE, reason)
        self._set_closed()
        with suppress(Exception):
            self._engine().fail(ABNORMAL_CLOSURE)

    # ------------------------------------------------------------------ closing

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close with ``code``: send the close frame and wait for the peer's, both within the
        close timeout (a peer that reads nothing cannot hold a close up), then release the
        stream. Never raises for a socket that is already gone."""
        if self.close_code is None:
            self._note(code, reason)
            self.closed_by_us = True
        if self.settled:
            # Nothing left to send or wait for (the usual end of a call: the peer closed
            # first): the stream released without entering a timeout scope (issue 23).
            await release_stream(self._stream)
            self._set_closed()
            return
        with trio.move_on_after(self._close_timeout), suppress(SocketClosed):
            if self._protocol.state is State.OPEN and not self._broken:
                self._engine().send_close(code, reason or "")
                await self._flush()  # cancelled half-way, it breaks the socket: fine here
            if self._reading:
                if self._closed:
                    await trio.lowlevel.checkpoint()  # as waiting for a set event would
                else:
                    if self._closed_event is None:
                        self._closed_event = trio.Event()
                    await self._closed_event.wait()  # the reader sees the peer's close frame
            while not self._closed and not self._broken:
                data = self._take_slice() if self._unparsed else await self._read()
                if feed(self, data):
                    await self._settle(not data)
        await release_stream(self._stream)
        self._set_closed()

    @property
    def settled(self) -> bool:
        """Whether the close handshake is over (or cannot happen: the socket broke) and no
        reader waits: :meth:`close` then only releases the stream, at schedule points that
        cannot be cancelled, and needs neither its timeout nor a shield."""
        return (
            self._closed
            and not self._reading
            and (self._broken or self._protocol.state is not State.OPEN)
        )

    @property
    def released(self) -> bool:
        """Whether the raw stream under the socket is closed already (a stream of another
        kind cannot tell: ``False``)."""
        stream = self._stream
        return type(stream) is RawSocketStream and stream.closed

    async def abort(self, reason: str) -> None:
        """Tear the connection down at once, without a close handshake."""
        if self.close_code is None:
            self._note(ABNORMAL_CLOSURE, reason)
            self.closed_by_us = True
        self._broken = True
        self._set_closed()
        await release_stream(self._stream)

    def _note(self, code: int, reason: str | None) -> None:
        self.close_code = code
        self.close_reason = reason


async def release_stream(stream: trio.abc.Stream) -> None:
    """Close ``stream`` at once. A raw socket closes without ``aclose_forcefully``'s cancel
    scope and the ``Cancelled`` it raises and catches: a call's set-up and end closed it that
    way three times (issue 23). The schedule points stay: other tasks (the app's) run here
    as they did."""
    if type(stream) is RawSocketStream:
        stream.close_now()
        await trio.lowlevel.cancel_shielded_checkpoint()
        await trio.lowlevel.cancel_shielded_checkpoint()
    else:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)
