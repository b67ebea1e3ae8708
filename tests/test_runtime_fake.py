"""The runtime against the fake jambonz: concurrency, drops at every point, isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio.testing

import jbtrio
from jbtrio._runtime import Server, ServerConfig
from jbtrio.testing import At, Caller, Drop, FakeJambonz, Faults, Inject
from jbtrio.verbs import Gather, Hangup, Say

URL = "ws://jbtrio.test/ivr"


def ivr_app() -> jbtrio.App:
    """Greet, gather speech, repeat it, hang up; every hook answered by its own handle."""
    from examples.ivr import app

    return app


@asynccontextmanager
async def serving(app: jbtrio.App, config: ServerConfig | None = None) -> AsyncIterator[Server]:
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app, config).run_in)
        yield server
        await server.shutdown(grace=0)


def said(call: Any) -> list[str]:
    return [v["text"] for v in call.executed_verbs if v.get("verb") == "say"]


async def test_the_ivr_example_end_to_end(autojump_clock: trio.testing.MockClock) -> None:
    async with serving(ivr_app()) as server:
        call = await FakeJambonz().place_call(
            URL, connector=server.open_memory_stream, caller=Caller(speech=["I need help"])
        )
    assert call.outcome.ok, call.outcome.summary()
    assert "You said: I need help" in said(call)
    assert call.executed_verbs[-1]["verb"] == "hangup"


async def test_200_concurrent_calls_each_hook_acked_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = FakeJambonz()
    calls: list[Any] = []
    async with serving(ivr_app()) as server:
        async with trio.open_nursery() as nursery:
            for n in range(200):
                call = fake.new_call(
                    URL, connector=server.open_memory_stream, caller=Caller(speech=[f"caller {n}"])
                )
                calls.append(call)
                nursery.start_soon(call.run, name=f"fake call {n}")
        assert server.calls == {}
    for n, call in enumerate(calls):
        assert call.outcome.ok, (n, call.outcome.summary())
        acked = [f.msgid for f in call.received("ack")]
        assert len(acked) == len(set(acked)) == 2  # session:new + the gather hook
        assert f"You said: caller {n}" in said(call)


async def test_a_crashing_handler_leaves_50_other_calls_untouched(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()
    ivr = ivr_app().resolve("/ivr")
    assert ivr is not None

    @app.route("/crash")
    async def crash(call: jbtrio.Call) -> None:
        raise RuntimeError("boom")

    app.mount("/ivr", _delegate)
    fake = FakeJambonz()
    calls: list[Any] = []
    async with serving(app) as server, trio.open_nursery() as nursery:
        bad = fake.new_call("ws://jbtrio.test/crash", connector=server.open_memory_stream)
        nursery.start_soon(bad.run, name="crashing call")
        for n in range(50):
            call = fake.new_call(
                URL, connector=server.open_memory_stream, caller=Caller(speech=[f"c{n}"])
            )
            calls.append(call)
            nursery.start_soon(call.run, name=f"call {n}")
    assert bad.outcome.status == "completed"
    assert [v["verb"] for v in bad.executed_verbs] == ["hangup"]
    assert all(c.outcome.ok for c in calls)


async def _delegate(call: jbtrio.Call) -> None:
    from examples.ivr import ivr

    await call.run_flow(ivr)


def _verbs_run(call: Any) -> list[str]:
    return [f"{v['verb']}:{v.get('text', '')}" for v in call.executed_verbs]


async def test_a_drop_at_every_point_of_a_call_is_survived(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # With jambonz 0.9.8's re-key stall (a drop before the session:new ack makes jambonz hold
    # every later message back): jbtrio forces one normal reconnect, which releases them.
    fake = FakeJambonz()
    async with serving(ivr_app()) as server:
        reference = await fake.place_call(
            URL, connector=server.open_memory_stream, caller=Caller(speech=["hello"])
        )
    assert reference.outcome.ok
    expected = _verbs_run(reference)
    outgoing = len(reference.sent())
    incoming = len(reference.received())
    points = [("out", i, when) for i in range(outgoing) for when in ("before", "after")]
    # An app frame lost *before* jambonz read it, ack or command: jbtrio re-sends it on
    # jambonz's evidence (receipts, the probe, a gather's failed hook).
    points += [("in", i, when) for i in range(incoming) for when in ("before", "after")]
    for direction, index, when in points:
        rule = Drop(At(direction, index=index), when)  # type: ignore[arg-type]
        async with serving(ivr_app()) as server:
            call = await fake.place_call(
                URL,
                connector=server.open_memory_stream,
                caller=Caller(speech=["hello"]),
                faults=Faults([rule]),
            )
        where = f"drop {when} {direction} frame #{index}"
        assert call.outcome.status == "completed", (where, call.outcome.summary())
        assert _verbs_run(call) == expected, where


async def test_malformed_frames_from_jambonz_are_skipped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    faults = Faults([Inject(At("out", index=0), "{not json", when="after")])
    async with serving(ivr_app()) as server:
        call = await FakeJambonz().place_call(
            URL, connector=server.open_memory_stream, caller=Caller(speech=["x"]), faults=faults
        )
    assert call.outcome.ok, call.outcome.summary()


async def test_a_hook_never_answered_is_acked_before_the_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()

    @app.route("/ivr")
    async def lazy(call: jbtrio.Call) -> None:
        await call.start.reply(
            [Gather(input=["speech"], action_hook="/heard", timeout=5), Say(text="bye"), Hangup()]
        )
        await trio.sleep_forever()  # never looks at the hook

    async with serving(app) as server:
        call = await FakeJambonz().place_call(
            URL, connector=server.open_memory_stream, caller=Caller(speech=["anything"])
        )
    assert call.outcome.ok, call.outcome.summary()
    hook = next(f for f in call.sent("verb:hook"))
    ack = next(f for f in call.received("ack") if f.msgid == hook.msgid)
    assert ack.time - hook.time < 5.0


async def test_slow_app_does_not_stop_pings(autojump_clock: trio.testing.MockClock) -> None:
    from trio_websocket import wrap_client_stream

    app = jbtrio.App()

    @app.route("/ivr")
    async def stuck(call: jbtrio.Call) -> None:
        await call.start.reply([Say(text="hi")])
        await trio.sleep_forever()  # never drains its events

    config = ServerConfig(inbox_size=4)
    async with serving(app, config) as server, trio.open_nursery() as nursery:
        stream = await server.open_memory_stream()
        ws = await wrap_client_stream(
            nursery,
            stream,  # type: ignore[arg-type]  # any trio Stream works; the stub says SocketStream
            "localhost",
            "/ivr",
            subprotocols=["ws.jambonz.org"],
        )
        sid = "slow-1"
        await ws.send_message(
            f'{{"type":"session:new","msgid":"m0","call_sid":"{sid}","data":{{"call_sid":"{sid}"}}}}'
        )
        await ws.get_message()
        for n in range(100):
            await ws.send_message(
                f'{{"type":"call:status","msgid":"s{n}","data":{{"call_sid":"{sid}"}}}}'
            )
        with trio.fail_after(1):
            await ws.ping()
        await ws.aclose()


async def test_a_handshake_that_never_completes_is_cut(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serving(ivr_app(), ServerConfig(handshake_timeout=2.0)) as server:
        stream = await server.open_memory_stream()
        await stream.send_all(b"GET /ivr HTTP/1.1\r\nHost: x\r\n")  # and never finishes
        start = trio.current_time()
        assert await stream.receive_some() == b""  # the server hung up
        assert 2.0 <= trio.current_time() - start < 3.0
        await trio.testing.wait_all_tasks_blocked()
        assert server.connections == 0


async def test_an_oversized_frame_closes_with_1009_and_the_call_waits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = ServerConfig(max_message_bytes=4096)
    # With the first verb:hook: a drop before the session:new ack would hit jambonz's own
    # re-key stall (docs/jambonz.md, Reconnects), which the fake reproduces and no app can fix.
    faults = Faults(
        [Inject(At("out", type="verb:hook"), '{"type":"call:status","pad":"' + "x" * 5000 + '"}')]
    )
    async with serving(ivr_app(), config) as server:
        call = await FakeJambonz().place_call(
            URL, connector=server.open_memory_stream, caller=Caller(speech=["big"]), faults=faults
        )
    closes = [e for e in call.events if getattr(e, "code", None) == 1009]
    assert closes, call.events
    assert call.outcome.status == "completed", call.outcome.summary()
