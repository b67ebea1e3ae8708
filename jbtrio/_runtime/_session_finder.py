"""Find a connection's first session message without consuming the stream (sans-IO).

``jbtrio serve --workers N`` accepts every connection in one process and hands each socket
to the worker that owns its call, so that a ``session:reconnect`` reaches the process that
holds the call's state. Which call a socket belongs to is only known from its first session
message (``session:new``, ``session:reconnect``, ...), which comes after the upgrade. The
acceptor reads up to it with :class:`SessionFinder`, which parses frames only to look at
them: every byte read is kept and handed over with the socket, so the worker's websocket
engine sees the stream exactly as it arrived (pings, early ``call:status`` and all).
"""

from __future__ import annotations

import attrs

from .._errors import ProtocolError
from .._wire import InboundMessage, decode
from ._transport import MAX_FRAGMENTS

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = ["Route", "SessionFinder"]

_TEXT, _BINARY, _CONT, _CLOSE = 0x1, 0x2, 0x0, 0x8
_CONTROL = frozenset({0x8, 0x9, 0xA})


@attrs.frozen
class Route:
    """Where the socket goes: the call it belongs to (``key``), or ``None`` when the bytes
    decide nothing (no call_sid, a close, a protocol error): any worker can serve it, the
    worker's engine answers the close or fails the connection as it would anyway."""

    key: str | None
    why: str


class SessionFinder:
    """Feed it the bytes read after the upgrade; :meth:`feed` returns the :class:`Route` once
    the first session message (or something that ends the search) is complete.

    ``max_bytes`` bounds what is kept before a route is found: :meth:`feed` raises
    :class:`OverflowError` beyond it. A message in more than ``max_fragments`` frames decides
    the route (any worker: its engine fails the socket, as the single process does). The
    work is linear in the bytes fed.
    """

    def __init__(
        self, max_message_bytes: int, max_bytes: int, *, max_fragments: int = MAX_FRAGMENTS
    ) -> None:
        self.received = bytearray()
        """Every byte fed so far: what the worker must read first."""
        self._max_message = max_message_bytes
        self._max_bytes = max_bytes
        self._max_fragments = max_fragments
        self._offset = 0  # start of the first frame not parsed yet
        self._fragments: list[bytes] | None = None  # a fragmented message so far
        self._fragment_bytes = 0  # ... its size
        self._fragmented_text = False

    def feed(self, data: bytes | bytearray | memoryview) -> Route | None:
        """Add ``data``; the route once it is decided, else ``None`` (read more)."""
        self.received += data
        if len(self.received) > self._max_bytes:
            raise OverflowError(
                f"{len(self.received)} bytes before a session message (bound {self._max_bytes})"
            )
        while True:
            frame = self._next_frame()
            if frame is None:
                return None
            if isinstance(frame, Route):
                return frame
            route = self._look_at(*frame)
            if route is not None:
                return route

    def _next_frame(self) -> tuple[bool, int, bytes] | Route | None:
        buf, at = self.received, self._offset
        if len(buf) - at < 2:
            return None
        first, second = buf[at], buf[at + 1]
        fin, opcode, size = bool(first & 0x80), first & 0x0F, second & 0x7F
        if first & 0x70 or not second & 0x80:
            return Route(None, "reserved bits set or an unmasked frame: not ours to judge")
        head = 2
        if size >= 126:
            extra = 2 if size == 126 else 8
            if len(buf) - at < head + extra:
                return None
            size = int.from_bytes(buf[at + 2 : at + 2 + extra], "big")
            head += extra
        if size > self._max_message:
            return Route(None, f"a {size}-byte frame: over max_message_bytes")
        if len(buf) - at < head + 4 + size:
            return None
        mask = bytes(buf[at + head : at + head + 4])
        start = at + head + 4
        payload = apply_mask(bytes(buf[start : start + size]), mask)
        self._offset = start + size
        return fin, opcode, payload

    def _look_at(self, fin: bool, opcode: int, payload: bytes) -> Route | None:
        if opcode == _CLOSE:
            return Route(None, "closed before any session message")
        if opcode in _CONTROL:
            return None  # a ping or pong: the worker answers it
        if opcode == _CONT:
            if self._fragments is None:
                return Route(None, "a continuation frame with nothing to continue")
            self._fragments.append(payload)
            self._fragment_bytes += len(payload)
            if self._fragment_bytes > self._max_message:
                return Route(None, "a fragmented message over max_message_bytes")
            if len(self._fragments) >= self._max_fragments and not fin:
                return Route(None, f"a message in more than {self._max_fragments} fragments")
            if not fin:
                return None
            payload, self._fragments = b"".join(self._fragments), None
            return self._look_at_text(payload) if self._fragmented_text else None
        if opcode not in {_TEXT, _BINARY}:
            return Route(None, f"opcode {opcode:#x}: not ours to judge")
        if self._fragments is not None:
            return Route(None, "a new message inside a fragmented one")
        if not fin:
            self._fragments = [payload]
            self._fragment_bytes = len(payload)
            self._fragmented_text = opcode == _TEXT
            return None
        return self._look_at_text(payload) if opcode == _TEXT else None

    @staticmethod
    def _look_at_text(payload: bytes) -> Route | None:
        try:
            message = decode(payload)
        except ProtocolError:
            return None  # the worker logs it, as the single-process server does
        if isinstance(message, InboundMessage) and message.STARTS_SESSION:
            return Route(message.sid, message.TYPE)
        return None  # an early notification (call:status): delivered once the call exists
