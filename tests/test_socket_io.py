"""What only the default (sans-IO) backend has, on real sockets: replies written from the
replying task, and reads woken by the read poller.

Both paths exist only on a plain socket (an in-memory stream always takes the writer task and
Trio's own waits), so these tests run over ``socket.socketpair()``: the same kernel buffers,
partial writes and hang-ups as TCP, with no port to allocate. Tests wait on events and data,
never on time.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import FunctionType
from typing import Any

import pytest
import trio
import trio.testing
from _ws_peer import Peer
from _ws_peer import connected as connected_over
from websockets.frames import Frame, Opcode

import jbtrio
from jbtrio._runtime import Server, _sansio_send
from jbtrio._runtime._poller import read_poller
from jbtrio._runtime._rawstream import RawSocketStream, take_over
from jbtrio._runtime._sansio_socket import Socket, text_frame
from jbtrio._runtime._transport_api import SocketClosed, Written
from jbtrio.testing import At, Caller, FakeJambonz, Faults, PauseReading, app_view
from jbtrio.verbs import Gather, Hangup, Say


def socket_pair(buffer: int | None = None) -> tuple[trio.SocketStream, trio.SocketStream]:
    """(server end, client end); ``buffer`` shrinks the server's send buffer and the client's
    receive buffer, so that a large frame fills them."""
    server_end, client_end = socket.socketpair()
    if buffer is not None:
        server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
        client_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
    return (
        trio.SocketStream(trio.socket.from_stdlib_socket(server_end)),
        trio.SocketStream(trio.socket.from_stdlib_socket(client_end)),
    )


def raw(stream: trio.SocketStream) -> RawSocketStream:
    """``stream``'s socket as the transport's own stream (as the server takes it over)."""
    taken = take_over(stream)
    assert isinstance(taken, RawSocketStream)
    return taken


@asynccontextmanager
async def connected(buffer: int | None = None) -> AsyncIterator[tuple[Socket, Peer]]:
    server_end, client_end = socket_pair(buffer)
    async with connected_over(server_end, client_end) as (ws, peer):
        assert isinstance(ws, Socket)
        yield ws, peer


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frames_are_framed_as_websockets_frames_them(size: int) -> None:
    payload = b"x" * size
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


async def test_a_binary_frame_the_kernel_takes_is_written_at_once() -> None:
    async with connected() as (ws, peer):
        assert ws.send_nowait(b"\x00\x01\x02", binary=True) is Written.ALL
        frame = await peer.next_frame()
        assert (frame.opcode, bytes(frame.data)) == (Opcode.BINARY, b"\x00\x01\x02")


# ---------------------------------------------------------------------- Socket.send_nowait


async def test_a_frame_the_kernel_takes_is_written_at_once() -> None:
    async with connected() as (ws, peer):
        assert ws.send_nowait(b'{"type":"ack","msgid":"m1"}') is Written.ALL
        frame = await peer.next_frame()
        assert (frame.opcode, bytes(frame.data)) == (Opcode.TEXT, b'{"type":"ack","msgid":"m1"}')
        assert not ws.has_pending


async def test_send_nowait_is_the_compiled_modules_function_bound_to_the_socket() -> None:
    # The usual reply's write runs no interpreted frame of the socket's in the compiled
    # build (issue 23): the method is _sansio_send's function, bound, in either build.
    async with connected() as (ws, peer):
        bound = ws.send_nowait
        assert bound.__func__ is _sansio_send.send_nowait  # type: ignore[attr-defined]
        assert bound.__self__ is ws  # type: ignore[attr-defined]
        compiled = not isinstance(_sansio_send.send_nowait, FunctionType)
        assert compiled is jbtrio.COMPILED
        with pytest.raises(TypeError):
            ws.send_nowait(b"{}", True)  # binary is keyword-only
        assert ws.send_nowait(b"{}", binary=False) is Written.ALL
        assert bytes((await peer.next_frame()).data) == b"{}"


async def test_nothing_is_written_at_once_on_a_stream_that_is_not_a_socket() -> None:
    async with connected_over() as (ws, peer):
        assert isinstance(ws, Socket)
        assert ws.send_nowait(b"{}") is Written.NONE
        await ws.send(b'{"n":1}')  # the usual way still works, and nothing came before it
        assert bytes((await peer.next_frame()).data) == b'{"n":1}'


async def test_a_partial_write_owes_the_rest_before_anything_else() -> None:
    big = b'{"say":"' + b"x" * 600_000 + b'"}'
    async with connected(buffer=4096) as (ws, peer):
        assert ws.send_nowait(big) is Written.PART
        assert ws.has_pending  # the rest is first in line ...
        assert ws.send_nowait(b'{"n":2}') is Written.NONE  # ... so nothing may jump it
        got: list[bytes] = []
        async with trio.open_nursery() as nursery:

            async def read_two() -> None:
                for _ in range(2):
                    got.append(bytes((await peer.next_frame()).data))

            nursery.start_soon(read_two)
            await ws.flush()  # writes the rest, waiting for the peer to read
            await ws.send(b'{"n":2}')
        assert got == [big, b'{"n":2}']


async def test_a_write_to_a_hung_up_peer_breaks_the_socket() -> None:
    async with connected() as (ws, peer):
        await peer.stream.aclose()
        assert ws.send_nowait(b"{}") is Written.NONE
        with pytest.raises(SocketClosed) as closed:
            await ws.send(b"{}")
        assert closed.value.code == 1006


# ---------------------------------------------------------------------- the read poller


@pytest.mark.parametrize("waited", [False, True])
async def test_readers_of_many_sockets_wake_for_their_own_data(waited: bool) -> None:
    """Each stream's first wait is Trio's own; its later waits the read poller's."""
    pairs = [socket_pair() for _ in range(20)]
    streams = [raw(server) for server, _ in pairs]
    if waited:  # each has waited once: they wait on the poller now
        for stream, (_, client) in zip(streams, pairs, strict=True):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stream.receive_some, 100)
                await trio.testing.wait_all_tasks_blocked()
                await client.send_all(b"first")
    got: dict[int, bytes] = {}
    async with trio.open_nursery() as nursery:

        async def read(index: int) -> None:
            got[index] = await streams[index].receive_some(100)

        for index in range(len(streams)):
            nursery.start_soon(read, index)
        await trio.testing.wait_all_tasks_blocked()
        poller = read_poller() if waited else None
        assert all(stream._poller is poller for stream in streams)
        for index in reversed(range(len(streams))):
            await pairs[index][1].send_all(b"message %d" % index)
    assert got == {index: b"message %d" % index for index in range(len(streams))}
    for stream, (_, client) in zip(streams, pairs, strict=True):
        await stream.aclose()
        await client.aclose()


async def test_a_stream_s_first_wait_is_trio_s_own_and_its_next_the_poller_s() -> None:
    """A connection's first wait (jambonz's session message after the upgrade) is woken by
    Trio itself, not through a step of the poller's task (issue 23); a stream that waits
    again is registered with the poller, once."""
    server, client = socket_pair()
    stream = raw(server)
    got: list[bytes] = []
    async with trio.open_nursery() as nursery:

        async def read() -> None:
            got.append(await stream.receive_some(100))
            got.append(await stream.receive_some(100))

        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        assert stream._poller is None  # waiting the Trio way
        await client.send_all(b"one")
        await trio.testing.wait_all_tasks_blocked()
        assert stream._poller is read_poller()  # the second wait
        await client.send_all(b"two")
    assert got == [b"one", b"two"]
    await stream.aclose()
    await client.aclose()


async def test_data_that_came_before_the_first_wait_is_read() -> None:
    server, client = socket_pair()
    await client.send_all(b"early")
    stream = raw(server)
    assert await stream.receive_some(100) == b"early"
    await client.aclose()
    assert await stream.receive_some(100) == b""  # the hang-up wakes the reader too
    await stream.aclose()


@pytest.mark.parametrize("waited", [False, True])
async def test_closing_a_stream_wakes_its_parked_reader(waited: bool) -> None:
    """Parked in Trio's wait (its first) or on the read poller (any later one)."""
    server, client = socket_pair()
    stream = raw(server)
    if waited:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream.receive_some, 100)
            await trio.testing.wait_all_tasks_blocked()
            await client.send_all(b"first")
    async with trio.open_nursery() as nursery:

        async def read() -> None:
            with pytest.raises(trio.ClosedResourceError):
                await stream.receive_some(100)

        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        assert (stream._poller is not None) == waited
        await stream.aclose()
    await client.aclose()


async def test_readers_fall_back_to_trio_when_the_poller_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, client = socket_pair()
    stream = raw(server)
    poller = read_poller()
    assert poller is not None
    got: list[bytes] = []
    async with trio.open_nursery() as nursery:

        async def read() -> None:
            got.append(await stream.receive_some(100))
            got.append(await stream.receive_some(100))

        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        await client.send_all(b"first")  # the first wait is Trio's own; the next the poller's
        await trio.testing.wait_all_tasks_blocked()
        assert stream._poller is poller
        # The set goes away under the poller's wait: it fails, wakes every reader, and the
        # readers wait with Trio's own poller from then on.
        trio.lowlevel.notify_closing(poller._epoll.fileno())
        await trio.testing.wait_all_tasks_blocked()
        assert poller.failed
        await client.send_all(b"still read")
    assert got == [b"first", b"still read"]
    assert "read poller failed" in caplog.text
    await stream.aclose()
    await client.aclose()


# ---------------------------------------------------------------------- whole calls


@contextmanager
def written_counts() -> Iterator[Counter[Written]]:
    """Count what every Socket.send_nowait call did."""
    counts: Counter[Written] = Counter()
    # The function the method is bound from (in the compiled build the class attribute is a
    # property that binds it, not a function to call with the socket).
    original = _sansio_send.send_nowait

    def spy(self: Socket, payload: bytes) -> Written:
        result = original(self, payload)
        counts[result] += 1
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Socket, "send_nowait", spy)
        yield counts


async def place(app: jbtrio.App, path: str, *, buffer: int | None = None, **options: Any) -> Any:
    """One call from the fake jambonz to ``app`` over a socket pair."""
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app).run_in)

        async def connect() -> trio.abc.Stream:
            server_end, client_end = socket_pair(buffer)
            nursery.start_soon(server.handle_stream, server_end)
            return client_end

        call = await FakeJambonz().place_call(
            f"ws://jbtrio.test{path}", connector=connect, **options
        )
        await server.shutdown(grace=0)
    return call


def said(call: Any) -> list[str]:
    return [v["text"] for v in call.executed_verbs if v.get("verb") == "say"]


def answering_app(text_for: Callable[[int], str], answers: int) -> jbtrio.App:
    """Answers session:new and each gather hook with a say and a gather; hangs up after
    ``answers`` hooks. Replies with ``event.reply`` from ``call.events()``."""
    app = jbtrio.App()

    @app.route("/events")
    async def handler(call: jbtrio.Call) -> None:
        gather = Gather(input=["speech"], action_hook="/g", timeout=5)
        await call.start.reply([Say(text=text_for(0)), gather])
        count = 0
        async for event in call.events():
            if event.hook == "/g" and event.needs_reply:
                count += 1
                last = count == answers
                await event.reply([Say(text=text_for(count)), Hangup() if last else gather])

    return app


async def test_replies_are_written_by_the_replying_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = answering_app(lambda n: f"answer {n}", answers=3)
    with written_counts() as counts:
        call = await place(app, "/events", caller=Caller(speech=["a", "b", "c"]))
    assert call.outcome.ok, call.outcome.summary()
    assert said(call) == [f"answer {n}" for n in range(4)]
    # every hook's ack (the session:new one may come before the writer first waits)
    assert counts[Written.ALL] >= 3
    assert counts[Written.PART] == counts[Written.NONE] == 0


async def test_a_reply_the_kernel_takes_in_part_arrives_whole_and_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Acks of ~20 KB into a 4 KB buffer while jambonz is not reading: the kernel takes part of
    # one, the writer task writes the rest, and nothing overtakes it.
    def text_for(n: int) -> str:
        return f"{n} " + "blah " * 4000

    app = answering_app(text_for, answers=3)
    faults = Faults([PauseReading(At("in", index=0), 2.0)])
    with written_counts() as counts:
        call = await place(
            app, "/events", buffer=4096, caller=Caller(speech=["a", "b", "c"]), faults=faults
        )
    assert call.outcome.ok, call.outcome.summary()
    assert said(call) == [text_for(n) for n in range(4)]
    assert counts[Written.PART] >= 1


async def test_a_flow_step_resumed_at_once_still_joins_the_ack_over_a_socket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()

    @app.flow("/flow")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield Say(text="hello")
        first = yield Gather(input=["speech"], say=Say(text="what?"))
        second = yield Gather(input=["speech"], say=Say(text=f"{first.speech_text}, and?"))
        yield [Say(text=f"then {second.speech_text}"), Hangup()]

    with written_counts() as counts:
        call = await place(app, "/flow", caller=Caller(speech=["this", "that"]))
    assert call.outcome.ok, call.outcome.summary()
    acks = [app_view(frame.data["data"]) for frame in call.received("ack")]
    assert [verb["verb"] for verb in acks[0]] == ["say", "gather"]  # the first two steps
    assert not call.received("command")  # no redirect for the second step
    assert said(call) == ["hello", "then that"]
    prompts = [verb["say"]["text"] for verb in call.executed_verbs if verb["verb"] == "gather"]
    assert prompts == ["what?", "this, and?"]
    # The third step answers a hook and then waits: its ack went from the flow's own task.
    assert counts[Written.ALL] >= 1


async def test_a_hang_up_that_came_with_the_last_data_is_not_missed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Data and the peer's FIN can arrive before the reader first waits: the set reports them
    # as one edge, the read of the data is short, and no edge will ever follow. The next
    # read must still see the end of the stream (not wait for an edge that never comes).
    server, client = socket_pair()
    await client.send_all(b"last words")
    await client.aclose()
    stream = raw(server)
    with trio.fail_after(60):  # virtual time: fails at once if the reader waits forever
        assert await stream.receive_some(100) == b"last words"
        assert await stream.receive_some(100) == b""
    await stream.aclose()
