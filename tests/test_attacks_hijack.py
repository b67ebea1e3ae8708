"""Call hijack (issue 16, item 3): a ``session:new`` or ``session:reconnect`` carrying a live
call's call_sid rebound that call to the newcomer's socket and aborted the real one; the
newcomer then read what the app sent and could inject hooks into its flow.

The defences, each tested: a reconnect must carry the call's identity (a digest of its
``session:new`` data); a call whose socket still answers pings is not handed over; a second
``session:new`` for a live call is refused; ``allowed_peers`` keeps other addresses out.
"""

from __future__ import annotations

import functools

import orjson
import pytest
import trio
import trio.testing
from _attacker import SID, Attacker, attacker, hello_app, serving, session_new

import jbtrio
from jbtrio._core import session_identity
from jbtrio._runtime import Server, ServerConfig
from jbtrio._wire import SessionNew, SessionReconnect, decode

CONFIG = ServerConfig(ping_interval=None, rebind_probe_timeout=1.0)


def reconnect(msgid: str, sid: str = SID, **data: object) -> str:
    """A ``session:reconnect`` as jambonz sends it: the ``session:new`` data again."""
    new = orjson.loads(session_new(sid=sid))
    new["type"], new["msgid"] = "session:reconnect", msgid
    new["data"].update(data)
    return orjson.dumps(new).decode()


async def refused(peer: Attacker) -> bool:
    """Whether the server closes ``peer`` with 1008 (bounded: a rebind never closes it)."""
    with trio.fail_after(30):
        return await peer.close_code() == 1008


async def answer_pings(peer: Attacker, seen: list[dict[str, object]]) -> None:
    """Keep reading (so pings get their pongs), noting every message."""
    while (message := await peer.next_message()) is not None:
        seen.append(message)


def test_the_identity_digest_covers_the_identifying_fields_only() -> None:
    first = decode(session_new())
    again = decode(reconnect("m9", call_status="in-progress"))  # stale or changed status
    forged = decode(reconnect("m9", to="+15559999"))
    assert isinstance(first, SessionNew)
    assert isinstance(again, SessionReconnect) and isinstance(forged, SessionReconnect)
    assert session_identity(first.data) == session_identity(again.data)
    assert session_identity(first.data) != session_identity(forged.data)


async def test_a_reconnect_with_other_session_data_is_refused(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(hello_app(), CONFIG) as server, attacker(server) as real:
        await real.send_now(session_new())
        await real.next_message()
        socket = server.calls[SID].socket
        async with attacker(server) as thief:
            await thief.send_now(reconnect("r1", to="+15559999"))
            assert await refused(thief)
        assert server.calls[SID].socket is socket  # still the real one
    assert any("session data" in r.getMessage() for r in caplog.records)


async def test_a_reconnect_for_a_call_whose_socket_answers_pings_is_refused(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Even with the right session data (anyone holding the credentials and the call's
    data): the call's socket is alive, so the newcomer is not jambonz reconnecting."""
    async with (
        serving(hello_app(), CONFIG) as server,
        attacker(server) as real,
        trio.open_nursery() as nursery,
    ):
        await real.send_now(session_new())
        await real.next_message()
        seen: list[dict[str, object]] = []
        nursery.start_soon(answer_pings, real, seen)
        socket = server.calls[SID].socket
        async with attacker(server) as thief:
            await thief.send_now(reconnect("r1"))
            assert await refused(thief)
        assert server.calls[SID].socket is socket
        nursery.cancel_scope.cancel()
    lines = [r.getMessage() for r in caplog.records if "answers pings" in r.getMessage()]
    assert lines and "in-memory stream" in lines[0]  # both peers' addresses


async def test_a_reconnect_for_a_call_whose_socket_is_silent_takes_it_over(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """jambonz reconnects when its side of the socket died; ours may not know yet (no FIN
    came). The old socket then answers no ping: the reconnect is genuine."""
    async with serving(hello_app(), CONFIG) as server, attacker(server) as real:
        await real.send_now(session_new())
        await real.next_message()  # and never reads again: no pongs
        socket = server.calls[SID].socket
        async with attacker(server) as again:
            await again.send_now(reconnect("r1"))
            ack = await again.next_message()
            assert ack is not None and ack["msgid"] == "r1"
            taken = server.calls[SID].socket
            assert taken is not None and taken is not socket


async def test_a_second_session_new_for_a_live_call_is_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serving(hello_app(), CONFIG) as server, attacker(server) as real:
        await real.send_now(session_new())
        await real.next_message()
        socket = server.calls[SID].socket
        async with attacker(server) as thief:
            await thief.send_now(session_new(msgid="n2"))
            assert await refused(thief)
        assert server.calls[SID].socket is socket


async def test_a_second_session_new_for_a_call_waiting_for_its_reconnect_is_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serving(hello_app(), CONFIG) as server:
        async with attacker(server) as real:
            await real.send_now(session_new())
            await real.next_message()
        await trio.sleep(1)  # dropped: the call waits for session:reconnect
        assert SID in server.calls and server.calls[SID].socket is None
        async with attacker(server) as thief:
            await thief.send_now(session_new(msgid="n2"))
            assert await refused(thief)
        async with attacker(server) as jambonz:  # the genuine reconnect still works
            await jambonz.send_now(reconnect("r1"))
            ack = await jambonz.next_message()
            assert ack is not None and ack["msgid"] == "r1"


async def test_allowed_peers_keeps_other_addresses_out() -> None:
    app = hello_app()
    refused = ServerConfig(allowed_peers=("10.0.0.0/8", "fd00::/8"))
    allowed = ServerConfig(allowed_peers=("10.0.0.0/8", "127.0.0.0/8"))
    for config, ok in ((refused, False), (allowed, True)):
        async with trio.open_nursery() as nursery:
            server: Server = await nursery.start(
                functools.partial(jbtrio.serve, app, "127.0.0.1", 0, config=config)
            )
            assert server.port is not None
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            peer = Attacker(stream)
            with trio.fail_after(5):
                try:
                    status: int | None = await peer.handshake()
                except (EOFError, trio.BrokenResourceError):
                    status = None
            assert (status == 101) is ok
            await stream.aclose()
            await server.shutdown(grace=0)


def test_allowed_peers_must_be_networks() -> None:
    with pytest.raises(ValueError, match="allowed_peers"):
        ServerConfig(allowed_peers=("not-an-address",))
    assert ServerConfig(allowed_peers="10.0.0.0/8, 192.168.1.7").allowed_peers == (
        "10.0.0.0/8",
        "192.168.1.7",
    )
