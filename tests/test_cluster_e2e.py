"""Cluster mode end to end, in one Trio run: three :class:`~jbtrio._cluster.ClusterNode`
instances on loopback sharing a real ``redis-server``, behind a round-robin TCP proxy (no
stickiness: a reconnect lands on the next instance), calls through the fake jambonz over
TCP with drops at random points.

Each instance's tasks see its name in :data:`INSTANCE` (a context variable set when it is
started, inherited by every task it spawns), and the app says it in each verb: a call
whose sockets all reached the instance holding it says one name only.
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from _redis_server import RedisServer, start_redis

import jbtrio
from fuzz.rr_proxy import RoundRobinProxy
from jbtrio._cluster import ClusterConfig, ClusterNode
from jbtrio._runtime import ServerConfig
from jbtrio.testing import Caller, FakeJambonz, Faults, JambonzConfig
from jbtrio.verbs import Gather, Hangup, Say

INSTANCE: contextvars.ContextVar[str] = contextvars.ContextVar("INSTANCE", default="?")
SECRET = b"a shared secret of the test cluster"

app = jbtrio.App()


@app.flow("/cluster")
async def turns(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
    """Three gathers, each prompt naming the instance that said it, then a hang-up."""
    me = INSTANCE.get()
    for turn in range(3):
        try:
            answer: jbtrio.GatherResult = yield Gather(
                input=["speech"], timeout=5, say=Say(text=f"on {me} turn {turn}")
            )
        except jbtrio.HookFailed:
            continue  # the hook died with a dropped socket: jambonz waits for verbs
        yield Say(text=f"on {me} heard {answer.speech_text}")
    yield [Say(text=f"on {me} bye"), Hangup()]


@attrs.define
class Cluster:
    redis: RedisServer
    nodes: list[ClusterNode]
    proxy: RoundRobinProxy
    nursery: trio.Nursery

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.proxy.port}/cluster"

    def stat(self, name: str) -> int:
        return sum(int(getattr(node.registry.stats, name)) for node in self.nodes)

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds: it is checked each time a call is added or
        forgotten on any instance, and every 10 ms (the instances' change events are
        replaced on each change, so waiting on all three at once could miss one)."""
        while not predicate():
            with trio.move_on_after(0.01):
                await self.nodes[0].registry.wait_changed()

    def stat_store(self, name: str) -> int:
        if name == "health_down":
            return sum(node.store.health.outages for node in self.nodes)
        return sum(int(getattr(node.store.stats, name)) for node in self.nodes)


def cluster_config(redis: RedisServer, name: str, **overrides: Any) -> ClusterConfig:
    settings: dict[str, Any] = {
        "redis_url": redis.url,
        "secret": SECRET,
        "instance_id": name,
        "lease_ttl": 2.0,
        "renew_interval": 0.5,
        "redis_timeout": 0.5,
        "relay_connect_timeout": 0.5,
        **overrides,
    }
    return ClusterConfig(**settings)


@asynccontextmanager
async def cluster(tmp_path: Path, count: int = 3, **overrides: Any) -> AsyncIterator[Cluster]:
    async with start_redis(tmp_path) as redis, trio.open_nursery() as nursery:
        nodes = []
        for n in range(count):
            name = "abcdefgh"[n]
            node = ClusterNode(
                app,
                ServerConfig(shutdown_grace=1.0),
                cluster_config(redis, name, **overrides),
            )
            token = INSTANCE.set(name)
            try:
                await nursery.start(node.run, "127.0.0.1", 0)
            finally:
                INSTANCE.reset(token)
            nodes.append(node)
        proxy = RoundRobinProxy([node.port or 0 for node in nodes])
        await nursery.start(proxy.run)
        yield Cluster(redis, nodes, proxy, nursery)
        nursery.cancel_scope.cancel()


def fast_jambonz() -> FakeJambonz:
    return FakeJambonz(
        JambonzConfig(say_seconds_per_char=0.0, say_min_seconds=0.01, initial_backoff=0.05)
    )


def caller(n: int) -> Caller:
    return Caller(
        speech=[f"call {n} turn {t}" for t in range(3)], response_delay=0.01, idle_hangup=2.0
    )


@attrs.define
class Placed:
    ok: bool
    summary: str
    said: list[str]
    """What the caller heard, in order, without the instance's name."""
    instances: list[str]
    """The instance that said each."""
    reconnects: int


EXPECTED = [
    "turn 0", "heard call N turn 0", "turn 1", "heard call N turn 1", "turn 2",
    "heard call N turn 2", "bye",
]  # fmt: skip


def placed(n: int, call: Any, outcome: jbtrio.testing.CallOutcome) -> Placed:
    """A call's outcome: ``ok`` also for a drop the test made (the fake counts any drop it
    did not inject itself as a fault: "connection lost")."""
    said, instances = [], []
    for text in call.spoken:
        _, name, rest = text.split(" ", 2)
        instances.append(name)
        said.append(rest.replace(f"call {n} ", "call N "))
    ok = (
        outcome.status == "completed"
        and not outcome.app_errors
        and all(fault.startswith("connection lost") for fault in outcome.faults)
    )
    return Placed(ok, outcome.summary(), said, instances, len(call.sent("session:reconnect")))


async def place_calls(url: str, faults: list[Faults]) -> list[Placed]:
    fake = fast_jambonz()
    results: list[Placed | None] = [None] * len(faults)

    async def one(n: int) -> None:
        call = fake.new_call(url, caller=caller(n), faults=faults[n])
        results[n] = placed(n, call, await call.run())

    async with trio.open_nursery() as nursery:
        for n in range(len(faults)):
            nursery.start_soon(one, n)
    return [p for p in results if p is not None]


def random_drops(count: int, seed: int) -> list[Faults]:
    """Two calls in three lose their TCP connection once, after a random frame."""
    rng = random.Random(seed)
    return [Faults.drop_after(rng.randint(1, 7)) if n % 3 else Faults() for n in range(count)]


@pytest.mark.parametrize("seed", [1, 2])
async def test_reconnects_landing_on_other_instances_reach_the_call(
    tmp_path: Path, seed: int
) -> None:
    async with cluster(tmp_path) as c:
        with trio.fail_after(60):
            placed = await place_calls(c.url, random_drops(24, seed))
        for p in placed:
            assert p.ok, p.summary
            assert p.said == EXPECTED, p
            assert len(set(p.instances)) == 1, f"a call was served by two instances: {p}"
        reconnects = sum(p.reconnects for p in placed)
        assert reconnects >= 12
        # With three instances in turn, most reconnects land elsewhere and are relayed;
        # none is started afresh.
        assert c.stat("relayed") >= reconnects // 3
        assert c.stat("reconnects_fresh") == 0
        assert c.stat("owner_gone") == 0
        assert {p.instances[0] for p in placed} == {"a", "b", "c"}
        # Every lease is let go when its call ends.
        with trio.fail_after(5):
            for node in c.nodes:
                while node.registry.calls:
                    await node.registry.wait_changed()
                assert len(node.store.book) == 0


async def start_calls(
    c: Cluster, count: int, nursery: trio.Nursery, outcomes: list[Placed]
) -> list[Any]:
    """``count`` slow calls (a turn every ~1.5 s) through the proxy, their outcomes appended
    to ``outcomes``; returns once each has a call here."""
    fake = fast_jambonz()
    calls = []
    for n in range(count):
        slow = Caller(
            speech=[f"call {n} turn {t}" for t in range(3)], response_delay=1.5, idle_hangup=5.0
        )
        call = fake.new_call(c.url, caller=slow)

        async def run(call: Any = call, n: int = n) -> None:
            outcomes.append(placed(n, call, await call.run()))

        nursery.start_soon(run)
        calls.append(call)
    await c.until(lambda: sum(len(node.registry.calls) for node in c.nodes) >= count)
    return calls


async def renewed(c: Cluster) -> None:
    """Wait until every instance ran a whole renewal round (after now)."""

    async def twice(node: ClusterNode) -> None:
        await node.store.wait_renewed()
        await node.store.wait_renewed()

    async with trio.open_nursery() as nursery:
        for node in c.nodes:
            nursery.start_soon(twice, node)


def drop_instance(c: Cluster, index: int) -> None:
    """Every socket of instance ``index`` dropped (the proxy resets them); new connections
    go to the others for a moment, then to it again."""
    c.proxy.kill(index)
    c.proxy.revive(index)


async def test_redis_restarted_mid_call_leases_are_claimed_again(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        outcomes: list[Placed] = []
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await start_calls(c, 9, nursery, outcomes)
                await c.redis.restart()  # every lease is gone
                await renewed(c)
                assert c.stat_store("reclaimed") == 9
                drop_instance(c, 0)  # its calls' reconnects land on b and c
        assert len(outcomes) == 9
        for p in outcomes:
            assert p.ok, p.summary
            assert p.said == EXPECTED, p
            assert len(set(p.instances)) == 1, f"a call was served by two instances: {p}"
        assert sum(p.reconnects for p in outcomes) >= 3
        assert c.stat("relayed") >= 2
        assert c.stat("reconnects_fresh") == 0


async def test_redis_down_calls_go_on_and_reconnects_elsewhere_are_counted(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        outcomes: list[Placed] = []
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await start_calls(c, 9, nursery, outcomes)
                await c.redis.stop(kill=True)
                drop_instance(c, 0)  # a's calls reconnect to b and c, which cannot ask
            # Every call completed (none hangs); those of b and c as if nothing happened.
            assert len(outcomes) == 9
        undisturbed = [p for p in outcomes if not p.reconnects]
        assert len(undisturbed) == 6
        assert all(p.ok and p.said == EXPECTED for p in undisturbed)
        assert all(len(set(p.instances)) == 1 for p in undisturbed)
        # Those landing on b or c (one may come back to a, in turn) start afresh there: each
        # session:reconnect counted once (a call of a's may send more than one).
        sent = sum(p.reconnects for p in outcomes)
        assert 1 <= c.stat("reconnects_while_redis_down") <= sent
        assert c.stat("relayed") == 0
        assert c.stat_store("health_down") >= 1
