"""The Redis client of cluster mode on Trio: round trips of coredis (the choice) against the
machine's floor (a raw Trio socket sending RESP by hand) and, when it is installed, redis-py's
sync client in ``trio.to_thread`` with a bounded limiter (the fallback that was weighed).

    .venv/bin/python bench/redis_client.py [--n 3000] [--rounds 3]

Starts its own ``redis-server`` on a free loopback port (``bash scripts/test`` installs it).
Each figure is the median over rounds of the mean round trip in a round of N sequential GETs
(and, for "x10", 10 tasks sharing one client). The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

import trio


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def raw_resp(port: int, n: int) -> float:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    request = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
    answer = b"$1\r\nx\r\n"  # the value main() set
    async with stream:
        start = time.perf_counter()
        for _ in range(n):
            await stream.send_all(request)
            got = b""
            while len(got) < len(answer):
                got += await stream.receive_some(4096)
        return (time.perf_counter() - start) / n


async def coredis_rt(port: int, n: int, tasks: int = 1) -> float:
    import coredis  # noqa: PLC0415 - the extra

    client: coredis.Redis[bytes] = coredis.Redis(
        "127.0.0.1", port, stream_timeout=1.0, connect_timeout=1.0, verify_version=False
    )
    async with client:
        await client.get("a")

        async def one(count: int) -> None:
            for _ in range(count):
                await client.get("a")

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(tasks):
                nursery.start_soon(one, n // tasks)
        return (time.perf_counter() - start) / n


async def redispy_thread(port: int, n: int, tasks: int = 1) -> float | None:
    try:
        import redis  # type: ignore[import-not-found]  # noqa: PLC0415 - not a dependency
    except ImportError:
        return None
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0)
    limiter = trio.CapacityLimiter(4)
    client.get("a")

    async def one(count: int) -> None:
        for _ in range(count):
            await trio.to_thread.run_sync(client.get, "a", limiter=limiter)

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(tasks):
            nursery.start_soon(one, n // tasks)
    client.close()
    return (time.perf_counter() - start) / n


async def measure(port: int, n: int, rounds: int) -> dict[str, float | None]:
    cases: dict[str, Callable[[], Awaitable[float | None]]] = {
        "raw_resp_us": lambda: raw_resp(port, n),
        "coredis_us": lambda: coredis_rt(port, n),
        "coredis_x10_us": lambda: coredis_rt(port, n, 10),
        "redispy_thread_us": lambda: redispy_thread(port, n),
        "redispy_thread_x10_us": lambda: redispy_thread(port, n, 10),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():  # alternated, so load drifts hit every case
            value = await case()
            if value is not None:
                samples[name].append(value * 1e6)
    return {
        name: round(statistics.median(values), 1) if values else None
        for name, values in samples.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="GETs per round and case")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server is not installed (bash scripts/test installs it)", file=sys.stderr)
        return 1
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(b"SET a x\r\n")
                sock.recv(100)
            result = trio.run(measure, port, args.n, args.rounds)
        finally:
            server.kill()
            server.wait()
    for name, value in result.items():
        print(f"{name:24} {value if value is not None else 'n/a (redis-py not installed)'}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
