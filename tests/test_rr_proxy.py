"""The round-robin proxy fixture itself: rotation, skipping a backend that refuses, kill."""

from __future__ import annotations

import trio

from fuzz.rr_proxy import RoundRobinProxy


async def test_connections_rotate_and_skip_dead_backends() -> None:
    async def backend(name: bytes, stream: trio.SocketStream) -> None:
        async with stream:
            try:
                while data := await stream.receive_some(100):
                    await stream.send_all(name + data)
            except trio.BrokenResourceError:
                pass  # the proxy reset it (kill)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            ports = []
            for name in (b"a:", b"b:", b"c:"):
                listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
                ports.append(listeners[0].socket.getsockname()[1])
                nursery.start_soon(trio.serve_listeners, lambda s, n=name: backend(n, s), listeners)
            proxy = RoundRobinProxy(ports)
            await nursery.start(proxy.run)
            assert proxy.port is not None

            async def ask() -> bytes:
                async with await trio.open_tcp_stream("127.0.0.1", proxy.port or 0) as s:
                    await s.send_all(b"hi")
                    return await s.receive_some(100)

            assert [await ask() for _ in range(4)] == [b"a:hi", b"b:hi", b"c:hi", b"a:hi"]
            proxy.kill(1)
            assert [await ask() for _ in range(3)] == [b"c:hi", b"a:hi", b"c:hi"]
            held = await trio.open_tcp_stream("127.0.0.1", proxy.port)
            await held.send_all(b"x")
            assert await held.receive_some(100) == b"a:x"
            proxy.kill(0)  # its live connection is reset
            try:
                got = await held.receive_some(100)
            except trio.BrokenResourceError:
                got = b"reset"
            assert got in (b"", b"reset")
            await held.aclose()
            proxy.revive(1)
            assert await ask() in (b"b:hi", b"c:hi")
            nursery.cancel_scope.cancel()
