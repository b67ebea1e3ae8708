"""The audio echo on jbtrio, for ``bench/audio.py``: every frame of the caller sent back.

Until jbtrio's listener serves ``audio.drachtio.org`` sockets, this serves them with a
minimal Trio driver of its own over websockets' sans-IO ``ServerProtocol`` (the engine
jbtrio's transport uses): one read loop per socket feeding the protocol, writes under a lock
(the stream's writer task and the reader's pongs/close share the socket). The app is
:class:`jbtrio.audio.AudioRoutes` with the handler a user writes::

    async for frame in stream:
        await stream.send_audio(frame)

``--bare`` is not jbtrio's audio stream: the same driver echoing each binary frame straight
from the read loop, the ceiling of this driver on this machine. Bound to 127.0.0.1.

    .venv/bin/python bench/audio_server.py PORT [--bare]    # prints "listening PORT"
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import socket
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial

import trio
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

import jbtrio
from jbtrio.audio import SUBPROTOCOL, AudioConfig, AudioRoutes, AudioStream, AudioStreamClosed

READ_SIZE = 65536


class SansIOSocket:
    """A :class:`jbtrio.audio.FastAudioSocket` on websockets' sans-IO protocol and a plain
    non-blocking socket (taken over from Trio's ``SocketStream``, as jbtrio's transport does)."""

    def __init__(self, protocol: ServerProtocol, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._protocol = protocol
        self._sock = sock
        self._messages: deque[str | bytes] = deque()
        self._lock = trio.StrictFIFOLock()
        self._owed = b""
        self._closed = False

    async def receive(self) -> str | bytes:
        protocol = self._protocol
        while not self._messages:
            if self._closed:
                raise AudioStreamClosed(*self._close_info())
            data = await self._recv()
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            for event in protocol.events_received():
                if isinstance(event, Frame):
                    if event.opcode is Opcode.BINARY:
                        self._messages.append(bytes(event.data))
                    elif event.opcode is Opcode.TEXT:
                        self._messages.append(bytes(event.data).decode())
            if protocol.writes:
                await self.flush()  # pongs, the close handshake
            if protocol.state is State.CLOSED or not data:
                self._closed = True
        return self._messages.popleft()

    async def _recv(self) -> bytes:
        while True:
            try:
                return self._sock.recv(READ_SIZE)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self._sock)
            except OSError:
                return b""

    def _close_info(self) -> tuple[int, str | None]:
        close = self._protocol.close_rcvd or self._protocol.close_sent
        return (close.code, close.reason or None) if close is not None else (1006, None)

    def _frame(self, message: str | bytes) -> None:
        if self._protocol.state is not State.OPEN or self._closed:
            raise AudioStreamClosed(*self._close_info())
        if isinstance(message, str):
            self._protocol.send_text(message.encode())
        else:
            self._protocol.send_binary(message)

    async def send(self, message: str | bytes) -> None:
        self._frame(message)
        await self.flush()

    def send_nowait(self, message: str | bytes) -> bool:
        if self._lock.locked() or self._owed or self._closed:
            return False
        self._frame(message)
        data = b"".join(self._protocol.data_to_send())
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._closed = True
            return True  # the reader sees the loss
        self._owed = data[sent:]
        return True

    @property
    def owes(self) -> bool:
        return bool(self._owed)

    async def flush(self) -> None:
        async with self._lock:
            data = self._owed + b"".join(self._protocol.data_to_send())
            self._owed = b""
            view = memoryview(data)
            while view:
                try:
                    view = view[self._sock.send(view) :]
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(self._sock)
                except OSError:
                    self._closed = True
                    raise AudioStreamClosed(1006, "connection lost") from None

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        if self._protocol.state is State.OPEN and not self._closed:
            self._protocol.send_close(code, reason or "")
            with contextlib.suppress(AudioStreamClosed):
                await self.flush()
        await self.abort("closed")

    async def abort(self, reason: str) -> None:
        if not self._closed:
            self._closed = True
        trio.lowlevel.notify_closing(self._sock)
        self._sock.close()
        await trio.lowlevel.checkpoint()


async def _upgrade(stream: trio.SocketStream) -> tuple[ServerProtocol, str] | None:
    protocol = ServerProtocol(
        subprotocols=[Subprotocol(SUBPROTOCOL)], max_size=1 << 20, logger=_QUIET
    )
    with trio.move_on_after(10):
        while True:
            data = await stream.receive_some(READ_SIZE)
            if not data:
                return None
            protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Request):
                    response = protocol.accept(event)
                    protocol.send_response(response)
                    await stream.send_all(b"".join(protocol.data_to_send()))
                    if response.status_code != 101:
                        return None
                    return protocol, event.path.split("?", 1)[0]
    return None


_QUIET = logging.getLogger("bench.audio.websockets")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def make_handler(routes: AudioRoutes, bare: bool) -> Callable[[trio.SocketStream], Awaitable[None]]:
    async def handle(stream: trio.SocketStream) -> None:
        try:
            upgraded = await _upgrade(stream)
            if upgraded is None:
                return
            protocol, path = upgraded
            trio_socket = stream.socket
            raw = socket.socket(trio_socket.family, trio_socket.type, fileno=trio_socket.detach())
            sock = SansIOSocket(protocol, raw)
            try:
                if bare:
                    await _bare_echo(sock)
                else:
                    await routes.serve(sock, path)
            finally:
                await sock.abort("done")
        except* Exception as group:
            logging.getLogger("bench.audio").error("connection failed", exc_info=group)
        finally:
            await trio.aclose_forcefully(stream)

    return handle


async def _bare_echo(socket: SansIOSocket) -> None:
    try:
        await socket.receive()  # the metadata
        while True:
            message = await socket.receive()
            if not isinstance(message, bytes):
                continue
            if not socket.send_nowait(message):
                await socket.send(message)
            elif socket.owes:
                await socket.flush()
    except AudioStreamClosed:
        return


async def main(port: int, bare: bool, max_ahead_ms: int) -> None:
    routes = AudioRoutes(max_streams=100_000, config=AudioConfig(max_ahead_ms=max_ahead_ms))

    @routes.audio("/echo")
    async def echo(stream: AudioStream) -> None:
        async for frame in stream:
            await stream.send_audio(frame)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(trio.serve_tcp, make_handler(routes, bare), port, host="127.0.0.1")
        )
        print(f"listening {listeners[0].socket.getsockname()[1]}", flush=True)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                break
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--max-ahead-ms", type=int, default=AudioConfig().max_ahead_ms)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    jbtrio.tune_gc()
    trio.run(main, args.port, args.bare, args.max_ahead_ms)
