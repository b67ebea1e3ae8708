"""``Socket.pump`` on real sockets: messages handed on by the read poller's callback while the
reader stays parked (issue 23), and every case that callback leaves to the reader.

The inline path exists only on a plain socket with the run's read poller, so these run over
``socket.socketpair()``. Each test checks what is delivered, in what order and from which
task; the reader's task steps are counted with a Trio instrument, so a pump that woke its
reader for every message (the path this replaces) fails the first test. Tests wait on
events and on every task being blocked, never on time.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from types import FrameType

import pytest
import trio
import trio.testing
from _ws_peer import Peer
from _ws_peer import connected as connected_over
from websockets.frames import Frame, Opcode

import jbtrio
from jbtrio._runtime import _poller
from jbtrio._runtime._sansio_socket import YIELD_EVERY, Socket
from jbtrio._runtime._transport_api import FEED_SLICE, SocketClosed


@asynccontextmanager
async def connected() -> AsyncIterator[tuple[Socket, Peer]]:
    server_end, client_end = socket.socketpair()
    async with connected_over(
        trio.SocketStream(trio.socket.from_stdlib_socket(server_end)),
        trio.SocketStream(trio.socket.from_stdlib_socket(client_end)),
    ) as (ws, peer):
        assert isinstance(ws, Socket)
        yield ws, peer


def frames(peer: Peer, *messages: str | Frame) -> bytes:
    """The bytes of ``messages`` (text, or any frame) as the peer would send them."""
    for message in messages:
        if isinstance(message, str):
            peer.protocol.send_text(message.encode())
        else:
            peer.protocol.send_frame(message)
    return b"".join(peer.protocol.data_to_send())


def write(peer: Peer, data: bytes) -> None:
    """Write ``data`` from the peer's end at once, without a checkpoint."""
    assert isinstance(peer.stream, trio.SocketStream)
    assert os.write(peer.stream.socket.fileno(), data) == len(data)


class Steps(trio.abc.Instrument):
    """Counts the task steps of the tasks whose name starts with one of ``names``."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.steps: dict[str, int] = dict.fromkeys(names, 0)

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        for name in self.names:
            if task.name.startswith(name):
                self.steps[name] += 1


class Delivered:
    """A ``deliver`` that keeps each message and the task it was handed over in."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.messages: list[str | bytes] = []
        self.tasks: list[str] = []
        self.fail_on = fail_on

    def __call__(self, message: str | bytes) -> None:
        if message == self.fail_on:
            raise ValueError(f"deliver refused {message!r}")
        self.messages.append(message)
        self.tasks.append(trio.lowlevel.current_task().name)


async def pumping(
    nursery: trio.Nursery, ws: Socket, deliver: Callable[[str | bytes], None]
) -> list[BaseException]:
    """Start ``ws.pump(deliver)`` in a task named ``pump``; what it raised, once it ends."""
    raised: list[BaseException] = []

    async def pump() -> None:
        try:
            await ws.pump(deliver)
        except (SocketClosed, ValueError) as exc:
            raised.append(exc)

    nursery.start_soon(pump, name="pump")
    await trio.testing.wait_all_tasks_blocked()
    return raised


async def test_the_usual_message_is_handed_on_by_the_poller_while_the_reader_sleeps() -> None:
    steps = Steps("pump")
    async with connected() as (ws, peer), trio.open_nursery() as nursery:
        delivered = Delivered()
        await pumping(nursery, ws, delivered)
        trio.lowlevel.add_instrument(steps)
        try:
            for index in range(20):
                write(peer, frames(peer, f"message {index}"))
                await trio.testing.wait_all_tasks_blocked()
        finally:
            trio.lowlevel.remove_instrument(steps)
        assert delivered.messages == [f"message {index}" for index in range(20)]
        assert set(delivered.tasks) == {"jbtrio read poller"}
        assert steps.steps["pump"] == 0  # never woken: the poller read every message
        nursery.cancel_scope.cancel()


async def test_frames_of_one_read_are_handed_on_in_order() -> None:
    async with connected() as (ws, peer), trio.open_nursery() as nursery:
        delivered = Delivered()
        await pumping(nursery, ws, delivered)
        write(peer, frames(peer, *(f"m{index}" for index in range(10))))
        await trio.testing.wait_all_tasks_blocked()
        assert delivered.messages == [f"m{index}" for index in range(10)]
        nursery.cancel_scope.cancel()


async def test_a_ping_among_messages_is_answered_by_the_reader_and_the_order_kept() -> None:
    async with connected() as (ws, peer), trio.open_nursery() as nursery:
        delivered = Delivered()
        await pumping(nursery, ws, delivered)
        write(peer, frames(peer, "before", Frame(Opcode.PING, b"are you there"), "after"))
        pong = await peer.next_frame()
        await trio.testing.wait_all_tasks_blocked()
        assert (pong.opcode, pong.data) == (Opcode.PONG, b"are you there")
        assert delivered.messages == ["before", "after"]
        assert delivered.tasks[-1] == "pump"  # the reader settled the read, then returned it
        # ... and the next usual message is the poller's again.
        write(peer, frames(peer, "later"))
        await trio.testing.wait_all_tasks_blocked()
        assert delivered.messages[-1] == "later"
        assert delivered.tasks[-1] == "jbtrio read poller"
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param(["a" * 3000, "b" * 3000, "c"], id="larger than a slice: parsed in slices"),
        pytest.param([str(index) for index in range(YIELD_EVERY * 3)], id="more than in a row"),
    ],
)
async def test_a_read_the_poller_does_not_hand_on_goes_to_the_reader(messages: list[str]) -> None:
    async with connected() as (ws, peer), trio.open_nursery() as nursery:
        delivered = Delivered()
        await pumping(nursery, ws, delivered)
        data = frames(peer, *messages)
        assert len(data) > FEED_SLICE or len(messages) > YIELD_EVERY
        write(peer, data)
        await trio.testing.wait_all_tasks_blocked()
        assert delivered.messages == messages
        assert set(delivered.tasks) == {"pump"}
        nursery.cancel_scope.cancel()


async def test_the_peers_close_frame_ends_the_pump_with_its_code() -> None:
    async with connected() as (ws, peer), trio.open_nursery() as nursery:
        delivered = Delivered()
        raised = await pumping(nursery, ws, delivered)
        peer.protocol.send_text(b"last")
        peer.protocol.send_close(1000, "bye")
        write(peer, b"".join(peer.protocol.data_to_send()))
        echo = await peer.next_frame()
        await trio.testing.wait_all_tasks_blocked()
    assert echo.opcode is Opcode.CLOSE
    assert delivered.messages == ["last"]
    assert len(raised) == 1
    assert isinstance(raised[0], SocketClosed)
    assert (raised[0].code, ws.close_code, ws.close_reason) == (1000, 1000, "bye")


async def test_the_end_of_the_stream_ends_the_pump_abnormally() -> None:
    async with connected() as (ws, peer), trio.open_nursery() as nursery:
        delivered = Delivered()
        raised = await pumping(nursery, ws, delivered)
        write(peer, frames(peer, "last"))
        await trio.testing.wait_all_tasks_blocked()
        assert isinstance(peer.stream, trio.SocketStream)
        peer.stream.socket.shutdown(socket.SHUT_WR)
        await trio.testing.wait_all_tasks_blocked()
    assert delivered.messages == ["last"]
    assert len(raised) == 1
    assert isinstance(raised[0], SocketClosed)
    assert raised[0].code == 1006


async def test_an_exception_of_deliver_comes_out_of_the_pump_in_the_readers_task() -> None:
    async with connected() as (ws, peer), trio.open_nursery() as nursery:
        delivered = Delivered(fail_on="bad")
        raised = await pumping(nursery, ws, delivered)
        write(peer, frames(peer, "good", "bad", "unread"))
        await trio.testing.wait_all_tasks_blocked()
    assert delivered.messages == ["good"]
    assert len(raised) == 1
    assert isinstance(raised[0], ValueError)
    assert "refused 'bad'" in str(raised[0])


async def test_a_cancelled_pump_is_handed_nothing_more() -> None:
    async with connected() as (ws, peer), trio.open_nursery() as nursery:
        delivered = Delivered()
        scope = trio.CancelScope()

        async def pump() -> None:
            with scope:
                await ws.pump(delivered)

        nursery.start_soon(pump, name="pump")
        await trio.testing.wait_all_tasks_blocked()
        write(peer, frames(peer, "one"))
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()
        write(peer, frames(peer, "two"))  # before the cancelled reader runs again
        await trio.testing.wait_all_tasks_blocked()
        assert delivered.messages == ["one"]
        assert scope.cancelled_caught


@pytest.mark.parametrize("sockets", [8, 3 * _poller.HANDLED_PER_CHECKPOINT])
async def test_the_poller_yields_while_it_reads_for_many_sockets(sockets: int) -> None:
    # Every socket's message arrives in the same batch of events: the poller reads them all
    # in its own task, yielding every HANDLED_PER_CHECKPOINT of them.
    steps = Steps("jbtrio read poller")
    async with AsyncExitStack() as stack:
        pairs = [await stack.enter_async_context(connected()) for _ in range(sockets)]
        async with trio.open_nursery() as nursery:
            delivered = Delivered()
            for ws, _ in pairs:
                await pumping(nursery, ws, delivered)
            data = [frames(peer, f"to {index}") for index, (_, peer) in enumerate(pairs)]
            trio.lowlevel.add_instrument(steps)
            try:
                for (_, peer), message in zip(pairs, data, strict=True):
                    write(peer, message)
                await trio.testing.wait_all_tasks_blocked()
            finally:
                trio.lowlevel.remove_instrument(steps)
            nursery.cancel_scope.cancel()
    assert sorted(delivered.messages) == sorted(f"to {index}" for index in range(sockets))
    assert set(delivered.tasks) == {"jbtrio read poller"}
    # One step to wake, one more per HANDLED_PER_CHECKPOINT reads (the events may come in
    # more than one batch: at least that many).
    assert steps.steps["jbtrio read poller"] >= 1 + sockets // _poller.HANDLED_PER_CHECKPOINT


async def test_the_usual_read_is_handed_on_without_the_general_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whole text frames go from the read to ``deliver`` by one plain function
    (``whole_text_frames``), not the socket's general parser (issue 23); anything else
    still takes the general path, in order."""
    parsed: list[bytes] = []
    parse = Socket._parse

    def parse_spy(self: Socket, data: bytes | bytearray) -> None:
        parsed.append(bytes(data))
        parse(self, data)

    monkeypatch.setattr(Socket, "_parse", parse_spy)
    async with connected() as (ws, peer), trio.open_nursery() as nursery:
        delivered = Delivered()
        await pumping(nursery, ws, delivered)
        write(peer, frames(peer, "one", "two"))
        await trio.testing.wait_all_tasks_blocked()
        assert delivered.messages == ["one", "two"]
        assert set(delivered.tasks) == {"jbtrio read poller"}
        assert parsed == []
        write(peer, frames(peer, "three", Frame(Opcode.PING, b"p"), "four"))
        await trio.testing.wait_all_tasks_blocked()
        assert delivered.messages == ["one", "two", "three", "four"]
        assert len(parsed) == 1  # the general parser, which hands the ping to the engine
        nursery.cancel_scope.cancel()


async def test_messages_after_one_deliver_refused_stay_for_the_reader() -> None:
    async with connected() as (ws, peer), trio.open_nursery() as nursery:
        delivered = Delivered(fail_on="bad")
        raised = await pumping(nursery, ws, delivered)
        write(peer, frames(peer, "good", "bad", "unread", "last"))
        await trio.testing.wait_all_tasks_blocked()
        assert delivered.messages == ["good"]
        assert len(raised) == 1
        assert isinstance(raised[0], ValueError)
        assert [await ws.receive(), await ws.receive()] == ["unread", "last"]
        nursery.cancel_scope.cancel()


async def test_a_message_the_poller_reads_runs_no_interpreted_transport_code() -> None:
    """From the poller's event to ``deliver``, the usual message runs the plain functions of
    ``_sansio_inline`` (and its watcher), none of the stream's or the socket's methods; in the
    compiled build nothing of the transport runs interpreted at all (issue 23)."""
    runtime = os.path.dirname(_poller.__file__)
    called: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        code = frame.f_code
        if event == "call" and os.path.dirname(code.co_filename) == runtime:
            called.append(code.co_name)

    async with connected() as (ws, peer), trio.open_nursery() as nursery:
        delivered = Delivered()
        await pumping(nursery, ws, delivered)
        data = frames(peer, "one")
        sys.setprofile(profile)
        try:
            write(peer, data)
            await trio.testing.wait_all_tasks_blocked()
        finally:
            sys.setprofile(None)
        assert delivered.messages == ["one"]
        assert delivered.tasks == ["jbtrio read poller"]
        if jbtrio.COMPILED:
            assert called == []
        else:
            assert called == [
                "run",  # the poller's task, resumed
                "on_event",
                "waiting",
                "read_inline",
                "read_now",
                "feed",
                "whole_text_frames",
                "take",
            ]
        nursery.cancel_scope.cancel()
