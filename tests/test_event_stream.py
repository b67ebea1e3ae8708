"""The queue behind call.events(): order, bound, end, close, one receiver, cancellation."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from jbtrio._event_stream import EventStream


async def test_items_come_out_in_order_and_iteration_ends_when_the_sender_closes() -> None:
    stream = EventStream[int](10)
    for item in range(3):
        stream.put_nowait(item)
    stream.close_sending()
    assert [item async for item in stream] == [0, 1, 2]


async def test_a_waiting_receiver_gets_the_item_directly() -> None:
    stream = EventStream[str](1)
    got: list[str] = []

    async def receive() -> None:
        got.append(await stream.receive())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive)
        await trio.testing.wait_all_tasks_blocked()
        stream.put_nowait("hook")
        assert len(stream) == 0  # handed over, not queued
    assert got == ["hook"]


async def test_the_bound_is_enforced_with_would_block() -> None:
    stream = EventStream[int](2)
    stream.put_nowait(1)
    stream.put_nowait(2)
    with pytest.raises(trio.WouldBlock):
        stream.put_nowait(3)
    assert stream.receive_nowait() == 1
    stream.put_nowait(3)
    assert [stream.receive_nowait(), stream.receive_nowait()] == [2, 3]
    with pytest.raises(trio.WouldBlock):
        stream.receive_nowait()


async def test_closing_the_sender_wakes_a_waiting_receiver_with_end_of_channel() -> None:
    stream = EventStream[int](1)
    ended = trio.Event()

    async def consume() -> None:
        async for item in stream:
            raise AssertionError(f"nothing was queued, got {item}")
        ended.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        stream.close_sending()
    assert ended.is_set()
    with pytest.raises(trio.ClosedResourceError):
        stream.put_nowait(1)


async def test_a_second_receiver_is_refused() -> None:
    stream = EventStream[int](1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream.receive)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await stream.receive()
        stream.put_nowait(1)


async def test_a_cancelled_receive_loses_nothing(autojump_clock: trio.testing.MockClock) -> None:
    stream = EventStream[int](2)
    with trio.move_on_after(1):
        await stream.receive()
    stream.put_nowait(7)  # no stale receiver: the item is queued, not handed to a dead wait
    assert await stream.receive() == 7


async def test_aclose_wakes_the_receiver_and_discards_later_items() -> None:
    stream = EventStream[int](2)
    stream.put_nowait(1)
    await stream.aclose()
    stream.put_nowait(2)  # nobody can read it: discarded, not an error for the reader task
    assert len(stream) == 0
    with pytest.raises(trio.ClosedResourceError):
        await stream.receive()

    other = EventStream[int](1)
    async with trio.open_nursery() as nursery:

        async def receive() -> None:
            with pytest.raises(trio.ClosedResourceError):
                await other.receive()

        nursery.start_soon(receive)
        await trio.testing.wait_all_tasks_blocked()
        other.close()
