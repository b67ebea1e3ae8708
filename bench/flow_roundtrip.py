"""The flow API's hook round trip in one process, no sockets: ``python bench/flow_roundtrip.py``.

The bench app of ``bench/jbtrio_server.py`` written as users write a flow (a ``say`` and the
shared, already validated ``gather`` per ``yield``), served by the real runtime session, app,
flow runner and call core; only the socket is replaced by an in-memory one that takes every
frame at once. ``--calls`` calls run side by side; each round the driver (playing the reader
task of every socket) feeds one ``verb:hook`` frame per call, then lets the flows run until
every call's ack is written. Printed: µs per hook round trip (median of ``--rounds``), the
µs per call set-up (``session:new`` to its ack), and with ``--memory`` the KiB held per
parked call (tracemalloc, ``--calls`` calls parked on a gather).

On a busy machine count instructions instead, which the load does not change::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python bench/flow_roundtrip.py --count 200 --rounds 1 --calls 10
    # and again with --count 1200; (Ir difference) / (10 * 1000) = instructions per round trip

``--instructions`` does exactly that (two runs under callgrind) and prints the figure;
``--events`` serves the same app on the events API (``call.events()``, the project's bench app).
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import time
import tracemalloc
from typing import Any

import orjson
import trio
import trio.testing

# Run as a script (its sibling comes from bench/ itself, sys.path[0]).
from _callgrind import per_unit

import jbtrio
from jbtrio import ServerConfig
from jbtrio._runtime import CallSession
from jbtrio._runtime._transport_api import Written
from jbtrio.verbs import Gather, Say

PATH = "/bench"
HOOK = "/gather"
GREETING = "Welcome to the benchmark line."
PROMPT = "Tell me what you need, after the tone."
ANSWER = "You said: I would like to book a car."
GATHER = Gather(input=["speech"], action_hook=HOOK, timeout=10, say=Say(text=PROMPT))


def flow_app() -> jbtrio.App:
    """The bench app as a flow: greet and gather, then answer every gather and gather again."""
    app = jbtrio.App()

    @app.flow(PATH)
    async def ivr(call: jbtrio.Call) -> jbtrio.Steps:
        yield [Say(text=GREETING), GATHER]
        while True:
            yield [Say(text=ANSWER), GATHER]

    return app


#: ``--events``: serve the events-API app instead of the flow.
_OPTIONS: dict[str, bool] = {"events": False}


def events_app() -> jbtrio.App:
    """The same app on the events API (``bench/jbtrio_server.py``'s, the project's bench)."""
    app = jbtrio.App()

    @app.route(PATH)
    async def ivr(call: jbtrio.Call) -> None:
        await call.start.reply([Say(text=GREETING), GATHER])
        async for event in call.events():
            if event.hook == HOOK and event.needs_reply:
                await event.reply([Say(text=ANSWER), GATHER])

    return app


class MemorySocket:
    """What a :class:`CallSession` needs of a socket, taking every frame at once."""

    keepalive_at = math.inf
    has_pending = False
    closed_by_us = False
    close_reason = None
    pong_timeout = math.inf
    remote = "memory"
    subprotocol = "ws.jambonz.org"

    def __init__(self) -> None:
        self.sent = 0
        self.last: bytes = b""

    def send_nowait(self, payload: bytes, *, binary: bool = False) -> Written:
        self.sent += 1
        self.last = payload
        return Written.ALL

    async def send(self, payload: bytes) -> None:
        self.sent += 1
        self.last = payload

    async def flush(self) -> None:
        pass

    def keepalive(self, now: float) -> bool:
        return True

    async def abort(self, reason: str) -> None:
        pass

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        pass


def _sid(n: int) -> str:
    return f"5e55a1d0-0000-4000-8000-{n:012d}"


def _session_new(sid: str) -> bytes:
    return orjson.dumps(
        {
            "type": "session:new",
            "msgid": "n0",
            "call_sid": sid,
            "data": {
                "call_sid": sid,
                "direction": "inbound",
                "from": "+15550001",
                "to": "+15550002",
                "call_status": "trying",
            },
        }
    )


def _hook_template(sid: str) -> tuple[str, str]:
    """A gather hook as jambonz sends it, split where its msgid goes."""
    text = orjson.dumps(
        {
            "type": "verb:hook",
            "msgid": "@@",
            "call_sid": sid,
            "hook": HOOK,
            "data": {
                "call_sid": sid,
                "direction": "inbound",
                "from": "+15550001",
                "to": "+15550002",
                "call_status": "in-progress",
                "speech": {
                    "is_final": True,
                    "alternatives": [{"transcript": "book a car", "confidence": 0.9}],
                },
                "reason": "speechDetected",
            },
        }
    ).decode()
    head, tail = text.split("@@")
    return head, tail


class Bench:
    """``calls`` flow calls served in one Trio run, driven round by round."""

    def __init__(self, calls: int) -> None:
        self.app = events_app() if _OPTIONS["events"] else flow_app()
        handler = self.app.resolve(PATH)
        assert handler is not None
        self.handler = handler
        self.config = ServerConfig()
        self.calls = calls
        self.sessions: list[tuple[CallSession, MemorySocket, str, str]] = []
        self.msgids = 0

    async def start(self, nursery: trio.Nursery) -> None:
        for n in range(self.calls):
            await self.start_one(nursery, n)

    async def start_one(self, nursery: trio.Nursery, n: int) -> None:
        sid = _sid(n)
        message = jbtrio.decode(_session_new(sid))
        socket = MemorySocket()
        session = CallSession(
            call_sid=sid,
            path=PATH,
            first_message=message,  # type: ignore[arg-type]
            resumed=False,
            handler=self.handler,
            config=self.config,
            on_end=_ignore,
        )
        await nursery.start(session.run)
        session.attach(socket)  # type: ignore[arg-type]
        session.feed_message(message)  # type: ignore[arg-type]
        session.start_app()
        while socket.sent == 0:
            await trio.lowlevel.checkpoint()
        self.sessions.append((session, socket, *_hook_template(sid)))

    async def round(self) -> None:
        """One hook per call, and every ack back."""
        self.msgids += 1
        msgid = f"m{self.msgids:021d}"
        expected = []
        for session, socket, head, tail in self.sessions:
            expected.append(socket.sent + 1)
            session.feed(head + msgid + tail)
        for (_, socket, _, _), want in zip(self.sessions, expected, strict=True):
            while socket.sent < want:
                await trio.lowlevel.checkpoint()

    def check(self) -> None:
        """The last ack is what the app answers: the say and the gather."""
        last = orjson.loads(self.sessions[-1][1].last)
        assert last["type"] == "ack", last
        assert [v["verb"] for v in last["data"]] == ["say", "gather"], last
        assert last["data"][1]["actionHook"] == HOOK, last

    def end(self) -> None:
        for session, _, _, _ in self.sessions:
            session.end("bench over")


def _ignore(_: object) -> None:
    pass


def measure(calls: int, count: int, rounds: int) -> dict[str, Any]:
    """µs per round trip (median over rounds of ``count`` round trips per call each)."""
    per_rt: list[float] = []
    per_setup: list[float] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(rounds):
                bench = Bench(calls)
                t0 = time.perf_counter()
                await bench.start(nursery)
                per_setup.append((time.perf_counter() - t0) / calls * 1e6)
                for _ in range(3):  # warm-up
                    await bench.round()
                t0 = time.perf_counter()
                for _ in range(count):
                    await bench.round()
                per_rt.append((time.perf_counter() - t0) / (count * calls) * 1e6)
                bench.check()
                bench.end()
                await trio.lowlevel.checkpoint()

    trio.run(main, clock=trio.testing.MockClock())  # deadlines never fire: no auto-acks
    return {
        "calls": calls,
        "round_trips_per_round": calls * count,
        "us_per_round_trip": round(statistics.median(per_rt), 2),
        "us_per_round_trip_all": [round(x, 2) for x in per_rt],
        "us_per_setup": round(statistics.median(per_setup), 2),
    }


def _short(filename: str) -> str:
    if "/site-packages/" in filename:
        return filename.rsplit("/site-packages/", maxsplit=1)[-1]
    if "/jbtrio/" in filename:
        return "jbtrio/" + filename.rsplit("/jbtrio/", maxsplit=1)[-1]
    if "/lib/python3" in filename:
        return "stdlib/" + filename.rsplit("/", maxsplit=1)[-1]
    return filename


def _by_package(stats: list[Any], calls: int) -> dict[str, float]:
    """KiB per call by where it was allocated: jbtrio's layers, trio, the rest."""
    out: dict[str, float] = {}
    for stat in stats:
        name = _short(stat.traceback[0].filename)
        parts = name.split("/")
        if parts[0] == "jbtrio":
            key = "jbtrio app API" if len(parts) == 2 else "/".join(parts[:2])
        elif name.startswith("<attrs generated methods trio."):
            key = "trio"
        else:
            key = parts[0] if len(parts) > 1 else "other"
        out[key] = out.get(key, 0.0) + stat.size_diff / calls / 1024
    return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def memory(calls: int) -> dict[str, Any]:
    """KiB held per call parked on its gather (tracemalloc, everything the Trio run holds)."""
    result: dict[str, Any] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            warm = Bench(10)
            await warm.start(nursery)
            await warm.round()
            warm.end()
            del warm
            await trio.lowlevel.checkpoint()
            gc.collect()
            tracemalloc.start(1)
            before = tracemalloc.take_snapshot()
            bench = Bench(calls)
            await bench.start(nursery)
            await bench.round()  # every call parked again, on its second gather
            gc.collect()
            after = tracemalloc.take_snapshot()
            # the bench's own (its frame templates) is not the call's
            by_file = [
                s
                for s in after.compare_to(before, "filename")
                if not s.traceback[0].filename.endswith("flow_roundtrip.py")
            ]
            total = sum(s.size_diff for s in by_file)
            result["kib_per_call"] = round(total / calls / 1024, 2)
            result["kib_per_call_by_package"] = _by_package(by_file, calls)
            top = after.compare_to(before, "lineno")[:30]
            result["top"] = [
                f"{s.size_diff / calls:8.0f} B/call {s.count_diff / calls:6.2f} blk/call  "
                f"{_short(s.traceback[0].filename)}:{s.traceback[0].lineno}"
                for s in top
            ]
            tracemalloc.stop()
            bench.end()

    trio.run(main, clock=trio.testing.MockClock())  # deadlines never fire: no auto-acks
    return result


def instructions(calls: int, low: int, high: int) -> float:
    """Instructions per round trip: two runs under callgrind, the difference divided."""

    def args(count: int) -> list[str]:
        events = ["--events"] if _OPTIONS["events"] else []
        return ["--calls", str(calls), "--count", str(count), "--rounds", "1", *events]

    return per_unit(__file__, args(low), args(high), (high - low) * calls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--count", type=int, default=200, help="round trips per call per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--memory", type=int, default=0, metavar="CALLS", help="KiB per call")
    parser.add_argument(
        "--instructions", action="store_true", help="instructions per round trip (callgrind)"
    )
    parser.add_argument("--no-gc-tuning", action="store_true")
    parser.add_argument(
        "--events", action="store_true", help="the same app on the events API (call.events())"
    )
    args = parser.parse_args(argv)
    _OPTIONS["events"] = args.events
    if not args.no_gc_tuning:
        jbtrio.tune_gc()
    report: dict[str, Any]
    if args.instructions:
        ipr = instructions(10, 20, 120)
        report = {"instructions_per_round_trip": round(ipr)}
    elif args.memory:
        report = memory(args.memory)
    else:
        report = measure(args.calls, args.count, args.rounds)
    top = report.pop("top", None)
    if top:
        print("\n".join(top))
    print(orjson.dumps(report).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
