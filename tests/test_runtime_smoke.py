"""The runtime end to end over in-memory streams, with a hand-rolled jambonz client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import trio
import trio.testing
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    wrap_client_stream,
)

import jbtrio
from jbtrio._app import App
from jbtrio._call import Call
from jbtrio._runtime import Server, ServerConfig
from jbtrio.testing import app_view
from jbtrio.verbs import Gather, Hangup, Say

SID = "5e55a1d0-0000-4000-8000-000000000001"


def frame(type_: str, msgid: str, **kw: Any) -> str:
    body: dict[str, Any] = {"type": type_, "msgid": msgid, "call_sid": SID, "data": {}}
    body.update(kw)
    body["data"] = {"call_sid": SID, **body["data"]}
    return orjson.dumps(body).decode()


@asynccontextmanager
async def running(app: App, config: ServerConfig | None = None) -> AsyncIterator[Server]:
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app, config).run_in)
        yield server
        await server.shutdown(grace=0)


@asynccontextmanager
async def jambonz(
    server: Server,
    path: str = "/ivr",
    subprotocols: list[str] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> AsyncIterator[WebSocketConnection]:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.handle_stream, server_stream, name="server conn")
        ws = await wrap_client_stream(
            nursery,
            client_stream,  # type: ignore[arg-type]  # any trio Stream works
            "localhost",
            path,
            subprotocols=["ws.jambonz.org"] if subprotocols is None else subprotocols,
            extra_headers=headers,
        )
        try:
            yield ws
        finally:
            await ws.aclose()


async def receive_json(ws: WebSocketConnection) -> dict[str, Any]:
    message = await ws.get_message()
    parsed: dict[str, Any] = orjson.loads(message)
    return parsed


def ivr_app() -> App:
    app = App()

    @app.route("/ivr")
    async def ivr(call: Call) -> None:
        await call.start.reply([Say(text="Hi"), Gather(input=["speech"], action_hook="/echo")])
        async for event in call.events():
            if event.hook == "/echo":
                heard = event.message.gather().speech_text  # type: ignore[union-attr]
                await event.reply([Say(text=f"You said: {heard}"), Hangup()])

    return app


async def test_a_call_end_to_end(autojump_clock: trio.testing.MockClock) -> None:
    async with running(ivr_app()) as server, jambonz(server) as ws:
        await ws.send_message(frame("session:new", "m1"))
        ack = await receive_json(ws)
        assert ack["msgid"] == "m1" and app_view(ack["data"])[0] == {"verb": "say", "text": "Hi"}
        speech = {"is_final": True, "alternatives": [{"transcript": "pizza", "confidence": 0.9}]}
        await ws.send_message(
            frame(
                "verb:hook", "m2", hook="/echo", data={"speech": speech, "reason": "speechDetected"}
            )
        )
        ack = await receive_json(ws)
        assert ack["msgid"] == "m2"
        assert app_view(ack["data"]) == [
            {"verb": "say", "text": "You said: pizza"},
            {"verb": "hangup"},
        ]
        assert SID in server.calls
        await ws.send_message(frame("call:status", "m3", data={"call_status": "completed"}))
        await ws.aclose(1000)
        await trio.testing.wait_all_tasks_blocked()
        assert server.calls == {}


async def test_an_unanswered_hook_is_acked_before_jambonz_gives_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = App()

    @app.route("/ivr")
    async def silent(call: Call) -> None:
        await call.start.reply([Say(text="Hi")])
        await trio.sleep_forever()

    async with running(app) as server, jambonz(server) as ws:
        await ws.send_message(frame("session:new", "m1"))
        await receive_json(ws)
        sent_at = trio.current_time()
        await ws.send_message(frame("verb:hook", "m2", hook="/x"))
        ack = await receive_json(ws)
        assert ack == {"type": "ack", "msgid": "m2"}
        assert trio.current_time() - sent_at < 5.0


async def test_a_crashing_call_leaves_others_untouched(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = App()

    @app.route("/ivr")
    async def handler(call: Call) -> None:
        if call.info.from_ == "crash":
            raise RuntimeError("boom")
        await call.start.reply([Say(text="ok")])

    async with running(app) as server:
        async with jambonz(server) as bad:
            await bad.send_message(
                orjson.dumps(
                    {
                        "type": "session:new",
                        "msgid": "b1",
                        "call_sid": "bad",
                        "data": {"call_sid": "bad", "from": "crash"},
                    }
                ).decode()
            )
            ack = await receive_json(bad)
            assert ack["msgid"] == "b1" and app_view(ack["data"]) == [{"verb": "hangup"}]
        async with jambonz(server) as good:
            await good.send_message(frame("session:new", "g1"))
            ack = await receive_json(good)
            assert app_view(ack["data"]) == [{"verb": "say", "text": "ok"}]


@pytest.mark.parametrize(
    ("path", "subprotocols", "headers", "status"),
    [
        ("/ivr", [], None, 400),
        ("/nowhere", None, [(b"authorization", b"Basic dTpw")], 404),
        ("/ivr", None, None, 401),
        ("/ivr", None, [(b"authorization", b"Basic d3Jvbmc6d3Jvbmc=")], 401),
    ],
)
async def test_bad_upgrades_are_refused(
    path: str,
    subprotocols: list[str] | None,
    headers: list[tuple[bytes, bytes]] | None,
    status: int,
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = ServerConfig(username="u", password="p")
    rejected: list[int] = []
    async with running(ivr_app(), config) as server:
        try:
            async with jambonz(server, path, subprotocols, headers):
                pass
        except* ConnectionRejected as group:
            rejected.extend(
                e.status_code for e in group.exceptions if isinstance(e, ConnectionRejected)
            )
        # the server is undisturbed: a good call still works
        async with jambonz(
            server, headers=[(b"authorization", jbtrio._runtime.basic_auth_header("u", "p"))]
        ) as ws:
            await ws.send_message(frame("session:new", "m1"))
            assert (await receive_json(ws))["msgid"] == "m1"
    assert rejected == [status]


async def test_routing_by_prefix_reaches_adulting_legs() -> None:
    app = ivr_app()
    assert app.resolve("/ivr/adulting") is not None
    assert app.resolve("/ivr") is not None
    assert app.resolve("/ivrx") is None


def test_routing_answers_follow_what_is_mounted_later() -> None:
    """resolve() and mount_of() remember their answers per path (issue 23), never past a
    new mount, and never for more than a bounded number of paths."""
    app = ivr_app()
    assert app.resolve("/sales") is None and app.mount_of("/sales/eu") is None
    assert app.mount_of("/ivr/adulting") == "/ivr"
    ivr = app.resolve("/ivr")
    assert ivr is not None and app.resolve("/ivr") is ivr

    @app.flow("/sales")
    async def sales(call: Call) -> Any:
        yield Say(text="sales")

    assert app.resolve("/sales") is not None
    assert app.mount_of("/sales/eu") == "/sales"

    @app.adulting("/sales")
    async def sales_leg(call: Call) -> Any:
        yield Say(text="leg")

    assert app.mount_of("/sales/adulting") == "/sales"
    for n in range(1000):
        assert app.resolve(f"/nowhere/{n}") is None
        assert app.mount_of(f"/nowhere/{n}") is None
    assert len(app._resolved) <= 256 and len(app._mounts_of) <= 256
    assert app.resolve("/ivr/adulting") is not None and app.mount_of("/ivr") == "/ivr"


async def test_a_drop_is_survived_and_the_call_resumes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = App()
    seen: list[str] = []

    @app.route("/ivr")
    async def handler(call: Call) -> None:
        await call.start.reply([Say(text="Hi")])
        async for event in call.events():
            seen.append(event.type)
            if event.needs_reply:
                await event.reply([Say(text="later")])

    async with running(app) as server:
        async with jambonz(server) as first:
            await first.send_message(frame("session:new", "m1"))
            await receive_json(first)
            await first.send_message(
                frame("call:status", "s1", data={"call_status": "in-progress"})
            )
            await trio.testing.wait_all_tasks_blocked()
            await first.aclose(4000)  # not 1000: jambonz will reconnect
        await trio.testing.wait_all_tasks_blocked()
        assert SID in server.calls  # the call outlived its socket
        async with jambonz(server) as second:
            await second.send_message(frame("session:reconnect", "r1"))
            assert await receive_json(second) == {"type": "ack", "msgid": "r1"}
            await second.send_message(frame("verb:hook", "m2", hook="/x"))
            ack = await receive_json(second)
            assert ack["msgid"] == "m2" and app_view(ack["data"]) == [
                {"verb": "say", "text": "later"}
            ]
        assert seen == ["call:status", "verb:hook"]


async def test_no_reconnect_ends_the_call(autojump_clock: trio.testing.MockClock) -> None:
    app = App()
    finished = trio.Event()

    @app.route("/ivr")
    async def handler(call: Call) -> None:
        try:
            await call.start.reply([Say(text="Hi")])
            await trio.sleep_forever()
        finally:
            finished.set()

    config = ServerConfig(reconnect_timeout=3.0)
    async with running(app, config) as server:
        async with jambonz(server) as ws:
            await ws.send_message(frame("session:new", "m1"))
            await receive_json(ws)
            await ws.aclose(1006 if False else 4001)
        await finished.wait()
        assert server.calls == {}


async def test_shutdown_closes_calls_in_flight_with_1001(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(ivr_app()).run_in)
        async with jambonz(server) as ws:
            await ws.send_message(frame("session:new", "m1"))
            await receive_json(ws)
            nursery.start_soon(server.shutdown, 2.0)
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason is not None and info.value.reason.code == 1001
            assert trio.current_time() >= 2.0


def test_public_errors_are_value_errors() -> None:
    assert issubclass(jbtrio.ProtocolError, ValueError)
