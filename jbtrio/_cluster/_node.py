"""One instance of a cluster (``jbtrio serve APP --redis URL``): a
:class:`~jbtrio._runtime.Server` whose call registry is :class:`~._registry.ClusterCalls`.

The registry runs its lease store and relay listener with the server (its ``run()``), so
``Server(app, config, registry=ClusterCalls(config, cluster))`` — or
``jbtrio.serve(app, registry=...)`` — is a whole instance; this class only names its parts
for the CLI, the soak and the tests.
"""

from __future__ import annotations

import trio

from .._runtime import Router, Server, ServerConfig
from ._config import ClusterConfig
from ._registry import ClusterCalls
from ._relay import RelayListener
from ._store import LeaseStore

__all__ = ["ClusterNode"]


class ClusterNode:
    """A server in cluster mode (see the module). :meth:`run` it as a
    :class:`~jbtrio._runtime.Server` is run; :meth:`shutdown` stops it gracefully (calls
    finish within the grace, the rest are closed with 1001 and jambonz reconnects them
    to another instance, where they start afresh)."""

    def __init__(self, router: Router, config: ServerConfig, cluster: ClusterConfig) -> None:
        self.router = router
        self.config = config
        self.cluster = cluster
        self.registry = ClusterCalls(config, cluster)
        self.server = Server(router, config, registry=self.registry)

    @property
    def relay_listener(self) -> RelayListener:
        return self.registry.relay_listener

    @property
    def store(self) -> LeaseStore:
        return self.registry.store

    @property
    def port(self) -> int | None:
        """The public (jambonz-facing) port."""
        return self.server.port

    @property
    def address(self) -> str:
        """Where other instances reach this one's relay listener (what its leases say)."""
        return self.registry.address

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
            await nursery.start(self.server.run, host, port, name="jbtrio server")
            task_status.started(self)

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop accepting, let calls finish within ``grace``, close the rest with 1001."""
        await self.server.shutdown(grace)
