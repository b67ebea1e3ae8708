"""More of the runtime and app API: caps, keepalive, stalls, TCP, resumption, routing."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio
import trio.testing
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    open_websocket,
    wrap_client_stream,
)

import jbtrio
from jbtrio._runtime import Server, ServerConfig
from jbtrio.testing import Caller, FakeJambonz, JambonzConfig, app_view
from jbtrio.verbs import Gather, GoogleS2s, Hangup, Redirect, Say

SID = "0ddba11-0000-4000-8000-000000000001"


@asynccontextmanager
async def serving(app: jbtrio.App, config: ServerConfig | None = None) -> AsyncIterator[Server]:
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app, config).run_in)
        yield server
        await server.shutdown(grace=0)


@asynccontextmanager
async def raw_client(server: Server, path: str = "/f") -> AsyncIterator[WebSocketConnection]:
    async with trio.open_nursery() as nursery:
        stream = await server.open_memory_stream()
        ws = await wrap_client_stream(
            nursery,
            stream,  # type: ignore[arg-type]  # any trio Stream works
            "localhost",
            path,
            subprotocols=["ws.jambonz.org"],
        )
        try:
            yield ws
        finally:
            await ws.aclose()


def frame(type_: str, msgid: str, sid: str = SID, **kw: Any) -> str:
    data = {"call_sid": sid, **kw.pop("data", {})}
    return orjson.dumps(
        {"type": type_, "msgid": msgid, "call_sid": sid, "data": data, **kw}
    ).decode()


async def receive(ws: WebSocketConnection) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(await ws.get_message())
    return parsed


def hello_app() -> jbtrio.App:
    app = jbtrio.App()

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield Say(text="resumed" if call.resumed else "hello")
        await trio.sleep_forever()

    return app


async def test_the_connection_cap_refuses_with_503(autojump_clock: trio.testing.MockClock) -> None:
    refused: list[int] = []
    config = ServerConfig(max_connections=1)
    async with serving(hello_app(), config) as server, raw_client(server) as first:
        await first.send_message(frame("session:new", "m1"))
        await receive(first)
        try:
            async with raw_client(server):
                pass
        except* ConnectionRejected as group:
            refused += [
                e.status_code for e in group.exceptions if isinstance(e, ConnectionRejected)
            ]
    assert refused == [503]


async def frozen_peer(
    server: Server, first: str, stream: trio.abc.Stream | None = None
) -> trio.abc.Stream:
    """A client that completes the handshake, sends ``first``, then never reads again:
    no pongs, no close frames — a dead peer whose TCP connection stays up."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request, TextMessage

    if stream is None:
        stream = await server.open_memory_stream()
    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(
        ws.send(Request(host="localhost", target="/f", subprotocols=["ws.jambonz.org"]))
    )
    accepted = False
    while not accepted:
        ws.receive_data(bytes(await stream.receive_some()))
        accepted = any(isinstance(e, AcceptConnection) for e in ws.events())
    await stream.send_all(ws.send(TextMessage(data=first)))
    return stream


async def test_a_peer_that_stops_answering_pings_is_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = ServerConfig(ping_interval=2.0, pong_timeout=1.0, reconnect_timeout=5.0)
    async with serving(hello_app(), config) as server:
        await frozen_peer(server, frame("session:new", "m1"))
        await trio.sleep(0.5)
        assert server.calls[SID].socket is not None
        await trio.sleep(3.0)  # a ping at 2 s, no pong by 3 s
        assert server.calls[SID].socket is None  # treated as dropped: waiting for a reconnect
        await trio.sleep(6.0)
        assert SID not in server.calls  # and ended when jambonz never came back


async def test_a_stalled_send_aborts_the_socket(autojump_clock: trio.testing.MockClock) -> None:
    app = jbtrio.App()

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield Say(text="hi")
        for n in range(200):  # far more than any socket buffer holds unread
            await call.send(jbtrio.commands.config(notifyEvents=bool(n % 2)))
        await trio.sleep_forever()

    config = ServerConfig(send_stall_timeout=3.0, ping_interval=None)
    async with serving(app, config) as server, trio.open_nursery() as nursery:
        # A lockstep pair has no buffer: a send blocks until the peer reads, as TCP does once
        # the kernel buffers are full.
        client, server_end = trio.testing.lockstep_stream_pair()
        nursery.start_soon(server.handle_stream, server_end)
        await frozen_peer(server, frame("session:new", "m1"), client)
        await trio.sleep(1.0)
        session = server.calls[SID]
        session.feed(frame("call:status", "s1"))  # as if read: opens the command gate
        await trio.sleep(10)  # the peer reads nothing: the writer blocks, then is aborted
        assert session.socket is None


async def test_serve_on_tcp_inside_a_trio_program() -> None:
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(jbtrio.serve, hello_app(), "127.0.0.1", 0)
        assert server.port
        async with open_websocket(
            "127.0.0.1", server.port, "/f", use_ssl=False, subprotocols=["ws.jambonz.org"]
        ) as ws:
            await ws.send_message(frame("session:new", "m1"))
            ack = await receive(ws)
            assert app_view(ack["data"]) == [{"verb": "say", "text": "hello"}]
        await server.shutdown(grace=0)


async def test_a_reconnect_for_an_unknown_call_resumes_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serving(hello_app()) as server, raw_client(server) as ws:
        await ws.send_message(frame("session:reconnect", "r1"))
        ack = await receive(ws)
        assert ack["msgid"] == "r1" and app_view(ack["data"]) == [
            {"verb": "say", "text": "resumed"}
        ]


async def test_jambonz_closing_1000_ends_the_call_and_runs_finally(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()
    closed = trio.Event()

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        try:
            yield Say(text="hi")
            await trio.sleep_forever()
        finally:
            closed.set()

    async with serving(app) as server:
        async with raw_client(server) as ws:
            await ws.send_message(frame("session:new", "m1"))
            await receive(ws)
        await closed.wait()
        assert server.calls == {}


async def test_adulting_legs_reach_their_flow(autojump_clock: trio.testing.MockClock) -> None:
    app = jbtrio.App()
    seen: list[str] = []

    @app.flow("/f")
    async def parent(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield Hangup()

    @app.adulting("/f")
    async def child(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        seen.append(call.path)
        yield Say(text="ignored by jambonz")

    async with serving(app) as server:
        call = await FakeJambonz().place_call(
            "ws://jbtrio.test/f",
            connector=server.open_memory_stream,
            first_message="session:adulting",
            verbs=[{"verb": "say", "text": "child app"}, {"verb": "hangup"}],
        )
    assert call.outcome.ok, call.outcome.summary()
    assert seen == ["/f/adulting"]
    assert call.sent()[0].type == "session:adulting"


async def test_session_redirect_hands_the_call_to_another_flow(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()
    closed: list[str] = []

    @app.flow("/a")
    async def first(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        try:
            yield Say(text="in a")
            await call.redirect_to_hook("/b")
            await trio.sleep_forever()
        finally:
            closed.append("a")

    @app.flow("/b")
    async def second(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield [Say(text="in b"), Hangup()]

    async with serving(app) as server:
        call = await FakeJambonz().place_call(
            "ws://jbtrio.test/a", connector=server.open_memory_stream
        )
    assert call.outcome.ok, call.outcome.summary()
    said = [v["text"] for v in call.executed_verbs if v.get("verb") == "say"]
    assert said[-1] == "in b"
    assert closed == ["a"]


async def test_session_redirect_closes_a_flow_parked_on_its_hooks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The flow is woken to end (issue 23: not cancelled), with the same outcome: its
    ``finally`` runs, it sends nothing more, the new flow answers the redirect."""
    app = jbtrio.App()
    events: list[str] = []

    @app.flow("/a")
    async def first(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        async def redirect(event: jbtrio.Event) -> None:
            if "redirecting" not in events:
                events.append("redirecting")
                await call.redirect_to_hook("/b")

        call.on("call:status", redirect)
        try:
            yield Gather(input=["speech"], timeout=60, say=Say(text="in a"))
            events.append("resumed")  # never: no hook reaches a closed flow
        finally:
            events.append("a closed")
        yield Say(text="never said")

    @app.flow("/b")
    async def second(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        events.append("b")
        yield [Say(text="in b"), Hangup()]

    async with serving(app) as server:
        call = await FakeJambonz().place_call(
            "ws://jbtrio.test/a", connector=server.open_memory_stream, caller=Caller()
        )
    assert call.outcome.ok, call.outcome.summary()
    said = [v["text"] for v in call.executed_verbs if v.get("verb") == "say"]
    assert said == ["in b"]  # "in a" is the gather's own
    # (the closing flow and the new one are two tasks: either may run first)
    assert events[0] == "redirecting" and sorted(events[1:]) == ["a closed", "b"], events


async def test_google_multi_function_tool_calls(autojump_clock: trio.testing.MockClock) -> None:
    app = jbtrio.App()

    @app.tool("add")
    async def add(call: jbtrio.Call, a: int, b: int) -> int:
        return a + b

    @app.tool("fail")
    async def fail(call: jbtrio.Call) -> None:
        raise RuntimeError("nope")

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield GoogleS2s(llm_options={"setup": {}})

    async with serving(app) as server, raw_client(server) as ws:
        await ws.send_message(frame("session:new", "m1"))
        ack = await receive(ws)
        assert app_view(ack["data"])[0]["toolHook"] == "/jbtrio/tools"
        await ws.send_message(frame("call:status", "s1"))
        call_data = {
            "tool_call_id": "function_call_id",
            "type": "toolCall",
            "function_calls": [
                {"id": "f1", "name": "add", "args": {"a": 2, "b": 3}},
                {"id": "f2", "name": "fail", "args": {}},
            ],
        }
        await ws.send_message(frame("llm:tool-call", "t1", hook="/jbtrio/tools", data=call_data))
        out = await receive(ws)
    assert out["command"] == "llm:tool-output"
    responses = out["data"]["toolResponse"]["functionResponses"]
    assert responses[0] == {"id": "f1", "response": {"output": 5}}
    assert responses[1]["id"] == "f2" and "nope" in str(responses[1]["response"])


async def test_command_methods_send_server_shapes(autojump_clock: trio.testing.MockClock) -> None:
    app = jbtrio.App()

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield Say(text="hi")
        await call.dtmf("1", 250, call_sid="leg-b")
        await call.mute(True)
        await call.listen_status("pause")
        await call.sip_request("INFO", content_type="text/plain", content="x")
        await call.boost_audio_signal("-6 dB")
        await trio.sleep_forever()

    async with serving(app) as server, raw_client(server) as ws:
        await ws.send_message(frame("session:new", "m1"))
        await receive(ws)
        await ws.send_message(frame("call:status", "s1"))
        got = [await receive(ws) for _ in range(5)]
    assert got[0] == {
        "type": "command",
        "command": "dtmf",
        "data": {"dtmf": {"digit": "1", "duration": 250}},
        "callSid": "leg-b",
    }
    assert got[1]["data"] == {"mute_status": "mute"}
    assert got[2]["data"] == {"listen_status": "pause"}
    assert got[3]["data"]["sip_request"]["method"] == "INFO"
    assert got[4]["data"] == "-6 dB"


async def test_a_fake_call_over_tcp_to_the_ivr() -> None:
    from examples.ivr import app

    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(jbtrio.serve, app, "127.0.0.1", 0)
        fast = JambonzConfig(say_seconds_per_char=0.001, say_min_seconds=0.01)
        call = await FakeJambonz(fast).place_call(
            f"ws://127.0.0.1:{server.port}/ivr",
            caller=Caller(speech=["over tcp"], response_delay=0.05),
        )
        await server.shutdown(grace=0)
    assert call.outcome.ok, call.outcome.summary()


async def test_closed_connection_after_shutdown_is_1001(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(hello_app()).run_in)
        async with raw_client(server) as ws:
            await ws.send_message(frame("session:new", "m1"))
            await receive(ws)
            await server.shutdown(grace=0)
            try:
                await ws.get_message()
            except ConnectionClosed as exc:
                assert exc.reason is not None and exc.reason.code == 1001


async def test_a_redirect_verb_to_another_ws_url_runs_that_flow_beside_the_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()
    statuses: list[str] = []

    @app.flow("/a")
    async def first(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        call.on("call:status", _note_status(statuses))
        yield [Say(text="in a"), Redirect(action_hook="ws://jbtrio.test/b")]
        await trio.sleep_forever()

    @app.flow("/b")
    async def second(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        assert call.start.type == "session:redirect"
        yield [Say(text="in b"), Hangup()]

    async with serving(app) as server:
        call = await FakeJambonz().place_call(
            "ws://jbtrio.test/a", connector=server.open_memory_stream
        )
        assert server.calls == {}
    assert call.outcome.ok, call.outcome.summary()
    said = [v["text"] for v in call.executed_verbs if v.get("verb") == "say"]
    assert said == ["in a", "in b"]
    assert "completed" in statuses  # the first socket stayed jambonz's notifier


def _note_status(statuses: list[str]) -> Any:
    async def note(event: jbtrio.Event) -> None:
        assert isinstance(event.message, jbtrio.CallStatus)
        statuses.append(str(event.message.data.call_status))

    return note


def test_tune_gc_freezes_and_raises_the_threshold() -> None:
    import gc

    import pytest

    old = gc.get_threshold()
    try:
        jbtrio.tune_gc(12_345)
        assert gc.get_threshold()[0] == 12_345
        assert gc.get_freeze_count() > 0
        with pytest.raises(ValueError):
            jbtrio.tune_gc(0)
    finally:
        gc.unfreeze()
        gc.set_threshold(*old)
