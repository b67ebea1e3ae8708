"""A socket's usual frames as plain functions: a read of whole text frames parsed
(:func:`whole_text_frames`), the server's own frames made (:func:`text_frame`,
:func:`binary_frame`).

Functions, not methods of the socket, so that the compiled build compiles them (the socket's
classes stay interpreted: they have async code, and are subclassed), and so that the usual
message costs one call where the socket's general parser (:mod:`._sansio_frames`) takes four
(issue 23). Nothing here has state or side effects: what it cannot take whole, the socket
parses the general way, with every check as before.
"""

from __future__ import annotations

try:
    from websockets.speedups import apply_mask  # C, as the engine's own parser uses
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = ["binary_frame", "text_frame", "whole_text_frames"]


def whole_text_frames(data: bytes, max_size: int) -> list[str] | None:
    """The messages of ``data`` (not empty) when it is nothing but whole text frames:
    unfragmented (FIN set, opcode text), no reserved bit, masked, a length of at most
    65,535 bytes and within ``max_size``, a payload of valid UTF-8 (jambonz's usual read).
    Anything else is None, with nothing taken: the socket's general parser reads ``data``
    then, and fails the connection or answers a control frame as it always does.

    For a socket with no partial frame left from the last read and no message in progress
    (the caller checks): then these are exactly the frames the general parser would deliver
    at once, with the same checks, the same payloads and the same text.
    """
    at = 0
    end = len(data)
    messages: list[str] = []
    while at < end:
        if end - at < 6 or data[at] != 0x81:  # FIN, no reserved bit, text
            return None
        size = data[at + 1]
        if size < 0x80:  # a client's frame must be masked
            return None
        size &= 0x7F
        if size < 126:
            head = at + 6
        elif size == 126 and end - at >= 8:
            size = (data[at + 2] << 8) | data[at + 3]
            head = at + 8
        else:  # an 8-byte length (no read this small needs it) or a partial head
            return None
        stop = head + size
        if stop > end or size > max_size:
            return None
        try:
            messages.append(apply_mask(data[head:stop], data[head - 4 : head]).decode("utf-8"))
        except UnicodeDecodeError:
            return None
        at = stop
    return messages


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked text frame (RFC 6455 §5.2) carrying ``payload``."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + payload
    return b"\x81\x7f" + size.to_bytes(8, "big") + payload


def binary_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked binary frame carrying ``payload``."""
    size = len(payload)
    if size < 126:
        return bytes((0x82, size)) + payload
    if size < 65536:
        return b"\x82\x7e" + size.to_bytes(2, "big") + payload
    return b"\x82\x7f" + size.to_bytes(8, "big") + payload
