"""Cluster mode: several jbtrio instances behind a load balancer, call ownership shared
through Redis leases, and a socket that reaches an instance not holding its call relayed
to the one that does (``jbtrio serve APP --redis URL``; the ``jbtrio[cluster]`` extra).

Nothing imports this package unless cluster mode is on: it needs coredis. Parts:
:mod:`._config` (every bound), :mod:`._lease` (the lease logic, sans-IO), :mod:`._store`
(the leases in Redis), :mod:`._relay_wire` (the relay's header and answer, sans-IO),
:mod:`._splice` (bytes both ways between two streams), :mod:`._relay` (the relaying side and
the relay listener), :mod:`._registry` (the runtime's call registry for a cluster, which
runs the store and the relay listener with its server, and its ``jbtrio_cluster_*``
readings), :mod:`._node` (names an instance's parts for the CLI and tests),
:mod:`._acceptor` (an instance serving from ``--workers N`` processes). The public way in
is :mod:`jbtrio.cluster`.
"""

from __future__ import annotations

from ._acceptor import ClusterAcceptor, ClusterWorkerRouting, LeasedServer
from ._config import MIN_SECRET_BYTES, ClusterConfig, split_address
from ._lease import Health, Lease, LeaseBook, RedisHealth
from ._node import ClusterNode
from ._registry import ClusterCalls, ClusterRouter, ClusterStats, LeasedCalls, Peer
from ._relay import Outcome, RelayListener, RelayResult, RelayStats, relay
from ._relay_wire import RelayRejected, RelayRequest, Status, derive_key
from ._splice import Spliced, splice
from ._store import LeaseStore, StoreStats, StoreUnavailable

__all__ = [
    "MIN_SECRET_BYTES",
    "ClusterAcceptor",
    "ClusterCalls",
    "ClusterConfig",
    "ClusterNode",
    "ClusterRouter",
    "ClusterStats",
    "ClusterWorkerRouting",
    "Health",
    "Lease",
    "LeaseBook",
    "LeaseStore",
    "LeasedCalls",
    "LeasedServer",
    "Outcome",
    "Peer",
    "RedisHealth",
    "RelayListener",
    "RelayRejected",
    "RelayRequest",
    "RelayResult",
    "RelayStats",
    "Spliced",
    "Status",
    "StoreStats",
    "StoreUnavailable",
    "derive_key",
    "relay",
    "splice",
    "split_address",
]
