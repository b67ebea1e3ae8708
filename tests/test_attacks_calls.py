"""Calls a peer can make the server hold (issue 16, item 6): calls waiting for their
reconnect count against ``max_connections``, a call_sid cannot open sessions without bound,
and an ended call is freed at once (no reference cycle waits for a full collection)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trio
import trio.testing
from _attacker import Attacker, attacker, frame, hello_app, serving, session_new

import jbtrio
from jbtrio._runtime import CallSession, ServerConfig
from jbtrio.testing import Caller, FakeJambonz


@contextmanager
def no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def test_orphan_calls_count_against_max_connections(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Each session:new followed by a reset left a call alive for reconnect_timeout outside
    max_connections: 10k of them cost 282 MB."""
    config = ServerConfig(max_connections=5, ping_interval=None, reconnect_timeout=30)
    async with serving(hello_app(), config) as server:
        for n in range(20):
            async with attacker(server) as peer:
                await peer.send_now(session_new(sid=f"orphan-{n}"))
                await peer.next_message()
        await trio.sleep(0.1)
        assert len(server.calls) == 5  # the rest were refused
        assert all(session.socket is None for session in server.calls.values())
        # A genuine reconnect of a waiting call is not a new call: it is never refused.
        async with attacker(server) as jambonz:
            reconnect = session_new(msgid="r1", sid="orphan-0").replace(
                "session:new", "session:reconnect"
            )
            await jambonz.send_now(reconnect)
            ack = await jambonz.next_message()
            assert ack is not None and ack["msgid"] == "r1"
    assert any("max_connections" in r.getMessage() for r in caplog.records)


async def test_at_the_bound_a_new_call_ends_the_longest_orphan(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A flood of orphans must not keep new calls out for reconnect_timeout: at the bound,
    one that has waited orphan_evict_after seconds makes room."""
    config = ServerConfig(
        max_connections=3, ping_interval=None, reconnect_timeout=30, orphan_evict_after=5
    )
    async with serving(hello_app(), config) as server:
        for n in range(3):
            async with attacker(server) as peer:
                await peer.send_now(session_new(sid=f"orphan-{n}"))
                await peer.next_message()
            await trio.sleep(1)
        async with attacker(server) as early:  # orphan-0 waited 3 s: not yet
            await early.send_now(session_new(sid="early"))
            assert await early.next_message() is None
        await trio.sleep(2.5)
        async with attacker(server) as new:  # orphan-0 waited 5.5 s: it goes
            await new.send_now(session_new(sid="new"))
            ack = await new.next_message()
            assert ack is not None and ack["type"] == "ack"
            assert set(server.calls) == {"orphan-1", "orphan-2", "new"}


async def test_a_call_sid_cannot_open_sessions_without_bound(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """200 session:redirect sockets for one call_sid made 200 extra calls."""
    config = ServerConfig(ping_interval=None, max_sessions_per_call=4)
    async with serving(hello_app(), config) as server, attacker(server) as real:
        await real.send_now(session_new())
        await real.next_message()
        refused = 0
        for n in range(10):
            async with attacker(server) as peer:
                await peer.send_now(frame("session:redirect", f"x{n}", hook="/f"))
                if await peer.next_message() is None:
                    refused += 1
        assert refused == 10 - 3  # the call and 3 redirect sessions
        assert len(server.calls) <= 4


async def test_an_ended_call_is_freed_without_a_collection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from examples.ivr import app

    config = ServerConfig(ping_interval=None, reconnect_timeout=1.0)
    refs: list[weakref.ref[object]] = []
    with no_gc():
        async with serving(app, config) as server:
            # An orphan: session:new, then the socket drops and jambonz never comes back.
            async with attacker(server, "/ivr") as peer:
                await peer.send_now(session_new(sid="orphan"))
                await peer.next_message()
                refs.append(weakref.ref(server.calls["orphan"]))
            # A flow ended by malformed hook data.
            async with attacker(server, "/ivr") as peer:
                await peer.send_now(session_new(sid="crash"))
                ack = await peer.next_message()
                assert ack is not None
                refs.append(weakref.ref(server.calls["crash"]))
                gather = next(v for v in ack["data"] if v.get("verb") == "gather")
                hook = gather["actionHook"]
                await peer.send_now(
                    frame("verb:hook", "m2", "crash", hook=hook, data={"speech": "x"})
                )
                await peer.next_message()
            # A whole call through the fake jambonz, to its hangup.
            call = await FakeJambonz().place_call(
                "ws://jbtrio.test/ivr",
                connector=server.open_memory_stream,
                caller=Caller(speech=["hello"]),
            )
            assert call.outcome.ok
            await trio.sleep(5)
            assert server.calls == {}
        alive = [ref() for ref in refs if ref() is not None]
        assert [s.call_sid for s in alive] == []  # type: ignore[attr-defined]
        leftover = [o for o in gc.get_objects() if isinstance(o, CallSession | jbtrio.Call)]
        assert leftover == []


def test_serve_exposes_max_connections_and_allowed_peers() -> None:
    import argparse

    from jbtrio import _cli_serve

    parser = argparse.ArgumentParser()
    _cli_serve.add_arguments(parser)
    args = parser.parse_args(
        ["m:app", "--max-connections", "50", "--allowed-peers", "10.0.0.0/8,127.0.0.1"]
    )
    config = _cli_serve._config(args)
    assert config.max_connections == 50
    assert config.allowed_peers == ("10.0.0.0/8", "127.0.0.1")
    worker = _cli_serve._worker_command(args)(0, 3)
    assert worker[worker.index("--max-connections") + 1] == "50"


# ---------------------------------------------------------------------- hook data (item 10)


async def test_wrong_typed_hook_data_is_a_protocol_error_the_flow_sees(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from collections.abc import AsyncGenerator
    from typing import Any

    from jbtrio import ProtocolError
    from jbtrio.verbs import Gather, Hangup, Say

    seen: list[str] = []
    app = jbtrio.App()

    @app.flow("/g")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        try:
            yield Gather(input=["speech"], say=Say(text="?"))
        except ProtocolError as exc:
            seen.append(str(exc))
        yield [Say(text="sorry"), Hangup()]

    async with (
        serving(app, ServerConfig(ping_interval=None)) as server,
        attacker(server, "/g") as peer,
    ):
        await peer.send_now(session_new())
        ack = await peer.next_message()
        assert ack is not None
        hook = next(v for v in ack["data"] if v.get("verb") == "gather")["actionHook"]
        await peer.send_now(frame("verb:hook", "m2", hook=hook, data={"speech": "x"}))
        answer = await peer.next_message()
        assert answer is not None and answer["data"][0]["text"] == "sorry"
    assert seen == [
        f"verb:hook m2 ({hook}) carries a malformed gather result: "
        "$.data.speech: expected object, got string"
    ]


async def test_wrong_typed_hook_data_uncaught_is_logged_once_without_a_traceback(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """It surfaced as an app crash, with the traceback of jbtrio's own parsing code."""
    from examples.ivr import app

    async with (
        serving(app, ServerConfig(ping_interval=None)) as server,
        attacker(server, "/ivr") as peer,
    ):
        await peer.send_now(session_new())
        ack = await peer.next_message()
        assert ack is not None
        hook = next(v for v in ack["data"] if v.get("verb") == "gather")["actionHook"]
        await peer.send_now(frame("verb:hook", "m2", hook=hook, data={"speech": "x"}))
        await peer.next_message()  # the apology
    lines = [r for r in caplog.records if "malformed gather result" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].exc_info is None


# ---------------------------------------------------------------------- shutdown (item 9)


async def test_shutdown_closes_the_remaining_calls_at_once_within_one_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Calls left after the grace period were closed one at a time, up to close_timeout
    each: six peers that never answer the close frame made shutdown take 38.6 s."""
    config = ServerConfig(ping_interval=None, close_timeout=5.0)
    async with trio.open_nursery() as nursery:
        from jbtrio._runtime import Server

        server: Server = await nursery.start(Server(hello_app(), config).run_in)
        peers = []
        for n in range(6):
            peer = Attacker(await server.open_memory_stream())
            await peer.handshake()
            await peer.send_now(session_new(sid=f"stuck-{n}"))
            await peer.next_message()
            peers.append(peer)  # and never reads again: no close frame comes back
        start = trio.current_time()
        await server.shutdown(grace=2)
        assert server.calls == {}
    took = trio.current_time() - start  # every connection handler is done too
    assert took <= 2 + 5 + 0.5, took
