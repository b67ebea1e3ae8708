"""Attacks on one socket that must not hurt anything else: the transport's share, held
against every backend (``transport``).

Each test reproduces an attack found against ``jbtrio serve`` (issue 16) on a socket pair or an
in-memory stream, bounded in count, and checks the bound that now holds: reads yield to the
scheduler at a bounded interval whatever the peer sends, and a message cannot be split into an
unbounded number of fragments.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing
from _ws_peer import Peer
from _ws_peer import connected as connected_over
from websockets.frames import Opcode

from jbtrio._runtime._rawstream import READ_SIZE, RawSocketStream, take_over
from jbtrio._runtime._sansio_socket import YIELD_EVERY
from jbtrio._runtime._transport_api import FEED_SLICE, MAX_FRAGMENTS, SocketClosed


def socket_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    server_end, client_end = socket.socketpair()
    client_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    server_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return (
        trio.SocketStream(trio.socket.from_stdlib_socket(server_end)),
        trio.SocketStream(trio.socket.from_stdlib_socket(client_end)),
    )


async def test_a_read_after_a_full_buffer_is_still_a_checkpoint() -> None:
    """receive_some skipped its wait (and so any checkpoint) after a read that filled the
    buffer: a peer that keeps the buffer full kept the reader from ever yielding."""
    server_end, client_end = socket_pair()
    stream = take_over(server_end)
    assert isinstance(stream, RawSocketStream)
    try:
        await client_end.send_all(b"x" * (3 * READ_SIZE))
        await stream.receive_some(READ_SIZE)  # a full buffer: more may be waiting
        with trio.testing.assert_checkpoints():
            assert len(await stream.receive_some(READ_SIZE)) == READ_SIZE
    finally:
        await stream.aclose()
        await client_end.aclose()


async def flood_and_sample(
    peer: Peer, receive: Callable[[], Awaitable[object]], count: int
) -> list[int]:
    """Have the peer send ``count`` tiny frames in one go, read them all with ``receive``
    while another task samples how many were read each time it gets to run."""
    for _ in range(count):
        peer.protocol.send_text(b"!")  # not even JSON
    await peer.flush()
    read = 0
    samples: list[int] = []

    async def sample() -> None:
        while read < count:
            samples.append(read)
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sample)
        while read < count:
            await receive()
            read += 1
    samples.append(read)
    return samples


async def test_a_flood_of_tiny_frames_lets_other_tasks_run(transport: str) -> None:
    """One read of 64 KiB holds ~9,000 tiny frames; the reader returned them all (and the
    next read's) without a checkpoint: every other call waited for the whole flood."""
    count = 20_000  # ~140 KB: more than two reads' worth
    server_end, client_end = socket_pair()
    async with connected_over(server_end, client_end, transport=transport) as (ws, peer):
        samples = await flood_and_sample(peer, ws.receive, count)
    gaps = [b - a for a, b in itertools.pairwise(samples)]
    # Between two turns of the other task the reader handles at most one slice of input or
    # YIELD_EVERY queued messages (a 4 KiB slice holds ~585 one-byte frames).
    assert max(gaps) <= max(YIELD_EVERY, FEED_SLICE // 7 + 1), max(gaps)


async def test_queued_messages_are_returned_with_a_checkpoint_every_few(transport: str) -> None:
    async with connected_over(transport=transport) as (ws, peer):
        for _ in range(YIELD_EVERY * 3):
            peer.protocol.send_text(b"!")
        await peer.flush()
        await ws.receive()
        checkpoints = 0
        for _ in range(YIELD_EVERY * 3 - 1):
            try:
                with trio.testing.assert_checkpoints():
                    await ws.receive()
                checkpoints += 1
            except AssertionError:
                pass
        assert checkpoints >= 2


async def test_empty_continuation_frames_are_bounded_per_message(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Zero-byte fragments never counted toward the size limit and each one was kept: a
    peer answering pings could grow the process for ever. Past MAX_FRAGMENTS the socket is
    failed with 1009 (message too big) and nothing is kept."""
    async with connected_over(transport=transport) as (ws, peer):
        peer.protocol.send_text(b"{", fin=False)
        for _ in range(MAX_FRAGMENTS + 10):
            peer.protocol.send_continuation(b"", fin=False)
        await peer.flush()
        with pytest.raises(SocketClosed) as closed, trio.fail_after(5):
            await ws.receive()
        assert closed.value.code == 1009
        frame = await peer.next_frame()
        assert frame.opcode is Opcode.CLOSE
        assert frame.data[:2] == (1009).to_bytes(2, "big")


async def test_the_fragment_bound_holds_however_the_frames_are_split(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    """The bound holds when the frames arrive a byte at a time (headers split across
    reads), and a message just under it still arrives."""
    async with connected_over(transport=transport, max_fragments=20) as (ws, peer):
        peer.protocol.send_text(b"{", fin=False)
        for _ in range(18):
            peer.protocol.send_continuation(b"", fin=False)
        peer.protocol.send_continuation(b"}", fin=True)
        peer.protocol.send_text(b"[", fin=False)
        for _ in range(30):
            peer.protocol.send_continuation(b"", fin=False)
        data = b"".join(peer.protocol.data_to_send())

        async def trickle() -> None:
            with contextlib.suppress(trio.BrokenResourceError):  # closed at the bound
                for byte in data:
                    await peer.stream.send_all(bytes([byte]))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trickle)
            assert await ws.receive() == "{}"
            with pytest.raises(SocketClosed) as closed, trio.fail_after(5):
                await ws.receive()
            assert closed.value.code == 1009


async def test_a_message_in_many_fragments_under_the_bound_arrives_whole(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with connected_over(transport=transport) as (ws, peer):
        peer.protocol.send_text(b'{"type":', fin=False)
        for _ in range(MAX_FRAGMENTS - 3):
            peer.protocol.send_continuation(b"", fin=False)
        peer.protocol.send_continuation(b'"x"}', fin=True)
        await peer.flush()
        assert await ws.receive() == '{"type":"x"}'
