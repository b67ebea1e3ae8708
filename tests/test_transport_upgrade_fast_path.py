"""The sans-IO upgrade's fast path (:func:`~jbtrio._runtime._sansio_upgrade.handshake`) off
its usual road: jambonz's request has arrived whole when the connection is accepted, but the
kernel takes none of the 101, or only part of it (the rest is answered in the handshake's
cancel scope), or the gate cut the upgrade short before it began (``max_handshakes``).

The fast path exists only on a plain socket (:class:`RawSocketStream`; an in-memory stream
always takes the scope), so these run over ``socket.socketpair()``, the request written by
the client end before the handshake starts, as the accept finds it. The fast path's answers
are held against the engine's in ``test_upgrade_head.py``; the socket's own writes in
``test_socket_io.py``.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing
from _attacker import hello_app, serving
from _ws_peer import options

from jbtrio._runtime import ServerConfig, _sansio_upgrade
from jbtrio._runtime._admission import HandshakeGate
from jbtrio._runtime._rawstream import RawSocketStream
from jbtrio._runtime._sansio_open import open_socket
from jbtrio._runtime._sansio_socket import Socket
from jbtrio._runtime._transport_api import SUBPROTOCOL, Handshake, HandshakeFailed

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

#: jambonz's upgrade request (the ``ws`` npm client's fields), with RFC 6455's sample key.
REQUEST = (
    b"GET /f HTTP/1.1\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nConnection: Upgrade\r\n"
    b"Upgrade: websocket\r\nSec-WebSocket-Extensions: permessage-deflate; "
    b"client_max_window_bits\r\nSec-WebSocket-Protocol: ws.jambonz.org\r\n"
    b"user-agent: jambonz\r\nHost: 10.0.0.1:3000\r\n\r\n"
)
#: The 101 for it, whichever way it is sent (its Date aside).
SWITCHING = (
    b"HTTP/1.1 101 Switching Protocols\r\nDate: -\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: ws.jambonz.org\r\n\r\n"
)
#: Its length as sent: the Date's value is 29 characters.
SWITCHING_LENGTH = len(SWITCHING) - 1 + 29
#: A masked text frame ("hi"), as a client sends it.
HI = b"\x81\x82\x01\x02\x03\x04" + bytes(a ^ b for a, b in zip(b"hi", b"\x01\x02", strict=True))
#: A masked close frame (1000, no reason), as a client sends it.
CLOSE_1000 = b"\x88\x82\x01\x02\x03\x04" + bytes(
    a ^ b for a, b in zip((1000).to_bytes(2, "big"), b"\x01\x02", strict=True)
)
#: The server's close frame (1000, no reason), unmasked.
CLOSE = b"\x88\x02\x03\xe8"
CUT_SHORT = "handshake cut short to make room (max_handshakes)"


def undated(data: bytes) -> bytes:
    return re.sub(rb"Date: [^\r\n]*\r\n", b"Date: -\r\n", data)


class Pairs:
    """Makes socket pairs whose upgrade request has arrived whole, and closes every one at
    the end of the test (even one whose server never took its end)."""

    def __init__(self) -> None:
        self.opened: list[socket.socket] = []

    def __call__(
        self, make: type[socket.socket] = socket.socket
    ) -> tuple[socket.socket, trio.SocketStream]:
        """(server end, client end); the server end made of type ``make`` (a subclass, to
        see its sends)."""
        server_end, client_end = socket.socketpair()
        client_end.sendall(REQUEST)
        if make is not socket.socket:
            server_end = make(fileno=server_end.detach())
        self.opened += [server_end, client_end]
        return server_end, trio.SocketStream(trio.socket.from_stdlib_socket(client_end))


@pytest.fixture
def arrived() -> Iterator[Pairs]:
    pairs = Pairs()
    yield pairs
    for sock in pairs.opened:
        sock.close()  # a no-op for those closed already


def fill(sock: socket.socket) -> int:
    """Fill ``sock``'s send buffer until the kernel takes not one byte more; the bytes sent."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # a small filler
    sock.setblocking(False)
    filled, chunk = 0, 65536
    while chunk:
        try:
            filled += sock.send(b"\0" * chunk)
        except BlockingIOError:
            chunk //= 2
    with pytest.raises(BlockingIOError):
        sock.send(b"H")  # not even the 101's first byte
    return filled


class TakesPart(socket.socket):
    """A socket whose first send the kernel takes only ``part`` bytes of (``part`` < 0: all
    but ``-part``), as a send into a buffer with that much room left; every count returned
    is kept in ``sent``."""

    part: int | None = None

    def __init__(self, fileno: int) -> None:
        super().__init__(fileno=fileno)
        self.sent: list[int] = []

    def send(self, data: ReadableBuffer, flags: int = 0, /) -> int:
        view = memoryview(data)
        if self.part is not None:
            view = view[: self.part if self.part > 0 else len(view) + self.part]
            self.part = None
        sent = super().send(view, flags)
        self.sent.append(sent)
        return sent


@pytest.fixture
def read_in_scope(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per upgrade whose request was read in the handshake's scope (the fast
    path not taken): these tests are about the fast path, and must not pass without it."""
    calls: list[bool] = []
    original = _sansio_upgrade.upgrade

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(True)
        return await original(*args, **kwargs)

    monkeypatch.setattr(_sansio_upgrade, "upgrade", counted)
    return calls


def accept(seen: list[Handshake]) -> Callable[[Handshake], str]:
    def check(handshake: Handshake) -> str:
        seen.append(handshake)
        return SUBPROTOCOL

    return check


async def receive_exactly(stream: trio.SocketStream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await stream.receive_some(size - len(data))
        assert chunk, f"the stream ended after {len(data)} of {size} bytes"
        data += chunk
    return data


async def receive_to_end(stream: trio.SocketStream) -> bytes:
    """Every byte until the stream ends, or is reset (closed with the request unread)."""
    data = b""
    with suppress(trio.BrokenResourceError):
        while chunk := await stream.receive_some():
            data += chunk
    return data


async def serve_one(
    server_end: socket.socket,
    scope: trio.CancelScope | None = None,
    *,
    seen: list[Handshake] | None = None,
    upgraded: trio.Event | None = None,
) -> object:
    """Upgrade ``server_end`` (as the accept loop makes it) and, once upgraded, read one
    message and close; the handshake's outcome, or the message read."""
    check = accept([] if seen is None else seen)
    with trio.fail_after(60):  # virtual time: fails at once if anything waits for ever
        async with open_socket(
            RawSocketStream(server_end), options(), check, handshake_scope=scope
        ) as outcome:
            if not isinstance(outcome, Socket):
                return outcome
            if upgraded is not None:
                upgraded.set()
            return await outcome.receive()


# ---------------------------------------------------------------------- the kernel takes none


async def test_a_101_the_kernel_takes_none_of_is_sent_in_the_scope_once_the_peer_reads(
    autojump_clock: trio.testing.MockClock, read_in_scope: list[bool], arrived: Pairs
) -> None:
    server_end, client = arrived()
    filled = fill(server_end)
    seen: list[Handshake] = []
    upgraded = trio.Event()
    got: list[object] = []
    async with trio.open_nursery() as nursery:

        async def server() -> None:
            got.append(await serve_one(server_end, seen=seen, upgraded=upgraded))

        nursery.start_soon(server)
        await trio.testing.wait_all_tasks_blocked()
        # Decided at once, on the request that had arrived; waiting for room for its 101.
        assert [h.path for h in seen] == ["/f"]
        assert not upgraded.is_set()
        assert await receive_exactly(client, filled) == b"\0" * filled
        assert undated(await receive_exactly(client, SWITCHING_LENGTH)) == SWITCHING
        await upgraded.wait()
        await client.send_all(HI + CLOSE_1000)
        assert await receive_to_end(client) == CLOSE  # the close answered, and nothing else
    assert got == ["hi"]
    assert trio.current_time() < options().handshake_timeout
    assert read_in_scope == []


async def test_a_101_the_kernel_takes_none_of_is_bounded_by_the_handshake_deadline(
    autojump_clock: trio.testing.MockClock, read_in_scope: list[bool], arrived: Pairs
) -> None:
    """The rest of the 101 is sent in the handshake's scope: a peer that never reads runs
    into its deadline (out of the scope, the send would wait for ever)."""
    server_end, client = arrived()
    filled = fill(server_end)
    outcome = await serve_one(server_end)
    assert outcome == HandshakeFailed("handshake not completed within 5 s")
    assert trio.current_time() == pytest.approx(options().handshake_timeout)
    assert await receive_to_end(client) == b"\0" * filled  # and no 101
    assert read_in_scope == []


# ---------------------------------------------------------------------- the kernel takes part


async def switched(
    arrived: Pairs, make: type[socket.socket], part: int | None
) -> tuple[bytes, list[int]]:
    """Serve one upgrade whose first send the kernel takes ``part`` of (all: ``None``);
    everything the client then received, and the server end's sends."""
    server_end, client = arrived(make)
    if isinstance(server_end, TakesPart):
        server_end.part = part
    got: list[object] = []
    async with trio.open_nursery() as nursery:

        async def server() -> None:
            got.append(await serve_one(server_end))

        nursery.start_soon(server)
        switching = await receive_exactly(client, SWITCHING_LENGTH)
        await client.send_all(HI + CLOSE_1000)
        written = switching + await receive_to_end(client)
    assert got == ["hi"]
    return written, server_end.sent if isinstance(server_end, TakesPart) else []


@pytest.mark.parametrize("part", [1, 17, 64, -1])
async def test_a_101_the_kernel_takes_part_of_is_sent_whole_once(
    autojump_clock: trio.testing.MockClock,
    read_in_scope: list[bool],
    arrived: Pairs,
    part: int,
) -> None:
    written, sent = await switched(arrived, TakesPart, part)
    first = part if part > 0 else SWITCHING_LENGTH + part
    assert sent[:2] == [first, SWITCHING_LENGTH - first]  # the rest, in one send
    usual, _ = await switched(arrived, socket.socket, None)
    assert undated(written) == undated(usual) == SWITCHING + CLOSE
    assert read_in_scope == []


# ---------------------------------------------------------------------- cut short by the gate


async def test_an_upgrade_the_gate_cut_short_before_it_began_is_not_made(
    autojump_clock: trio.testing.MockClock, read_in_scope: list[bool], arrived: Pairs
) -> None:
    """The accept loop enters every connection of a batch in the gate before any of them
    runs: at ``max_handshakes`` the oldest is cut short before its handshake began, its
    request arrived whole. It must not be upgraded at once all the same."""
    gate = HandshakeGate(1)
    oldest, _ = gate.enter()
    newest, evicted = gate.enter()
    assert evicted and oldest.cancel_called and not newest.cancel_called
    server_end, client = arrived()
    seen: list[Handshake] = []
    outcome = await serve_one(server_end, oldest, seen=seen)
    assert outcome == HandshakeFailed(CUT_SHORT)
    assert seen == []  # not even checked
    assert read_in_scope == [True]  # cut at its first read, in the scope
    assert await receive_to_end(client) == b""  # no 101: closed
    # The newest, with its request as whole, is upgraded.
    server_end, client = arrived()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_one, server_end, newest)
        assert undated(await receive_exactly(client, SWITCHING_LENGTH)) == SWITCHING
        await client.send_all(HI + CLOSE_1000)
        assert await receive_to_end(client) == CLOSE
    assert read_in_scope == [True]  # the newest upgraded at once


async def test_a_server_cuts_short_the_oldest_of_a_batch_before_its_upgrade(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture, arrived: Pairs
) -> None:
    """The same through a server: two connections accepted in one batch (each handler made
    before either runs, as the accept loop does), their requests arrived whole."""
    caplog.set_level(logging.INFO)
    config = ServerConfig(max_handshakes=1, ping_interval=None)
    async with serving(hello_app(), config) as server, trio.open_nursery() as nursery:
        (first_end, first), (second_end, second) = arrived(), arrived()
        nursery.start_soon(server.handle_stream, RawSocketStream(first_end))
        nursery.start_soon(server.handle_stream, RawSocketStream(second_end))
        assert await receive_to_end(first) == b""  # cut short: closed without a 101
        response = await receive_exactly(second, SWITCHING_LENGTH)
        assert undated(response) == SWITCHING
    lines = [r.getMessage() for r in caplog.records if r.name == "jbtrio.server"]
    assert f"no upgrade: {CUT_SHORT}" in lines


# ---------------------------------------------------------------------- left to the engine


async def test_frames_that_came_with_the_request_are_not_lost(
    autojump_clock: trio.testing.MockClock, arrived: Pairs
) -> None:
    """Not the fast path's (bytes after the request go to the engine), but found here: a
    client that sends frames before the 101 (jambonz never does) lost them, the engine that
    read the request having parsed them and dropped their events with the request's."""
    server_end, client = arrived()
    await client.send_all(HI + CLOSE_1000)  # in the same read as the request
    got = await serve_one(server_end)
    assert got == "hi"
    assert undated(await receive_to_end(client)) == SWITCHING + CLOSE
