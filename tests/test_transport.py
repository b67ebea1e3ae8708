"""The transport seam, held against every backend (``transport``: websockets' sans-IO engine
driven by jbtrio, and trio-websocket): the behaviour the runtime relies on from a
:class:`~jbtrio._runtime._transport_api.WebSocket`, an upgrade alone, an adopted socket.

The peer is websockets' sans-IO *client* over an in-memory stream or a socket pair, so each
test can send exactly the frames it needs (fragments, bad UTF-8, pings) that a friendly
client never would. The attacks on one socket are in ``test_attacks_transport.py`` (also
for every backend); what only the sans-IO backend has (writes from the replying task, the
read poller) in ``test_socket_io.py``.
"""

from __future__ import annotations

import socket
from contextlib import suppress

import pytest
import trio
import trio.testing
from _ws_peer import Peer, connected, options
from websockets.frames import Opcode

from jbtrio._runtime._transport_api import (
    AUDIO_SUBPROTOCOL,
    SUBPROTOCOL,
    Handshake,
    HandshakeRejected,
    Keepalive,
    Peeked,
    PeekEnd,
    SocketClosed,
    WebSocket,
)
from jbtrio._runtime._transports import transport_named


def socket_pair(buffer: int | None = None) -> tuple[trio.SocketStream, trio.SocketStream]:
    """(server end, client end); ``buffer`` shrinks the server's send buffer and the client's
    receive buffer, so that frames fill them."""
    server_end, client_end = socket.socketpair()
    if buffer is not None:
        server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
        client_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
    return (
        trio.SocketStream(trio.socket.from_stdlib_socket(server_end)),
        trio.SocketStream(trio.socket.from_stdlib_socket(client_end)),
    )


async def read_all(ws: WebSocket) -> None:
    with suppress(SocketClosed):
        while True:
            await ws.receive()


# ---------------------------------------------------------------------- messages


async def test_a_fragmented_text_message_arrives_whole(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with connected(transport=transport) as (socket, peer):
        peer.protocol.send_text(b'{"type":', fin=False)
        peer.protocol.send_continuation(b'"call:status",', fin=False)
        peer.protocol.send_continuation(b'"msgid":"m1"}', fin=True)
        await peer.flush()
        assert await socket.receive() == '{"type":"call:status","msgid":"m1"}'


async def test_binary_frames_come_back_as_bytes(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with connected(transport=transport) as (socket, peer):
        peer.protocol.send_binary(b"\x00\x01")
        await peer.flush()
        assert await socket.receive() == b"\x00\x01"


async def test_text_and_binary_sent_are_one_frame_each(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with connected(transport=transport) as (socket, peer):
        await socket.send('{"type":"ack","msgid":"m1"}')
        await socket.send(b'{"type":"ack","msgid":"m2"}')  # bytes are UTF-8 text already
        await socket.send_binary(b"\x00\xff" * 200)
        frames = [await peer.next_frame() for _ in range(3)]
        assert [(f.opcode, bytes(f.data)) for f in frames] == [
            (Opcode.TEXT, b'{"type":"ack","msgid":"m1"}'),
            (Opcode.TEXT, b'{"type":"ack","msgid":"m2"}'),
            (Opcode.BINARY, b"\x00\xff" * 200),
        ]


async def test_a_close_is_answered_and_ends_the_socket(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with connected(transport=transport) as (socket, peer):
        peer.protocol.send_close(1001, "going away")
        await peer.flush()
        with pytest.raises(SocketClosed) as closed:
            await socket.receive()
        assert (closed.value.code, closed.value.reason) == (1001, "going away")
        assert (socket.close_code, socket.closed_by_us) == (1001, False)
        frame = await peer.next_frame()
        assert frame.opcode is Opcode.CLOSE
        with pytest.raises(SocketClosed):
            await socket.send("too late")


async def test_a_close_of_ours_keeps_its_code(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with connected(transport=transport) as (socket, peer):

        async def answer() -> None:
            frame = await peer.next_frame()
            assert frame.opcode is Opcode.CLOSE
            await peer.flush()  # the protocol answered the close

        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer)
            await socket.close(1011, "reconnect please")
        assert (socket.close_code, socket.close_reason) == (1011, "reconnect please")
        assert socket.closed_by_us


def accept_jambonz(_: Handshake) -> str:
    return SUBPROTOCOL


async def test_leaving_an_open_socket_from_a_cancelled_scope_still_closes_it(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    """The close on exit is shielded: the close frame goes out and the peer's is awaited
    (within the close timeout) even when the caller was cancelled."""
    client_end, server_end = trio.testing.memory_stream_pair()
    peer = Peer(client_end)
    frames = []

    async def answer() -> None:
        frame = await peer.next_frame()
        frames.append(frame.opcode)
        await peer.flush()  # the client's echo

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer.handshake)
        with trio.CancelScope() as scope:
            async with transport_named(transport).open_socket(
                server_end, options(), accept_jambonz
            ) as ws:
                await peer.open.wait()
                nursery.start_soon(answer)
                scope.cancel()
                await trio.sleep(1)  # cancelled here
        assert scope.cancelled_caught
        assert trio.current_time() <= 1.0  # within the close timeout
        assert frames == [Opcode.CLOSE]
        assert (ws.close_code, ws.closed_by_us) == (1000, True)  # type: ignore[union-attr]


async def test_leaving_a_socket_the_peer_closed_from_a_cancelled_scope_releases_it(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    peer = Peer(client_end)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer.handshake)
        with trio.CancelScope() as scope:
            async with transport_named(transport).open_socket(
                server_end, options(), accept_jambonz
            ) as ws:
                await peer.open.wait()
                peer.protocol.send_close(1000, "bye")
                await peer.flush()
                with pytest.raises(SocketClosed):
                    await ws.receive()  # type: ignore[union-attr]
                scope.cancel()
        assert (ws.close_code, ws.close_reason, ws.closed_by_us) == (1000, "bye", False)  # type: ignore[union-attr]
        frame = await peer.next_frame()
        assert frame.opcode is Opcode.CLOSE  # the echo
        assert await peer.next_frame_or_end() is None  # and the stream released


async def test_invalid_utf8_in_a_text_frame_closes_with_1007(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with connected(transport=transport) as (socket, peer):
        peer.protocol.send_text(b"\xff\xfe not utf-8")
        await peer.flush()
        with pytest.raises(SocketClosed) as closed:
            await socket.receive()
        assert closed.value.code == 1007
        # The sans-IO backend sends the close frame; trio-websocket only closes the stream
        # (wsproto reports the failure without a frame to send): either way the peer is done.
        frame = await peer.next_frame_or_end()
        assert frame is None or frame.opcode is Opcode.CLOSE


async def test_a_message_over_the_limit_closes_with_1009(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with connected(transport=transport) as (socket, peer):
        peer.protocol.send_text(b"x" * 5000)
        await peer.flush()
        with pytest.raises(SocketClosed) as closed:
            await socket.receive()
        assert closed.value.code == 1009
        frame = await peer.next_frame()
        assert frame.opcode is Opcode.CLOSE


# ---------------------------------------------------------------------- pings


async def test_pings_are_answered_by_the_reader(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with connected(transport=transport) as (socket, peer), trio.open_nursery() as nursery:
        nursery.start_soon(socket.receive)  # the reader answers control frames as it reads
        peer.protocol.send_ping(b"abcd")
        await peer.flush()
        frame = await peer.next_frame()
        assert (frame.opcode, bytes(frame.data)) == (Opcode.PONG, b"abcd")
        nursery.cancel_scope.cancel()


async def test_keepalive_pings_and_a_missing_pong(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with connected(keepalive=Keepalive(2.0, 1.0), transport=transport) as (socket, peer):
        start = trio.current_time()
        assert socket.keepalive_at == pytest.approx(start + 2.0)
        assert not socket.has_pending
        assert socket.keepalive(start + 2.0)  # a ping is made pending ...
        assert socket.has_pending
        await socket.flush()  # ... and sent by whoever writes
        frame = await peer.next_frame()
        assert frame.opcode is Opcode.PING
        assert socket.keepalive_at == pytest.approx(start + 3.0)  # the pong deadline
        assert not socket.keepalive(start + 3.0)  # no pong: the peer is gone


async def test_a_pong_puts_the_keepalive_back_on_its_interval(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with (
        connected(keepalive=Keepalive(2.0, 1.0), transport=transport) as (socket, peer),
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(read_all, socket)
        start = trio.current_time()
        assert socket.keepalive(start + 2.0)
        await socket.flush()
        await peer.next_frame()  # the ping: the protocol queued its pong
        await peer.flush()
        await trio.testing.wait_all_tasks_blocked()  # the reader took the pong
        assert socket.keepalive_at == pytest.approx(start + 4.0)  # the next ping
        nursery.cancel_scope.cancel()


async def test_a_probe_gets_its_pong_or_ends_when_the_socket_closes(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with connected(transport=transport) as (ws, peer), trio.open_nursery() as nursery:
        nursery.start_soon(read_all, ws)

        async def answer() -> None:
            await peer.next_frame()  # the ping: the protocol queues its pong
            await peer.flush()

        nursery.start_soon(answer)
        assert await ws.probe() is True

        async def close_soon() -> None:
            await trio.sleep(0.5)
            peer.protocol.send_close(1001)
            await peer.flush()

        nursery.start_soon(close_soon)
        start = trio.current_time()
        assert await ws.probe() is False  # no pong, but no waiting for one either
        assert trio.current_time() - start < 1.0


async def test_a_probe_cut_short_leaves_the_socket_usable(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    """A probe is bounded by a cancel scope; on a peer that reads, cancelling it must never
    cut a frame in half."""
    async with connected(transport=transport) as (ws, peer), trio.open_nursery() as nursery:
        nursery.start_soon(read_all, ws)
        with trio.move_on_after(0.5):
            await ws.probe()  # the peer does not answer
        await ws.send('{"after":"probe"}')
        frames = [await peer.next_frame() for _ in range(2)]
        assert [f.opcode for f in frames] == [Opcode.PING, Opcode.TEXT]
        assert bytes(frames[1].data) == b'{"after":"probe"}'
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------- stalls


async def test_a_stalled_send_is_unblocked_by_abort(transport: str) -> None:
    """No timeout around a send: the owner aborts the socket, and the send raises."""
    server_end, client_end = socket_pair(buffer=4096)
    async with connected(server_end, client_end, transport=transport) as (ws, _peer):
        failed: list[int] = []

        async def send_forever() -> None:
            try:
                while True:
                    await ws.send("x" * 4000)
            except SocketClosed as closed:
                failed.append(closed.code)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_forever)
            await trio.testing.wait_all_tasks_blocked()  # the peer reads nothing: stuck
            await ws.abort("send stalled")
        assert failed == [1006]
        assert (ws.close_code, ws.close_reason, ws.closed_by_us) == (1006, "send stalled", True)


async def test_closing_a_socket_whose_peer_never_reads_is_bounded(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    """The close frame was written with no bound: to a peer that reads nothing and whose
    buffers are full, ``close()`` (run shielded when a connection ends) waited for ever."""
    server_end, client_end = socket_pair(buffer=4096)

    async def send_forever(ws: WebSocket) -> None:
        with suppress(SocketClosed):
            while True:
                await ws.send("x" * 4000)

    async with (
        connected(server_end, client_end, transport=transport) as (ws, _peer),
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(send_forever, ws)
        await trio.testing.wait_all_tasks_blocked()  # every buffer is full
        start = trio.current_time()
        await ws.close(1000)  # close_timeout is 1 s in the helper
        assert trio.current_time() - start <= 1.5


# ---------------------------------------------------------------------- the seam's other ends


async def test_the_subprotocol_the_check_chose_is_the_sockets(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    peer = Peer(client_end, AUDIO_SUBPROTOCOL)

    def accept(handshake: Handshake) -> str:
        assert handshake.subprotocols == (AUDIO_SUBPROTOCOL,)
        assert handshake.path == "/app"
        return AUDIO_SUBPROTOCOL

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer.handshake)
        async with transport_named(transport).open_socket(server_end, options(), accept) as ws:
            await peer.open.wait()
            assert not isinstance(ws, HandshakeRejected)
            assert ws.subprotocol == AUDIO_SUBPROTOCOL  # type: ignore[union-attr]
            assert peer.protocol.subprotocol == AUDIO_SUBPROTOCOL
            await client_end.aclose()


async def test_a_refused_upgrade_gets_its_status(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    client_end, server_end = trio.testing.memory_stream_pair()
    peer = Peer(client_end)

    def refuse(_: Handshake) -> str:
        raise HandshakeRejected(401, "bad or missing credentials")

    async def upgrade() -> None:
        peer.protocol.send_request(peer.protocol.connect())
        await peer.flush()
        response = b""
        while b"\r\n\r\n" not in response:
            response += await client_end.receive_some()
        assert response.startswith(b"HTTP/1.1 401")
        assert b"www-authenticate: basic" in response.lower()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(upgrade)
        async with transport_named(transport).open_socket(server_end, options(), refuse) as ws:
            assert isinstance(ws, HandshakeRejected)
            assert ws.status == 401


async def test_an_upgrade_alone_peeks_and_a_socket_adopts_what_was_read(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    """What a routing process does: upgrade, read up to the first session message without
    consuming it, then serve the connection with every byte read (here, in-process)."""
    backend = transport_named(transport)
    client_end, server_end = trio.testing.memory_stream_pair()
    peer = Peer(client_end)

    async def client() -> None:
        await peer.handshake()
        peer.protocol.send_ping(b"early")
        peer.protocol.send_text(b'{"type":"call:status","msgid":"m0"}')
        peer.protocol.send_text(b'{"type":"session:new","msgid":"m1"}')
        await peer.flush()

    def accept(_: Handshake) -> str:
        return SUBPROTOCOL

    async with trio.open_nursery() as nursery:
        nursery.start_soon(client)
        async with backend.open_upgrade(server_end, options(), accept) as upgrade:
            assert not isinstance(upgrade, HandshakeRejected)
            assert upgrade.subprotocol == SUBPROTOCOL  # type: ignore[union-attr]
            peek = backend.peek(options(), 1 << 20)
            seen = peek.feed(upgrade.received)  # type: ignore[union-attr]
            while len([m for m in seen if isinstance(m, Peeked)]) < 2:
                seen += peek.feed(await upgrade.stream.receive_some())  # type: ignore[union-attr]
            assert [m.payload for m in seen if isinstance(m, Peeked)] == [
                b'{"type":"call:status","msgid":"m0"}',
                b'{"type":"session:new","msgid":"m1"}',
            ]
            assert not any(isinstance(m, PeekEnd) for m in seen)
            async with backend.adopt_socket(
                upgrade.stream,  # type: ignore[union-attr]
                upgrade.handshake,  # type: ignore[union-attr]
                SUBPROTOCOL,
                bytes(peek.received),
                options(),
            ) as ws:
                assert ws.subprotocol == SUBPROTOCOL
                # everything read is read again, in order: the ping answered, then the texts
                assert await ws.receive() == '{"type":"call:status","msgid":"m0"}'
                assert await ws.receive() == '{"type":"session:new","msgid":"m1"}'
                frame = await peer.next_frame()
                assert (frame.opcode, bytes(frame.data)) == (Opcode.PONG, b"early")
                await ws.send('{"type":"ack","msgid":"m1"}')
                frame = await peer.next_frame()
                assert bytes(frame.data) == b'{"type":"ack","msgid":"m1"}'
                await client_end.aclose()
