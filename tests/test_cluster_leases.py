"""Cluster mode's leases: the sans-IO book and health, then the store against a real Redis
(started by the test, see ``tests/_redis_server.py``), in real time with short intervals;
every wait is on an event or a bounded poll of Redis itself, never a bare sleep."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import coredis
import pytest
import trio
from _redis_server import RedisServer, free_port, start_redis

from jbtrio._cluster import (
    ClusterConfig,
    Health,
    Lease,
    LeaseBook,
    LeaseStore,
    RedisHealth,
    StoreUnavailable,
)

SECRET = b"0123456789abcdef-test-secret"


# ------------------------------------------------------------------ sans-IO


def test_lease_value_round_trips_and_foreign_values_are_none() -> None:
    lease = Lease("i-1", "10.0.0.7:3001")
    assert Lease.decode(lease.encode()) == lease
    assert Lease.decode(lease.encode().decode()) == lease
    for raw in (None, b"", b"nospace", b" 1.2.3.4:5", b"i-1 ", b"i-1 a b", b"\xff\xfe x"):
        assert Lease.decode(raw) is None or raw == b"\xff\xfe x"


def test_book_tentative_leases_go_stale_confirmed_ones_do_not() -> None:
    book = LeaseBook()
    book.hold("a", 0.0, confirmed=False)
    book.hold("b", 0.0, confirmed=False)
    book.confirm("b", 1.0)
    book.hold("c", 5.0, confirmed=False)
    assert book.stale(now=9.0, grace=10.0) == []
    assert book.stale(now=10.0, grace=10.0) == ["a"]
    assert "a" not in book and "b" in book and len(book) == 2
    book.hold("b", 20.0, confirmed=False)  # a later tentative hold does not unconfirm
    assert book.stale(now=100.0, grace=10.0) == ["c"]
    assert book.drop("b") and not book.drop("b")


def test_book_batches_cover_every_lease_once() -> None:
    book = LeaseBook()
    for i in range(2501):
        book.hold(f"s{i}", 0.0, confirmed=True)
    batches = list(book.batches(1000))
    assert [len(b) for b in batches] == [1000, 1000, 501]
    assert {s for b in batches for s in b} == {f"s{i}" for i in range(2501)}
    assert list(LeaseBook().batches(10)) == []


def test_health_says_each_change_once_and_reminds_while_down() -> None:
    health = RedisHealth(remind_every=60.0)
    assert health.ok(0.0) is None  # unknown -> up: nothing to say
    down = health.failed(1.0, "refused")
    assert down is not None and down.health is Health.DOWN and down.reason == "refused"
    assert health.failed(2.0, "refused") is None
    assert health.failed(3.0, "timeout") is None
    assert not health.reminder(60.9) and health.reminder(61.0) and not health.reminder(61.5)
    assert health.reminder(121.0)
    up = health.ok(130.0)
    assert up is not None and up.health is Health.UP and up.since == 1.0
    assert health.ok(131.0) is None and not health.reminder(1000.0)
    assert (health.outages, health.calls_failed, health.calls_ok) == (1, 3, 3)
    assert health.next_reminder == math.inf


def test_config_bounds() -> None:
    ClusterConfig(redis_url="redis://h:1/0", secret=SECRET)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        ClusterConfig(redis_url="redis://h:1/0", secret=b"short")
    with pytest.raises(ValueError, match="redis://"):
        ClusterConfig(redis_url="http://h:1/", secret=SECRET)
    with pytest.raises(ValueError, match="half"):
        ClusterConfig(redis_url="redis://h:1/0", secret=SECRET, lease_ttl=5, renew_interval=3)
    with pytest.raises(ValueError, match="HOST:PORT"):
        ClusterConfig(redis_url="redis://h:1/0", secret=SECRET, advertise="nohost")
    with pytest.raises(ValueError, match="instance_id"):
        ClusterConfig(redis_url="redis://h:1/0", secret=SECRET, instance_id="a b")
    assert SECRET.decode() not in repr(ClusterConfig(redis_url="redis://h:1/0", secret=SECRET))


# ------------------------------------------------------------------ the store, real Redis


def config(url: str, instance: str, **overrides: float) -> ClusterConfig:
    settings: dict[str, float] = {
        "lease_ttl": 1.0,
        "renew_interval": 0.05,
        "redis_timeout": 0.5,
        "redis_connect_timeout": 0.5,
    }
    settings.update(overrides)
    return ClusterConfig(
        redis_url=url,
        secret=SECRET,
        instance_id=instance,
        **settings,  # type: ignore[arg-type]
    )


@asynccontextmanager
async def running(store: LeaseStore) -> AsyncIterator[LeaseStore]:
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        try:
            yield store
        finally:
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def raw_client(url: str) -> AsyncIterator[coredis.Redis[bytes]]:
    client: coredis.Redis[bytes] = coredis.Redis.from_url(url, verify_version=False)
    async with client:
        yield client


def health_of(store: LeaseStore) -> Health:
    return store.health.health


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    async with start_redis(tmp_path) as server:
        yield server


async def test_claim_lookup_release_between_two_instances(redis: RedisServer) -> None:
    a = LeaseStore(config(redis.url, "a"), "127.0.0.1:7001")
    b = LeaseStore(config(redis.url, "b"), "127.0.0.1:7002")
    with trio.fail_after(10):
        async with running(a), running(b), raw_client(redis.url) as raw:
            assert await a.claim("CA-1") == a.lease  # nobody held it: a claims
            assert await b.claim("CA-1") == a.lease  # b learns the owner, claims nothing
            assert await a.claim("CA-1") == a.lease  # a asking again: still a's
            assert await b.owner("CA-1") == a.lease
            assert await b.owner("CA-2") is None
            assert "CA-1" in a.book and "CA-1" not in b.book
            b.confirm("CA-9")  # a call b started while Redis could not say: renewal claims it
            b.release_soon("CA-1")  # not b's: nothing happens in Redis
            a.confirm("CA-1")
            await a.wait_renewed()
            await b.wait_renewed()
            assert await raw.get("jbtrio:call:CA-1") == a.lease.encode()
            assert await raw.get("jbtrio:call:CA-9") == b.lease.encode()
            assert 0 < await raw.pttl("jbtrio:call:CA-1") <= 1000
            a.release_soon("CA-1")
            while await raw.get("jbtrio:call:CA-1") is not None:
                await a.wait_renewed()
            assert a.stats.released == 1 and a.stats.claims == 1 and a.stats.held == 0
            assert await b.claim("CA-1") == b.lease  # free again: b may take it


async def test_renewal_keeps_leases_past_their_ttl_and_reclaims_after_a_restart(
    redis: RedisServer,
) -> None:
    a = LeaseStore(config(redis.url, "a", lease_ttl=0.3, renew_interval=0.05), "h:1")
    with trio.fail_after(20):
        async with running(a):
            for i in range(25):
                assert await a.claim(f"CA-{i}") == a.lease
                a.confirm(f"CA-{i}")
            start = trio.current_time()
            while trio.current_time() - start < 0.9:  # three TTLs
                await a.wait_renewed()
            async with raw_client(redis.url) as raw:
                assert await raw.get("jbtrio:call:CA-24") == a.lease.encode()
            await redis.restart()  # every key lost
            while a.stats.reclaimed < 25:
                await a.wait_renewed()
            async with raw_client(redis.url) as raw:
                assert await raw.get("jbtrio:call:CA-0") == a.lease.encode()
            assert a.stats.lost == 0


async def test_a_lease_taken_by_another_instance_is_lost_here(redis: RedisServer) -> None:
    lost: list[str] = []
    a = LeaseStore(config(redis.url, "a", renew_batch=2), "h:1", on_lost=lost.append)
    b = LeaseStore(config(redis.url, "b"), "h:2")
    with trio.fail_after(10):
        async with running(a), running(b):
            for sid in ("x", "y", "z"):
                await a.claim(sid)
                a.confirm(sid)
            assert await b.take_over("y", Lease("someone", "else:1")) == a.lease  # not as seen
            assert await b.take_over("y", a.lease) == b.lease
            while not lost:
                await a.wait_renewed()
            assert lost == ["y"] and "y" not in a.book and a.stats.lost == 1
            assert await a.owner("y") == b.lease and await a.owner("x") == a.lease
            assert await b.take_over("gone", a.lease) == b.lease  # expired meanwhile: taken


async def test_tentative_claims_that_never_become_calls_are_released(redis: RedisServer) -> None:
    a = LeaseStore(config(redis.url, "a", renew_interval=0.05), "h:1")
    with trio.fail_after(10):
        async with running(a), raw_client(redis.url) as raw:
            await a.claim("refused-call")
            while "refused-call" in a.book:
                await a.wait_renewed()
            while await raw.get("jbtrio:call:refused-call") is not None:
                await a.wait_renewed()


async def test_unreachable_redis_fails_fast_is_logged_once_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jbtrio.cluster")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    a = LeaseStore(config(url, "a", redis_timeout=0.3), "h:1")
    with trio.fail_after(20):
        async with running(a):
            for _ in range(5):
                start = trio.current_time()
                with pytest.raises(StoreUnavailable):
                    await a.claim("CA-1")
                assert trio.current_time() - start < 0.35
            a.confirm("CA-1")  # the call runs here anyway
            downs = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
            assert len(downs) == 1 and health_of(a) is Health.DOWN
            async with start_redis(tmp_path) as redis:
                redis.port = port
                await redis.restart()
                while health_of(a) is not Health.UP:
                    await a.wait_renewed()
                async with raw_client(url) as raw:
                    while await raw.get("jbtrio:call:CA-1") is None:
                        await a.wait_renewed()
            ups = [r for r in caplog.records if "Redis reachable again" in r.getMessage()]
            assert len(ups) == 1


async def test_a_redis_that_never_answers_is_bounded_by_redis_timeout() -> None:
    """A peer that accepts and reads but never answers (a hung Redis)."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def mute(stream: trio.SocketStream) -> None:
        while await stream.receive_some(65536):
            pass

    a = LeaseStore(config(f"redis://127.0.0.1:{port}/0", "a", redis_timeout=0.2), "h:1")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, mute, listeners)
            async with running(a):
                for _ in range(3):
                    start = trio.current_time()
                    with pytest.raises(StoreUnavailable, match=r"no answer|Timeout"):
                        await a.owner("CA-1")
                    assert trio.current_time() - start < 0.3
            nursery.cancel_scope.cancel()
