"""The relay's wire format, sans-IO: the header an instance sends before the bytes of a
jambonz socket it relays, and the owner's answer.

Instance A, holding a socket whose call instance B owns, connects to B's relay listener
and sends::

    "JBR1" | u32 length | header (JSON, `length` bytes) | MAC (32) | the bytes A read

The MAC is HMAC-SHA256 over magic, length and header, keyed with a key derived from the
cluster's shared secret (the secret never travels). The header says which call, for which
instance (``to``: a header is good for one instance only), when (``ts``, within
``max_clock_skew`` of B's clock) with a fresh ``nonce`` (B remembers nonces that long, so a
header cannot be replayed), and what B needs to serve the socket as if it had upgraded it:
path, headers (the ``Authorization`` header left out: A checked the credentials), offered
and accepted subprotocols, jambonz's address, and the length and SHA-256 of the bytes A
read after the upgrade (up to the session message), which follow the MAC. B authenticates
the header before it reads one byte of those, so an unauthenticated peer can make it hold
at most ``relay_max_header_bytes``.

B answers with ``"JBR1" | status (1) | MAC (32)`` (the MAC over the nonce and status, so A
knows the answer is B's): :attr:`Status.ADOPTED` — then the connection carries the
socket's bytes both ways, untouched — or :attr:`Status.NOT_HERE`/:attr:`Status.BUSY`, and
A serves the socket itself.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import attrs
import orjson

__all__ = [
    "ACK_SIZE",
    "MAGIC",
    "NonceCache",
    "RelayRejected",
    "RelayRequest",
    "RequestReader",
    "Status",
    "decode_ack",
    "derive_key",
    "encode_ack",
    "encode_request",
]

MAGIC = b"JBR1"
_MAC_SIZE = 32
_PREFIX = len(MAGIC) + 4
ACK_SIZE = len(MAGIC) + 1 + _MAC_SIZE
_NONCE_HEX = 32
#: Bound on any one string in a header (a path, a header value, an id).
_MAX_TEXT = 8192
_MAX_HEADERS = 100


def derive_key(secret: bytes) -> bytes:
    """The relay's MAC key, derived from the shared secret (domain-separated, so the secret
    may serve other purposes without its MACs being reusable here)."""
    return hmac.new(secret, b"jbtrio relay v1", hashlib.sha256).digest()


class Status(enum.IntEnum):
    """The owner's answer to a relay header."""

    ADOPTED = 0
    """The owner serves the socket: the connection now carries its bytes."""
    NOT_HERE = 1
    """The call does not live there (it ended, or the lease moved): serve it yourself."""
    BUSY = 2
    """The owner is at its bounds: serve it yourself."""


class RelayRejected(Exception):
    """A relay header that must not be served (bad MAC, too big, stale, replayed, for
    another instance, malformed); the reason is for the log, never sent to the peer."""


@attrs.frozen
class RelayRequest:
    """What an authenticated header said (``received``: the bytes that followed it)."""

    sender: str
    target: str
    call_sid: str
    why: str
    path: str
    headers: tuple[tuple[bytes, bytes], ...]
    subprotocols: tuple[str, ...]
    subprotocol: str
    remote: str
    nonce: str
    timestamp: float
    received: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


def encode_request(
    key: bytes,
    *,
    sender: str,
    target: str,
    call_sid: str,
    why: str,
    path: str,
    headers: Sequence[tuple[bytes, bytes]],
    subprotocols: Sequence[str],
    subprotocol: str,
    remote: str,
    received: bytes | bytearray,
    now: float,
    nonce: str | None = None,
) -> tuple[bytes, str]:
    """The bytes to send (header, MAC, ``received``) and the nonce (to check the answer)."""
    nonce = nonce or secrets.token_hex(_NONCE_HEX // 2)
    header = orjson.dumps(
        {
            "v": 1,
            "from": sender,
            "to": target,
            "call": call_sid,
            "why": why,
            "path": path,
            "headers": [
                [k.decode("latin-1"), v.decode("latin-1")]
                for k, v in headers
                if k.lower() != b"authorization"
            ],
            "subprotocols": list(subprotocols),
            "subprotocol": subprotocol,
            "remote": remote,
            "nonce": nonce,
            "ts": now,
            "received": len(received),
            "sha256": hashlib.sha256(received).hexdigest(),
        }
    )
    head = MAGIC + len(header).to_bytes(4, "big") + header
    mac = hmac.new(key, head, hashlib.sha256).digest()
    return head + mac + bytes(received), nonce


def encode_ack(key: bytes, nonce: str, status: Status) -> bytes:
    """The owner's answer to the header that carried ``nonce``."""
    body = MAGIC + bytes((status,))
    return body + hmac.new(key, b"ack" + nonce.encode() + body, hashlib.sha256).digest()


def decode_ack(key: bytes, nonce: str, data: bytes) -> Status:
    """The status in an answer (exactly :data:`ACK_SIZE` bytes); raises
    :class:`RelayRejected` for anything that is not the owner's answer to ``nonce``."""
    if len(data) != ACK_SIZE or not data.startswith(MAGIC):
        raise RelayRejected(f"not a relay answer: {data[:8]!r}")
    body, mac = data[: len(MAGIC) + 1], data[len(MAGIC) + 1 :]
    expected = hmac.new(key, b"ack" + nonce.encode() + body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise RelayRejected("relay answer with a bad MAC")
    try:
        return Status(body[-1])
    except ValueError:
        raise RelayRejected(f"unknown relay status {body[-1]}") from None


class NonceCache:
    """Nonces of headers accepted within the clock-skew window, so none is accepted twice.

    Bounded: only authenticated headers are added, and past ``limit`` entries the oldest go
    (a header that old is refused by its timestamp anyway, unless the limit is far too low
    for the relay rate: ``limit`` relays per window).
    """

    def __init__(self, window: float, limit: int = 100_000) -> None:
        self._window = window
        self._limit = limit
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, nonce: str, now: float) -> bool:
        """Remember ``nonce``; False if it was seen within the window (a replay)."""
        seen = self._seen
        while seen:
            oldest, at = next(iter(seen.items()))
            if now - at <= self._window and len(seen) < self._limit:
                break
            del seen[oldest]
        if nonce in seen:
            return False
        seen[nonce] = now
        return True


class RequestReader:
    """Reads one relay header and the bytes after it, checking each part before reading the
    next: :meth:`feed` returns the :class:`RelayRequest` once it is complete (``None``: more
    bytes needed) and raises :class:`RelayRejected` as soon as something is wrong. Linear
    in the bytes fed; at most ``max_header`` + 40 bytes are kept before the MAC is checked.
    """

    def __init__(
        self,
        key: bytes,
        instance: str,
        *,
        max_header: int,
        max_received: int,
        max_skew: float,
        nonces: NonceCache,
    ) -> None:
        self._key = key
        self._instance = instance
        self._max_header = max_header
        self._max_received = max_received
        self._max_skew = max_skew
        self._nonces = nonces
        self._buffer = bytearray()
        self._fields: dict[str, Any] | None = None
        self._header_end = 0

    def feed(self, data: bytes | bytearray, now: float) -> RelayRequest | None:
        """Add ``data`` (``now``: this host's wall clock, for the timestamp check)."""
        self._buffer += data
        buf = self._buffer
        if self._fields is None:
            if len(buf) < len(MAGIC):
                if not MAGIC.startswith(bytes(buf)):
                    raise RelayRejected(f"not a relay header: {bytes(buf[:8])!r}")
                return None
            if not buf.startswith(MAGIC):
                raise RelayRejected(f"not a relay header: {bytes(buf[:8])!r}")
            if len(buf) < _PREFIX:
                return None
            size = int.from_bytes(buf[len(MAGIC) : _PREFIX], "big")
            if size > self._max_header:
                raise RelayRejected(f"a {size}-byte relay header (bound {self._max_header})")
            end = _PREFIX + size
            if len(buf) < end + _MAC_SIZE:
                return None
            mac = bytes(buf[end : end + _MAC_SIZE])
            expected = hmac.new(self._key, bytes(buf[:end]), hashlib.sha256).digest()
            if not hmac.compare_digest(mac, expected):
                raise RelayRejected("relay header with a bad MAC")
            self._fields = self._check(bytes(buf[_PREFIX:end]), now)
            self._header_end = end + _MAC_SIZE
        fields = self._fields
        size = int(fields["received"])
        have = len(buf) - self._header_end
        if have < size:
            return None
        if have > size:
            raise RelayRejected(f"{have - size} bytes after the relayed ones, before the answer")
        received = bytes(buf[self._header_end :])
        if not hmac.compare_digest(hashlib.sha256(received).hexdigest(), fields["sha256"]):
            raise RelayRejected("relayed bytes do not match the header's digest")
        return RelayRequest(
            sender=fields["from"],
            target=fields["to"],
            call_sid=fields["call"],
            why=fields["why"],
            path=fields["path"],
            headers=tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in fields["headers"]),
            subprotocols=tuple(fields["subprotocols"]),
            subprotocol=fields["subprotocol"],
            remote=fields["remote"],
            nonce=fields["nonce"],
            timestamp=float(fields["ts"]),
            received=received,
        )

    def _check(self, raw: bytes, now: float) -> dict[str, Any]:
        """The header's fields, each checked (authenticated already: this catches bugs and
        version skew, and bounds what a compromised instance could make us keep)."""
        try:
            fields = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RelayRejected(f"relay header is not JSON: {exc}") from None
        if not isinstance(fields, dict) or fields.get("v") != 1:
            raise RelayRejected("relay header of an unknown version")
        for name in ("from", "to", "call", "why", "path", "subprotocol", "remote", "nonce"):
            value = fields.get(name)
            if not isinstance(value, str) or len(value) > _MAX_TEXT:
                raise RelayRejected(f"relay header field {name!r} missing or malformed")
        if len(fields["nonce"]) != _NONCE_HEX or not fields["call"]:
            raise RelayRejected("relay header without a proper nonce or call")
        headers = fields.get("headers")
        if (
            not isinstance(headers, list)
            or len(headers) > _MAX_HEADERS
            or not all(
                isinstance(h, list)
                and len(h) == 2
                and all(isinstance(x, str) and len(x) <= _MAX_TEXT for x in h)
                for h in headers
            )
        ):
            raise RelayRejected("relay header's headers malformed")
        offered = fields.get("subprotocols")
        if not isinstance(offered, list) or not all(isinstance(p, str) for p in offered):
            raise RelayRejected("relay header's subprotocols malformed")
        received, ts, digest = fields.get("received"), fields.get("ts"), fields.get("sha256")
        if not isinstance(received, int) or not 0 <= received <= self._max_received:
            raise RelayRejected(
                f"relay header announces {received!r} relayed bytes (bound {self._max_received})"
            )
        if not isinstance(digest, str) or len(digest) != 64:
            raise RelayRejected("relay header without a digest")
        if not isinstance(ts, int | float) or not math.isfinite(ts):
            raise RelayRejected("relay header without a timestamp")
        if abs(now - ts) > self._max_skew:
            raise RelayRejected(
                f"relay header {now - ts:+.1f} s old (max_clock_skew {self._max_skew:g} s)"
            )
        if fields["to"] != self._instance:
            raise RelayRejected(f"relay header for instance {fields['to']!r}, not this one")
        if not self._nonces.add(fields["nonce"], now):
            raise RelayRejected("relay header replayed (its nonce was seen)")
        return fields
