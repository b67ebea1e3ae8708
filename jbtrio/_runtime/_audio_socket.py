"""An audio stream's socket (:class:`jbtrio.audio.FastAudioSocket`) over the transport seam.

:class:`~jbtrio.audio.AudioStream` knows no websocket library: it reads and writes through
this adapter, which maps the transport's :class:`~._transport_api.SocketClosed` to
:class:`~jbtrio.audio.AudioStreamClosed` and sends ``str`` as text frames, ``bytes`` (the
audio) as binary frames.
"""

from __future__ import annotations

from ..audio import AudioStreamClosed
from ._transport_api import SocketClosed, WebSocket, Written

__all__ = ["AudioSocketAdapter"]


class AudioSocketAdapter:
    """A :class:`~jbtrio.audio.FastAudioSocket` on a :class:`~._transport_api.WebSocket`."""

    __slots__ = ("_socket",)

    def __init__(self, socket: WebSocket) -> None:
        self._socket = socket

    async def receive(self) -> str | bytes:
        try:
            return await self._socket.receive()
        except SocketClosed as closed:
            raise AudioStreamClosed(closed.code, closed.reason) from None

    async def send(self, message: str | bytes) -> None:
        try:
            if isinstance(message, bytes):
                await self._socket.send_binary(message)
            else:
                await self._socket.send(message)
        except SocketClosed as closed:
            raise AudioStreamClosed(closed.code, closed.reason) from None

    def send_nowait(self, message: str | bytes) -> bool:
        if isinstance(message, bytes):
            written = self._socket.send_nowait(message, binary=True)
        else:
            written = self._socket.send_nowait(message.encode())
        return written is not Written.NONE

    @property
    def owes(self) -> bool:
        return self._socket.has_pending

    async def flush(self) -> None:
        try:
            await self._socket.flush()
        except SocketClosed as closed:
            raise AudioStreamClosed(closed.code, closed.reason) from None

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self._socket.close(code, reason)

    async def abort(self, reason: str) -> None:
        await self._socket.abort(reason)
