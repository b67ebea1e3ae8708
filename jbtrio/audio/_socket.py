"""The socket an audio stream runs on: what :class:`AudioStream` needs from the listener.

The listener accepts the websocket (upgrade, subprotocol ``audio.drachtio.org``, auth) and
hands the stream an object with this shape; a stream never sees the websocket library.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["FLUSH", "AudioSocket", "FastAudioSocket", "Flush"]


class AudioSocket(Protocol):
    """What an audio stream needs from an accepted websocket (one reader, one writer).

    ``receive`` returns the next message (``str`` for a text frame, ``bytes`` for a binary
    one) and raises :class:`AudioStreamClosed` (with the close code) once the socket is done;
    ``send`` writes a ``str`` as a text frame and ``bytes`` as a binary frame, raising
    :class:`AudioStreamClosed` if the socket is gone; ``close`` runs the close handshake
    (bounded, never raises); ``abort`` drops the connection at once (it unblocks a stalled
    ``send``).
    """

    async def receive(self) -> str | bytes: ...

    async def send(self, message: str | bytes) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...

    async def abort(self, reason: str) -> None: ...


class FastAudioSocket(AudioSocket, Protocol):
    """An :class:`AudioSocket` that can also write without waiting (optional).

    ``send_nowait`` writes a message at once if that needs no waiting and returns True, or
    returns False having written nothing; a message it took but the kernel took only part
    of is *owed* (:attr:`owes`) and :meth:`flush` writes the rest. The stream uses it only
    when its writer task is idle and has nothing queued, so order is kept; it saves the task
    switch to the writer for nearly every frame.
    """

    def send_nowait(self, message: str | bytes) -> bool: ...

    @property
    def owes(self) -> bool: ...

    async def flush(self) -> None: ...


class Flush:
    """Queued for the writer after a partial :meth:`FastAudioSocket.send_nowait`."""


FLUSH = Flush()
