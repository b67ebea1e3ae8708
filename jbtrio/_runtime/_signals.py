"""Running something until SIGINT/SIGTERM: the first signal stops it gracefully, a second
one at once. ``jbtrio serve`` runs its server, its ``--workers`` acceptor and each worker
this way."""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

__all__ = ["run_until_signalled"]

log = logging.getLogger("jbtrio.serve")

_T = TypeVar("_T")


async def run_until_signalled(
    run: Callable[..., Awaitable[object]],
    stop: Callable[[_T, trio.Nursery], None],
    *,
    ready: Callable[[_T, trio.Nursery], None] | None = None,
    name: str,
    who: str = "",
) -> None:
    """Start ``run`` (``await nursery.start(run)`` gives the thing it runs, e.g. a
    server), call ``ready(it, nursery)``, then wait for signals: the first calls
    ``stop(it, nursery)`` (which must make ``run`` return, in its own time), a second one
    cancels everything. Returns when ``run`` does. ``who`` prefixes the log lines
    (``"worker 1: "``)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def running(task_status: trio.TaskStatus[_T]) -> None:
                await run(task_status=task_status)
                nursery.cancel_scope.cancel()  # stopped: stop watching for signals

            started: _T = await nursery.start(running, name=name)
            if ready is not None:
                ready(started, nursery)
            stopping = False
            async for signum in signals:
                if stopping:
                    log.warning("%ssecond signal: stopping now", who)
                    nursery.cancel_scope.cancel()
                    break
                stopping = True
                log.warning("%s%s: shutting down gracefully", who, signal.Signals(signum).name)
                stop(started, nursery)
