"""Cluster mode for a server embedded in your own Trio program (``pip install
jbtrio[cluster]``): several instances behind a load balancer share call ownership through
Redis, and a socket that reaches an instance not holding its call is relayed to the one
that does. ``jbtrio serve APP --redis URL`` does the same from the command line.

::

    cluster = jbtrio.cluster.ClusterConfig(redis_url="redis://redis:6379/0", secret=SECRET)
    registry = jbtrio.cluster.ClusterCalls(config, cluster)
    server = await nursery.start(
        functools.partial(jbtrio.serve, app, "0.0.0.0", 3000, config=config, registry=registry)
    )

The registry starts its relay listener and lease store with the server and stops them with
it; ``registry.stats``, ``registry.store.stats`` and ``registry.relay_listener.stats`` are
its counters (``jbtrio serve --redis`` shows them on ``/metrics`` as ``jbtrio_cluster_*``).
"""

from __future__ import annotations

from ._cluster import ClusterCalls, ClusterConfig, ClusterStats

__all__ = ["ClusterCalls", "ClusterConfig", "ClusterStats"]
