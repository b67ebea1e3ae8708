"""One instance of a cluster (``jbtrio serve APP --redis URL``): a
:class:`~jbtrio._runtime.Server` whose call registry is :class:`~._registry.ClusterCalls`,
its lease store (:class:`~._store.LeaseStore`) and its relay listener
(:class:`~._relay.RelayListener`), started and stopped together.
"""

from __future__ import annotations

import logging

import trio

from .._runtime import Handshake, Router, Server, ServerConfig, Upgrade
from ._config import ClusterConfig
from ._registry import ClusterCalls
from ._relay import RelayListener
from ._relay_wire import RelayRequest, Status, derive_key
from ._store import LeaseStore

__all__ = ["ClusterNode"]

log = logging.getLogger("jbtrio.cluster")


class ClusterNode:
    """A server in cluster mode (see the module). :meth:`run` it as a
    :class:`~jbtrio._runtime.Server` is run; :meth:`shutdown` stops it gracefully (calls
    finish within the grace, the rest are closed with 1001 and jambonz reconnects them
    to another instance, where they start afresh)."""

    def __init__(self, router: Router, config: ServerConfig, cluster: ClusterConfig) -> None:
        self.router = router
        self.config = config
        self.cluster = cluster
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
        self._server: Server | None = None
        self._registry: ClusterCalls | None = None

    @property
    def server(self) -> Server:
        assert self._server is not None, "ClusterNode.run() has not started"
        return self._server

    @property
    def registry(self) -> ClusterCalls:
        assert self._registry is not None, "ClusterNode.run() has not started"
        return self._registry

    @property
    def store(self) -> LeaseStore:
        return self.registry.store

    @property
    def port(self) -> int | None:
        """The public (jambonz-facing) port."""
        return self._server.port if self._server is not None else None

    @property
    def address(self) -> str:
        """Where other instances reach this one's relay listener (what its leases say)."""
        if self.cluster.advertise is not None:
            return self.cluster.advertise
        host = self.cluster.relay_host
        return (
            f"[{host}]:{self.relay_listener.port}"
            if ":" in host
            else (f"{host}:{self.relay_listener.port}")
        )

    async def run(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        task_status: trio.TaskStatus[ClusterNode] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``host:port`` (and the relay port) until :meth:`shutdown` returns (or
        cancellation); then release the leases still held."""
        async with trio.open_nursery() as nursery:
            await nursery.start(
                self.relay_listener.run, self.cluster.relay_host, self.cluster.relay_port
            )
            store = LeaseStore(self.cluster, self.address, on_lost=self._lease_lost)
            registry = ClusterCalls(self.config, self.cluster, store, self._key)
            server = Server(self.router, self.config, registry=registry)
            registry.serve_here = self._serve_here
            self._registry, self._server = registry, server
            await nursery.start(store.run)

            async def serving(task_status: trio.TaskStatus[Server]) -> None:
                await server.run(host, port, task_status=task_status)
                nursery.cancel_scope.cancel()  # stopped: the store and relay go too

            await nursery.start(serving, name="jbtrio server")
            log.info(
                "cluster instance %s: relay listener at %s, Redis %s",
                self.cluster.instance_id,
                self.address,
                store.redacted_url,
            )
            task_status.started(self)

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop accepting, let calls finish within ``grace``, close the rest with 1001."""
        await self.server.shutdown(grace)

    def _lease_lost(self, call_sid: str) -> None:
        if self._registry is not None:
            self._registry.lease_lost(call_sid)

    # ------------------------------------------------------------------ serving sockets

    async def _serve_here(self, upgrade: Upgrade, received: bytes) -> None:
        """Serve a routed connection in this process (as the listener does for a call
        that lives here)."""
        server = self.server
        async with server.transport.adopt_socket(
            upgrade.stream, upgrade.handshake, upgrade.subprotocol, received, server.options
        ) as socket:
            await server.serve_socket(socket)

    def _decide(self, request: RelayRequest) -> Status:
        """Whether a relayed socket is adopted here: its call must live here (or its lease
        be held here), and the connections be under ``max_connections``."""
        server, registry = self._server, self._registry
        if server is None or registry is None:
            return Status.BUSY
        sid = request.call_sid
        if registry.find(sid) is None and sid not in registry.store.book:
            return Status.NOT_HERE
        if server.connections >= self.config.max_connections:
            return Status.BUSY
        return Status.ADOPTED

    async def _adopt(self, stream: trio.abc.Stream, request: RelayRequest) -> None:
        handshake = Handshake(
            path=request.path,
            headers=request.headers,
            subprotocols=request.subprotocols,
            remote=request.remote,
        )
        await self.server.adopt(stream, handshake, request.subprotocol, request.received)
