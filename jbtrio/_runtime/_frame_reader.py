"""Reading a client's websocket frames without consuming them (sans-IO, private to the
backends).

A process that routes connections (``jbtrio serve --workers N``, a cluster) must know which
call a socket belongs to before it hands the socket on, and that is only known from the
first session message, which comes after the upgrade. :class:`FrameReader` parses what the
peer sent only to look at it: every byte is kept (:attr:`FrameReader.received`) and handed on
with the socket, so the engine serving it sees the stream exactly as it arrived (pings, an
early ``call:status`` and all). Both backends use it as their
:class:`~._transport_api.FramePeek`; the trio-websocket backend also counts fragments with
:class:`FragmentCounter`, which trio-websocket does not bound.
"""

from __future__ import annotations

from ._transport_api import MAX_FRAGMENTS, Peeked, PeekEnd

__all__ = ["FragmentCounter", "FrameReader", "unmask"]

_TEXT, _BINARY, _CONT, _CLOSE = 0x1, 0x2, 0x0, 0x8
_CONTROL = frozenset({0x8, 0x9, 0xA})


def unmask(payload: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """``payload`` XOR the 4-byte ``mask`` repeated (RFC 6455 §5.3), at C speed."""
    size = len(payload)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    value = int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")
    return value.to_bytes(size, "little")


def _header(buf: bytes | bytearray, at: int) -> tuple[int, int, int] | None:
    """``(first byte, header length with the mask, payload length)`` of the client frame at
    ``at``, or ``None`` while the header is incomplete. Raises :class:`ValueError` for a
    frame no client may send (reserved bits, no mask)."""
    if len(buf) - at < 2:
        return None
    first, second = buf[at], buf[at + 1]
    if first & 0x70 or not second & 0x80:
        raise ValueError("reserved bits set or an unmasked frame")
    size = second & 0x7F
    head = 2
    if size >= 126:
        extra = 2 if size == 126 else 8
        if len(buf) - at < head + extra:
            return None
        size = int.from_bytes(buf[at + 2 : at + 2 + extra], "big")
        head += extra
    return first, head + 4, size


class FrameReader:
    """A :class:`~._transport_api.FramePeek` over a client's frames.

    ``max_bytes`` bounds what is kept: :meth:`feed` raises :class:`OverflowError` beyond
    it. A frame or message over ``max_message_bytes``, a message in more than
    ``max_fragments`` frames, a close and a protocol violation end the search
    (:class:`~._transport_api.PeekEnd`). The work is linear in the bytes fed.
    """

    def __init__(
        self, max_message_bytes: int, max_bytes: int, *, max_fragments: int = MAX_FRAGMENTS
    ) -> None:
        self.received = bytearray()
        """Every byte fed so far: what the process serving the socket must read first."""
        self._max_message = max_message_bytes
        self._max_bytes = max_bytes
        self._max_fragments = max_fragments
        self._offset = 0  # start of the first frame not parsed yet
        self._fragments: list[bytes] | None = None  # a fragmented message so far
        self._fragment_bytes = 0  # ... its size
        self._fragmented_text = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[Peeked | PeekEnd]:
        """Add ``data``; the messages it completed, and a :class:`PeekEnd` last if a frame
        ended the search."""
        self.received += data
        if len(self.received) > self._max_bytes:
            raise OverflowError(
                f"{len(self.received)} bytes before a session message (bound {self._max_bytes})"
            )
        found: list[Peeked | PeekEnd] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return found
            if isinstance(frame, PeekEnd):
                found.append(frame)
                return found
            seen = self._look_at(*frame)
            if seen is not None:
                found.append(seen)
                if isinstance(seen, PeekEnd):
                    return found

    def _next_frame(self) -> tuple[bool, int, bytes] | PeekEnd | None:
        buf, at = self.received, self._offset
        try:
            header = _header(buf, at)
        except ValueError as exc:
            return PeekEnd(f"{exc}: not ours to judge")
        if header is None:
            return None
        first, head, size = header
        if size > self._max_message:
            return PeekEnd(f"a {size}-byte frame: over max_message_bytes")
        if len(buf) - at < head + size:
            return None
        mask = bytes(buf[at + head - 4 : at + head])
        start = at + head
        payload = unmask(memoryview(buf)[start : start + size], mask)
        self._offset = start + size
        return bool(first & 0x80), first & 0x0F, payload

    def _look_at(self, fin: bool, opcode: int, payload: bytes) -> Peeked | PeekEnd | None:
        if opcode == _CLOSE:
            return PeekEnd("closed before any session message")
        if opcode in _CONTROL:
            return None  # a ping or pong: whoever serves the socket answers it
        if opcode == _CONT:
            if self._fragments is None:
                return PeekEnd("a continuation frame with nothing to continue")
            self._fragments.append(payload)
            self._fragment_bytes += len(payload)
            if self._fragment_bytes > self._max_message:
                return PeekEnd("a fragmented message over max_message_bytes")
            if len(self._fragments) >= self._max_fragments and not fin:
                return PeekEnd(f"a message in more than {self._max_fragments} fragments")
            if not fin:
                return None
            payload, self._fragments = b"".join(self._fragments), None
            return Peeked(self._fragmented_text, payload)
        if opcode not in {_TEXT, _BINARY}:
            return PeekEnd(f"opcode {opcode:#x}: not ours to judge")
        if self._fragments is not None:
            return PeekEnd("a new message inside a fragmented one")
        if not fin:
            self._fragments = [payload]
            self._fragment_bytes = len(payload)
            self._fragmented_text = opcode == _TEXT
            return None
        return Peeked(opcode == _TEXT, payload)


class FragmentCounter:
    """Follows a client's frames through a stream (headers only; nothing of the payloads is
    kept) and cuts it where a message passes ``max_fragments`` frames.

    :meth:`feed` returns what may be passed on to the websocket engine: everything, except
    the start of a frame header split across reads (kept until its rest comes, so that
    what is passed on always ends on a header boundary when it is cut), and ``cut`` is True
    when a message passed the bound: what is returned then ends before that frame, and
    nothing more may be passed on. A frame no client may send stops the counting: the
    engine fails the connection for it.
    """

    def __init__(self, max_fragments: int = MAX_FRAGMENTS) -> None:
        self.max_fragments = max_fragments
        self.cut = False
        self._skip = 0  # payload bytes of the current frame still to come
        self._partial = b""  # the start of a header split across reads
        self._fragments = 0  # frames of the message in progress (0: none)
        self._stopped = False

    def feed(self, data: bytes | bytearray) -> bytes:
        """Follow ``data``; what may be passed on now (see the class)."""
        if self.cut:
            return b""
        buf = self._partial + bytes(data) if self._partial else bytes(data)
        self._partial = b""
        if self._stopped:
            return buf
        size = len(buf)
        at = 0
        while at < size:
            if self._skip:
                step = min(self._skip, size - at)
                self._skip -= step
                at += step
                continue
            try:
                header = _header(buf, at)
            except ValueError:
                self._stopped = True
                return buf
            if header is None:
                self._partial = buf[at:]
                return buf[:at]
            first, head, payload = header
            opcode = first & 0x0F
            fin = bool(first & 0x80)
            if opcode == _CONT:
                self._fragments += 1
                if self._fragments >= self.max_fragments and not fin:
                    self.cut = True
                    return buf[:at]
                if fin:
                    self._fragments = 0
            elif opcode not in _CONTROL:
                self._fragments = 0 if fin else 1
            self._skip = head + payload  # the header's mask may not have come yet
        return buf
