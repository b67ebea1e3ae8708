"""Connection establishment: subprotocol, auth, headers, handshake timeout, retry policy."""

from __future__ import annotations

import errno
import itertools

import pytest
import trio
import trio.testing
from _standalone_app import StandaloneApp, place

from jbtrio.testing import Caller, FakeJambonz, JambonzConfig
from jbtrio.testing._connect import ConnectError, classify


def refusing(times: list[float]) -> object:
    async def connect() -> trio.abc.Stream:
        times.append(trio.current_time())
        raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")

    return connect


async def test_missing_subprotocol_fails_without_retry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(select_subprotocol=False)
    call = await place(app)
    assert call.outcome.status == "failed"
    assert call.outcome.reason == "no subprotocol"
    assert len(app.requests) == 1
    assert [e.kind for e in call.events] == ["connect-failed"]


async def test_http_401_fails_without_retry(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(username="u", password="right")
    call = await place(app, username="u", password="wrong")
    assert call.outcome.status == "failed"
    assert call.outcome.reason == "HTTP 401"
    assert len(app.requests) == 1


async def test_4xx_retried_when_fragment_policy_says_so(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(username="u", password="right")
    async with trio.open_nursery() as nursery:
        call = await FakeJambonz().place_call(
            "ws://app/#rc=2&rp=4xx", connector=app.memory_connector(nursery)
        )
        nursery.cancel_scope.cancel()
    assert call.outcome.reason == "HTTP 401"
    assert len(app.requests) == 3


async def test_basic_auth_and_user_agent_headers(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(username="user", password="pass")
    call = await place(app, username="user", password="pass", caller=Caller(speech=["hi"]))
    assert call.outcome.ok
    headers = dict(app.requests[0].headers)
    assert headers[b"user-agent"] == b"jambonz"
    assert headers[b"authorization"] == b"Basic dXNlcjpwYXNz"


async def test_no_auth_header_without_both_credentials(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp()
    await place(app, username="user", caller=Caller(speech=["hi"]))
    assert b"authorization" not in dict(app.requests[0].headers)


async def test_refused_connect_retries_with_backoff(autojump_clock: trio.testing.MockClock) -> None:
    times: list[float] = []
    call = await FakeJambonz().place_call("ws://app/", connector=refusing(times))  # type: ignore[arg-type]
    assert call.outcome.status == "failed"
    assert call.outcome.reason == "connect failed: ECONNREFUSED"
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    assert gaps == [0.5, 1.0, 2.0, 4.0, 6.0]


async def test_rc_fragment_limits_attempts(autojump_clock: trio.testing.MockClock) -> None:
    times: list[float] = []
    await FakeJambonz().place_call("ws://app/#rc=2", connector=refusing(times))  # type: ignore[arg-type]
    assert len(times) == 3


async def test_handshake_timeout_is_not_retried(autojump_clock: trio.testing.MockClock) -> None:
    peers: list[trio.abc.Stream] = []
    attempts: list[float] = []

    async def silent() -> trio.abc.Stream:
        attempts.append(trio.current_time())
        client, server = trio.testing.memory_stream_pair()
        peers.append(server)
        return client

    call = await FakeJambonz().place_call("ws://app/", connector=silent)
    assert call.outcome.reason == "handshake timed out"
    assert len(attempts) == 1
    assert call.events[0].time - attempts[0] == 1.5


async def test_handshake_timeout_retried_under_rt(autojump_clock: trio.testing.MockClock) -> None:
    peers: list[trio.abc.Stream] = []

    async def silent() -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        peers.append(server)
        return client

    config = JambonzConfig(retry_policy=("rt",), max_reconnects=1)
    await FakeJambonz(config).place_call("ws://app/", connector=silent)
    assert len(peers) == 2


async def test_loopback_tcp_with_fragment_stripped() -> None:
    app = StandaloneApp()
    async with trio.open_nursery() as nursery:
        port = await app.serve(nursery)
        config = JambonzConfig(say_seconds_per_char=0.001, say_min_seconds=0.01)
        call = await FakeJambonz(config).place_call(
            f"ws://127.0.0.1:{port}/voice?x=1#rc=1",
            caller=Caller(speech=["hello"], response_delay=0.01),
        )
        nursery.cancel_scope.cancel()
    assert call.outcome.ok, call.outcome
    assert app.requests[0].path == "/voice?x=1"
    assert app.conns[0].close_code == 1000


@pytest.mark.parametrize(
    ("exc", "category", "reason"),
    [
        (ConnectionResetError(errno.ECONNRESET, "reset"), "ct", "connect failed: ECONNRESET"),
        (TimeoutError(errno.ETIMEDOUT, "timed out"), "ct", "connect failed: ETIMEDOUT"),
        (
            OSError("all attempts failed").with_traceback(None),
            "other",
            "connect failed: OSError('all attempts failed')",
        ),
        (trio.TooSlowError(), "rt", "handshake timed out"),
        (trio.BrokenResourceError(), "ct", "connect failed: ECONNRESET"),
    ],
)
def test_connect_error_classification(exc: BaseException, category: str, reason: str) -> None:
    error = classify(exc)
    assert (error.category, error.reason) == (category, reason)
    assert error.retryable(("ct",)) is (category == "ct")
    assert error.retryable(("all",)) is True


def test_refused_inside_trio_connect_group_is_retryable() -> None:
    inner = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    outer = OSError("all attempts to connect failed")
    outer.__cause__ = ExceptionGroup("attempts", [inner])
    assert classify(outer).category == "ct"
    assert classify(ConnectError("fatal", "no subprotocol")).retryable(("all",)) is False
