"""Soak test: ``python -m fuzz.soak --calls 100 --seconds 60``.

Keeps ``--calls`` concurrent calls going for ``--seconds`` through the fake jambonz against
the example IVR (``examples/ivr.py``) served by jbtrio on loopback TCP, with random faults on
a share of the calls: a dropped connection (TCP loss or a close code) at a random frame in
either direction, an outgoing frame delayed, a malformed frame injected. New calls stop at
the deadline; the calls in flight then finish. The last line printed is one JSON object;
the exit status is 1 when a must-be-zero figure is not zero.

The fake runs with ``JambonzConfig(reproduce_rekey_stall=False)``: real jambonz 0.9.8 stalls
a call forever after a drop before the ``session:new`` ack (PEER-BEHAVIOUR §5.4), which no
app can fix; the soak measures what jbtrio controls.

Definitions (also in the JSON, under ``definitions``):

- ``messages_lost``: verbs the app meant jambonz to run that the fake did not run exactly once
  and in order. Every call runs the same caller script, so a fault-free reference call at the
  start fixes the expected run; a call whose run differs adds the number of expected verbs
  missing or duplicated (at least 1) — unless the difference is *wire loss*: the first
  expected verb missing was in a frame a socket accepted but the fake never read (it killed
  the connection with the frame in flight, or discarded it with a Drop "before"). No protocol
  can recover that (jambonz has no ack for commands, PEER-BEHAVIOUR §5.3); such calls are
  counted in ``calls_hit_by_wire_loss``/``wire_lost_frames`` instead. Frames are matched by
  wrapping ``CallCore.sent`` (instrumentation only, behaviour unchanged).
- ``stalled_calls``: calls with no frame in either direction for more than ``--stall``
  seconds (default 20: the longest quiet stretch of a healthy call is the gather's timeout
  plus a fault's delay and a reconnect back-off), or not over after ``--max-duration`` s.
- ``server_errors``: records jbtrio's server side logged at ERROR (handler crashes, runtime
  failures); the fake's own logs are not counted.
- ``reconnects``: connections beyond the first, over all calls.
- ``connect_failures``: calls that never got a session on the wire (the upgrade failed or
  timed out: on a starved machine the fake's 1.5 s handshake limit trips); also counted in
  ``calls_failed``, never in ``messages_lost``.
- ``peak_rss_mb``: the process's peak resident set (server, fake and all calls together).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

import attrs
import orjson
import trio

from examples.ivr import app
from jbtrio._core import CallCore, Frame
from jbtrio._runtime import Server, ServerConfig
from jbtrio.testing import (
    At,
    Call,
    Caller,
    Delay,
    Drop,
    FakeJambonz,
    Faults,
    Inject,
    JambonzConfig,
)
from jbtrio.testing._faults import Rule

SPEECH = "I need help"
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
    written: dict[str, list[str]] = attrs.field(factory=dict)
    wire_lost_frames: int = 0
    calls_hit_by_wire_loss: int = 0
    connect_failures: int = 0
    calls_started: int = 0
    calls_completed: int = 0
    calls_failed: int = 0
    calls_with_faults: int = 0
    faults_injected: int = 0
    reconnects: int = 0
    messages_lost: int = 0
    stalled_calls: int = 0
    server_errors: int = 0
    examples: list[str] = attrs.field(factory=list)


class _ServerErrors(logging.Handler):
    """Counts ERROR records of jbtrio's server side (not of the fake, ``jbtrio.testing``)."""

    def __init__(self, stats: Stats) -> None:
        super().__init__(level=logging.ERROR)
        self.stats = stats

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("jbtrio.testing"):
            self.stats.server_errors += 1
            if len(self.stats.examples) < 10:
                self.stats.examples.append(f"error log {record.name}: {record.getMessage()}")


def random_faults(rng: random.Random) -> list[Rule]:
    """Faults for one call: each kind independently, at a random point of the call."""
    rules: list[Rule] = []
    if rng.random() < 0.3:
        direction = rng.choice(["out", "in"])
        index = rng.randrange(5 if direction == "out" else 3)
        code = rng.choice([None, None, 1011, 1001])
        when = rng.choice(["before", "after"])
        rules.append(Drop(At(direction, index=index), when, code=code))  # type: ignore[arg-type]
    if rng.random() < 0.2:
        rules.append(Delay(At("out", index=rng.randrange(5)), rng.uniform(0.05, 1.0)))
    if rng.random() < 0.2:
        text = rng.choice(MALFORMED)
        rules.append(
            Inject(At("out", index=rng.randrange(5)), text, rng.choice(["before", "after"]))
        )
    return rules


def verbs_run(call: Call) -> list[tuple[str, str]]:
    """What the fake executed, as (verb, say text) pairs."""
    return [(str(v.get("verb")), str(v.get("text", ""))) for v in call.executed_verbs]


def lost_in(run: list[tuple[str, str]], expected: list[tuple[str, str]]) -> int:
    """Expected verbs missing or duplicated in ``run`` (at least 1 when it differs)."""
    if run == expected:
        return 0
    off = sum(abs(run.count(verb) - 1) for verb in expected)
    return max(1, off)


def first_divergence_on_wire(
    run: list[tuple[str, str]], expected: list[tuple[str, str]], unread: list[str]
) -> bool:
    """Whether the first expected verb the run lacks was in a frame jambonz never read (the
    verbs after it may never have been produced: the app was waiting on that one)."""
    index = next((i for i, (a, b) in enumerate(zip(run, expected, strict=False)) if a != b), None)
    if index is None:
        index = len(run)
    if index >= len(expected):
        return False
    verbs: list[tuple[str, str]] = []
    for text in unread:
        frame = orjson.loads(text)
        data = frame.get("data") if isinstance(frame, dict) else None
        for verb in data if isinstance(data, list) else []:
            if isinstance(verb, dict):
                verbs.append((str(verb.get("verb")), str(verb.get("text", ""))))
    return expected[index] in verbs


def record_writes(stats: Stats) -> None:
    """Instrumentation only: note every frame a socket accepted, by call_sid, by wrapping
    :meth:`CallCore.sent` (behaviour unchanged). It tells a frame jbtrio lost from one that
    died on the wire: written to a socket the fake then killed before reading it, which no
    protocol can recover (jambonz has no ack for commands, PEER-BEHAVIOUR §5.3)."""
    original = CallCore.sent

    def sent(core: CallCore, frame: Frame, now: float) -> None:
        if frame in core.queued and core.call_sid is not None:
            stats.written.setdefault(core.call_sid, []).append(frame.text)
        original(core, frame, now)

    CallCore.sent = sent  # type: ignore[method-assign,assignment]


async def watch(call: Call, stats: Stats, stall: float, stalled: set[int]) -> None:
    """Flags the call as stalled when no frame moved for ``stall`` seconds."""
    seen, since = 0, trio.current_time()
    while not call.is_finished:
        await trio.sleep(1.0)
        count = len(call.transcript)
        if count != seen:
            seen, since = count, trio.current_time()
        elif trio.current_time() - since > stall and id(call) not in stalled:
            stalled.add(id(call))
            stats.stalled_calls += 1
            stats.examples.append(f"stalled {call.call_sid} after {count} frames")
            return


async def one_call(
    fake: FakeJambonz, url: str, rng: random.Random, stats: Stats, stall: float
) -> None:
    """Place one call with random faults and account for it."""
    rules = random_faults(rng)
    call = fake.new_call(url, caller=Caller(speech=[SPEECH]), faults=Faults(rules))
    stats.calls_started += 1
    stats.faults_injected += len(rules)
    stalled: set[int] = set()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch, call, stats, stall, stalled)
        outcome = await call.run()
        nursery.cancel_scope.cancel()
    stats.reconnects += max(0, sum(1 for e in call.events if e.kind == "open") - 1)
    if outcome.status == "completed":
        stats.calls_completed += 1
    else:
        stats.calls_failed += 1
        if outcome.reason == "max duration reached" and id(call) not in stalled:
            stats.stalled_calls += 1
        if len(stats.examples) < 10:
            stats.examples.append(f"failed {call.call_sid}: {outcome.summary()} faults={rules}")
    if outcome.faults:
        stats.calls_with_faults += 1
    written = stats.written.pop(call.call_sid, [])
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
    on_wire = list(written)
    for text in read:
        if text in on_wire:
            on_wire.remove(text)
    duplicates = len(read) - len(set(read))
    lost = lost_in(verbs_run(call), stats.expected)
    if (
        lost
        and not duplicates
        and first_divergence_on_wire(verbs_run(call), stats.expected, on_wire)
    ):
        # Explained by frames written to a socket that died before the fake read them.
        stats.wire_lost_frames += len(on_wire)
        stats.calls_hit_by_wire_loss += 1
    elif lost or duplicates:
        stats.messages_lost += max(lost, duplicates)
        if len(stats.examples) < 10:
            stats.examples.append(f"lost {lost} in {call.call_sid}: {verbs_run(call)} {rules}")


@attrs.frozen
class Run:
    """What every worker shares: the fake, the app's URL, the totals and the limits."""

    fake: FakeJambonz
    url: str
    stats: Stats
    until: float
    stall: float


async def worker(run: Run, rng: random.Random) -> None:
    """Keeps one call slot busy until the deadline."""
    while trio.current_time() < run.until:
        await one_call(run.fake, run.url, rng, run.stats, run.stall)


async def soak(args: argparse.Namespace, stats: Stats) -> None:
    """Serve the IVR on loopback and run the workers against it."""
    config = ServerConfig(ping_interval=None, max_connections=max(1000, args.calls * 4))
    # Media timing: the fake's defaults (speech at 0.05 s per character, as a real call takes)
    # divided by --media-speed; a faster pace means more calls per second through the same
    # number of concurrent calls.
    base = JambonzConfig()
    fake = FakeJambonz(
        JambonzConfig(
            reproduce_rekey_stall=False,
            max_duration=args.max_duration,
            say_seconds_per_char=base.say_seconds_per_char / args.media_speed,
            say_min_seconds=base.say_min_seconds / args.media_speed,
        )
    )
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app, config).run, "127.0.0.1", 0)
        url = f"ws://127.0.0.1:{server.port}/ivr"
        reference = await fake.place_call(url, caller=Caller(speech=[SPEECH]))
        assert reference.outcome.ok, reference.outcome.summary()
        stats.expected = verbs_run(reference)
        stats.written.clear()
        run = Run(fake, url, stats, trio.current_time() + args.seconds, args.stall)
        rng = random.Random(args.seed)
        async with trio.open_nursery() as calls:
            for n in range(args.calls):
                worker_rng = random.Random(rng.getrandbits(64))
                calls.start_soon(worker, run, worker_rng, name=f"soak worker {n}")
        await server.shutdown(grace=5)


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
    args = parser.parse_args(argv)

    stats = Stats()
    jbtrio_log = logging.getLogger("jbtrio")
    jbtrio_log.addHandler(_ServerErrors(stats))
    jbtrio_log.propagate = False  # the fake's and the server's warnings are expected noise
    jbtrio_log.setLevel(logging.WARNING)
    record_writes(stats)
    start = time.monotonic()
    trio.run(soak, args, stats)
    result: dict[str, Any] = {
        "calls": args.calls,
        "seconds": args.seconds,
        "wall_seconds": round(time.monotonic() - start, 1),
        "calls_started": stats.calls_started,
        "calls_completed": stats.calls_completed,
        "calls_failed": stats.calls_failed,
        "connect_failures": stats.connect_failures,
        "calls_with_app_faults": stats.calls_with_faults,
        "faults_injected": stats.faults_injected,
        "reconnects": stats.reconnects,
        "wire_lost_frames": stats.wire_lost_frames,
        "calls_hit_by_wire_loss": stats.calls_hit_by_wire_loss,
        "messages_lost": stats.messages_lost,
        "stalled_calls": stats.stalled_calls,
        "server_errors": stats.server_errors,
        "media_speed": args.media_speed,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "jambonz": "fake, reproduce_rekey_stall=False (PEER-BEHAVIOUR §5.4 bug off)",
        "definitions": {
            "messages_lost": "calls' expected verbs not run exactly once and in order by "
            "the fake, unless explained by wire loss",
            "wire_lost_frames": "frames a socket accepted that the fake never read (the "
            "connection was killed with them in flight): unrecoverable by any app",
            "stalled_calls": f"no frame for > {args.stall:g} s, or not over in "
            f"{args.max_duration:g} s",
        },
    }
    for line in stats.examples:
        print(line, file=sys.stderr)
    print(json.dumps(result))
    return 1 if stats.messages_lost or stats.stalled_calls else 0


if __name__ == "__main__":
    sys.exit(main())
