"""N independent jbtrio servers sharing the calls, against one: the bound of more processes.

This runs N *independent* copies of the ``jbtrio`` bench server, each on its own port with
calls ÷ N of the load (one load generator each, at once), alternated with one server carrying
all the calls, and prints the hook round trips per second of both. Nothing routes the calls
(each load generator talks to its own server): it is what N processes could give on the
machine, not one jbtrio server.

The real feature is ``jbtrio serve MODULE:APP --workers N``: one acceptor process listens and
hands each socket to the worker process owning its call (call affinity, so a reconnect lands
on the worker that has the call). ``bench/run.py`` measures it, against the SDKs and in the same
alternation as every other server, as the ``jbtrio_2proc`` row (``--workers 2``).

    .venv/bin/python bench/processes.py                 # 2 processes, 100 calls, 3 rounds
    .venv/bin/python bench/processes.py --processes 2 --calls 100 --rounds 3 --duration 6
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from _servers import ensure_node_modules, loadgen, log, running_server


def hooks(servers: int, calls: int, duration: float) -> dict[str, Any]:
    """Round trips/s of ``servers`` jbtrio processes sharing ``calls`` calls (summed)."""
    share = calls // servers
    with ExitStack() as stack:
        running = [stack.enter_context(running_server("jbtrio")) for _ in range(servers)]
        with ThreadPoolExecutor(servers) as pool:
            results = list(
                pool.map(
                    lambda server: loadgen(
                        server, "hooks", calls=share, warmup=1, duration=duration
                    ),
                    running,
                )
            )
    return {
        "rt_per_s": round(sum(r["rt_per_s"] for r in results)),
        "p99_ms_worst": max(r["p99_ms"] for r in results),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=6.0)
    args = parser.parse_args(argv)
    if args.processes < 2 or args.calls < args.processes or args.rounds < 1:
        parser.error("need --processes >= 2, --calls >= --processes and --rounds >= 1")
    ensure_node_modules()
    many: list[dict[str, Any]] = []
    one: list[dict[str, Any]] = []
    for round_no in range(1, args.rounds + 1):
        many.append(hooks(args.processes, args.calls, args.duration))
        one.append(hooks(1, args.calls, args.duration))
        log(f"round {round_no}: {args.processes} processes {many[-1]}, one process {one[-1]}")
    out = {
        "calls": args.calls,
        "processes": args.processes,
        "rounds": args.rounds,
        "rt_per_s_many": statistics.median(r["rt_per_s"] for r in many),
        "rt_per_s_one": statistics.median(r["rt_per_s"] for r in one),
        "p99_ms_worst_many": statistics.median(r["p99_ms_worst"] for r in many),
        "p99_ms_one": statistics.median(r["p99_ms_worst"] for r in one),
    }
    out["ratio"] = round(out["rt_per_s_many"] / out["rt_per_s_one"], 3)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
