"""Attacks through one socket on the server, in process (issue 16): a hostile peer must not
stall other calls, flood the log, hijack a call, or make memory grow without bound.

Every test reproduces an attack with a bounded count of frames over in-memory streams under
``MockClock`` (or checks scheduling order), so it is deterministic and fast.
"""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
from _attacker import SID, Attacker, attacker, frame, hello_app, serving, session_new

from jbtrio._runtime import ServerConfig
from jbtrio._runtime._logging import MAX_LOGGED_SID
from jbtrio._runtime._ratelimit import LOG_BURST

# ---------------------------------------------------------------------- floods (item 1)


async def test_a_malformed_flood_on_one_call_does_not_hold_up_another_calls_ack() -> None:
    """One read's worth of malformed frames (~9,000) on call A used to be handled without a
    single checkpoint; call B's session:new, sent meanwhile, waited for all of them."""
    config = ServerConfig(ping_interval=None)
    async with (
        serving(hello_app(), config) as server,
        attacker(server) as a,
        attacker(server) as b,
    ):
        await a.send_now(session_new(sid="call-a"))
        assert (await a.next_message() or {}).get("type") == "ack"
        for _ in range(9000):
            a.send("!")  # 7 bytes a frame: 63 KB, one read
        a.send(frame("verb:hook", "marker", "call-a", hook="/nowhere"))
        await a.flush()
        await b.send_now(session_new(sid="call-b"))
        order: list[str] = []

        async def wait_ack(peer: Attacker, name: str) -> None:
            while True:
                message = await peer.next_message()
                if message is not None and message.get("type") == "ack":
                    order.append(name)
                    return

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_ack, a, "a's marker")
            nursery.start_soon(wait_ack, b, "b's session:new")
        assert order == ["b's session:new", "a's marker"]


async def test_bad_input_is_logged_at_most_a_burst_per_period_then_counted(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = ServerConfig(ping_interval=None)
    async with serving(hello_app(), config) as server, attacker(server) as peer:
        await peer.send_now(session_new())
        await peer.next_message()
        caplog.clear()
        for _ in range(500):
            peer.send("{bad json")
        await peer.flush()
        await trio.sleep(1)
        skipped = [r for r in caplog.records if "malformed frame skipped" in r.getMessage()]
        assert len(skipped) == LOG_BURST
        await trio.sleep(30)  # a new period: the next line says how many were not logged
        await peer.send_now("{bad json")
        await trio.sleep(1)
        last = [r for r in caplog.records if "malformed frame skipped" in r.getMessage()][-1]
        assert "and 490 more like this since" in last.getMessage()
        assert last.call_sid == SID  # type: ignore[attr-defined]


async def test_the_count_of_lines_not_logged_is_logged_when_the_call_ends(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = ServerConfig(ping_interval=None)
    async with serving(hello_app(), config) as server, attacker(server) as peer:
        await peer.send_now(session_new())
        await peer.next_message()
        for _ in range(LOG_BURST + 7):
            peer.send("{bad json")
        await peer.flush()
        await trio.sleep(1)
        server.calls[SID].end("test over")
        await trio.sleep(1)
    assert any(
        "7 more record(s) like this were not logged" in r.getMessage() for r in caplog.records
    )


async def test_malformed_frames_before_the_session_are_rate_limited_too(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = ServerConfig(ping_interval=None)
    async with serving(hello_app(), config) as server, attacker(server) as peer:
        for _ in range(300):
            peer.send("[")
        await peer.flush()
        await peer.send_now(session_new())
        assert (await peer.next_message() or {}).get("type") == "ack"
    before = [r for r in caplog.records if "before the session started" in r.getMessage()]
    assert len(before) <= LOG_BURST + 1


# ---------------------------------------------------------------------- smaller (item 10)


async def test_a_binary_frame_is_not_a_session_message(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """jambonz sends text frames only; the acceptor of ``--workers`` never routed a binary
    one, the single process took it as the call's session:new. Both skip it now, logged."""
    config = ServerConfig(ping_interval=None, first_message_timeout=5)
    async with serving(hello_app(), config) as server, attacker(server) as peer:
        await peer.send_now(session_new(), binary=True)
        assert await peer.next_message() is None  # no session: closed after 5 s
        assert server.calls == {}
    assert any("binary frame" in r.getMessage() for r in caplog.records)


async def test_a_binary_frame_in_a_call_is_skipped(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = ServerConfig(ping_interval=None)
    async with serving(hello_app(), config) as server, attacker(server) as peer:
        await peer.send_now(session_new())
        await peer.next_message()
        await peer.send_now(frame("verb:hook", "m2", hook="/x"), binary=True)
        await peer.send_now(frame("verb:hook", "m3", hook="/x"))
        ack = await peer.next_message()
        assert ack is not None and ack["msgid"] == "m3"  # m2 was never taken
    assert any("binary frame" in r.getMessage() for r in caplog.records)


async def test_log_records_carry_a_capped_call_sid(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    huge = "s" * 100
    config = ServerConfig(ping_interval=None)
    async with serving(hello_app(), config) as server, attacker(server) as peer:
        await peer.send_now(session_new(sid=huge))
        await peer.next_message()
        await peer.send_now("{bad")
        await trio.sleep(1)
    records = [r for r in caplog.records if r.name.startswith("jbtrio")]
    assert records
    assert all(huge not in r.getMessage() for r in records)
    assert all(len(getattr(r, "call_sid", "")) <= MAX_LOGGED_SID for r in records)
