"""The summary of a run: medians per server, ratios paired per round, the table, the JSON line.

Apart from ``run.py`` (which runs the cases) so the arithmetic and the targets it reports
against are read in one place, away from processes and timing.
"""

from __future__ import annotations

import os
import statistics
from typing import Any, Protocol

Results = dict[str, dict[str, list[dict[str, Any]]]]


class Mode(Protocol):
    """What the report reads of ``run.Mode`` (a Protocol, so this module does not import the
    script that imports it)."""

    @property
    def name(self) -> str: ...
    @property
    def rounds(self) -> int: ...
    @property
    def idle_calls(self) -> int: ...
    @property
    def hook_calls(self) -> tuple[int, ...]: ...
    @property
    def hooks_per_call(self) -> int: ...


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

#: The flow app's servers whose issue-23 ratios the summary gives one by one, when in the run
#: (``flow_vs_node_client_ws``): the builds and interpreters beside the pure package.
FLOW_SERVERS = (
    "jbtrio_flow",
    "jbtrio_flow_compiled",
    "jbtrio_flow_optimized",
    "jbtrio_flow_optimized_compiled",
    "jbtrio_flow_pypy",
    "jbtrio_flow_2proc",
    "jbtrio_flow_2proc_compiled",
    "jbtrio_flow_before",
)


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
            "rt_100_flow_vs_before": _paired(
                results, "jbtrio_flow", "hooks_100", "rt_per_s", "jbtrio_flow_before"
            ),
            "setups_flow_vs_before": _paired(
                results, "jbtrio_flow", "setup", "setups_per_s", "jbtrio_flow_before"
            ),
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
    out["flow_vs_node_client_ws"] = {
        name: _flow_targets(results, summary, name) for name in FLOW_SERVERS if name in results
    }
    out["ratio_vs_jambonz_sdk"] = r["rt_100_vs_jambonz_sdk"]
    return out


def _flow_targets(
    results: Results, summary: dict[str, dict[str, Any]], name: str
) -> dict[str, Any]:
    """Issue 23's ratios for one flow server, paired per round with node-client-ws, and
    which targets they meet (a ``--workers 2`` server's round trips against 1.0, the others'
    against 0.6)."""
    rt_target = TARGETS_FLOW[
        "rt_100_2proc_vs_node_client_ws" if "2proc" in name else "rt_100_flow_vs_node_client_ws"
    ]
    ratios = {
        "rt_100": _paired(results, name, "hooks_100", "rt_per_s", "node_client_ws"),
        "rt_100_per_round": _round_ratios(results, name, "hooks_100", "rt_per_s", "node_client_ws"),
        "rt_1000": _paired(results, name, "hooks_1000", "rt_per_s", "node_client_ws"),
        "p99_100": _paired(results, name, "hooks_100", "p99_ms", "node_client_ws"),
        "setups": _paired(results, name, "setup", "setups_per_s", "node_client_ws"),
        "setups_per_round": _round_ratios(results, name, "setup", "setups_per_s", "node_client_ws"),
    }
    kib = summary.get(name, {}).get("kib_per_idle_call")
    ratios["targets_met"] = {
        "rt_100": _ge(ratios["rt_100"], rt_target),
        "p99_100": _ge(TARGETS_FLOW["p99_100_flow_vs_node_client_ws_max"], ratios["p99_100"]),
        "setups": _ge(ratios["setups"], TARGETS_FLOW["setups_flow_vs_node_client_ws"]),
        "kib_per_idle_call": _ge(TARGETS_FLOW["kib_per_idle_call_flow_max"], kib),
    }
    return ratios


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
