"""A hostile jambonz for the attack tests: a websocket client at the frame level, connected to
an in-process :class:`~jbtrio.Server` over a memory stream (or to a TCP port), that sends what
a test needs (floods, binary frames, forged session messages) and reads what comes back."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio
import trio.testing
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

import jbtrio
from jbtrio._runtime import Server, ServerConfig
from jbtrio.verbs import Say

SUBPROTOCOL = "ws.jambonz.org"
SID = "5f1c2a3b-0000-4000-8000-00000000000a"


def frame(type_: str, msgid: str, sid: str | None = SID, **kw: Any) -> str:
    """A jambonz message: the call_sid in the envelope and in ``data``, as jambonz sends it."""
    data = {**({"call_sid": sid} if sid is not None else {}), **kw.pop("data", {})}
    envelope: dict[str, Any] = {"type": type_, "msgid": msgid, "data": data, **kw}
    if sid is not None:
        envelope["call_sid"] = sid
    return orjson.dumps(envelope).decode()


def session_new(msgid: str = "m1", sid: str = SID, **data: Any) -> str:
    info = {"call_id": f"sip-{sid}", "from": "+15550001", "to": "+15550002", **data}
    return frame("session:new", msgid, sid, data=info)


def hello_app(path: str = "/f") -> jbtrio.App:
    app = jbtrio.App()

    @app.flow(path)
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield Say(text="resumed" if call.resumed else "hello")
        await trio.sleep_forever()

    return app


@asynccontextmanager
async def serving(app: jbtrio.App, config: ServerConfig | None = None) -> AsyncIterator[Server]:
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app, config).run_in)
        yield server
        await server.shutdown(grace=0)


class Attacker:
    """One websocket connection, driven frame by frame."""

    def __init__(self, stream: trio.abc.Stream, path: str = "/f") -> None:
        self.stream = stream
        self.protocol = ClientProtocol(
            parse_uri(f"ws://jbtrio.test{path}"), subprotocols=[Subprotocol(SUBPROTOCOL)]
        )
        self._frames: list[Frame] = []
        self.status: int | None = None

    async def flush(self) -> None:
        data = b"".join(self.protocol.data_to_send())
        if data:
            await self.stream.send_all(data)

    async def handshake(self, headers: dict[str, str] | None = None) -> int:
        """Upgrade; the HTTP status of the answer (101 when accepted)."""
        request = self.protocol.connect()
        for name, value in (headers or {}).items():
            request.headers[name] = value
        self.protocol.send_request(request)
        await self.flush()
        while True:
            data = await self.stream.receive_some()
            if not data:
                self.protocol.receive_eof()
            else:
                self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if isinstance(event, Response):
                    self.status = event.status_code
                    return event.status_code
            if not data:
                raise EOFError("closed during the handshake")

    def send(self, text: str | bytes, *, binary: bool = False) -> None:
        """Queue a frame (sent by :meth:`flush`)."""
        payload = text.encode() if isinstance(text, str) else text
        if binary:
            self.protocol.send_binary(payload)
        else:
            self.protocol.send_text(payload)

    async def send_now(self, text: str | bytes, *, binary: bool = False) -> None:
        self.send(text, binary=binary)
        await self.flush()

    async def next_frame(self) -> Frame | None:
        """The next frame from the server, or ``None`` at the end of the stream."""
        while not self._frames:
            for event in self.protocol.events_received():
                if isinstance(event, Frame):
                    self._frames.append(event)
            if self._frames:
                break
            try:
                data = await self.stream.receive_some()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if data:
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
                for event in self.protocol.events_received():
                    if isinstance(event, Frame):
                        self._frames.append(event)
                if not self._frames:
                    return None
        return self._frames.pop(0)

    async def next_message(self) -> dict[str, Any] | None:
        """The next text message (pings are answered on the way), or ``None`` once closed."""
        while True:
            got = await self.next_frame()
            if got is None or got.opcode is Opcode.CLOSE:
                return None
            if got.opcode is Opcode.TEXT:
                message: dict[str, Any] = orjson.loads(got.data)
                return message
            await self.flush()  # the pong the protocol queued

    async def close_code(self) -> int | None:
        """Read until the server closes; its close code (``None``: no close frame)."""
        while True:
            got = await self.next_frame()
            if got is None:
                return None
            if got.opcode is Opcode.CLOSE:
                return self.protocol.close_rcvd.code if self.protocol.close_rcvd else None


@asynccontextmanager
async def attacker(server: Server, path: str = "/f") -> AsyncIterator[Attacker]:
    """A connected, upgraded attacker on an in-memory stream to ``server``."""
    stream = await server.open_memory_stream()
    peer = Attacker(stream, path)
    status = await peer.handshake()
    assert status == 101, status
    try:
        yield peer
    finally:
        await stream.aclose()
