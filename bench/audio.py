"""Audio streams: jbtrio beside ``@jambonz/sdk``, bidirectional echo, N concurrent streams.

    .venv/bin/python bench/audio.py --quick      # ~3 minutes: 1 round, short windows
    .venv/bin/python bench/audio.py              # 3 alternated rounds, medians

Each stream plays jambonz (``bench/node/audio_load.js``, Node ``ws``): subprotocol
``audio.drachtio.org``, the metadata frame, then a 320-byte L16 frame (20 ms at 8 kHz) every
20 ms, streams spread over the period; the server sends every frame back (bidirectional
streaming). Measured over the window: frames sent and echoed per second, echo latency, the
server's CPU per frame (in + out) and as a share of a core, the client's CPU share, and the
server's RSS growth per open stream. N = 100 and 1,000 (50,000 frames/s each way).

Servers (one at a time, the order rotated every round, so the machine's noise hits all):

- ``jbtrio``: ``jbtrio serve audio_app:app`` (``bench/audio_app.py``): ``@app.audio("/echo")``
  with the echo a user writes (``async for frame in stream: await stream.send_audio(frame)``),
  paced by the stream's playout clock (``max_ahead_ms`` 500), on jbtrio's listener;
- ``jbtrio_trio_websocket``: the same, ``--transport trio-websocket``;
- ``jbtrio_2proc``: the same, ``jbtrio serve --workers 2`` (the acceptor routes each audio
  socket by its metadata's ``callSid``);
- ``jbtrio_driver``: ``bench/audio_server.py``: the same handler served by a minimal Trio
  driver over websockets' sans-IO protocol (what ``jbtrio`` was measured with before the
  listener served audio sockets);
- ``jbtrio_bare``: that driver echoing from its read loop, no AudioStream: the ceiling;
- ``jambonz_sdk``: ``bench/node/audio_sdk.js``: ``makeService.audio`` and
  ``stream.sendAudio(pcm)`` for every ``audio`` event (@jambonz/sdk 0.10.1).

The last line is JSON; ``ratios`` are jbtrio / @jambonz/sdk per round, their median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from _servers import NODE, NODE_DIR, PYTHON, _stop, _wait_listening, ensure_node_modules, log

BENCH = Path(__file__).resolve().parent
SERVERS = (
    "jbtrio",
    "jambonz_sdk",
    "jbtrio_bare",
    "jbtrio_2proc",
    "jbtrio_driver",
    "jbtrio_trio_websocket",
)

#: ``jbtrio serve`` from ``bench/``; ``--grace 1`` so a stop never waits long for streams.
JBTRIO_SERVE = [PYTHON, "-m", "jbtrio", "serve", "audio_app:app", "--host", "127.0.0.1"]
JBTRIO_SERVE += ["--port", "0", "--grace", "1"]


def _command(name: str) -> list[str]:
    script = str(BENCH / "audio_server.py")
    return {
        "jbtrio": JBTRIO_SERVE,
        "jbtrio_trio_websocket": [*JBTRIO_SERVE, "--transport", "trio-websocket"],
        "jbtrio_2proc": [*JBTRIO_SERVE, "--workers", "2"],
        "jbtrio_driver": [PYTHON, script, "0"],
        "jbtrio_bare": [PYTHON, script, "0", "--bare"],
        "jambonz_sdk": [NODE, str(NODE_DIR / "audio_sdk.js"), "0"],
    }[name]


@contextmanager
def _process(command: list[str]) -> Iterator[tuple[int, int]]:
    process = subprocess.Popen(
        command,
        cwd=BENCH,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        yield process.pid, _wait_listening(process, 30.0)
    finally:
        _stop(process)


@contextmanager
def serving(name: str) -> Iterator[list[tuple[int, int]]]:
    """(pid, port) of each process of server ``name``."""
    with ExitStack() as stack:
        yield [stack.enter_context(_process(_command(name)))]


def run_one(name: str, streams: int, warmup: float, duration: float) -> dict[str, Any]:
    with serving(name) as processes:
        urls = ",".join(f"ws://127.0.0.1:{port}/echo" for _, port in processes)
        pids = ",".join(str(pid) for pid, _ in processes)
        args = [NODE, str(NODE_DIR / "audio_load.js"), "--urls", urls, "--server-pids", pids]
        args += ["--streams", str(streams), "--warmup", str(warmup), "--duration", str(duration)]
        done = subprocess.run(
            args, check=False, capture_output=True, text=True, timeout=warmup + duration + 180
        )
    if done.returncode != 0:
        raise RuntimeError(f"audio_load failed: {done.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["processes"] = len(processes)
    return result


FIELDS = (
    ("echoed/s", "frames_echoed_per_s", 0),
    ("sent/s", "frames_sent_per_s", 0),
    ("echo %", "echo_pct", 1),
    ("p50 ms", "p50_ms", 1),
    ("p99 ms", "p99_ms", 1),
    ("CPU µs/frame", "cpu_us_per_frame", 1),
    ("server CPU", "server_cpu_util", 2),
    ("client CPU", "client_cpu_util", 2),
    ("KiB/stream", "kib_per_stream", 1),
    ("KiB/stream live", "kib_per_stream_streaming", 1),
)


def median(runs: list[dict[str, Any]], field: str) -> float | None:
    values = [r[field] for r in runs if isinstance(r.get(field), int | float)]
    return round(statistics.median(values), 3) if values else None


def paired(results: dict[str, dict[int, list[dict[str, Any]]]], a: str, b: str, n: int,
           field: str) -> float | None:  # fmt: skip
    ratios = [
        x[field] / y[field]
        for x, y in zip(results.get(a, {}).get(n, []), results.get(b, {}).get(n, []), strict=False)
        if isinstance(x.get(field), int | float) and isinstance(y.get(field), int | float)
        and y[field]
    ]  # fmt: skip
    return round(statistics.median(ratios), 3) if ratios else None


def table(summary: dict[str, dict[int, dict[str, Any]]], counts: Sequence[int]) -> str:
    header = ["server", "N", *[f[0] for f in FIELDS]]
    rows = [header]
    for name, per_n in summary.items():
        for n in counts:
            s = per_n.get(n, {})
            row = [name, str(n)]
            for _, field, digits in FIELDS:
                v = s.get(field)
                row.append("-" if v is None else f"{v:,.{digits}f}")
            rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                       enumerate(zip(r, widths, strict=True))) for r in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="jbtrio audio streams vs @jambonz/sdk")
    parser.add_argument("--quick", action="store_true", help="1 round, short windows")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--streams", default="100,1000", help="comma-separated N")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--raw", type=Path, help="also write every raw result here")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    warmup, duration = (2.0, 5.0) if args.quick else (3.0, 8.0)
    counts = [int(n) for n in args.streams.split(",")]
    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    ensure_node_modules()
    results: dict[str, dict[int, list[dict[str, Any]]]] = {s: {} for s in servers}
    loads: list[float] = []
    for round_no in range(rounds):
        for n in counts:
            order = servers[round_no % len(servers) :] + servers[: round_no % len(servers)]
            for name in order:
                log(f"round {round_no + 1}/{rounds}: {n} streams on {name}")
                loads.append(os.getloadavg()[0])
                try:
                    outcome = run_one(name, n, warmup, duration)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    outcome = {"error": str(exc)}
                    log(f"  failed: {exc}")
                if isinstance(outcome.get("echo_ratio"), int | float):
                    outcome["echo_pct"] = 100 * outcome["echo_ratio"]
                results[name].setdefault(n, []).append(outcome)
                log("  " + json.dumps(outcome))
    summary = {
        name: {n: {f: median(runs, f) for _, f, _ in FIELDS} for n, runs in per_n.items()}
        for name, per_n in results.items()
    }
    if args.raw:
        args.raw.write_text(json.dumps(results, indent=1))
    print(table(summary, counts))
    print(
        "echoed/s: frames the server sent back per second (offered: N x 50); CPU µs/frame: "
        "server CPU per frame in or out; KiB/stream: server RSS growth per open stream "
        "(idle; live: peak while streaming); p50/p99: echo round trip."
    )
    ratios: dict[str, Any] = {}
    for n in counts:
        for other in ("jambonz_sdk",):
            ratios[f"echoed_{n}_vs_{other}"] = paired(
                results, "jbtrio", other, n, "frames_echoed_per_s"
            )
            ratios[f"cpu_per_frame_{n}_vs_{other}"] = paired(
                results, "jbtrio", other, n, "cpu_us_per_frame"
            )
            ratios[f"kib_per_stream_{n}_vs_{other}"] = paired(
                results, "jbtrio", other, n, "kib_per_stream"
            )
        ratios[f"echoed_{n}_vs_driver"] = paired(
            results, "jbtrio", "jbtrio_driver", n, "frames_echoed_per_s"
        )
        ratios[f"cpu_per_frame_{n}_vs_driver"] = paired(
            results, "jbtrio", "jbtrio_driver", n, "cpu_us_per_frame"
        )
        ratios[f"cpu_per_frame_{n}_trio_websocket_vs_websockets"] = paired(
            results, "jbtrio_trio_websocket", "jbtrio", n, "cpu_us_per_frame"
        )
        ratios[f"cpu_per_frame_{n}_vs_bare"] = paired(
            results, "jbtrio", "jbtrio_bare", n, "cpu_us_per_frame"
        )
        ratios[f"echoed_{n}_2proc_vs_1proc"] = paired(
            results, "jbtrio_2proc", "jbtrio", n, "frames_echoed_per_s"
        )
    print(
        json.dumps(
            {
                "bench": "audio-echo",
                "rounds": rounds,
                "window_s": duration,
                "cpus": os.cpu_count(),
                "loadavg_range": [round(min(loads), 2), round(max(loads), 2)] if loads else None,
                "seconds": round(time.monotonic() - started, 1),
                "ratios": ratios,
                "servers": {k: {str(n): v for n, v in s.items()} for k, s in summary.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    raise SystemExit(main())
