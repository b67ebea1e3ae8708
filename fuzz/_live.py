"""A Trio event loop in a helper thread, so synchronous Hypothesis code can drive async code.

Hypothesis calls a fuzz target's ``check`` synchronously, once per example, while a server
worth fuzzing has to keep running *between* examples (starting one per example would be
slow and would hide state leaking from one connection into the next). So the loop lives in
a daemon thread for the whole run and each example runs one coroutine in it through
:func:`trio.from_thread.run`.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

__all__ = ["TrioThread"]

T = TypeVar("T")


class TrioThread:
    """Runs ``trio.run`` in a daemon thread; :meth:`run` executes a coroutine function there."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self.nursery: trio.Nursery | None = None
        self._stop: trio.Event | None = None
        self._thread = threading.Thread(target=self._main_thread, name="trio-loop", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError("the Trio loop failed to start") from self._error

    def _main_thread(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported by the next run() or at start
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            self._token = trio.lowlevel.current_trio_token()
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    def run(self, afn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``afn(*args)`` in the loop and return its result (exceptions propagate)."""
        if self._error is not None or self._token is None:
            raise RuntimeError("the Trio loop is not running") from self._error
        return trio.from_thread.run(afn, *args, trio_token=self._token)

    def close(self) -> None:
        """Stop the loop (cancelling everything in it) and join the thread."""
        if self._token is not None and self._stop is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(timeout=10)
