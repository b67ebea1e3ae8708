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
from collections.abc import Awaitable, Callable, Iterator

import attrs
import trio

from .._runtime import (
    LOCAL,
    CallSession,
    Handshake,
    Host,
    LocalCalls,
    Owner,
    Reading,
    Refusal,
    Route,
    ServerConfig,
    Serving,
    Upgrade,
    add_readings,
    remove_readings,
)
from .._wire import InboundMessage, SessionReconnect
from ._config import ClusterConfig
from ._lease import Health, Lease
from ._relay import Outcome, RelayListener, RelayStats, relay
from ._relay_wire import RelayRequest, Status, derive_key
from ._store import LeaseStore, StoreStats, StoreUnavailable

__all__ = [
    "ClusterCalls",
    "ClusterRouter",
    "ClusterStats",
    "LeasedCalls",
    "Peer",
    "cluster_readings",
    "relay_listener_for",
]

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
    :class:`ClusterCalls`. :meth:`run` runs the store (renewals, releases), and puts the
    counters on the metrics page."""

    def __init__(
        self, config: ServerConfig, store: LeaseStore, stats: ClusterStats | None = None
    ) -> None:
        super().__init__(config)
        self.store = store
        store.on_lost = self.lease_lost
        self.stats = stats if stats is not None else ClusterStats()
        self._per_sid: Counter[str] = Counter()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start what the registry needs (:meth:`_start`) in the server's nursery; on
        cancellation (the server stops) the store releases the leases still held."""
        add_readings(self.readings)
        try:
            async with trio.open_nursery() as nursery:
                await self._start(nursery)
                task_status.started()
        finally:
            remove_readings(self.readings)

    async def _start(self, nursery: trio.Nursery) -> None:
        await nursery.start(self.store.run)

    def readings(self) -> Iterator[Reading]:
        """The ``jbtrio_cluster_*`` values of this registry (:func:`cluster_readings`)."""
        return cluster_readings(self.stats, self.store, None)

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

    A cluster instance is ``Server(app, config, registry=ClusterCalls(config, cluster))``
    (or ``jbtrio.serve(app, registry=...)``): the server runs :meth:`run`, which starts the
    relay listener (sockets other instances relay here are served by the server) and the
    lease store before the server listens, and stops them with it.
    """

    routes = True

    def __init__(self, config: ServerConfig, cluster: ClusterConfig) -> None:
        super().__init__(config, LeaseStore(cluster, cluster.advertise or ""))
        self.cluster = cluster
        key = derive_key(cluster.secret)
        self.router = ClusterRouter(cluster, self.store, key, self.stats)
        self.relay_listener = relay_listener_for(
            cluster, key, decide=self._decide, adopt=self._adopt
        )
        self._listener: Serving | None = None

    @property
    def address(self) -> str:
        """Where other instances reach this one's relay listener (what its leases say)."""
        return relay_address(self.cluster, self.relay_listener)

    def bind(self, listener: Serving) -> None:
        self._listener = listener

    async def _start(self, nursery: trio.Nursery) -> None:
        if self._listener is None:
            raise RuntimeError("ClusterCalls runs as a server's registry: Server(..., registry=)")
        cluster = self.cluster
        await nursery.start(self.relay_listener.run, cluster.relay_host, cluster.relay_port)
        self.store.advertise(self.address)
        await nursery.start(self.store.run)
        log.info(
            "cluster instance %s: relay listener at %s, Redis %s",
            cluster.instance_id,
            self.address,
            self.store.redacted_url,
        )

    def readings(self) -> Iterator[Reading]:
        return cluster_readings(self.stats, self.store, self.relay_listener.stats)

    # ------------------------------------------------------------------ routing

    async def owner(self, key: str | None) -> Owner:
        if key is None or self.find(key) is not None:
            self.stats.routed_here += 1
            return LOCAL
        peer = await self.router.lookup(key)
        return LOCAL if peer is None else peer

    async def hand_over(
        self, upgrade: Upgrade, route: Route, owner: Owner, received: bytes | bytearray
    ) -> bool:
        if not isinstance(owner, Peer) or self._listener is None:
            return False
        relayed = await self.router.relay(upgrade, route, owner, received)
        if relayed is None:
            await self._listener.serve_here(upgrade, bytes(received))
            return True
        return relayed

    # ------------------------------------------------------------------ relayed to us

    def _decide(self, request: RelayRequest) -> Status:
        """Whether a relayed socket is adopted here: its call must live here (or its lease
        be held here), and the connections be under ``max_connections``."""
        listener = self._listener
        if listener is None:
            return Status.BUSY
        sid = request.call_sid
        if self.find(sid) is None and sid not in self.store.book:
            return Status.NOT_HERE
        if listener.connections >= self.config.max_connections:
            return Status.BUSY
        return Status.ADOPTED

    async def _adopt(self, stream: trio.abc.Stream, request: RelayRequest) -> None:
        assert self._listener is not None  # _decide said ADOPTED
        await self._listener.adopt(
            stream, handshake_of(request), request.subprotocol, request.received
        )


# ---------------------------------------------------------------------- shared parts


def relay_listener_for(
    cluster: ClusterConfig,
    key: bytes,
    *,
    decide: Callable[[RelayRequest], Status],
    adopt: Callable[[trio.abc.Stream, RelayRequest], Awaitable[None]],
) -> RelayListener:
    """This instance's relay listener, bounded as ``cluster`` says."""
    return RelayListener(
        key=key,
        instance=cluster.instance_id,
        decide=decide,
        adopt=adopt,
        handshake_timeout=cluster.relay_handshake_timeout,
        max_pending=cluster.relay_max_pending,
        max_header=cluster.relay_max_header_bytes,
        max_received=cluster.relay_max_received_bytes,
        max_skew=cluster.max_clock_skew,
        user_timeout=cluster.relay_user_timeout,
    )


def relay_address(cluster: ClusterConfig, listener: RelayListener) -> str:
    """What this instance's leases name: ``advertise``, else the relay's host and port."""
    if cluster.advertise is not None:
        return cluster.advertise
    host = cluster.relay_host
    return f"[{host}]:{listener.port}" if ":" in host else f"{host}:{listener.port}"


def handshake_of(request: RelayRequest) -> Handshake:
    """The upgrade request of a relayed socket, as its first instance read it."""
    return Handshake(
        path=request.path,
        headers=request.headers,
        subprotocols=request.subprotocols,
        remote=request.remote,
    )


_CLUSTER_COUNTERS = (
    ("routed_here", "routed_here", "Sockets whose call lives on this instance (or was claimed)"),
    ("relayed", "relayed", "Sockets relayed to the instance owning their call"),
    ("owner_gone", "owner_gone", "Sockets whose owner was gone: its lease taken over here"),
    ("owner_busy", "owner_busy", "Sockets whose owner answered BUSY: closed with 1013"),
    ("lookups_failed", "lookups_failed", "Owner lookups Redis did not answer: served here"),
    ("reconnects_fresh", "reconnects_fresh", "session:reconnect for an unknown call: fresh"),
    (
        "reconnects_while_redis_down",
        "reconnects_redis_down",
        "Fresh reconnects while Redis was unreachable (their call may live elsewhere)",
    ),
    ("leases_lost", "leases_lost", "Calls ended here: another instance holds their lease"),
    ("relayed_chunks", "relayed_chunks", "Chunks of bytes carried by this instance's relays"),
    ("relay_busy_seconds", "relay_busy_seconds", "Time the relays spent carrying chunks"),
)
_STORE_COUNTERS = (
    ("claims", "lease_claims", "Leases taken for calls no instance held"),
    ("takeovers", "lease_takeovers", "Leases taken from an owner that could not be reached"),
    ("reclaimed", "leases_reclaimed", "Leases found missing at renewal and set again"),
    ("releases_skipped", "lease_releases_skipped", "Releases not sent: those leases expire"),
)
_RELAY_COUNTERS = (
    ("adopted", "relay_adopted", "Sockets adopted from other instances' relays"),
    ("not_here", "relay_answered_not_here", "Relay requests answered NOT_HERE"),
    ("busy", "relay_answered_busy", "Relay requests answered BUSY (at max_connections)"),
    ("rejected", "relay_rejected", "Relay connections reset for a header failing a check"),
    ("timed_out", "relay_timed_out", "Relay connections without a whole header in time"),
)


def cluster_readings(
    stats: ClusterStats, store: LeaseStore | None, relay_stats: RelayStats | None
) -> Iterator[Reading]:
    """The ``jbtrio_cluster_*`` values: counters (no labels), and gauges for the leases
    held, the relay's pending headers and whether Redis answers."""
    for field, name, documentation in _CLUSTER_COUNTERS:
        yield Reading(f"cluster_{name}", documentation, float(getattr(stats, field)))
    if store is not None:
        store_stats: StoreStats = store.stats
        for field, name, documentation in _STORE_COUNTERS:
            yield Reading(f"cluster_{name}", documentation, float(getattr(store_stats, field)))
        yield Reading("cluster_leases_held", "Leases held now", float(store_stats.held), gauge=True)
        yield Reading(
            "cluster_redis_outages",
            "Times Redis became unreachable (each logged once)",
            float(store.health.outages),
        )
        yield Reading(
            "cluster_redis_up",
            "0 while Redis is unreachable (its last call failed), else 1",
            0.0 if store.health.health is Health.DOWN else 1.0,
            gauge=True,
        )
    if relay_stats is not None:
        for field, name, documentation in _RELAY_COUNTERS:
            yield Reading(f"cluster_{name}", documentation, float(getattr(relay_stats, field)))
        yield Reading(
            "cluster_relay_pending",
            "Relay connections in their header now",
            float(relay_stats.pending),
            gauge=True,
        )
