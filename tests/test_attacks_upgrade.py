"""Attacks on the upgrade (issue 16, items 5 and 10): connections still in their handshake
must not use up ``max_connections`` (a flood of partial upgrades locked jambonz out), a
malformed HTTP request gets a 400, and the Basic scheme is case-insensitive."""

from __future__ import annotations

import base64
import logging

import pytest
import trio
import trio.testing
from _attacker import Attacker, hello_app, serving, session_new

from jbtrio._runtime import Server, ServerConfig


async def partial_upgrade(server: Server) -> trio.abc.Stream:
    """A connection that sends half an upgrade request and stops (a slowloris)."""
    stream = await server.open_memory_stream()
    await stream.send_all(b"GET /f HTTP/1.1\r\nHost: jbtrio.test\r\n")
    return stream


async def upgrade(server: Server, **headers: str) -> int:
    peer = Attacker(await server.open_memory_stream())
    try:
        return await peer.handshake(headers)
    finally:
        await peer.stream.aclose()


async def test_partial_upgrades_do_not_use_up_max_connections(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """10,050 half-open upgrades made 11 of 13 authenticated ones get 503: every socket,
    upgraded or not, counted toward max_connections."""
    config = ServerConfig(max_connections=20, max_handshakes=50, ping_interval=None)
    async with serving(hello_app(), config) as server:
        slow = [await partial_upgrade(server) for _ in range(200)]
        await trio.sleep(0.1)
        assert server.handshakes <= 50  # the oldest were cut short to make room
        statuses = [await upgrade(server) for _ in range(13)]
        assert statuses == [101] * 13
        for stream in slow:
            await stream.aclose()


async def test_the_oldest_partial_upgrade_makes_room(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = ServerConfig(max_handshakes=3, ping_interval=None)
    async with serving(hello_app(), config) as server:
        first = await partial_upgrade(server)
        others = [await partial_upgrade(server) for _ in range(3)]
        await trio.sleep(0.1)
        assert await first.receive_some() == b""  # cut short: closed
        assert server.handshakes == 3
        for stream in [first, *others]:
            await stream.aclose()
    assert any("cut short" in r.getMessage() for r in caplog.records)


async def test_upgraded_sockets_still_meet_max_connections(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = ServerConfig(max_connections=2, ping_interval=None)
    async with serving(hello_app(), config) as server:
        peers = [Attacker(await server.open_memory_stream()) for _ in range(3)]
        assert [await p.handshake() for p in peers[:2]] == [101, 101]
        assert await peers[2].handshake() == 503
        for peer in peers:
            await peer.stream.aclose()


async def test_a_malformed_http_request_gets_a_400(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """It got EOF, and was logged as a handshake timeout."""
    caplog.set_level(logging.INFO)
    async with serving(hello_app(), ServerConfig(ping_interval=None)) as server:
        stream = await server.open_memory_stream()
        await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
        answer = b""
        while chunk := await stream.receive_some():
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 400 ")
        await stream.aclose()
    lines = [r.getMessage() for r in caplog.records if r.name == "jbtrio.server"]
    assert not any("not completed within" in line for line in lines)
    assert any("400" in line for line in lines)


async def test_a_connection_closed_before_its_request_is_not_a_timeout(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with serving(hello_app(), ServerConfig(ping_interval=None)) as server:
        stream = await server.open_memory_stream()
        await stream.aclose()
        await trio.sleep(1)
    lines = [r.getMessage() for r in caplog.records if r.name == "jbtrio.server"]
    assert not any("not completed within" in line for line in lines)


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
async def test_the_basic_scheme_is_case_insensitive(
    autojump_clock: trio.testing.MockClock, scheme: str
) -> None:
    """RFC 7617 (and 9110 §11.1): the auth scheme name is case-insensitive."""
    config = ServerConfig(username="jambonz", password="s3cret", ping_interval=None)
    token = base64.b64encode(b"jambonz:s3cret").decode()
    async with serving(hello_app(), config) as server:
        assert await upgrade(server, Authorization=f"{scheme} {token}") == 101
        assert await upgrade(server, Authorization=f"{scheme}  {token} ") == 101
        assert await upgrade(server, Authorization=f"{scheme} {token}x") == 401
        assert await upgrade(server, Authorization=f"Bearer {token}") == 401
        assert await upgrade(server) == 401


async def test_an_accepted_socket_still_serves_its_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    config = ServerConfig(max_handshakes=2, ping_interval=None)
    async with serving(hello_app(), config) as server:
        peer = Attacker(await server.open_memory_stream())
        assert await peer.handshake() == 101
        for _ in range(5):  # handshakes after this one's do not cut it short
            assert await upgrade(server) == 101
        await peer.send_now(session_new())
        ack = await peer.next_message()
        assert ack is not None and ack["type"] == "ack"
        await peer.stream.aclose()
