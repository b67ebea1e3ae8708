"""The first message's deadline of a server's connections, kept by one task
(:class:`FirstMessageWatch`).

A connection that sends no session message within ``first_message_timeout`` is closed. A
cancel scope with a deadline costs each connection the deadline's registration with Trio's
run loop and its removal once the session message came (issue 23). Here the connection's
scope has no deadline: one task, parked until the oldest waiting connection is due, cancels
the scope of each connection still waiting when its time is up. With one timeout,
connections arrive in deadline order: a deque, its front the first due.
"""

from __future__ import annotations

from collections import deque

import trio

from ._wakeups import Wakeup

__all__ = ["FirstMessageWatch"]

#: Connections the watch cancels or drops before it yields once: a flood of connections due
#: in the same instant must not keep every other task waiting.
BATCH = 256


class FirstMessageWatch:
    """Cancels the scope of each connection still waiting for its first message
    :attr:`timeout` seconds after :meth:`watch`. :meth:`run` keeps the deadlines (in the
    server's nursery); while it does not run (:attr:`running`), a connection bounds itself
    with a deadline of its own."""

    __slots__ = ("_due", "_waiting", "_wakeup", "running", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.running = False
        # Each watched scope and its deadline, in arrival order, hence in deadline order
        # (one timeout; Trio's clock never goes back). A scope done with its first message
        # leaves _waiting at once, and _due when it reaches the front.
        self._due: deque[tuple[float, trio.CancelScope]] = deque()
        self._waiting: set[trio.CancelScope] = set()
        self._wakeup = Wakeup()  # set when a connection comes to an empty watch

    def __len__(self) -> int:
        """Connections waiting for their first message now."""
        return len(self._waiting)

    def watch(self, scope: trio.CancelScope) -> None:
        """Cancel ``scope`` unless :meth:`done` is called within :attr:`timeout` seconds."""
        due = self._due
        due.append((trio.current_time() + self.timeout, scope))
        self._waiting.add(scope)
        if len(due) == 1:  # the task waits for a first connection (or will look again)
            self._wakeup.set()

    def done(self, scope: trio.CancelScope) -> None:
        """``scope``'s connection got its first message, or ended: no deadline now."""
        waiting = self._waiting
        waiting.discard(scope)
        due = self._due
        # Connections arrive and start their calls in the same order, nearly always: the
        # front is dropped here, not held until the task wakes (memory per call).
        while due and due[0][1] not in waiting:
            due.popleft()

    async def run(self) -> None:
        """Keep the deadlines, until cancelled."""
        due, waiting = self._due, self._waiting
        self.running = True
        try:
            while True:
                now = trio.current_time()
                looked = 0
                while due:
                    deadline, scope = due[0]
                    if scope in waiting:
                        if deadline > now:
                            break
                        waiting.discard(scope)
                        scope.cancel()
                    due.popleft()
                    looked += 1
                    if looked == BATCH:
                        looked = 0
                        await trio.lowlevel.checkpoint()
                        now = trio.current_time()
                if due:
                    await trio.sleep_until(due[0][0])
                else:
                    await self._wakeup.wait()
        finally:
            self.running = False
