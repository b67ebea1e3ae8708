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
from collections.abc import Callable, Sequence

import trio

from .._runtime import (
    Acceptor,
    Handshake,
    Owner,
    Route,
    Router,
    Server,
    ServerConfig,
    Upgrade,
    WorkerPool,
    WorkerRouting,
)
from ._config import ClusterConfig
from ._registry import ClusterRouter, ClusterStats, LeasedCalls, Peer
from ._relay import RelayListener
from ._relay_wire import RelayRequest, Status, derive_key
from ._store import LeaseStore

__all__ = ["ClusterAcceptor", "ClusterWorkerRouting", "LeasedServer"]

log = logging.getLogger("jbtrio.cluster")

#: ``command(address)``: the worker command of an instance whose relay listener is at
#: ``address`` (``WorkerPool``'s ``command(index, fd)``).
WorkerCommandFor = Callable[[str], Callable[[int, int], Sequence[str]]]


class ClusterWorkerRouting(WorkerRouting):
    """The acceptor's registry (see the module)."""

    def __init__(self, config: ServerConfig, pool: WorkerPool, router: ClusterRouter) -> None:
        super().__init__(config, pool)
        self.router = router

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


class ClusterAcceptor:
    """A cluster instance's ``--workers`` acceptor: the relay listener, the lease store
    (claims only) and an :class:`~jbtrio._runtime.Acceptor` whose registry is
    :class:`ClusterWorkerRouting`. ``command_for(address)`` makes the workers' command
    (they must know the relay address their leases name)."""

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
        self.stats = ClusterStats()
        self._command_for = command_for
        self._key = derive_key(cluster.secret)
        self.relay_listener = RelayListener(
            key=self._key,
            instance=cluster.instance_id,
            decide=self._decide,
            adopt=self._adopt,
            handshake_timeout=cluster.relay_handshake_timeout,
            max_pending=cluster.relay_max_pending,
            max_header=cluster.relay_max_header_bytes,
            max_received=cluster.relay_max_received_bytes,
            max_skew=cluster.max_clock_skew,
            user_timeout=cluster.relay_user_timeout,
        )
        self._acceptor: Acceptor | None = None

    @property
    def acceptor(self) -> Acceptor:
        assert self._acceptor is not None, "ClusterAcceptor.run() has not started"
        return self._acceptor

    @property
    def port(self) -> int | None:
        return self._acceptor.port if self._acceptor is not None else None

    @property
    def address(self) -> str:
        """Where other instances reach this one's relay listener (what its leases say)."""
        if self.cluster.advertise is not None:
            return self.cluster.advertise
        host, port = self.cluster.relay_host, self.relay_listener.port
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

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
            await nursery.start(
                self.relay_listener.run, self.cluster.relay_host, self.cluster.relay_port
            )
            store = LeaseStore(self.cluster, self.address, track_claims=False)
            await nursery.start(store.run)
            pool = WorkerPool(
                self.workers,
                self._command_for(self.address),
                wait_for_worker=self.config.handshake_timeout,
            )
            acceptor = Acceptor(self.router, self.config, pool)
            acceptor.registry = ClusterWorkerRouting(
                self.config, pool, ClusterRouter(self.cluster, store, self._key, self.stats)
            )
            self._acceptor = acceptor

            async def accepting(task_status: trio.TaskStatus[Acceptor]) -> None:
                await acceptor.run(host, port, task_status=task_status)
                nursery.cancel_scope.cancel()  # the workers are gone: so are we

            await nursery.start(accepting, name="jbtrio acceptor")
            log.info(
                "cluster instance %s: relay listener at %s, %d workers, Redis %s",
                self.cluster.instance_id,
                self.address,
                self.workers,
                store.redacted_url,
            )
            task_status.started(self)

    def shutdown(self) -> None:
        """Stop accepting; the workers let their calls finish and exit."""
        self.acceptor.shutdown()

    def _decide(self, request: RelayRequest) -> Status:
        """A relayed socket is taken unless the acceptor is at ``max_connections``: the
        lease named this instance, so its call is in one of the workers (or ended there,
        and the worker starts it afresh as it would any unknown reconnect)."""
        acceptor = self._acceptor
        if acceptor is None or acceptor.connections >= self.config.max_connections:
            return Status.BUSY
        return Status.ADOPTED

    async def _adopt(self, stream: trio.abc.Stream, request: RelayRequest) -> None:
        sock = getattr(stream, "socket", None)
        if sock is None:
            log.error("[%s] relay: not a socket, cannot hand it to a worker", request.call_sid)
            return
        handshake = Handshake(
            path=request.path,
            headers=request.headers,
            subprotocols=request.subprotocols,
            remote=request.remote,
        )
        index = zlib.crc32(request.call_sid.encode()) % self.workers
        if not await self.acceptor.pool.hand_over(
            index, sock.fileno(), handshake, request.subprotocol, request.received
        ):
            log.error("[%s] relay: worker %d did not take the socket", request.call_sid, index)


class LeasedServer:
    """A ``--workers`` worker of a cluster instance: a :class:`~jbtrio._runtime.Server`
    whose calls hold their leases (:class:`~._registry.LeasedCalls`), and the store that
    renews and releases them. :meth:`run_in` starts with the server."""

    def __init__(self, router: Router, config: ServerConfig, cluster: ClusterConfig) -> None:
        if cluster.advertise is None:
            raise ValueError("a worker needs the instance's relay address (advertise)")
        self.registry: LeasedCalls | None = None
        self._router = router
        self._config = config
        self._cluster = cluster

    async def run_in(self, *, task_status: trio.TaskStatus[Server]) -> None:
        async with trio.open_nursery() as nursery:
            assert self._cluster.advertise is not None
            store = LeaseStore(self._cluster, self._cluster.advertise, on_lost=self._lost)
            await nursery.start(store.run)
            self.registry = LeasedCalls(self._config, store)
            server = Server(self._router, self._config, registry=self.registry)

            async def serving(task_status: trio.TaskStatus[Server]) -> None:
                await server.run_in(task_status=task_status)
                nursery.cancel_scope.cancel()  # stopped: release the leases and go

            await nursery.start(serving, name="jbtrio server")
            log.info(
                "serving calls of cluster instance %s (leases name %s)",
                self._cluster.instance_id,
                self._cluster.advertise,
            )
            task_status.started(server)

    def _lost(self, call_sid: str) -> None:
        if self.registry is not None:
            self.registry.lease_lost(call_sid)
