"""``jbtrio serve --workers N``: the acceptor, the handover, and the worker pool.

The unit tests drive :class:`RouteFinder` (over the backends' frame peek) and the handover
channel directly; the end-to-end
tests run the real command (an acceptor and two worker processes) on TCP and place calls with
the fake jambonz, reconnect faults included. Those run in real time: every wait is on an event
(a log line, a call's end) under a generous ``fail_after``, never a sleep.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from jbtrio._runtime._frame_reader import FrameReader
from jbtrio._runtime._handover import CHUNK, HandoverError, receive_handover, send_handover
from jbtrio._runtime._registry import Route, RouteFinder
from jbtrio._runtime._transport_api import AUDIO_SUBPROTOCOL, SUBPROTOCOL, Handshake
from jbtrio.testing import Caller, FakeJambonz, Faults, JambonzConfig
from jbtrio.testing.audio import AudioScript, Tone

TESTS = Path(__file__).parent
ROOT = TESTS.parent
MAX = 1 << 20


# ------------------------------------------------------------------ RouteFinder


def SessionFinder(  # noqa: N802 - the finder of a call socket, as the acceptor makes it
    max_message_bytes: int, max_bytes: int, *, max_fragments: int = 1024
) -> RouteFinder:
    peek = FrameReader(max_message_bytes, max_bytes, max_fragments=max_fragments)
    return RouteFinder(peek, SUBPROTOCOL)


def client_frame(
    payload: bytes, opcode: int = 0x1, *, fin: bool = True, mask: bytes = b"\x01\x02\x03\x04"
) -> bytes:
    """A masked client frame, as jambonz sends them."""
    size = len(payload)
    if size < 126:
        head = bytes((opcode | (0x80 if fin else 0), 0x80 | size))
    elif size < 65536:
        head = bytes((opcode | (0x80 if fin else 0), 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((opcode | (0x80 if fin else 0), 0x80 | 127)) + size.to_bytes(8, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def message(kind: str, sid: str | None = "CA-1", **data: object) -> bytes:
    envelope: dict[str, object] = {"type": kind, "msgid": "m1", "data": {"call_sid": sid, **data}}
    if sid is not None:
        envelope["call_sid"] = sid
    return orjson.dumps(envelope)


def finder() -> RouteFinder:
    return SessionFinder(MAX, MAX + 65536)


def test_session_new_routes_by_call_sid() -> None:
    assert finder().feed(client_frame(message("session:new"))) == Route("CA-1", "session:new")


def test_reconnect_routes_by_call_sid() -> None:
    route = finder().feed(client_frame(message("session:reconnect", "CA-9")))
    assert route == Route("CA-9", "session:reconnect")


def test_early_messages_pings_and_garbage_are_skipped_and_kept() -> None:
    stream = (
        client_frame(b"", opcode=0x9)  # a ping
        + client_frame(message("call:status", call_status="ringing"))
        + client_frame(b"not json")
        + client_frame(b"\x00\x01", opcode=0x2)  # binary
        + client_frame(message("session:new", "CA-2"))
        + client_frame(message("verb:hook"))[:5]  # the start of the next frame
    )
    found = finder()
    assert found.feed(stream) == Route("CA-2", "session:new")
    assert bytes(found.received) == stream  # every byte is handed over, nothing consumed


def test_fragmented_session_message() -> None:
    text = message("session:new", "CA-3")
    stream = (
        client_frame(text[:10], fin=False)
        + client_frame(b"", opcode=0xA)  # a pong between fragments is allowed
        + client_frame(text[10:], opcode=0x0)
    )
    assert finder().feed(stream) == Route("CA-3", "session:new")


def test_large_session_message_with_64_bit_length() -> None:
    text = message("session:new", "CA-4", caller_name="x" * 70_000)
    assert finder().feed(client_frame(text)) == Route("CA-4", "session:new")


@pytest.mark.parametrize(
    ("stream", "why"),
    [
        (client_frame(b"\x03\xe8", opcode=0x8), "closed"),
        (bytes((0x81, 0x02)) + b"{}", "unmasked"),
        (bytes((0xC1, 0x80)) + b"\x00" * 4, "reserved"),
        (client_frame(b"x", opcode=0x3), "opcode"),
        (client_frame(b"x", opcode=0x0), "continuation"),
        (bytes((0x81, 0xFF)) + (MAX + 1).to_bytes(8, "big"), "max_message_bytes"),
    ],
)
def test_what_decides_nothing_goes_to_any_worker(stream: bytes, why: str) -> None:
    route = finder().feed(stream)
    assert route is not None
    assert route.key is None
    assert why in route.why


def test_adulting_without_call_sid_goes_to_any_worker() -> None:
    route = finder().feed(client_frame(message("session:adulting", None)))
    assert route == Route(None, "session:adulting")


def test_too_much_before_a_session_message_is_refused() -> None:
    small = SessionFinder(1000, 2000)
    status = client_frame(message("call:status", call_status="ringing"))
    with pytest.raises(OverflowError, match="before a session message"):
        for _ in range(100):
            assert small.feed(status) is None


def test_a_message_in_too_many_fragments_goes_to_any_worker() -> None:
    """Past max_fragments the route is decided (the worker's engine fails the socket with
    1009, as the single process does); the bytes are kept for it as ever."""
    found = SessionFinder(MAX, MAX + 65536, max_fragments=100)
    stream = client_frame(b"{", fin=False) + client_frame(b"", opcode=0x0, fin=False) * 200
    route = found.feed(stream)
    assert route is not None and route.key is None and "fragments" in route.why
    assert bytes(found.received) == stream


def test_many_fragments_cost_linear_time() -> None:
    """_look_at summed every fragment's length on every continuation frame: 40,000
    fragments took 24.8 s, during which the acceptor served no one."""
    import time

    found = SessionFinder(MAX, MAX + 65536, max_fragments=1_000_000)
    head = client_frame(b"{", fin=False)
    fragment = client_frame(b"x", opcode=0x0, fin=False)
    start = time.perf_counter()
    assert found.feed(head) is None
    for _ in range(40):
        assert found.feed(fragment * 1000) is None
    assert time.perf_counter() - start < 5.0  # quadratic: ~25 s


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_any_split_of_the_stream_gives_the_same_route(cuts: list[int]) -> None:
    stream = (
        client_frame(b"hi", opcode=0x9)
        + client_frame(message("call:status", call_status="ringing"))
        + client_frame(message("session:new", "CA-5", caller_name="INVITE " * 20))
    )
    points = sorted({min(c, len(stream)) for c in cuts} | {len(stream)})
    found = finder()
    start = 0
    routes = []
    for point in points:
        routes.append(found.feed(stream[start:point]))
        start = point
    assert routes[-1] == Route("CA-5", "session:new")
    assert all(r is None for r in routes[:-1])
    assert bytes(found.received) == stream


# ------------------------------------------------------------------ the handover channel

HANDSHAKE = Handshake(
    path="/workers",
    headers=((b"host", b"example"), (b"x-odd", "café".encode("latin-1"))),
    subprotocols=("ws.jambonz.org",),
    remote="10.0.0.1:5060",
)


async def test_a_socket_and_its_bytes_cross_the_channel() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    left, right = socket.socketpair()  # the "TCP connection" being handed over
    parent = trio.socket.from_stdlib_socket(a)
    child = trio.socket.from_stdlib_socket(b)
    received = os.urandom(3 * CHUNK + 17)  # more than one packet
    with parent, child, left:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                send_handover, parent, right.fileno(), HANDSHAKE, AUDIO_SUBPROTOCOL, received
            )
            handover = await receive_handover(child)
        right.close()  # the sender's copy: the connection lives on in the receiver's
        assert handover is not None
        assert handover.handshake == HANDSHAKE
        assert handover.subprotocol == AUDIO_SUBPROTOCOL
        assert handover.received == received
        with handover.sock:
            handover.sock.sendall(b"through the handed-over socket")
            assert left.recv(100) == b"through the handed-over socket"
        parent.close()
        assert await receive_handover(child) is None  # the acceptor closed the channel


async def test_a_packet_that_is_not_a_handover_is_an_error() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with trio.socket.from_stdlib_socket(a) as parent, trio.socket.from_stdlib_socket(b) as child:
        await parent.send(b"hello")
        with pytest.raises(HandoverError, match="one socket"):
            await receive_handover(child)


# ------------------------------------------------------------------ end to end


class Logs:
    """A process's stderr lines, with waiting for one to appear."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = trio.Event()

    async def pump(self, stream: trio.abc.ReceiveStream) -> None:
        buffer = b""
        async for chunk in stream:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            self.lines.extend(line.decode(errors="replace") for line in lines)
            self._changed.set()
            self._changed = trio.Event()

    async def wait_for(self, predicate: Callable[[list[str]], bool]) -> None:
        while not predicate(self.lines):
            await self._changed.wait()

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    async def changed(self) -> None:
        """Return once more lines have come."""
        await self._changed.wait()


class Served:
    def __init__(self, process: trio.Process, url: str, logs: Logs) -> None:
        self.process = process
        self.url = url
        self.logs = logs

    def worker_pids(self) -> set[int]:
        return {
            int(p)
            for p in re.findall(r"worker \d+ started \(pid (\d+)\)", "\n".join(self.logs.lines))
        }


@asynccontextmanager
async def served(workers: int = 2) -> AsyncIterator[Served]:
    command = [
        sys.executable,
        "-m",
        "jbtrio",
        "--log-level",
        "INFO",
        "serve",
        "_workers_app:app",
        "--port",
        "0",
        "--workers",
        str(workers),
        "--grace",
        "5",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    process = await trio.lowlevel.open_process(
        command,
        cwd=TESTS,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    logs = Logs()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(logs.pump, process.stderr)
            with trio.fail_after(30):
                first = b""
                while not first.endswith(b"\n"):
                    chunk = await process.stdout.receive_some(1)
                    assert chunk, f"server exited: {logs.lines}"
                    first += chunk
            match = re.search(r"ws://127\.0\.0\.1:(\d+)", first.decode())
            assert match, first
            yield Served(process, f"ws://127.0.0.1:{match.group(1)}/workers", logs)
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
                await process.wait()


def fast_jambonz() -> FakeJambonz:
    return FakeJambonz(
        JambonzConfig(say_seconds_per_char=0.0, say_min_seconds=0.01, initial_backoff=0.05)
    )


def caller(n: int) -> Caller:
    return Caller(
        speech=[f"call {n} turn {t}" for t in range(3)], response_delay=0.01, idle_hangup=2.0
    )


async def place_calls(
    url: str, count: int, *, faults: Callable[[int], Faults], reconnects: list[int] | None = None
) -> list[list[int]]:
    """Place ``count`` calls at once; for each, the pids named in what the app said.
    ``reconnects`` gets the number of ``session:reconnect`` messages jambonz sent."""
    fake = fast_jambonz()
    pids: list[list[int]] = [[] for _ in range(count)]
    outcomes: list[str] = ["" for _ in range(count)]

    async def one(n: int) -> None:
        call = fake.new_call(url, caller=caller(n), faults=faults(n))
        outcome = await call.run()
        outcomes[n] = outcome.summary() if not outcome.ok else "ok"
        said = " ".join(frame.text for frame in call.transcript if frame.direction == "in")
        pids[n] = [int(p) for p in re.findall(r"pid (\d+)", said)]
        if reconnects is not None:
            reconnects.append(len(call.sent("session:reconnect")))

    async with trio.open_nursery() as nursery:
        for n in range(count):
            nursery.start_soon(one, n)
    assert outcomes == ["ok"] * count
    return pids


def drops(n: int) -> Faults:
    """Every other call loses its TCP connection once, at a different point."""
    return Faults.drop_after(2 + n % 5) if n % 2 == 0 else Faults()


async def test_every_socket_of_a_call_reaches_the_same_worker() -> None:
    async with served() as server:
        with trio.fail_after(90):
            reconnects: list[int] = []
            pids = await place_calls(server.url, 24, faults=drops, reconnects=reconnects)
        workers = server.worker_pids()
        assert len(workers) == 2
        for said in pids:
            assert said, "the app said nothing"
            assert len(set(said)) == 1, f"a call was served by two processes: {said}"
        assert {said[0] for said in pids} == workers  # both workers served calls
        server.process.send_signal(signal.SIGTERM)
        with trio.fail_after(20):
            assert await server.process.wait() == 0
            await server.logs.wait_for(lambda lines: sum("exited with 0" in x for x in lines) == 2)
        assert sum(reconnects) >= 6  # half the calls drop their socket once
        # Each reconnect reached the worker holding its call:
        assert server.logs.count("call resumed on a new socket") == sum(reconnects)
        assert server.logs.count("session:reconnect for a call this process does not know") == 0


async def test_an_audio_socket_reaches_the_worker_holding_its_call() -> None:
    async with served() as server:
        fake = fast_jambonz()
        url = server.url.replace("/workers", "/workers-audio")
        said: list[str] = []

        async def one(n: int) -> None:
            call = fake.new_call(
                url,
                caller=Caller(audio=AudioScript(source=Tone(440, seconds=1), duration=1)),
                call_sid=f"audio-{n}",
            )
            outcome = await call.run()
            assert outcome.ok, outcome.summary()
            said.extend(v["text"] for v in call.executed_verbs if v["verb"] == "say")

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for n in range(8):
                    nursery.start_soon(one, n)
        pairs = [re.fullmatch(r"pid (\d+) audio (\d+)", text) for text in said]
        assert all(pairs), said  # "audio elsewhere": another process served the audio socket
        assert all(m.group(1) == m.group(2) for m in pairs if m), said
        assert {int(m.group(1)) for m in pairs if m} == server.worker_pids()


async def test_a_dead_worker_is_replaced_and_calls_go_on() -> None:
    async with served() as server:
        with trio.fail_after(60):
            await server.logs.wait_for(lambda lines: sum("started (pid" in x for x in lines) == 2)
            victim = max(server.worker_pids())
            os.kill(victim, signal.SIGKILL)
            await server.logs.wait_for(lambda lines: sum("started (pid" in x for x in lines) == 3)
        assert victim not in (pids := server.worker_pids()) or len(pids) == 3
        with trio.fail_after(60):
            said = await place_calls(server.url, 12, faults=drops)
        alive = server.worker_pids() - {victim}
        assert {s[0] for s in said} == alive
        assert all(len(set(s)) == 1 for s in said)


async def test_the_acceptor_refuses_what_a_single_server_refuses() -> None:
    async with served() as server:
        fake = fast_jambonz()
        call = fake.new_call(server.url.replace("/workers", "/nowhere"), caller=caller(0))
        with trio.fail_after(30):
            outcome = await call.run()
        assert not outcome.ok
        assert "404" in outcome.summary()
        with trio.fail_after(10):
            await server.logs.wait_for(
                lambda lines: any("no app mounted at /nowhere" in x for x in lines)
            )


async def test_one_signal_lets_calls_finish_a_second_stops_every_process_at_once() -> None:
    async with served() as server:
        fake = fast_jambonz()
        # A caller who never answers the gather: the call stays up until the server goes.
        call = fake.new_call(server.url, caller=Caller(response_delay=600.0, idle_hangup=None))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call.run)
            with trio.fail_after(30):
                await call.wait_for(lambda frame: frame.direction == "in")  # the first ack
                server.process.send_signal(signal.SIGTERM)
                await server.logs.wait_for(
                    lambda lines: sum("shutting down gracefully" in x for x in lines) == 3
                )
                assert server.process.returncode is None  # the call holds its worker up
                server.process.send_signal(signal.SIGTERM)
            with trio.fail_after(4):  # well within the 5 s grace
                assert await server.process.wait() == 0
                await call.wait_event(lambda event: event.kind == "close")
            nursery.cancel_scope.cancel()
        closes = [event for event in call.events if event.kind == "close"]
        assert closes[0].code == 1001, closes  # "going away": jambonz reconnects elsewhere
        for pid in server.worker_pids():
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
