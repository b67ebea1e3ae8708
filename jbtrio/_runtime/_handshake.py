"""The HTTP upgrade of a jambonz websocket (:func:`open_upgrade`): reading the request off the
stream into websockets' protocol engine, what it said (:class:`Handshake`), the checks
(Basic auth: :func:`credentials_match`) and how it can end (:class:`Upgraded`,
:class:`HandshakeRejected` with the status sent, :class:`HandshakeFailed`).

:mod:`._transport` makes the upgraded connection a :class:`~._transport.Socket`; the
``--workers`` acceptor uses :func:`open_upgrade` alone and hands the connection over.
"""

from __future__ import annotations

import base64
import hmac
import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress

import attrs
import trio
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from ._rawstream import READ_SIZE, RawSocketStream, take_over

__all__ = [
    "ENGINE_LOG",
    "SUBPROTOCOL",
    "Handshake",
    "HandshakeFailed",
    "HandshakeRejected",
    "Upgraded",
    "basic_auth_header",
    "credentials_match",
    "open_upgrade",
]

#: The subprotocol jambonz offers and requires back (REFERENCE §1.2).
SUBPROTOCOL = "ws.jambonz.org"

# websockets logs every connection at INFO with no call_sid; our own records say what matters.
ENGINE_LOG = logging.getLogger("jbtrio.websocket")
ENGINE_LOG.addHandler(logging.NullHandler())
ENGINE_LOG.propagate = False


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
    """What the upgrade request said: its path (query stripped), headers and subprotocols."""

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


def _strip_query(target: str) -> str:
    return target.split("?", 1)[0].split("#", 1)[0] or "/"


def _remote(stream: trio.abc.Stream) -> str:
    if isinstance(stream, trio.SocketStream | RawSocketStream):
        with suppress(OSError):
            peer = stream.socket.getpeername()
            if isinstance(peer, tuple) and len(peer) >= 2:
                return f"{peer[0]}:{peer[1]}"
    return "in-memory stream"  # not a socket: no address to report


def handshake_of(request: Request, stream: trio.abc.Stream) -> Handshake:
    headers = tuple(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in request.headers.raw_items()
    )
    offered = tuple(
        token.strip()
        for value in request.headers.get_all("Sec-WebSocket-Protocol")
        for token in value.split(",")
        if token.strip()
    )
    return Handshake(
        path=_strip_query(request.path),
        headers=headers,
        subprotocols=offered,
        remote=_remote(stream),
    )


async def send_pending(protocol: ServerProtocol, stream: trio.abc.Stream) -> None:
    data = b"".join(protocol.data_to_send())
    if data:
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(data)


async def read_request(
    protocol: ServerProtocol, stream: trio.abc.Stream
) -> tuple[Request, bytes] | HandshakeRejected | HandshakeFailed:
    """Feed the stream to the protocol until the upgrade request is parsed; a request that
    is not valid HTTP gets a 400 (the rejection is returned), a stream that ends first is a
    :class:`HandshakeFailed`.

    Also returns the bytes read after the request's blank line: a client waits for the 101
    before sending frames, so they are nearly always none, but a process handing the socket
    over must pass on every byte it took from the stream.
    """
    received = bytearray()
    while True:
        try:
            data = await stream.receive_some(READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if data:
            protocol.receive_data(data)
            received += data
        else:
            protocol.receive_eof()
        for event in protocol.events_received():
            if isinstance(event, Request):
                end = received.find(b"\r\n\r\n")
                return event, bytes(received[end + 4 :]) if end >= 0 else b""
        failed = protocol.handshake_exc
        if failed is not None and data:
            # websockets closes without a word; an HTTP client deserves a status.
            cause = failed.__cause__ or failed
            protocol.data_to_send()  # its end-of-stream marker: we answer first
            response = protocol.reject(400, f"Bad Request: {cause}\n")
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(response.serialize())
            return HandshakeRejected(400, f"malformed HTTP request ({cause})")
        if failed is not None or not data:
            await send_pending(protocol, stream)
            return HandshakeFailed(
                "connection closed before the upgrade request"
                if not received
                else "connection closed in the middle of the upgrade request"
            )


@attrs.frozen
class Upgraded:
    """A connection whose upgrade was accepted (the 101 is sent): the stream, what the
    request said, the protocol (now OPEN) and the bytes read after the request."""

    stream: trio.abc.Stream
    handshake: Handshake
    protocol: ServerProtocol
    received: bytes


@asynccontextmanager
async def open_upgrade(
    stream: trio.abc.Stream,
    *,
    handshake_timeout: float,
    max_message_bytes: int,
    check: Callable[[Handshake], None],
    handshake_scope: trio.CancelScope | None = None,
) -> AsyncIterator[Upgraded | HandshakeRejected | HandshakeFailed]:
    """The handshake alone: yields :class:`Upgraded`, the rejection, or the failure (as
    :func:`open_socket`); releases the stream on exit without sending anything more.

    The handshake runs in ``handshake_scope`` when one is given (its deadline is set to
    ``handshake_timeout`` from now unless it has one): cancelling it cuts the handshake
    short. A process that hands sockets over to others uses this directly: what it closes on
    exit is its own descriptor, so the connection lives on in the process it went to.
    """
    original, stream = stream, take_over(stream)
    protocol = ServerProtocol(
        subprotocols=[Subprotocol(SUBPROTOCOL)],
        max_size=max_message_bytes,
        logger=ENGINE_LOG,
    )
    scope = trio.CancelScope() if handshake_scope is None else handshake_scope
    if scope.deadline == math.inf:
        scope.deadline = trio.current_time() + handshake_timeout
    try:
        outcome: Upgraded | HandshakeRejected | HandshakeFailed = HandshakeFailed(
            f"handshake not completed within {handshake_timeout:g} s"
        )
        with scope:
            outcome = await upgrade(protocol, stream, check)
        if scope.cancelled_caught and trio.current_time() < scope.deadline:
            outcome = HandshakeFailed("handshake cut short to make room (max_handshakes)")
        yield outcome
    finally:
        if isinstance(stream, RawSocketStream):
            stream.close_now()
        else:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)
        if stream is not original:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(original)  # its socket was detached: no-op


async def upgrade(
    protocol: ServerProtocol,
    stream: trio.abc.Stream,
    check: Callable[[Handshake], None],
) -> Upgraded | HandshakeRejected | HandshakeFailed:
    read = await read_request(protocol, stream)
    if not isinstance(read, tuple):
        return read
    request, received = read
    handshake = handshake_of(request, stream)
    try:
        check(handshake)
    except HandshakeRejected as rejected:
        response = protocol.reject(rejected.status, rejected.reason)
        if rejected.status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="jbtrio"'
        protocol.send_response(response)
        await send_pending(protocol, stream)
        return rejected
    response = protocol.accept(request)
    protocol.send_response(response)
    await send_pending(protocol, stream)
    if response.status_code != 101:
        return HandshakeRejected(response.status_code, "not a valid websocket upgrade request")
    return Upgraded(stream, handshake, protocol, received)
