"""Log lines a peer can cause, rate-limited: a flood of bad input must not become a flood of
log records (each one costs the event loop as much as the bad frame itself, and buries the
lines that matter).

A :class:`LogBudget` belongs to one socket or call (or to the listener, for lines about
connections). Each message *template* (the format string, not the formatted text) may log
:data:`LOG_BURST` records per :data:`LOG_PERIOD` seconds; the rest are counted, never
silently dropped: the count rides on the next record of that template once the period is
over ("... [and 1234 more like this since]"), and :meth:`RateLimitedLogger.flush` logs what
is still counted when the socket or call ends.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import trio

__all__ = ["LOG_BURST", "LOG_PERIOD", "LogBudget", "RateLimitedLogger"]

#: Records one template may log per period, per socket or call.
LOG_BURST = 10
#: Seconds of a budget period.
LOG_PERIOD = 10.0
#: Templates tracked per budget; records of further templates share one budget ("other").
MAX_TEMPLATES = 64

_OTHER = "<other>"


def _now() -> float:
    try:
        return trio.current_time()
    except RuntimeError:  # outside a Trio run (a sync test, a tool)
        return time.monotonic()


class LogBudget:
    """How many records each template may still log in its current period."""

    __slots__ = ("_burst", "_period", "_windows")

    def __init__(self, burst: int = LOG_BURST, period: float = LOG_PERIOD) -> None:
        self._burst = burst
        self._period = period
        # template -> [period start, records logged in it, records suppressed since last told]
        self._windows: dict[str, list[float]] = {}

    def take(self, template: str, now: float) -> tuple[bool, int]:
        """Whether a record of ``template`` may be logged now, and how many of its records
        were suppressed since the last one logged (to be reported with it)."""
        window = self._windows.get(template)
        if window is None:
            if len(self._windows) >= MAX_TEMPLATES:
                return self.take(_OTHER, now) if template != _OTHER else (False, 0)
            window = self._windows[template] = [now, 0, 0]
        if now - window[0] >= self._period:
            window[0], window[1] = now, 0
        if window[1] >= self._burst:
            window[2] += 1
            return False, 0
        window[1] += 1
        suppressed, window[2] = int(window[2]), 0
        return True, suppressed

    def drain(self) -> list[tuple[str, int]]:
        """The templates with records suppressed and not yet reported, and their counts
        (which are reset)."""
        out = []
        for template, window in self._windows.items():
            if window[2]:
                out.append((template, int(window[2])))
                window[2] = 0
        return out

    @property
    def suppressed(self) -> int:
        """Records suppressed and not yet reported, over every template."""
        return sum(int(window[2]) for window in self._windows.values())


class RateLimitedLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger adapter whose records go through a :class:`LogBudget` (when it has one)."""

    def __init__(
        self,
        logger: logging.Logger,
        extra: MutableMapping[str, object] | None = None,
        *,
        budget: LogBudget | None = None,
    ) -> None:
        super().__init__(logger, extra or {})
        self.budget = budget

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        budget = self.budget
        if budget is None or not self.isEnabledFor(level):
            super().log(level, msg, *args, **kwargs)
            return
        template = msg if isinstance(msg, str) else type(msg).__name__
        allowed, suppressed = budget.take(template, _now())
        if not allowed:
            return
        if suppressed:
            msg = f"{msg} [and {suppressed} more like this since, not logged]"
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1  # the caller, not this frame
        super().log(level, msg, *args, **kwargs)

    def once(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        """Log a record that happens once per socket or call (its start and end lines): no
        budget entry, since it cannot flood, and one would be held for the call's whole life
        (~240 B per call, issue 23).

        The record is the one ``Logger._log`` makes (the same caller, fields and handlers),
        made here: the way through ``LoggerAdapter.log`` and ``Logger.log``, and
        ``findCaller``'s walk back over their frames, cost 28% of the line (issue 23).
        With ``exc_info``, ``stack_info`` or ``stacklevel``, the stdlib's way."""
        logger = self.logger
        if not logger.isEnabledFor(level):
            return
        if kwargs and (len(kwargs) > 1 or "extra" not in kwargs):
            kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1  # the caller, not this frame
            super().log(level, msg, *args, **kwargs)
            return
        msg, processed = self.process(msg, kwargs)
        filename, line, function = "(unknown file)", 0, "(unknown function)"
        if logging._srcfile:  # the stdlib's switch: None turns the caller lookup off
            caller = sys._getframe(1)
            filename, line, function = (
                caller.f_code.co_filename,
                caller.f_lineno,
                caller.f_code.co_name,
            )
        record = logger.makeRecord(
            logger.name, level, filename, line, msg, args, None, function, processed.get("extra")
        )
        logger.handle(record)

    def flush(self) -> None:
        """Log the count of every template's records suppressed and not yet reported."""
        if self.budget is None:
            return
        for template, count in self.budget.drain():
            msg, kwargs = self.process(
                "%d more record(s) like this were not logged (rate limit): %r", {}
            )
            self.logger.warning(msg, count, template, **kwargs)
