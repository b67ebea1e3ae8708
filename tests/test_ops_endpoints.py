"""Plain requests on the serving port: health, readiness while draining, OPTIONS, metrics;
answered without an upgrade and without a warning; anything else as before."""

from __future__ import annotations

import logging

import orjson
import pytest
import trio
import trio.testing
from _attacker import Attacker, hello_app, serving
from hypothesis import given, settings
from hypothesis import strategies as st

from jbtrio._runtime import Server, ServerConfig
from jbtrio._runtime._endpoints import Endpoints, serve_plain
from jbtrio._runtime._plain_http import (
    MAX_HEAD,
    UNDECIDED,
    PlainRequest,
    PlainResponse,
    RequestSniffer,
)

CONFIG = ServerConfig(ping_interval=None)


async def ask(server: Server, request: bytes) -> tuple[int, bytes]:
    stream = await server.open_memory_stream()
    await stream.send_all(request)
    answer = b""
    while chunk := await stream.receive_some():
        answer += chunk
    await stream.aclose()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


async def test_health_and_readiness_without_a_warning(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving(hello_app(), CONFIG) as server:
        assert await ask(server, get("/healthz")) == (200, b"ok\n")
        assert await ask(server, get("/readyz?probe=1")) == (200, b"ready\n")
        assert (await ask(server, get("/healthz", "HEAD")))[0] == 200
        assert await ask(server, get("/metrics")) == (404, b"metrics are off\n")
        assert (await ask(server, get("/f", "POST")))[0] == 405
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_readyz_is_503_while_draining_and_upgrades_are_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(hello_app(), CONFIG).run_in)
        peer = Attacker(await server.open_memory_stream())
        assert await peer.handshake() == 101
        # a call would hold the drain open; here the drain is only the flag's window
        server.endpoints.draining = True
        assert (await ask(server, get("/readyz")))[0] == 503
        assert (await ask(server, get("/healthz")))[0] == 200
        late = Attacker(await server.open_memory_stream())
        assert await late.handshake() == 503
        await peer.stream.aclose()
        await server.shutdown(grace=0)


async def test_other_plain_gets_keep_todays_answer(autojump_clock: trio.testing.MockClock) -> None:
    async with serving(hello_app(), CONFIG) as server:
        status, body = await ask(server, get("/health"))
        assert status == 400
        assert b"subprotocol" in body


async def test_options_answers_what_the_app_declares(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serving(hello_app(), CONFIG) as server:
        status, body = await ask(server, get("/f", "OPTIONS"))
        assert (status, orjson.loads(body)) == (200, {})
        assert (await ask(server, get("/nowhere", "OPTIONS")))[0] == 404


async def test_a_websocket_at_a_reserved_path_is_an_upgrade(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serving(hello_app(), CONFIG) as server:
        peer = Attacker(await server.open_memory_stream(), path="/healthz")
        assert await peer.handshake() == 404  # no app mounted there: the upgrade's answer
        await peer.stream.aclose()


def test_the_sniffer_byte_by_byte() -> None:
    request = b"OPTIONS /ivr?x=1 HTTP/1.1\r\nHost: a\r\nX-Y:  z \r\n\r\n"
    sniffer = RequestSniffer()
    verdicts = [sniffer.feed(request[i : i + 1]) for i in range(len(request))]
    assert all(v is UNDECIDED for v in verdicts[:-1])
    assert verdicts[-1] == PlainRequest("OPTIONS", "/ivr", (("host", "a"), ("x-y", "z")))
    upgrade = b"GET /ivr HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"
    assert RequestSniffer().feed(upgrade) == upgrade  # not a reserved path: at once
    reserved = b"GET /metrics HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"
    assert RequestSniffer().feed(reserved) == reserved
    assert RequestSniffer().feed(b"GET /ivr HT") is UNDECIDED


def test_the_sniffer_bounds_the_head() -> None:
    long = b"OPTIONS /ivr HTTP/1.1\r\n" + b"X: " + b"a" * MAX_HEAD
    verdict = RequestSniffer().feed(long)
    assert isinstance(verdict, PlainResponse)
    assert verdict.status == 431
    assert isinstance(RequestSniffer().feed(b"BAD\r\n\r\n"), PlainResponse)
    no_line = b"x" * (MAX_HEAD + 1)
    assert RequestSniffer().feed(no_line) == no_line  # for the engine to refuse


async def test_metrics_on_a_port_of_their_own() -> None:
    endpoints = Endpoints(hello_app())
    endpoints.metrics = lambda: (b"jbtrio_x 1\n", "text/plain")
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(serve_plain, endpoints, "127.0.0.1", 0)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(get("/metrics"))
        answer = b""
        while chunk := await stream.receive_some():
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert answer.endswith(b"\r\n\r\njbtrio_x 1\n")
        await stream.aclose()
        nursery.cancel_scope.cancel()


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=MAX_HEAD * 2),
        st.sampled_from(
            [
                b"GET /ivr HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
                b"OPTIONS /ivr HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\n\r\n",
                b"HEAD /metrics HTTP/1.1\r\nX: \xff\r\n\r\n",
            ]
        ),
    ),
    st.lists(st.integers(min_value=1, max_value=64), max_size=40),
)
def test_the_sniffer_on_any_bytes(data: bytes, cuts: list[int]) -> None:
    """Any bytes in any pieces: no exception, a verdict once the head is complete or too
    long, and bytes handed to the engine are exactly those fed so far."""
    sniffer = RequestSniffer()
    fed = b""
    rest = data
    for size in [*cuts, len(data)]:
        piece, rest = rest[:size], rest[size:]
        if not piece:
            continue
        fed += piece
        verdict = sniffer.feed(piece)
        if verdict is UNDECIDED:
            assert len(fed) <= MAX_HEAD  # bounded: a verdict past it
            continue
        if isinstance(verdict, bytes):
            assert verdict == fed
        else:
            assert isinstance(verdict, PlainRequest | PlainResponse)
        return
