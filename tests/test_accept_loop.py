"""The accept loop's streams (:func:`jbtrio._runtime._admission.accept_loop`) over real TCP."""

from __future__ import annotations

import socket

import trio

from jbtrio._runtime._admission import accept_loop
from jbtrio._runtime._rawstream import RawSocketStream, remote_address


async def test_a_stream_knows_its_peer_as_getpeername_says_it() -> None:
    """The address the accept gave is the one the socket reports (issue 23: no
    getpeername() per connection), with the options trio.SocketStream sets."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    seen: list[tuple[str, str, int]] = []
    done = trio.Event()

    async def handler(stream: trio.abc.Stream) -> None:
        assert isinstance(stream, RawSocketStream)
        peer = stream.socket.getpeername()
        nodelay = stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        seen.append((remote_address(stream), f"{peer[0]}:{peer[1]}", nodelay))
        stream.close_now()
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept_loop, listeners, handler, nursery)
        client = await trio.open_tcp_stream("127.0.0.1", port)
        local = client.socket.getsockname()
        with trio.fail_after(10):
            await done.wait()
        await client.aclose()
        nursery.cancel_scope.cancel()
    assert seen == [(f"127.0.0.1:{local[1]}", f"127.0.0.1:{local[1]}", 1)]


def test_a_stream_without_an_address_asks_its_socket() -> None:
    a, b = socket.socketpair()
    with a, b:
        assert remote_address(RawSocketStream(a)) == "in-memory stream"  # AF_UNIX: no port
