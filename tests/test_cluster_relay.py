"""The relay on loopback TCP: the splice (both ways, half-closes, resets, a side that never
reads), the relaying side's outcomes, and the relay listener against hostile peers (bad
MAC, oversize header, slowloris, a flood of silent connections). Real sockets, real time
with short bounds; every wait is on an event or a read, under ``fail_after``."""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trio

from jbtrio._cluster import Outcome, RelayListener, RelayRequest, Status, derive_key, relay, splice
from jbtrio._cluster._relay_wire import encode_request

KEY = derive_key(b"0123456789abcdef-test-secret")


#: Every stream a test opened, closed after it by the ``opened`` fixture (a test that fails
#: half-way leaks none).
_OPENED: list[trio.abc.AsyncResource] = []


@pytest.fixture
async def opened() -> AsyncIterator[None]:
    """Closes what :func:`tcp_pair` and :func:`raw_peer` opened. Each test using them asks
    for it by name: pytest-trio runs an async fixture only for a test that names it (not
    ``autouse``, not ``usefixtures``)."""
    yield
    while _OPENED:
        await trio.aclose_forcefully(_OPENED.pop())


async def tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    """Two ends of one loopback TCP connection."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    server = await listeners[0].accept()
    await listeners[0].aclose()
    assert isinstance(server, trio.SocketStream)
    _OPENED.extend((client, server))
    return client, server


async def read_until_eof(stream: trio.abc.ReceiveStream) -> bytes:
    out = bytearray()
    while data := await stream.receive_some(65536):
        out += data
    return bytes(out)


# ------------------------------------------------------------------ splice


async def test_splice_carries_both_ways_and_passes_half_closes_on(opened: None) -> None:
    with trio.fail_after(20):
        left, left_inner = await tcp_pair()
        right_inner, right = await tcp_pair()
        out = bytes(range(256)) * 4096  # 1 MiB each way, at once
        back = bytes(reversed(range(256))) * 4096
        async with trio.open_nursery() as nursery:
            done = trio.Event()
            result = []

            async def run() -> None:
                result.append(await splice(left_inner, right_inner))
                done.set()

            nursery.start_soon(run)

            async def left_side() -> None:
                await left.send_all(out)
                await left.send_eof()  # half-close: the other way goes on
                assert await read_until_eof(left) == back

            async def right_side() -> None:
                assert await read_until_eof(right) == out  # the EOF came through
                await right.send_all(back)
                await right.send_eof()

            nursery.start_soon(left_side)
            nursery.start_soon(right_side)
            await done.wait()
        spliced = result[0]
        assert spliced.aborted is None
        assert (spliced.bytes_out, spliced.bytes_back) == (len(out), len(back))
        assert spliced.chunks_out > 0 and spliced.chunks_back > 0


async def test_a_reset_on_one_side_aborts_the_other(opened: None) -> None:
    with trio.fail_after(10):
        left, left_inner = await tcp_pair()
        right_inner, right = await tcp_pair()
        async with trio.open_nursery() as nursery:
            result = []

            async def run() -> None:
                result.append(await splice(left_inner, right_inner))

            nursery.start_soon(run)
            await left.send_all(b"hello")
            assert await right.receive_some(5) == b"hello"
            # An abort (RST), as a host that crashed mid-call would do.
            left.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await left.aclose()
            with pytest.raises(trio.BrokenResourceError):
                while await right.receive_some(100):
                    pass
        assert result[0].aborted is not None


async def test_a_half_closed_connection_is_cut_after_the_linger(opened: None) -> None:
    with trio.fail_after(10):
        left, left_inner = await tcp_pair()
        right_inner, right = await tcp_pair()
        await right.send_eof()  # one side is done; the other never ends its direction
        start = trio.current_time()
        spliced = await splice(left_inner, right_inner, linger=0.3)
        assert 0.3 <= trio.current_time() - start < 1.0
        assert spliced.aborted is not None and "half-closed" in spliced.aborted
        assert await left.receive_some(100) == b""  # the end of right's direction came through
        with pytest.raises(trio.BrokenResourceError):  # then the reset
            for _ in range(100):
                await left.send_all(b"x")
                await trio.sleep(0.01)


async def test_a_side_that_never_reads_holds_back_only_its_own_direction(opened: None) -> None:
    with trio.fail_after(20):
        left, left_inner = await tcp_pair()
        right_inner, right = await tcp_pair()
        async with trio.open_nursery() as nursery:
            result = []
            finished = trio.Event()

            async def run() -> None:
                result.append(await splice(left_inner, right_inner))
                finished.set()

            nursery.start_soon(run)
            stuck = trio.Event()

            async def flood() -> None:  # right never reads: this blocks once buffers are full
                with trio.move_on_after(0.5):
                    while True:
                        await left.send_all(b"x" * 65536)
                stuck.set()

            nursery.start_soon(flood)
            await stuck.wait()
            for i in range(20):  # the other direction still flows
                await right.send_all(b"ping%d" % i)
                got = b""
                while not got.endswith(b"ping%d" % i):
                    got += await left.receive_some(100)
            await right.aclose()  # the stuck side gives up: the splice ends, nothing hangs
            await finished.wait()
            await left.aclose()
        assert result[0].aborted is not None


# ------------------------------------------------------------------ relay and listener


@asynccontextmanager
async def listening(
    decide: Callable[[RelayRequest], Status] = lambda r: Status.ADOPTED,
    adopt: Callable[[trio.abc.Stream, RelayRequest], Awaitable[None]] | None = None,
    **bounds: float,
) -> AsyncIterator[RelayListener]:
    async def echo(stream: trio.abc.Stream, request: RelayRequest) -> None:
        # A stand-in for the runtime's adopt path: the relayed bytes first, then the rest.
        await stream.send_all(b"got:" + request.received)
        while data := await stream.receive_some(65536):
            await stream.send_all(data)

    settings: dict[str, float] = {
        "handshake_timeout": 2.0,
        "max_pending": 8,
        "max_header": 16384,
        "max_received": 1 << 20,
        "max_skew": 30.0,
        "user_timeout": 10.0,
    }
    settings.update(bounds)
    listener = RelayListener(
        key=KEY,
        instance="b",
        decide=decide,
        adopt=adopt or echo,
        **settings,  # type: ignore[arg-type]
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(listener.run, "127.0.0.1", 0)
        try:
            yield listener
        finally:
            nursery.cancel_scope.cancel()


async def relay_to(port: int, jambonz: trio.abc.Stream, **overrides: object) -> object:
    args: dict[str, object] = {
        "key": KEY,
        "sender": "a",
        "target": "b",
        "address": f"127.0.0.1:{port}",
        "call_sid": "CA-1",
        "why": "session:reconnect",
        "path": "/ivr",
        "headers": [(b"host", b"h")],
        "subprotocols": ["ws.jambonz.org"],
        "subprotocol": "ws.jambonz.org",
        "remote": "10.0.0.1:1",
        "received": b"FIRST",
        "connect_timeout": 1.0,
        "handshake_timeout": 1.0,
        "user_timeout": 10.0,
    }
    args.update(overrides)
    return await relay(jambonz, **args)  # type: ignore[arg-type]


async def test_an_adopted_relay_carries_the_socket_both_ways(opened: None) -> None:
    with trio.fail_after(10):
        async with listening() as listener:
            assert listener.port is not None
            jambonz, jambonz_inner = await tcp_pair()
            adopted = trio.Event()
            result = []
            async with trio.open_nursery() as nursery:

                async def run() -> None:
                    result.append(
                        await relay_to(listener.port or 0, jambonz_inner, on_adopted=adopted.set)
                    )

                nursery.start_soon(run)
                await adopted.wait()
                got = b""
                while got != b"got:FIRST":
                    got += await jambonz.receive_some(100)
                await jambonz.send_all(b"more")
                got = b""
                while got != b"more":
                    got += await jambonz.receive_some(100)
                await jambonz.aclose()
        outcome = result[0]
        assert outcome.outcome is Outcome.RELAYED  # type: ignore[attr-defined]
        assert listener.stats.adopted == 1 and listener.stats.rejected == 0


@pytest.mark.parametrize(
    ("status", "expected"), [(Status.NOT_HERE, Outcome.NOT_HERE), (Status.BUSY, Outcome.BUSY)]
)
async def test_a_refusing_owner_leaves_the_socket_untouched(
    status: Status, expected: Outcome, opened: None
) -> None:
    with trio.fail_after(10):
        async with listening(decide=lambda r: status) as listener:
            jambonz, jambonz_inner = await tcp_pair()
            await jambonz.send_all(b"still mine")
            result = await relay_to(listener.port or 0, jambonz_inner)
            assert result.outcome is expected  # type: ignore[attr-defined]
            assert await jambonz_inner.receive_some(100) == b"still mine"  # nothing was read
        assert (listener.stats.not_here, listener.stats.busy) == (
            (1, 0) if status is Status.NOT_HERE else (0, 1)
        )


async def test_an_owner_that_is_gone_or_mute_is_unreachable_within_the_bounds(opened: None) -> None:
    with trio.fail_after(10):
        _, jambonz_inner = await tcp_pair()
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            closed_port = s.getsockname()[1]
        start = trio.current_time()
        result = await relay_to(closed_port, jambonz_inner)
        assert result.outcome is Outcome.UNREACHABLE  # type: ignore[attr-defined]
        assert trio.current_time() - start < 0.5

        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")

        async def mute(stream: trio.SocketStream) -> None:
            async with stream:
                await trio.sleep_forever()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, mute, listeners)
            start = trio.current_time()
            result = await relay_to(
                listeners[0].socket.getsockname()[1], jambonz_inner, handshake_timeout=0.3
            )
            assert result.outcome is Outcome.UNREACHABLE  # type: ignore[attr-defined]
            assert 0.3 <= trio.current_time() - start < 1.0
            nursery.cancel_scope.cancel()


async def test_an_owner_with_another_secret_resets_and_is_unreachable(opened: None) -> None:
    with trio.fail_after(10):
        async with listening() as listener:
            _, jambonz_inner = await tcp_pair()
            result = await relay_to(
                listener.port or 0, jambonz_inner, key=derive_key(b"some-other-cluster-secret")
            )
            assert result.outcome is Outcome.UNREACHABLE  # type: ignore[attr-defined]
        assert listener.stats.rejected == 1 and listener.stats.adopted == 0


async def raw_peer(port: int) -> trio.SocketStream:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    _OPENED.append(stream)
    return stream


async def assert_reset_without_answer(stream: trio.SocketStream) -> None:
    got = b""
    with pytest.raises(trio.BrokenResourceError):  # reset: no answer, no clean close
        while data := await stream.receive_some(100):
            got += data
    assert got == b""


async def test_hostile_relay_peers_get_nothing(
    caplog: pytest.LogCaptureFixture, opened: None
) -> None:
    caplog.set_level(logging.INFO, logger="jbtrio.cluster")
    adopted: list[RelayRequest] = []

    async def adopt(stream: trio.abc.Stream, request: RelayRequest) -> None:
        adopted.append(request)

    with trio.fail_after(15):
        async with listening(adopt=adopt, handshake_timeout=0.5, max_header=1024) as listener:
            port = listener.port or 0
            # A forged MAC.
            good, _ = encode_request(
                KEY,
                sender="a",
                target="b",
                call_sid="CA-1",
                why="w",
                path="/",
                headers=[],
                subprotocols=[],
                subprotocol="ws.jambonz.org",
                remote="r",
                received=b"",
                now=__import__("time").time(),
            )
            peer = await raw_peer(port)
            await peer.send_all(good[:-1] + bytes((good[-1] ^ 1,)))
            await assert_reset_without_answer(peer)
            # An oversize header: refused on its length alone.
            peer = await raw_peer(port)
            await peer.send_all(b"JBR1" + (1 << 20).to_bytes(4, "big"))
            await assert_reset_without_answer(peer)
            # Not our protocol at all (a port scanner, an HTTP client).
            peer = await raw_peer(port)
            await peer.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await assert_reset_without_answer(peer)
            # A slowloris: a byte at a time, never done within the handshake timeout.
            peer = await raw_peer(port)
            start = trio.current_time()
            with pytest.raises(trio.BrokenResourceError):
                for byte in good:
                    await peer.send_all(bytes((byte,)))
                    await trio.sleep(0.05)
            assert trio.current_time() - start < 1.5
            # A replay of a header already served.
            peer = await raw_peer(port)
            await peer.send_all(good)
            assert len(await peer.receive_some(100)) == 37  # served once ...
            peer = await raw_peer(port)
            await peer.send_all(good)
            await assert_reset_without_answer(peer)  # ... never twice
        assert len(adopted) == 1
        assert listener.stats.rejected == 4 and listener.stats.timed_out == 1
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 4


async def test_a_flood_of_silent_connections_cuts_the_oldest_not_the_newest(opened: None) -> None:
    adopted: list[RelayRequest] = []

    async def adopt(stream: trio.abc.Stream, request: RelayRequest) -> None:
        adopted.append(request)

    with trio.fail_after(15):
        async with listening(adopt=adopt, max_pending=4, handshake_timeout=5.0) as listener:
            port = listener.port or 0
            silent = [await raw_peer(port) for _ in range(10)]
            for peer in silent[:6]:  # the six oldest were cut short (reset) for newer ones
                with pytest.raises(trio.BrokenResourceError):
                    await peer.receive_some(100)
            assert listener.stats.pending <= 4 and listener.stats.timed_out == 6
            _, jambonz_inner = await tcp_pair()
            # A genuine relay still gets through (the adopter ends at once: the half-closed
            # jambonz side, which never closes, is cut after the linger).
            result = await relay_to(port, jambonz_inner, linger=0.2)
            assert result.outcome is Outcome.RELAYED  # type: ignore[attr-defined]
            for peer in silent:
                await peer.aclose()
        assert len(adopted) == 1
