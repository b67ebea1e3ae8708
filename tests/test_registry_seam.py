"""The call-registry seam, plugged as a cluster would plug it (``_runtime/_registry.py``'s
module docstring): a registry of server A says some calls live on "host B"; A relays those
sockets' bytes to B's relay listener (here in memory), which adopts them as a worker adopts a
handed-over socket. Nothing but the registry differs from a plain server."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import suppress
from typing import Any

import trio
import trio.testing

import jbtrio
from jbtrio._runtime import Server, ServerConfig
from jbtrio._runtime._handover import decode_state, encode_state
from jbtrio._runtime._registry import LOCAL, Host, LocalCalls, Owner, Route
from jbtrio._runtime._transport_api import Upgrade
from jbtrio.testing import Caller, FakeJambonz, Faults
from jbtrio.verbs import Gather, Hangup, Say


def app_saying(name: str) -> jbtrio.App:
    app = jbtrio.App()

    @app.flow("/")
    async def answer(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield Say(text=f"served by {name}")
        yield Gather(input=["digits"], num_digits=1, timeout=5)
        yield Say(text=f"still {name}")
        yield Hangup()

    return app


async def pump(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
    with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while data := await source.receive_some(65536):
            await sink.send_all(data)


async def relay_listener(server: Server, stream: trio.abc.Stream) -> None:
    """Host B's relay listener: the head (length, state), then the websocket's bytes."""
    head = b""
    while len(head) < 8:
        head += await stream.receive_some(8 - len(head))
    size = int.from_bytes(head, "big")
    body = b""
    while len(body) < size:
        body += await stream.receive_some(size - len(body))
    handshake, subprotocol, received = decode_state(body)
    server.adopt_soon(stream, handshake, subprotocol, received)


class TwoHosts(LocalCalls):
    """Server A's registry: calls whose sid starts with ``b-`` live on host B."""

    routes = True

    def __init__(self, config: ServerConfig, host_b: Server, nursery: trio.Nursery) -> None:
        super().__init__(config)
        self.host_b = host_b
        self.nursery = nursery
        self.relayed: list[str] = []

    async def owner(self, key: str | None) -> Owner:
        return Host("b:4000") if key is not None and key.startswith("b-") else LOCAL

    async def hand_over(
        self, upgrade: Upgrade, route: Route, owner: Owner, received: bytes | bytearray
    ) -> bool:
        assert owner == Host("b:4000")
        self.relayed.append(route.why)
        ours, theirs = trio.testing.memory_stream_pair()
        self.nursery.start_soon(relay_listener, self.host_b, theirs)
        body = encode_state(upgrade.handshake, upgrade.subprotocol, received)
        await ours.send_all(len(body).to_bytes(8, "big") + body)
        async with trio.open_nursery() as nursery:

            async def one_way(source: trio.abc.Stream, sink: trio.abc.Stream) -> None:
                await pump(source, sink)
                nursery.cancel_scope.cancel()  # either side ended: the relay is over

            nursery.start_soon(one_way, upgrade.stream, ours)
            nursery.start_soon(one_way, ours, upgrade.stream)
        await trio.aclose_forcefully(ours)
        return True


async def test_a_call_owned_by_another_host_is_relayed_there_reconnects_included(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    config = ServerConfig(transport=transport)
    async with trio.open_nursery() as nursery:
        host_b: Server = await nursery.start(Server(app_saying("B"), config).run_in)
        registry = TwoHosts(config, host_b, nursery)
        host_a: Server = await nursery.start(
            Server(app_saying("A"), config, registry=registry).run_in
        )
        fake = FakeJambonz()
        calls = {}
        for sid in ("a-1", "b-1", "b-2"):
            calls[sid] = await fake.place_call(
                "ws://jbtrio.test/",
                connector=host_a.open_memory_stream,
                caller=Caller(digits="1"),
                faults=Faults.drop_after(2) if sid == "b-2" else Faults(),
                call_sid=sid,
            )
        for sid, call in calls.items():
            assert call.outcome.ok, (sid, call.outcome.summary())
            said = [verb["text"] for verb in call.executed_verbs if verb["verb"] == "say"]
            host = "B" if sid.startswith("b-") else "A"
            assert said == [f"served by {host}", f"still {host}"], (sid, said)
        assert len(calls["b-2"].sent("session:reconnect")) == 1
        assert registry.relayed == ["session:new", "session:new", "session:reconnect"]
        await host_a.shutdown(0)
        await host_b.shutdown(0)
        nursery.cancel_scope.cancel()
