"""Audio sockets against a hostile or broken peer: typed errors, rate-limited logs with the
call_sid, bounds, and never a crash or a stall."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
import trio
import trio.lowlevel
import trio.testing
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    wrap_client_stream,
)

from jbtrio.audio import (
    SUBPROTOCOL,
    AudioConfig,
    AudioRoutes,
    AudioStream,
    AudioStreamClosed,
    MarkOutcome,
    run_stream,
)
from jbtrio.audio import parse_metadata as parse
from jbtrio.testing.audio import AudioTestServer, open_audio_server

META = orjson.dumps({"callSid": "c9", "sampleRate": 8000, "mixType": "mono"}).decode()


async def client(
    nursery: trio.Nursery,
    server: AudioTestServer,
    path: str = "/a",
    protocols: tuple[str, ...] = (SUBPROTOCOL,),
    headers: list[tuple[bytes, bytes]] | None = None,
) -> WebSocketConnection:
    stream = await server.connect()
    return await wrap_client_stream(
        nursery,
        stream,  # type: ignore[arg-type]
        "app",
        path,
        subprotocols=list(protocols),
        extra_headers=headers or [],
    )


async def closed_code(ws: WebSocketConnection) -> int | None:
    with trio.fail_after(30):
        try:
            while True:
                await ws.get_message()
        except ConnectionClosed as exc:
            return exc.reason.code if exc.reason else None


def routes_with(handler: Any, **config: Any) -> AudioRoutes:
    routes = AudioRoutes(config=AudioConfig(**config))
    routes.mount("/a", handler)
    return routes


async def idle(stream: AudioStream) -> None:
    async for _ in stream:
        pass


async def test_malformed_frames_are_logged_rate_limited_and_survived(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[AudioStream] = []

    async def handler(stream: AudioStream) -> None:
        seen.append(stream)
        await idle(stream)

    caplog.set_level(logging.WARNING, "jbtrio.audio")
    async with open_audio_server(routes_with(handler)) as server, trio.open_nursery() as n:
        ws = await client(n, server)
        await ws.send_message(META)
        for _ in range(20):
            await ws.send_message("{not json")
        await ws.send_message(b"\0\0\0")  # not whole samples
        await ws.send_message('{"type":"mark","data":{"name":1}}')
        await ws.send_message(b"\0\0" * 160)
        await trio.sleep(1)
        await ws.aclose()
    (stream,) = seen
    assert stream.stats.protocol_errors == 22
    assert stream.stats.frames_in == 1
    warnings = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert 1 <= len(warnings) <= 5
    assert all(getattr(r, "call_sid", None) == "c9" for r in warnings)


async def test_too_many_malformed_frames_close_1008(
    autojump_clock: trio.testing.MockClock,
) -> None:
    routes = routes_with(idle, max_protocol_errors=5)
    async with open_audio_server(routes) as server, trio.open_nursery() as n:
        ws = await client(n, server)
        await ws.send_message(META)
        for _ in range(5):
            await ws.send_message("[]")
        assert await closed_code(ws) == 1008


@pytest.mark.parametrize(
    ("first", "why"),
    [(b"\0\0", "binary"), ('{"sampleRate": 8000}', "callSid"), ("x" * 300_000, "limit")],
)
async def test_a_bad_first_frame_closes_the_socket(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    first: str | bytes,
    why: str,
) -> None:
    ran: list[bool] = []

    async def handler(stream: AudioStream) -> None:
        ran.append(True)

    async with open_audio_server(routes_with(handler)) as server, trio.open_nursery() as n:
        ws = await client(n, server)
        await ws.send_message(first)
        assert await closed_code(ws) == 1008
    assert not ran
    assert any(why in r.getMessage() for r in caplog.records)


async def test_no_metadata_in_time_closes_the_socket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    routes = routes_with(idle, metadata_timeout=2)
    async with open_audio_server(routes) as server, trio.open_nursery() as n:
        ws = await client(n, server)
        start = trio.current_time()
        assert await closed_code(ws) == 1008
        assert trio.current_time() - start == pytest.approx(2, abs=0.1)


async def rejected(server: AudioTestServer, **kw: Any) -> int | None:
    """The HTTP status the upgrade was refused with (``None``: accepted)."""
    status: list[int] = []
    try:
        async with trio.open_nursery() as nursery:
            ws = await client(nursery, server, **kw)
            await ws.aclose()
    except* ConnectionRejected as group:
        status.extend(e.status_code for e in group.exceptions if isinstance(e, ConnectionRejected))
    return status[0] if status else None


async def test_upgrades_refused(autojump_clock: trio.testing.MockClock) -> None:
    routes = routes_with(idle)
    routes.max_streams = 1
    good = [(b"authorization", b"Basic dTpw")]
    async with open_audio_server(routes, username="u", password="p") as server:
        assert await rejected(server, protocols=("ws.jambonz.org",), headers=good) == 400
        assert await rejected(server) == 401
        assert await rejected(server, path="/elsewhere", headers=good) == 404
        async with trio.open_nursery() as n:
            first = await client(n, server, headers=good)
            await first.send_message(META)
            await trio.testing.wait_all_tasks_blocked()
            assert await rejected(server, headers=good) == 503
            await first.aclose()


class StuckSocket:
    """An AudioSocket whose peer never reads: every send blocks until aborted."""

    def __init__(self) -> None:
        self.aborted = trio.Event()
        self.closed: list[int] = []
        self._inbox_send, self._inbox = trio.open_memory_channel[str | bytes](10)

    async def receive(self) -> str | bytes:
        try:
            return await self._inbox.receive()
        except trio.EndOfChannel:
            raise AudioStreamClosed(1006, "aborted") from None

    async def send(self, message: str | bytes) -> None:
        await self.aborted.wait()
        raise AudioStreamClosed(1006, "aborted")

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed.append(code)
        await self._inbox_send.aclose()

    async def abort(self, reason: str) -> None:
        self.aborted.set()
        await self._inbox_send.aclose()


async def test_a_stalled_writer_aborts_the_socket(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    socket = StuckSocket()
    config = AudioConfig(send_stall_timeout=5, report_grace=None)
    stream = AudioStream(socket, parse(META), config=config)
    outcome: list[MarkOutcome] = []

    async def handler(stream: AudioStream) -> None:
        outcome.append(await stream.mark("never-written"))

    start = trio.current_time()
    await run_stream(stream, handler)
    assert socket.aborted.is_set()
    assert 5 <= trio.current_time() - start <= 10.1
    assert outcome == [MarkOutcome.LOST]
    assert any("stalled" in r.getMessage() for r in caplog.records)


async def test_marks_and_clips_are_capped_with_back_pressure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    socket = StuckSocket()
    config = AudioConfig(max_pending_marks=2, report_grace=1, send_stall_timeout=100)
    stream = AudioStream(socket, parse(META), config=config)
    socket.send = _swallow  # type: ignore[method-assign]
    times: list[float] = []

    async def handler(stream: AudioStream) -> None:
        for n in range(3):
            await stream.send_mark(f"m{n}")
            times.append(trio.current_time())

    await run_stream(stream, handler)
    # the third waited for room: the first two resolved (unreported) after the grace
    assert times[:2] == [0.0, 0.0]
    assert times[2] == pytest.approx(1.0)


async def _swallow(message: str | bytes) -> None:
    await trio.lowlevel.checkpoint()


class FastSocket:
    """A FastAudioSocket that takes some frames at once, part of others, refuses the rest,
    and records what reached the wire in order."""

    def __init__(self) -> None:
        self.wire: list[str | bytes] = []
        self.owed: str | bytes | None = None
        self.calls = 0
        self.fast = 0
        self._inbox_send, self._inbox = trio.open_memory_channel[str | bytes](10)

    async def receive(self) -> str | bytes:
        try:
            return await self._inbox.receive()
        except trio.EndOfChannel:
            raise AudioStreamClosed(1000) from None

    def send_nowait(self, message: str | bytes) -> bool:
        self.calls += 1
        if self.owed is not None or self.calls % 3 == 0:
            return False  # nothing written
        self.fast += 1
        if self.calls % 5 == 0:
            self.owed = message  # taken, the rest owed
        else:
            self.wire.append(message)
        return True

    @property
    def owes(self) -> bool:
        return self.owed is not None

    async def flush(self) -> None:
        await trio.lowlevel.checkpoint()
        if self.owed is not None:
            self.wire.append(self.owed)
            self.owed = None

    async def send(self, message: str | bytes) -> None:
        await self.flush()
        await trio.lowlevel.checkpoint()
        self.wire.append(message)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self._inbox_send.aclose()

    async def abort(self, reason: str) -> None:
        await self._inbox_send.aclose()


async def test_the_fast_write_path_keeps_the_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    socket = FastSocket()
    config = AudioConfig(max_ahead_ms=10**6, report_grace=None)
    stream = AudioStream(socket, parse(META), config=config)

    async def producer(tag: int) -> None:
        for n in range(50):
            await stream.send_audio(bytes([tag, n]))
            if n % 5:
                await trio.sleep(0.02)  # real time, with a burst of two now and then

    async def handler(stream: AudioStream) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(producer, 1)
            nursery.start_soon(producer, 2)

    await run_stream(stream, handler)
    assert socket.fast >= 30  # a writer idle with nothing queued: the fast path
    for tag in (1, 2):
        assert [m[1] for m in socket.wire if isinstance(m, bytes) and m[0] == tag] == list(
            range(50)
        )
    assert stream.stats.frames_out == 100
