"""A frame written at once when that needs no waiting: :func:`send_nowait`, the sans-IO
socket's :meth:`~._sansio_socket.Socket.send_nowait` (bound to it as its method).

Its own module so that the compiled build compiles it (issue 23): the socket's class stays
interpreted (its parts are subclassed and hold async code), and this ran as an interpreted
call for every reply the app's task writes itself.
"""

from __future__ import annotations

from typing import Protocol

import trio
from websockets.protocol import State

from ._rawstream import RawSocketStream
from ._sansio_codec import binary_frame, text_frame
from ._sansio_engine import Engine
from ._transport_api import Written

__all__ = ["Sender", "send_nowait"]

_OPEN = State.OPEN


class Sender(Protocol):
    """What :func:`send_nowait` uses of :class:`~._sansio_socket.Socket` (not imported: its
    module imports this one)."""

    _stream: trio.abc.Stream
    _protocol: Engine
    _writing: bool
    _broken: bool
    _queued: int
    _written: int

    def _break(self, reason: str) -> None: ...


def send_nowait(socket: Sender, payload: bytes, *, binary: bool = False) -> Written:
    """Write one text (or ``binary``) frame now, if that needs no waiting (see
    :class:`~._transport_api.Written`).

    For a caller that knows no other task is writing to the socket for it (the call's
    writer is idle): a frame the kernel takes at once costs no task switch. Nothing is
    written while another write is in progress or control frames wait, on a socket that
    is not open, or on a stream that is not a plain socket (TLS, in-memory tests). A
    kernel that takes only part of the frame leaves the socket owing the rest: it goes out
    before anything else, with the next flush (or the reader's own write).
    """
    stream = socket._stream
    protocol = socket._protocol
    if (
        socket._writing
        or protocol.writes
        or socket._broken
        or protocol.state is not _OPEN
        or type(stream) is not RawSocketStream
        or stream.closed
    ):
        return Written.NONE
    frame = binary_frame(payload) if binary else text_frame(payload)
    try:
        sent = stream.socket.send(frame)
    except BlockingIOError:
        return Written.NONE
    except OSError as exc:
        socket._break(str(exc) or type(exc).__name__)  # send() raises SocketClosed now
        return Written.NONE
    socket._queued += 1
    if sent == len(frame):
        socket._written = socket._queued
        return Written.ALL
    protocol.writes.append(frame[sent:])  # the queue was empty: the rest goes out first
    return Written.PART
