"""The metrics page for a fixed story of calls is byte for byte the one recorded before the
label children were bound once per mount (issue 23): the same samples, values, labels and
order (the ``_created`` timestamps, wall-clock times, left out)."""

from __future__ import annotations

from pathlib import Path

import attrs
import trio
import trio.testing
from prometheus_client import CollectorRegistry

from jbtrio._runtime._logging import CallLogger, call_logger
from jbtrio._runtime._metrics import Metrics
from jbtrio._runtime._observe import CallStats
from jbtrio._runtime._transport_api import WebSocket

GOLDEN = Path(__file__).parent / "data" / "metrics_page.txt"


@attrs.define(eq=False)
class FakeCall:
    """An :class:`~jbtrio._runtime._observe.ObservedCall` without a socket."""

    call_sid: str
    path: str
    stats: CallStats = attrs.field(factory=CallStats)
    resumed: bool = False
    first_message: object = None
    end_reason: str | None = None
    socket: WebSocket | None = None

    @property
    def log(self) -> CallLogger:
        return call_logger("jbtrio.call", self.call_sid)


def mount_of(path: str) -> str | None:
    for mount in ("/a", "/b"):
        if path == mount or path.startswith(mount + "/"):
            return mount
    return None


def without_created(page: bytes) -> str:
    return "".join(
        line + "\n"
        for line in page.decode().splitlines()
        if "_created" not in line.split(" ", 1)[0] and "_created " not in line
    )


async def story(metrics: Metrics) -> str:
    """Calls on two mounts and elsewhere, replies, counts of every kind, a page made while
    calls are in progress and one after they ended."""
    one, two, three = FakeCall("c1", "/a/x"), FakeCall("c2", "/zzz"), FakeCall("c3", "/b")
    never = FakeCall("c4", "/a")
    for call in (one, two, three):
        call.stats.started_at = trio.current_time()
        metrics.call_started(call)
    metrics.replied(one, None, 0.003)  # type: ignore[arg-type]
    metrics.replied(two, None, 0.2)  # type: ignore[arg-type]
    metrics.replied(never, None, 0.01)  # type: ignore[arg-type]
    one.stats.frames_in, one.stats.bytes_in, one.stats.frames_out, one.stats.bytes_out = (
        3,
        500,
        2,
        300,
    )
    two.stats.reconnects, two.stats.auto_acks, two.stats.frames_in = 1, 2, 1
    await trio.sleep(3)
    first, _ = metrics.exposition()
    one.stats.frames_in, one.stats.bytes_in, one.stats.late_replies = 5, 900, 1
    one.stats.tts_requests, one.stats.tts_messages = 4, 2
    await trio.sleep(4)
    metrics.call_ended(one)
    two.stats.errors, two.stats.dropped, two.stats.oversized = 1, 2, 1
    two.stats.resent, two.stats.unconfirmed, two.stats.stall_recoveries = 1, 1, 1
    metrics.call_ended(two)
    three.stats.started_at, three.stats.frames_out = None, 1
    metrics.call_ended(three)
    metrics.call_ended(never)  # ended before its app started: not counted
    metrics.upgrade_refused(503)
    metrics.upgrade_refused(401)
    metrics.upgrade_refused(503)
    second, _ = metrics.exposition()
    return without_created(first) + "----\n" + without_created(second)


async def test_the_page_is_the_one_recorded(autojump_clock: trio.testing.MockClock) -> None:
    metrics = Metrics(CollectorRegistry(), route_of=mount_of, routes=["/a", "/b"])
    assert await story(metrics) == GOLDEN.read_text()
