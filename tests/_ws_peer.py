"""A websocket client at the frame level, for transport tests: it sends exactly the frames a
test needs (fragments, bad UTF-8, pings) that a friendly client never would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing
from websockets.client import ClientProtocol
from websockets.frames import Frame
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from jbtrio._runtime._transport_api import (
    SUBPROTOCOL,
    Handshake,
    HandshakeFailed,
    HandshakeRejected,
    Keepalive,
    SocketOptions,
    WebSocket,
)
from jbtrio._runtime._transports import transport_named


class Peer:
    """A websocket client at the frame level, on the client end of a memory stream."""

    def __init__(self, stream: trio.abc.Stream, subprotocol: str = SUBPROTOCOL) -> None:
        self.stream = stream
        self.protocol = ClientProtocol(
            parse_uri("ws://jbtrio.test/app"), subprotocols=[Subprotocol(subprotocol)]
        )
        self._pending: list[Frame] = []
        self.open = trio.Event()

    async def flush(self) -> None:
        data = b"".join(self.protocol.data_to_send())
        if data:
            await self.stream.send_all(data)

    async def handshake(self) -> None:
        """Upgrade; returns once the 101 response was read (``self.open`` is set then)."""
        self.protocol.send_request(self.protocol.connect())
        await self.flush()
        while True:
            self.protocol.receive_data(await self.stream.receive_some())
            events = self.protocol.events_received()
            if events:
                assert isinstance(events[0], Response)
                assert events[0].status_code == 101
                assert self.protocol.handshake_exc is None
                self.open.set()
                return

    async def next_frame_or_end(self) -> Frame | None:
        """The next frame, or ``None`` if the stream ends first."""
        try:
            return await self.next_frame()
        except EOFError:
            return None

    async def next_frame(self) -> Frame:
        while True:
            for event in self.protocol.events_received():
                if isinstance(event, Frame):
                    self._pending.append(event)
            if self._pending:
                return self._pending.pop(0)
            data = await self.stream.receive_some()
            if data:
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
                for event in self.protocol.events_received():
                    if isinstance(event, Frame):
                        self._pending.append(event)
                if self._pending:
                    return self._pending.pop(0)
                raise EOFError("the stream ended")


NO_PINGS = Keepalive(None, 1.0)


def options(
    keepalive: Keepalive = NO_PINGS, *, max_message_bytes: int = 4096, max_fragments: int = 1024
) -> SocketOptions:
    return SocketOptions(
        handshake_timeout=5.0,
        max_message_bytes=max_message_bytes,
        close_timeout=1.0,
        keepalive=keepalive,
        max_fragments=max_fragments,
    )


@asynccontextmanager
async def connected(
    server_end: trio.abc.Stream | None = None,
    client_end: trio.abc.Stream | None = None,
    *,
    keepalive: Keepalive = NO_PINGS,
    transport: str = "websockets",
    max_fragments: int = 1024,
) -> AsyncIterator[tuple[WebSocket, Peer]]:
    """An open socket of the ``transport`` backend and its peer: over the given streams (the
    peer's end is closed on exit), or an in-memory stream pair."""
    if server_end is None or client_end is None:
        client_end, server_end = trio.testing.memory_stream_pair()
    peer = Peer(client_end)

    def accept(_: Handshake) -> str:
        return SUBPROTOCOL

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer.handshake)
        async with transport_named(transport).open_socket(
            server_end, options(keepalive, max_fragments=max_fragments), accept
        ) as outcome:
            assert not isinstance(outcome, HandshakeRejected | HandshakeFailed), outcome
            await peer.open.wait()
            try:
                yield outcome, peer
            finally:
                await client_end.aclose()
