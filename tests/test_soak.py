"""The soak's accounting (``fuzz/_soak_report.py``, imported as ever from ``fuzz.soak``): what
counts as lost, and what is explained."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import orjson
import trio
import trio.testing

from fuzz.soak import (
    ServerLog,
    Track,
    first_divergence_in,
    hit_by_connect_failure,
    lost_in,
)
from jbtrio.testing import CallOutcome, ConnEvent, FakeCall, TranscriptFrame

EXPECTED = [("say", "Hello"), ("gather", ""), ("say", "You said: hi"), ("hangup", "")]
GATHER = orjson.dumps({"type": "command", "command": "redirect", "data": [{"verb": "gather"}]})
ANSWER = orjson.dumps(
    {"type": "ack", "msgid": "m", "data": [{"verb": "say", "text": "You said: hi"}]}
)


def fake_call(
    events: list[ConnEvent],
    run: list[tuple[str, str]],
    outcome: CallOutcome,
    sent: list[TranscriptFrame] | None = None,
) -> FakeCall:
    """Just what the accounting reads from a finished call."""
    executed = [{"verb": verb, **({"text": text} if text else {})} for verb, text in run]

    def frames_sent(msg_type: str | None = None) -> list[TranscriptFrame]:
        return [f for f in sent or [] if msg_type in (None, f.type)]

    stub: Any = SimpleNamespace(
        events=events, executed_verbs=executed, outcome=outcome, sent=frames_sent
    )
    return cast(FakeCall, stub)


def error_frame(details: str) -> TranscriptFrame:
    data = {"type": "jambonz:error", "msgid": "e", "data": {"details": details}}
    return TranscriptFrame("out", 9.0, orjson.dumps(data).decode(), data, 2)


def explained(why: tuple[str, str] | None) -> str:
    """The kind of evidence (``""`` when nothing explained the call)."""
    return why[0] if why is not None else ""


COMPLETED = CallOutcome("completed", "caller hung up (app left the call idle)", "caller")


def test_lost_in_counts_missing_and_repeated_verbs() -> None:
    assert lost_in(EXPECTED, EXPECTED) == 0
    assert lost_in(EXPECTED[:2], EXPECTED) == 2
    assert lost_in([*EXPECTED[:2], *EXPECTED[:2]], EXPECTED) == 4  # 2 repeated, 2 missing


def test_first_divergence_in_looks_at_the_first_missing_verb_only() -> None:
    assert first_divergence_in(EXPECTED[:2], EXPECTED, [ANSWER.decode()])
    assert not first_divergence_in(EXPECTED[:1], EXPECTED, [ANSWER.decode()])
    assert first_divergence_in(EXPECTED[:1], EXPECTED, [GATHER.decode()])
    assert not first_divergence_in(EXPECTED, EXPECTED, [ANSWER.decode()])


def test_ended_while_reconnects_failed_with_the_answer_queued_is_explained() -> None:
    events = [
        ConnEvent(0.0, 1, "open"),
        ConnEvent(3.0, 1, "close", 1006, "jambonz"),
        ConnEvent(5.0, 2, "connect-failed", detail="handshake timed out"),
    ]
    call = fake_call(events, EXPECTED[:2], COMPLETED)
    queued = Track(unsent=[ANSWER.decode()])
    assert (
        explained(hit_by_connect_failure(call, queued, EXPECTED))
        == "ended disconnected, next verbs queued"
    )
    # without the answer queued at the server, nothing shows the failed connect was the cause
    assert hit_by_connect_failure(call, Track(), EXPECTED) is None
    # the drop took session:new with it: the server never saw the call, nothing ran
    failed = CallOutcome("failed", "session:new ack timed out", "jambonz")
    never = hit_by_connect_failure(fake_call(events, [], failed), Track(), EXPECTED)
    assert explained(never) == "ended disconnected, call never reached the app"
    seen = Track(cores_ended=1)
    assert hit_by_connect_failure(fake_call(events, [], failed), seen, EXPECTED) is None
    # nor once jambonz got a socket back
    back = fake_call([*events, ConnEvent(6.0, 3, "open")], EXPECTED[:2], COMPLETED)
    assert hit_by_connect_failure(back, queued, EXPECTED) is None


def test_a_hook_failed_on_a_failed_connect_is_explained() -> None:
    events = [
        ConnEvent(0.0, 1, "open"),
        ConnEvent(0.3, 1, "close", 1001, "jambonz"),
        ConnEvent(2.6, 2, "connect-failed", detail="handshake timed out"),
        ConnEvent(7.6, 3, "open"),
        ConnEvent(17.3, 3, "close", 1000, "jambonz"),
    ]
    hit = fake_call(events, EXPECTED[:2], COMPLETED, [error_frame("handshake timed out")])
    assert (
        explained(hit_by_connect_failure(hit, Track(), EXPECTED))
        == "hook failed on a failed connect"
    )
    other = fake_call(events, EXPECTED[:2], COMPLETED, [error_frame("timeout")])
    assert hit_by_connect_failure(other, Track(), EXPECTED) is None


def test_an_ack_timer_run_out_just_after_a_late_reconnect_is_explained() -> None:
    events = [
        ConnEvent(0.0, 1, "open"),
        ConnEvent(0.1, 1, "close", 1006, "jambonz"),
        ConnEvent(2.4, 2, "connect-failed", detail="handshake timed out"),
        ConnEvent(4.9, 3, "open"),
        ConnEvent(5.2, 3, "close", 1001, "jambonz"),
    ]
    failed = CallOutcome("failed", "session:new ack timed out", "jambonz")
    why = hit_by_connect_failure(fake_call(events, [], failed), Track(), EXPECTED)
    assert explained(why) == "ack timer ran out just after a late reconnect"
    # the app had the socket for longer than its ack margin: that one is the app's
    late = [*events[:3], ConnEvent(2.9, 3, "open"), ConnEvent(5.2, 3, "close", 1001, "jambonz")]
    assert hit_by_connect_failure(fake_call(late, [], failed), Track(), EXPECTED) is None
    # no failed attempt at all: not explained either
    plain = [events[0], events[1], ConnEvent(4.9, 2, "open"), events[4]]
    assert hit_by_connect_failure(fake_call(plain, [], failed), Track(), EXPECTED) is None


async def test_server_log_settles_when_the_core_ended(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = ServerLog()
    settled: list[Track] = []

    async def settle() -> None:
        settled.append(await log.settle("sid", 40.0))

    log.wrote("sid", 1.0, "a")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(settle)
        await trio.sleep(1)
        assert not settled
        log.ended("sid", ["b"])
    assert settled[0].written == [(1.0, "a")] and settled[0].unsent == ["b"]
    assert "sid" not in log.calls


async def test_server_log_waits_for_a_later_core(autojump_clock: trio.testing.MockClock) -> None:
    log = ServerLog()
    log.wrote("sid", 1.0, "a")
    log.ended("sid", [])
    log.wrote("sid", 2.0, "b")  # jambonz came back after the first core gave up
    with trio.move_on_after(10) as scope:
        await log.settle("sid", 40.0)
    assert scope.cancelled_caught
    log.close()
    track = await log.settle("sid", 40.0)
    assert track.written == [(1.0, "a"), (2.0, "b")]


async def test_server_log_gives_up_after_the_limit(autojump_clock: trio.testing.MockClock) -> None:
    log = ServerLog()
    start = trio.current_time()
    track = await log.settle("never-seen", 40.0)
    assert track.written == [] and trio.current_time() - start == 40.0
