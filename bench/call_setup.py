"""Whole-stack call set-ups in one process, over real loopback TCP sockets:
``python bench/call_setup.py``.

What the ``setup`` case of ``bench/run.py`` asks of the ``jbtrio_flow`` (or, with
``--events``, the ``jbtrio``) bench server, without the Node load generator: the server is
``bench/jbtrio_server.py``'s app served by :func:`jbtrio.serve`, with its metrics on and its
INFO logging (to a discarded stream), after :func:`jbtrio.tune_gc`, as that server runs. The
client, a raw socket in the same Trio run, does what the load generator does per set-up:
connect and upgrade, ``session:new`` (the load generator's, ``bench/node/messages.js``), read
the ack, ``call:status`` completed, a close frame, read up to the server's close frame.
The client's work is a fixed cost per set-up, so a change of jbtrio shows whole in the
difference of two instruction counts.

``--instructions`` runs it twice under callgrind (20 and 120 set-ups) and prints the
instructions per set-up: the repeatable measure on a shared machine (issue 23), beside
``bench/transport_roundtrip.py --setup --instructions`` (the transport's share).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import socket
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

# Run as a script (its siblings come from bench/ itself, sys.path[0]).
from _callgrind import per_unit
from jbtrio_server import SERVICE_PATH, flow_app, hooks_app
from transport_roundtrip import UPGRADE, connect, masked, recv

import jbtrio
from jbtrio._runtime import enable_metrics

CALL_SID = "1f9a3c0e-5b7d-4e2a-9c61-0d8e4b2f7a13"
_INFO = {
    "call_sid": CALL_SID,
    "direction": "inbound",
    "from": "+15083084809",
    "to": "+15083728299",
    "call_id": "d8907723-0bc7-123b-09b5-12e962f3039b",
    "account_sid": "9351f46a-678c-43f5-b8a6-d4eb58d131af",
    "application_sid": "7087fe50-8acb-4f3b-b820-97b573723aab",
    "trace_id": "654c5323d6f907233a1069136b8a330e",
}
#: The load generator's session:new (bench/node/messages.js, sessionNewFrame).
SESSION_NEW = {
    "type": "session:new",
    "msgid": "4fGh7Kq2Zx9W000000001a",
    "call_sid": CALL_SID,
    "b3": "18228daa536f82e0ec29074e7bf47b89-dd3bdf1f177f2995-1",
    "data": {
        "sip": {
            "headers": {
                "from": "<sip:+15083084809@3.212.205.202:5060>;tag=9mgyBeaUy4H2S",
                "to": "<sip:+15083728299@10.0.13.72:5070>",
                "call-id": "dae8845526bf7fe640ad0162238473e4@0.0.0.0",
                "X-CID": "dae8845526bf7fe640ad0162238473e4@0.0.0.0",
            },
            "method": "INVITE",
            "uri": "sip:+15083728299@10.0.13.72:5070",
            "body": "v=0\r\no=- 1 1 IN IP4 54.172.60.3\r\ns=-\r\nc=IN IP4 54.172.60.3\r\n"
            "t=0 0\r\nm=audio 17000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n",
        },
        "has_recording": False,
        "caller_name": "",
        **_INFO,
        "sip_status": 100,
        "sip_reason": "Trying",
        "call_status": "trying",
        "sbc_callid": "dae8845526bf7fe640ad0162238473e4@0.0.0.0",
        "originating_sip_ip": "54.172.60.3",
        "originating_sip_trunk_name": "Twilio",
        "local_sip_address": "10.0.13.72:5070",
        "service_provider_sid": "2708b1b3-2736-40ea-b502-c53d8396247f",
        "defaults": {
            "synthesizer": {"vendor": "google", "language": "en-US", "voice": "en-US-Wavenet-C"},
            "recognizer": {"vendor": "google", "language": "en-US"},
        },
        "env_vars": {"GREETING": "Hello!"},
    },
}
#: call:status completed (bench/node/messages.js, callStatusCompleted).
COMPLETED = {
    "type": "call:status",
    "msgid": "4fGh7Kq2Zx9W000000002b",
    "call_sid": CALL_SID,
    "data": {
        **_INFO,
        "sip_status": 200,
        "sip_reason": "OK",
        "call_status": "completed",
        "fs_sip_address": "10.0.13.72:5070",
        "duration": 12,
    },
}
SESSION_FRAME = masked(0x1, json.dumps(SESSION_NEW, separators=(",", ":")).encode())
END_FRAMES = masked(0x1, json.dumps(COMPLETED, separators=(",", ":")).encode()) + masked(
    0x8, (1000).to_bytes(2, "big")
)
assert UPGRADE.startswith(b"GET " + SERVICE_PATH.encode() + b" ")


class FrameReader:
    """Server frames (unmasked) off a raw socket: opcode and payload, one at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    async def _need(self, size: int) -> None:
        while len(self.buffer) < size:
            self.buffer += await recv(self.sock, 65536)

    async def frame(self) -> tuple[int, bytes]:
        await self._need(2)
        opcode, size, head = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
        if size == 126:
            await self._need(4)
            size, head = int.from_bytes(self.buffer[2:4], "big"), 4
        elif size == 127:
            await self._need(10)
            size, head = int.from_bytes(self.buffer[2:10], "big"), 10
        await self._need(head + size)
        payload = self.buffer[head : head + size]
        self.buffer = self.buffer[head + size :]
        return opcode, payload


async def one_setup(port: int) -> None:
    sock = await connect(port)
    try:
        reader = FrameReader(sock)
        sock.send(SESSION_FRAME)
        opcode, payload = await reader.frame()
        if opcode != 0x1 or not payload.startswith(b'{"type":"ack"'):
            raise RuntimeError(f"expected the ack, got {opcode} {payload[:200]!r}")
        sock.send(END_FRAMES)
        while opcode != 0x8:
            opcode, payload = await reader.frame()
    finally:
        sock.close()


@asynccontextmanager
async def bench_server(
    events: bool, config: jbtrio.ServerConfig | None = None
) -> AsyncIterator[int]:
    """The bench app (the flow API, or with ``events`` the events API) served by
    :func:`jbtrio.serve` with its metrics on, as ``jbtrio_server.py`` serves it; yields the
    port on 127.0.0.1 (``bench/stack_roundtrip.py`` serves the same way)."""
    app = hooks_app() if events else flow_app()
    page = enable_metrics(app)
    async with trio.open_nursery() as nursery:
        server: jbtrio.Server = await nursery.start(
            functools.partial(jbtrio.serve, config=config or jbtrio.ServerConfig()),
            app,
            "127.0.0.1",
            0,
        )
        server.endpoints.metrics = page
        assert server.port is not None
        yield server.port
        nursery.cancel_scope.cancel()


def as_the_bench_server() -> None:
    """What the bench server does before serving: ``jbtrio.tune_gc()`` (as ``jbtrio
    serve``), and INFO logging (a start and an end line per call), here to a discarded
    stream."""
    jbtrio.tune_gc()
    logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115


async def setups(events: bool, count: int, rounds: int) -> tuple[list[float], list[float]]:
    """µs per call set-up of each round: wall-clock time, and the process's CPU time."""
    results: list[float] = []
    cpus: list[float] = []
    async with bench_server(events) as port:
        for _ in range(rounds):
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(count):
                await one_setup(port)
            results.append((time.perf_counter() - start) * 1e6 / count)
            cpus.append((time.process_time() - cpu) * 1e6 / count)
    return results, cpus


def instructions(args: argparse.Namespace) -> float:
    """Instructions per set-up: two runs under callgrind, the difference divided."""
    low, high = 20, 120

    def flags(count: int) -> list[str]:
        return ["--setups", str(count), "--rounds", "1", *(["--events"] if args.events else [])]

    return per_unit(__file__, flags(low), flags(high), high - low)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--setups", type=int, default=1000, help="set-ups per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", action="store_true", help="the events-API app")
    parser.add_argument(
        "--instructions", action="store_true", help="instructions per set-up (callgrind)"
    )
    args = parser.parse_args(argv)
    if args.instructions:
        print(f"instructions per set-up: {instructions(args):,.0f}")
        return 0
    as_the_bench_server()
    figures, cpus = trio.run(setups, args.events, args.setups, args.rounds)
    print(
        f"us per set-up: {statistics.median(figures):.1f}, CPU {statistics.median(cpus):.1f} "
        f"(rounds: {[round(f) for f in figures]})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
