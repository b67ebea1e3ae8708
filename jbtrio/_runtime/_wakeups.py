"""Wake-ups between the tasks of a connection, built on Trio's low-level parking.

They run several times per message, so they allocate nothing: a flag and a task.
"""

from __future__ import annotations

from typing import Any

import trio

__all__ = ["Broadcast", "Wakeup"]


class Wakeup:
    """A level-triggered wake-up for one waiting task (``trio.Event`` is one-shot).

    Built on Trio's low-level parking so a wake-up costs no allocation: it runs several
    times per message."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = False
        self._waiter: trio.lowlevel.Task | None = None

    @property
    def waiting(self) -> bool:
        """Whether a task is parked in :meth:`wait` and not woken yet."""
        return self._waiter is not None

    def set(self) -> None:
        """Wake the waiter now, or make its next wait return at once."""
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            trio.lowlevel.reschedule(waiter)
        else:
            self._set = True

    def take(self) -> bool:
        """Whether :meth:`set` was called since the last wait (or take), clearing it: for a
        waiter that can look again without the checkpoint of a :meth:`wait` that would
        return at once."""
        was_set = self._set
        self._set = False
        return was_set

    async def wait(self) -> None:
        """Wait until :meth:`set` was called since the last wait."""
        if self._set:
            self._set = False
            await trio.lowlevel.checkpoint()
            return
        assert self._waiter is None, "Wakeup has one waiter"
        self._waiter = trio.lowlevel.current_task()
        # a bound method, not a closure: held while parked (most of an idle call's life)
        await trio.lowlevel.wait_task_rescheduled(self._abort)

    def _abort(self, _: Any) -> trio.lowlevel.Abort:
        self._waiter = None
        return trio.lowlevel.Abort.SUCCEEDED


class Broadcast:
    """Wakes every task waiting when :meth:`notify` is called (for conditions several tasks
    wait on). Edge-triggered: check the condition, then wait, with no checkpoint between."""

    __slots__ = ("_lot",)

    def __init__(self) -> None:
        # Made on the first wait: most calls never wait on a full queue, and a parking lot
        # is ~400 B (issue 23).
        self._lot: trio.lowlevel.ParkingLot | None = None

    def notify(self) -> None:
        """Wake the current waiters."""
        lot = self._lot
        if lot:
            lot.unpark_all()

    async def wait(self) -> None:
        """Wait for the next :meth:`notify`."""
        lot = self._lot
        if lot is None:
            lot = self._lot = trio.lowlevel.ParkingLot()
        await lot.park()
