"""``jbtrio serve MODULE:APP``: serve an app object until SIGINT/SIGTERM.

On the first signal the server stops accepting, lets calls in flight finish within the grace
period, then closes the rest with 1001 (jambonz reconnects them elsewhere); a second signal
stops at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from pathlib import Path

import trio

from ._runtime import Router, Server, ServerConfig, tune_gc

__all__ = ["add_arguments", "load_app", "run"]

log = logging.getLogger("jbtrio.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` subcommand's options."""
    parser.add_argument("app", metavar="MODULE:APP", help="e.g. examples.ivr:app")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="TCP port (3000)")
    parser.add_argument("--user", help="require HTTP Basic auth with this username")
    parser.add_argument("--password", help="... and this password")
    parser.add_argument(
        "--grace", type=float, default=30.0, help="seconds calls may finish on shutdown (30)"
    )
    parser.add_argument(
        "--gc-threshold",
        type=int,
        default=50_000,
        help="collect the young GC generation every N allocations (50000; 0 keeps Python's)",
    )


def load_app(spec: str) -> Router:
    """Import ``MODULE:ATTR`` (the current directory is importable) and return the app."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"expected MODULE:APP, got {spec!r}")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"cannot import {module_name}: {exc}") from exc
    app = getattr(module, attr, None)
    if app is None or not callable(getattr(app, "resolve", None)):
        raise SystemExit(f"{spec} is not a jbtrio App")
    router: Router = app
    return router


async def _serve(router: Router, args: argparse.Namespace) -> None:
    config = ServerConfig(username=args.user, password=args.password, shutdown_grace=args.grace)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def run_server(task_status: trio.TaskStatus[Server]) -> None:
                await Server(router, config).run(args.host, args.port, task_status=task_status)
                nursery.cancel_scope.cancel()  # stopped: stop watching for signals

            server: Server = await nursery.start(run_server, name="jbtrio server")
            print(f"jbtrio serving {args.app} on ws://{args.host}:{server.port}", flush=True)
            stopping = False
            async for signum in signals:
                if stopping:
                    log.warning("second signal: stopping now")
                    nursery.cancel_scope.cancel()
                    break
                stopping = True
                log.warning("%s: shutting down gracefully", signal.Signals(signum).name)
                nursery.start_soon(server.shutdown, name="jbtrio shutdown")


def run(args: argparse.Namespace) -> int:
    """Serve until shut down; exit status 0 after a graceful stop."""
    if (args.user is None) != (args.password is None):
        raise SystemExit("--user and --password go together")
    router = load_app(args.app)
    if args.gc_threshold > 0:
        tune_gc(args.gc_threshold)
    interrupted = False
    try:
        trio.run(_serve, router, args)
    except* KeyboardInterrupt:
        interrupted = True
    return 130 if interrupted else 0
