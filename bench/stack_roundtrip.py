"""Whole-stack hook round trips in one process, over real loopback TCP sockets:
``python bench/stack_roundtrip.py``.

What the ``hooks`` case of ``bench/run.py`` asks of the ``jbtrio_flow`` (or, with
``--events``, the ``jbtrio``) bench server, without the Node load generator: the server is
``bench/jbtrio_server.py``'s app served by :func:`jbtrio.serve`, with its metrics on and its
INFO logging (to a discarded stream), after :func:`jbtrio.tune_gc`, as that server runs. The
client, raw sockets in the same Trio run, sets up ``--calls`` calls (each its own call_sid,
``bench/call_setup.py``'s ``session:new``), then each round sends every call the load
generator's gather ``verb:hook`` (each with a new msgid) and reads every ack. Unlike
``bench/flow_roundtrip.py`` (no socket) this counts the whole server: the read poller, the
transport, the reader task, metrics, the writer's ``send``. The client's work is a fixed cost
per round trip, so a change of jbtrio shows whole in the difference of two instruction
counts, and the two builds (``.venv/bin/python`` and ``.venv-compiled/bin/python``) can be
compared on the same sockets without the load generator's noise (issue 23).

Printed: µs of wall-clock time and of the process's CPU time per round trip (medians of
``--rounds``); ``--instructions`` runs it twice under callgrind (``--count`` 20 and 120 round
trips per call, 20 calls) and prints the instructions per round trip.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import time

import trio

# Run as a script (its siblings come from bench/ itself, sys.path[0]).
from _callgrind import per_unit
from call_setup import SESSION_NEW, FrameReader, as_the_bench_server, bench_server
from transport_roundtrip import HOOK, connect

import jbtrio

_TEMPLATE_SID = str(SESSION_NEW["call_sid"])
_TEMPLATE_MSGID = b"4fGh7Kq2Zx9W000000001a"
_ZERO_MASK = b"\x00\x00\x00\x00"  # a zero mask leaves the payload as it is: no XOR per frame


def _frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A client frame (masked with zeros, FIN set) of a payload under 65,536 bytes."""
    size = len(payload)
    if size < 126:
        return bytes((0x80 | opcode, 0x80 | size)) + _ZERO_MASK + payload
    return bytes((0x80 | opcode, 0xFE)) + size.to_bytes(2, "big") + _ZERO_MASK + payload


class Client:
    """One call's side of the socket: its hooks, each with the next msgid."""

    def __init__(self, sock: socket.socket, call_sid: str) -> None:
        self.sock = sock
        self.reader = FrameReader(sock)
        self.hook = HOOK.replace(_TEMPLATE_SID.encode(), call_sid.encode())
        self.sent = 0

    def send_hook(self) -> None:
        self.sent += 1
        msgid = b"hk%020d" % self.sent
        self.sock.send(_frame(self.hook.replace(_TEMPLATE_MSGID, msgid)))

    async def read_ack(self) -> None:
        opcode, payload = await self.reader.frame()
        while opcode == 0x9:  # the server's keepalive ping (under callgrind, time runs slow)
            self.sock.send(_frame(payload, 0xA))
            opcode, payload = await self.reader.frame()
        if opcode != 0x1 or not payload.startswith(b'{"type":"ack"'):
            raise RuntimeError(f"expected an ack, got {opcode} {payload[:200]!r}")


async def open_call(port: int, index: int) -> Client:
    call_sid = f"{_TEMPLATE_SID[:-6]}{index:06d}"
    sock = await connect(port)
    session_new = json.dumps(SESSION_NEW, separators=(",", ":")).replace(_TEMPLATE_SID, call_sid)
    client = Client(sock, call_sid)
    sock.send(_frame(session_new.encode()))
    await client.read_ack()
    return client


#: The server's defaults, but for a long ack deadline: under callgrind time runs ~50x slower,
#: and the core's automatic ack (5 s) would answer for the app, its reply then a redirect.
CONFIG = jbtrio.ServerConfig(core=jbtrio.CoreConfig(ack_timeout=600.0))


async def roundtrips(
    events: bool, calls: int, count: int, rounds: int
) -> tuple[list[float], list[float]]:
    """µs per hook round trip of each round: wall-clock time, and the process's CPU time."""
    results: list[float] = []
    cpus: list[float] = []
    async with bench_server(events, CONFIG) as port:
        clients = [await open_call(port, i) for i in range(calls)]
        for _ in range(rounds):
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(count):
                for client in clients:
                    client.send_hook()
                for client in clients:
                    await client.read_ack()
            results.append((time.perf_counter() - start) * 1e6 / (count * calls))
            cpus.append((time.process_time() - cpu) * 1e6 / (count * calls))
        for client in clients:
            client.sock.close()
    return results, cpus


#: Calls side by side under callgrind: instructions per round trip do not depend on it (README,
#: issue 23 round 4), and 100 calls would take minutes there.
INSTRUCTION_CALLS = 20


def instructions(args: argparse.Namespace) -> float:
    """Instructions per round trip: two runs under callgrind, the difference divided."""
    low, high, calls = 20, 120, INSTRUCTION_CALLS

    def flags(count: int) -> list[str]:
        events = ["--events"] if args.events else []
        return ["--calls", str(calls), "--count", str(count), "--rounds", "1", *events]

    return per_unit(__file__, flags(low), flags(high), (high - low) * calls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=100, help="calls side by side")
    parser.add_argument("--count", type=int, default=200, help="round trips per call per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", action="store_true", help="the events-API app")
    parser.add_argument(
        "--instructions", action="store_true", help="instructions per round trip (callgrind)"
    )
    args = parser.parse_args(argv)
    if args.instructions:
        print(f"instructions per round trip: {instructions(args):,.0f}")
        return 0
    as_the_bench_server()
    figures, cpus = trio.run(roundtrips, args.events, args.calls, args.count, args.rounds)
    print(
        f"us per round trip: {statistics.median(figures):.1f}, CPU {statistics.median(cpus):.1f} "
        f"(rounds: {[round(f, 1) for f in figures]})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
