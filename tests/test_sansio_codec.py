"""The socket's plain frame functions (:mod:`jbtrio._runtime._sansio_codec`): a read of whole
text frames taken in one call, everything else left to the general parser (issue 23).

:func:`whole_text_frames` must take only what websockets' own parser would deliver at once
as those very text messages, and say ``None`` for anything else; it is held to the engine
over fixed cases and a seeded corpus of random reads. The socket must use it for the usual
read, on both ways of reading (``receive`` and the poller's callback under ``pump``).
"""

from __future__ import annotations

import random
import socket

import pytest
import trio
import trio.testing
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from jbtrio._runtime._sansio_codec import binary_frame, text_frame, whole_text_frames
from jbtrio._runtime._sansio_frames import FrameParsing

MASK = b"\x37\xfa\x21\x3d"


def frame(
    payload: bytes,
    *,
    first: int = 0x81,
    mask: bytes | None = MASK,
    length_bytes: int | None = None,
) -> bytes:
    """A client frame, as any peer might send it (``first``: FIN, RSV and opcode bits;
    ``length_bytes``: force the 2- or 8-byte length form)."""
    size = len(payload)
    masked = 0x80 if mask is not None else 0
    if length_bytes is None:
        length_bytes = 0 if size < 126 else 2 if size < 65536 else 8
    if length_bytes == 0:
        head = bytes((first, masked | size))
    elif length_bytes == 2:
        head = bytes((first, masked | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, masked | 127)) + size.to_bytes(8, "big")
    if mask is None:
        return head + payload
    body = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return head + mask + body


def engine_reads(data: bytes, max_size: int) -> list[Frame] | None:
    """The frames websockets' engine delivers at once for ``data`` on an open socket, or
    ``None`` when it fails the connection or waits for more."""
    protocol = ServerProtocol(state=State.OPEN, max_size=max_size)
    protocol.receive_data(data)
    if protocol.state is not State.OPEN or protocol.parser_exc is not None:
        return None
    if protocol.reader.buffer:
        return None  # a partial frame left: the engine waits for the rest
    return [event for event in protocol.events_received() if isinstance(event, Frame)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(frame(b"hello"), ["hello"], id="one small frame"),
        pytest.param(frame(b"x" * 758), ["x" * 758], id="a hook's size: 2-byte length"),
        pytest.param(frame(b"a") + frame(b"") + frame(b"b"), ["a", "", "b"], id="three"),
        pytest.param(frame("é ☎".encode()), ["é ☎"], id="UTF-8"),
        pytest.param(frame(b"short", length_bytes=2), ["short"], id="2-byte length, small"),
    ],
)
def test_whole_text_frames_are_taken(data: bytes, expected: list[str]) -> None:
    assert whole_text_frames(data, 1 << 20) == expected
    read = engine_reads(data, 1 << 20)
    assert read is not None
    assert [bytes(got.data).decode() for got in read] == expected


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(frame(b"hello")[:-1], id="partial payload"),
        pytest.param(frame(b"x" * 758)[:3], id="partial length"),
        pytest.param(frame(b"x")[:1], id="one byte"),
        pytest.param(frame(b"hello") + frame(b"next")[:4], id="a whole frame, then part of one"),
        pytest.param(frame(b"hello", mask=None), id="unmasked"),
        pytest.param(frame(b"hello", first=0x01), id="not final: a fragment"),
        pytest.param(frame(b"hello", first=0x80), id="a continuation"),
        pytest.param(frame(b"hello", first=0x82), id="binary"),
        pytest.param(frame(b"hello", first=0xC1), id="RSV1"),
        pytest.param(frame(b"hello", first=0x91), id="RSV3"),
        pytest.param(frame(b"hello", first=0x83), id="a reserved opcode"),
        pytest.param(frame(b"", first=0x89), id="ping"),
        pytest.param(frame(b"", first=0x8A), id="pong"),
        pytest.param(frame((1000).to_bytes(2, "big"), first=0x88), id="close"),
        pytest.param(frame(b"a") + frame(b"", first=0x89), id="a message, then a ping"),
        pytest.param(frame(b"\xff\xfe"), id="invalid UTF-8"),
        pytest.param(frame(b"a") + frame(b"\xc3"), id="valid, then invalid UTF-8"),
        pytest.param(frame(b"x" * 101), id="over max_size"),
        pytest.param(frame(b"short", length_bytes=8), id="8-byte length"),
    ],
)
def test_anything_else_is_left_to_the_general_parser(data: bytes) -> None:
    assert whole_text_frames(data, 100) is None


def test_whole_text_frames_agree_with_the_engine_over_random_reads() -> None:
    """A seeded corpus of reads mixing every kind of frame, cut anywhere: whenever the
    function takes a read, the engine delivers exactly those text messages from it."""
    rng = random.Random(23)
    taken = 0
    for _ in range(3000):
        data = b""
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            size = rng.choice((0, 1, 5, 125, 126, 300, 700))
            if rng.random() < 0.9:
                payload = "".join(rng.choice("abé☎z") for _ in range(size)).encode()
            else:  # UTF-8 or not, as it comes
                payload = bytes(rng.choice(b"ab\xc3\xa9z") for _ in range(size))
            if kind < 0.7:
                data += frame(payload, first=0x81)
            else:
                data += frame(
                    payload[:125],
                    first=rng.choice((0x01, 0x80, 0x82, 0x89, 0x8A, 0x88, 0xA1, 0x83)),
                    mask=None if rng.random() < 0.1 else bytes(rng.randbytes(4)),
                )
        if rng.random() < 0.2:
            data = data[: rng.randint(1, len(data))]
        max_size = rng.choice((100, 700, 1 << 20))
        whole = whole_text_frames(data, max_size)
        if whole is None:
            continue
        taken += 1
        read = engine_reads(data, max_size)
        assert read is not None, data
        assert all(got.opcode is Opcode.TEXT and got.fin for got in read)
        assert [bytes(got.data).decode() for got in read] == whole
    assert taken > 500  # the corpus exercises the taken case too


def test_server_frames_are_the_engines() -> None:
    for size in (0, 125, 126, 65535, 65536):
        payload = b"p" * size
        assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(
            mask=False, extensions=[]
        )
        assert binary_frame(payload) == Frame(Opcode.BINARY, payload).serialize(
            mask=False, extensions=[]
        )


async def test_the_usual_read_skips_the_general_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """``receive``: whole text frames are read without the general parser; anything else
    (here a ping among them) still goes through it, in order."""
    from _ws_peer import connected

    parsed: list[bytes] = []
    general = FrameParsing._parse

    def spy(self: FrameParsing, data: bytes | bytearray) -> None:
        parsed.append(bytes(data))
        general(self, data)

    monkeypatch.setattr(FrameParsing, "_parse", spy)
    server_end, client_end = socket.socketpair()
    async with connected(
        trio.SocketStream(trio.socket.from_stdlib_socket(server_end)),
        trio.SocketStream(trio.socket.from_stdlib_socket(client_end)),
    ) as (ws, peer):
        peer.protocol.send_text(b"one")
        peer.protocol.send_text(b"two")
        await peer.stream.send_all(b"".join(peer.protocol.data_to_send()))
        assert [await ws.receive(), await ws.receive()] == ["one", "two"]
        assert parsed == []
        peer.protocol.send_text(b"three")
        peer.protocol.send_ping(b"p")
        await peer.stream.send_all(b"".join(peer.protocol.data_to_send()))
        assert await ws.receive() == "three"
        assert len(parsed) == 1
