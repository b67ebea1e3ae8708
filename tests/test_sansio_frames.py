"""The sans-IO socket's own frame parser against websockets' engine parsing every frame.

:class:`~jbtrio._runtime._sansio_socket.Socket` parses data frames itself and hands the
engine only control frames and whatever fails the connection (issue 23); with
``engine_only=True`` the engine parses the whole stream, as the socket always did before; with
``lazy=True`` the socket starts without the engine and makes it when it needs it.
Each stream below (good frames, and every kind of bad one) is fed both ways, whole, a byte at
a time and in seeded random pieces: the messages delivered, the close code and reason and
every byte written back must be the same.
"""

from __future__ import annotations

import random
import struct

import pytest
import trio
import trio.testing

from jbtrio._runtime._sansio_engine import OpenEngine
from jbtrio._runtime._sansio_inline import feed
from jbtrio._runtime._sansio_socket import Socket
from jbtrio._runtime._sansio_upgrade import engine
from jbtrio._runtime._transport_api import SUBPROTOCOL, Handshake, Keepalive

MAX_MESSAGE = 1000
MAX_FRAGMENTS = 5
MASK = b"\x12\x34\x56\x78"


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    length: int | None = None,
) -> bytes:
    """A client frame, well-formed or not (``rsv``: the reserved bits, ``length``: the
    length the header claims)."""
    size = len(payload) if length is None else length
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    bit = 0x80 if masked else 0
    if size < 126:
        head = bytes((first, bit | size))
    elif size < 65536:
        head = bytes((first, bit | 126)) + struct.pack("!H", size)
    else:
        head = bytes((first, bit | 127)) + struct.pack("!Q", size)
    if not masked:
        return head + payload
    key = (MASK * (len(payload) // 4 + 1))[: len(payload)]
    return head + MASK + bytes(a ^ b for a, b in zip(payload, key, strict=True))


def text(payload: bytes, **kwargs: object) -> bytes:
    return frame(0x1, payload, **kwargs)  # type: ignore[arg-type]


def cont(payload: bytes, **kwargs: object) -> bytes:
    return frame(0x0, payload, **kwargs)  # type: ignore[arg-type]


PING, PONG, CLOSE = 0x9, 0xA, 0x8
CLOSE_1000 = frame(CLOSE, struct.pack("!H", 1000) + b"bye")

STREAMS: dict[str, bytes] = {
    "messages": text(b"hello")
    + frame(0x2, b"\x00\xff")
    + text(b"x" * 126)
    + text(b"y" * 999)
    + text(b"")
    + CLOSE_1000,
    "fragments": text(b"ab", fin=False)
    + frame(PING, b"p")
    + cont(b"")
    + frame(PONG, b"q")
    + cont(b"cd")
    + text(b"after"),
    "utf8 split across fragments": text("é".encode()[:1], fin=False) + cont("é".encode()[1:]),
    "binary fragments": frame(0x2, b"\x01", fin=False) + cont(b"\x02", fin=False) + cont(b""),
    "continuation without a start": text(b"ok") + cont(b"x") + text(b"never"),
    "a continuation after the end": text(b"a", fin=False) + cont(b"b") + cont(b"c"),
    "a new message inside a fragmented one": text(b"a", fin=False) + text(b"b"),
    "reserved bits on a data frame": text(b"ok") + text(b"x", rsv=4) + text(b"never"),
    "reserved bits on a ping": frame(PING, b"p", rsv=1) + text(b"never"),
    "an unmasked data frame": text(b"ok") + text(b"x", masked=False) + text(b"never"),
    "an unmasked ping": frame(PING, b"x", masked=False),
    "a reserved opcode": text(b"ok") + frame(0x3, b"x") + text(b"never"),
    "a reserved control opcode": frame(0xB, b"x") + text(b"never"),
    "a frame over the limit": text(b"ok") + text(b"z" * 1001) + text(b"never"),
    "a frame claiming a huge length": text(b"x", length=2**40),
    "fragments over the limit": text(b"a" * 600, fin=False) + cont(b"b" * 401),
    "fragments over the limit in three": text(b"a" * 300, fin=False)
    + cont(b"b" * 300, fin=False)
    + cont(b"c" * 401),
    "fragments at the limit": text(b"a" * 600, fin=False) + cont(b"b" * 400),
    "a ping over what the limit leaves": text(b"a" * 990, fin=False) + frame(PING, b"p" * 20),
    "too many fragments": text(b"a", fin=False) + cont(b"b", fin=False) * 6 + cont(b"c"),
    "fragments under the bound": text(b"a", fin=False) + cont(b"b", fin=False) * 3 + cont(b"c"),
    "invalid utf-8": text(b"ok") + text(b"\xff\xfe") + text(b"never"),
    "invalid utf-8 across fragments": text(b"\xc3", fin=False) + cont(b"\x28"),
    "a ping too long": frame(PING, b"p" * 126) + text(b"never"),
    "a fragmented ping": frame(PING, b"p", fin=False) + text(b"never"),
    "a close with a bad code": frame(CLOSE, struct.pack("!H", 999)),
    "a close too short": frame(CLOSE, b"\x03"),
    "a close with a bad reason": frame(CLOSE, struct.pack("!H", 1000) + b"\xff"),
    "an empty close": frame(CLOSE) + text(b"never"),
    "a close inside a fragmented message": text(b"a", fin=False) + CLOSE_1000,
    "data after a close": text(b"ok") + CLOSE_1000 + text(b"never") + frame(PING, b"p"),
    "a close with no reason": frame(CLOSE, struct.pack("!H", 1000)),
    "a close with a UTF-8 reason": frame(CLOSE, struct.pack("!H", 1001) + "fin é ✓".encode()),
    "a close with the longest reason": frame(CLOSE, struct.pack("!H", 4000) + b"r" * 123),
    "a close too long": frame(CLOSE, struct.pack("!H", 1000) + b"r" * 124),
    "a close with a reason cut in a character": frame(
        CLOSE, struct.pack("!H", 1000) + "é".encode()[:1]
    ),
    **{
        f"a close with code {code}": frame(CLOSE, struct.pack("!H", code) + b"x")
        for code in (0, 1004, 1005, 1006, 1011, 1012, 1014, 1015, 1016, 2999, 3000, 4999, 5000)
    },
    "a close with the fin bit clear": frame(CLOSE, struct.pack("!H", 1000), fin=False),
    "a close with a reserved bit": frame(CLOSE, struct.pack("!H", 1000), rsv=2),
    "an unmasked close": frame(CLOSE, struct.pack("!H", 1000), masked=False),
    "a close after a fragmented message": text(b"a", fin=False) + cont(b"b") + CLOSE_1000,
    "a close after a ping": frame(PING, b"p") + CLOSE_1000 + frame(PING, b"q"),
    "two closes": CLOSE_1000 + CLOSE_1000,
    "a close after a message and a frame after": text(b"x" * 200) + CLOSE_1000 + text(b"y" * 300),
    "a truncated frame": text(b"ok") + text(b"cut short")[:-3],
    "a truncated header": text(b"ok") + text(b"x" * 300)[:3],
    "large frames": text(b"L" * 999) + frame(0x2, b"B" * 999) + text(b"s"),
}


async def run(
    stream: bytes,
    pieces: list[int],
    *,
    engine_only: bool,
    max_message: int = MAX_MESSAGE,
    lazy: bool = False,
) -> tuple[object, ...]:
    """Feed ``stream`` cut at ``pieces`` to a socket, then the end of the stream: the
    messages, the close and every byte written back."""
    ours, theirs = trio.testing.memory_stream_pair()
    socket = Socket(
        OpenEngine(max_message, SUBPROTOCOL)
        if lazy
        else engine(max_message, subprotocol=SUBPROTOCOL),
        ours,
        Handshake(path="/", headers=(), subprotocols=(SUBPROTOCOL,), remote="test"),
        Keepalive(None, 10.0),
        1.0,
        max_fragments=MAX_FRAGMENTS,
        engine_only=engine_only,
    )
    written = bytearray()
    start = 0
    for stop in [*pieces, len(stream), None]:
        data = b"" if stop is None else stream[start:stop]  # None: the end of the stream
        if socket.close_code is None and (data or stop is None) and feed(socket, data):
            await socket._settle(not data)
        start = stop or 0
    with trio.move_on_after(1):
        while True:
            chunk = await theirs.receive_some()
            if not chunk:
                break
            written += chunk
    protocol = socket._engine()  # made now if nothing needed it
    return (
        list(socket._messages),
        socket.close_code,
        socket.close_reason,
        bytes(written),
        # The engine's own view of the close, as the socket's later calls read it.
        protocol.state,
        protocol.close_rcvd,
        protocol.close_sent,
        protocol.close_rcvd_then_sent,
        protocol.eof_sent,
        protocol.events_received() and None,
        type(protocol.parser_exc),
    )


def cuts(stream: bytes) -> list[list[int]]:
    rng = random.Random(len(stream))  # seeded: the same pieces every run
    pieces = [[], list(range(1, len(stream)))]
    for _ in range(8):
        pieces.append(sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, 5))))
    return pieces


@pytest.mark.parametrize("name", list(STREAMS))
async def test_the_socket_parses_as_the_engine_does(
    name: str, autojump_clock: trio.testing.MockClock
) -> None:
    stream = STREAMS[name]
    for pieces in cuts(stream):
        expected = await run(stream, pieces, engine_only=True)
        assert await run(stream, pieces, engine_only=False) == expected, pieces
        assert await run(stream, pieces, engine_only=False, lazy=True) == expected, pieces


@pytest.mark.parametrize("reason", [b"", b"abcdef", b"abcdefg", b"r" * 40])
async def test_a_close_over_a_small_message_bound_is_parsed_as_the_engine_does(
    reason: bytes, autojump_clock: trio.testing.MockClock
) -> None:
    """A close frame counts against ``max_message_bytes`` in the engine: the bound of 8
    leaves a reason of 6 bytes."""
    stream = frame(CLOSE, struct.pack("!H", 1000) + reason)
    for pieces in cuts(stream):
        expected = await run(stream, pieces, engine_only=True, max_message=8)
        assert await run(stream, pieces, engine_only=False, max_message=8) == expected
        assert await run(stream, pieces, engine_only=False, max_message=8, lazy=True) == expected
