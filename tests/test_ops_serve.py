"""The issue's "done when", over real TCP: ``JBTRIO_PORT=... jbtrio serve examples.ivr:app``
(one process and ``--workers 2``) answers /healthz and /readyz, OPTIONS with the declared
variables, /metrics with the call counters moving, and logs a start and an end line per call.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import trio

from jbtrio.testing import Caller, FakeJambonz, JambonzConfig

ROOT = Path(__file__).parent.parent


async def http(port: int, method: str, path: str) -> tuple[int, bytes]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(f"{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    answer = b""
    while chunk := await stream.receive_some():
        answer += chunk
    await stream.aclose()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def metric(page: bytes, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", page.decode(), re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.mark.parametrize("workers", [1, 2])
async def test_serve_as_an_operator_runs_it(workers: int) -> None:
    env = {
        **os.environ,
        "JBTRIO_PORT": "0",
        "JBTRIO_WORKERS": str(workers),
        "JBTRIO_LOG_FORMAT": "json",
        "PYTHONPATH": str(ROOT),
    }
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "jbtrio", "serve", "examples.ivr:app", "--grace", "5"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    err = bytearray()
    workers_ready = trio.Event()
    try:
        async with trio.open_nursery() as nursery:

            async def pump() -> None:
                assert process.stderr is not None
                while chunk := await process.stderr.receive_some():
                    err.extend(chunk)
                    if workers == 1 or err.count(b"ready (pid") >= workers:
                        workers_ready.set()

            nursery.start_soon(pump)
            with trio.fail_after(30):
                first = b""
                while not first.endswith(b"\n"):
                    chunk = await process.stdout.receive_some(1)
                    assert chunk, err.decode()
                    first += chunk
            match = re.search(rb"ws://127\.0\.0\.1:(\d+)", first)
            assert match, first
            port = int(match.group(1))
            with trio.fail_after(60):
                if workers > 1:
                    await workers_ready.wait()
                assert await http(port, "GET", "/healthz") == (200, b"ok\n")
                assert (await http(port, "GET", "/readyz"))[0] == 200
                status, body = await http(port, "OPTIONS", "/ivr")
                assert status == 200
                assert orjson.loads(body)["GREETING"]["type"] == "string"
                _, before = await http(port, "GET", "/metrics")
                assert metric(before, 'jbtrio_calls_total{path="/ivr"}') == 0
                fake = FakeJambonz(JambonzConfig(say_seconds_per_char=0.0, say_min_seconds=0.01))
                for _ in range(2):
                    call = await fake.place_call(
                        f"ws://127.0.0.1:{port}/ivr",
                        caller=Caller(digits=["1"], response_delay=0.01),
                    )
                    assert call.outcome.ok, call.outcome.summary()
                    assert "Hello, and welcome" in " ".join(f.text for f in call.transcript)
                _, after = await http(port, "GET", "/metrics")
                assert metric(after, 'jbtrio_calls_total{path="/ivr"}') == 2
                assert metric(after, 'jbtrio_frames_total{direction="in",path="/ivr"}') > 0
                assert metric(after, 'jbtrio_hook_ack_latency_seconds_count{path="/ivr"}') >= 2
                process.send_signal(signal.SIGTERM)
                assert await process.wait() == 0
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
                await process.wait()
    lines = [orjson.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    events = [line for line in lines if line.get("event") in ("call.start", "call.end")]
    assert [e["event"] for e in events].count("call.start") == 2
    assert [e["event"] for e in events].count("call.end") == 2
    assert all(e["path"] == "/ivr" and e["call_sid"] != "-" for e in events)
    warned = [line["message"] for line in lines if line["level"] in ("WARNING", "ERROR")]
    assert all("shutting down gracefully" in message for message in warned), warned
