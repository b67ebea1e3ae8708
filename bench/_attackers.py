"""The attacks of issue 16, each a coroutine run in its own process by ``bench/attacks.py``.

A hostile (or broken) jambonz on loopback: every attack is what one peer can do through the
websocket API, with the server's credentials where it needs them (the worst case of the
threat model: auth only keeps out those who do not hold the shared secret). Each returns a
dict of what it did and what the server answered; ``sockets`` is how many of its sockets were
open at once at most (memory per attacking socket is the server's growth divided by it).
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import struct
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import trio
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

SUBPROTOCOL = "ws.jambonz.org"
PATH = "/ivr"
Stats = dict[str, Any]


class Client:
    """One websocket connection, frame by frame (websockets' sans-IO client)."""

    def __init__(self, stream: trio.SocketStream, path: str) -> None:
        self.stream = stream
        self.protocol = ClientProtocol(
            parse_uri(f"ws://127.0.0.1{path}"), subprotocols=[Subprotocol(SUBPROTOCOL)]
        )
        self._frames: list[Frame] = []

    @classmethod
    async def connect(
        cls,
        port: int,
        *,
        auth: tuple[str, str] | None,
        path: str = PATH,
        rcvbuf: int | None = None,
        upgrade: bool = True,
    ) -> Client:
        sock = trio.socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        await sock.connect(("127.0.0.1", port))
        client = cls(trio.SocketStream(sock), path)
        if upgrade:
            status = await client.handshake(auth)
            if status != 101:
                await client.reset()
                raise ConnectionRefusedError(f"HTTP {status}")
        return client

    async def handshake(self, auth: tuple[str, str] | None, scheme: str = "Basic") -> int:
        request = self.protocol.connect()
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request.headers["Authorization"] = f"{scheme} {token}"
        self.protocol.send_request(request)
        await self.flush()
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                return 0
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if isinstance(event, Response):
                    return event.status_code

    def send(self, payload: str | bytes, *, binary: bool = False) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        if binary:
            self.protocol.send_binary(data)
        else:
            self.protocol.send_text(data)

    async def flush(self) -> None:
        data = b"".join(self.protocol.data_to_send())
        if data:
            await self.stream.send_all(data)

    async def next_frame(self) -> Frame | None:
        while not self._frames:
            for event in self.protocol.events_received():
                if isinstance(event, Frame):
                    self._frames.append(event)
            if self._frames:
                break
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                return None
            self.protocol.receive_data(data)
        return self._frames.pop(0)

    async def next_message(self) -> dict[str, Any] | None:
        """The next text message (pings are answered), or ``None`` when closed."""
        while True:
            frame = await self.next_frame()
            if frame is None or frame.opcode is Opcode.CLOSE:
                return None
            if frame.opcode is Opcode.TEXT:
                message: dict[str, Any] = orjson.loads(frame.data)
                return message
            await self.flush()  # a pong

    async def close_code(self) -> int | None:
        while True:
            frame = await self.next_frame()
            if frame is None:
                return None
            if frame.opcode is Opcode.CLOSE:
                return struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else 1005

    async def reset(self) -> None:
        """Drop the connection with a TCP reset, as a crashed peer or a network blip does."""
        with contextlib.suppress(OSError):
            self.stream.socket.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        await trio.aclose_forcefully(self.stream)


def envelope(kind: str, msgid: str, sid: str | None, **data: Any) -> str:
    out: dict[str, Any] = {"type": kind, "msgid": msgid, "data": {"call_sid": sid, **data}}
    if sid is not None:
        out["call_sid"] = sid
    return orjson.dumps(out).decode()


def session_new(sid: str, **data: Any) -> str:
    info = {"call_id": f"{sid}@attacker", "from": "+15550001", "to": "+15550002", **data}
    return envelope("session:new", uuid.uuid4().hex[:22], sid, **info)


async def started_call(port: int, auth: tuple[str, str], **kw: Any) -> Client:
    client = await Client.connect(port, auth=auth, **kw)
    client.send(session_new(f"attacker-{uuid.uuid4()}"))
    await client.flush()
    return client


async def until(deadline: float) -> bool:
    await trio.lowlevel.checkpoint()
    return trio.current_time() < deadline


# ---------------------------------------------------------------------------------- attacks


async def malformed_flood(port: int, auth: tuple[str, str], seconds: float) -> Stats:
    """Item 1: one call's socket sends malformed frames as fast as the kernel takes them."""
    client = await started_call(port, auth)
    await client.next_message()  # the ack
    for _ in range(2000):
        client.send("!")  # 7 bytes a frame: ~9,000 in one 64 KiB read
    burst = b"".join(client.protocol.data_to_send())
    sent = 0
    deadline = trio.current_time() + seconds
    with (
        trio.move_on_after(seconds + 1),
        contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError),
    ):
        while await until(deadline):
            await client.stream.send_all(burst)
            sent += 2000
    await client.reset()
    return {"sockets": 1, "frames_sent": sent}


async def no_read_acks(port: int, auth: tuple[str, str], seconds: float) -> Stats:
    """Item 2: a peer that reads nothing sends unknown types with a msgid (each owes an ack)."""
    client = await started_call(port, auth, rcvbuf=4096)
    sent = 0
    start = trio.current_time()
    deadline = start + seconds
    dropped_after = None
    with trio.move_on_after(seconds + 1):
        try:
            while await until(deadline):
                for _ in range(200):
                    client.send(envelope("x:unknown", uuid.uuid4().hex[:22], None))
                    sent += 1
                await client.flush()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            dropped_after = round(trio.current_time() - start, 2)  # the server ended the call
    await client.reset()
    return {"sockets": 1, "frames_sent": sent, "server_dropped_it_after_s": dropped_after}


async def fragments(port: int, auth: tuple[str, str], seconds: float) -> Stats:
    """Items 4 and 7: a message that never ends, in empty continuation frames, before the
    session message (the acceptor's finder) and inside a call (the socket)."""
    sockets = closed = sent = 0
    deadline = trio.current_time() + seconds
    while await until(deadline):
        client = await Client.connect(port, auth=auth)
        sockets += 1
        if sockets % 2 == 0:
            client.send(session_new(f"attacker-{uuid.uuid4()}"))
        client.protocol.send_text(b"{", fin=False)
        for _ in range(2000):
            client.protocol.send_continuation(b"", fin=False)
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            with trio.move_on_after(max(0.1, deadline - trio.current_time())):
                while True:
                    await client.flush()
                    sent += 2000
                    for _ in range(2000):
                        client.protocol.send_continuation(b"", fin=False)
        with trio.move_on_after(1):
            if await client.close_code() is not None:
                closed += 1
        await client.reset()
    return {"sockets": 1, "connections": sockets, "closed_by_server": closed, "frames_sent": sent}


async def partial_upgrades(port: int, auth: tuple[str, str], seconds: float) -> Stats:
    """Item 5: connections that start an upgrade and never finish it (no credentials)."""
    held: list[trio.SocketStream] = []
    opened = 0
    deadline = trio.current_time() + seconds
    with trio.move_on_after(seconds + 1):
        while await until(deadline) and len(held) < 5000:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                await stream.send_all(b"GET /ivr HTTP/1.1\r\nHost: x\r\n")
            except OSError:
                await trio.sleep(0.01)
                continue
            held.append(stream)
            opened += 1
    # A connection the server cut short is readable (at its end of stream); one still
    # waiting for the rest of its request is not.
    poller = select.poll()
    for stream in held:
        poller.register(stream.socket.fileno(), select.POLLIN)
    readable = poller.poll(0)
    for stream in held:
        await trio.aclose_forcefully(stream)
    return {
        "sockets": max(1, opened),
        "opened": opened,
        "cut_short_by_server": len(readable),
    }


async def orphans(port: int, auth: tuple[str, str], seconds: float) -> Stats:
    """Item 6: session:new then a TCP reset, again and again: each leaves a call waiting for
    its reconnect."""
    started = refused = 0
    deadline = trio.current_time() + seconds
    while await until(deadline):
        try:
            client = await started_call(port, auth)
        except (OSError, ConnectionRefusedError):
            refused += 1
            continue
        try:
            message = await client.next_message()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            message = None
        started += message is not None
        refused += message is None
        await client.reset()
    return {"sockets": 1, "calls_started": started, "refused": refused}


async def redirects(port: int, auth: tuple[str, str], seconds: float) -> Stats:
    """Item 6: sockets opening ``session:redirect`` sessions for one live call_sid."""
    sid = f"attacker-{uuid.uuid4()}"
    owner = await Client.connect(port, auth=auth)
    owner.send(session_new(sid))
    await owner.flush()
    await owner.next_message()
    held: list[Client] = []
    accepted = refused = 0
    with trio.move_on_after(seconds):
        for n in range(200):
            client = await Client.connect(port, auth=auth)
            client.send(envelope("session:redirect", f"r{n}", sid, hook="/ivr"))
            await client.flush()
            try:
                answer = await client.next_message()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                answer = None
            if answer is None:
                refused += 1
                await client.reset()
            else:
                accepted += 1
                held.append(client)
    for client in [owner, *held]:
        await client.reset()
    return {"sockets": 1 + len(held), "accepted": accepted, "refused": refused}


async def huge_msgids(port: int, auth: tuple[str, str], seconds: float) -> Stats:
    """Item 8: frames whose msgid is 30 KB, on an unknown type and on a hook."""
    client = await started_call(port, auth)
    await client.next_message()
    sent = 0
    deadline = trio.current_time() + seconds
    answered = False
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while await until(deadline):
            for kind in ("x:unknown", "verb:hook"):
                client.send(envelope(kind, "m" * 30_000, None, hook="/x"))
            await client.flush()
            sent += 2
            await trio.sleep(0.01)
        client.send(envelope("verb:hook", "last", None, hook="/x"))
        await client.flush()
        with trio.move_on_after(2):
            while (message := await client.next_message()) is not None:
                if message.get("msgid") == "last":
                    answered = True
                    break
    await client.reset()
    return {"sockets": 1, "frames_sent": sent, "call_still_answers": answered}


ATTACKS: dict[str, Callable[[int, tuple[str, str], float], Awaitable[Stats]]] = {
    "malformed-flood": malformed_flood,
    "no-read-acks": no_read_acks,
    "fragments": fragments,
    "partial-upgrades": partial_upgrades,
    "orphans": orphans,
    "redirects": redirects,
    "huge-msgids": huge_msgids,
}
