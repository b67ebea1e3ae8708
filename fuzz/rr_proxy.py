"""A round-robin TCP proxy on loopback (for the tests and the cluster soak): each new
connection goes to the next backend, bytes carried both ways until either side ends, as a
layer-4 load balancer with no stickiness does in front of several jbtrio instances.

A backend that refuses the connection is skipped (the next one is tried); :meth:`kill`
takes a backend out and resets its connections (a host that vanished); :meth:`revive` puts
it back, on a new port if it was restarted elsewhere.
"""

from __future__ import annotations

import socket
import struct
from contextlib import suppress

import attrs
import trio

__all__ = ["Backend", "RoundRobinProxy"]


@attrs.define
class Backend:
    port: int
    alive: bool = True
    connections: int = 0
    """Connections sent to it so far."""
    live: set[trio.SocketStream] = attrs.field(factory=set)


def _reset(stream: trio.SocketStream) -> None:
    with suppress(OSError):
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()


class RoundRobinProxy:
    """Listens on a free loopback port (:attr:`port`) once :meth:`run` started."""

    def __init__(self, ports: list[int]) -> None:
        self.backends = [Backend(port) for port in ports]
        self.port: int | None = None
        self.refused = 0
        """Client connections closed because no backend took them."""
        self._next = 0

    async def run(
        self, *, task_status: trio.TaskStatus[RoundRobinProxy] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self._serve, listeners, name="rr proxy")
            task_status.started(self)

    def kill(self, index: int) -> None:
        """Take backend ``index`` out of the rotation and reset its connections."""
        backend = self.backends[index]
        backend.alive = False
        for stream in list(backend.live):
            _reset(stream)

    def revive(self, index: int, port: int | None = None) -> None:
        backend = self.backends[index]
        backend.alive = True
        if port is not None:
            backend.port = port

    async def _connect(self) -> tuple[Backend, trio.SocketStream] | None:
        for _ in range(len(self.backends)):
            backend = self.backends[self._next % len(self.backends)]
            self._next += 1
            if not backend.alive:
                continue
            try:
                upstream = await trio.open_tcp_stream("127.0.0.1", backend.port)
            except OSError:
                continue
            backend.connections += 1
            return backend, upstream
        return None

    async def _serve(self, client: trio.SocketStream) -> None:
        async with client:
            connected = await self._connect()
            if connected is None:
                self.refused += 1
                return
            backend, upstream = connected
            backend.live.add(upstream)
            try:
                async with upstream, trio.open_nursery() as nursery:

                    async def pump(src: trio.SocketStream, dst: trio.SocketStream) -> None:
                        try:
                            while data := await src.receive_some(65536):
                                await dst.send_all(data)
                            await dst.send_eof()
                        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                            nursery.cancel_scope.cancel()  # one side broke: end both
                            _reset(client)

                    nursery.start_soon(pump, client, upstream, name="rr proxy out")
                    nursery.start_soon(pump, upstream, client, name="rr proxy back")
            finally:
                backend.live.discard(upstream)
