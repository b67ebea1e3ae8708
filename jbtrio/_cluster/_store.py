"""The leases in Redis: claim, look up, take over, renew in batches, release.

A thin Trio layer over :mod:`._lease`, on coredis (an async Redis client on anyio, which
runs on Trio; see the CHANGELOG for the measurements). Every call to Redis is bounded by
``ClusterConfig.redis_timeout``; a failed or timed-out call raises
:class:`StoreUnavailable`, and Redis's reachability is tracked in :attr:`LeaseStore.health`,
logged once per change of state (and every minute while it is down), never per call.

Each lease is one key, ``<key_prefix><call_sid>``, holding ``"<instance> <relay address>"``
with a TTL (``PX``). Several keys go to Redis in one script, so the keys must live on one
node: a single Redis, or the primary of a Sentinel set (not a Redis Cluster).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TypeVar

import anyio
import attrs
import coredis
import coredis.exceptions
import trio

from ._config import ClusterConfig
from ._lease import Health, Lease, LeaseBook, RedisHealth, Transition

__all__ = ["LeaseStore", "StoreStats", "StoreUnavailable"]

log = logging.getLogger("jbtrio.cluster")

T = TypeVar("T")

# KEYS: the leases; ARGV: our value, TTL (ms). Renews ours, re-claims missing ones (Redis
# restarted, or the lease expired while Redis was unreachable), and returns the number
# re-claimed then the 1-based indexes of the keys another instance holds now.
_RENEW = """
local lost = {0}
for i, key in ipairs(KEYS) do
  local held = redis.call('GET', key)
  if held == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  elseif not held then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    lost[1] = lost[1] + 1
  else
    lost[#lost + 1] = i
  end
end
return lost
"""

# KEYS[1]: a lease; ARGV: our value. Deletes it only if it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1]: a lease; ARGV: the owner's value we saw, our value, TTL (ms). Takes the lease if
# it still holds what we saw (or nothing); returns what it holds afterwards.
_TAKE_OVER = """
local held = redis.call('GET', KEYS[1])
if (not held) or held == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return ARGV[2]
end
return held
"""

#: Stale tentative leases (claimed for a socket that never became a call) are released
#: after this many renewal intervals.
_STALE_AFTER_RENEWALS = 2

#: Releases waiting for Redis at most; past it a release is skipped (its lease expires).
MAX_PENDING_RELEASES = 10_000


#: What a Redis call that failed raises (coredis's own errors, and its stream's).
_FAILURES = (
    coredis.exceptions.RedisError,
    OSError,
    TimeoutError,
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
)


class StoreUnavailable(Exception):
    """Redis did not answer in time, or refused: the lease state is unknown."""


@attrs.define
class StoreStats:
    """Counters for a metrics exporter (monotonic unless said otherwise)."""

    claims: int = 0
    """Leases this instance took for calls no instance held."""
    lookups: int = 0
    """Owner lookups answered (ours, another instance's, or none)."""
    takeovers: int = 0
    """Leases taken from an owner that could not be reached."""
    renewed: int = 0
    """Leases renewed (one per lease per renewal)."""
    reclaimed: int = 0
    """Leases found missing at renewal and set again (Redis restarted or flushed)."""
    lost: int = 0
    """Leases found held by another instance at renewal: their calls end here."""
    released: int = 0
    """Leases released when their call ended."""
    releases_skipped: int = 0
    """Releases not sent (Redis down, or too many waiting): those leases expire."""
    held: int = 0
    """Leases held now (a gauge)."""


class LeaseStore:
    """This instance's leases in Redis (see the module).

    Run it with :meth:`run` in a nursery (``await nursery.start(store.run)``); it renews
    every lease held each ``renew_interval`` and calls ``on_lost(call_sid)`` for a
    lease another instance holds now (the call must end here). Cancelled, it releases what
    it holds (within one ``redis_timeout``).

    ``track_claims=False`` (a ``--workers`` acceptor): the leases it claims for sockets it
    routes are not held here (the worker serving the call holds, renews and releases
    them, under the same instance id and address).
    """

    def __init__(
        self,
        config: ClusterConfig,
        address: str,
        *,
        on_lost: Callable[[str], None] = lambda sid: None,
        track_claims: bool = True,
    ) -> None:
        self.config = config
        self.lease = Lease(config.instance_id, address)
        """What this instance's leases hold."""
        self.health = RedisHealth()
        self.stats = StoreStats()
        self.book = LeaseBook()
        self._value = self.lease.encode()
        self._ttl_ms = max(1, round(config.lease_ttl * 1000))
        self.on_lost = on_lost
        """Told the call_sid of a lease another instance holds now."""
        self._track_claims = track_claims
        self._client: coredis.Redis[bytes] | None = None
        self._scripts: dict[str, coredis.commands.Script[bytes]] = {}
        self._releases_send, self._releases = trio.open_memory_channel[str](MAX_PENDING_RELEASES)
        self._renewed = trio.Event()
        self._back = trio.Event()  # Redis is reachable again: renew now, not at the next round

    def advertise(self, address: str) -> None:
        """Name ``address`` in this instance's leases from now on (set before :meth:`run`,
        once the relay listener is bound and its port known)."""
        self.lease = Lease(self.config.instance_id, address)
        self._value = self.lease.encode()

    @property
    def redacted_url(self) -> str:
        """The Redis URL without its password, for logs."""
        return _redacted(self.config.redis_url)

    def key(self, call_sid: str) -> str:
        return self.config.key_prefix + call_sid

    # ------------------------------------------------------------------ running

    async def run(
        self, *, task_status: trio.TaskStatus[LeaseStore] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect (lazily: an unreachable Redis does not stop the start) and renew, until
        cancelled; then release every lease held, within one ``redis_timeout``."""
        try:
            async with self._client_for_run() as client:
                self._client = client
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._renew_loop, name="jbtrio lease renewal")
                    nursery.start_soon(self._release_loop, name="jbtrio lease release")
                    task_status.started(self)
        finally:
            self._client = None
            # The client's own tasks were cancelled with ours: a short-lived client,
            # shielded, lets the leases go now rather than at their TTL.
            with trio.CancelScope(shield=True):
                await self._release_all()

    def _client_for_run(self) -> coredis.Redis[bytes]:
        client: coredis.Redis[bytes] = coredis.Redis.from_url(
            self.config.redis_url,
            stream_timeout=self.config.redis_timeout,
            connect_timeout=self.config.redis_connect_timeout,
            verify_version=False,
        )
        self._scripts = {
            name: client.register_script(source)
            for name, source in (("renew", _RENEW), ("release", _RELEASE), ("take", _TAKE_OVER))
        }
        return client

    async def wait_renewed(self) -> None:
        """Wait for the end of the next renewal round (tests)."""
        await self._renewed.wait()

    # ------------------------------------------------------------------ the operations

    async def claim(self, call_sid: str) -> Lease:
        """The owner of ``call_sid``'s lease, claiming it for this instance when no one
        holds it (then it is :attr:`lease`, and tentative until :meth:`confirm`)."""
        client = self._need_client()
        held = await self._call(
            "claim",
            client.set(
                self.key(call_sid),
                self._value,
                condition=coredis.PureToken.NX,
                px=self._ttl_ms,
                get=True,
            ),
        )
        if held is None:
            self.stats.claims += 1
            self._hold(call_sid, confirmed=False)
            return self.lease
        owner = Lease.decode(held)
        if owner == self.lease:
            self._hold(call_sid, confirmed=False)
            return self.lease
        self.stats.lookups += 1
        return owner if owner is not None else Lease("?", "?")

    async def owner(self, call_sid: str) -> Lease | None:
        """Who holds ``call_sid``'s lease, if anyone (no claim)."""
        client = self._need_client()
        held = await self._call("lookup", client.get(self.key(call_sid)))
        self.stats.lookups += 1
        return Lease.decode(held)

    async def take_over(self, call_sid: str, seen: Lease) -> Lease:
        """Take ``call_sid``'s lease from ``seen`` (an owner that cannot be reached), if it
        still holds it; returns the owner afterwards (:attr:`lease` when taken)."""
        script = self._script("take")
        held: object = await self._call(
            "take over",
            script(keys=[self.key(call_sid)], args=[seen.encode(), self._value, self._ttl_ms]),
        )
        owner = Lease.decode(held if isinstance(held, bytes | str) else None)
        if owner == self.lease:
            self.stats.takeovers += 1
            self._hold(call_sid, confirmed=False)
            return self.lease
        return owner if owner is not None else Lease("?", "?")

    def confirm(self, call_sid: str) -> None:
        """``call_sid`` is a call here now: hold its lease for good (renewal claims it if it
        was never claimed, as when Redis was unreachable)."""
        self._hold(call_sid, confirmed=True)

    def release_soon(self, call_sid: str) -> None:
        """``call_sid`` ended here: release its lease (in the background, only if it is
        still ours). Never blocks; skipped (counted) when too many wait."""
        if not self.book.drop(call_sid):
            return
        self.stats.held = len(self.book)
        try:
            self._releases_send.send_nowait(call_sid)
        except trio.WouldBlock:
            self.stats.releases_skipped += 1

    # ------------------------------------------------------------------ the loops

    async def _renew_loop(self) -> None:
        interval = self.config.renew_interval
        while True:
            with trio.move_on_after(interval):
                await self._back.wait()
            self._back = trio.Event()
            now = trio.current_time()
            for sid in self.book.stale(now, interval * _STALE_AFTER_RENEWALS):
                self.stats.held = len(self.book)
                with suppress(StoreUnavailable):
                    await self._release(sid)
            await self.renew_now()
            if self.health.reminder(trio.current_time()):
                log.warning(
                    "Redis still unreachable after %.0f s (%d calls to it failed meanwhile): "
                    "calls here go on; reconnects landing on other instances are lost",
                    trio.current_time() - self.health.since,
                    self.health.failed_since_down,
                )

    async def renew_now(self) -> None:
        """Renew every lease held, in batches of ``renew_batch``; a batch that fails is
        retried at the next round."""
        if self._client is None:
            return
        script = self._script("renew")
        for batch in self.book.batches(self.config.renew_batch):
            keys = [self.key(sid) for sid in batch]
            try:
                answer: object = await self._call(
                    "renew", script(keys=keys, args=[self._value, self._ttl_ms])
                )
            except StoreUnavailable:
                break  # logged by the health transition; the next round tries again
            self._renewed_batch(batch, answer)
        self._renewed.set()
        self._renewed = trio.Event()

    def _renewed_batch(self, batch: list[str], answer: object) -> None:
        items = list(answer) if isinstance(answer, list | tuple) else [0]
        reclaimed = int(items[0]) if items else 0
        lost = [batch[int(i) - 1] for i in items[1:] if 0 < int(i) <= len(batch)]
        self.stats.renewed += len(batch) - len(lost) - reclaimed
        if reclaimed:
            self.stats.reclaimed += reclaimed
            log.info("%d lease(s) were missing in Redis and are claimed again", reclaimed)
        for sid in lost:
            self.book.drop(sid)
            self.stats.lost += 1
            self.on_lost(sid)
        self.stats.held = len(self.book)

    async def _release_loop(self) -> None:
        async for sid in self._releases:
            if sid in self.book:
                continue  # the call came back here meanwhile (a reconnect): keep the lease
            with suppress(StoreUnavailable):
                await self._release(sid)

    async def _release(self, call_sid: str) -> None:
        script = self._script("release")
        if self.health.health is Health.DOWN:
            self.stats.releases_skipped += 1
            return  # not worth a timeout each: the lease expires by itself
        await self._call("release", script(keys=[self.key(call_sid)], args=[self._value]))
        self.stats.released += 1

    async def _release_all(self) -> None:
        sids = [sid for batch in self.book.batches(max(1, len(self.book))) for sid in batch]
        if not sids or self.health.health is Health.DOWN:
            return
        with trio.move_on_after(self.config.redis_timeout), suppress(*_FAILURES):
            async with self._client_for_run() as client:
                self._client = client
                try:
                    for sid in sids:
                        with suppress(StoreUnavailable):
                            await self._release(sid)
                finally:
                    self._client = None

    # ------------------------------------------------------------------ plumbing

    def _hold(self, call_sid: str, *, confirmed: bool) -> None:
        if not confirmed and not self._track_claims:
            return  # the process the call goes to holds it (``--workers``: the worker)
        self.book.hold(call_sid, trio.current_time(), confirmed=confirmed)
        self.stats.held = len(self.book)

    def _script(self, name: str) -> coredis.commands.Script[bytes]:
        self._need_client()
        return self._scripts[name]

    def _need_client(self) -> coredis.Redis[bytes]:
        if self._client is None:
            raise StoreUnavailable("the lease store is not running")
        return self._client

    async def _call(self, what: str, request: Awaitable[T]) -> T:
        """One Redis call, bounded by ``redis_timeout``; failures raise
        :class:`StoreUnavailable` and are tracked in :attr:`health`."""
        reason = ""
        with trio.move_on_after(self.config.redis_timeout):
            try:
                result = await request
            except _FAILURES as exc:
                reason = f"{what}: {type(exc).__name__}: {exc}"
            else:
                self._note(self.health.ok(trio.current_time()))
                return result
        if not reason:
            reason = f"{what}: no answer within {self.config.redis_timeout:g} s"
        self._note(self.health.failed(trio.current_time(), reason))
        raise StoreUnavailable(reason)

    def _note(self, transition: Transition | None) -> None:
        if transition is None:
            return
        now = trio.current_time()
        if transition.health is Health.DOWN:
            log.error(
                "Redis unreachable at %s (%s): calls here go on, but reconnects that land on "
                "other instances are lost until it is back",
                _redacted(self.config.redis_url),
                transition.reason,
            )
        else:
            self._back.set()
            log.warning(
                "Redis reachable again after %.1f s; %d lease(s) held here",
                now - transition.since,
                len(self.book),
            )


def _redacted(url: str) -> str:
    """``url`` without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    return f"{scheme}{sep}***@{rest.rpartition('@')[2]}"
