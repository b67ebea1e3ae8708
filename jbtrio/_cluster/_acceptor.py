"""A cluster instance serving from ``--workers N`` processes: its acceptor asks the cluster
first (the Redis lease) and then the worker owning the call (``crc32(call_sid) % N``).

:class:`ClusterWorkerRouting` is the acceptor's call registry: a call another instance
holds is relayed there (:class:`~._registry.ClusterRouter`); a call of this instance (or
claimed now, or taken over from an instance gone) goes to its worker as ``--workers``
sends it. The relay listener is the acceptor's: a relayed connection's socket is handed to
the call's worker with the bytes that came with the header, as a socket accepted here would
be. Each worker holds the leases of its calls (:class:`~._registry.LeasedCalls`, under the
instance's id and relay address), renews them and releases them when its calls end; the
acceptor claims without holding (:class:`~._store.LeaseStore` ``track_claims=False``).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterator, Sequence

import trio

from .._runtime import (
    Acceptor,
    Owner,
    Reading,
    Route,
    Router,
    Server,
    ServerConfig,
    Serving,
    Upgrade,
    WorkerPool,
    WorkerRouting,
    add_readings,
    remove_readings,
)
from ._config import ClusterConfig
from ._registry import (
    ClusterRouter,
    ClusterStats,
    LeasedCalls,
    Peer,
    cluster_readings,
    handshake_of,
    relay_address,
    relay_listener_for,
)
from ._relay import RelayListener
from ._relay_wire import RelayRequest, Status, derive_key
from ._store import LeaseStore

__all__ = ["ClusterAcceptor", "ClusterWorkerRouting", "LeasedServer"]

log = logging.getLogger("jbtrio.cluster")

#: ``command(address)``: the worker command of an instance whose relay listener is at
#: ``address`` (``WorkerPool``'s ``command(index, fd)``).
WorkerCommandFor = Callable[[str], Callable[[int, int], Sequence[str]]]


class ClusterWorkerRouting(WorkerRouting):
    """The acceptor's registry (see the module). :meth:`run` starts the relay listener and
    the lease store (claims only) before the workers start."""

    def __init__(self, config: ServerConfig, pool: WorkerPool, cluster: ClusterConfig) -> None:
        super().__init__(config, pool)
        self.cluster = cluster
        self.stats = ClusterStats()
        key = derive_key(cluster.secret)
        self.store = LeaseStore(cluster, cluster.advertise or "", track_claims=False)
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

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        readings = self.readings
        add_readings(readings)
        try:
            async with trio.open_nursery() as nursery:
                cluster = self.cluster
                await nursery.start(self.relay_listener.run, cluster.relay_host, cluster.relay_port)
                self.store.advertise(self.address)
                await nursery.start(self.store.run)
                log.info(
                    "cluster instance %s: relay listener at %s, %d workers, Redis %s",
                    cluster.instance_id,
                    self.address,
                    self.pool.count,
                    self.store.redacted_url,
                )
                task_status.started()
        finally:
            remove_readings(readings)

    def readings(self) -> Iterator[Reading]:
        """The acceptor's ``jbtrio_cluster_*`` values (its workers' leases are theirs)."""
        return cluster_readings(self.stats, self.store, self.relay_listener.stats)

    async def owner(self, key: str | None) -> Owner:
        if key is not None:
            peer = await self.router.lookup(key)
            if peer is not None:
                return peer
        return await super().owner(key)

    async def hand_over(
        self, upgrade: Upgrade, route: Route, owner: Owner, received: bytes | bytearray
    ) -> bool:
        if isinstance(owner, Peer):
            relayed = await self.router.relay(upgrade, route, owner, received)
            if relayed is not None:
                return relayed
            owner = await super().owner(route.key)  # the owner is gone: our worker's now
        return await super().hand_over(upgrade, route, owner, received)

    def _decide(self, request: RelayRequest) -> Status:
        """A relayed socket is taken unless the acceptor is at ``max_connections``: the
        lease named this instance, so its call is in one of the workers (or ended there,
        and the worker starts it afresh as it would any unknown reconnect)."""
        listener = self._listener
        if listener is None or listener.connections >= self.config.max_connections:
            return Status.BUSY
        return Status.ADOPTED

    async def _adopt(self, stream: trio.abc.Stream, request: RelayRequest) -> None:
        sock = getattr(stream, "socket", None)
        if sock is None:
            log.error("[%s] relay: not a socket, cannot hand it to a worker", request.call_sid)
            return
        index = zlib.crc32(request.call_sid.encode()) % self.pool.count
        if not await self.pool.hand_over(
            index, sock.fileno(), handshake_of(request), request.subprotocol, request.received
        ):
            log.error("[%s] relay: worker %d did not take the socket", request.call_sid, index)


class ClusterAcceptor:
    """A cluster instance's ``--workers`` acceptor: an :class:`~jbtrio._runtime.Acceptor`
    whose registry is :class:`ClusterWorkerRouting` (which runs the relay listener and the
    lease store). ``command_for(address)`` makes the workers' command (they must know the
    relay address their leases name: it is asked when they start, after the relay is bound).
    """

    def __init__(
        self,
        router: Router,
        config: ServerConfig,
        cluster: ClusterConfig,
        workers: int,
        command_for: WorkerCommandFor,
    ) -> None:
        self.router = router
        self.config = config
        self.cluster = cluster
        self.workers = workers

        def command(index: int, fd: int) -> Sequence[str]:
            return command_for(self.routing.address)(index, fd)

        pool = WorkerPool(workers, command, wait_for_worker=config.handshake_timeout)
        self.routing = ClusterWorkerRouting(config, pool, cluster)
        self.acceptor = Acceptor(router, config, pool, registry=self.routing)
        self.stats = self.routing.stats

    @property
    def relay_listener(self) -> RelayListener:
        return self.routing.relay_listener

    @property
    def port(self) -> int | None:
        return self.acceptor.port

    @property
    def address(self) -> str:
        """Where other instances reach this one's relay listener (what its leases say)."""
        return self.routing.address

    async def run(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        task_status: trio.TaskStatus[ClusterAcceptor] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Start the relay listener, the store, the workers and listen, until
        :meth:`shutdown` and the workers' exit."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.acceptor.run, host, port, name="jbtrio acceptor")
            task_status.started(self)

    def shutdown(self) -> None:
        """Stop accepting; the workers let their calls finish and exit."""
        self.acceptor.shutdown()


class LeasedServer:
    """A ``--workers`` worker of a cluster instance: a :class:`~jbtrio._runtime.Server`
    whose calls hold their leases (:class:`~._registry.LeasedCalls`, which runs the store
    that renews and releases them with the server)."""

    def __init__(self, router: Router, config: ServerConfig, cluster: ClusterConfig) -> None:
        if cluster.advertise is None:
            raise ValueError("a worker needs the instance's relay address (advertise)")
        self.registry = LeasedCalls(config, LeaseStore(cluster, cluster.advertise))
        self.server = Server(router, config, registry=self.registry)
        self._cluster = cluster

    async def run_in(
        self, *, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED
    ) -> None:
        log.info(
            "serving calls of cluster instance %s (leases name %s)",
            self._cluster.instance_id,
            self._cluster.advertise,
        )
        await self.server.run_in(task_status=task_status)
