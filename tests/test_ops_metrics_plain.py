"""The metrics counted in plain numbers (one process) make the page prometheus_client's own
metrics make (``--workers``' way, ``Metrics(multiprocess=True)``) for the same story, byte
for byte, ``_created`` samples included but for their times: the histograms' buckets at and
around their bounds, +Inf, the sums; with ``--workers`` the values reach the acceptor's page
(a worker's latencies at once, its frame counts when its calls end)."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry, disable_created_metrics, enable_created_metrics
from test_ops_metrics_page import FakeCall, mount_of, story

from jbtrio._runtime._metrics import DURATION_BUCKETS, LATENCY_BUCKETS, Metrics

ROOT = Path(__file__).parent.parent


def both() -> tuple[Metrics, Metrics]:
    """The same metrics, in plain numbers and in prometheus_client's own."""
    return (
        Metrics(CollectorRegistry(), route_of=mount_of, routes=["/a", "/b"], multiprocess=False),
        Metrics(CollectorRegistry(), route_of=mount_of, routes=["/a", "/b"], multiprocess=True),
    )


def untimed(page: str) -> str:
    """The page with its ``_created`` samples' values (wall-clock times) masked."""
    return re.sub(r"^(\S+_created(?:\{[^}]*\})?) \S+$", r"\1 T", page, flags=re.MULTILINE)


def page(metrics: Metrics) -> str:
    return metrics.exposition()[0].decode()


def test_the_plain_numbers_are_the_default_in_one_process() -> None:
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    metrics = Metrics(CollectorRegistry())
    assert type(metrics.hook_latency).__name__ == "_PlainHistogram"


async def test_the_story_makes_the_same_page(autojump_clock: trio.testing.MockClock) -> None:
    plain, own = both()
    made = await story(plain)
    assert made == await story(own)  # without the _created lines
    assert untimed(page(plain)) == untimed(page(own))  # with them
    assert "_created" in page(plain)


@pytest.fixture
def created_off() -> Iterator[None]:
    disable_created_metrics()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        enable_created_metrics()  # type: ignore[no-untyped-call]


async def test_without_created_samples_as_prometheus_client(
    autojump_clock: trio.testing.MockClock, created_off: None
) -> None:
    plain, own = both()
    await story(plain)
    await story(own)
    assert "_created" not in page(plain)
    assert page(plain) == page(own)


def around(bound: float) -> list[float]:
    return [math.nextafter(bound, -math.inf), bound, math.nextafter(bound, math.inf)]


@pytest.mark.parametrize("name", ["latency", "duration"])
def test_buckets_at_and_around_each_bound(name: str) -> None:
    """A value exactly on a bound is in that bucket (``le``), the next float up in the next;
    above the last bound, +Inf; below the first (0, negative), the first; NaN in none (the
    sum only). The sums are added in the same order, so they are the same floats."""
    bounds = LATENCY_BUCKETS if name == "latency" else DURATION_BUCKETS
    values = [v for bound in bounds for v in around(bound)]
    values += [0.0, -1.0, 1e9, math.inf, 0.1 + 0.2]
    plain, own = both()
    for metrics in (plain, own):
        family = metrics.hook_latency if name == "latency" else metrics.call_duration
        child = family.labels("/a")
        for value in values:
            child.observe(value)
    assert untimed(page(plain)) == untimed(page(own))
    sample = plain.registry.get_sample_value
    metric = (
        "jbtrio_hook_ack_latency_seconds" if name == "latency" else "jbtrio_call_duration_seconds"
    )
    # in the first bucket: its bound and the float below it, 0, -1 (and 0.3 for durations)
    below_first = 4 if name == "latency" else 5
    assert sample(f"{metric}_bucket", {"path": "/a", "le": str(bounds[0])}) == below_first
    # in the second: the float above the first bound, the second's below it and itself
    assert sample(f"{metric}_bucket", {"path": "/a", "le": str(bounds[1])}) == below_first + 3
    assert sample(f"{metric}_bucket", {"path": "/a", "le": "+Inf"}) == len(values)
    assert sample(f"{metric}_count", {"path": "/a"}) == len(values)
    assert sample(f"{metric}_sum", {"path": "/a"}) == math.inf


def test_nan_is_in_no_bucket_as_in_prometheus_client() -> None:
    plain, own = both()
    for metrics in (plain, own):
        metrics.hook_latency.labels("/a").observe(0.003)
        metrics.hook_latency.labels("/a").observe(math.nan)
    assert untimed(page(plain)) == untimed(page(own))
    assert (
        plain.registry.get_sample_value("jbtrio_hook_ack_latency_seconds_count", {"path": "/a"})
        == 1
    )
    assert 'jbtrio_hook_ack_latency_seconds_sum{path="/a"} NaN' in page(plain)


def test_the_sum_is_the_floats_added_in_order() -> None:
    plain, _ = both()
    latencies = [0.1, 0.2, 0.0003, 4.75, 0.01]
    for latency in latencies:
        plain.replied(FakeCall("c1", "/a"), None, latency)  # type: ignore[arg-type]
    total = 0.0
    for latency in latencies:
        total += latency
    assert (
        plain.registry.get_sample_value("jbtrio_hook_ack_latency_seconds_sum", {"path": "other"})
        == total
    )


def test_a_counter_refuses_to_go_down_as_prometheus_client() -> None:
    plain, own = both()
    for metrics in (plain, own):
        with pytest.raises(ValueError, match="non-negative"):
            metrics.frames.labels("/a", "in").inc(-1)
        with pytest.raises(ValueError):
            metrics.frames.labels("/a")  # a label missing


def test_the_names_are_registered_once() -> None:
    registry = CollectorRegistry(auto_describe=True)
    Metrics(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Metrics(registry)


WORKER = textwrap.dedent(
    """
    import sys

    import trio
    from test_ops_metrics_page import FakeCall

    from jbtrio._runtime._metrics import Metrics, multiprocess_exposition

    def value(name: str) -> float:
        page = multiprocess_exposition()[0].decode()
        for line in page.splitlines():
            if line.startswith(name + " "):
                return float(line.split(" ")[1])
        return 0.0

    async def main() -> None:
        metrics = Metrics(route_of=lambda path: "/a")
        assert type(metrics.hook_latency).__name__ == "Histogram"
        call = FakeCall("c1", "/a")
        call.stats.started_at = trio.current_time()
        metrics.call_started(call)
        metrics.replied(call, None, 0.005)
        metrics.replied(call, None, 0.2)
        call.stats.frames_in = 3
        # a worker's latencies and calls are on the page at once, its frames at the end
        print(value('jbtrio_calls_total{path="/a"}'))
        print(value('jbtrio_calls_active{path="/a"}'))
        print(value('jbtrio_hook_ack_latency_seconds_bucket{le="0.005",path="/a"}'))
        print(value('jbtrio_hook_ack_latency_seconds_count{path="/a"}'))
        print(value('jbtrio_hook_ack_latency_seconds_sum{path="/a"}'))
        print(value('jbtrio_frames_total{direction="in",path="/a"}'))
        metrics.call_ended(call)
        print(value('jbtrio_calls_active{path="/a"}'))
        print(value('jbtrio_frames_total{direction="in",path="/a"}'))
        print(value('jbtrio_call_duration_seconds_count{path="/a"}'))

    trio.run(main)
    """
)


def test_with_workers_the_values_reach_the_shared_page(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), *sys.path, env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", WORKER],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert [float(line) for line in out.stdout.split()] == [
        1.0,
        1.0,
        1.0,
        2.0,
        0.0 + 0.005 + 0.2,
        0.0,
        0.0,
        3.0,
        1.0,
    ]
