"""The transport on its own: websockets' sans-IO core driven by jbtrio's Trio adapter.

The peer is websockets' sans-IO *client* over an in-memory stream, so each test can send
exactly the frames it needs (fragments, bad UTF-8, pings) that a friendly client never would.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from _ws_peer import connected
from websockets.frames import Frame, Opcode

from jbtrio._runtime._transport import Keepalive, SocketClosed


async def test_a_fragmented_text_message_arrives_whole(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected() as (socket, peer):
        peer.protocol.send_text(b'{"type":', fin=False)
        peer.protocol.send_continuation(b'"call:status",', fin=False)
        peer.protocol.send_continuation(b'"msgid":"m1"}', fin=True)
        await peer.flush()
        assert await socket.receive() == '{"type":"call:status","msgid":"m1"}'


async def test_binary_frames_come_back_as_bytes(autojump_clock: trio.testing.MockClock) -> None:
    async with connected() as (socket, peer):
        peer.protocol.send_binary(b"\x00\x01")
        await peer.flush()
        assert await socket.receive() == b"\x00\x01"


async def test_invalid_utf8_in_a_text_frame_closes_with_1007(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected() as (socket, peer):
        peer.protocol.send_text(b"\xff\xfe not utf-8")
        await peer.flush()
        with pytest.raises(SocketClosed) as closed:
            await socket.receive()
        assert closed.value.code == 1007
        frame = await peer.next_frame()
        assert frame.opcode is Opcode.CLOSE


async def test_a_message_over_the_limit_closes_with_1009(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected() as (socket, peer):
        peer.protocol.send_text(b"x" * 5000)
        await peer.flush()
        with pytest.raises(SocketClosed) as closed:
            await socket.receive()
        assert closed.value.code == 1009


async def test_pings_are_answered_by_the_reader(autojump_clock: trio.testing.MockClock) -> None:
    async with connected() as (socket, peer), trio.open_nursery() as nursery:
        nursery.start_soon(socket.receive)  # the reader answers control frames as it reads
        peer.protocol.send_ping(b"abcd")
        await peer.flush()
        frame = await peer.next_frame()
        assert (frame.opcode, bytes(frame.data)) == (Opcode.PONG, b"abcd")
        nursery.cancel_scope.cancel()


async def test_text_sent_is_one_frame_and_a_close_is_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected() as (socket, peer):
        await socket.send('{"type":"ack","msgid":"m1"}')
        frame = await peer.next_frame()
        assert (frame.opcode, bytes(frame.data)) == (Opcode.TEXT, b'{"type":"ack","msgid":"m1"}')
        peer.protocol.send_close(1000)
        await peer.flush()
        with pytest.raises(SocketClosed) as closed:
            await socket.receive()
        assert closed.value.code == 1000
        with pytest.raises(SocketClosed):
            await socket.send("too late")


async def test_keepalive_pings_and_a_missing_pong(autojump_clock: trio.testing.MockClock) -> None:
    async with connected(keepalive=Keepalive(2.0, 1.0)) as (socket, peer):
        start = trio.current_time()
        assert socket.keepalive_at == pytest.approx(start + 2.0)
        assert socket.keepalive(start + 2.0)  # a ping is queued ...
        await socket.flush()  # ... and written by whoever writes
        frame = await peer.next_frame()
        assert frame.opcode is Opcode.PING
        assert socket.keepalive_at == pytest.approx(start + 3.0)  # the pong deadline
        assert not socket.keepalive(start + 3.0)  # no pong: the peer is gone


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frames_are_framed_as_websockets_frames_them(size: int) -> None:
    from websockets.frames import Opcode

    from jbtrio._runtime._transport import text_frame

    payload = b"x" * size
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
