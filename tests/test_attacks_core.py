"""Attacks that reach the wire model and the sans-IO core (issue 16): ids longer than any
jambonz sends, queues a peer can grow by not reading, and errors that must never leave the
core into the runtime's tasks."""

from __future__ import annotations

import orjson
import pytest
import trio
import trio.testing
from _attacker import SID, attacker, frame, hello_app, serving, session_new

from jbtrio import ProtocolError, decode
from jbtrio._core import CallCore, CoreConfig
from jbtrio._runtime import ServerConfig
from jbtrio._wire import MAX_ID_CHARS, UnknownMessage

# ---------------------------------------------------------------------- ids (item 8)


@pytest.mark.parametrize("kind", ["verb:hook", "call:status", "session:new", "agent:whatever"])
def test_a_msgid_longer_than_any_jambonz_sends_is_a_protocol_error(kind: str) -> None:
    text = frame(kind, "m" * (MAX_ID_CHARS + 1))
    with pytest.raises(ProtocolError, match=r"\$\.msgid"):
        decode(text)
    decode(frame(kind, "m" * MAX_ID_CHARS))  # the bound itself is fine


@pytest.mark.parametrize("where", ["envelope", "data"])
def test_a_call_sid_longer_than_any_jambonz_sends_is_a_protocol_error(where: str) -> None:
    long_sid = "c" * (MAX_ID_CHARS + 1)
    message = orjson.loads(frame("verb:hook", "m1"))
    if where == "envelope":
        message["call_sid"] = long_sid
    else:
        message["data"]["call_sid"] = long_sid
    with pytest.raises(ProtocolError, match="call_sid"):
        decode(orjson.dumps(message))


def test_an_unknown_type_with_a_long_call_sid_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="call_sid"):
        decode(frame("agent:event", "m1", sid="c" * (MAX_ID_CHARS + 1)))


async def test_a_huge_msgid_does_not_break_the_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A 30 KB msgid on an unknown type made the reader's ack exceed the frame limit:
    MessageTooLargeError escaped ("connection handler failed", close 1001)."""
    config = ServerConfig(ping_interval=None)
    async with serving(hello_app(), config) as server, attacker(server) as peer:
        await peer.send_now(session_new())
        await peer.next_message()
        await peer.send_now(frame("agent:whatever", "m" * 30_000))
        await peer.send_now(frame("verb:hook", "m3", hook="/x"))
        ack = await peer.next_message()
        assert ack is not None and ack["msgid"] == "m3"
        assert server.calls[SID].socket is not None


async def test_a_huge_msgid_on_a_hook_does_not_kill_the_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The timer's automatic ack of a hook with a 30 KB msgid raised out of the timer
    ("call runtime failed"): the call died."""
    config = ServerConfig(ping_interval=None)
    async with serving(hello_app(), config) as server, attacker(server) as peer:
        await peer.send_now(session_new())
        await peer.next_message()
        await peer.send_now(frame("verb:hook", "h" * 30_000, hook="/x"))
        await trio.sleep(10)  # past the reply window
        assert not server.calls[SID].ended
        await peer.send_now(frame("verb:hook", "m3", hook="/x"))
        ack = await peer.next_message()
        assert ack is not None and ack["msgid"] == "m3"


def test_the_core_never_raises_on_an_ack_it_makes_for_the_peer() -> None:
    """Belt and braces: a message built without the decoder (so without its bounds) whose
    msgid makes the core's own ack too large does not raise out of ``receive``."""
    core = CallCore(CoreConfig())
    core.attach()
    huge = "u" * 30_000
    message = UnknownMessage.from_raw({"type": "x:y", "msgid": huge})
    core.receive(message, 0.0)  # no exception
    assert core.abort_reason is not None


# ---------------------------------------------------------------------- queues (item 2)


def unknown(n: int) -> UnknownMessage:
    return UnknownMessage.from_raw({"type": "x:unknown", "msgid": f"u{n}"})


def test_acks_for_a_peer_that_does_not_read_are_bounded_then_the_call_is_aborted() -> None:
    """Unknown types with a msgid each queue an ack and acks were never refused: a peer
    that never read grew one call by 1.3 GB in 15 s."""
    config = CoreConfig(max_queued_commands=10, max_queued_frames=50)
    core = CallCore(config)
    core.attach()
    for n in range(200):
        core.receive(unknown(n), 0.0)
    assert len(core.queued) <= 50
    assert core.abort_reason is not None and "max_queued_frames" in core.abort_reason
    assert core.receive(unknown(999), 0.0) == []  # nothing more is taken


def test_messages_awaiting_a_reply_count_toward_the_bound() -> None:
    from jbtrio import VerbHook

    config = CoreConfig(max_queued_commands=10, max_queued_frames=50)
    core = CallCore(config)
    core.attach()
    for n in range(60):
        core.receive(VerbHook(msgid=f"h{n}", hook="/x"), 0.0)
    assert len(core.open_replies) <= 50
    assert core.abort_reason is not None


def test_queued_bytes_are_bounded_and_commands_keep_half_for_acks() -> None:
    from jbtrio import Command

    config = CoreConfig(max_queued_bytes=4 * 24576)
    core = CallCore(config)
    core.attach()
    big = Command(command="config", data={"x": "y" * 20_000})
    queued = 0
    while core.can_queue_command:
        core.command(big, 0.0)
        queued += 1
    assert queued == 3  # 3 x 20 KB >= half of 96 KiB
    assert core.abort_reason is None


def test_rewriting_a_long_queue_after_a_drop_is_linear() -> None:
    """Dropping the socket under 281,919 queued acks took seconds (a deque search and
    delete per frame). Now each frame is removed in O(1). The bound is on this process's
    CPU time, not the wall clock: another process loading the machine does not move it."""
    import time

    config = CoreConfig(max_queued_commands=10, max_queued_frames=100_000)
    core = CallCore(config)
    core.attach()
    for n in range(50_000):
        core.receive(unknown(n), 0.0)
    assert len(core.queued) == 50_000
    start = time.process_time()
    events = core.detach(1.0)
    elapsed = time.process_time() - start
    assert len(events) == 50_000 and not core.queued
    assert "unknown message type" in events[0].reason  # type: ignore[union-attr]
    assert elapsed < 2.0  # quadratic: minutes


async def test_a_peer_that_never_reads_gets_its_call_ended_with_one_log_line(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The attack of item 2 end to end: unknown types with msgids on a socket whose peer
    reads nothing (a lockstep stream has no buffer, so the writer blocks at once)."""
    from _attacker import Attacker

    config = ServerConfig(
        ping_interval=None,
        send_stall_timeout=1000.0,
        core=CoreConfig(max_queued_commands=10, max_queued_frames=100),
    )
    async with serving(hello_app(), config) as server, trio.open_nursery() as nursery:
        client, server_end = trio.testing.lockstep_stream_pair()
        nursery.start_soon(server.handle_stream, server_end)
        peer = Attacker(client)
        async with trio.open_nursery() as handshake:
            handshake.start_soon(peer.handshake)
        await peer.send_now(session_new())
        for n in range(300):
            await peer.send_now(frame("x:unknown", f"u{n}"))
            if SID not in server.calls:
                break
        await trio.sleep(1)
        assert SID not in server.calls  # ended, not growing
        nursery.cancel_scope.cancel()
    ended = [r for r in caplog.records if "outbound queue" in r.getMessage()]
    assert len(ended) == 1, [r.getMessage() for r in ended]
    assert not any("ack for a reconnect" in r.getMessage() for r in caplog.records)


async def test_dropping_a_long_queue_logs_a_bounded_number_of_lines(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """281,919 queued frames dropped with one WARNING each froze the server for 8.7 s."""
    from _attacker import Attacker

    from jbtrio._runtime._ratelimit import LOG_BURST

    config = ServerConfig(ping_interval=None, send_stall_timeout=5.0)
    async with serving(hello_app(), config) as server, trio.open_nursery() as nursery:
        client, server_end = trio.testing.lockstep_stream_pair()
        nursery.start_soon(server.handle_stream, server_end)
        peer = Attacker(client)
        async with trio.open_nursery() as handshake:
            handshake.start_soon(peer.handshake)
        await peer.send_now(session_new())
        for n in range(500):
            await peer.send_now(frame("x:unknown", f"u{n}"))
        await trio.sleep(10)  # the writer stalls, the watchdog aborts the socket
        assert server.calls[SID].socket is None
        nursery.cancel_scope.cancel()
    lines = [r.getMessage() for r in caplog.records if "queued frame rewritten" in r.getMessage()]
    assert len(lines) == LOG_BURST + 1  # a burst, then the count of the rest
    assert "490 more record(s) like this were not logged" in lines[-1]


def test_a_queued_ack_holds_memory_of_its_own_size() -> None:
    """orjson's output keeps the 4 KiB buffer it was written in: 2,000 acks owed to a peer
    that does not read held 8 MB instead of 1."""
    import tracemalloc

    core = CallCore(CoreConfig())
    core.attach()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for n in range(1000):
            core.receive(unknown(n), 0.0)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(core.queued) == 1000
    assert grown < 1000 * 1024, grown  # about 500 bytes an ack, all told
