"""The queue behind :meth:`jbtrio.Call.events`: bounded, filled from the reader, one receiver.

A Trio memory channel would do, but it carries what this queue never needs (clones, waiting
senders, statistics) and costs about twice as much per message; every ``verb:hook`` an app
answers from ``call.events()`` goes through here.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Generic, TypeVar

import outcome
import trio

__all__ = ["EventStream"]

_T = TypeVar("_T")


class EventStream(trio.abc.ReceiveChannel[_T], Generic[_T]):
    """A FIFO of at most ``max_size`` items with one receiving task at a time.

    The sender side is synchronous (:meth:`put_nowait`, :meth:`close_sending`) because it is
    fed from the reader's task, which must never wait on the app. Receiving raises
    ``trio.EndOfChannel`` once the sender closed and the queue is empty (``async for`` ends),
    ``trio.ClosedResourceError`` after :meth:`aclose`, and ``trio.BusyResourceError`` when a
    second task receives while one is already waiting.
    """

    # Slots: one per call, and most calls never queue an event (issue 23: memory per call).
    __slots__ = ("_items", "_max_size", "_receiver", "_receiving_closed", "_sending_closed")

    def __init__(self, max_size: int) -> None:
        # made on the first item queued: most calls (every flow) never queue one
        self._items: deque[_T] | None = None
        self._max_size = max_size
        self._sending_closed = False
        self._receiving_closed = False
        self._receiver: trio.lowlevel.Task | None = None

    # ------------------------------------------------------------------ sending side

    def put_nowait(self, item: _T) -> None:
        """Queue ``item``, or hand it to the waiting receiver.

        Raises ``trio.WouldBlock`` when ``max_size`` items are queued and
        ``trio.ClosedResourceError`` after :meth:`close_sending`. Items put after the receiver
        closed its side are discarded, as nobody can read them.
        """
        if self._sending_closed:
            raise trio.ClosedResourceError("the call's event stream is closed")
        if self._receiving_closed:
            return
        receiver = self._receiver
        if receiver is not None:
            self._receiver = None
            trio.lowlevel.reschedule(receiver, outcome.Value(item))
        elif self._items is None:
            if self._max_size < 1:
                raise trio.WouldBlock
            self._items = deque((item,))
        elif len(self._items) < self._max_size:
            self._items.append(item)
        else:
            raise trio.WouldBlock

    def close_sending(self) -> None:
        """No more items: the receiver gets what is queued, then ``EndOfChannel``."""
        self._sending_closed = True
        receiver = self._receiver
        if receiver is not None:
            self._receiver = None
            trio.lowlevel.reschedule(receiver, outcome.Error(trio.EndOfChannel()))

    # ------------------------------------------------------------------ receiving side

    def receive_nowait(self) -> _T:
        """The next item; ``trio.WouldBlock`` if none is queued yet."""
        if self._receiving_closed:
            raise trio.ClosedResourceError("call.events() was closed")
        if self._items:
            return self._items.popleft()
        if self._sending_closed:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def receive(self) -> _T:
        """The next item, waiting for it if need be."""
        if self._items and not self._receiving_closed:
            await trio.lowlevel.checkpoint_if_cancelled()  # does not yield unless cancelled
            item = self._items.popleft()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return item
        if self._receiving_closed or self._sending_closed:
            await trio.lowlevel.checkpoint()
            return self.receive_nowait()  # raises ClosedResourceError or EndOfChannel
        if self._receiver is not None:
            raise trio.BusyResourceError("another task is already receiving from call.events()")
        self._receiver = trio.lowlevel.current_task()

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._receiver = None
            return trio.lowlevel.Abort.SUCCEEDED

        # Parking is the checkpoint here (cancellable, and a schedule point).
        return await trio.lowlevel.wait_task_rescheduled(abort)  # type: ignore[no-any-return]

    async def __anext__(self) -> _T:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Stop receiving: queued and later items are discarded."""
        self._receiving_closed = True
        self._items = None
        receiver = self._receiver
        if receiver is not None:
            self._receiver = None
            trio.lowlevel.reschedule(
                receiver, outcome.Error(trio.ClosedResourceError("call.events() was closed"))
            )

    async def aclose(self) -> None:
        """:meth:`close`, as the ``trio.abc.AsyncResource`` protocol has it."""
        self.close()
        await trio.lowlevel.checkpoint()

    def __len__(self) -> int:
        """The number of items queued."""
        return len(self._items) if self._items is not None else 0
