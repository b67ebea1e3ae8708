"""The soak's server side: jbtrio serving the IVR, instrumented to report each frame its call
cores hand to a socket and each core's end, in a child process (``python -m fuzz.soak
--serve``; a cluster instance with ``--redis``) or in the soak's own loop (``--one-process``),
and the soak's record of those reports (``ServerLog``). Apart from the driver
(``fuzz/soak.py``) because it is the other process's half: the child runs only :func:`serve`,
the soak reads it through :func:`server_process`. Below the driver, above the accounting
(``fuzz/_soak_report.py``, whose ``Stats`` and ``Track`` it fills).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson
import trio

from examples.ivr import app
from fuzz._soak_report import Stats, Track
from jbtrio._core import CallCore, Ended, Frame
from jbtrio._runtime import Server, ServerConfig

#: Where ``python -m fuzz.soak`` runs from (the server process imports ``examples.ivr``).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _ServerErrors(logging.Handler):
    """Counts ERROR records of jbtrio's server side (not of the fake, ``jbtrio.testing``)."""

    def __init__(self, stats: Stats) -> None:
        super().__init__(level=logging.ERROR)
        self.stats = stats

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("jbtrio.testing"):
            self.stats.server_errors += 1
            self.stats.example(f"error log {record.name}: {record.getMessage()}")


def quiet_logging(stats: Stats) -> None:
    """Count jbtrio's server errors; the fake's and the server's warnings are expected noise."""
    jbtrio_log = logging.getLogger("jbtrio")
    jbtrio_log.addHandler(_ServerErrors(stats))
    jbtrio_log.propagate = False
    jbtrio_log.setLevel(logging.WARNING)


def peak_rss_mb() -> float:
    """This process's peak resident set, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class ServerLog:
    """What jbtrio's server side wrote, by call_sid (fed in this process, or read from the
    server process's stdout)."""

    def __init__(self) -> None:
        self.calls: dict[str, Track] = {}
        self.closed = False

    def wrote(self, call_sid: str, time: float, text: str) -> None:
        """A core of ``call_sid`` handed ``text`` to a socket at ``time``."""
        track = self.calls.setdefault(call_sid, Track())
        if track.ended.is_set():
            track.ended = trio.Event()  # a new core for the call (jambonz came back late)
        track.written.append((time, text))

    def ended(self, call_sid: str, unsent: list[str]) -> None:
        """A core of ``call_sid`` ended with ``unsent`` frames still queued."""
        track = self.calls.setdefault(call_sid, Track())
        track.unsent.extend(unsent)
        track.cores_ended += 1
        track.ended.set()

    def close(self) -> None:
        """The server is gone: nothing more will be written."""
        self.closed = True
        for track in self.calls.values():
            track.ended.set()

    async def settle(self, call_sid: str, limit: float) -> Track:
        """The server's record of ``call_sid``, once its core ended (or after ``limit`` s)."""
        track = self.calls.setdefault(call_sid, Track())
        if not self.closed:
            with trio.move_on_after(limit):
                await track.ended.wait()
        return self.calls.pop(call_sid, track)


def log_write(log: ServerLog, call_sid: str, text: str) -> None:
    """:meth:`ServerLog.wrote` at the current time (server and fake in one process)."""
    log.wrote(call_sid, trio.current_time(), text)


def instrument(wrote: Callable[[str, str], None], ended: Callable[[str, list[str]], None]) -> None:
    """Instrumentation only: report every frame a socket accepted and every core's end (with
    the frames it still had queued), by call_sid, by wrapping :meth:`CallCore.sent` and
    :meth:`CallCore.end` (behaviour unchanged). It tells a frame jbtrio lost from one that
    died on the wire: written to a socket the fake then killed before reading it (which
    jbtrio must then have re-sent on jambonz's evidence)."""
    original_sent, original_end = CallCore.sent, CallCore.end

    def sent(core: CallCore, frame: Frame, now: float) -> None:
        if frame in core.queued and core.call_sid is not None:
            wrote(core.call_sid, frame.text)
        original_sent(core, frame, now)

    def end(core: CallCore, now: float) -> Any:
        already = core.ended
        events = original_end(core, now)
        if not already and core.call_sid is not None:
            unsent = [f.text for e in events if isinstance(e, Ended) for f in e.unsent]
            ended(core.call_sid, unsent)
        return events

    CallCore.sent = sent  # type: ignore[method-assign,assignment]
    CallCore.end = end  # type: ignore[method-assign,assignment]


def server_config(calls: int) -> ServerConfig:
    """The server's settings: no pings (the fake answers them, but they are noise here)."""
    return ServerConfig(ping_interval=None, max_connections=max(1000, calls * 4))


async def lag(seconds: float, rng: random.Random) -> None:
    """Artificial event-loop lag: block the whole loop for up to ``seconds`` about once a
    second, as a starved machine does (to provoke timing-dependent losses cheaply)."""
    while True:
        await trio.sleep(rng.uniform(0.2, 1.8))
        time.sleep(rng.uniform(0, seconds))  # noqa: ASYNC251 - blocking is the point


async def serve(args: argparse.Namespace, stats: Stats) -> None:
    """The server process: serve the IVR on loopback; print ``{"port": P}``, then a line per
    frame written (``{"sid", "t", "text"}``, ``t`` from :func:`time.monotonic`, the same
    clock in every process) and per core ended (``{"sid", "end", "unsent"}``, the frames it
    still had queued); stop when stdin closes, printing ``{"summary": ...}`` last."""
    out = trio.lowlevel.FdStream(os.dup(sys.stdout.fileno()))
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    lines: list[bytes] = []

    def put(message: dict[str, Any]) -> None:
        lines.append(orjson.dumps(message) + b"\n")

    instrument(
        lambda sid, text: put({"sid": sid, "t": time.monotonic(), "text": text}),
        lambda sid, unsent: put({"sid": sid, "end": True, "unsent": unsent}),
    )

    async def flusher(done: trio.Event) -> None:
        # the only task writing to stdout, so lines are never interleaved or torn
        while True:
            with trio.move_on_after(0.02):
                await done.wait()
            while lines:
                batch = b"".join(lines)
                lines.clear()
                await out.send_all(batch)
            if done.is_set():
                return

    done = trio.Event()
    async with trio.open_nursery() as outer:
        outer.start_soon(flusher, done)
        node: Any = None
        async with trio.open_nursery() as nursery:
            if args.redis:
                node = await nursery.start(cluster_node(args).run, "127.0.0.1", 0)
                server: Any = node
            else:
                server = await nursery.start(
                    Server(app, server_config(args.calls)).run, "127.0.0.1", 0
                )
            put({"port": server.port})
            if args.loop_lag:
                nursery.start_soon(lag, args.loop_lag, random.Random(args.seed + 1))
            while await stdin.receive_some():
                pass  # the soak closes our stdin when its calls are over
            await server.shutdown(grace=5)
            nursery.cancel_scope.cancel()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        summary = {
            "server_errors": stats.server_errors,
            "examples": stats.examples,
            "peak_rss_mb": peak_rss_mb(),
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
        }
        if node is not None:
            summary["cluster"] = cluster_summary(node)
        put({"summary": summary})
        done.set()


def cluster_node(args: argparse.Namespace) -> Any:
    """A cluster instance (``--redis``) serving the IVR, its secret and id from the soak."""
    from jbtrio._cluster import ClusterConfig, ClusterNode  # noqa: PLC0415 - the extra

    cluster = ClusterConfig(
        redis_url=args.redis,
        secret=bytes.fromhex(args.cluster_secret),
        instance_id=f"soak{args.instance}",
    )
    return ClusterNode(app, server_config(args.calls), cluster)


def cluster_summary(node: Any) -> dict[str, Any]:
    """A cluster instance's counters and samples, for the soak's figures."""
    stats = node.registry.stats
    return {
        "relayed": stats.relayed,
        "owner_gone": stats.owner_gone,
        "owner_busy": stats.owner_busy,
        "lookups_failed": stats.lookups_failed,
        "reconnects_fresh": stats.reconnects_fresh,
        "reconnects_while_redis_down": stats.reconnects_while_redis_down,
        "leases_lost": stats.leases_lost,
        "relayed_chunks": stats.relayed_chunks,
        "relay_busy_seconds": stats.relay_busy_seconds,
        "relay_setup_seconds": stats.relay_setup_seconds,
        "relay_chunk_seconds": stats.relay_chunk_seconds,
        "adopted": node.relay_listener.stats.adopted,
        "redis_outages": node.store.health.outages,
        "redis_calls_failed": node.store.health.calls_failed,
    }


async def server_process(
    args: argparse.Namespace,
    log: ServerLog,
    stats: Stats,
    instance: int = 0,
    *,
    task_status: trio.TaskStatus[tuple[trio.Process, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run :func:`serve` in a child process, feeding ``log`` from its stdout; starts with
    (process, port). Closing the process's stdin stops it."""
    command = [sys.executable, "-m", "fuzz.soak", "--serve", "--calls", str(args.calls)]
    command += ["--loop-lag", str(args.loop_lag), "--seed", str(args.seed + instance)]
    if args.redis:
        command += ["--redis", args.redis, "--cluster-secret", args.cluster_secret]
        command += ["--instance", str(instance)]
    # trio's clock is time.perf_counter plus a random offset; the child reports monotonic time
    offset = trio.current_time() - time.monotonic()
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(
                trio.run_process,
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                check=False,
                cwd=ROOT,
            )
        )
        assert process.stdout is not None
        pending = b""
        async for chunk in process.stdout:
            *complete, pending = (pending + chunk).split(b"\n")
            for line in complete:
                message = orjson.loads(line)
                if "text" in message:
                    log.wrote(message["sid"], message["t"] + offset, message["text"])
                elif "end" in message:
                    log.ended(message["sid"], message["unsent"])
                elif "port" in message:
                    task_status.started((process, message["port"]))
                elif "summary" in message:
                    summary = message["summary"]
                    stats.server_errors += summary["server_errors"]
                    for example in summary["examples"]:
                        stats.example(example)
                    stats.server_peak_rss_mb += summary["peak_rss_mb"]
                    stats.server_cpu_seconds += summary["cpu_seconds"]
                    if "cluster" in summary:
                        stats.cluster.append(summary["cluster"])
        log.close()
    if process.returncode:
        raise RuntimeError(f"the server process exited with {process.returncode}")
