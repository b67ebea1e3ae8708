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
import os
import random
import sys
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import attrs
import trio

from examples.ivr import app
from fuzz._soak_report import (
    MAX_TRANSCRIPTS,
    Stats,
    Track,
    account,
    cluster_figures,
    first_divergence_in,
    format_transcript,
    hit_by_connect_failure,
    lost_in,
    verbs_run,
)
from fuzz._soak_server import (
    ServerLog,
    instrument,
    lag,
    log_write,
    peak_rss_mb,
    quiet_logging,
    serve,
    server_config,
    server_process,
)
from fuzz.rr_proxy import RoundRobinProxy
from jbtrio._runtime import Server
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

#: The soak's own names, and the accounting's and the server record's that were defined here
#: before they got modules of their own (``fuzz/_soak_report.py``, ``fuzz/_soak_server.py``).
__all__ = [
    "IDLE_HANGUP",
    "MALFORMED",
    "MAX_TRANSCRIPTS",
    "SETTLE_SECONDS",
    "SPEECH",
    "Options",
    "Run",
    "ServerLog",
    "Stats",
    "Track",
    "account",
    "first_divergence_in",
    "hit_by_connect_failure",
    "lost_in",
    "main",
    "one_call",
    "random_faults",
    "settle",
    "soak",
    "verbs_run",
    "watch",
    "worker",
]

SPEECH = "I need help"
#: How long a finished call waits for the server's record of it to be complete (its core
#: ended) before it is accounted anyway: more than the server's 30 s reconnect_timeout.
SETTLE_SECONDS = 40.0
#: The caller hangs up after this long with no verbs to run (see the module docstring).
IDLE_HANGUP = 10.0
MALFORMED: Sequence[str | bytes] = (
    "{not json",
    b"\x00\xff\xfebinary",
    '{"type":"verb:hook"}',
    '{"type":"call:status","msgid":17}',
    "\ufeff",
    '{"type":"session:new","msgid":"x","data":[]}',
)


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


async def lag_in(scope: trio.CancelScope, seconds: float, rng: random.Random) -> None:
    """:func:`lag` until ``scope`` is cancelled."""
    with scope:
        await lag(seconds, rng)


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
        "server_peak_rss_mb": round(server_rss, 1),
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
