"""A call's deadlines with no timer task of their own (issue 23): the idle writer serves
them, and a timer task runs only while the writer is in a socket operation that may wait
(and, after a send, until the next deadline). These drive a :class:`CallSession` on a
socket that takes every frame at once, and on one that never does (as trio-websocket,
TLS or an in-memory stream), and check that the ack tracker still acks for an app that
does not answer, and when the timer task is up."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from _memory_session import SID, Socket, frame

import jbtrio
from jbtrio import ServerConfig
from jbtrio._runtime import CallSession


def _timer_tasks() -> int:
    root = trio.lowlevel.current_root_task()
    assert root is not None
    stack, count = [root], 0
    while stack:
        task = stack.pop()
        count += task.name.endswith(" timer")
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return count


async def _answer_the_start(session: CallSession) -> None:
    """The app: answers the session's first message, never a hook."""
    handle = session.first_reply
    assert handle is not None
    session.reply(handle, [{"verb": "pause", "length": 1}])
    await trio.sleep_forever()


@pytest.mark.parametrize("nowait", [True, False])
async def test_the_ack_tracker_acks_for_an_app_that_does_not_answer(
    autojump_clock: trio.testing.MockClock, nowait: bool
) -> None:
    config = ServerConfig()
    socket = Socket(nowait=nowait)
    async with trio.open_nursery() as nursery:
        session = CallSession(
            call_sid=SID,
            path="/t",
            first_message=jbtrio.decode(frame("session:new", "n0")),  # type: ignore[arg-type]
            resumed=False,
            handler=_answer_the_start,
            config=config,
            on_end=lambda _: None,
        )
        await nursery.start(session.run)
        session.attach(socket)  # type: ignore[arg-type]
        session.feed(frame("session:new", "n0"))
        session.start_app()
        await trio.sleep(0.1)
        assert [f["msgid"] for f in socket.sent] == ["n0"]
        # a frame the kernel takes at once needs no timer task; one that may wait has one
        # until the next deadline
        assert _timer_tasks() == (0 if nowait else 1)

        session.feed(frame("verb:hook", "h1", hook="/gather"))
        started = trio.current_time()
        window = config.core.reply_window
        await trio.sleep(window - 0.5)
        assert [f["msgid"] for f in socket.sent] == ["n0"]
        await trio.sleep(1.0)
        assert [f["msgid"] for f in socket.sent] == ["n0", "h1"]  # acked for the app
        assert session.stats.auto_acks == 1
        assert trio.current_time() - started < window + 1.0

        # past every deadline, an idle call holds no timer task
        await trio.sleep(2 * window)
        assert _timer_tasks() == 0
        session.end("test over")
