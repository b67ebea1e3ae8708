"""The default websocket backend: websockets' sans-IO engine driven by jbtrio's own Trio code
(:mod:`._sansio_socket`, :mod:`._sansio_upgrade`) on the raw TCP stream (:mod:`._rawstream`).

Why it is the default: the reader is the task that asks for a message (no task between the
socket and the call), a frame the kernel takes at once is written by the task that made it
(:meth:`~._sansio_socket.Socket.send_nowait`), reads wait on one edge-triggered epoll set,
and websockets' engine is maintained and fast; the README's benchmark compares it with the
trio-websocket backend in one run.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import trio

from ._frame_reader import FrameReader
from ._plain_http import PlainAnswer
from ._sansio_open import adopt_socket, open_socket
from ._sansio_upgrade import open_upgrade
from ._transport_api import (
    Check,
    FramePeek,
    Handshake,
    OpenedSocket,
    OpenedUpgrade,
    SocketOptions,
    WebSocket,
)

__all__ = ["SansIOTransport"]


class SansIOTransport:
    """:class:`~._transport_api.Transport` on websockets' sans-IO engine."""

    name = "websockets"

    def open_socket(
        self,
        stream: trio.abc.Stream,
        options: SocketOptions,
        check: Check,
        *,
        handshake_scope: trio.CancelScope | None = None,
        answer: PlainAnswer | None = None,
    ) -> OpenedSocket:
        return open_socket(stream, options, check, handshake_scope=handshake_scope, answer=answer)

    def open_upgrade(
        self,
        stream: trio.abc.Stream,
        options: SocketOptions,
        check: Check,
        *,
        handshake_scope: trio.CancelScope | None = None,
        answer: PlainAnswer | None = None,
    ) -> OpenedUpgrade:
        return open_upgrade(
            stream,
            handshake_timeout=options.handshake_timeout,
            max_message_bytes=options.max_message_bytes,
            check=check,
            handshake_scope=handshake_scope,
            answer=answer,
        )

    def adopt_socket(
        self,
        stream: trio.abc.Stream,
        handshake: Handshake,
        subprotocol: str,
        received: bytes,
        options: SocketOptions,
    ) -> AbstractAsyncContextManager[WebSocket]:
        return adopt_socket(stream, handshake, subprotocol, received, options)

    def peek(self, options: SocketOptions, max_bytes: int) -> FramePeek:
        return FrameReader(
            options.max_message_bytes, max_bytes, max_fragments=options.max_fragments
        )
