"""The benchmark app on jbtrio, as a user would write it: typed verb builders, validation on.

Served as ``jbtrio serve`` serves an app (with :func:`jbtrio.tune_gc`); ``--no-gc-tuning`` is a
program embedding ``jbtrio.serve`` that leaves CPython's garbage collector at its defaults.

Answers ``session:new`` with a say and a gather; answers each gather hook with a say and the
next gather (the same app as ``bench/node/server_*.js``). Bound to 127.0.0.1 only.

    .venv/bin/python bench/jbtrio_server.py PORT            # the hooks app
    .venv/bin/python bench/jbtrio_server.py PORT --tts      # the TTS app (needs jbtrio._tts)
    .venv/bin/python bench/jbtrio_server.py PORT --flow     # the hooks app as a flow
    .venv/bin/python bench/jbtrio_server.py PORT --bare-tw  # bare trio-websocket,
                                                            # canned acks
    .venv/bin/python bench/jbtrio_server.py PORT --bare-transport  # jbtrio's transport
                                                            # alone, canned acks: the ceiling
    .venv/bin/python bench/jbtrio_server.py PORT --no-gc-tuning  # embedded, default GC
    .venv/bin/python bench/jbtrio_server.py PORT --gather-per-hook  # a new Gather per answer
    .venv/bin/python bench/jbtrio_server.py PORT --transport trio-websocket  # the other backend

``--bare-tw`` is not jbtrio: a trio-websocket server that acks with canned JSON (the library
jbtrio's transport replaced). ``--bare-transport`` is jbtrio's own transport with canned acks:
the ceiling of jbtrio on this machine (like ``server_ws.js`` is for Node).
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib
import json
import logging
import signal
import sys
import tracemalloc
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

import jbtrio
from jbtrio._runtime import enable_metrics
from jbtrio.verbs import Gather, Say

SERVICE_PATH = "/bench"
HOOK = "/gather"
GREETING = "Welcome to the benchmark line."
PROMPT = "Tell me what you need, after the tone."
ANSWER = "You said: I would like to book a car."

#: The 300-delta answer of the TTS case; the same words as ``bench/node/messages.js``.
TTS_TEXT = (
    "Sure. The weather in Boston today is mostly sunny with a light breeze from "
    "the west, and the high will be around seventy one degrees. Tonight it gets cooler, so "
    "bring a jacket if you plan to be out late!"
)
TTS_WORDS = TTS_TEXT.split(" ")
TTS_DELTAS = 300


def tts_deltas() -> list[str]:
    """The answer as an LLM would stream it: 300 deltas, a word and its space each."""
    return [TTS_WORDS[i % len(TTS_WORDS)] + " " for i in range(TTS_DELTAS)]


def gather() -> Gather:
    return Gather(input=["speech"], action_hook=HOOK, timeout=10, say=Say(text=PROMPT))


#: The gather every answer ends with, built (and validated) once, as the Node apps keep theirs
#: in a const: builders are immutable, so one instance serves every call. ``--gather-per-hook``
#: builds it anew for each answer instead.
GATHER = gather()


def hooks_app(gather_per_hook: bool = False) -> jbtrio.App:
    app = jbtrio.App()

    @app.route(SERVICE_PATH)
    async def ivr(call: jbtrio.Call) -> None:
        await call.start.reply([Say(text=GREETING), GATHER])
        async for event in call.events():
            if event.hook == HOOK and event.needs_reply:
                await event.reply([Say(text=ANSWER), gather() if gather_per_hook else GATHER])

    return app


def flow_app() -> jbtrio.App:
    """The hooks app written as a flow (``@app.flow``), as issue 23's harness serves it."""
    app = jbtrio.App()

    @app.flow(SERVICE_PATH)
    async def ivr(call: jbtrio.Call) -> jbtrio.Steps:
        yield [Say(text=GREETING), GATHER]
        while True:
            yield [Say(text=ANSWER), GATHER]

    return app


def tts_available() -> str | None:
    """None when jbtrio's TTS pump is importable, else why not."""
    try:
        importlib.import_module("jbtrio._tts")
    except ImportError as exc:
        return f"jbtrio._tts is not importable yet ({exc})"
    return None


async def pump_tts(call: jbtrio.Call, deltas: list[str]) -> None:
    """Stream ``deltas`` through jbtrio's TTS pump, as an app forwarding LLM deltas would.

    ``call.tts.push(delta)`` per delta, then ``call.tts.flush()`` (jbtrio/_tts.py); the pump
    decides how many ``tts:tokens`` messages that takes (it may coalesce deltas).
    """
    tts: Any = getattr(call, "tts", None)
    if tts is None:
        raise RuntimeError("jbtrio.Call has no tts attribute yet")
    for delta in deltas:
        await tts.push(delta)
    await tts.flush()


def tts_app() -> jbtrio.App:
    app = jbtrio.App()
    deltas = tts_deltas()

    @app.route(SERVICE_PATH)
    async def tts(call: jbtrio.Call) -> None:
        await call.start.reply([Say(text=GREETING), gather()])
        async for event in call.events():
            if event.hook == HOOK and event.needs_reply:
                # The LLM answer: a streaming say, then the deltas through the TTS pump.
                await event.reply([Say(stream=True)])
                await pump_tts(call, deltas)

    return app


#: The hooks app as a module attribute, for ``jbtrio serve jbtrio_server:APP --workers N``
#: (the ``jbtrio_2proc`` server of bench/run.py).
APP = hooks_app()
#: The flow app, the same way (``jbtrio_flow_2proc`` and ``jbtrio_flow_2proc_compiled``).
FLOW_APP = flow_app()


# ------------------------------------------------------------------ transport ceiling

GREETING_VERBS = json.dumps([Say(text=GREETING).to_dict(), gather().to_dict()])
ANSWER_VERBS = json.dumps([Say(text=ANSWER).to_dict(), gather().to_dict()])


#: What :func:`canned_reply` returns for ``call:status`` completed: close the socket.
CALL_OVER = "call over"


def canned_reply(text: str | bytes) -> str | None:
    """The bare servers' whole app: the canned ack for ``session:new`` and ``verb:hook``,
    :data:`CALL_OVER` when the call completed, else ``None``."""
    msg = json.loads(text)
    kind = msg.get("type")
    if kind == "session:new":
        return f'{{"type":"ack","msgid":"{msg["msgid"]}","data":{GREETING_VERBS}}}'
    if kind == "verb:hook":
        return f'{{"type":"ack","msgid":"{msg["msgid"]}","data":{ANSWER_VERBS}}}'
    if kind == "call:status" and msg["data"].get("call_status") == "completed":
        return CALL_OVER
    return None


async def bare_trio_websocket(port: int) -> None:
    """Bare trio-websocket: parse, ack with canned JSON; no jbtrio, no validation."""

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept(subprotocol="ws.jambonz.org")
        try:
            while True:
                reply = canned_reply(await ws.get_message())
                if reply is CALL_OVER:
                    await ws.aclose(1000)
                    return
                if reply is not None:
                    await ws.send_message(reply)
        except ConnectionClosed:
            return

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, handler, "127.0.0.1", port, None)
        print(f"listening {server.port}", flush=True)


async def bare_transport(port: int) -> None:
    """jbtrio's own transport (the default backend behind ``jbtrio._runtime._transport_api``:
    websockets' sans-IO core on a raw socket) acking with canned JSON: no call core, no app,
    no validation. The ceiling of jbtrio on this machine: what is left between it and
    ``jbtrio`` is jbtrio's own work."""
    from jbtrio._runtime._transport_api import (  # noqa: PLC0415 - only this mode needs it
        HandshakeFailed,
        HandshakeRejected,
        Keepalive,
        SocketClosed,
        SocketOptions,
    )
    from jbtrio._runtime._transports import transport_named  # noqa: PLC0415

    transport = transport_named("websockets")
    options = SocketOptions(
        handshake_timeout=10.0,
        max_message_bytes=1 << 20,
        close_timeout=1.0,
        keepalive=Keepalive(None, 10.0),
    )

    def accept_all(_: object) -> str:
        return "ws.jambonz.org"

    async def handle(stream: trio.SocketStream) -> None:
        async with transport.open_socket(stream, options, accept_all) as ws:
            if isinstance(ws, HandshakeRejected | HandshakeFailed):
                return
            try:
                while True:
                    reply = canned_reply(await ws.receive())
                    if reply is CALL_OVER:
                        return
                    if reply is not None:
                        await ws.send(reply)
            except SocketClosed:
                return

    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
        print(f"listening {listeners[0].socket.getsockname()[1]}", flush=True)
        nursery.start_soon(trio.serve_listeners, handle, listeners)


# ------------------------------------------------------------------ main


async def serve_app(
    app: jbtrio.App,
    port: int,
    introspect: bool = False,
    transport: str = "websockets",
    metrics: bool = True,
) -> None:
    config = jbtrio.ServerConfig(transport=transport)
    # Metrics on, as `jbtrio serve` has them unless --no-metrics (jbtrio_no_metrics: off).
    page = enable_metrics(app) if metrics else None
    async with trio.open_nursery() as nursery:
        server: jbtrio.Server = await nursery.start(
            functools.partial(jbtrio.serve, config=config), app, "127.0.0.1", port
        )
        server.endpoints.metrics = page
        print(f"listening {server.port}", flush=True)
        if introspect:
            nursery.start_soon(report_memory_on_signal, server)


def task_census() -> collections.Counter[str]:
    """Live Trio tasks by coroutine name (numbers and call sids stripped)."""
    census: collections.Counter[str] = collections.Counter()
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if task is None:
            continue
        census[task.coro.__qualname__] += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return census


async def report_memory_on_signal(server: jbtrio.Server) -> None:
    """With ``--introspect``: on each SIGUSR1, print the live tasks per call and, when
    ``--tracemalloc`` is on too, where the live memory was allocated, to stderr."""
    with trio.open_signal_receiver(signal.SIGUSR1) as signals:
        async for _ in signals:
            ncalls = max(1, len(server.calls))
            census = task_census()
            lines = [f"tasks: {sum(census.values())} live, {len(server.calls)} calls"]
            lines += [f"  {n / ncalls:6.2f}/call  {name}" for name, n in census.most_common(30)]
            print("\n".join(lines), file=sys.stderr, flush=True)
            if not tracemalloc.is_tracing():
                continue
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            calls = max(1, len(server.calls))
            total = sum(stat.size for stat in snapshot.statistics("filename"))
            out = [f"tracemalloc: {total / 1024:.0f} KiB live, {len(server.calls)} calls"]
            for group in ("filename", "lineno"):
                for stat in snapshot.statistics(group)[:25]:
                    frame = stat.traceback[0]
                    where = (
                        f"{frame.filename}:{frame.lineno}" if group == "lineno" else frame.filename
                    )
                    out.append(
                        f"  {stat.size / 1024:10.0f} KiB {stat.size / calls:8.0f} B/call "
                        f"{stat.count / calls:6.1f} blocks/call  {where}"
                    )
            print("\n".join(out), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("port", type=int)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--tts", action="store_true", help="the TTS app")
    mode.add_argument("--flow", action="store_true", help="the hooks app as a flow")
    mode.add_argument("--bare-tw", action="store_true", help="bare trio-websocket ceiling")
    mode.add_argument(
        "--bare-transport", action="store_true", help="jbtrio's transport alone, canned acks"
    )
    parser.add_argument(
        "--introspect",
        action="store_true",
        help="on SIGUSR1, print the live tasks per call to stderr (for profiling)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="with --introspect: also where the live memory was allocated (slow)",
    )
    parser.add_argument(
        "--gather-per-hook",
        action="store_true",
        help="build the answer's gather anew for every hook instead of reusing one",
    )
    parser.add_argument(
        "--transport",
        default="websockets",
        help="the websocket backend of the jbtrio server (websockets, trio-websocket)",
    )
    parser.add_argument(
        "--no-metrics",
        action="store_true",
        help="no Prometheus metrics and WARNING logging (jbtrio serve has metrics on and "
        "logs at INFO: a start and an end line per call)",
    )
    parser.add_argument(
        "--no-gc-tuning",
        action="store_true",
        help="leave CPython's garbage collector at its defaults, as a program embedding "
        "jbtrio.serve does unless it calls jbtrio.tune_gc() (jbtrio serve calls it)",
    )
    parser.add_argument(
        "--expect-compiled",
        action="store_true",
        help="refuse to start unless jbtrio is the mypyc-compiled build (jbtrio.COMPILED; "
        "the jbtrio_flow_compiled server runs this script with .venv-compiled's Python)",
    )
    args = parser.parse_args(argv)
    if args.expect_compiled and not jbtrio.COMPILED:
        print(f"not the compiled build: {jbtrio.__file__}", file=sys.stderr)
        return 2
    if not args.no_gc_tuning and not (args.bare_tw or args.bare_transport):
        jbtrio.tune_gc()  # what `jbtrio serve` does before serving
    if args.tracemalloc:
        tracemalloc.start()
    # As `jbtrio serve` logs (INFO: a start and an end line per call), unless --no-metrics.
    logging.basicConfig(
        level=logging.WARNING if args.no_metrics else logging.INFO, stream=sys.stderr
    )
    if args.bare_tw:
        trio.run(bare_trio_websocket, args.port)
        return 0
    if args.bare_transport:
        trio.run(bare_transport, args.port)
        return 0
    if args.tts:
        missing = tts_available()
        if missing is not None:
            print(f"skip: {missing}", file=sys.stderr)
            return 3
        trio.run(serve_app, tts_app(), args.port, False, args.transport)
        return 0
    app = flow_app() if args.flow else hooks_app(args.gather_per_hook)
    trio.run(
        serve_app,
        app,
        args.port,
        args.introspect or args.tracemalloc,
        args.transport,
        not args.no_metrics,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
