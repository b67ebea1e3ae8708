"""The trio-websocket backend (``ServerConfig(transport="trio-websocket")``, ``jbtrio serve
--transport trio-websocket``): the listener the project's design card names, behind the
same seam as the default backend and held to the same transport suite.

The upgrade is trio-websocket's (``wrap_server_stream``: wsproto's handshake), raced against
the end of the stream so that a malformed request or a peer that leaves is noticed at once
rather than at the handshake timeout; the socket is :class:`~._tws_socket.TwsSocket`. A
connection upgraded elsewhere is adopted by replaying an upgrade request to trio-websocket
(its 101 dropped: the peer had one already), and the routing peek is the backends' shared
frame reader (:mod:`._frame_reader`). What this backend cannot do as the default one does is
listed in the README (Hardening).
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress

import attrs
import trio
from trio_websocket import WebSocketRequest, wrap_server_stream

from ._frame_reader import FrameReader
from ._rawstream import RawSocketStream, remote_address, take_over
from ._transport_api import (
    FEED_SLICE,
    Check,
    FramePeek,
    Handshake,
    HandshakeFailed,
    HandshakeRejected,
    SocketOptions,
)
from ._tws_socket import GuardedStream, TwsSocket

__all__ = ["TrioWebsocketTransport", "TwsUpgrade"]

#: Messages trio-websocket's reader may hold for the socket's reader (its default, 1: see
#: :mod:`._tws_socket` for why that is enough, and the memory it bounds).
MESSAGE_QUEUE = 1


def _close_frame(code: int, reason: str) -> bytes:
    """A server's (unmasked) close frame."""
    payload = code.to_bytes(2, "big") + reason.encode()[:120]
    return bytes((0x88, len(payload))) + payload


@attrs.frozen
class TwsUpgrade:
    """This backend's :class:`~._transport_api.Upgrade`."""

    stream: trio.abc.Stream
    handshake: Handshake
    subprotocol: str
    received: bytes

    async def close(self, code: int, reason: str) -> None:
        # A close frame and the 101 fit any socket buffer: this send cannot stall.
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.stream.send_all(_close_frame(code, reason))


class TrioWebsocketTransport:
    """:class:`~._transport_api.Transport` on trio-websocket."""

    name = "trio-websocket"

    def open_socket(
        self,
        stream: trio.abc.Stream,
        options: SocketOptions,
        check: Check,
        *,
        handshake_scope: trio.CancelScope | None = None,
    ) -> AbstractAsyncContextManager[TwsSocket | HandshakeRejected | HandshakeFailed]:
        return _open(stream, options, check, handshake_scope, upgrade_only=False)

    def open_upgrade(
        self,
        stream: trio.abc.Stream,
        options: SocketOptions,
        check: Check,
        *,
        handshake_scope: trio.CancelScope | None = None,
    ) -> AbstractAsyncContextManager[TwsUpgrade | HandshakeRejected | HandshakeFailed]:
        return _open_upgrade(stream, options, check, handshake_scope)

    def adopt_socket(
        self,
        stream: trio.abc.Stream,
        handshake: Handshake,
        subprotocol: str,
        received: bytes,
        options: SocketOptions,
    ) -> AbstractAsyncContextManager[TwsSocket]:
        return _adopt(stream, handshake, subprotocol, received, options)

    def peek(self, options: SocketOptions, max_bytes: int) -> FramePeek:
        return FrameReader(
            options.max_message_bytes, max_bytes, max_fragments=options.max_fragments
        )


@asynccontextmanager
async def _open(
    stream: trio.abc.Stream,
    options: SocketOptions,
    check: Check,
    handshake_scope: trio.CancelScope | None,
    *,
    upgrade_only: bool,
) -> AsyncIterator[TwsSocket | HandshakeRejected | HandshakeFailed]:
    raw = take_over(stream)
    guarded = GuardedStream(raw, options.max_fragments, upgrade_only=upgrade_only)
    try:
        async with trio.open_nursery() as nursery:
            outcome = await _handshake(
                nursery, guarded, raw, options, check, handshake_scope=handshake_scope
            )
            if isinstance(outcome, TwsSocket):
                try:
                    yield outcome
                finally:
                    with trio.CancelScope(shield=True):
                        await outcome.close(outcome.close_code or 1000)
            nursery.cancel_scope.cancel()  # trio-websocket's reader
        if not isinstance(outcome, TwsSocket):
            yield outcome  # outside the nursery: its cancellation is not the caller's
    finally:
        await _release(raw, stream)


@asynccontextmanager
async def _open_upgrade(
    stream: trio.abc.Stream,
    options: SocketOptions,
    check: Check,
    handshake_scope: trio.CancelScope | None,
) -> AsyncIterator[TwsUpgrade | HandshakeRejected | HandshakeFailed]:
    raw = take_over(stream)
    guarded = GuardedStream(raw, options.max_fragments, upgrade_only=True)
    try:
        async with trio.open_nursery() as nursery:
            outcome = await _handshake(
                nursery, guarded, raw, options, check, handshake_scope=handshake_scope
            )
            # trio-websocket's reader waits in the guard, which reads nothing more: done.
            nursery.cancel_scope.cancel()
        if isinstance(outcome, TwsSocket):
            yield TwsUpgrade(raw, outcome.handshake, outcome.subprotocol, guarded.held)
        else:
            yield outcome
    finally:
        await _release(raw, stream)


async def _release(raw: trio.abc.Stream, original: trio.abc.Stream) -> None:
    if isinstance(raw, RawSocketStream):
        raw.close_now()
    else:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(raw)
    if raw is not original:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(original)  # its socket was detached: no-op


async def _handshake(
    nursery: trio.Nursery,
    guarded: GuardedStream,
    raw: trio.abc.Stream,
    options: SocketOptions,
    check: Check,
    *,
    handshake_scope: trio.CancelScope | None,
) -> TwsSocket | HandshakeRejected | HandshakeFailed:
    """The upgrade within the handshake timeout (or ``handshake_scope``)."""
    scope = trio.CancelScope() if handshake_scope is None else handshake_scope
    if scope.deadline == math.inf:
        scope.deadline = trio.current_time() + options.handshake_timeout
    outcome: TwsSocket | HandshakeRejected | HandshakeFailed = HandshakeFailed(
        f"handshake not completed within {options.handshake_timeout:g} s"
    )
    with scope:
        request = await _request(nursery, guarded, options)
        if isinstance(request, WebSocketRequest):
            outcome = await _decide(request, nursery, guarded, raw, options=options, check=check)
        else:
            outcome = request
    if scope.cancelled_caught and trio.current_time() < scope.deadline:
        outcome = HandshakeFailed("handshake cut short to make room (max_handshakes)")
    return outcome


async def _request(
    nursery: trio.Nursery, guarded: GuardedStream, options: SocketOptions
) -> WebSocketRequest | HandshakeRejected | HandshakeFailed:
    """trio-websocket's request, or why there is none: it waits for one for ever once the
    stream ended, so the wait is raced with the stream's end."""
    request: WebSocketRequest | None = None
    async with trio.open_nursery() as race:

        async def get() -> None:
            nonlocal request
            request = await wrap_server_stream(
                nursery,
                guarded,
                message_queue_size=MESSAGE_QUEUE,
                max_message_size=options.max_message_bytes,
                receive_buffer_size=FEED_SLICE,
            )
            race.cancel_scope.cancel()

        async def ended() -> None:
            await guarded.ended.wait()
            race.cancel_scope.cancel()

        race.start_soon(get, name="jbtrio upgrade")
        race.start_soon(ended, name="jbtrio upgrade end")
    if request is not None:
        return request
    if guarded.closed_here and not guarded.eof:
        # wsproto failed the request; trio-websocket answered 400 (when it could) and closed.
        return HandshakeRejected(400, "malformed HTTP request")
    return HandshakeFailed(
        "connection closed in the middle of the upgrade request"
        if guarded.seen
        else "connection closed before the upgrade request"
    )


def _strip_query(target: str) -> str:
    return target.split("?", 1)[0].split("#", 1)[0] or "/"


async def _decide(
    request: WebSocketRequest,
    nursery: trio.Nursery,
    guarded: GuardedStream,
    raw: trio.abc.Stream,
    *,
    options: SocketOptions,
    check: Check,
) -> TwsSocket | HandshakeRejected:
    handshake = Handshake(
        path=_strip_query(request.path),
        headers=tuple((bytes(k).lower(), bytes(v)) for k, v in request.headers),
        subprotocols=tuple(request.proposed_subprotocols),
        remote=remote_address(raw),
    )
    try:
        subprotocol = check(handshake)
    except HandshakeRejected as rejected:
        headers = [(b"www-authenticate", b'Basic realm="jbtrio"')] if rejected.status == 401 else []
        await request.reject(
            rejected.status, extra_headers=headers, body=f"{rejected.reason}\n".encode()
        )
        return rejected
    ws = await request.accept(subprotocol=subprotocol)
    return TwsSocket(
        ws,
        guarded,
        handshake,
        subprotocol,
        keepalive=options.keepalive,
        close_timeout=options.close_timeout,
        nursery=nursery,
    )


def _replayed_request(handshake: Handshake, subprotocol: str) -> bytes:
    """An upgrade request for ``handshake``'s path and ``subprotocol``, to open a connection
    upgraded elsewhere in trio-websocket's own way."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {handshake.path} HTTP/1.1\r\nHost: jbtrio\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
    ).encode("latin-1")


@asynccontextmanager
async def _adopt(
    stream: trio.abc.Stream,
    handshake: Handshake,
    subprotocol: str,
    received: bytes,
    options: SocketOptions,
) -> AsyncIterator[TwsSocket]:
    guarded = GuardedStream(
        stream,
        options.max_fragments,
        replay=_replayed_request(handshake, subprotocol),
        received=received,
    )
    try:
        async with trio.open_nursery() as nursery:
            request = await wrap_server_stream(
                nursery,
                guarded,
                message_queue_size=MESSAGE_QUEUE,
                max_message_size=options.max_message_bytes,
                receive_buffer_size=FEED_SLICE,
            )
            ws = await request.accept(subprotocol=subprotocol)
            socket = TwsSocket(
                ws,
                guarded,
                handshake,
                subprotocol,
                keepalive=options.keepalive,
                close_timeout=options.close_timeout,
                nursery=nursery,
            )
            try:
                yield socket
            finally:
                with trio.CancelScope(shield=True):
                    await socket.close(socket.close_code or 1000)
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)
