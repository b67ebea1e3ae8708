"""The trio-websocket backend's socket: a :class:`~._transport_api.WebSocket` on a
trio-websocket connection, with its traps (README, Hardening: the two websocket backends) wrapped.

- trio-websocket reads in a task of its own and hands messages over a 1-deep queue: while
  nobody reads, it stops reading (no pongs, no close). jbtrio's readers never wait on the
  app, so the queue holds one message at most; what a socket can make the process hold is
  that message and the one being assembled (twice ``max_message_bytes``).
- It bounds a message's size but not its fragments: :class:`GuardedStream` follows the
  frames under it (:class:`~._frame_reader.FragmentCounter`) and, at ``max_fragments``, cuts
  the stream there and ends it with a close frame of its own making (1009), which
  trio-websocket answers to the peer as if the peer had sent it.
- Its ``ping()`` waits for the pong with no timeout, and a cancelled send corrupts the
  stream: pings (keepalive and :meth:`TwsSocket.probe`) run in tasks of the socket's
  nursery that nobody cancels, and a probe waits for an event instead.
- It has no keepalive: :meth:`TwsSocket.keepalive` is driven by the owner's timer, as for
  the sans-IO backend.
- After a local close it reports 1000 whatever code was sent: the socket keeps its own.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextlib import suppress
from typing import NoReturn

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from ._frame_reader import FragmentCounter
from ._transport_api import ABNORMAL_CLOSURE, Handshake, Keepalive, SocketClosed, Written

__all__ = ["GuardedStream", "TwsSocket"]


def _client_close_frame(code: int, reason: str) -> bytes:
    """A masked close frame as a client sends it (mask 0: the payload reads as is)."""
    payload = code.to_bytes(2, "big") + reason.encode()[:120]
    return bytes((0x88, 0x80 | len(payload))) + b"\x00\x00\x00\x00" + payload


class GuardedStream(trio.abc.Stream):
    """The stream trio-websocket reads and writes, over the connection's own.

    It counts the frames of each inbound message (see the module), notes how the
    connection ended (:attr:`ended`, :attr:`eof`, :attr:`closed_here`), and can:

    - ``replay`` an upgrade request before the connection's bytes, and drop the response
      to it (a connection upgraded in another process is adopted this way, with
      trio-websocket's public API only);
    - stop at the end of the upgrade request (``upgrade_only``), keeping what follows
      (:attr:`held`) for a process that hands the connection on.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        max_fragments: int,
        *,
        replay: bytes = b"",
        received: bytes = b"",
        upgrade_only: bool = False,
    ) -> None:
        self.stream = stream
        self.ended = trio.Event()
        """Set once the connection ended under trio-websocket (end of stream, an error, or
        trio-websocket closed it)."""
        self.eof = False
        self.closed_here = False
        """Whether trio-websocket closed the stream (it does so on a protocol error)."""
        self.seen = False
        """Whether any byte came from the peer."""
        self.held = b""
        """With ``upgrade_only``: the bytes that came after the upgrade request."""
        self._replay = replay
        self._swallow = bool(replay)  # the response to a replayed request is dropped
        # Bytes after a replayed request wait for its response: wsproto buffers data that
        # comes before the upgrade is accepted, and trio-websocket parses that buffer only
        # when more data comes (a session:new would sit there until jambonz's ack timeout).
        self._answered = trio.Event()
        if not replay:
            self._answered.set()
        self._swallowed = b""
        self._after = received  # bytes of the frames' phase to deliver before reading
        self._in_request = not replay  # looking for the end of the upgrade request
        self._request = b""
        self._upgrade_only = upgrade_only
        self._counter = FragmentCounter(max_fragments)
        self._done = False  # nothing more goes to trio-websocket

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._replay:
            data, self._replay = self._replay, b""
            await trio.lowlevel.checkpoint()
            return data
        if self._in_request:
            return await self._receive_request()
        if self._upgrade_only or self._done:
            if self._done:
                await trio.lowlevel.checkpoint()
                return b""
            await trio.sleep_forever()  # the upgrade is done here: nothing more is read
        await self._answered.wait()
        while True:
            if self._after:
                data, self._after = self._after, b""
                await trio.lowlevel.checkpoint()
            else:
                data = await self._read(max_bytes)
                if not data:
                    return b""
            out = self._counter.feed(data)
            if self._counter.cut:
                self._done = True
                reason = f"message in more than {self._counter.max_fragments} fragments"
                return out + _client_close_frame(1009, reason)
            if out:
                return out
            # only the start of a frame header came: read on (each read is a checkpoint)

    async def _receive_request(self) -> bytes:
        data = await self._read(None)
        if not data:
            return b""
        self._request += data
        end = self._request.find(b"\r\n\r\n")
        if end < 0:
            if len(self._request) > 65536:
                self._request = self._request[-3:]  # wsproto bounds the request itself
            return data
        cut = len(data) - (len(self._request) - (end + 4))
        self._in_request = False
        self._request = b""
        if self._upgrade_only:
            self.held = data[cut:]
        else:
            self._after = data[cut:]
        return data[:cut]

    async def _read(self, max_bytes: int | None) -> bytes:
        try:
            data = await self.stream.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.ended.set()
            raise
        if data:
            self.seen = True
        else:
            self.eof = True
            self.ended.set()
        return bytes(data)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._swallow:
            self._swallowed += bytes(data)
            end = self._swallowed.find(b"\r\n\r\n")
            if end < 0:
                await trio.lowlevel.checkpoint()
                return
            self._swallow = False
            self._answered.set()
            data, self._swallowed = self._swallowed[end + 4 :], b""
            if not data:
                await trio.lowlevel.checkpoint()
                return
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        self.closed_here = True
        self.ended.set()
        await self.stream.aclose()


class TwsSocket:
    """A :class:`~._transport_api.WebSocket` on a trio-websocket connection.

    ``nursery`` is the connection's (where trio-websocket's reader runs): the socket's
    pings run there, and end with it.
    """

    def __init__(
        self,
        ws: WebSocketConnection,
        stream: GuardedStream,
        handshake: Handshake,
        subprotocol: str,
        *,
        keepalive: Keepalive,
        close_timeout: float,
        nursery: trio.Nursery,
    ) -> None:
        self._ws = ws
        self._stream = stream
        self._nursery = nursery
        self._close_timeout = close_timeout
        self._subprotocol = subprotocol
        self.handshake = handshake
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed_by_us = False
        self._closed = trio.Event()
        self._ping_every = keepalive.interval
        self._pong_timeout = keepalive.timeout
        now = trio.current_time()
        self._next_ping = math.inf if keepalive.interval is None else now + keepalive.interval
        self._pong_deadline = math.inf
        self._ping_payload: bytes | None = None  # the keepalive ping in flight
        self._ping_due: bytes | None = None  # ... made by keepalive(), not sent yet
        self._probes: set[trio.Event] = set()

    def forget_headers(self) -> None:
        """Drop the upgrade request's headers, once the socket is bound to its call."""
        self.handshake = attrs.evolve(self.handshake, headers=())

    @property
    def path(self) -> str:
        return self.handshake.path

    @property
    def remote(self) -> str:
        return self.handshake.remote

    @property
    def subprotocol(self) -> str:
        return self._subprotocol

    # ------------------------------------------------------------------ reading

    async def receive(self) -> str | bytes:
        if self._closed.is_set() and self.closed_by_us:
            await trio.lowlevel.checkpoint()
            raise SocketClosed(self.close_code or ABNORMAL_CLOSURE, self.close_reason)
        try:
            return await self._ws.get_message()
        except ConnectionClosed as exc:
            raise self._gone(exc) from None

    async def pump(self, deliver: Callable[[str | bytes], None]) -> NoReturn:
        while True:
            deliver(await self.receive())

    def _gone(self, exc: ConnectionClosed) -> SocketClosed:
        if self.close_code is None:
            reason = exc.reason
            if reason is None:
                self._note(ABNORMAL_CLOSURE, None)
            else:
                self._note(reason.code, reason.reason)
        self._set_closed()
        return SocketClosed(self.close_code or ABNORMAL_CLOSURE, self.close_reason)

    # ------------------------------------------------------------------ writing

    async def send(self, text: str | bytes) -> None:
        message = text if isinstance(text, str) else text.decode()
        await self._send(message)

    async def send_binary(self, data: bytes) -> None:
        await self._send(bytes(data))

    async def _send(self, message: str | bytes) -> None:
        if self._closed.is_set():
            await trio.lowlevel.checkpoint()
            raise SocketClosed(self.close_code or ABNORMAL_CLOSURE, self.close_reason)
        try:
            await self._ws.send_message(message)
        except ConnectionClosed as exc:
            raise self._gone(exc) from None

    def send_nowait(self, payload: bytes, *, binary: bool = False) -> Written:
        return Written.NONE  # trio-websocket writes only from a task that may wait

    @property
    def has_pending(self) -> bool:
        return self._ping_due is not None and not self._closed.is_set()

    async def flush(self) -> None:
        if self._closed.is_set():
            await trio.lowlevel.checkpoint()
            raise SocketClosed(self.close_code or ABNORMAL_CLOSURE, self.close_reason)
        payload, self._ping_due = self._ping_due, None
        if payload is not None:
            self._nursery.start_soon(self._keepalive_ping, payload, name="jbtrio ping")
        await trio.lowlevel.checkpoint()

    # ------------------------------------------------------------------ keepalive

    @property
    def keepalive_at(self) -> float:
        return min(self._next_ping, self._pong_deadline)

    @property
    def pong_timeout(self) -> float:
        return self._pong_timeout

    def keepalive(self, now: float) -> bool:
        if self._closed.is_set():
            self._next_ping = self._pong_deadline = math.inf
            return True
        if now >= self._pong_deadline:
            return False
        if now >= self._next_ping:
            self._ping_payload = self._ping_due = os.urandom(4)
            self._pong_deadline = now + self._pong_timeout
            assert self._ping_every is not None
            self._next_ping = now + self._ping_every
        return True

    async def _keepalive_ping(self, payload: bytes) -> None:
        try:
            await self._ws.ping(payload)
        except (ConnectionClosed, ValueError):
            return
        if payload == self._ping_payload:
            self._ping_payload = None
            self._pong_deadline = math.inf

    async def probe(self) -> bool:
        if self._closed.is_set():
            await trio.lowlevel.checkpoint()
            return False
        answered = trio.Event()
        self._probes.add(answered)

        async def ping() -> None:
            with suppress(ConnectionClosed, ValueError):
                await self._ws.ping(os.urandom(8))
            answered.set()

        self._nursery.start_soon(ping, name="jbtrio probe")
        try:
            await answered.wait()  # the pong, or the socket closing
            return not self._closed.is_set()
        finally:
            self._probes.discard(answered)

    def _set_closed(self) -> None:
        self._closed.set()
        for waiting in self._probes:
            waiting.set()  # a closed socket answers no ping: wake the probes now
        self._probes.clear()

    # ------------------------------------------------------------------ closing

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        if self.close_code is None:
            self._note(code, reason)
            self.closed_by_us = True
        self._set_closed()
        with trio.move_on_after(self._close_timeout):
            await self._ws.aclose(code, reason)
        await trio.aclose_forcefully(self._stream)

    async def abort(self, reason: str) -> None:
        if self.close_code is None:
            self._note(ABNORMAL_CLOSURE, reason)
            self.closed_by_us = True
        self._set_closed()
        await trio.aclose_forcefully(self._stream)

    def _note(self, code: int, reason: str | None) -> None:
        self.close_code = code
        self.close_reason = reason
