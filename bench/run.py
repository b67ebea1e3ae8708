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
app on the trio-websocket backend, ``ServerConfig(transport="trio-websocket")``).

Cases: hook round trips/s at 1, 100 and 1,000 concurrent calls (with ack latency p50/p99 and the
server's CPU seconds per 10,000 messages at 100 calls); call set-ups/s; RSS per idle call at
5,000 calls; the TTS case (100 calls streaming a 300-delta answer; skipped for jbtrio until
``jbtrio._tts`` is importable). The server's CPU and RSS are summed over its process tree (for
``jbtrio_2proc``, the acceptor and its 2 workers; the table's ``procs`` column). Every load
loop is bounded in count and time; a server that cannot set up all the calls of a case within
the set-up deadline is measured with the calls it did set up (the table shows how many).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

BENCH = Path(__file__).resolve().parent
NODE_DIR = BENCH / "node"
PYTHON = sys.executable
NODE = shutil.which("node") or "node"
NPM = shutil.which("npm") or "npm"

#: Node packages the harness pins (package.json + package-lock.json).
NODE_PACKAGES = {"@jambonz/sdk": "0.10.1", "@jambonz/node-client-ws": "0.2.13", "ws": "8.18.3"}

SERVERS = (
    "jbtrio",
    "jbtrio_flow",
    "jambonz_sdk",
    "node_client_ws",
    "ws_bare",
    "jbtrio_transport",
    "tw_bare",
    "jbtrio_embedded",
    "jbtrio_gather_per_hook",
    "jbtrio_2proc",
    "jbtrio_trio_websocket",
    "jbtrio_no_metrics",
    "jbtrio_before",
)
#: Not SDKs, and not in the TTS case: the same app on the flow API (``jbtrio_flow``,
#: ``jbtrio_server.py --flow``, as users write it: issue 23's targets are on it), the
#: ceilings, jbtrio embedded in a program that leaves CPython's garbage collector at its
#: defaults, jbtrio building a Gather per answer, and jbtrio
#: served by 2 worker processes behind an acceptor (``jbtrio serve --workers 2``), and jbtrio
#: on its other websocket backend (``ServerConfig(transport="trio-websocket")``).
EXTRAS = (
    "jbtrio_flow",
    "jbtrio_transport",
    "tw_bare",
    "jbtrio_embedded",
    "jbtrio_gather_per_hook",
    "jbtrio_2proc",
    "jbtrio_trio_websocket",
    "jbtrio_no_metrics",
    "jbtrio_before",
)
#: ``jbtrio_before`` (only with ``--before DIR``): the ``jbtrio`` bench server of another
#: checkout (``git archive COMMIT | tar -x -C DIR``), for before/after ratios in one run.
BEFORE_ROOT: Path | None = None
HEADLINE_SERVERS = ("jbtrio", "jambonz_sdk")

#: The targets of issue 8, for the gap report in the JSON line.
TARGETS = {
    "rt_100_vs_jambonz_sdk": 2.0,
    "rt_100_vs_node_client_ws": 0.5,
    "setups_vs_jambonz_sdk": 50.0,
    "p99_100_vs_node_client_ws_max": 2.0,
    "kib_per_idle_call_max": 50.0,
}

#: The targets of issue 23, on the flow-API app (``jbtrio_flow``) against node-client-ws.
TARGETS_FLOW = {
    "rt_100_flow_vs_node_client_ws": 0.6,
    "p99_100_flow_vs_node_client_ws_max": 1.5,
    "setups_flow_vs_node_client_ws": 0.7,
    "kib_per_idle_call_flow_max": 32.0,
    "rt_100_2proc_vs_node_client_ws": 1.0,
}


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


# ------------------------------------------------------------------ setup


def ensure_node_modules() -> None:
    """Install the pinned Node packages into bench/node/node_modules when missing."""
    for name, version in NODE_PACKAGES.items():
        manifest = NODE_DIR / "node_modules" / name / "package.json"
        try:
            installed = json.loads(manifest.read_text())["version"]
        except (OSError, ValueError, KeyError):
            installed = None
        if installed != version:
            log(f"installing Node packages in {NODE_DIR} (npm ci)")
            subprocess.run(
                [NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                check=True,
                timeout=600,
            )
            return


def jbtrio_tts_missing() -> str | None:
    """None when ``jbtrio._tts`` imports, else the reason the jbtrio TTS case is skipped."""
    probe = subprocess.run(
        [PYTHON, "-c", "import jbtrio._tts"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode == 0:
        return None
    last = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
    return f"jbtrio._tts is not importable yet ({last})"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ servers


#: ``jbtrio_2proc``: the real CLI, from cwd=bench/ (the acceptor and its 2 workers set the GC
#: up as ``jbtrio serve`` does); ``--grace 1`` so a stop never waits long for calls to finish.
JBTRIO_2PROC = ["-m", "jbtrio", "serve", "jbtrio_server:APP", "--host", "127.0.0.1"]
JBTRIO_2PROC += ["--port", "0", "--workers", "2", "--grace", "1"]


def server_command(name: str, tts: bool) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if tts:
        env["BENCH_TTS"] = "1"
    script = str(BENCH / "jbtrio_server.py")
    commands = {
        "jbtrio": [PYTHON, script, "0", *(["--tts"] if tts else [])],
        "jbtrio_flow": [PYTHON, script, "0", "--flow"],
        "tw_bare": [PYTHON, script, "0", "--bare-tw"],
        "jbtrio_transport": [PYTHON, script, "0", "--bare-transport"],
        "jbtrio_embedded": [PYTHON, script, "0", "--no-gc-tuning"],
        "jbtrio_gather_per_hook": [PYTHON, script, "0", "--gather-per-hook"],
        "jbtrio_2proc": [PYTHON, *JBTRIO_2PROC],
        "jbtrio_trio_websocket": [PYTHON, script, "0", "--transport", "trio-websocket"],
        "jbtrio_no_metrics": [PYTHON, script, "0", "--no-metrics"],
        "jbtrio_before": [
            PYTHON,
            str((BEFORE_ROOT or BENCH.parent) / "bench" / "jbtrio_server.py"),
            "0",
        ],
        "jambonz_sdk": [NODE, str(NODE_DIR / "server_sdk.js"), "0"],
        "node_client_ws": [NODE, str(NODE_DIR / "server_ncw.js"), "0"],
        "ws_bare": [NODE, str(NODE_DIR / "server_ws.js"), "0"],
    }
    if name == "jbtrio_before" and BEFORE_ROOT is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BEFORE_ROOT), env.get("PYTHONPATH")]))
    return commands[name], env


@attrs.define
class Running:
    name: str
    process: subprocess.Popen[str]
    port: int


@contextmanager
def running_server(name: str, *, tts: bool = False, startup: float = 30.0) -> Iterator[Running]:
    """Start one server on 127.0.0.1 (port chosen by the OS); stop it on exit."""
    command, env = server_command(name, tts)
    process = subprocess.Popen(
        command,
        cwd=BENCH,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        port = _wait_listening(process, startup)
        yield Running(name, process, port)
    finally:
        _stop(process)


#: ``jbtrio serve``'s ready line: ``jbtrio serving MODULE:APP on ws://HOST:PORT ...``.
SERVING = re.compile(r"^jbtrio serving \S+ on ws://\S+?:(\d+)(?:\s|$)")


def _wait_listening(process: subprocess.Popen[str], startup: float) -> int:
    """The port from the server's ready line: ``listening PORT`` (the bench servers) or
    ``jbtrio serving ... on ws://HOST:PORT ...`` (``jbtrio serve``)."""
    assert process.stdout is not None
    deadline = time.monotonic() + startup
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"server exited with {process.wait(5)} before listening")
        if line.startswith("listening "):
            return int(line.split()[1])
        serving = SERVING.match(line)
        if serving:
            return int(serving.group(1))
    raise RuntimeError("server did not start listening in time")


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL after 5 s; then kill whatever is left of its process group (a
    multi-process server's workers, which share the group of the session it leads)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.wait(5)
    _kill_group(process.pid)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return  # nothing left
    log(f"  killed processes left in the server's process group {pgid}")


# ------------------------------------------------------------------ load


def loadgen(server: Running, case: str, **options: float | int) -> dict[str, Any]:
    """Run one bounded load case against ``server``; the load generator's JSON result."""
    args = [
        NODE,
        str(NODE_DIR / "loadgen.js"),
        "--url",
        f"ws://127.0.0.1:{server.port}/bench",
        "--case",
        case,
        "--server-pid",
        str(server.process.pid),
    ]
    for key, value in options.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    bound = sum(
        float(v) for k, v in options.items() if k in ("warmup", "duration", "setup_timeout")
    )
    result = subprocess.run(args, check=False, capture_output=True, text=True, timeout=bound + 120)
    if result.returncode != 0:
        raise RuntimeError(f"loadgen failed: {result.stderr.strip()[-2000:]}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def run_case(name: str, case: str, mode: Mode, calls: int) -> dict[str, Any]:
    if case == "hooks":
        with running_server(name) as server:
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
        with running_server(name) as server:
            return loadgen(
                server,
                "setup",
                concurrency=mode.setup_workers,
                warmup=mode.warmup,
                duration=mode.duration,
            )
    if case == "idle":
        with running_server(name) as server:
            return loadgen(
                server,
                "idle",
                calls=calls,
                setup_timeout=mode.setup_timeout,
                setup_concurrency=mode.setup_concurrency,
            )
    if case == "tts":
        with running_server(name, tts=True) as server:
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


Results = dict[str, dict[str, list[dict[str, Any]]]]


def run_all(mode: Mode, servers: Sequence[str], tts_skip: str | None, wanted: set[str]) -> Results:
    """Every case, every server, ``mode.rounds`` times; servers alternate within each case."""
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
                    outcome = run_case(name, case, mode, calls)
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


# ------------------------------------------------------------------ summary


def median_of(runs: list[dict[str, Any]], field: str) -> float | None:
    values = [r[field] for r in runs if isinstance(r.get(field), int | float)]
    return round(statistics.median(values), 3) if values else None


def summarise(results: Results, mode: Mode) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for name, per_case in results.items():
        s: dict[str, Any] = {}
        for calls in mode.hook_calls:
            runs = per_case.get(f"hooks_{calls}", [])
            s[f"rt_per_s_{calls}"] = median_of(runs, "rt_per_s")
            s[f"calls_open_{calls}"] = median_of(runs, "calls_open")
        at100 = per_case.get("hooks_100", [])
        s["calls_cycled_100"] = median_of(at100, "calls_cycled")
        s["p50_ms_100"] = median_of(at100, "p50_ms")
        s["p99_ms_100"] = median_of(at100, "p99_ms")
        s["cpu_s_per_10k_msgs"] = median_of(at100, "cpu_s_per_10k_msgs")
        s["client_cpu_util_100"] = median_of(at100, "client_cpu_util")
        s["server_cpu_util_100"] = median_of(at100, "server_cpu_util")
        s["server_processes_100"] = median_of(at100, "server_processes")
        setup = per_case.get("setup", [])
        s["setups_per_s"] = median_of(setup, "setups_per_s")
        s["setup_p99_ms"] = median_of(setup, "setup_p99_ms")
        idle = per_case.get("idle", [])
        s["kib_per_idle_call"] = median_of(idle, "kib_per_idle_call")
        s["idle_calls_open"] = median_of(idle, "calls_open")
        tts = per_case.get("tts", [])
        s["tts_messages_per_call"] = median_of(tts, "messages_per_call")
        s["tts_ttlt_p50_ms"] = median_of(tts, "ttlt_p50_ms")
        s["tts_ttlt_p99_ms"] = median_of(tts, "ttlt_p99_ms")
        s["tts_calls_complete"] = median_of(tts, "calls_complete")
        summary[name] = s
    return summary


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def paired_ratio(results: Results, case: str, field: str, other: str) -> float | None:
    """Median over rounds of jbtrio/other, each ratio taken within one round."""
    return _paired(results, "jbtrio", case, field, other)


def _paired(results: Results, mine_name: str, case: str, field: str, other: str) -> float | None:
    ratios = _round_ratios(results, mine_name, case, field, other)
    return round(statistics.median(ratios), 3) if ratios else None


def _round_ratios(
    results: Results, mine_name: str, case: str, field: str, other: str
) -> list[float]:
    """mine/other in each round (both measured in the same round, so machine drift cancels)."""
    mine = results.get(mine_name, {}).get(case, [])
    theirs = results.get(other, {}).get(case, [])
    return [
        round(a[field] / b[field], 3)
        for a, b in zip(mine, theirs, strict=False)
        if isinstance(a.get(field), int | float)
        and isinstance(b.get(field), int | float)
        and b[field]
    ]


def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return str(value)


def table(summary: dict[str, dict[str, Any]], mode: Mode) -> str:
    columns: list[tuple[str, str, int]] = [
        *[(f"RT/s @{c}", f"rt_per_s_{c}", 0) for c in mode.hook_calls],
        ("setups/s", "setups_per_s", 1),
        ("p50 ms", "p50_ms_100", 2),
        ("p99 ms", "p99_ms_100", 2),
        ("KiB/idle call", "kib_per_idle_call", 1),
        ("CPU s/10k msg", "cpu_s_per_10k_msgs", 3),
        ("procs", "server_processes_100", 0),
        ("TTS msgs/call", "tts_messages_per_call", 0),
        ("TTS last tok p50 ms", "tts_ttlt_p50_ms", 0),
    ]
    header = ["server", *[c[0] for c in columns]]
    rows = [header]
    for name, s in summary.items():
        row = [name]
        for _, field, digits in columns:
            cell = fmt(s.get(field), digits)
            if field == f"rt_per_s_{mode.hook_calls[-1]}":
                open_ = s.get(f"calls_open_{mode.hook_calls[-1]}")
                if open_ is not None and open_ < mode.hook_calls[-1]:
                    cell += f" ({open_:.0f} open)"
            if field == "kib_per_idle_call":
                open_ = s.get("idle_calls_open")
                if open_ is not None and open_ < mode.idle_calls:
                    cell += f" ({open_:.0f} calls)"
            row.append(cell)
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for n, r in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = (
        "RT/s: verb:hook -> ack round trips per second; p50/p99: hook ack latency at 100 calls; "
        f"KiB/idle call: server RSS growth / calls at {mode.idle_calls} idle calls; CPU: server "
        "CPU seconds per 10,000 messages (hook in + ack out) at 100 calls, summed over the "
        "server's processes (procs: how many); TTS: 100 calls, "
        "300-delta answer, app->jambonz messages per call and hook-to-last-token time."
    )
    return "\n".join(lines) + "\n" + notes


def headline(
    results: Results,
    summary: dict[str, dict[str, Any]],
    mode: Mode,
    tts_skip: str | None,
    elapsed: float,
) -> dict[str, Any]:
    jb = summary.get("jbtrio", {})
    ncw = summary.get("node_client_ws", {})
    out: dict[str, Any] = {
        "bench": "jbtrio-vs-node",
        "mode": mode.name,
        "rounds": mode.rounds,
        "hooks_per_call": mode.hooks_per_call,
        "seconds": round(elapsed, 1),
        "tts_jbtrio": tts_skip or "measured",
        "cpus": os.cpu_count(),
        "loadavg_range": _load_range(results),
        "ratios": {
            "rt_100_vs_jambonz_sdk": paired_ratio(results, "hooks_100", "rt_per_s", "jambonz_sdk"),
            "rt_100_vs_jambonz_sdk_per_round": _round_ratios(
                results, "jbtrio", "hooks_100", "rt_per_s", "jambonz_sdk"
            ),
            "rt_100_vs_node_client_ws": paired_ratio(
                results, "hooks_100", "rt_per_s", "node_client_ws"
            ),
            "rt_100_vs_ws_bare": paired_ratio(results, "hooks_100", "rt_per_s", "ws_bare"),
            "rt_100_vs_tw_bare": paired_ratio(results, "hooks_100", "rt_per_s", "tw_bare"),
            "rt_100_vs_jbtrio_transport": paired_ratio(
                results, "hooks_100", "rt_per_s", "jbtrio_transport"
            ),
            "rt_100_embedded_vs_jambonz_sdk": _paired(
                results, "jbtrio_embedded", "hooks_100", "rt_per_s", "jambonz_sdk"
            ),
            "rt_100_gather_per_hook_vs_jambonz_sdk": _paired(
                results, "jbtrio_gather_per_hook", "hooks_100", "rt_per_s", "jambonz_sdk"
            ),
            "setups_vs_jambonz_sdk": paired_ratio(results, "setup", "setups_per_s", "jambonz_sdk"),
            # the default backend against the other one, and against the --before checkout
            "rt_100_vs_trio_websocket": paired_ratio(
                results, "hooks_100", "rt_per_s", "jbtrio_trio_websocket"
            ),
            "rt_1000_vs_trio_websocket": paired_ratio(
                results, "hooks_1000", "rt_per_s", "jbtrio_trio_websocket"
            ),
            "rt_100_vs_before": paired_ratio(results, "hooks_100", "rt_per_s", "jbtrio_before"),
            "rt_1000_vs_before": paired_ratio(results, "hooks_1000", "rt_per_s", "jbtrio_before"),
            "setups_vs_before": paired_ratio(results, "setup", "setups_per_s", "jbtrio_before"),
            "p99_100_vs_node_client_ws": ratio(jb.get("p99_ms_100"), ncw.get("p99_ms_100")),
            # jbtrio_2proc: the jbtrio app under `jbtrio serve --workers 2`, paired per round.
            "rt_100_2proc_vs_jambonz_sdk": _paired(
                results, "jbtrio_2proc", "hooks_100", "rt_per_s", "jambonz_sdk"
            ),
            "rt_100_2proc_vs_jambonz_sdk_per_round": _round_ratios(
                results, "jbtrio_2proc", "hooks_100", "rt_per_s", "jambonz_sdk"
            ),
            "rt_100_2proc_vs_node_client_ws": _paired(
                results, "jbtrio_2proc", "hooks_100", "rt_per_s", "node_client_ws"
            ),
            "rt_100_2proc_vs_node_client_ws_per_round": _round_ratios(
                results, "jbtrio_2proc", "hooks_100", "rt_per_s", "node_client_ws"
            ),
            # the cost of metrics and INFO logging: jbtrio (on, as jbtrio serve) / off
            "rt_100_metrics_vs_no_metrics": paired_ratio(
                results, "hooks_100", "rt_per_s", "jbtrio_no_metrics"
            ),
            "rt_100_metrics_vs_no_metrics_per_round": _round_ratios(
                results, "jbtrio", "hooks_100", "rt_per_s", "jbtrio_no_metrics"
            ),
            "rt_100_2proc_vs_jbtrio": _paired(
                results, "jbtrio_2proc", "hooks_100", "rt_per_s", "jbtrio"
            ),
            "p99_100_2proc_vs_node_client_ws": _paired(
                results, "jbtrio_2proc", "hooks_100", "p99_ms", "node_client_ws"
            ),
            # the flow-API app (issue 23's targets), paired per round with node-client-ws
            "rt_100_flow_vs_node_client_ws": _paired(
                results, "jbtrio_flow", "hooks_100", "rt_per_s", "node_client_ws"
            ),
            "rt_100_flow_vs_node_client_ws_per_round": _round_ratios(
                results, "jbtrio_flow", "hooks_100", "rt_per_s", "node_client_ws"
            ),
            "rt_1000_flow_vs_node_client_ws": _paired(
                results, "jbtrio_flow", "hooks_1000", "rt_per_s", "node_client_ws"
            ),
            "p99_100_flow_vs_node_client_ws": _paired(
                results, "jbtrio_flow", "hooks_100", "p99_ms", "node_client_ws"
            ),
            "setups_flow_vs_node_client_ws": _paired(
                results, "jbtrio_flow", "setup", "setups_per_s", "node_client_ws"
            ),
            "rt_100_flow_vs_jbtrio": _paired(
                results, "jbtrio_flow", "hooks_100", "rt_per_s", "jbtrio"
            ),
        },
        "targets": TARGETS,
        "servers": summary,
    }
    r = out["ratios"]
    kib = jb.get("kib_per_idle_call")
    out["targets_met"] = {
        "rt_100_vs_jambonz_sdk": _ge(r["rt_100_vs_jambonz_sdk"], TARGETS["rt_100_vs_jambonz_sdk"]),
        "rt_100_vs_node_client_ws": _ge(
            r["rt_100_vs_node_client_ws"], TARGETS["rt_100_vs_node_client_ws"]
        ),
        "setups_vs_jambonz_sdk": _ge(r["setups_vs_jambonz_sdk"], TARGETS["setups_vs_jambonz_sdk"]),
        "p99_100_vs_node_client_ws": _ge(
            TARGETS["p99_100_vs_node_client_ws_max"], r["p99_100_vs_node_client_ws"]
        ),
        "kib_per_idle_call": _ge(TARGETS["kib_per_idle_call_max"], kib),
    }
    flow_kib = summary.get("jbtrio_flow", {}).get("kib_per_idle_call")
    out["targets_flow"] = TARGETS_FLOW
    out["targets_flow_met"] = {
        "rt_100_flow_vs_node_client_ws": _ge(
            r["rt_100_flow_vs_node_client_ws"], TARGETS_FLOW["rt_100_flow_vs_node_client_ws"]
        ),
        "p99_100_flow_vs_node_client_ws": _ge(
            TARGETS_FLOW["p99_100_flow_vs_node_client_ws_max"],
            r["p99_100_flow_vs_node_client_ws"],
        ),
        "setups_flow_vs_node_client_ws": _ge(
            r["setups_flow_vs_node_client_ws"], TARGETS_FLOW["setups_flow_vs_node_client_ws"]
        ),
        "kib_per_idle_call_flow": _ge(TARGETS_FLOW["kib_per_idle_call_flow_max"], flow_kib),
        "rt_100_2proc_vs_node_client_ws": _ge(
            r["rt_100_2proc_vs_node_client_ws"], TARGETS_FLOW["rt_100_2proc_vs_node_client_ws"]
        ),
    }
    out["ratio_vs_jambonz_sdk"] = r["rt_100_vs_jambonz_sdk"]
    return out


def _load_range(results: Results) -> list[float] | None:
    loads = [
        value
        for per_case in results.values()
        for runs in per_case.values()
        for run in runs
        for value in run.get("loadavg", [])
    ]
    return [min(loads), max(loads)] if loads else None


def _ge(a: float | None, b: float | None) -> bool | None:
    return None if a is None or b is None else a >= b


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="jbtrio vs the Node jambonz SDKs")
    parser.add_argument("--quick", action="store_true", help="1 round, short windows (minutes)")
    parser.add_argument("--rounds", type=int, help="override the number of alternated rounds")
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated subset of {','.join(SERVERS)}",
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
        help="a checkout of an earlier commit: adds the jbtrio_before row (its jbtrio server)",
    )
    args = parser.parse_args(argv)
    global BEFORE_ROOT  # noqa: PLW0603 - read by server_command
    BEFORE_ROOT = args.before.resolve() if args.before else None

    mode = QUICK if args.quick else FULL
    if args.rounds:
        mode = attrs.evolve(mode, rounds=args.rounds, name=f"{mode.name}, {args.rounds} rounds")
    if args.hooks_per_call is not None:
        mode = attrs.evolve(mode, hooks_per_call=args.hooks_per_call)
    if args.hook_calls:
        mode = attrs.evolve(mode, hook_calls=tuple(int(n) for n in args.hook_calls.split(",")))
    servers = [s for s in args.servers.split(",") if s and (s != "jbtrio_before" or args.before)]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    wanted = set(args.cases.split(","))

    started = time.monotonic()
    ensure_node_modules()
    tts_skip = jbtrio_tts_missing() if "tts" in wanted else "not requested"
    if tts_skip and "tts" in wanted:
        log(f"TTS case: skipping jbtrio: {tts_skip}")

    results = run_all(mode, servers, tts_skip, wanted)
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
