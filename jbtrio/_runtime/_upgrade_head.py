"""The usual upgrade request, read without websockets' HTTP engine (sans-IO: bytes in, a
:class:`FastHead` or ``None`` out; and the 101 that accepts it).

Parsing the request, deciding it and answering it through websockets' ``ServerProtocol``
was ~13% of a call set-up's work (issue 23). jambonz always sends the same shape of request
(the ``ws`` npm client: ``GET``, ``HTTP/1.1``, ``Host``, ``Upgrade: websocket``,
``Connection: Upgrade``, a key, version 13, ``Sec-WebSocket-Protocol``, maybe
``Sec-WebSocket-Extensions``, ``Authorization`` and ``User-Agent``). That shape, read
strictly, is accepted here; anything else (:func:`parse_head` or :func:`may_be_head` says
``None``/False) goes to the engine, byte for byte what was read, so whatever the engine
accepts, refuses or answers stays its decision. What is accepted here is a request the
engine accepts the same way (``tests/test_upgrade_head.py`` holds them equal over a corpus).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import re
import time

import attrs

__all__ = ["FAST_HEAD", "FAST_HEADERS", "FastHead", "may_be_head", "parse_head", "switching"]

#: Largest request (head and blank line) read here; a longer one goes to the engine, whose
#: own bounds (8 KiB a line, 128 headers) are unchanged. jambonz's is ~300 bytes.
FAST_HEAD = 4096

#: Most header lines read here; a request with more goes to the engine.
FAST_HEADERS = 32

# RFC 9110 §5.6.2 token; a field value (RFC 9110 §5.5, obs-text included; with the spaces
# and tabs around it, stripped after); a request target without spaces or controls. Neither
# has a CR or LF in it: the lines of a head matched whole are its CRLF-separated parts.
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_VALUE = rb"[\t\x20-\x7e\x80-\xff]*"
_FIELD = re.compile(_TOKEN + rb":" + _VALUE)
_HEAD = re.compile(rb"GET ([\x21-\x7e]+) HTTP/1\.1((?:\r\n" + _TOKEN + rb":" + _VALUE + rb")*)")
_TOKEN_ONLY = re.compile(_TOKEN)
_TARGET = re.compile(rb"[\x21-\x7e]+")

# The request fields the engine reads and this module reads strictly; the engine also reads
# these, which send the request to it whatever their value: Origin (one at most), and the
# body's framing (Content-Length, Transfer-Encoding).
_TO_ENGINE = frozenset({b"origin", b"content-length", b"transfer-encoding"})

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


@attrs.frozen
class FastHead:
    """An upgrade request in the usual shape: its target (query included), its fields
    (lower-case names, values without surrounding blanks, in order), its key and the
    subprotocols it offered."""

    target: str
    headers: tuple[tuple[bytes, bytes], ...]
    key: bytes
    offered: tuple[str, ...]


def _target(line: bytes | bytearray) -> bytes | None:
    if not (line.startswith(b"GET ") and line.endswith(b" HTTP/1.1")):
        return None
    target = bytes(line[4:-9])
    return target if _TARGET.fullmatch(target) else None


def may_be_head(received: bytes) -> bool:
    """Whether ``received`` (no blank line in it yet) may still become a request in the
    usual shape: every line read so far in it, under the bounds. The engine decides a line
    as soon as it is whole, so as long as this holds the engine would still be waiting too;
    once it fails, the bytes go to the engine, which decides at once as it would have."""
    if len(received) > FAST_HEAD:
        return False
    lines = received.split(b"\r\n")
    if len(lines) > FAST_HEADERS + 2 or b"\n" in lines[-1]:
        return False
    if len(lines) > 1 and _target(lines[0]) is None:
        return False
    return all(_FIELD.fullmatch(line) for line in lines[1:-1])


def parse_head(head: bytes) -> FastHead | None:
    """The request whose head (up to, not with, its blank line) is ``head``, if it has the
    usual shape and the engine would accept it (a valid key, version 13, one ``Upgrade:
    websocket``, one ``Connection: Upgrade``, subprotocols as a list of tokens); else
    ``None``."""
    if len(head) > FAST_HEAD:
        return None
    matched = _HEAD.fullmatch(head)  # one pass over the whole head, in C (issue 23)
    if matched is None:
        return None
    lines = matched[2].split(b"\r\n")  # an empty first part, then the fields
    if len(lines) > FAST_HEADERS + 1:
        return None
    headers: list[tuple[bytes, bytes]] = []
    key: bytes | None = None
    upgrade = connection = version = False
    offered: list[str] = []
    for line in lines[1:]:
        raw_name, _, raw_value = line.partition(b":")
        name = raw_name.lower()
        value = raw_value.strip(b" \t")
        headers.append((name, value))
        if not name.startswith((b"sec-websocket-", b"upgrade", b"connection")):
            if name in _TO_ENGINE:
                return None
            continue  # a field the engine does not read (Host, Authorization, ...)
        if name == b"sec-websocket-key":
            if key is not None:
                return None
            key = value
        elif name == b"sec-websocket-version":
            if version or value != b"13":
                return None
            version = True
        elif name == b"sec-websocket-protocol":
            for item in value.split(b","):
                token = item.strip(b" \t")
                if not _TOKEN_ONLY.fullmatch(token):
                    return None
                offered.append(token.decode("ascii"))
        elif name == b"upgrade":
            if upgrade or value.lower() != b"websocket":
                return None
            upgrade = True
        elif name == b"connection":
            if connection or value.lower() != b"upgrade":
                return None
            connection = True
        # Sec-WebSocket-Extensions and others: no extension is ever negotiated, the engine
        # reads none of them.
    if key is None or not (upgrade and connection and version):
        return None
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except binascii.Error:
        return None
    return FastHead(matched[1].decode("ascii"), tuple(headers), key, tuple(offered))


_date: tuple[int, bytes] = (0, b"")


def _http_date() -> bytes:
    """The Date field's value now (RFC 9110 §5.6.7), made once a second."""
    global _date  # noqa: PLW0603 - a one-entry cache
    now = int(time.time())
    if _date[0] != now:
        _date = (now, email.utils.formatdate(now, usegmt=True).encode("ascii"))
    return _date[1]


def switching(key: bytes, subprotocol: str) -> bytes:
    """The 101 accepting a request with ``key``, ``subprotocol`` chosen: the bytes the
    engine sends for it (the same fields in the same order)."""
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    return b"".join(
        (
            b"HTTP/1.1 101 Switching Protocols\r\nDate: ",
            _http_date(),
            b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
            accept,
            b"\r\nSec-WebSocket-Protocol: ",
            subprotocol.encode("latin-1"),
            b"\r\n\r\n",
        )
    )
