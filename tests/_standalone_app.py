"""A tiny jambonz websocket app written with plain trio-websocket (deliberately not jbtrio).

The fake jambonz is tested against it so that the fake's behaviour is checked against an
independent app, not against the SDK the fake is meant to test. Default script: greet and
gather speech, answer the gather hook with "You said ..." and hang up; ack everything that
wants an ack. Tests override single messages with ``on_message``.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import trio
import trio.testing
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    serve_websocket,
    wrap_server_stream,
)

ACK_TYPES = frozenset(
    {
        "session:new",
        "session:reconnect",
        "session:redirect",
        "session:adulting",
        "verb:hook",
        "dial:confirm",
    }
)

INITIAL_VERBS: list[dict[str, Any]] = [
    {"verb": "say", "text": "Hi, how can I help?"},
    {"verb": "gather", "input": ["speech"], "actionHook": "/gather", "timeout": 10},
]


class AppConn:
    """One accepted connection, as the app sees it."""

    def __init__(self, app: StandaloneApp, ws: WebSocketConnection, index: int) -> None:
        self.app = app
        self.ws = ws
        self.index = index
        self.messages: list[dict[str, Any]] = []
        self.close_code: int | None = None

    async def send(self, obj: Any) -> None:
        await self.ws.send_message(orjson.dumps(obj).decode())

    async def send_raw(self, payload: str | bytes) -> None:
        await self.ws.send_message(payload)

    async def ack(self, msgid: str, verbs: list[dict[str, Any]] | None = None) -> None:
        msg: dict[str, Any] = {"type": "ack", "msgid": msgid}
        if verbs is not None:
            msg["data"] = verbs
        await self.send(msg)

    async def close(self, code: int = 1000) -> None:
        await self.ws.aclose(code)


OnMessage = Callable[[AppConn, dict[str, Any]], Awaitable[bool]]


class StandaloneApp:
    """Serves the default script; ``on_message`` returns True when it handled a message."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        select_subprotocol: bool = True,
        initial_verbs: list[dict[str, Any]] | None = None,
        on_message: OnMessage | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.select_subprotocol = select_subprotocol
        self.initial_verbs = INITIAL_VERBS if initial_verbs is None else initial_verbs
        self.on_message = on_message
        self.conns: list[AppConn] = []
        self.requests: list[WebSocketRequest] = []
        self.changed = trio.Event()

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [m for c in self.conns for m in c.messages]

    def _poke(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def handler(self, request: WebSocketRequest) -> None:
        """Never lets an exception escape (it would kill the whole server)."""
        try:
            await self._handle(request)
        except* (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _handle(self, request: WebSocketRequest) -> None:
        self.requests.append(request)
        if self.username is not None:
            token = base64.b64encode(f"{self.username}:{self.password}".encode())
            if (b"authorization", b"Basic " + token) not in list(request.headers):
                await request.reject(401, body=b"unauthorized")
                return
        offered = "ws.jambonz.org" in request.proposed_subprotocols
        subprotocol = "ws.jambonz.org" if self.select_subprotocol and offered else None
        ws = await request.accept(subprotocol=subprotocol)
        conn = AppConn(self, ws, len(self.conns) + 1)
        self.conns.append(conn)
        self._poke()
        while True:
            try:
                text = await ws.get_message()
            except ConnectionClosed as exc:
                conn.close_code = exc.reason.code if exc.reason else None
                self._poke()
                return
            msg = orjson.loads(text)
            conn.messages.append(msg)
            self._poke()
            if self.on_message is not None and await self.on_message(conn, msg):
                continue
            await self.default_reply(conn, msg)

    async def default_reply(self, conn: AppConn, msg: dict[str, Any]) -> None:
        msg_type = msg.get("type")
        if msg_type == "session:new":
            await conn.ack(msg["msgid"], self.initial_verbs)
        elif msg_type == "verb:hook" and msg.get("hook") == "/gather":
            data = msg["data"]
            if data.get("reason") == "speechDetected":
                said = data["speech"]["alternatives"][0]["transcript"]
                text = f"You said {said}"
            elif data.get("reason") == "dtmfDetected":
                text = f"You pressed {data['digits']}"
            else:
                text = "I did not hear you"
            await conn.ack(msg["msgid"], [{"verb": "say", "text": text}, {"verb": "hangup"}])
        elif msg_type in ACK_TYPES:
            await conn.ack(msg["msgid"])

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self.changed.wait()

    async def serve(self, nursery: trio.Nursery) -> int:
        """Listen on loopback; returns the port."""
        server = await nursery.start(
            serve_websocket, self.handler, "127.0.0.1", 0, None, name="standalone-app.serve"
        )
        port: int = server.port
        return port

    def memory_connector(
        self, nursery: trio.Nursery, *, lockstep: bool = False
    ) -> Callable[[], Awaitable[trio.abc.Stream]]:
        """A connector for the fake: each call makes a memory stream pair served by this app.

        ``lockstep`` streams have no buffer: a send blocks until the peer reads, so an app that
        stops reading exerts real backpressure.
        """
        pair = trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair

        async def connect() -> trio.abc.Stream:
            client, server = pair()
            nursery.start_soon(self._serve_stream, server, name="standalone-app.conn")
            return client

        return connect

    async def _serve_stream(self, stream: trio.abc.Stream) -> None:
        try:
            async with trio.open_nursery() as nursery:
                request = await wrap_server_stream(nursery, stream)
                await self.handler(request)
                nursery.cancel_scope.cancel()
        except* (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)


async def place(app: StandaloneApp, fake: Any = None, **kwargs: Any) -> Any:
    """Place one call from a fake jambonz to ``app`` over memory streams; returns the Call."""
    from jbtrio.testing import FakeJambonz

    fake = fake or FakeJambonz()
    async with trio.open_nursery() as nursery:
        call = await fake.place_call(app.memory_connector(nursery), **kwargs)
        nursery.cancel_scope.cancel()
    return call
