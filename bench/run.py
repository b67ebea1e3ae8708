"""jbtrio side by side with the Node jambonz SDKs: one command, every server, the same load.

    .venv/bin/python bench/run.py --quick     # a few minutes: 1 round, short windows
    .venv/bin/python bench/run.py             # full: 3 alternated rounds, medians

It installs the Node side itself (``npm ci`` in ``bench/node``, pinned by the lock file), then,
for each case, starts every server in turn (rotating the order each round) on 127.0.0.1 and
drives it with the Node load generator (``bench/node/loadgen.js``, which plays jambonz). Servers
run one at a time, alternating, so the machine's noise hits them alike; ratios come from the
same run. It prints a table, then one JSON line (the last line) whose headline is
``ratio_vs_jambonz_sdk``: hook round trips per second at 100 concurrent calls, jbtrio divided by
``@jambonz/sdk``.

Servers: ``jbtrio`` (bench/jbtrio_server.py, set up as ``jbtrio serve`` sets an app up),
``jbtrio_flow`` (the same app on the flow API: ``jbtrio_server.py --flow``),
``jambonz_sdk`` (@jambonz/sdk 0.10.1), ``node_client_ws`` (@jambonz/node-client-ws 0.2.13),
``ws_bare`` (bare Node ``ws``, canned acks: the machine's ceiling), and, not SDKs:
``jbtrio_transport`` (jbtrio's transport alone, canned acks: the ceiling of jbtrio),
``tw_bare`` (bare trio-websocket, canned acks), ``jbtrio_embedded`` (jbtrio with CPython's
default garbage collector settings), ``jbtrio_gather_per_hook`` (jbtrio building the
answer's gather anew for every hook instead of reusing one, as the Node apps reuse theirs) and
``jbtrio_2proc`` (the ``jbtrio`` app under ``jbtrio serve --workers 2``: an acceptor process
handing each socket to one of 2 worker processes) and ``jbtrio_trio_websocket`` (the ``jbtrio``
app on the trio-websocket backend, ``ServerConfig(transport="trio-websocket")``), and, with
``--before DIR`` (a checkout of an earlier commit), ``jbtrio_before`` and
``jbtrio_flow_before``: that checkout's ``jbtrio`` and ``jbtrio_flow`` servers, for
before/after ratios in one run; ``jbtrio_flow_compiled``: the ``jbtrio_flow`` server run by
.venv-compiled's Python, the mypyc-compiled build (``bash scripts/build-compiled`` first;
without it the default server list leaves it out); ``jbtrio_flow_optimized``: the
``jbtrio_flow`` server on an optimized CPython build (PGO and LTO, as Debian's ``python3.11``
is; .venv-optimized, made on first use from ``$JBTRIO_BENCH_OPTIMIZED_PYTHON`` or
``/usr/bin/python3.11``; left out when neither exists); ``jbtrio_flow_optimized_compiled``:
both (``JBTRIO_COMPILED_VENV=.venv-optimized-compiled JBTRIO_COMPILED_BASE=/usr/bin/python3.11
bash scripts/build-compiled`` first).

Cases: hook round trips/s at 1, 100 and 1,000 concurrent calls (with ack latency p50/p99 and the
server's CPU seconds per 10,000 messages at 100 calls); call set-ups/s; RSS per idle call at
5,000 calls; the TTS case (100 calls streaming a 300-delta answer; skipped for jbtrio until
``jbtrio._tts`` is importable). The server's CPU and RSS are summed over its process tree (for
``jbtrio_2proc``, the acceptor and its 2 workers; the table's ``procs`` column). Every load
loop is bounded in count and time; a server that cannot set up all the calls of a case within
the set-up deadline is measured with the calls it did set up (the table shows how many).

This script is the plan (modes, cases, rounds, the CLI); the servers and their processes are in
``_servers.py`` (shared with ``audio.py`` and ``processes.py``), the summary, ratios, table and
targets in ``_report.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

# Run as a script (``python bench/run.py``): its siblings are imported from bench/ itself.
sys.path[:0] = [str(Path(__file__).resolve().parent)]

from _report import Results, headline, summarise, table  # noqa: E402
from _servers import (  # noqa: E402
    BEFORE,
    COMPILED,
    EXTRAS,
    ON_REQUEST,
    PYPY_PYTHON,
    SERVERS,
    ensure_node_modules,
    ensure_optimized_venv,
    jbtrio_tts_missing,
    loadgen,
    log,
    running_server,
)


@attrs.frozen
class Mode:
    """How long and how big each case is."""

    name: str
    rounds: int
    warmup: float
    duration: float
    setup_timeout: float
    idle_calls: int
    tts_calls: int
    hook_calls: tuple[int, ...] = (1, 100, 1000)
    hooks_per_call: int = 1000
    setup_concurrency: int = 16
    setup_workers: int = 32


QUICK = Mode(
    name="quick",
    rounds=1,
    warmup=1.0,
    duration=3.0,
    setup_timeout=40.0,
    idle_calls=5000,
    tts_calls=100,
)
FULL = Mode(
    name="full",
    rounds=3,
    warmup=2.0,
    duration=8.0,
    setup_timeout=120.0,
    idle_calls=5000,
    tts_calls=100,
)


# ------------------------------------------------------------------ cases


def run_case(
    name: str, case: str, mode: Mode, calls: int, before: Path | None = None
) -> dict[str, Any]:
    """One bounded case against server ``name`` (``before``: see ``_servers.server_command``)."""
    if case == "hooks":
        with running_server(name, before=before) as server:
            return loadgen(
                server,
                "hooks",
                calls=calls,
                hooks_per_call=mode.hooks_per_call,
                warmup=mode.warmup,
                duration=mode.duration,
                setup_timeout=mode.setup_timeout,
                setup_concurrency=mode.setup_concurrency,
            )
    if case == "setup":
        with running_server(name, before=before) as server:
            return loadgen(
                server,
                "setup",
                concurrency=mode.setup_workers,
                warmup=mode.warmup,
                duration=mode.duration,
            )
    if case == "idle":
        with running_server(name, before=before) as server:
            return loadgen(
                server,
                "idle",
                calls=calls,
                setup_timeout=mode.setup_timeout,
                setup_concurrency=mode.setup_concurrency,
            )
    if case == "tts":
        with running_server(name, tts=True, before=before) as server:
            return loadgen(
                server,
                "tts",
                calls=calls,
                duration=max(30.0, mode.duration * 4),
                setup_timeout=mode.setup_timeout,
                setup_concurrency=mode.setup_concurrency,
            )
    raise ValueError(case)


Step = tuple[str, int, tuple[str, ...]]


def cases(mode: Mode, servers: Sequence[str], tts_skip: str | None, wanted: set[str]) -> list[Step]:
    """(case, calls, servers) in run order; the ceilings run every case but the TTS one."""
    plan: list[Step] = []
    for calls in mode.hook_calls:
        plan.append(("hooks", calls, tuple(servers)))
    plan.append(("setup", 0, tuple(servers)))
    plan.append(("idle", mode.idle_calls, tuple(servers)))
    tts_servers = tuple(s for s in servers if s not in EXTRAS and not (s == "jbtrio" and tts_skip))
    plan.append(("tts", mode.tts_calls, tts_servers))
    return [step for step in plan if step[0] in wanted]


def key(case: str, calls: int) -> str:
    return f"{case}_{calls}" if case in ("hooks",) else case


def run_all(
    mode: Mode,
    servers: Sequence[str],
    tts_skip: str | None,
    wanted: set[str],
    before: Path | None = None,
) -> Results:
    """Every case, every server, ``mode.rounds`` times; servers alternate within each case.
    ``before``: the checkout ``jbtrio_before`` runs (``--before DIR``)."""
    results: Results = {s: {} for s in servers}
    plan = cases(mode, servers, tts_skip, wanted)
    for round_no in range(mode.rounds):
        for case, calls, names in plan:
            shift = round_no % len(names) if names else 0
            order = names[shift:] + names[:shift]
            for name in order:
                log(f"round {round_no + 1}/{mode.rounds}: {case} {calls or ''} on {name}")
                load_before = os.getloadavg()[0]
                try:
                    outcome = run_case(name, case, mode, calls, before)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    outcome = {"case": case, "error": str(exc)}
                    log(f"  failed: {exc}")
                # The 1-minute load average around the case: others' work on the machine.
                outcome["loadavg"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
                results[name].setdefault(key(case, calls), []).append(outcome)
                log("  " + json.dumps(_brief(outcome)))
    return results


def _brief(outcome: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "calls_open",
        "rt_per_s",
        "p50_ms",
        "p99_ms",
        "cpu_s_per_10k_msgs",
        "server_processes",
        "client_cpu_util",
        "server_cpu_util",
        "setups_per_s",
        "kib_per_idle_call",
        "messages_per_call",
        "ttlt_p50_ms",
        "error",
        "loadavg",
    )
    return {k: outcome[k] for k in keep if k in outcome}


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="jbtrio vs the Node jambonz SDKs")
    parser.add_argument("--quick", action="store_true", help="1 round, short windows (minutes)")
    parser.add_argument("--rounds", type=int, help="override the number of alternated rounds")
    parser.add_argument(
        "--servers",
        default=",".join(s for s in SERVERS if s not in ON_REQUEST),
        help=f"comma-separated subset of {','.join(SERVERS)} ({', '.join(ON_REQUEST)} only "
        "when named)",
    )
    parser.add_argument(
        "--cases",
        default="hooks,setup,idle,tts",
        help="comma-separated subset of hooks,setup,idle,tts",
    )
    parser.add_argument(
        "--hook-calls",
        help="comma-separated concurrent-call counts of the hooks case (default 1,100,1000)",
    )
    parser.add_argument(
        "--hooks-per-call",
        type=int,
        help="K: hook round trips before a call ends and a new one takes its slot "
        "(default 1000; 0 = calls last the whole window)",
    )
    parser.add_argument("--raw", type=Path, help="also write every raw result to this JSON file")
    parser.add_argument(
        "--before",
        type=Path,
        help="a checkout of an earlier commit: adds the jbtrio_before and jbtrio_flow_before rows "
        "(its jbtrio server, events and flow API)",
    )
    args = parser.parse_args(argv)
    before = args.before.resolve() if args.before else None

    mode = QUICK if args.quick else FULL
    if args.rounds:
        mode = attrs.evolve(mode, rounds=args.rounds, name=f"{mode.name}, {args.rounds} rounds")
    if args.hooks_per_call is not None:
        mode = attrs.evolve(mode, hooks_per_call=args.hooks_per_call)
    if args.hook_calls:
        mode = attrs.evolve(mode, hook_calls=tuple(int(n) for n in args.hook_calls.split(",")))
    servers = [s for s in args.servers.split(",") if s and (s not in BEFORE or args.before)]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    for name, python in COMPILED.items():
        if name in servers and not python.exists():
            why = f"no {python} (bash scripts/build-compiled: README, The compiled build)"
            if args.servers != parser.get_default("servers"):
                parser.error(f"{name}: {why}")
            log(f"skipping {name}: {why}")
            servers.remove(name)
    if "jbtrio_flow_pypy" in servers and not PYPY_PYTHON.exists():
        parser.error(f"jbtrio_flow_pypy: no {PYPY_PYTHON} (bash bench/pypy_trial.sh)")
    if "jbtrio_flow_optimized" in servers:
        why = ensure_optimized_venv()
        if why is not None:
            if args.servers != parser.get_default("servers"):
                parser.error(f"jbtrio_flow_optimized: {why}")
            log(f"skipping jbtrio_flow_optimized: {why}")
            servers.remove("jbtrio_flow_optimized")
    wanted = set(args.cases.split(","))

    started = time.monotonic()
    ensure_node_modules()
    tts_skip = jbtrio_tts_missing() if "tts" in wanted else "not requested"
    if tts_skip and "tts" in wanted:
        log(f"TTS case: skipping jbtrio: {tts_skip}")

    results = run_all(mode, servers, tts_skip, wanted, before)
    summary = summarise(results, mode)
    if args.raw:
        args.raw.parent.mkdir(parents=True, exist_ok=True)
        args.raw.write_text(json.dumps(results, indent=1))
    print(table(summary, mode))
    if tts_skip and "tts" in wanted:
        print(f"TTS case: jbtrio skipped: {tts_skip}")
    print(json.dumps(headline(results, summary, mode, tts_skip, time.monotonic() - started)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
