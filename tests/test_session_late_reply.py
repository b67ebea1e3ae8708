"""An app whose reply comes after jambonz ended the call is not a crashed app.

jambonz closes the socket with 1000 when the call is over (docs/jambonz.md, Connection). An
app task already scheduled to run when that happens goes on until its next checkpoint, so
its reply raises :class:`~jbtrio.ReplyError` before the task is cancelled: a race the app
cannot see. It is logged at INFO, not counted as an error, and nothing is hung up; any other
exception of an app handler is still a crash (ERROR, counted, the call hung up).
"""

from __future__ import annotations

import logging

import pytest
import trio
from _memory_session import SID, Socket, frame

import jbtrio
from jbtrio import ServerConfig
from jbtrio._runtime import CallSession


async def _run(handler: object) -> CallSession:
    go = trio.Event()

    async def app(session: CallSession) -> None:
        await go.wait()
        await handler(session)  # type: ignore[operator]

    async with trio.open_nursery() as nursery:
        session = CallSession(
            call_sid=SID,
            path="/t",
            first_message=jbtrio.decode(frame("session:new", "n0")),  # type: ignore[arg-type]
            resumed=False,
            handler=app,
            config=ServerConfig(),
            on_end=lambda _: None,
        )
        await nursery.start(session.run)
        socket = Socket(nowait=True)
        session.attach(socket)  # type: ignore[arg-type]
        session.feed(frame("session:new", "n0"))
        session.start_app()
        await trio.testing.wait_all_tasks_blocked()
        go.set()  # the app is scheduled to run...
        session.detach(socket, 1000)  # type: ignore[arg-type]  # ...and jambonz ends the call first
    return session


async def _reply(session: CallSession) -> None:
    handle = session.first_reply
    assert handle is not None
    session.reply(handle, [{"verb": "say", "text": "too late"}])


async def test_a_reply_after_jambonz_ended_the_call_is_no_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="jbtrio")
    session = await _run(_reply)
    assert session.ended
    assert session.stats.errors == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("ended before its reply" in r.getMessage() for r in caplog.records)


async def test_any_other_failure_then_is_still_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    async def fails(session: CallSession) -> None:
        raise ValueError("a bug")

    session = await _run(fails)
    assert session.stats.errors == 1
    assert any("app handler crashed" in r.getMessage() for r in caplog.records)
