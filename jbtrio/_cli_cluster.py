"""``jbtrio serve APP --redis URL``: the serve options of cluster mode, and serving one
instance of a cluster (:class:`jbtrio._cluster.ClusterNode`).

The cluster package (and its Redis client, the ``jbtrio[cluster]`` extra) is imported only
when ``--redis`` is given.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from ._runtime import Endpoints, Router, ServerConfig, run_until_signalled

if TYPE_CHECKING:
    from ._cluster import ClusterAcceptor, ClusterConfig, ClusterNode

__all__ = [
    "add_cluster_arguments",
    "cluster_config",
    "serve_cluster",
    "serve_cluster_workers",
    "worker_run_in",
]

WorkerCommand = Callable[[int, int], Sequence[str]]
#: Puts the health and metrics endpoints up once the instance listens (`jbtrio serve`'s own).
Expose = Callable[[Endpoints, trio.Nursery], None]


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """The cluster options of ``jbtrio serve``."""
    group = parser.add_argument_group(
        "cluster mode",
        "several instances behind a load balancer; a reconnect that lands on an instance "
        "not holding its call is relayed to the one that does (needs jbtrio[cluster])",
    )
    group.add_argument(
        "--redis",
        metavar="URL",
        help="redis://HOST:PORT/DB shared by every instance (jambonz's own will do): turns "
        "cluster mode on",
    )
    group.add_argument(
        "--advertise",
        metavar="HOST:PORT",
        help="where other instances reach this one's relay listener (in Kubernetes: the pod "
        "IP); default: --relay-host and the relay port",
    )
    group.add_argument(
        "--relay-host",
        metavar="HOST",
        help="interface the relay listener binds (default: --host)",
    )
    group.add_argument(
        "--relay-port",
        type=int,
        metavar="N",
        help="the relay listener's port (default: --advertise's port, else any free port)",
    )
    group.add_argument("--cluster-instance", help=argparse.SUPPRESS)  # a worker's instance id
    group.add_argument(
        "--cluster-secret-file",
        metavar="PATH",
        help="file holding the secret shared by every instance (16 bytes or more; required "
        "with --redis): instances authenticate each other's relays with it",
    )


def cluster_config(args: argparse.Namespace) -> ClusterConfig | None:
    """The :class:`~jbtrio._cluster.ClusterConfig` the options say (``None`` without
    ``--redis``); :class:`SystemExit` with a one-line reason for bad ones."""
    if args.redis is None:
        for option in ("advertise", "relay_host", "relay_port", "cluster_secret_file"):
            if getattr(args, option) is not None:
                raise SystemExit(f"--{option.replace('_', '-')} needs --redis")
        return None
    try:
        from ._cluster import ClusterConfig, split_address  # noqa: PLC0415 - the extra
    except ImportError as exc:
        raise SystemExit(
            f"--redis needs the cluster extra: pip install 'jbtrio[cluster]' ({exc})"
        ) from None
    if args.cluster_secret_file is None:
        raise SystemExit("--redis needs --cluster-secret-file PATH (the instances' shared secret)")
    try:
        secret = Path(args.cluster_secret_file).read_bytes().strip()
    except OSError as exc:
        raise SystemExit(f"--cluster-secret-file: {exc}") from None
    relay_port = args.relay_port
    try:
        if relay_port is None:
            relay_port = split_address(args.advertise)[1] if args.advertise else 0
        identity = {"instance_id": args.cluster_instance} if args.cluster_instance else {}
        return ClusterConfig(
            redis_url=args.redis,
            secret=secret,
            advertise=args.advertise,
            relay_host=args.relay_host if args.relay_host is not None else args.host,
            relay_port=relay_port,
            **identity,
        )
    except ValueError as exc:
        raise SystemExit(f"jbtrio serve: {exc}") from None


async def serve_cluster(
    router: Router,
    args: argparse.Namespace,
    config: ServerConfig,
    cluster: ClusterConfig,
    *,
    expose: Expose,
) -> None:
    """Serve one cluster instance until SIGINT/SIGTERM (as ``jbtrio serve`` serves);
    ``expose`` puts the health and metrics endpoints up once it listens."""
    from ._cluster import ClusterNode  # noqa: PLC0415 - the extra

    node = ClusterNode(router, config, cluster)

    def ready(node: ClusterNode, nursery: trio.Nursery) -> None:
        print(
            f"jbtrio serving {args.app} on ws://{args.host}:{node.port} "
            f"(cluster instance {cluster.instance_id}, relay {node.address})",
            flush=True,
        )
        expose(node.server.endpoints, nursery)

    def stop(node: ClusterNode, nursery: trio.Nursery) -> None:
        nursery.start_soon(node.shutdown, name="jbtrio shutdown")

    await run_until_signalled(
        partial(node.run, args.host, args.port), stop, ready=ready, name="jbtrio cluster node"
    )


async def serve_cluster_workers(
    router: Router,
    args: argparse.Namespace,
    config: ServerConfig,
    cluster: ClusterConfig,
    worker_command: WorkerCommand,
    *,
    expose: Expose,
) -> None:
    """Serve one cluster instance from ``--workers N`` processes until SIGINT/SIGTERM."""
    from ._cluster import ClusterAcceptor  # noqa: PLC0415 - the extra

    def command_for(address: str) -> WorkerCommand:
        def command(index: int, fd: int) -> list[str]:
            return [
                *worker_command(index, fd),
                "--redis", args.redis,
                "--cluster-secret-file", args.cluster_secret_file,
                "--advertise", address,
                "--cluster-instance", cluster.instance_id,
            ]  # fmt: skip

        return command

    node = ClusterAcceptor(router, config, cluster, args.workers, command_for)

    def ready(node: ClusterAcceptor, nursery: trio.Nursery) -> None:
        print(
            f"jbtrio serving {args.app} on ws://{args.host}:{node.port} with {args.workers} "
            f"worker processes (cluster instance {cluster.instance_id}, relay {node.address})",
            flush=True,
        )
        expose(node.acceptor.endpoints, nursery)

    def stop(node: ClusterAcceptor, _: trio.Nursery) -> None:
        node.shutdown()

    await run_until_signalled(
        partial(node.run, args.host, args.port), stop, ready=ready, name="jbtrio acceptor"
    )


def worker_run_in(
    router: Router, config: ServerConfig, cluster: ClusterConfig
) -> Callable[..., Awaitable[Any]]:
    """What a ``--workers`` worker of a cluster instance runs instead of
    ``Server.run_in``: the same server, its calls holding their Redis leases."""
    from ._cluster import LeasedServer  # noqa: PLC0415 - the extra

    return LeasedServer(router, config, cluster).run_in
