"""Soak test: ``python -m fuzz.soak --calls 100 --seconds 60``.

Keeps ``--calls`` concurrent calls going for ``--seconds`` through the fake jambonz against
the example IVR (``examples/ivr.py``) served by jbtrio on loopback TCP, with random faults on
a share of the calls: a dropped connection (TCP loss or a close code) at a random frame in
either direction, an outgoing frame delayed, a malformed frame injected. New calls stop at
the deadline; the calls in flight then finish. The last line printed is one JSON object;
the exit status is 1 when a must-be-zero figure is not zero.

The server runs in a child process (``python -m fuzz.soak --serve``, started and stopped by
the soak), so the fake and jbtrio do not share one event loop: on a busy machine a shared loop
made the fake's own timers (its 1.5 s handshake limit, its 5 s ack timer) fire because of the
server's work. The child reports every frame jbtrio's call cores hand to a socket, and the end
of each core, as JSON lines on its stdout; ``--one-process`` runs both in one loop as before.

The fake runs as jambonz 0.9.8 does, its re-key stall included (after a drop before the
``session:new`` ack jambonz holds every later message back until a normal reconnect;
``docs/jambonz.md``, "Reconnects"), which jbtrio recovers from. Its caller hangs up when the
app leaves the call without verbs for 10 s (the fake's default is 5 s, which jambonz's
reconnect back-off after a drop, plus handshake timeouts on a busy machine, can exceed while
the app's next verbs wait for the socket); a call the app really leaves idle still ends, its
verbs missing.

Definitions (also in the JSON, under ``definitions``):

- ``messages_lost``: verbs the app meant jambonz to run that the fake did not run exactly once
  and in order. Every call runs the same caller script, so a fault-free reference call at the
  start fixes the expected run; a call whose run differs adds the number of expected verbs
  missing or duplicated (at least 1) — unless the difference is *wire loss*: the first
  expected verb missing was in a frame a socket accepted but the fake never read (it killed
  the connection with the frame in flight, or discarded it with a Drop "before"). jbtrio
  re-sends such frames on jambonz's evidence (receipts, the probe, a gather's failed hook),
  so a call whose run still lacks one shows a gap in that recovery; such calls are
  counted in ``calls_hit_by_wire_loss``/``wire_lost_frames`` instead. Frames are matched by
  wrapping ``CallCore.sent`` (instrumentation only, behaviour unchanged). Each lost call is
  explained (expected and actual run, faults, connections with close codes, frames both ways
  and what the server wrote, timed) on stderr and in ``--transcripts PATH``, up to 20 calls.
- ``stalled_calls``: calls with no frame in either direction and no connection event (open,
  close, failed attempt) for more than ``--stall`` seconds (default 20: the longest quiet
  stretch of a healthy call is the gather's timeout plus a fault's delay and a reconnect
  back-off), or not over after ``--max-duration`` s. They are explained like lost calls.
- ``server_errors``: records jbtrio's server side logged at ERROR (handler crashes, runtime
  failures); the fake's own logs are not counted.
- ``reconnects``: connections beyond the first, over all calls.
- ``calls_with_app_faults``: calls on which the fake saw the app misbehave (an unexpected
  close code, an invalid frame, ...), each named on stderr. jbtrio's own 1011 closes that
  release 0.9.8's re-key stall are a recovery and counted in ``stall_recovery_closes``.
- ``connect_failures``: calls that never got a session on the wire (the upgrade failed or
  timed out: on a starved machine the fake's 1.5 s handshake limit trips); also counted in
  ``calls_failed``, never in ``messages_lost``.
- ``calls_hit_by_connect_failure``: calls whose run diverged because jambonz could not
  (re)connect in time (its handshake timed out on a busy machine), shown by evidence (see
  ``hit_by_connect_failure``): the call ended with jambonz still disconnected and the next
  verbs queued at the server; or jambonz failed a hook because the connect it opened for it
  failed (the hook never reached the app); or jambonz's ack timer ran out less than the core's
  ack margin after it got a socket back. Counted instead of ``messages_lost``.
- ``peak_rss_mb``: peak resident set of the server process plus that of the fake's (each also
  given: ``server_peak_rss_mb``, ``fake_peak_rss_mb``; with ``--one-process``, of the one).

Cluster mode (``--instances 3 --redis redis://127.0.0.1:6379/0``): that many server
processes, each a cluster instance (``jbtrio serve --redis``) with its own port, behind a
round-robin TCP proxy (``fuzz/rr_proxy.py``: no stickiness, so a reconnect lands on the
next instance and is relayed to the call's owner). The JSON gains ``cluster``: relays made,
owners found gone, reconnects started afresh, and the relay's cost (``relay_setup``: p50/p99
from a relay's start to the owner's answer; ``relay_chunk``: p50/p99 per chunk relayed).

Knobs to provoke timing trouble cheaply: ``--media-speed`` (speech faster than real pace),
``--fault-rate`` (scales the fault probabilities), ``--loop-lag S`` (blocks each event loop
for up to S seconds about once a second, as a starved machine does), ``--handshake-timeout``
(the fake's, 1.5 s as jambonz's by default), ``--idle-hangup`` (the caller's patience, 10 s).
``--one-process --idle-hangup 5`` runs the calls as the soak did before the split.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import attrs
import orjson
import trio

from examples.ivr import app
from fuzz.rr_proxy import RoundRobinProxy
from jbtrio._core import CallCore, Ended, Frame
from jbtrio._runtime import Server, ServerConfig
from jbtrio.testing import (
    At,
    Caller,
    Delay,
    Drop,
    FakeCall,
    FakeJambonz,
    Faults,
    Inject,
    JambonzConfig,
)
from jbtrio.testing._faults import Rule

SPEECH = "I need help"
#: Lost calls explained in full (stderr and ``--transcripts``); later ones are only counted.
MAX_TRANSCRIPTS = 20
#: The fault the fake records when jbtrio closes with 1011 to release the re-key stall.
RECOVERY_CLOSE = "app closed the socket with 1011"
#: How long a finished call waits for the server's record of it to be complete (its core
#: ended) before it is accounted anyway: more than the server's 30 s reconnect_timeout.
SETTLE_SECONDS = 40.0
#: The caller hangs up after this long with no verbs to run (see the module docstring).
IDLE_HANGUP = 10.0
#: Where ``python -m fuzz.soak`` runs from (the server process imports ``examples.ivr``).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MALFORMED: Sequence[str | bytes] = (
    "{not json",
    b"\x00\xff\xfebinary",
    '{"type":"verb:hook"}',
    '{"type":"call:status","msgid":17}',
    "\ufeff",
    '{"type":"session:new","msgid":"x","data":[]}',
)


@attrs.define
class Stats:
    """Running totals of the soak."""

    expected: list[tuple[str, str]] = attrs.field(factory=list)
    #: one record per lost or stalled call (the first ``MAX_TRANSCRIPTS``), explaining it
    transcripts: list[dict[str, Any]] = attrs.field(factory=list)
    wire_lost_frames: int = 0
    wire_lost_by_kind: dict[str, int] = attrs.field(factory=dict)
    calls_hit_by_wire_loss: int = 0
    connect_failures: int = 0
    calls_hit_by_connect_failure: int = 0
    #: how many of those each kind of evidence explained (see ``hit_by_connect_failure``)
    connect_failure_evidence: dict[str, int] = attrs.field(factory=dict)
    calls_started: int = 0
    calls_completed: int = 0
    calls_failed: int = 0
    calls_with_faults: int = 0
    stall_recovery_closes: int = 0
    faults_injected: int = 0
    reconnects: int = 0
    messages_lost: int = 0
    stalled_calls: int = 0
    server_errors: int = 0
    server_peak_rss_mb: float = 0.0
    server_cpu_seconds: float = 0.0
    cluster: list[dict[str, Any]] = attrs.field(factory=list)
    """Each cluster instance's counters (``--redis``)."""
    examples: list[str] = attrs.field(factory=list)

    def example(self, line: str) -> None:
        """Keep ``line`` among the first ten examples printed at the end."""
        if len(self.examples) < 10:
            self.examples.append(line)


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


def random_faults(rng: random.Random, rate: float = 1.0) -> list[Rule]:
    """Faults for one call: each kind independently, at a random point of the call; ``rate``
    scales the probabilities (capped at 1)."""
    rules: list[Rule] = []
    if rng.random() < 0.3 * rate:
        direction = rng.choice(["out", "in"])
        index = rng.randrange(5 if direction == "out" else 3)
        code = rng.choice([None, None, 1011, 1001])
        when = rng.choice(["before", "after"])
        rules.append(Drop(At(direction, index=index), when, code=code))  # type: ignore[arg-type]
    if rng.random() < 0.2 * rate:
        rules.append(Delay(At("out", index=rng.randrange(5)), rng.uniform(0.05, 1.0)))
    if rng.random() < 0.2 * rate:
        text = rng.choice(MALFORMED)
        rules.append(
            Inject(At("out", index=rng.randrange(5)), text, rng.choice(["before", "after"]))
        )
    return rules


def verbs_run(call: FakeCall) -> list[tuple[str, str]]:
    """What the fake executed, as (verb, say text) pairs."""
    return [(str(v.get("verb")), str(v.get("text", ""))) for v in call.executed_verbs]


def lost_in(run: list[tuple[str, str]], expected: list[tuple[str, str]]) -> int:
    """Expected verbs missing or duplicated in ``run`` (at least 1 when it differs)."""
    if run == expected:
        return 0
    off = sum(abs(run.count(verb) - 1) for verb in expected)
    return max(1, off)


def first_divergence_in(
    run: list[tuple[str, str]], expected: list[tuple[str, str]], frames: list[str]
) -> bool:
    """Whether the first expected verb the run lacks is in one of ``frames`` (e.g. frames
    jambonz never read; the verbs after it may never have been produced: the app was waiting
    on that one)."""
    index = next((i for i, (a, b) in enumerate(zip(run, expected, strict=False)) if a != b), None)
    if index is None:
        index = len(run)
    if index >= len(expected):
        return False
    verbs: list[tuple[str, str]] = []
    for text in frames:
        frame = orjson.loads(text)
        data = frame.get("data") if isinstance(frame, dict) else None
        for verb in data if isinstance(data, list) else []:
            if isinstance(verb, dict):
                verbs.append((str(verb.get("verb")), str(verb.get("text", ""))))
    return expected[index] in verbs


# ---------------------------------------------------------------------- the server's record


@attrs.define
class Track:
    """The server side of one call: frames its cores handed to a socket (time, text), frames
    still queued when a core ended, and whether its latest core has ended (no more frames to
    come)."""

    written: list[tuple[float, str]] = attrs.field(factory=list)
    unsent: list[str] = attrs.field(factory=list)
    ended: trio.Event = attrs.field(factory=trio.Event)
    cores_ended: int = 0

    @property
    def seen(self) -> bool:
        """Whether the server ever had a core for the call."""
        return bool(self.written) or self.cores_ended > 0


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


def explain(
    call: FakeCall,
    rules: list[Rule],
    track: Track,
    expected: list[tuple[str, str]],
    verdict: str,
) -> dict[str, Any]:
    """Everything needed to tell why ``call`` is counted lost, times relative to its start."""
    written = track.written
    origin = min(
        [e.time for e in call.events] + [f.time for f in call.transcript] + [t for t, _ in written],
        default=0.0,
    )

    def clip(text: str) -> str:
        return text if len(text) <= 600 else text[:600] + "..."

    return {
        "call_sid": call.call_sid,
        "verdict": verdict,
        "outcome": call.outcome.summary(),
        "expected": [list(v) for v in expected],
        "actual": [list(v) for v in verbs_run(call)],
        "faults": [repr(rule) for rule in rules],
        "faults_noted": list(call.faults),
        "connections": [
            {
                "t": round(e.time - origin, 4),
                "conn": e.connection,
                "kind": e.kind,
                "code": e.code,
                "by": e.by,
                "detail": e.detail,
            }
            for e in call.events
        ],
        "wire": [
            {
                "t": round(f.time - origin, 4),
                "conn": f.connection,
                "dir": "jambonz->app" if f.direction == "out" else "app->jambonz",
                "text": clip(f.text),
            }
            for f in call.transcript
        ],
        "server_wrote": [{"t": round(t - origin, 4), "text": clip(text)} for t, text in written],
        "server_unsent": [clip(text) for text in track.unsent],
    }


def format_transcript(record: dict[str, Any]) -> str:
    """A lost call's record, readable: verdict, runs, faults, then events and frames by time."""
    lines = [
        f"=== lost call {record['call_sid']}: {record['verdict']} ({record['outcome']})",
        f"expected: {record['expected']}",
        f"actual:   {record['actual']}",
        f"faults:   {record['faults']} noted: {record['faults_noted']}",
    ]
    rows: list[tuple[float, str]] = []
    for e in record["connections"]:
        detail = f" code={e['code']} by={e['by']}" if e["kind"] == "close" else ""
        rows.append((e["t"], f"#{e['conn']} {e['kind']}{detail} {e['detail']}".rstrip()))
    for f in record["wire"]:
        rows.append((f["t"], f"#{f['conn']} {f['dir']} {f['text']}"))
    for w in record["server_wrote"]:
        rows.append((w["t"], f"   server wrote {w['text']}"))
    rows.sort(key=lambda row: row[0])
    lines.extend(f"{t:9.4f} {text}" for t, text in rows)
    lines.extend(
        f"   server still had queued at the end: {text}" for text in record["server_unsent"]
    )
    return "\n".join(lines)


# ---------------------------------------------------------------------- the calls


async def watch(call: FakeCall, stats: Stats, stall: float, stalled: set[int]) -> None:
    """Flags the call as stalled when no frame moved and no connection was attempted for
    ``stall`` seconds (jambonz retrying a connect that times out is not the app stalling)."""
    seen, since = 0, trio.current_time()
    while not call.is_finished:
        await trio.sleep(1.0)
        count = len(call.transcript) + len(call.events)
        if count != seen:
            seen, since = count, trio.current_time()
        elif trio.current_time() - since > stall and id(call) not in stalled:
            stalled.add(id(call))
            stats.stalled_calls += 1
            stats.example(f"stalled {call.call_sid} after {count} frames")
            return


def hit_by_connect_failure(
    call: FakeCall, track: Track, expected: list[tuple[str, str]]
) -> tuple[str, str] | None:
    """Why the call's run diverged because jambonz could not (re)connect in time (its
    handshake timed out on a busy machine), as (kind of evidence, details), or ``None`` if
    nothing shows that. The evidence must be one of:

    - the call ended with jambonz disconnected, its attempts since the last drop having
      failed, and the first verb the run lacks still queued at the server (no socket to go
      on), or the server never saw the call (the drop took ``session:new`` with it);
    - jambonz failed a hook for the reason a connect attempt failed (its on-demand connect
      for the hook failed; it reports ``jambonz:error`` with that reason): the hook never
      reached the app;
    - jambonz's ack timer ran out less than the core's ack margin after it got a socket back
      from failed attempts: the request's deadline had passed while the app had no socket.
    """
    failures = {e.detail for e in call.events if e.kind == "connect-failed"}
    if not failures:
        return None
    up, failed, reopened = False, False, None
    for event in call.events:
        if event.kind == "open":
            if failed:
                reopened = event.time
            up, failed = True, False
        elif event.kind == "close":
            up = False
        elif event.kind == "connect-failed":
            failed = True
    if failed and not up:
        if first_divergence_in(verbs_run(call), expected, track.unsent):
            return "ended disconnected, next verbs queued", "no socket for the app's verbs"
        if not track.seen and not call.executed_verbs:
            return "ended disconnected, call never reached the app", "session:new lost"
    for frame in call.sent("jambonz:error"):
        payload = frame.payload
        details = payload.get("details") if isinstance(payload, dict) else None
        if details in failures:
            return "hook failed on a failed connect", f"jambonz:error {details}"
    outcome = call.outcome
    end = call.events[-1].time if call.events else None
    if (
        outcome.status == "failed"
        and outcome.reason.endswith("ack timed out")
        and reopened is not None
        and end is not None
        and end - reopened < ServerConfig().core.ack_margin
    ):
        late = f"{outcome.reason} {end - reopened:.2f} s after jambonz got a socket back"
        return "ack timer ran out just after a late reconnect", late
    return None


async def one_call(run: Run, rng: random.Random) -> None:
    """Place one call with random faults; account for it once the server's record of it is
    complete (in the background, so the slot takes the next call at once)."""
    rules = random_faults(rng, run.options.fault_rate)
    caller = Caller(speech=[SPEECH], idle_hangup=run.options.idle_hangup)
    call = run.fake.new_call(run.url, caller=caller, faults=Faults(rules))
    run.stats.calls_started += 1
    run.stats.faults_injected += len(rules)
    stalled: set[int] = set()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch, call, run.stats, run.options.stall, stalled)
        await call.run()
        nursery.cancel_scope.cancel()
    run.settling.start_soon(settle, run, call, rules, id(call) in stalled)


async def settle(run: Run, call: FakeCall, rules: list[Rule], flagged_stalled: bool) -> None:
    """Wait for the server's side of ``call`` to be complete, then account for it."""
    had_session = bool(call.sent("session:new") or call.sent("session:reconnect"))
    track = await run.log.settle(call.call_sid, SETTLE_SECONDS if had_session else 0.0)
    account(call, rules, track, run.stats, flagged_stalled)


def account(
    call: FakeCall, rules: list[Rule], track: Track, stats: Stats, flagged_stalled: bool
) -> None:
    """Add one finished call to the totals; keep a transcript of it when it counts as lost."""
    outcome = call.outcome
    written = track.written
    stats.reconnects += max(0, sum(1 for e in call.events if e.kind == "open") - 1)
    if outcome.status == "completed":
        stats.calls_completed += 1
    else:
        stats.calls_failed += 1
        if outcome.reason == "max duration reached" and not flagged_stalled:
            stats.stalled_calls += 1
            flagged_stalled = True
        stats.example(f"failed {call.call_sid}: {outcome.summary()} faults={rules}")
    app_side = [f for f in outcome.faults if not f.startswith("connection lost")]
    # jbtrio closes with 1011 on purpose to release jambonz's re-key stall (docs/jambonz.md,
    # Reconnects): a recovery, counted apart from the faults an app should never show.
    recoveries = [f for f in app_side if f == RECOVERY_CLOSE]
    stats.stall_recovery_closes += len(recoveries)
    app_side = [f for f in app_side if f != RECOVERY_CLOSE]
    if app_side:
        stats.calls_with_faults += 1
        stats.example(f"app fault {call.call_sid}: {app_side} faults={rules}")
    if flagged_stalled and len(stats.transcripts) < MAX_TRANSCRIPTS:
        stats.transcripts.append(explain(call, rules, track, stats.expected, "stalled"))
    if not call.sent("session:new") and not call.sent("session:reconnect"):
        # Never got as far as a session (e.g. the upgrade timed out on an overloaded box):
        # the app was asked nothing, so nothing it answered can be lost.
        stats.connect_failures += 1
        return
    read = [f.text for f in call.received()]
    for rule in rules:
        # The fake records an app frame it then discards with the socket (Drop "before"
        # an incoming frame): it reached a dead socket, jambonz never read it.
        if isinstance(rule, Drop) and rule.at.direction == "in" and rule.when == "before":
            index = rule.at.index
            if index is not None and index < len(read):
                read[index] = ""
    read = [text for text in read if text]
    on_wire = [text for _, text in written]
    for text in read:
        if text in on_wire:
            on_wire.remove(text)
    duplicates = len(read) - len(set(read))
    run = verbs_run(call)
    lost = lost_in(run, stats.expected)
    why = hit_by_connect_failure(call, track, stats.expected) if lost and not duplicates else None
    if why is not None:
        # Not the app's doing: jambonz had no socket to take what it had queued (see above).
        stats.calls_hit_by_connect_failure += 1
        evidence = stats.connect_failure_evidence
        evidence[why[0]] = evidence.get(why[0], 0) + 1
        stats.example(f"hit by connect failure {call.call_sid}: {why[0]}: {why[1]}")
        return
    if lost and not duplicates and first_divergence_in(run, stats.expected, on_wire):
        # Explained by frames written to a socket that died before the fake read them.
        stats.wire_lost_frames += len(on_wire)
        stats.calls_hit_by_wire_loss += 1
        for text in on_wire:
            kind = frame_kind(text)
            stats.wire_lost_by_kind[kind] = stats.wire_lost_by_kind.get(kind, 0) + 1
    elif lost or duplicates:
        stats.messages_lost += max(lost, duplicates)
        verdict = f"{lost} expected verbs missing or repeated, {duplicates} duplicate app frames"
        stats.example(f"lost {lost} in {call.call_sid}: {run} {rules}")
        if len(stats.transcripts) < MAX_TRANSCRIPTS:
            stats.transcripts.append(explain(call, rules, track, stats.expected, verdict))


def frame_kind(text: str) -> str:
    """``ack``, ``ack+verbs`` or ``command:<sub-type>`` of an app frame (for the report)."""
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "unparsable"
    if not isinstance(frame, dict):
        return "unparsable"
    if frame.get("type") == "ack":
        return "ack+verbs" if frame.get("data") else "ack"
    return f"{frame.get('type')}:{frame.get('command')}"


@attrs.frozen
class Options:
    """The per-call knobs of the soak."""

    stall: float
    fault_rate: float = 1.0
    idle_hangup: float = IDLE_HANGUP


@attrs.frozen
class Run:
    """What every worker shares: the fake, the app's URL, the totals, the server's record,
    the nursery accounting finished calls, and the limits."""

    fake: FakeJambonz
    url: str
    stats: Stats
    log: ServerLog
    settling: trio.Nursery
    until: float
    options: Options


async def worker(run: Run, rng: random.Random) -> None:
    """Keeps one call slot busy until the deadline."""
    while trio.current_time() < run.until:
        await one_call(run, rng)


async def soak(args: argparse.Namespace, stats: Stats, log: ServerLog) -> None:
    """Serve the IVR on loopback (in a child process, unless ``--one-process``) and run the
    workers against it."""
    # Media timing: the fake's defaults (speech at 0.05 s per character, as a real call takes)
    # divided by --media-speed; a faster pace means more calls per second through the same
    # number of concurrent calls.
    base = JambonzConfig()
    fake = FakeJambonz(
        JambonzConfig(
            max_duration=args.max_duration,
            handshake_timeout=args.handshake_timeout,
            say_seconds_per_char=base.say_seconds_per_char / args.media_speed,
            say_min_seconds=base.say_min_seconds / args.media_speed,
        )
    )
    rng = random.Random(args.seed)
    proxying = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        if args.one_process:
            instrument(partial(log_write, log), log.ended)
            server: Server = await nursery.start(
                Server(app, server_config(args.calls)).run, "127.0.0.1", 0
            )
            port = server.port
        else:
            processes = []
            ports = []
            for instance in range(args.instances):
                process, port = await nursery.start(server_process, args, log, stats, instance)
                processes.append(process)
                ports.append(port)
            if args.instances > 1:
                # No stickiness: each connection to the next instance, as a plain L4 balancer.
                proxy = RoundRobinProxy(ports)
                await nursery.start(run_proxy, proxy, proxying)
                assert proxy.port is not None
                port = proxy.port
        url = f"ws://127.0.0.1:{port}/ivr"
        reference = await fake.place_call(
            url, caller=Caller(speech=[SPEECH], idle_hangup=IDLE_HANGUP)
        )
        assert reference.outcome.ok, reference.outcome.summary()
        stats.expected = verbs_run(reference)
        log.calls.pop(reference.call_sid, None)
        options = Options(args.stall, args.fault_rate, args.idle_hangup)
        lagging = trio.CancelScope()
        if args.loop_lag:
            nursery.start_soon(lag_in, lagging, args.loop_lag, random.Random(args.seed))
        async with trio.open_nursery() as settling:
            run = Run(fake, url, stats, log, settling, trio.current_time() + args.seconds, options)
            async with trio.open_nursery() as calls:
                for n in range(args.calls):
                    worker_rng = random.Random(rng.getrandbits(64))
                    calls.start_soon(worker, run, worker_rng, name=f"soak worker {n}")
            # Every call is over: stop the server, which completes its record.
            if args.one_process:
                await server.shutdown(grace=5)
                log.close()
            else:
                for process in processes:
                    assert process.stdin is not None
                    await process.stdin.aclose()
        lagging.cancel()
        proxying.cancel()


async def run_proxy(
    proxy: RoundRobinProxy,
    scope: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[RoundRobinProxy],
) -> None:
    """Run ``proxy`` until ``scope`` is cancelled."""
    with scope:
        await proxy.run(task_status=task_status)


def log_write(log: ServerLog, call_sid: str, text: str) -> None:
    """:meth:`ServerLog.wrote` at the current time (server and fake in one process)."""
    log.wrote(call_sid, trio.current_time(), text)


async def lag_in(scope: trio.CancelScope, seconds: float, rng: random.Random) -> None:
    """:func:`lag` until ``scope`` is cancelled."""
    with scope:
        await lag(seconds, rng)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    """p50 and p99 of ``values`` in microseconds (``None`` without values)."""
    if not values:
        return {"p50_us": None, "p99_us": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6, 1)

    return {"p50_us": at(0.50), "p99_us": at(0.99)}


def cluster_figures(instances: list[dict[str, Any]]) -> dict[str, Any]:
    """The cluster's figures over every instance: relays, what they cost, what was lost."""
    totals = {
        name: sum(i[name] for i in instances)
        for name in (
            "relayed", "owner_gone", "owner_busy", "lookups_failed", "reconnects_fresh",
            "reconnects_while_redis_down", "leases_lost", "relayed_chunks", "adopted",
            "redis_outages", "redis_calls_failed",
        )
    }  # fmt: skip
    busy = sum(i["relay_busy_seconds"] for i in instances)
    chunks = totals["relayed_chunks"]
    return {
        **totals,
        "relay_setup": _percentiles([x for i in instances for x in i["relay_setup_seconds"]]),
        "relay_chunk": _percentiles([x for i in instances for x in i["relay_chunk_seconds"]]),
        "relay_busy_us_per_chunk": round(busy / chunks * 1e6, 1) if chunks else None,
        "definitions": {
            "relay_setup": "from a relay's start (connect to the owner's relay listener) to "
            "the owner's answer: the added latency before a relayed socket's first byte",
            "relay_chunk": "per chunk relayed (a read of up to 64 KiB, usually one frame): "
            "from its read returning to its write done on the relaying instance; the extra "
            "loopback hop and the wake-up of the relaying task are not in it",
            "relay_busy_us_per_chunk": "the relays' busy time divided by the chunks relayed",
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its JSON line."""
    parser = argparse.ArgumentParser(
        prog="python -m fuzz.soak", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--calls", type=int, default=100, help="concurrent calls")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to start calls")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the faults")
    parser.add_argument("--stall", type=float, default=20.0, help="no-progress limit (s)")
    parser.add_argument("--max-duration", type=float, default=90.0, help="per-call limit (s)")
    parser.add_argument(
        "--media-speed",
        type=float,
        default=1.0,
        help="speech runs this many times faster than a real call (default 1: real pace)",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=1.0,
        help="multiply the fault probabilities (0.3 drop, 0.2 delay, 0.2 inject) by this",
    )
    parser.add_argument(
        "--loop-lag",
        type=float,
        default=0.0,
        help="block each event loop for up to this many seconds about once a second",
    )
    parser.add_argument(
        "--handshake-timeout",
        type=float,
        default=JambonzConfig().handshake_timeout,
        help="the fake's websocket handshake limit (default: jambonz's 1.5 s)",
    )
    parser.add_argument(
        "--idle-hangup",
        type=float,
        default=IDLE_HANGUP,
        help="the caller hangs up after this long with no verbs to run (default 10 s)",
    )
    parser.add_argument(
        "--transcripts",
        metavar="PATH",
        help=f"write the explanation of each lost or stalled call (at most {MAX_TRANSCRIPTS}) "
        "as JSON here",
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="run the server in the soak's own event loop (as before the split)",
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="server processes (1); more need --redis: a cluster behind a round-robin proxy",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="serve in cluster mode with this Redis (redis://HOST:PORT/DB)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cluster-secret", help=argparse.SUPPRESS)
    parser.add_argument("--instance", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.instances < 1 or (args.instances > 1 and not args.redis):
        parser.error("--instances N > 1 needs --redis URL")
    if args.redis and args.one_process:
        parser.error("--redis runs the servers in processes of their own: no --one-process")
    if args.redis and not args.cluster_secret:
        args.cluster_secret = os.urandom(32).hex()

    stats = Stats()
    quiet_logging(stats)
    if args.serve:
        trio.run(serve, args, stats)
        return 0
    log = ServerLog()
    start = time.monotonic()
    trio.run(soak, args, stats, log)
    fake_rss = peak_rss_mb()
    server_rss = fake_rss if args.one_process else stats.server_peak_rss_mb
    result: dict[str, Any] = {
        "calls": args.calls,
        "seconds": args.seconds,
        "wall_seconds": round(time.monotonic() - start, 1),
        "calls_started": stats.calls_started,
        "calls_completed": stats.calls_completed,
        "calls_failed": stats.calls_failed,
        "connect_failures": stats.connect_failures,
        "calls_hit_by_connect_failure": stats.calls_hit_by_connect_failure,
        "connect_failure_evidence": stats.connect_failure_evidence,
        "calls_with_app_faults": stats.calls_with_faults,
        "stall_recovery_closes": stats.stall_recovery_closes,
        "faults_injected": stats.faults_injected,
        "reconnects": stats.reconnects,
        "wire_lost_frames": stats.wire_lost_frames,
        "wire_lost_by_kind": stats.wire_lost_by_kind,
        "calls_hit_by_wire_loss": stats.calls_hit_by_wire_loss,
        "messages_lost": stats.messages_lost,
        "stalled_calls": stats.stalled_calls,
        "server_errors": stats.server_errors,
        "media_speed": args.media_speed,
        "fault_rate": args.fault_rate,
        "loop_lag": args.loop_lag,
        "handshake_timeout": args.handshake_timeout,
        "idle_hangup": args.idle_hangup,
        "processes": 1 if args.one_process else 1 + args.instances,
        "instances": args.instances,
        "server_cpu_seconds": round(stats.server_cpu_seconds, 2),
        "peak_rss_mb": fake_rss if args.one_process else round(fake_rss + server_rss, 1),
        "server_peak_rss_mb": server_rss,
        "fake_peak_rss_mb": fake_rss,
        "jambonz": "fake, with 0.9.8's re-key stall",
        **({"cluster": cluster_figures(stats.cluster)} if stats.cluster else {}),
        "definitions": {
            "messages_lost": "calls' expected verbs not run exactly once and in order by "
            "the fake, unless explained by wire loss",
            "wire_lost_frames": "frames a socket accepted that the fake never read (the "
            "connection was killed with them in flight) and that jbtrio did not recover",
            "stalled_calls": f"no frame nor connection event for > {args.stall:g} s, or not "
            f"over in {args.max_duration:g} s",
            "calls_hit_by_connect_failure": "calls whose run diverged because jambonz "
            "could not (re)connect in time: no socket for the app's frames, or a hook jambonz "
            "failed on its failed connect",
            "calls_with_app_faults": "calls on which jambonz saw the app misbehave (a close "
            "code other than the stall recovery's, an invalid frame, ...)",
            "stall_recovery_closes": "1011 closes jbtrio made to release 0.9.8's re-key stall",
        },
    }
    for line in stats.examples:
        print(line, file=sys.stderr)
    for record in stats.transcripts:
        print(format_transcript(record), file=sys.stderr)
    if args.transcripts:
        with open(args.transcripts, "w", encoding="utf-8") as out:
            json.dump(stats.transcripts, out, indent=1)
    print(json.dumps(result))
    return 1 if stats.messages_lost or stats.stalled_calls else 0


if __name__ == "__main__":
    sys.exit(main())
