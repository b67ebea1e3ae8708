"""A cluster instance embedded in a user's Trio program: ``jbtrio.serve(app,
registry=jbtrio.cluster.ClusterCalls(config, cluster))`` — no ClusterNode, no CLI. Three
of them behind the round-robin proxy of the end-to-end test, calls with drops: every
reconnect reaches its call, and the cluster's counters are on the metrics page
(``jbtrio_cluster_*``, no labels) while the instances run, and off it once they stop.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import trio
from _redis_server import start_redis
from test_cluster_e2e import EXPECTED, INSTANCE, app, cluster_config, place_calls, random_drops

import jbtrio
import jbtrio.cluster
from fuzz.rr_proxy import RoundRobinProxy
from jbtrio._runtime._metrics import Metrics


def families(page: bytes) -> dict[str, float]:
    """``jbtrio_cluster_*`` samples of a metrics page, by name (labels would show)."""
    found = re.findall(r"^(jbtrio_cluster_\S+) (\S+)$", page.decode(), re.MULTILINE)
    return {name: float(value) for name, value in found}


async def test_serve_with_a_cluster_registry_runs_an_instance(tmp_path: Path) -> None:
    metrics = Metrics()  # the page of this process (not installed: readings need no hook)
    config = jbtrio.ServerConfig(shutdown_grace=1.0)
    async with start_redis(tmp_path) as redis, trio.open_nursery() as nursery:
        registries: list[jbtrio.cluster.ClusterCalls] = []
        servers: list[jbtrio.Server] = []
        for name in "abc":
            registry = jbtrio.cluster.ClusterCalls(config, cluster_config(redis, name))
            token = INSTANCE.set(name)
            try:
                server = await nursery.start(
                    functools.partial(
                        jbtrio.serve, app, "127.0.0.1", 0, config=config, registry=registry
                    )
                )
            finally:
                INSTANCE.reset(token)
            registries.append(registry)
            servers.append(server)
        # The registry started its relay listener and named it in its leases.
        assert all(r.relay_listener.port for r in registries)
        assert registries[0].store.lease.address == registries[0].address
        proxy = RoundRobinProxy([server.port or 0 for server in servers])
        await nursery.start(proxy.run)

        with trio.fail_after(60):
            placed = await place_calls(f"ws://127.0.0.1:{proxy.port}/cluster", random_drops(12, 3))
        for p in placed:
            assert p.ok, p.summary
            assert p.said == EXPECTED, p
            assert len(set(p.instances)) == 1, f"a call was served by two instances: {p}"
        relayed = sum(r.stats.relayed for r in registries)
        assert relayed >= 1
        assert sum(r.stats.reconnects_fresh for r in registries) == 0

        page = families(metrics.exposition()[0])
        assert page["jbtrio_cluster_relayed_total"] == relayed
        assert page["jbtrio_cluster_relay_adopted_total"] == sum(
            r.relay_listener.stats.adopted for r in registries
        )
        assert page["jbtrio_cluster_routed_here_total"] == sum(
            r.stats.routed_here for r in registries
        )
        assert page["jbtrio_cluster_owner_gone_total"] == 0
        assert page["jbtrio_cluster_relay_answered_busy_total"] == 0
        assert page["jbtrio_cluster_reconnects_redis_down_total"] == 0
        assert page["jbtrio_cluster_redis_up"] == 3  # one per instance of this process
        assert page["jbtrio_cluster_lease_claims_total"] == sum(
            r.store.stats.claims for r in registries
        )

        with trio.fail_after(10):
            for server in servers:
                await server.shutdown()
        nursery.cancel_scope.cancel()
    # Stopped: their registries took their values off the page.
    assert families(metrics.exposition()[0]) == {}
