"""The soak's accounting and reports (``fuzz/soak.py`` runs the calls): what one finished call
adds to the totals (its verbs lost, or the loss explained by frames that died on the wire or
by jambonz failing to reconnect), the record explaining a lost or stalled call, and the
cluster's figures. Apart from the driver so the rules behind each figure read, and are tested
(``tests/test_soak.py``), on their own; the figures' definitions are in ``fuzz/soak.py``'s
docstring.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson
import trio

from jbtrio._runtime import ServerConfig
from jbtrio.testing import Drop, FakeCall
from jbtrio.testing._faults import Rule

#: Lost calls explained in full (stderr and ``--transcripts``); later ones are only counted.
MAX_TRANSCRIPTS = 20
#: The fault the fake records when jbtrio closes with 1011 to release the re-key stall.
RECOVERY_CLOSE = "app closed the socket with 1011"


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


@attrs.define
class Track:
    """The server side of one call: frames its cores handed to a socket (time, text), frames
    still queued when a core ended, and whether its latest core has ended (no more frames to
    come). Filled by the server's record (``ServerLog``, ``fuzz/_soak_server.py``); read
    here."""

    written: list[tuple[float, str]] = attrs.field(factory=list)
    unsent: list[str] = attrs.field(factory=list)
    ended: trio.Event = attrs.field(factory=trio.Event)
    cores_ended: int = 0

    @property
    def seen(self) -> bool:
        """Whether the server ever had a core for the call."""
        return bool(self.written) or self.cores_ended > 0


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
