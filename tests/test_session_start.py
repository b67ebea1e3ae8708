"""A call's start without ``Nursery.start`` (issue 23): the server attaches the socket, feeds
the first message and asks for the app before the session's task runs; what needs the
call's nursery meanwhile waits for it. And the connection's one scope: the first message's
deadline, then the reader's."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
from _attacker import SID, attacker, hello_app, serving, session_new
from _memory_session import Socket, frame

import jbtrio
from jbtrio import ServerConfig
from jbtrio._runtime import CallSession
from jbtrio._runtime._registry import LocalCalls


def _session(handler: object, config: ServerConfig | None = None) -> CallSession:
    return CallSession(
        call_sid=SID,
        path="/t",
        first_message=jbtrio.decode(frame("session:new", "n0")),  # type: ignore[arg-type]
        resumed=False,
        handler=handler,  # type: ignore[arg-type]
        config=config or ServerConfig(),
        on_end=lambda _: None,
    )


async def test_the_app_asked_for_before_the_session_runs_starts_with_it() -> None:
    started = trio.Event()

    async def app(session: CallSession) -> None:
        handle = session.first_reply
        assert handle is not None
        session.reply(handle, [{"verb": "pause", "length": 1}])
        started.set()
        await trio.sleep_forever()

    session = _session(app)
    socket = Socket(nowait=True)
    session.attach(socket)  # type: ignore[arg-type]
    session.feed(frame("session:new", "n0"))
    session.start_app()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.run, name="call")
        await started.wait()
        assert [f["msgid"] for f in socket.sent] == ["n0"]
        session.end("test over")
    assert session.ended


class _Aborted(Socket):
    """Torn down before its first checkpoint, as the transports' sockets are."""

    aborted: str | None = None

    async def abort(self, reason: str) -> None:
        self.aborted = reason
        await trio.lowlevel.checkpoint()


async def test_an_abort_before_the_session_runs_still_aborts_its_socket() -> None:
    async def app(session: CallSession) -> None:
        await trio.sleep_forever()

    session = _session(app)
    socket = _Aborted(nowait=True)
    session.attach(socket)  # type: ignore[arg-type]
    session.feed(frame("session:new", "n0"))
    session.start_app()
    session.abort("the peer does not read")
    assert session.ended
    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.run, name="call")
    assert socket.aborted == "the peer does not read"


async def test_a_session_message_read_in_the_turn_its_deadline_passes_starts_the_call(
    mock_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The session message is read in the very run-loop turn the first message's deadline
    passes: it came in time, and the call goes on, read in a scope of its own (the scope
    of the deadline is cancelled by then). It used to time out at the checkpoint of the
    session's ``Nursery.start``, after the call was made and registered."""
    caplog.set_level(logging.INFO, logger="jbtrio")
    config = ServerConfig(ping_interval=None, first_message_timeout=5)
    async with serving(hello_app(), config) as server, attacker(server) as peer:
        await trio.testing.wait_all_tasks_blocked()
        peer.send(session_new())
        await peer.flush()  # the server's reader is woken...
        mock_clock.jump(5)  # ...and its deadline passes before it runs
        message = await peer.next_message()
        assert message is not None and message["type"] == "ack"
        mock_clock.jump(1)
        await trio.testing.wait_all_tasks_blocked()
        (session,) = server.calls.values()
        assert session.socket is not None  # still read: no 1001, no wait for a reconnect
        messages = [r.getMessage() for r in caplog.records]
        assert not any("no session message" in m or "socket dropped" in m for m in messages)


async def test_the_registry_tells_a_waiter_of_each_change() -> None:
    registry = LocalCalls(ServerConfig())
    session = _session(lambda _: None)
    seen: list[int] = []

    async def waiter() -> None:
        for _ in range(2):
            await registry.wait_changed()
            seen.append(len(registry.calls))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        registry.add(session)
        await trio.testing.wait_all_tasks_blocked()
        registry.forget(session)
    assert seen == [1, 0]
