"""What the REST client costs: jbtrio.rest (httpx on Trio) beside a bare h11 loop on Trio.

Run with ``python bench/rest_client.py`` (needs ``jbtrio[rest]``; ~30 s). A canned server (h11
over Trio, in a child process so its CPU is not counted) answers every request with a small
JSON call record, as jambonz's ``GET /Calls/{sid}`` does, with keep-alive. The client side is
measured in this process, for N concurrent tasks (1 and 20), each doing requests back to
back for ``--seconds``:

- ``jbtrio.rest``: ``Client.get_call`` and ``Client.mute`` (a ``PUT`` with a JSON body), so
  the figure includes typing the answer, the retry/deadline wrapper and httpx.
- ``httpx``: a bare ``httpx.AsyncClient.get`` and ``.json()``: what the library alone costs.
- ``httpcore``: httpx's transport alone (its connection pool, no URL/model layer).
- ``h11 floor``: one keep-alive connection per task speaking HTTP/1.1 with h11 directly, no
  pool, no typing: the least a Python HTTP client on Trio can do here. Not a product: it is
  the yardstick for what httpx and jbtrio add.

Figures: requests per second, and client CPU microseconds per request (process CPU time over
the window, so the loop's own overhead counts). Also: import time of ``jbtrio.rest`` on top
of ``jbtrio`` and the cost of making a ``Client``. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import h11
import httpcore
import httpx
import trio

from jbtrio import rest

PATH = "/v1/Accounts/acct-1/Calls/c-1"
CALL = (
    b'{"call_sid":"c-1","account_sid":"acct-1","call_id":"x@sip","call_status":"in-progress",'
    b'"direction":"inbound","from":"+15550001111","to":"+15550002222","sip_status":200,'
    b'"service_url":"http://10.0.0.9:3000"}'
)


# --------------------------------------------------------------------------- server


async def _serve_connection(stream: trio.SocketStream) -> None:
    conn = h11.Connection(h11.SERVER)
    method = b"GET"
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data:
                    return
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                method = event.method
            elif isinstance(event, h11.EndOfMessage):
                body = b"" if method == b"PUT" else CALL  # an update is answered 202, empty
                headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
                out = conn.send(
                    h11.Response(status_code=202 if body == b"" else 200, headers=headers)
                )
                if body:
                    out = (out or b"") + (conn.send(h11.Data(data=body)) or b"")
                out = (out or b"") + (conn.send(h11.EndOfMessage()) or b"")
                await stream.send_all(out)
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return
    except (trio.BrokenResourceError, h11.ProtocolError):
        return


async def serve() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    print(listeners[0].socket.getsockname()[1], flush=True)  # the port, for the parent
    await trio.serve_listeners(_serve_connection, listeners)


# --------------------------------------------------------------------------- clients


async def h11_floor(port: int, tasks: int, seconds: float) -> tuple[int, float]:
    done = 0

    async def worker() -> None:
        nonlocal done
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(
            method="GET",
            target=PATH,
            headers=[("Host", "127.0.0.1"), ("Authorization", "Bearer k")],
        )
        while trio.current_time() < deadline:
            out = conn.send(request) or b""
            out += conn.send(h11.EndOfMessage()) or b""
            await stream.send_all(out)
            body = b""
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            json.loads(body)
            conn.start_next_cycle()
            done += 1
        await stream.aclose()

    deadline = trio.current_time() + seconds
    cpu = time.process_time()
    async with trio.open_nursery() as nursery:
        for _ in range(tasks):
            nursery.start_soon(worker)
    return done, time.process_time() - cpu


async def _loop(
    tasks: int, seconds: float, op: Callable[[], Awaitable[object]]
) -> tuple[int, float]:
    done = 0

    async def worker() -> None:
        nonlocal done
        while trio.current_time() < deadline:
            await op()
            done += 1

    await op()  # open a connection before the clock starts
    deadline = trio.current_time() + seconds
    cpu = time.process_time()
    async with trio.open_nursery() as nursery:
        for _ in range(tasks):
            nursery.start_soon(worker)
    return done, time.process_time() - cpu


async def bare_httpx(port: int, tasks: int, seconds: float) -> tuple[int, float]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

        async def op() -> None:
            reply = await client.get(PATH, headers={"Authorization": "Bearer k"})
            reply.json()

        return await _loop(tasks, seconds, op)


async def bare_httpcore(port: int, tasks: int, seconds: float) -> tuple[int, float]:
    url = f"http://127.0.0.1:{port}{PATH}"
    async with httpcore.AsyncConnectionPool() as pool:

        async def op() -> None:
            reply = await pool.request("GET", url, headers={"Authorization": "Bearer k"})
            json.loads(reply.content)

        return await _loop(tasks, seconds, op)


async def jbtrio_rest(port: int, tasks: int, seconds: float, method: str) -> tuple[int, float]:
    async with rest.Client(f"http://127.0.0.1:{port}", "acct-1", "k") as client:
        op: Callable[[], Awaitable[object]] = (
            (lambda: client.get_call("c-1")) if method == "GET" else (lambda: client.mute("c-1"))
        )
        return await _loop(tasks, seconds, op)


def import_cost() -> dict[str, float]:
    code = (
        "import time; t=time.perf_counter(); import jbtrio; a=time.perf_counter();"
        "import jbtrio.rest; b=time.perf_counter();"
        "c0=time.perf_counter(); jbtrio.rest.Client('http://127.0.0.1:9','a','k');"
        "c1=time.perf_counter(); jbtrio.rest.Client('http://127.0.0.1:9','a','k');"
        "c2=time.perf_counter();"
        "print((b-a)*1e3, (c1-c0)*1e3, (c2-c1)*1e3)"
    )
    runs = [
        [float(x) for x in subprocess.check_output([sys.executable, "-c", code]).split()]
        for _ in range(5)
    ]
    best = [min(r[i] for r in runs) for i in range(3)]
    return {"import_ms": best[0], "first_client_ms": best[1], "next_client_ms": best[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        trio.run(serve)
        return

    with subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    ) as server:
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            results: dict[str, object] = {"costs": import_cost()}
            print(f"import jbtrio.rest after jbtrio: {results['costs']}")
            print(f"{'client':<22}{'tasks':>6}{'req/s':>10}{'CPU us/req':>12}")
            for tasks in (1, 20):
                for name, run in (
                    ("h11 floor GET", lambda t=tasks: h11_floor(port, t, args.seconds)),
                    ("httpcore GET", lambda t=tasks: bare_httpcore(port, t, args.seconds)),
                    ("httpx GET", lambda t=tasks: bare_httpx(port, t, args.seconds)),
                    (
                        "jbtrio.rest GET",
                        lambda t=tasks: jbtrio_rest(port, t, args.seconds, "GET"),
                    ),
                    (
                        "jbtrio.rest PUT",
                        lambda t=tasks: jbtrio_rest(port, t, args.seconds, "PUT"),
                    ),
                ):
                    done, cpu = trio.run(run)
                    rate = done / args.seconds
                    per = cpu / done * 1e6
                    results[f"{name} x{tasks}"] = {"rps": round(rate), "cpu_us": round(per)}
                    print(f"{name:<22}{tasks:>6}{rate:>10.0f}{per:>12.0f}")
            print(json.dumps(results))
        finally:
            server.terminate()


if __name__ == "__main__":
    main()
