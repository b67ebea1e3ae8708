"""Plain HTTP requests on the serving port, told apart from websocket upgrades before the
websocket engine sees them (sans-IO: bytes in, a verdict out).

A load balancer's ``GET /healthz``, Prometheus's ``GET /metrics`` and jambonz's ``OPTIONS``
(the discovery of an app's environment variables) are not upgrades: answered by
:mod:`._endpoints`, they must neither reach the websocket engine (which answers a plain
``GET`` with 400 and a WARNING, and cannot parse ``OPTIONS`` at all) nor cost more than
reading their head. Everything else is handed to the engine untouched: a ``GET`` to any other
path as soon as its request line is read, so websocket upgrades pay one ``find`` per read.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

__all__ = [
    "MAX_HEAD",
    "RESERVED_PATHS",
    "UNDECIDED",
    "Answered",
    "PlainAnswer",
    "PlainRequest",
    "PlainResponse",
    "RequestSniffer",
    "Undecided",
]

#: Largest request head (request line and headers) of a plain request; a longer one is
#: answered 431 and closed.
MAX_HEAD = 8192

#: Paths whose ``GET`` is answered here unless it asks for a websocket upgrade.
RESERVED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


@attrs.frozen
class PlainRequest:
    """A request that is not a websocket upgrade: its method, path (query stripped) and
    headers (names lower-case)."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (lower-case), if any."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


@attrs.frozen
class PlainResponse:
    """What a plain request is answered; the connection is closed after it."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    def serialize(self, *, head_only: bool = False) -> bytes:
        """The response as sent (``head_only`` for a ``HEAD`` request)."""
        lines = [
            f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Unknown')}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in self.headers),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body


@attrs.frozen
class Answered:
    """A connection's outcome that is no upgrade: a plain request answered with ``status``
    (nothing to log above DEBUG)."""

    method: str
    path: str
    status: int


PlainAnswer = Callable[[PlainRequest], PlainResponse]
"""Answers a plain request (:meth:`._endpoints.Endpoints.answer`)."""


class Undecided:
    """The sniffer needs more bytes."""


UNDECIDED = Undecided()


class RequestSniffer:
    """Reads the start of a connection: a websocket upgrade (``feed`` returns the bytes to
    give the engine), a plain request (a :class:`PlainRequest`, or a :class:`PlainResponse`
    when its head is malformed or too long), or not known yet (:data:`UNDECIDED`)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> bytes | PlainRequest | PlainResponse | Undecided:
        buffer = self._buffer
        buffer += data
        line_end = buffer.find(b"\r\n")
        if line_end < 0:
            if len(buffer) > MAX_HEAD:
                return self.take()  # not HTTP we answer: the engine refuses it
            return UNDECIDED
        method, _, rest = bytes(buffer[:line_end]).partition(b" ")
        target = rest.partition(b" ")[0]
        path = _strip_query(target.decode("latin-1"))
        if method == b"GET" and path not in RESERVED_PATHS:
            return self.take()
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buffer) > MAX_HEAD:
                return PlainResponse(431, b"request head too long\n")
            return UNDECIDED
        if head_end > MAX_HEAD:
            return PlainResponse(431, b"request head too long\n")
        request = _parse(bytes(buffer[:head_end]))
        if request is None:
            return PlainResponse(400, b"malformed HTTP request\n")
        upgrade = (request.header("upgrade") or "").lower()
        if request.method == "GET" and upgrade == "websocket":
            return self.take()  # a websocket at a reserved path: the engine decides
        return request

    def take(self) -> bytes:
        """The bytes read so far (for the engine), emptying the buffer."""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def _strip_query(target: str) -> str:
    return target.split("?", 1)[0].split("#", 1)[0] or "/"


def _parse(head: bytes) -> PlainRequest | None:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            return None
        headers.append((name.lower(), value.strip()))
    return PlainRequest(parts[0].upper(), _strip_query(parts[1]), tuple(headers))
