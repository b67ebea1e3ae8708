"""The usual upgrade request's own path (:mod:`jbtrio._runtime._upgrade_head`) against
websockets' engine reading every request, as the sans-IO backend always did (issue 23).

Each request of the corpus (jambonz's, with its fields' case, order and blanks varied; extra,
missing and repeated fields; wrong versions and keys; subprotocol lists; plain requests;
oversized heads; garbage) is served both ways, whole and split across two reads at chosen
places (the jambonz request at every byte): the outcome (accepted with which handshake and
subprotocol, refused with which status and reason, failed why), the read after which it was
decided, what the check saw, every byte written back (the Date aside) and, once accepted,
what the socket then reads must be the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from jbtrio._runtime import _sansio_upgrade
from jbtrio._runtime._plain_http import Answered, PlainRequest, PlainResponse
from jbtrio._runtime._sansio_open import open_socket
from jbtrio._runtime._sansio_socket import Socket
from jbtrio._runtime._transport_api import (
    AUDIO_SUBPROTOCOL,
    SUBPROTOCOL,
    Handshake,
    HandshakeFailed,
    HandshakeRejected,
    Keepalive,
    SocketClosed,
    SocketOptions,
    basic_auth_header,
    credentials_match,
)
from jbtrio._runtime._upgrade_head import FAST_HEAD, parse_head

OPTIONS = SocketOptions(
    handshake_timeout=10.0,
    max_message_bytes=1000,
    close_timeout=1.0,
    keepalive=Keepalive(None, 10.0),
)
AUTH = basic_auth_header("user", "pass")
KEY = "dGhlIHNhbXBsZSBub25jZQ=="

#: What jambonz (the ``ws`` npm client) sends, field by field.
JAMBONZ = [
    "GET /app HTTP/1.1",
    "Sec-WebSocket-Version: 13",
    f"Sec-WebSocket-Key: {KEY}",
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    "Sec-WebSocket-Protocol: ws.jambonz.org",
    "user-agent: jambonz",
    "Host: 10.0.0.1:3000",
]
#: A masked text frame ("hi") and a close frame (1000), as a client sends them.
FRAMES = b"\x81\x82\x01\x02\x03\x04" + bytes(a ^ b for a, b in zip(b"hi", b"\x01\x02", strict=True))
FRAMES += b"\x88\x82\x01\x02\x03\x04" + bytes(
    a ^ b for a, b in zip((1000).to_bytes(2, "big"), b"\x01\x02", strict=True)
)


def request(lines: list[str], *, ending: str = "\r\n") -> bytes:
    return (ending.join(lines) + ending + ending).encode("latin-1")


def replaced(name: str, *values: str) -> list[str]:
    """JAMBONZ with the field ``name`` replaced by ``values`` (none: removed)."""
    out = [line for line in JAMBONZ if line.split(":", 1)[0].lower() != name.lower()]
    return out + [f"{name}: {value}" for value in values]


def with_lines(*extra: str) -> list[str]:
    return [*JAMBONZ, *extra]


def at(path: str) -> list[str]:
    return [f"GET {path} HTTP/1.1", *JAMBONZ[1:]]


CORPUS: dict[str, bytes] = {
    "jambonz": request(JAMBONZ),
    "jambonz with credentials": request([*at("/auth"), f"Authorization: {AUTH.decode()}"]),
    "bad credentials": request([*at("/auth"), "Authorization: Basic eDp5"]),
    "no credentials": request(at("/auth")),
    "the bench's": (
        b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade"
        b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: ws.jambonz.org\r\n\r\n"
    ),
    "query and fragment": request(at("/app?x=1&y=2#frag")),
    "root path": request(at("/")),
    "query only": request(at("?x=1")),
    "no handler at the path": request(at("/nothing")),
    "reserved path": request(at("/healthz")),
    "absolute target": request(at("http://10.0.0.1/app")),
    "fields in reverse": request([JAMBONZ[0], *reversed(JAMBONZ[1:])]),
    "lower-case names": request([JAMBONZ[0]] + [line.lower() for line in JAMBONZ[1:]]),
    "upper-case names": request(
        [JAMBONZ[0]]
        + [
            line.split(":", 1)[0].upper() + ":" + line.split(":", 1)[1]
            for line in JAMBONZ[1:]
            if "Key" not in line
        ]
        + [f"Sec-WebSocket-Key: {KEY}"]
    ),
    "Upgrade: WebSocket": request(replaced("Upgrade", "WebSocket")),
    "Connection: upgrade": request(replaced("Connection", "upgrade")),
    "no blank after colons": request(
        [JAMBONZ[0]] + [line.replace(": ", ":") for line in JAMBONZ[1:]]
    ),
    "blanks and tabs around values": request(
        [JAMBONZ[0]] + [line.replace(": ", ": \t ") + " \t" for line in JAMBONZ[1:]]
    ),
    "blank before a colon": request(with_lines("Host : x")),
    "blank in a name": request(with_lines("User Agent: x")),
    "no colon": request(with_lines("Pragma")),
    "empty name": request(with_lines(": x")),
    "empty value": request(with_lines("Pragma:")),
    "folded line": request(with_lines("Pragma: a", " b")),
    "control character": request(with_lines("Pragma: a\x01b")),
    "obs-text value": request(with_lines("User-Agent: caf\xe9")),
    "tab inside a value": request(with_lines("Pragma: a\tb")),
    "extra fields": request(with_lines("Pragma: no-cache", "Cache-Control: no-cache", "X-A: 1")),
    "Origin": request(with_lines("Origin: http://example.com")),
    "two Origins": request(with_lines("Origin: http://a", "Origin: http://b")),
    "Content-Length: 0": request(with_lines("Content-Length: 0")),
    "Content-Length: 5": request(with_lines("Content-Length: 5")),
    "Transfer-Encoding": request(with_lines("Transfer-Encoding: chunked")),
    "Sec-WebSocket-Accept from the client": request(with_lines("Sec-WebSocket-Accept: x")),
    "Upgrade-Insecure-Requests": request(with_lines("Upgrade-Insecure-Requests: 1")),
    "Connection-ish field": request(with_lines("Connectionx: 1")),
    "keep-alive, Upgrade": request(replaced("Connection", "keep-alive, Upgrade")),
    "Connection: close": request(replaced("Connection", "close")),
    "websocket, h2c": request(replaced("Upgrade", "websocket, h2c")),
    "Upgrade: h2c": request(replaced("Upgrade", "h2c")),
    "two Upgrades": request(replaced("Upgrade", "websocket", "websocket")),
    "two Connections": request(replaced("Connection", "Upgrade", "Upgrade")),
    "two keys": request(replaced("Sec-WebSocket-Key", KEY, KEY)),
    "two versions": request(replaced("Sec-WebSocket-Version", "13", "13")),
    "two subprotocol fields": request(replaced("Sec-WebSocket-Protocol", "foo", SUBPROTOCOL)),
    "two extension fields": request(replaced("Sec-WebSocket-Extensions", "a", "b")),
    "no Upgrade": request(replaced("Upgrade")),
    "no Connection": request(replaced("Connection")),
    "no key": request(replaced("Sec-WebSocket-Key")),
    "no version": request(replaced("Sec-WebSocket-Version")),
    "no subprotocol": request(replaced("Sec-WebSocket-Protocol")),
    "no Host": request(replaced("Host")),
    "version 8": request(replaced("Sec-WebSocket-Version", "8")),
    "version 013": request(replaced("Sec-WebSocket-Version", "013")),
    "version 13 with blanks": request(replaced("Sec-WebSocket-Version", " 13 ")),
    "short key": request(replaced("Sec-WebSocket-Key", "c2hvcnQ=")),
    "key without padding": request(replaced("Sec-WebSocket-Key", KEY.rstrip("="))),
    "key not base64": request(replaced("Sec-WebSocket-Key", "!" * 24)),
    "key with odd last bits": request(replaced("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZR==")),
    "key with a blank inside": request(replaced("Sec-WebSocket-Key", "dGhlIHNh bXBsZSBub25jZQ==")),
    "key of 32 bytes": request(replaced("Sec-WebSocket-Key", "A" * 43 + "=")),
    "key with obs-text": request(replaced("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZ\xe9==")),
    "two subprotocols": request(replaced("Sec-WebSocket-Protocol", "ws.jambonz.org, foo")),
    "audio subprotocol": request(replaced("Sec-WebSocket-Protocol", AUDIO_SUBPROTOCOL)),
    "both subprotocols": request(
        replaced("Sec-WebSocket-Protocol", f"{AUDIO_SUBPROTOCOL},{SUBPROTOCOL}")
    ),
    "unknown subprotocol": request(replaced("Sec-WebSocket-Protocol", "foo")),
    "subprotocol the check picks but not offered": request(
        replaced("Sec-WebSocket-Protocol", "pick-another")
    ),
    "trailing comma": request(replaced("Sec-WebSocket-Protocol", "ws.jambonz.org,")),
    "leading comma": request(replaced("Sec-WebSocket-Protocol", ",ws.jambonz.org")),
    "empty list item": request(replaced("Sec-WebSocket-Protocol", "foo,,ws.jambonz.org")),
    "blanks around commas": request(replaced("Sec-WebSocket-Protocol", "foo \t, ws.jambonz.org")),
    "not a token": request(replaced("Sec-WebSocket-Protocol", "ws.jambonz.org;x")),
    "empty subprotocol": request(replaced("Sec-WebSocket-Protocol", "")),
    "extension offers": request(
        replaced("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover, x")
    ),
    "malformed extension": request(replaced("Sec-WebSocket-Extensions", ";;;")),
    "POST": request(["POST /app HTTP/1.1", *JAMBONZ[1:]]),
    "HEAD": request(["HEAD /app HTTP/1.1", *JAMBONZ[1:]]),
    "lower-case get": request(["get /app HTTP/1.1", *JAMBONZ[1:]]),
    "HTTP/1.0": request(["GET /app HTTP/1.0", *JAMBONZ[1:]]),
    "HTTP/2": request(["GET /app HTTP/2", *JAMBONZ[1:]]),
    "two blanks in the request line": request(["GET  /app HTTP/1.1", *JAMBONZ[1:]]),
    "blank after the version": request(["GET /app HTTP/1.1 ", *JAMBONZ[1:]]),
    "no target": request(["GET HTTP/1.1", *JAMBONZ[1:]]),
    "non-ASCII target": request(["GET /caf\xe9 HTTP/1.1", *JAMBONZ[1:]]),
    "control in the target": request(["GET /a\x01b HTTP/1.1", *JAMBONZ[1:]]),
    "plain health check": request(["GET /healthz HTTP/1.1", "Host: x"]),
    "plain GET": request(["GET /app HTTP/1.1", "Host: x"]),
    "OPTIONS": request(["OPTIONS /app HTTP/1.1", "Host: x"]),
    "bare LF endings": request(JAMBONZ, ending="\n"),
    "one bare LF": request(JAMBONZ).replace(b"Upgrade\r\n", b"Upgrade\n"),
    "stray CR": request(JAMBONZ).replace(b"Upgrade\r\n", b"Upgrade\r\r\n"),
    "CR inside a line": request(with_lines("Pragma: a\rb")),
    "a long value": request(with_lines("X-Long: " + "a" * (FAST_HEAD + 100))),
    "a too long value": request(with_lines("X-Long: " + "a" * 9000)),
    "a too long target": request(at("/" + "a" * 9000)),
    "40 more fields": request(with_lines(*(f"X-F{i}: {i}" for i in range(40)))),
    "130 more fields": request(with_lines(*(f"X-F{i}: {i}" for i in range(130)))),
    "frames after the request": request(JAMBONZ) + FRAMES,
    "a partial frame after the request": request(JAMBONZ) + FRAMES[:3],
    "no blank line": request(JAMBONZ)[:-2],
    "half a request": request(JAMBONZ)[:100],
    "nothing": b"",
    "TLS hello": bytes.fromhex("160301020001000" + "1fc0303") + b"\x00" * 40,
    "garbage lines": b"hello\r\nworld\r\n\r\n",
    "just a blank line": b"\r\n\r\n",
    "a line without CRLF forever": b"GET /app HTTP/1.1\r\nHost: " + b"x" * 5000,
}


def check(handshake: Handshake, seen: list[Handshake]) -> str:
    """Decides as jbtrio's listener does (subprotocol, credentials, path), and picks a
    subprotocol nobody offered when asked to."""
    seen.append(handshake)
    offered = handshake.subprotocols
    if "pick-another" in offered:
        return "another"
    if SUBPROTOCOL not in offered and AUDIO_SUBPROTOCOL not in offered:
        raise HandshakeRejected(400, f"subprotocol {SUBPROTOCOL} required")
    if handshake.path.startswith("/auth") and not credentials_match(handshake, AUTH):
        raise HandshakeRejected(401, "bad or missing credentials")
    if handshake.path == "/nothing":
        raise HandshakeRejected(404, "no app mounted at /nothing")
    return SUBPROTOCOL if SUBPROTOCOL in offered else AUDIO_SUBPROTOCOL


def answer(plain: PlainRequest) -> PlainResponse:
    return PlainResponse(200, f"{plain.method} {plain.path}\n".encode())


@attrs.frozen
class Observed:
    outcome: Any
    decided_after: int | None
    seen: list[Handshake]
    written: bytes
    read: list[object]


async def serve(chunks: list[bytes], *, plain: bool) -> Observed:
    """Serve one connection whose peer sends ``chunks`` (each read apart), then its end."""
    client, server = trio.testing.memory_stream_pair()
    seen: list[Handshake] = []
    found: list[Any] = []
    read: list[object] = []

    async def server_side() -> None:
        async with open_socket(
            server,
            OPTIONS,
            lambda handshake: check(handshake, seen),
            answer=answer if plain else None,
        ) as outcome:
            if isinstance(outcome, Socket):
                found.append(("upgraded", outcome.handshake, outcome.subprotocol, outcome.path))
                try:
                    while True:
                        read.append(await outcome.receive())
                except SocketClosed as closed:
                    read.append((closed.code, closed.reason))
            elif isinstance(outcome, HandshakeRejected):
                found.append(("rejected", outcome.status, outcome.reason))
            else:
                assert isinstance(outcome, HandshakeFailed | Answered)
                found.append(outcome)

    decided_after = None
    written = b""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server_side)
        for index, chunk in enumerate([*chunks, FRAMES]):
            if index == len(chunks) and not (
                found and isinstance(found[0], tuple) and found[0][0] == "upgraded"
            ):
                break  # the frames only for a socket
            try:
                await client.send_all(chunk)
            except trio.BrokenResourceError:
                break  # the server is done with the connection
            await trio.testing.wait_all_tasks_blocked()
            if found and decided_after is None:
                decided_after = index
        await client.send_stream.aclose()
        while True:
            data = await client.receive_some()
            if not data:
                break
            written += data
    return Observed(
        found[0],
        decided_after,
        seen,
        re.sub(rb"Date: [^\r\n]*\r\n", b"Date: -\r\n", written),
        read,
    )


@contextmanager
def engine_only() -> Iterator[None]:
    """Every request goes to websockets' engine, as before the fast path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_sansio_upgrade, "parse_head", lambda _: None)
        patch.setattr(_sansio_upgrade, "may_be_head", lambda _: False)
        yield


async def both_ways(chunks: list[bytes], *, plain: bool = True) -> Observed:
    fast = await serve(chunks, plain=plain)
    with engine_only():
        slow = await serve(chunks, plain=plain)
    assert fast == slow
    return fast


@pytest.mark.parametrize("name", list(CORPUS))
async def test_the_fast_path_answers_as_the_engine(name: str) -> None:
    data = CORPUS[name]
    for plain in (True, False):
        await both_ways([data], plain=plain)
    # Split in two: at the fields' boundaries and within them.
    for cut in sorted({1, 3, 4, 15, 16, 17, len(data) // 2, len(data) - 2, len(data) - 1}):
        if 0 < cut < len(data):
            await both_ways([data[:cut], data[cut:]])


@pytest.mark.parametrize(
    "name", ["jambonz", "jambonz with credentials", "bad credentials", "blank before a colon"]
)
async def test_split_at_every_byte_the_fast_path_answers_as_the_engine(name: str) -> None:
    data = CORPUS[name]
    for cut in range(1, len(data)):
        await both_ways([data[:cut], data[cut:]])


async def test_a_request_a_byte_at_a_time_is_answered_as_the_engine() -> None:
    for name in ("jambonz", "folded line", "no key"):
        data = CORPUS[name]
        await both_ways([data[i : i + 1] for i in range(len(data))])


async def test_jambonz_request_takes_the_fast_path() -> None:
    """The corpus would pass with no fast path at all: the usual requests do take it."""
    for name in ("jambonz", "jambonz with credentials", "the bench's", "extra fields"):
        data = CORPUS[name]
        head = parse_head(data[: data.index(b"\r\n\r\n")])
        assert head is not None, name
    observed = await serve([CORPUS["jambonz"]], plain=True)
    assert observed.outcome[0] == "upgraded"
    assert observed.written.startswith(
        b"HTTP/1.1 101 Switching Protocols\r\nDate: -\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: ws.jambonz.org\r\n\r\n"
    )
    assert observed.read == ["hi", (1000, None)]


def test_what_the_fast_path_leaves_to_the_engine() -> None:
    for name in (
        "Origin",
        "HTTP/1.0",
        "POST",
        "two keys",
        "version 8",
        "short key",
        "a long value",
    ):
        data = CORPUS[name]
        assert parse_head(data[: data.find(b"\r\n\r\n")]) is None, name
