"""The cluster's :class:`~jbtrio._runtime.CallRegistry`: a call lives on the instance
holding its Redis lease, and a socket that reaches another instance is relayed there.

Where a call lives (:meth:`ClusterCalls.owner`): here if it is a call of this process;
else the instance whose lease names it, claiming the lease for this instance when no one
holds it (one ``SET NX GET`` round trip). A socket for another instance's call is relayed to
that instance's relay listener (:meth:`ClusterCalls.hand_over`, :func:`~._relay.relay`),
which serves it as if it had upgraded it.

Failure semantics (each one logged and counted in :class:`ClusterStats`):

- **The owner is gone** (its relay listener does not answer within
  ``relay_connect_timeout``, or it answers that the call is not there): this instance takes
  the lease over (only if it still names that owner) and serves the socket itself. A
  ``session:reconnect`` then starts the call afresh, as a single process does for a call it
  does not know. Another instance that took it first wins: the socket is relayed there once
  more.
- **The owner is at its bounds** (it answers BUSY): the socket is closed with 1013.
- **Redis is unreachable**: every socket is served here (calls of this instance go on);
  a reconnect of a call another instance holds starts afresh here, and is counted in
  :attr:`ClusterStats.reconnects_while_redis_down`. One log line when Redis goes away and
  one when it is back (:class:`~._store.LeaseStore`).
- **The lease moved** while this instance still has the call (Redis lost it and another
  instance took the call): the call ends here at the next renewal.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable

import attrs

from .._runtime import (
    LOCAL,
    CallSession,
    Host,
    LocalCalls,
    Owner,
    Refusal,
    Route,
    ServerConfig,
    Upgrade,
)
from .._wire import InboundMessage, SessionReconnect
from ._config import ClusterConfig
from ._lease import Health, Lease
from ._relay import Outcome, relay
from ._store import LeaseStore, StoreUnavailable

__all__ = ["ClusterCalls", "ClusterRouter", "ClusterStats", "LeasedCalls", "Peer"]

log = logging.getLogger("jbtrio.cluster")

#: Relay attempts for one socket: the owner the lease named, then the instance that took
#: the lease over meanwhile (if one did).
_RELAY_ATTEMPTS = 2


@attrs.frozen
class Peer(Host):
    """The call lives on another instance: its id (the relay header names it) and its
    relay listener's ``address``."""

    instance: str = ""

    @property
    def lease(self) -> Lease:
        return Lease(self.instance, self.address)


@attrs.define
class ClusterStats:
    """Counters of the cluster registry, for a metrics exporter."""

    routed_here: int = 0
    """Sockets whose call lives here (or was claimed here)."""
    relayed: int = 0
    """Sockets relayed to the instance owning their call."""
    owner_gone: int = 0
    """Sockets whose owner could not be reached, or no longer had the call: served here."""
    owner_busy: int = 0
    """Sockets whose owner answered BUSY: closed with 1013."""
    lookups_failed: int = 0
    """Owner lookups that Redis did not answer: the socket was served here."""
    reconnects_fresh: int = 0
    """``session:reconnect`` for a call unknown here: started afresh."""
    reconnects_while_redis_down: int = 0
    """... of which while Redis was unreachable (their call may live on elsewhere)."""
    leases_lost: int = 0
    """Calls ended here because another instance holds their lease now."""
    relayed_chunks: int = 0
    """Chunks of bytes carried by this instance's relays (either way)."""
    relay_busy_seconds: float = 0.0
    """Time the relays spent from a chunk's read returning to its write done, in all."""
    relay_setup_seconds: list[float] = attrs.field(factory=list)
    """Seconds from a relay's start to the owner's answer, the last :data:`SAMPLES`
    relays (for latency figures)."""
    relay_chunk_seconds: list[float] = attrs.field(factory=list)
    """Seconds from a chunk's read returning to its write done, the last :data:`SAMPLES`
    chunks."""

    def sample(self, samples: list[float], value: float) -> None:
        samples.append(value)
        if len(samples) > 2 * SAMPLES:
            del samples[:SAMPLES]


#: Samples kept (between this many and twice as many) in the lists of
#: :class:`ClusterStats`.
SAMPLES = 10_000

ServeHere = Callable[[Upgrade, bytes], Awaitable[None]]


class ClusterRouter:
    """Where a call lives in the cluster, and the relay of a socket to another instance:
    what :class:`ClusterCalls` (one process) and the ``--workers`` acceptor's registry
    (:class:`~._acceptor.ClusterWorkerRouting`) share."""

    def __init__(
        self, cluster: ClusterConfig, store: LeaseStore, key: bytes, stats: ClusterStats
    ) -> None:
        self.cluster = cluster
        self.store = store
        self.stats = stats
        self._key = key

    async def lookup(self, key: str) -> Peer | None:
        """The other instance holding ``key``'s lease; ``None`` when this instance holds it
        (claimed now if no one did) or Redis did not answer (then it is served here)."""
        try:
            lease = await self.store.claim(key)
        except StoreUnavailable:
            self.stats.lookups_failed += 1
            self.stats.routed_here += 1
            return None  # logged once per outage by the store
        if lease == self.store.lease:
            self.stats.routed_here += 1
            return None
        return Peer(lease.address, instance=lease.instance)

    async def relay(
        self, upgrade: Upgrade, route: Route, owner: Peer, received: bytes | bytearray
    ) -> bool | None:
        """Relay the connection to ``owner``: True once it was relayed (and is over), False
        when the owner is at its bounds (close it with 1013), ``None`` when it is to be
        served here (the owner is gone: its lease is taken over)."""
        sid = route.key or "-"
        target = owner
        detail = ""
        for _ in range(_RELAY_ATTEMPTS):
            outcome, detail = await self._relay(upgrade, route, target, received)
            if outcome is Outcome.RELAYED:
                return True
            if outcome is Outcome.BUSY:
                self.stats.owner_busy += 1
                log.warning(
                    "[%s] %s: the call's instance %s is at its bounds (%s); closing with 1013",
                    sid,
                    route.why,
                    target.instance,
                    detail,
                )
                return False
            try:
                now_owner = await self.store.take_over(sid, target.lease)
            except StoreUnavailable:
                now_owner = self.store.lease  # logged by the store: serve it here
            if now_owner == self.store.lease:
                break
            target = Peer(now_owner.address, instance=now_owner.instance)
        self.stats.owner_gone += 1
        log.warning(
            "[%s] %s: the call's instance %s at %s is gone (%s): its lease is taken over and "
            "the socket served here (a reconnect starts the call afresh)",
            sid,
            route.why,
            target.instance,
            target.address,
            detail,
        )
        return None

    async def _relay(
        self, upgrade: Upgrade, route: Route, target: Peer, received: bytes | bytearray
    ) -> tuple[Outcome, str]:
        handshake = upgrade.handshake
        cluster = self.cluster
        sid = route.key or "-"

        def adopted() -> None:
            self.stats.relayed += 1
            log.debug("[%s] %s: relayed to instance %s", sid, route.why, target.instance)

        result = await relay(
            upgrade.stream,
            key=self._key,
            sender=cluster.instance_id,
            target=target.instance,
            address=target.address,
            call_sid=sid,
            why=route.why,
            path=handshake.path,
            headers=handshake.headers,
            subprotocols=handshake.subprotocols,
            subprotocol=upgrade.subprotocol,
            remote=handshake.remote,
            received=received,
            connect_timeout=cluster.relay_connect_timeout,
            handshake_timeout=cluster.relay_handshake_timeout,
            user_timeout=cluster.relay_user_timeout,
            on_adopted=adopted,
            on_chunk=self._chunk,
        )
        if result.answered_after is not None:
            self.stats.sample(self.stats.relay_setup_seconds, result.answered_after)
        return result.outcome, result.detail

    def _chunk(self, seconds: float) -> None:
        self.stats.relayed_chunks += 1
        self.stats.relay_busy_seconds += seconds
        self.stats.sample(self.stats.relay_chunk_seconds, seconds)


class LeasedCalls(LocalCalls):
    """The calls living in this process (as :class:`~jbtrio._runtime.LocalCalls`), each
    holding its Redis lease while it lives here: the registry of a ``--workers`` worker of
    a cluster instance (its acceptor routes and relays), and the base of
    :class:`ClusterCalls`."""

    def __init__(
        self, config: ServerConfig, store: LeaseStore, stats: ClusterStats | None = None
    ) -> None:
        super().__init__(config)
        self.store = store
        self.stats = stats if stats is not None else ClusterStats()
        self._per_sid: Counter[str] = Counter()

    # ------------------------------------------------------------------ calls living here

    def admit(self, message: InboundMessage, remote: str) -> str | Refusal:
        admitted = super().admit(message, remote)
        if isinstance(message, SessionReconnect) and not isinstance(admitted, Refusal):
            self.stats.reconnects_fresh += 1
            if self.store.health.health is Health.DOWN:
                self.stats.reconnects_while_redis_down += 1
                log.warning(
                    "[%s] session:reconnect for a call unknown here while Redis is "
                    "unreachable: started afresh (if another instance holds it, that call "
                    "is lost there)",
                    message.sid,
                )
        return admitted

    def add(self, session: CallSession) -> None:
        super().add(session)
        self._per_sid[session.call_sid] += 1
        self.store.confirm(session.call_sid)

    def forget(self, session: CallSession) -> None:
        if self.calls.get(session.key) is not session:
            return
        super().forget(session)
        sid = session.call_sid
        self._per_sid[sid] -= 1
        if self._per_sid[sid] <= 0:
            del self._per_sid[sid]
            self.store.release_soon(sid)

    def lease_lost(self, call_sid: str) -> None:
        """Another instance holds ``call_sid``'s lease now (the store's renewal found it):
        the call ends here, since jambonz's next socket for it goes there."""
        ended = [s for s in self.calls.values() if s.call_sid == call_sid and not s.ended]
        for session in ended:
            session.end("its lease is held by another instance now")
        if ended:
            self.stats.leases_lost += 1
            log.warning(
                "[%s] another instance holds this call's lease now (Redis lost it while this "
                "instance held the call): the call ends here",
                call_sid,
            )


class ClusterCalls(LeasedCalls):
    """The registry of a cluster instance serving from one process: the calls living here
    with their leases (:class:`LeasedCalls`), and every other socket relayed to the
    instance holding its call (:class:`ClusterRouter`).

    ``serve_here(upgrade, received)`` serves a routed connection in this process (what the
    listener does with a :data:`~jbtrio._runtime.LOCAL` owner); it is set by whoever builds
    the server (:class:`~._node.ClusterNode`), once the server exists.
    """

    routes = True

    def __init__(
        self, config: ServerConfig, cluster: ClusterConfig, store: LeaseStore, key: bytes
    ) -> None:
        super().__init__(config, store)
        self.router = ClusterRouter(cluster, store, key, self.stats)
        self.serve_here: ServeHere | None = None

    async def owner(self, key: str | None) -> Owner:
        if key is None or self.find(key) is not None:
            self.stats.routed_here += 1
            return LOCAL
        peer = await self.router.lookup(key)
        return LOCAL if peer is None else peer

    async def hand_over(
        self, upgrade: Upgrade, route: Route, owner: Owner, received: bytes | bytearray
    ) -> bool:
        if not isinstance(owner, Peer) or self.serve_here is None:
            return False
        relayed = await self.router.relay(upgrade, route, owner, received)
        if relayed is None:
            await self.serve_here(upgrade, bytes(received))
            return True
        return relayed
