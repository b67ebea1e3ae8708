"""The metrics observer over whole calls in memory: the counters a call moves, labelled by
the app's mount (never the raw path), live calls counted at each scrape."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry

import jbtrio
from jbtrio import Call
from jbtrio._runtime._metrics import Metrics
from jbtrio._runtime._observe import observers
from jbtrio.testing import Caller, run_app


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    app_metrics = Metrics(CollectorRegistry(), route_of=APP.mount_of, routes=APP.paths).install()
    yield app_metrics
    app_metrics.uninstall()
    assert app_metrics not in observers()


APP = jbtrio.App()


@APP.flow("/ivr")
async def ivr(call: Call) -> jbtrio.Steps:
    yield jbtrio.verbs.Say(text="hi")
    yield jbtrio.verbs.Gather(input=["digits"], num_digits=1, timeout=5)
    yield jbtrio.verbs.Hangup()


@APP.route("/slow")
async def slow(call: Call) -> None:
    await trio.sleep(10)  # past the reply window: the core acks for the app
    with pytest.raises(jbtrio.ReplyError):
        await call.start.reply([{"verb": "hangup"}])
    await call.hangup()


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_a_call_moves_the_counters(
    metrics: Metrics, autojump_clock: trio.testing.MockClock
) -> None:
    assert value(metrics, "jbtrio_calls_total", path="/ivr") == 0
    await run_app(APP, "/ivr/sub/path", caller=Caller(digits=["1"]))
    assert value(metrics, "jbtrio_calls_total", path="/ivr") == 1
    assert value(metrics, "jbtrio_calls_active", path="/ivr") == 0
    assert value(metrics, "jbtrio_call_duration_seconds_count", path="/ivr") == 1
    assert value(metrics, "jbtrio_hook_ack_latency_seconds_count", path="/ivr") == 2
    assert value(metrics, "jbtrio_frames_total", path="/ivr", direction="out") >= 2
    assert value(metrics, "jbtrio_bytes_total", path="/ivr", direction="in") > 0
    page, content_type = metrics.exposition()
    assert b'path="/ivr/sub/path"' not in page  # the mount, never the raw path
    assert content_type.startswith("text/plain")


async def test_acks_on_the_apps_behalf_and_late_replies(
    metrics: Metrics, autojump_clock: trio.testing.MockClock
) -> None:
    await run_app(APP, "/slow", check=False)
    assert value(metrics, "jbtrio_auto_acks_total", path="/slow") == 1
    assert value(metrics, "jbtrio_late_replies_total", path="/slow") == 1


async def test_live_calls_count_their_frames_at_each_scrape(
    metrics: Metrics, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: run_app(APP, "/slow", check=False))
        await trio.sleep(1)
        assert value(metrics, "jbtrio_calls_active", path="/slow") == 1
        assert value(metrics, "jbtrio_frames_total", path="/slow", direction="in") == 0
        metrics.exposition()
        frames = value(metrics, "jbtrio_frames_total", path="/slow", direction="in")
        assert frames >= 1  # the session:new
    # the end adds only what the scrape had not
    assert value(metrics, "jbtrio_frames_total", path="/slow", direction="in") >= frames


def test_refused_upgrades_by_status(metrics: Metrics) -> None:
    metrics.upgrade_refused(401)
    metrics.upgrade_refused(401)
    assert value(metrics, "jbtrio_upgrades_refused_total", status="401") == 2


class Broken:
    def call_started(self, session: object) -> None:
        raise RuntimeError("observer bug")

    call_ended = replied = tool_ran = upgrade_refused = call_started


async def test_a_failing_observer_does_not_touch_the_call(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    from jbtrio._runtime import add_observer, remove_observer

    broken = Broken()
    add_observer(broken)  # type: ignore[arg-type]
    try:
        call = await run_app(APP, "/ivr", caller=Caller(digits=["1"]))
    finally:
        remove_observer(broken)  # type: ignore[arg-type]
    assert call.outcome.ok
    assert "observer" in caplog.text
