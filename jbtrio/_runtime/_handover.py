"""Handing an upgraded websocket from the acceptor process to a worker process.

The channel is one ``AF_UNIX``/``SOCK_SEQPACKET`` socket pair per worker: packets keep their
boundaries and order, and a packet can carry a file descriptor (``SCM_RIGHTS``). A handover
is a head packet carrying the socket's descriptor and the length of the body, then the body
in packets of at most :data:`CHUNK` bytes (a packet must fit the socket's send buffer; a
``session:new`` may be up to ``max_message_bytes``). The body is a length-prefixed JSON
header (path, headers, subprotocols, remote address, the subprotocol accepted) and then every
byte the acceptor read after the upgrade request. One sender at a time per channel (the
acceptor holds a lock per worker), so a handover's packets are never interleaved with
another's.
"""

from __future__ import annotations

import array
import socket
from typing import Any

import attrs
import orjson
import trio

from ._transport_api import SUBPROTOCOL, Handshake

__all__ = [
    "CHUNK",
    "Handover",
    "HandoverError",
    "decode_state",
    "encode_state",
    "receive_handover",
    "send_handover",
]

#: Largest packet on the channel: below Linux's default send buffer of a unix socket.
CHUNK = 64 * 1024

_MAGIC = b"JBH1"
_HEAD_SIZE = len(_MAGIC) + 8
_FD_SPACE = socket.CMSG_SPACE(array.array("i").itemsize)


class HandoverError(Exception):
    """A handover that could not be read whole: the channel is out of step or broken."""


@attrs.frozen
class Handover:
    """What a worker receives: the socket, what its upgrade request said, and the bytes the
    acceptor read after it (to be read before anything from the socket)."""

    sock: socket.socket
    handshake: Handshake
    subprotocol: str
    received: bytes


def _header(handshake: Handshake, subprotocol: str) -> bytes:
    return orjson.dumps(
        {
            "path": handshake.path,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in handshake.headers],
            "subprotocols": list(handshake.subprotocols),
            "remote": handshake.remote,
            "subprotocol": subprotocol,
        }
    )


def _handshake(header: Any) -> Handshake:
    return Handshake(
        path=str(header["path"]),
        headers=tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in header["headers"]),
        subprotocols=tuple(str(p) for p in header["subprotocols"]),
        remote=str(header["remote"]),
    )


def encode_state(handshake: Handshake, subprotocol: str, received: bytes | bytearray) -> bytes:
    """What a connection's new owner needs besides the connection: its upgrade request, the
    subprotocol accepted, the bytes read after the request. The body of a handover here, and
    what a cluster's relay sends its peer host before the connection's bytes."""
    header = _header(handshake, subprotocol)
    return len(header).to_bytes(4, "big") + header + bytes(received)


def decode_state(body: bytes | bytearray) -> tuple[Handshake, str, bytes]:
    """The inverse of :func:`encode_state`; raises :class:`HandoverError` if malformed."""
    try:
        header_size = int.from_bytes(body[:4], "big")
        header = orjson.loads(body[4 : 4 + header_size])
        handshake = _handshake(header)
        subprotocol = str(header.get("subprotocol", SUBPROTOCOL))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HandoverError(f"malformed handover: {exc!r}") from exc
    return handshake, subprotocol, bytes(body[4 + header_size :])


async def send_handover(
    channel: trio.socket.SocketType,
    fd: int,
    handshake: Handshake,
    subprotocol: str,
    received: bytes | bytearray,
) -> None:
    """Send the socket ``fd`` and its state; raises ``OSError`` if the worker is gone.

    The caller keeps its own descriptor and closes it afterwards (that sends nothing: the
    connection lives on in the worker's copy).
    """
    body = encode_state(handshake, subprotocol, received)
    fds = array.array("i", [fd])
    head = _MAGIC + len(body).to_bytes(8, "big")
    await channel.sendmsg([head], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
    view = memoryview(body)
    for start in range(0, len(body), CHUNK):
        await channel.sendmsg([view[start : start + CHUNK]])


async def receive_handover(channel: trio.socket.SocketType) -> Handover | None:
    """The next handover, or ``None`` when the acceptor closed the channel.

    Raises :class:`HandoverError` when the packets do not make a whole handover (any socket
    received with them is closed).
    """
    head, ancdata, flags, _ = await channel.recvmsg(_HEAD_SIZE, _FD_SPACE, socket.MSG_CMSG_CLOEXEC)
    if not head and not ancdata:
        return None
    fds = _fds(ancdata)
    try:
        if len(fds) != 1 or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise HandoverError(f"expected one socket in the head packet, got {len(fds)}")
        if len(head) != _HEAD_SIZE or not head.startswith(_MAGIC):
            raise HandoverError(f"not a handover head packet: {head[:16]!r}")
        size = int.from_bytes(head[len(_MAGIC) :], "big")
        body = bytearray()
        while len(body) < size:
            packet = await channel.recv(CHUNK)
            if not packet:
                raise HandoverError("the channel closed in the middle of a handover")
            body += packet
        if len(body) != size:
            raise HandoverError(f"handover body of {len(body)} bytes, expected {size}")
        handshake, subprotocol, received = decode_state(body)
        sock = socket.socket(fileno=fds.pop())
    except (HandoverError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        for fd in fds:
            socket.close(fd)
        if isinstance(exc, HandoverError):
            raise
        raise HandoverError(f"malformed handover: {exc!r}") from exc
    return Handover(sock, handshake, subprotocol, received)


def _fds(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % array.array("i").itemsize
            fds.extend(array.array("i", data[:usable]))
    return fds
