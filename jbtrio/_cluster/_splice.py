"""Splicing two TCP streams: every byte one side sends goes to the other, both ways, until
both are done.

One task per direction, each reading a chunk and writing it whole before reading again, so
a side that does not read holds back only the direction that feeds it (TCP's own flow
control, end to end: nothing is buffered here beyond one chunk per direction). An end of
stream is passed on as a half-close (``shutdown(SHUT_WR)``) and the other direction goes on;
an error on either side (a reset, a write to a closed peer) ends both at once, each stream
closed with a reset where the socket allows (``SO_LINGER`` 0), so the peer sees an abort
rather than a clean end. Once one direction has ended, the other has ``linger`` seconds to
end too (a websocket peer closes its side right after the close handshake; one that keeps
a half-closed connection open for ever is cut). Otherwise nothing here has a timeout: the
websocket ends decide when a connection is dead (their pings, their send-stall bound),
and ``TCP_USER_TIMEOUT`` with keepalive on the relay connection
(:func:`tune_relay_socket`) bounds a vanished host.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from contextlib import suppress

import attrs
import trio

__all__ = ["CHUNK", "LINGER", "Spliced", "abort_stream", "splice", "tune_relay_socket"]

#: Bytes read at a time, per direction.
CHUNK = 65536


@attrs.define
class Spliced:
    """What went through (for the relay's counters): bytes and chunks each way, and how it
    ended."""

    bytes_out: int = 0
    """From the first stream to the second."""
    chunks_out: int = 0
    bytes_back: int = 0
    """From the second stream to the first."""
    chunks_back: int = 0
    aborted: str | None = None
    """Why it was torn down, if it did not end with both sides closing cleanly."""


def _socket_of(stream: trio.abc.Stream) -> socket.socket | trio.socket.SocketType | None:
    sock = getattr(stream, "socket", None)
    return sock if isinstance(sock, socket.socket | trio.socket.SocketType) else None


async def _send_eof(stream: trio.abc.Stream) -> None:
    if isinstance(stream, trio.abc.HalfCloseableStream):
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_eof()
        return
    sock = _socket_of(stream)
    if sock is not None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
    await trio.lowlevel.checkpoint()


async def abort_stream(stream: trio.abc.Stream) -> None:
    """Close ``stream`` with a reset (no FIN): the peer sees the connection aborted."""
    sock = _socket_of(stream)
    if sock is not None:
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await trio.aclose_forcefully(stream)


def tune_relay_socket(sock: socket.socket | trio.socket.SocketType, user_timeout: float) -> None:
    """Keepalive and ``TCP_USER_TIMEOUT`` on a relay connection, so that a host that
    vanished (no reset) is noticed within about ``user_timeout`` seconds, idle or not."""
    with suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        idle = max(1, int(user_timeout / 3))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, idle // 2))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(user_timeout * 1000))


#: Default seconds the other direction may go on once one has ended (see the module).
LINGER = 10.0


async def splice(
    first: trio.abc.Stream,
    second: trio.abc.Stream,
    *,
    linger: float = LINGER,
    on_chunk: Callable[[float], None] | None = None,
) -> Spliced:
    """Carry bytes between ``first`` and ``second`` until both directions ended; both
    streams are closed on return (aborted if either failed, or the second direction did
    not end within ``linger`` seconds of the first). Never raises but for cancellation
    (then both are aborted too). ``on_chunk(seconds)``, if given, gets the time each chunk
    took from its read returning to its write done (the relay's own cost per chunk)."""
    result = Spliced()
    done = trio.CancelScope()
    ended = 0

    async def pump(src: trio.abc.Stream, dst: trio.abc.Stream, out: bool) -> None:
        while True:
            try:
                data = await src.receive_some(CHUNK)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                result.aborted = result.aborted or f"read failed: {exc or type(exc).__name__}"
                done.cancel()
                return
            if not data:
                await _send_eof(dst)
                nonlocal ended
                ended += 1
                if ended == 1:
                    done.deadline = min(done.deadline, trio.current_time() + linger)
                return
            read_at = time.perf_counter()
            try:
                await dst.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                result.aborted = result.aborted or f"write failed: {exc or type(exc).__name__}"
                done.cancel()
                return
            if on_chunk is not None:
                on_chunk(time.perf_counter() - read_at)
            if out:
                result.bytes_out += len(data)
                result.chunks_out += 1
            else:
                result.bytes_back += len(data)
                result.chunks_back += 1

    try:
        with done:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pump, first, second, True, name="jbtrio relay out")
                nursery.start_soon(pump, second, first, False, name="jbtrio relay back")
        if done.cancelled_caught and result.aborted is None:
            result.aborted = f"half-closed for more than {linger:g} s"
    except BaseException:
        result.aborted = result.aborted or "cancelled"
        raise
    finally:
        with trio.CancelScope(shield=True):
            if result.aborted is None:
                await trio.aclose_forcefully(first)
                await trio.aclose_forcefully(second)
            else:
                await abort_stream(first)
                await abort_stream(second)
    return result
