"""The transport seam: what the runtime needs from a websocket library, and nothing more.

Everything above the backends — the listener, :class:`~._session.CallSession`, the
``--workers`` acceptor, the audio adapter — talks to these protocols and values only; no
module outside the backends imports a websocket library. A backend (:mod:`._transports`
names them) provides a :class:`Transport`: it runs the HTTP upgrade on a Trio stream and
gives back a :class:`WebSocket` (or an :class:`Upgrade` alone, for a process that hands the
connection on), adopts a connection another process upgraded, and parses what a peer sent
after the upgrade without consuming it (:class:`FramePeek`).

The rules every backend keeps (the shared transport suite, ``tests/test_transport.py``,
holds each of them against each backend): one writer at a time, whole frames only; no
timeout around a send (:meth:`WebSocket.abort` unblocks a stalled one); inbound messages
bounded in size and in fragments; the reader yields to the scheduler at a bounded interval
whatever the peer sends; pings answered by whoever reads.
"""

from __future__ import annotations

import base64
import enum
import hmac
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import NoReturn, Protocol

import attrs
import trio

from ._plain_http import Answered, PlainAnswer

__all__ = [
    "AUDIO_SUBPROTOCOL",
    "FEED_SLICE",
    "MAX_FRAGMENTS",
    "SUBPROTOCOL",
    "Check",
    "FramePeek",
    "Handshake",
    "HandshakeFailed",
    "HandshakeRejected",
    "Keepalive",
    "OpenedSocket",
    "OpenedUpgrade",
    "PeekEnd",
    "Peeked",
    "SocketClosed",
    "SocketOptions",
    "Transport",
    "Upgrade",
    "WebSocket",
    "Written",
    "basic_auth_header",
    "credentials_match",
]

#: The subprotocol jambonz offers and requires back on a call's socket (docs/jambonz.md,
#: Connection).
SUBPROTOCOL = "ws.jambonz.org"

#: The subprotocol of jambonz's audio sockets (``listen``/``stream``; docs/jambonz.md).
AUDIO_SUBPROTOCOL = "audio.drachtio.org"

#: Close code when the peer vanished without a close frame.
ABNORMAL_CLOSURE = 1006

#: Bytes of input parsed at a time; whoever parses yields to the scheduler between two
#: slices. 64 KiB of one-byte frames (or pings) take websockets 65-105 ms to parse; a 4 KiB
#: slice, under 7 ms. A jambonz message of a few KiB costs one checkpoint more.
FEED_SLICE = 4096

#: Default bound on the frames of one fragmented message (``ServerConfig.max_fragments``).
#: Empty continuation frames add nothing to the size limit, so without a count a peer could
#: send them for ever; jambonz never fragments what it sends.
MAX_FRAGMENTS = 1024


class SocketClosed(Exception):
    """The websocket is closed; ``code`` says how (1000 normal, 1006 dropped, ...)."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"websocket closed with {code}" + (f" ({reason})" if reason else ""))


class Written(enum.Enum):
    """What :meth:`WebSocket.send_nowait` did with a frame."""

    ALL = "all"
    """The kernel took the whole frame: it is sent."""
    PART = "part"
    """The kernel took part of it; the rest is first in line, and :meth:`WebSocket.flush`
    sends it."""
    NONE = "none"
    """Nothing was written: send the frame with :meth:`WebSocket.send`."""


@attrs.frozen
class Keepalive:
    """Ping the peer every ``interval`` seconds; a pong not back within ``timeout`` means the
    peer is gone (the socket is aborted with 1006). ``interval=None``: no pings."""

    interval: float | None
    timeout: float


@attrs.frozen
class SocketOptions:
    """The bounds a backend applies to every socket (from ``ServerConfig``)."""

    handshake_timeout: float
    max_message_bytes: int
    close_timeout: float
    keepalive: Keepalive
    max_fragments: int = MAX_FRAGMENTS


# ---------------------------------------------------------------------- the upgrade


class HandshakeRejected(Exception):
    """The upgrade request was refused with an HTTP status (and the reason, for the log)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"HTTP {status}: {reason}")


@attrs.frozen
class HandshakeFailed:
    """The upgrade did not happen and nothing was answered: ``reason`` says why (it timed
    out, the peer closed first, or the server cut it short to make room for others)."""

    reason: str


@attrs.frozen
class Handshake:
    """What the upgrade request said: its path (query stripped), headers (lower-case names)
    and the subprotocols it offered, and the peer's address."""

    path: str
    headers: Sequence[tuple[bytes, bytes]]
    subprotocols: tuple[str, ...]
    remote: str

    def header(self, name: bytes) -> bytes | None:
        """The first header called ``name`` (lower-case bytes), if any."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


Check = Callable[[Handshake], str]
"""Decides an upgrade: returns the subprotocol to accept, or raises
:class:`HandshakeRejected` with the status to answer."""


def basic_auth_header(username: str, password: str) -> bytes:
    """The ``Authorization`` header value jambonz sends for these credentials."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}".encode("ascii")


def credentials_match(handshake: Handshake, expected: bytes) -> bool:
    """Whether the request's Authorization header carries ``expected`` (as made by
    :func:`basic_auth_header`): the scheme compared case-insensitively (RFC 7617), the
    credentials in constant time."""
    scheme, _, token = (handshake.header(b"authorization") or b"").strip().partition(b" ")
    _, _, expected_token = expected.partition(b" ")
    return scheme.lower() == b"basic" and hmac.compare_digest(token.strip(), expected_token)


# ---------------------------------------------------------------------- the protocols


class WebSocket(Protocol):
    """An accepted websocket: messages in, frames out, keepalive, close, abort.

    :meth:`receive` is called by one task only (the connection's reader); control frames
    (pongs, the close handshake) are answered as it reads. Writes never interleave: a frame
    goes out whole or the socket is broken for good (:class:`SocketClosed` 1006).
    """

    @property
    def handshake(self) -> Handshake:
        """What the upgrade request said."""
        ...

    def forget_headers(self) -> None:
        """The socket is bound to its call: its :attr:`handshake` keeps the path, the
        subprotocols and the peer's address, not the request's headers (read to decide the
        upgrade and to hand the socket on; ~0.9 KiB per call otherwise, issue 23)."""
        ...

    @property
    def path(self) -> str:
        """The request path this socket was opened on."""
        ...

    @property
    def remote(self) -> str:
        """The peer's address (``host:port``), for logs."""
        ...

    @property
    def subprotocol(self) -> str:
        """The subprotocol accepted in the upgrade (``ws.jambonz.org``, ...)."""
        ...

    @property
    def close_code(self) -> int | None:
        """How the socket closed (``None`` while open)."""
        ...

    @property
    def close_reason(self) -> str | None:
        """Why, when known."""
        ...

    @property
    def closed_by_us(self) -> bool:
        """Whether our side chose the close (:meth:`close`, :meth:`abort`)."""
        ...

    async def receive(self) -> str | bytes:
        """The next message (``str`` for text, ``bytes`` for binary); raises
        :class:`SocketClosed` once the socket is done."""
        ...

    async def pump(self, deliver: Callable[[str | bytes], None]) -> NoReturn:
        """Hand every message to ``deliver``, in order, until the socket is done (then
        raise :class:`SocketClosed`): what ``while True: deliver(await self.receive())``
        does, which a backend may do with fewer task switches (``deliver`` may then be called
        from another task than the caller's). ``deliver`` must not block."""
        ...

    async def send(self, text: str | bytes) -> None:
        """Send one text frame (``bytes`` must be UTF-8 already); raises
        :class:`SocketClosed` if the socket is gone."""
        ...

    async def send_binary(self, data: bytes) -> None:
        """Send one binary frame; raises :class:`SocketClosed` if the socket is gone."""
        ...

    def send_nowait(self, payload: bytes, *, binary: bool = False) -> Written:
        """Write one frame now if that needs no waiting (see :class:`Written`); for a caller
        that knows no other task writes for it. A backend without such a path returns
        :attr:`Written.NONE` always."""
        ...

    @property
    def has_pending(self) -> bool:
        """Whether something waits for :meth:`flush` (a keepalive ping, the rest of a frame
        :meth:`send_nowait` wrote in part)."""
        ...

    async def flush(self) -> None:
        """Write what is pending; raises :class:`SocketClosed` if the socket is gone."""
        ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close with ``code``, bounded by the close timeout; never raises for a socket that
        is already gone."""
        ...

    async def abort(self, reason: str) -> None:
        """Tear the connection down at once, without a close handshake (it unblocks a
        stalled send)."""
        ...

    async def probe(self) -> bool:
        """Ping the peer and wait for its pong: True once it came, False if the socket is
        (or gets) closed. Bound it with a cancel scope; the pong is read by the socket's
        reader, which must be running. Cancelling it never cuts a frame in half."""
        ...

    @property
    def keepalive_at(self) -> float:
        """When :meth:`keepalive` has work next (a ping due, or a pong overdue)."""
        ...

    def keepalive(self, now: float) -> bool:
        """Run the keepalive at ``now``: a ping due is made pending (:meth:`flush` sends
        it). False when the last ping's pong is overdue: the peer is gone."""
        ...

    @property
    def pong_timeout(self) -> float:
        """Seconds a pong may take."""
        ...


class Upgrade(Protocol):
    """A connection whose upgrade was accepted (the 101 is sent) but that is no
    :class:`WebSocket` here: a process that routes connections reads what follows with a
    :class:`FramePeek` and hands the stream on (or adopts it, :meth:`Transport.adopt_socket`)."""

    @property
    def handshake(self) -> Handshake: ...

    @property
    def subprotocol(self) -> str:
        """The subprotocol accepted."""
        ...

    @property
    def stream(self) -> trio.abc.Stream:
        """The connection, nothing of it read past :attr:`received`."""
        ...

    @property
    def received(self) -> bytes:
        """The bytes read after the upgrade request with it (usually none)."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Send a close frame from here and let the connection go (no close handshake)."""
        ...


@attrs.frozen
class Peeked:
    """A whole message the peer sent, as a :class:`FramePeek` saw it (not consumed)."""

    text: bool
    payload: bytes


@attrs.frozen
class PeekEnd:
    """Frames that end the search and decide nothing (a close, a protocol violation, a
    message over the bounds): whoever serves the socket fails it as it would anyway."""

    why: str


class FramePeek(Protocol):
    """Parses what a peer sent after the upgrade, keeping every byte: a process routing the
    connection finds its first session message with it and hands on :attr:`received`, so
    that the engine which serves the socket sees the stream exactly as it arrived.

    The work is linear in the bytes fed. :meth:`feed` raises :class:`OverflowError` past
    the bound on bytes kept the peek was made with.
    """

    @property
    def received(self) -> bytes | bytearray:
        """Every byte fed so far."""
        ...

    def feed(self, data: bytes | bytearray | memoryview) -> list[Peeked | PeekEnd]:
        """Add ``data``; the messages it completed (and a :class:`PeekEnd` last, if a frame
        ended the search)."""
        ...


OpenedSocket = AbstractAsyncContextManager[
    WebSocket | HandshakeRejected | HandshakeFailed | Answered
]
OpenedUpgrade = AbstractAsyncContextManager[
    Upgrade | HandshakeRejected | HandshakeFailed | Answered
]


class Transport(Protocol):
    """A websocket backend."""

    @property
    def name(self) -> str:
        """As ``ServerConfig.transport`` and ``jbtrio serve --transport`` name it."""
        ...

    def open_socket(
        self,
        stream: trio.abc.Stream,
        options: SocketOptions,
        check: Check,
        *,
        handshake_scope: trio.CancelScope | None = None,
        answer: PlainAnswer | None = None,
    ) -> OpenedSocket:
        """Run the server handshake on ``stream`` and yield the outcome: the accepted
        :class:`WebSocket`; the :class:`HandshakeRejected` ``check`` raised (or a 400 for a
        request that is not valid HTTP), the rejection sent; or a :class:`HandshakeFailed`
        when the upgrade did not complete within ``options.handshake_timeout`` (or
        ``handshake_scope`` was cancelled, or the peer left). On exit the socket is closed
        (1000 unless a code was chosen before) within the close timeout, and the stream is
        released. With ``answer``, a backend that can tell plain HTTP requests apart
        (``/healthz``, ``/metrics``, ``OPTIONS``: :mod:`._plain_http`) answers them with it
        and yields :class:`Answered`."""
        ...

    def open_upgrade(
        self,
        stream: trio.abc.Stream,
        options: SocketOptions,
        check: Check,
        *,
        handshake_scope: trio.CancelScope | None = None,
        answer: PlainAnswer | None = None,
    ) -> OpenedUpgrade:
        """The handshake alone (as :meth:`open_socket`), yielding an :class:`Upgrade`;
        releases the stream on exit without sending anything more (what it closes is this
        process's descriptor: a connection handed on lives on where it went)."""
        ...

    def adopt_socket(
        self,
        stream: trio.abc.Stream,
        handshake: Handshake,
        subprotocol: str,
        received: bytes,
        options: SocketOptions,
    ) -> AbstractAsyncContextManager[WebSocket]:
        """A :class:`WebSocket` on a connection upgraded elsewhere (another process, or an
        :class:`Upgrade` here); ``received`` is every byte read from it after the upgrade
        request, read first. Closed on exit, as :meth:`open_socket` does."""
        ...

    def peek(self, options: SocketOptions, max_bytes: int) -> FramePeek:
        """A :class:`FramePeek` bounded by ``options`` (message size, fragments) that keeps
        at most ``max_bytes``."""
        ...
