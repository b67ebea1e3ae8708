"""The one module that knows the websocket library (trio-websocket).

Everything above talks to :class:`Socket` and :func:`open_socket`, so a faster adapter (a Trio
driver over websockets' sans-IO core, say) can replace this file without touching the rest.
The traps of trio-websocket handled here (TRIO-NOTES §2.3): its server would die from any
exception escaping a handler, so we drive the handshake ourselves on a stream we own; its
60 s handshake timeout becomes ours; its 1-deep inbound queue is raised; a cancelled send would
corrupt the stream, so :meth:`Socket.abort` closes the stream instead of cancelling a send.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress

import attrs
import trio
from trio_websocket import ConnectionClosed, Endpoint, WebSocketConnection, WebSocketRequest
from trio_websocket import wrap_server_stream as _wrap_server_stream

__all__ = [
    "SUBPROTOCOL",
    "Handshake",
    "HandshakeRejected",
    "Socket",
    "SocketClosed",
    "basic_auth_header",
    "credentials_match",
    "open_socket",
]

#: The subprotocol jambonz offers and requires back (REFERENCE §1.2).
SUBPROTOCOL = "ws.jambonz.org"

#: Close code when the peer vanished without a close frame.
ABNORMAL_CLOSURE = 1006


class SocketClosed(Exception):
    """The websocket is closed; ``code`` says how (1000 normal, 1006 dropped, ...)."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"websocket closed with {code}" + (f" ({reason})" if reason else ""))


class HandshakeRejected(Exception):
    """The upgrade request was refused with an HTTP status (and the reason, for the log)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"HTTP {status}: {reason}")


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
    """Constant-time comparison of the request's Authorization header with ``expected``."""
    given = handshake.header(b"authorization") or b""
    return hmac.compare_digest(given, expected)


class Socket:
    """An accepted jambonz websocket: text in, text out, close, abort.

    Sending is only ever done by one task (the call's writer); receiving only by the
    connection's reader. ``abort`` is how a stalled writer is unblocked: closing the stream
    under it, never cancelling the send mid-frame.
    """

    def __init__(self, ws: WebSocketConnection, stream: trio.abc.Stream, handshake: Handshake):
        self._ws = ws
        self._stream = stream
        self.handshake = handshake
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed_by_us = False

    @property
    def path(self) -> str:
        """The request path this socket was opened on."""
        return self.handshake.path

    async def receive(self) -> str | bytes:
        """The next message; raises :class:`SocketClosed` when the socket is done."""
        try:
            return await self._ws.get_message()
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    async def send(self, text: str) -> None:
        """Send one text frame; raises :class:`SocketClosed` if the socket is gone."""
        try:
            await self._ws.send_message(text)
        except ConnectionClosed as exc:
            raise self._closed(exc) from None
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._note(ABNORMAL_CLOSURE, str(exc) or type(exc).__name__)
            raise SocketClosed(ABNORMAL_CLOSURE, self.close_reason) from None

    async def ping(self) -> None:
        """Send a ping and wait for its pong (the caller bounds the wait and aborts)."""
        try:
            await self._ws.ping()
        except ConnectionClosed as exc:
            raise self._closed(exc) from None
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise SocketClosed(ABNORMAL_CLOSURE, str(exc)) from None

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close with ``code`` (remembered here: trio-websocket reports 1000 for our closes)."""
        if self.close_code is None:
            self._note(code, reason)
            self.closed_by_us = True
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self._ws.aclose(code, reason)

    async def abort(self, reason: str) -> None:
        """Tear the connection down at once, without a close handshake."""
        if self.close_code is None:
            self._note(ABNORMAL_CLOSURE, reason)
            self.closed_by_us = True
        await trio.aclose_forcefully(self._stream)

    def _closed(self, exc: ConnectionClosed) -> SocketClosed:
        if self.close_code is None:
            reason = exc.reason
            if reason is None:
                self._note(ABNORMAL_CLOSURE, None)
            else:
                self._note(reason.code, reason.reason)
        assert self.close_code is not None
        return SocketClosed(self.close_code, self.close_reason)

    def _note(self, code: int, reason: str | None) -> None:
        self.close_code = code
        self.close_reason = reason


def _strip_query(target: str) -> str:
    return target.split("?", 1)[0].split("#", 1)[0] or "/"


def _remote(request: WebSocketRequest) -> str:
    remote = request.remote
    if isinstance(remote, Endpoint):
        return f"{remote.address}:{remote.port}"
    return "in-memory stream"  # not a socket: no address to report


@asynccontextmanager
async def open_socket(
    stream: trio.abc.Stream,
    *,
    handshake_timeout: float,
    max_message_bytes: int,
    message_queue_size: int,
    close_timeout: float,
    check: Callable[[Handshake], None],
) -> AsyncIterator[Socket | HandshakeRejected | None]:
    """Run the server handshake on ``stream`` and yield the outcome.

    Yields the accepted :class:`Socket`; or the :class:`HandshakeRejected` that ``check``
    raised (the HTTP rejection has then been sent); or ``None`` when the handshake did not
    complete within ``handshake_timeout``. On exit the socket is closed (1000 unless a code
    was chosen before) within ``close_timeout``, and the stream is released.
    """
    async with trio.open_nursery() as nursery:
        try:
            with trio.move_on_after(handshake_timeout) as scope:
                request = await _wrap_server_stream(
                    nursery,
                    stream,
                    message_queue_size=message_queue_size,
                    max_message_size=max_message_bytes,
                )
            if scope.cancelled_caught:
                yield None
                return
            handshake = Handshake(
                path=_strip_query(request.path),
                headers=tuple(request.headers),
                subprotocols=request.proposed_subprotocols,
                remote=_remote(request),
            )
            try:
                check(handshake)
            except HandshakeRejected as rejected:
                extra = []
                if rejected.status == 401:
                    extra.append((b"www-authenticate", b'Basic realm="jbtrio"'))
                with trio.move_on_after(close_timeout):
                    await request.reject(
                        rejected.status, extra_headers=extra, body=rejected.reason.encode()
                    )
                yield rejected
                return
            ws = await request.accept(subprotocol=SUBPROTOCOL)
            socket = Socket(ws, stream, handshake)
            try:
                yield socket
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(close_timeout):
                    await socket.close(socket.close_code or 1000)
        finally:
            nursery.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)
