"""Serving :class:`~jbtrio.audio.AudioRoutes` without the jbtrio listener, for tests.

Until the listener routes ``audio.drachtio.org`` sockets itself, this is how a test (or a
script) puts audio handlers behind a websocket: :func:`open_audio_server` gives a connector
for the fake's :class:`~jbtrio.testing._audio.FakeAudioLeg` over in-memory streams (and can
listen on TCP). The server side is trio-websocket, wrapped as an
:class:`~jbtrio.audio.AudioSocket` by :class:`WebSocketAudioSocket`; every connection runs
in a fortress (nothing escapes it).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from jbtrio.audio import SUBPROTOCOL, AudioRoutes, AudioStreamClosed

__all__ = ["AudioTestServer", "WebSocketAudioSocket", "open_audio_server", "serve_audio_stream"]

log = logging.getLogger("jbtrio.testing.audio")


class WebSocketAudioSocket:
    """An :class:`~jbtrio.audio.AudioSocket` over an accepted trio-websocket connection."""

    def __init__(
        self, ws: WebSocketConnection, stream: trio.abc.Stream, close_timeout: float = 5.0
    ) -> None:
        self._ws = ws
        self._stream = stream
        self._close_timeout = close_timeout

    async def receive(self) -> str | bytes:
        try:
            return await self._ws.get_message()
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def send(self, message: str | bytes) -> None:
        try:
            await self._ws.send_message(message)
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        with trio.move_on_after(self._close_timeout):
            await self._ws.aclose(code, reason)
        await trio.aclose_forcefully(self._stream)

    async def abort(self, reason: str) -> None:
        await trio.aclose_forcefully(self._stream)


def _closed(exc: ConnectionClosed) -> AudioStreamClosed:
    reason = exc.reason
    return AudioStreamClosed(reason.code if reason else 1006, reason.reason if reason else None)


async def serve_audio_stream(
    stream: trio.abc.Stream,
    routes: AudioRoutes,
    *,
    username: str | None = None,
    password: str | None = None,
    handshake_timeout: float = 10.0,
    max_message_bytes: int = 1 << 20,
) -> None:
    """Upgrade ``stream`` and serve it with ``routes``; never raises (but cancellation).

    The upgrade is refused unless the client offers ``audio.drachtio.org`` (400), sends the
    credentials when ``username``/``password`` are set (401), and ``routes.check`` accepts
    the path (404, 503).
    """
    try:
        async with trio.open_nursery() as nursery:
            request = None
            with trio.move_on_after(handshake_timeout):
                request = await wrap_server_stream(
                    nursery,
                    stream,  # any trio Stream works
                    message_queue_size=16,
                    max_message_size=max_message_bytes,
                )
            if request is None:
                log.warning("audio handshake not completed within %g s", handshake_timeout)
                nursery.cancel_scope.cancel()
                return
            path = request.path.split("?", 1)[0] or "/"
            refusal = _refusal(request, routes, path, username, password)
            if refusal is not None:
                log.warning("audio upgrade on %s refused: %s", path, refusal[1])
                await request.reject(refusal[0], body=refusal[1].encode())
                nursery.cancel_scope.cancel()
                return
            ws = await request.accept(subprotocol=SUBPROTOCOL)
            await routes.serve(WebSocketAudioSocket(ws, stream), path, remote=str(request.remote))
            nursery.cancel_scope.cancel()
    except* Exception as group:
        log.error("audio connection failed", exc_info=group)
    finally:
        await trio.aclose_forcefully(stream)


def _refusal(
    request: object,
    routes: AudioRoutes,
    path: str,
    username: str | None,
    password: str | None,
) -> tuple[int, str] | None:
    offered = getattr(request, "proposed_subprotocols", ())
    if SUBPROTOCOL not in offered:
        return 400, f"subprotocol {SUBPROTOCOL} required"
    if username is not None and password is not None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        headers = dict(getattr(request, "headers", ()))
        if headers.get(b"authorization") != f"Basic {token}".encode():
            return 401, "bad or missing credentials"
    return routes.check(path)


class AudioTestServer:
    """Audio routes served in a nursery; :meth:`connect` is a fake-jambonz connector."""

    def __init__(
        self,
        routes: AudioRoutes,
        nursery: trio.Nursery,
        *,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.routes = routes
        self.port: int | None = None
        self._nursery = nursery
        self._username = username
        self._password = password

    async def _serve(self, stream: trio.abc.Stream) -> None:
        await serve_audio_stream(
            stream, self.routes, username=self._username, password=self._password
        )

    async def connect(self) -> trio.abc.Stream:
        """A client stream to the server, in memory (pass it as the fake's connector)."""
        client, server = trio.testing.memory_stream_pair()
        self._nursery.start_soon(self._serve, server, name="audio test server connection")
        return client

    async def listen_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Also accept TCP connections on ``host:port``; returns the bound port."""
        listeners = await self._nursery.start(partial(trio.serve_tcp, self._serve, port, host=host))
        self.port = int(listeners[0].socket.getsockname()[1])
        return self.port


@asynccontextmanager
async def open_audio_server(
    routes: AudioRoutes, *, username: str | None = None, password: str | None = None
) -> AsyncIterator[AudioTestServer]:
    """``async with open_audio_server(routes) as server:`` — served until the block ends."""
    async with trio.open_nursery() as nursery:
        yield AudioTestServer(routes, nursery, username=username, password=password)
        nursery.cancel_scope.cancel(reason="audio test server closed")
