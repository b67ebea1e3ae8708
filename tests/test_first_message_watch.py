"""The first message's deadline kept by one task per server (:class:`FirstMessageWatch`,
issue 23): each connection still waiting for its session message is cancelled when its
time is up, one done with it never is, and a flood due at once is cancelled a bounded
batch at a time."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from _attacker import attacker, hello_app, serving, session_new

from jbtrio import ServerConfig
from jbtrio._runtime._first_message import BATCH, FirstMessageWatch


async def test_a_waiting_scope_is_cancelled_when_its_time_is_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    watch = FirstMessageWatch(5)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch.run)
        await trio.testing.wait_all_tasks_blocked()
        assert watch.running
        late, early = trio.CancelScope(), trio.CancelScope()
        watch.watch(late)
        await trio.sleep(1)
        watch.watch(early)
        assert len(watch) == 2
        with late:
            await trio.sleep_forever()
        assert late.cancelled_caught
        assert trio.current_time() == 5  # exactly the timeout, no later
        assert not early.cancel_called  # due at 6
        watch.done(early)
        await trio.sleep(10)
        assert not early.cancel_called
        assert len(watch) == 0
        nursery.cancel_scope.cancel()
    assert not watch.running


async def test_a_scope_done_in_time_is_never_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    watch = FirstMessageWatch(5)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch.run)
        await trio.testing.wait_all_tasks_blocked()
        scopes = [trio.CancelScope() for _ in range(3)]
        for scope in scopes:
            watch.watch(scope)
            await trio.sleep(1)
        watch.done(scopes[1])  # the middle one: the front is still waiting
        await trio.sleep(10)
        assert [scope.cancel_called for scope in scopes] == [True, False, True]
        assert not watch._due  # everything met and dropped
        nursery.cancel_scope.cancel()


async def test_done_drops_the_front_at_once() -> None:
    """Connections that got their session message are not held until the task wakes."""
    watch = FirstMessageWatch(5)
    first, second = trio.CancelScope(), trio.CancelScope()
    watch.watch(first)
    watch.watch(second)
    watch.done(second)
    assert len(watch._due) == 2  # behind a waiting one
    watch.done(first)
    assert len(watch._due) == 0


async def test_a_flood_due_at_once_is_cancelled_a_batch_at_a_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    watch = FirstMessageWatch(5)
    scopes = [trio.CancelScope() for _ in range(3 * BATCH)]
    for scope in scopes:
        watch.watch(scope)
    steps = 0

    class Steps(trio.abc.Instrument):
        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            nonlocal steps
            steps += task.name == "watch"

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch.run, name="watch")
        await trio.sleep(4.5)
        trio.lowlevel.add_instrument(Steps())
        await trio.sleep(1)
        assert all(scope.cancel_called for scope in scopes)
        assert steps >= 3  # it yielded between batches
        nursery.cancel_scope.cancel()


async def test_a_silent_connection_is_closed_by_the_server_s_watch(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = ServerConfig(ping_interval=None, first_message_timeout=5)
    async with serving(hello_app(), config) as server, attacker(server) as peer:
        await trio.testing.wait_all_tasks_blocked()
        assert len(server._first_messages) == 1  # watched: no deadline of its own
        start = trio.current_time()
        assert await peer.next_message() is None  # closed
        assert trio.current_time() - start == pytest.approx(5)
        assert len(server._first_messages) == 0
    assert any("no session message within 5 s" in r.getMessage() for r in caplog.records)


async def test_the_session_message_ends_the_watch(autojump_clock: trio.testing.MockClock) -> None:
    config = ServerConfig(ping_interval=None, first_message_timeout=5)
    async with serving(hello_app(), config) as server, attacker(server) as peer:
        await peer.send_now(session_new())
        assert await peer.next_message() is not None
        assert len(server._first_messages) == 0 and not server._first_messages._due
        await trio.sleep(6)
        assert len(server.calls) == 1  # the call goes on
