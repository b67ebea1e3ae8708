"""Issue 16's attacks against ``jbtrio serve examples.ivr:app``, with canary calls running.

Each attack runs for ``--seconds`` from its own process (``bench/_attackers.py``) against a
server started as a user would (``python -m jbtrio serve examples.ivr:app``, Basic auth on,
``--grace 2``), one process or ``--workers 2``, on loopback. Meanwhile this process keeps
``--canaries`` calls going through the fake jambonz (``jbtrio.testing``), one after another,
and measures what the attack does to *them*:

- ``canaries``: calls placed during the attack, and how many did not complete normally;
- ``ack p50/p99/max``: time from a ``session:new``/``verb:hook`` to its ack, for every
  canary message sent during the attack (as the fake saw it: the canaries share this
  process's loop, so this is an upper bound);
- ``growth``: the server's peak RSS during the attack minus before it (the process tree for
  ``--workers``), and that divided by the attacker's sockets open at once (by the calls it
  left, for ``orphans``);
- ``log lines``: lines the server wrote during the attack (its log goes to a file).

Then three checks that need no load: ``hijack`` (forged ``session:new``/``session:reconnect``
for every live canary, with the canary's own session data: none may take a call),
``smaller`` (a malformed request gets 400, a lower-case ``basic`` scheme is accepted, a
binary ``session:new`` starts nothing, the longest log line) and ``shutdown`` (six peers
that never answer a close frame, then SIGTERM with ``--grace 2``: time to exit).

    .venv/bin/python bench/attacks.py                       # everything, both modes (~4 min)
    .venv/bin/python bench/attacks.py --modes 1 --attacks malformed-flood --seconds 3

The last line printed is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import orjson
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from _attackers import ATTACKS, Client, envelope, session_new  # noqa: E402

from jbtrio.testing import Caller, FakeJambonz, JambonzConfig  # noqa: E402

AUTH = ("jambonz", "s3cret-for-the-bench")
GC_ARGS: list[str] = []  # --gc-threshold N, passed on to jbtrio serve
SERVER_ROOT = [ROOT]  # --server-root: serve from another checkout (a "before" measurement)
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- server


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        with suppress(OSError, ValueError, IndexError):
            total += int((Path("/proc") / str(current) / "statm").read_text().split()[1]) * PAGE
        todo += children.get(current, [])
    return total


class Served:
    def __init__(self, process: trio.Process, port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()


@asynccontextmanager
async def serving(workers: int, max_connections: int) -> AsyncIterator[Served]:
    log_file = tempfile.NamedTemporaryFile("wb", prefix="jbtrio-attacks-", suffix=".log")  # noqa: SIM115
    root = SERVER_ROOT[0]
    command = [
        sys.executable, "-m", "jbtrio", "--log-level", "INFO", "serve", "examples.ivr:app",
        "--port", "0", "--user", AUTH[0], "--password", AUTH[1], "--grace", "2",
        "--workers", str(workers), *GC_ARGS,
    ]  # fmt: skip
    if "--max-connections" in (root / "jbtrio" / "_cli_serve.py").read_text():
        command += ["--max-connections", str(max_connections)]
    process = await trio.lowlevel.open_process(
        command,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log_file,
    )
    assert process.stdout is not None
    try:
        first = b""
        with trio.fail_after(30):
            while not first.endswith(b"\n"):
                chunk = await process.stdout.receive_some(1)
                if not chunk:
                    raise RuntimeError(f"server exited; its log: {log_file.name}")
                first += chunk
        match = re.search(rb"ws://127\.0\.0\.1:(\d+)", first)
        assert match, first
        await trio.sleep(1.0)  # workers up, imports done
        yield Served(process, int(match.group(1)), Path(log_file.name))
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
                await process.wait()
            log_file.close()


# ---------------------------------------------------------------------------------- canaries


class Canaries:
    """Calls through the fake jambonz, ``count`` at a time, each placed when one ends."""

    def __init__(self, port: int, count: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/ivr"
        self.count = count
        self.fake = FakeJambonz(
            JambonzConfig(say_seconds_per_char=0.0, say_min_seconds=0.05, max_duration=10)
        )
        self.results: list[tuple[float, float, bool, str, list[tuple[float, float]]]] = []
        self.live: dict[str, Any] = {}

    async def run(self, stop: trio.Event, finished: trio.Event) -> None:
        """Place calls until ``stop``; ``finished`` once the last of them has ended."""
        async with trio.open_nursery() as nursery:
            for n in range(self.count):
                nursery.start_soon(self._loop, n, stop)
        finished.set()

    async def _loop(self, n: int, stop: trio.Event) -> None:
        while not stop.is_set():
            sid = str(uuid.uuid4())
            call = self.fake.new_call(
                self.url,
                caller=Caller(speech=[f"canary {n}"], response_delay=0.05),
                username=AUTH[0],
                password=AUTH[1],
                call_sid=sid,
            )
            self.live[sid] = call
            start = trio.current_time()
            try:
                outcome = await call.run()
                ok, summary = outcome.ok, outcome.summary()
            except Exception as exc:  # a canary must never take the runner down
                ok, summary = False, repr(exc)
            finally:
                self.live.pop(sid, None)
            self.results.append((start, trio.current_time(), ok, summary, _ack_delays(call)))
            await trio.sleep(0.02)

    def during(self, start: float, end: float) -> dict[str, Any]:
        calls = [r for r in self.results if r[0] < end and r[1] > start]
        samples = [(d, sent) for r in self.results for sent, d in r[4] if start <= sent <= end]
        delays = sorted(d for d, _ in samples)
        worst = max(samples, default=(0.0, start))
        failed = [r[3] for r in calls if not r[2]]
        return {
            "canary_calls": len(calls),
            "canary_failed": len(failed),
            "canary_failures": sorted(set(failed))[:3],
            "acks": len(delays),
            "ack_p50_ms": _ms(statistics.median(delays)) if delays else None,
            "ack_p99_ms": _ms(delays[min(len(delays) - 1, int(len(delays) * 0.99))])
            if delays
            else None,
            "ack_max_ms": _ms(delays[-1]) if delays else None,
            "worst_ack_at_s": round(worst[1] - start, 2),  # into the attack (it lasts to end)
        }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _ack_delays(call: Any) -> list[tuple[float, float]]:
    """(sent at, delay) of each session:new / verb:hook the app acked."""
    sent: dict[str, float] = {}
    out = []
    for frame in call.transcript:
        if frame.direction == "out" and frame.type in ("session:new", "verb:hook"):
            sent[frame.msgid] = frame.time
        elif frame.direction == "in" and frame.type == "ack" and frame.msgid in sent:
            at = sent.pop(frame.msgid)
            out.append((at, frame.time - at))
    return out


# ---------------------------------------------------------------------------------- runs


async def run_attack(name: str, served: Served, seconds: float) -> dict[str, Any]:
    """Run one attack; its window (``start``/``end``) is kept for the canary figures, which
    are computed once every canary placed during it has ended."""
    before = tree_rss(served.process.pid)
    lines_before = len(served.log_lines())
    peak = before
    start = trio.current_time()
    result: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        done = trio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss(served.process.pid))
                await trio.sleep(0.1)

        nursery.start_soon(sample)
        if name == "baseline":
            await trio.sleep(seconds)
        else:
            attack = await trio.run_process(
                [sys.executable, __file__, "--attacker", name, "--port", str(served.port),
                 "--seconds", str(seconds)],
                capture_stdout=True, check=False,
            )  # fmt: skip
            lines = attack.stdout.decode().strip().splitlines()
            result = json.loads(lines[-1]) if lines else {"error": attack.returncode}
        end = trio.current_time()
        await trio.sleep(1.0)  # what the attack left behind settles
        done.set()
    growth = max(0, peak - before)
    held = result.get("calls_started") if name == "orphans" else result.get("sockets", 1)
    return {
        "attack": name,
        **result,
        "rss_before_mb": round(before / 2**20, 1),
        "growth_mb": round(growth / 2**20, 1),
        "growth_per_socket_kb": round(growth / 1024 / max(1, held or 1), 1),
        "log_lines": len(served.log_lines()) - lines_before,
        "start": start,
        "end": end,
    }


async def hijack(served: Served, canaries: Canaries) -> tuple[int, list[tuple[Any, float]]]:
    """Forged session messages for live canaries, carrying the canary's own session:new data
    (the worst case: the attacker holds the credentials and has seen the call's data).
    Returns how many were sent, and the (canary, time) of each one the server acked: a
    forgery took a call if that canary's socket then ended other than by jambonz's normal
    close (see :func:`taken`); acked after the canary's own end, it merely started a new
    call of that sid."""
    tried = 0
    acked: list[tuple[Any, float]] = []
    for call in list(canaries.live.values()):
        first = next((f for f in call.transcript if f.type == "session:new"), None)
        if first is None or first.data is None:
            continue
        for kind in ("session:reconnect", "session:new"):
            forged = dict(first.data, type=kind, msgid=uuid.uuid4().hex[:22])
            try:
                client = await Client.connect(served.port, auth=AUTH)
            except (OSError, ConnectionRefusedError):
                continue
            sent_at = trio.current_time()
            client.send(orjson.dumps(forged))
            await client.flush()
            tried += 1
            with trio.move_on_after(5):
                message = await client.next_message()
                if message is not None and message.get("type") == "ack":
                    acked.append((call, sent_at))
            await client.reset()
        if tried >= 20:
            break
    return tried, acked


def taken(acked: list[tuple[Any, float]]) -> int:
    """Forgeries that took a live call: a socket of that canary ended, after the forgery was
    sent, by something else than jambonz's normal close (1000)."""
    return sum(
        any(e.kind == "close" and e.time >= sent_at and e.by != "jambonz" for e in call.events)
        for call, sent_at in acked
    )


async def smaller(served: Served) -> dict[str, Any]:
    out: dict[str, Any] = {}
    stream = await trio.open_tcp_stream("127.0.0.1", served.port)
    await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
    with trio.move_on_after(5):
        answer = await stream.receive_some(100)
    out["malformed_request"] = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    await stream.aclose()
    client = await Client.connect(served.port, auth=None, upgrade=False)
    out["lowercase_basic"] = await client.handshake(AUTH, scheme="basic")
    await client.reset()
    client = await Client.connect(served.port, auth=AUTH)
    client.send(session_new(f"binary-{uuid.uuid4()}"), binary=True)
    await client.flush()
    with trio.move_on_after(2):
        out["binary_session_new_acked"] = (await client.next_message()) is not None
    out.setdefault("binary_session_new_acked", False)
    await client.reset()
    client = await Client.connect(served.port, auth=AUTH)
    client.send(session_new("s" * 20_000))
    client.send(envelope("x:y", "m1", "s" * 20_000))
    await client.flush()
    await trio.sleep(1)
    await client.reset()
    out["longest_log_line"] = max((len(line) for line in served.log_lines()), default=0)
    return out


async def shutdown(served: Served) -> dict[str, Any]:
    """Six calls whose peer never reads nor answers a close frame, then SIGTERM."""
    stuck = []
    for _ in range(6):
        client = await Client.connect(served.port, auth=AUTH, rcvbuf=4096)
        client.send(session_new(f"stuck-{uuid.uuid4()}"))
        await client.flush()
        stuck.append(client)
    await trio.sleep(1)
    start = trio.current_time()
    served.process.send_signal(signal.SIGTERM)
    with trio.move_on_after(60):
        await served.process.wait()
    took = trio.current_time() - start
    for client in stuck:
        await client.reset()
    return {"stuck_peers": 6, "grace_s": 2, "exit_after_s": round(took, 2)}


async def run_mode(workers: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async with serving(workers, args.max_connections) as served, trio.open_nursery() as nursery:
        canaries = Canaries(served.port, args.canaries)
        stop, finished = trio.Event(), trio.Event()
        nursery.start_soon(canaries.run, stop, finished)
        await trio.sleep(2)  # warm up
        windows = []
        for name in ["baseline", *args.attacks]:
            row = await run_attack(name, served, args.seconds)
            row["workers"] = workers
            windows.append(row)
            await trio.sleep(1)
        forgeries: tuple[int, list[tuple[Any, float]]] = (0, [])
        if not args.quick:
            start = trio.current_time()
            forgeries = await hijack(served, canaries)
            row = {"attack": "hijack", "workers": workers, "forged": forgeries[0]}
            windows.append({**row, "start": start, "end": trio.current_time()})
        stop.set()
        with trio.move_on_after(30):
            await finished.wait()  # every canary placed during an attack has ended
        if not args.quick:
            windows[-1]["forged_acked"] = len(forgeries[1])
            windows[-1]["calls_taken"] = taken(forgeries[1])
        for row in windows:
            row.update(canaries.during(row.pop("start"), row.pop("end")))
            log(_line(row))
            rows.append(row)
        if not args.quick:
            for check in (smaller, shutdown):
                row = {"attack": check.__name__, "workers": workers, **await check(served)}
                log(_line(row))
                rows.append(row)
    return rows


def _line(row: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v}" for k, v in row.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--modes", default="1,2", help="worker counts to run (1,2)")
    parser.add_argument("--attacks", default=",".join(ATTACKS), help="which attacks")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each attack")
    parser.add_argument("--canaries", type=int, default=6, help="canary calls at a time")
    parser.add_argument(
        "--max-connections", type=int, default=10_000, help="the server's bound (10000)"
    )
    parser.add_argument("--quick", action="store_true", help="skip hijack/smaller/shutdown")
    parser.add_argument(
        "--gc-threshold", type=int, help="jbtrio serve's --gc-threshold (its default: 50000)"
    )
    parser.add_argument(
        "--server-root",
        type=Path,
        help="serve from this checkout instead (e.g. `git archive <commit>` unpacked): a "
        "measurement from before the fixes",
    )
    parser.add_argument("--attacker", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.attacker:
        stats = trio.run(ATTACKS[args.attacker], args.port, AUTH, args.seconds)
        print(json.dumps(stats))
        return 0
    if args.server_root is not None:
        SERVER_ROOT[0] = args.server_root.resolve()
    if args.gc_threshold is not None:
        GC_ARGS[:] = ["--gc-threshold", str(args.gc_threshold)]
    args.attacks = [a for a in args.attacks.split(",") if a]
    unknown = set(args.attacks) - set(ATTACKS)
    if unknown:
        parser.error(f"unknown attacks: {', '.join(sorted(unknown))}")
    rows = []
    for workers in (int(m) for m in args.modes.split(",")):
        rows += trio.run(run_mode, workers, args)
    print(json.dumps({"rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
