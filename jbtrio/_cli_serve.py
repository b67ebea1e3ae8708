"""``jbtrio serve MODULE:APP``: serve an app object until SIGINT/SIGTERM.

On the first signal the server stops accepting, lets calls in flight finish within the grace
period, then closes the rest with 1001 (jambonz reconnects them elsewhere); a second signal
stops at once.

``--workers N`` (N > 1) serves from N processes: this one accepts and routes each socket to
the worker owning its call (:mod:`jbtrio._runtime._workers`); the workers are this same
command with the hidden ``--worker INDEX:FD``.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import shutil
import socket
import sys
import tempfile
import traceback
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import NoReturn

import trio

from . import COMPILED
from ._app import App
from ._cli_cluster import (
    add_cluster_arguments,
    cluster_config,
    serve_cluster,
    serve_cluster_workers,
    worker_run_in,
)
from ._cli_logging import configure_logging
from ._runtime import (
    DEFAULT_TRANSPORT,
    TRANSPORTS,
    Acceptor,
    Endpoints,
    MetricsText,
    Router,
    Server,
    ServerConfig,
    WorkerPool,
    adopt_handovers,
    enable_metrics,
    forget_process,
    run_until_signalled,
    serve_plain,
    tune_gc,
)
from .verbs import JAMBONZ_VERSIONS

__all__ = ["add_arguments", "load_app", "run"]

log = logging.getLogger("jbtrio.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` subcommand's options."""
    parser.add_argument("app", metavar="MODULE:APP", help="e.g. examples.ivr:app")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="TCP port (3000)")
    parser.add_argument("--user", help="require HTTP Basic auth with this username")
    parser.add_argument(
        "--password", help="... and this password (visible in ps: prefer --password-file)"
    )
    parser.add_argument(
        "--password-file",
        metavar="PATH",
        help="read the password from this file (a container secret; one trailing newline "
        "is dropped)",
    )
    parser.add_argument(
        "--allowed-peers",
        metavar="CIDR,...",
        help="only these addresses/networks may connect, e.g. your jambonz feature servers "
        "(default: any)",
    )
    parser.add_argument(
        "--grace", type=float, default=30.0, help="seconds calls may finish on shutdown (30)"
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=ServerConfig().max_connections,
        help="bound on upgraded sockets, and on calls in progress (those waiting for their "
        "reconnect included), per process (%(default)s); beyond it sockets get 503 and new "
        "calls are closed with 1013",
    )
    parser.add_argument(
        "--gc-threshold",
        type=int,
        default=50_000,
        help="collect the young GC generation every N allocations (50000; 0 keeps Python's)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes serving calls (1); with more, this process accepts and hands each "
        "socket to the worker owning its call",
    )
    parser.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default=DEFAULT_TRANSPORT,
        help="the websocket backend (%(default)s)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # INDEX:FD, set by the acceptor
    add_cluster_arguments(parser)
    parser.add_argument(
        "--jambonz",
        metavar="|".join(JAMBONZ_VERSIONS),
        help="the jambonz this server's calls come from: their verbs are validated by its "
        "rules (default: what the app declares, App(jambonz=...), else the current "
        "jambonz, 11)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve GET /metrics on this port of --host instead of the serving port",
    )
    parser.add_argument(
        "--no-metrics",
        action="store_true",
        help="no Prometheus metrics (GET /metrics answers 404)",
    )


def _target_jambonz(router: Router, jambonz: str | None) -> None:
    """``--jambonz``: the operator's word on the jambonz in front, over the app's own.

    Put in the environment too, so that ``--workers`` processes (started without it) serve
    the same target."""
    if jambonz is None:
        return
    if jambonz not in JAMBONZ_VERSIONS:
        choices = ", ".join(JAMBONZ_VERSIONS)
        raise SystemExit(f"jbtrio serve: --jambonz must be one of {choices}, got {jambonz!r}")
    if not isinstance(router, App):
        raise SystemExit("jbtrio serve: --jambonz needs a jbtrio.App to serve")
    if router.jambonz not in (None, jambonz):
        log.warning("serving for jambonz %s (the app declares %s)", jambonz, router.jambonz)
    router.jambonz = jambonz
    os.environ["JBTRIO_JAMBONZ"] = jambonz


def load_app(spec: str) -> Router:
    """Import ``MODULE:ATTR`` (the current directory is importable) and return the app.

    Each way this fails a newcomer meets is one line saying what to do (a ``SystemExit``);
    an error inside the module itself is theirs to fix, so its traceback is shown first.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"jbtrio serve: expected MODULE:APP (e.g. examples.ivr:app), got {spec!r}")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
            _fail_import(module_name, exc)  # the module is there: something it imports is not
        raise SystemExit(
            f"jbtrio serve: no module named {exc.name!r} here ({cwd}): run it from the "
            f"directory that holds {module_name.split('.')[0]}, or fix MODULE in {spec!r}"
        ) from None
    except Exception as exc:
        _fail_import(module_name, exc)
    app = getattr(module, attr, None)
    if app is None or not callable(getattr(app, "resolve", None)):
        apps = [name for name, value in vars(module).items() if isinstance(value, App)]
        found = f"its App: {', '.join(apps)}" if apps else "it defines no jbtrio.App"
        if app is None:
            problem = f"{module_name} has no attribute {attr!r}"
        else:
            problem = f"{spec} is a {type(app).__name__}, not a jbtrio.App"
        raise SystemExit(f"jbtrio serve: {problem} ({found})")
    router: Router = app
    return router


def _fail_import(module_name: str, exc: BaseException) -> NoReturn:
    """The user's module raised while importing: its traceback (their frames), then a line."""
    shown = traceback.TracebackException.from_exception(exc)
    shown.stack = traceback.StackSummary.from_list(
        [frame for frame in shown.stack if not _machinery(frame.filename)]
    )
    sys.stderr.write("".join(shown.format()))
    raise SystemExit(
        f"jbtrio serve: importing {module_name} failed with {type(exc).__name__} "
        "(traceback above): fix it, then serve again"
    ) from None


def _machinery(filename: str) -> bool:
    """Frames of the import system and of this loader, which only hide the user's own."""
    return (
        filename.startswith("<frozen importlib")
        or filename == __file__
        or Path(filename) == Path(importlib.__file__ or "")
    )


def _metrics(router: Router, args: argparse.Namespace) -> MetricsText | None:
    """Turn metrics on in this process (unless ``--no-metrics``): the page's maker.
    :func:`run` sets ``PROMETHEUS_MULTIPROC_DIR`` for ``--workers`` before this runs."""
    return None if args.no_metrics else enable_metrics(router)


def _expose(
    nursery: trio.Nursery, endpoints: Endpoints, page: MetricsText | None, args: argparse.Namespace
) -> None:
    """``/metrics`` on the serving port, or on ``--metrics-port`` alone."""
    if page is None:
        return
    if args.metrics_port is None:
        endpoints.metrics = page
        return
    own = Endpoints(endpoints.router)
    own.metrics = page

    async def serve_metrics() -> None:
        port = await nursery.start(serve_plain, own, args.host, args.metrics_port)
        print(f"jbtrio metrics on http://{args.host}:{port}/metrics", flush=True)

    nursery.start_soon(serve_metrics, name="jbtrio metrics")


def _exposer(router: Router, args: argparse.Namespace) -> Callable[[Endpoints, trio.Nursery], None]:
    """For a cluster instance: turn metrics on, and put them up once it listens."""
    page = _metrics(router, args)
    return lambda endpoints, nursery: _expose(nursery, endpoints, page, args)


#: The ready line says when the mypyc-compiled build runs (``jbtrio.COMPILED``).
_BUILD = " (compiled build)" if COMPILED else ""


async def _serve(router: Router, args: argparse.Namespace) -> None:
    server = Server(router, _config(args))
    page = _metrics(router, args)

    def ready(server: Server, nursery: trio.Nursery) -> None:
        print(f"jbtrio serving {args.app} on ws://{args.host}:{server.port}{_BUILD}", flush=True)
        _expose(nursery, server.endpoints, page, args)

    def stop(server: Server, nursery: trio.Nursery) -> None:
        nursery.start_soon(server.shutdown, name="jbtrio shutdown")

    await run_until_signalled(
        partial(server.run, args.host, args.port), stop, ready=ready, name="jbtrio server"
    )


async def _serve_workers(router: Router, args: argparse.Namespace) -> None:
    config = _config(args)
    pool = WorkerPool(args.workers, _worker_command(args), wait_for_worker=config.handshake_timeout)
    acceptor = Acceptor(router, config, pool)
    page = _metrics(router, args)
    if page is not None:
        pool.on_exit = forget_process

    def ready(acceptor: Acceptor, nursery: trio.Nursery) -> None:
        print(
            f"jbtrio serving {args.app} on ws://{args.host}:{acceptor.port} "
            f"with {args.workers} worker processes{_BUILD}",
            flush=True,
        )
        _expose(nursery, acceptor.endpoints, page, args)

    def stop(acceptor: Acceptor, _: trio.Nursery) -> None:
        acceptor.shutdown()

    await run_until_signalled(
        partial(acceptor.run, args.host, args.port), stop, ready=ready, name="jbtrio acceptor"
    )


def _worker_command(args: argparse.Namespace) -> Callable[[int, int], list[str]]:
    def command(index: int, fd: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "jbtrio",
            "--log-level",
            getattr(args, "log_level", "INFO"),  # set by the command line's parser
            "--log-format",
            getattr(args, "log_format", "text"),
            "serve",
            args.app,
            "--grace",
            str(args.grace),
            "--max-connections",
            str(args.max_connections),
            "--gc-threshold",
            str(args.gc_threshold),
            "--transport",
            args.transport,
            "--worker",
            f"{index}:{fd}",
            *(["--no-metrics"] if args.no_metrics else []),
        ]

    return command


async def _serve_worker(router: Router, args: argparse.Namespace, index: int, fd: int) -> None:
    """A worker: adopt the sockets the acceptor hands over until it closes the channel (or a
    signal); then stop gracefully, as a single-process server does."""
    channel = trio.socket.from_stdlib_socket(socket.socket(fileno=fd))
    _metrics(router, args)  # its values go to the acceptor's page (PROMETHEUS_MULTIPROC_DIR)
    stopping = trio.Event()

    def stop(server: Server, nursery: trio.Nursery) -> None:
        if not stopping.is_set():
            stopping.set()
            channel.close()  # the acceptor sees it and routes elsewhere
            nursery.start_soon(server.shutdown, name="jbtrio shutdown")

    def ready(server: Server, nursery: trio.Nursery) -> None:
        log.info("worker %d ready (pid %d)", index, os.getpid())

        async def adopt() -> None:
            with suppress(OSError):
                await channel.send(b"ready")  # the acceptor starts accepting once all are
            await adopt_handovers(server, channel)
            if not stopping.is_set():
                log.warning(
                    "worker %d: the acceptor closed the channel: shutting down gracefully", index
                )
            stop(server, nursery)

        nursery.start_soon(adopt, name=f"jbtrio worker {index} handovers")

    cluster = cluster_config(args)
    run_in = (
        Server(router, _config(args)).run_in
        if cluster is None
        else worker_run_in(router, _config(args), cluster)
    )
    await run_until_signalled(
        run_in,
        stop,
        ready=ready,
        name="jbtrio server",
        who=f"worker {index}: ",
    )


def _config(args: argparse.Namespace) -> ServerConfig:
    # Workers are started without --user/--password: the acceptor checked the credentials.
    return ServerConfig(
        transport=args.transport,
        username=args.user,
        password=args.password,
        shutdown_grace=args.grace,
        allowed_peers=args.allowed_peers,
        max_connections=args.max_connections,
    )


def _password(args: argparse.Namespace) -> None:
    """``--password`` or ``--password-file``: one of them; the command line's over a
    variable's (``args.from_environment`` names the options set from the environment)."""
    from_env: set[str] = getattr(args, "from_environment", set())
    if args.password is not None and args.password_file is not None:
        if "password" in from_env and "password_file" not in from_env:
            args.password = None
        elif "password_file" in from_env and "password" not in from_env:
            args.password_file = None
        else:
            _usage("give --password or --password-file, not both")
    if args.password_file is not None:
        try:
            text = Path(args.password_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _usage(f"cannot read --password-file {args.password_file}: {exc}")
        args.password = text.removesuffix("\n").removesuffix("\r")
        if not args.password:
            _usage(f"--password-file {args.password_file} is empty")


def _usage(message: str) -> NoReturn:
    """A bad option or variable: one line, exit status 2."""
    print(f"jbtrio serve: {message}", file=sys.stderr)
    raise SystemExit(2)


def run(args: argparse.Namespace) -> int:
    """Serve until shut down; exit status 0 after a graceful stop."""
    if args.app is None:
        _usage("which app? give MODULE:APP (or $JBTRIO_APP)")
    _password(args)
    if (args.user is None) != (args.password is None):
        _usage("--user and --password (or --password-file) go together")
    if args.workers < 1:
        _usage(f"--workers must be at least 1, got {args.workers}")
    if args.max_connections < 1:
        _usage(f"--max-connections must be at least 1, got {args.max_connections}")
    cluster = cluster_config(args)
    worker: tuple[int, int] | None = None
    if args.worker is not None:
        index, _, fd = args.worker.partition(":")
        worker = int(index), int(fd)
        configure_logging(args.log_level, args.log_format, worker=worker[0])
    router = load_app(args.app)
    _target_jambonz(router, args.jambonz)
    if args.gc_threshold > 0:
        tune_gc(args.gc_threshold)
    interrupted = False
    unbindable: OSError | None = None
    run_dir: str | None = None
    if worker is None and args.workers > 1 and not args.no_metrics:
        # One page for every process: prometheus_client's multiprocess mode, in a directory
        # of this run's own (the workers inherit it), removed when the run ends.
        run_dir = tempfile.mkdtemp(prefix="jbtrio-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = run_dir
    try:
        if worker is not None:
            trio.run(_serve_worker, router, args, *worker)
        elif cluster is not None and args.workers > 1:
            command = _worker_command(args)
            serve = partial(serve_cluster_workers, expose=_exposer(router, args))
            trio.run(serve, router, args, _config(args), cluster, command)
        elif cluster is not None:
            serve = partial(serve_cluster, expose=_exposer(router, args))
            trio.run(serve, router, args, _config(args), cluster)
        elif args.workers > 1:
            trio.run(_serve_workers, router, args)
        else:
            trio.run(_serve, router, args)
    except* KeyboardInterrupt:
        interrupted = True
    except* OSError as group:
        unbindable = _bind_error(group)
        if unbindable is None:
            raise
    finally:
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
    if unbindable is not None:
        hint = "another process listens there: stop it, or pick another --port"
        if unbindable.errno != errno.EADDRINUSE:
            hint = "check --host and --port"
        print(
            f"jbtrio serve: cannot listen on {args.host}:{args.port}: "
            f"{unbindable.strerror or unbindable} ({hint})",
            file=sys.stderr,
        )
        return 1
    return 130 if interrupted else 0


def _bind_error(group: BaseExceptionGroup[OSError]) -> OSError | None:
    """The error of a port that could not be bound, if that is what ``group`` holds."""
    bind_errors = (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL)
    leaves: list[OSError] = []

    def collect(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                collect(inner)
        elif isinstance(exc, OSError):
            leaves.append(exc)

    collect(group)
    if leaves and all(leaf.errno in bind_errors for leaf in leaves):
        return leaves[0]
    return None
