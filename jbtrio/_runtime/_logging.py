"""Per-call log records: every record carries the call_sid, as a field and in the text."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from ._ratelimit import LogBudget, RateLimitedLogger

__all__ = ["MAX_LOGGED_SID", "CallLogger", "call_logger", "short_sid"]

#: Characters of a call_sid a log record carries (jambonz's are 36-character UUIDs; a peer's
#: 20 KB "call_sid" must not make every record of its call 20 KB).
MAX_LOGGED_SID = 64


def short_sid(call_sid: str | None) -> str:
    """``call_sid`` as log records show it: ``-`` when unknown, cut to :data:`MAX_LOGGED_SID`."""
    if call_sid is None:
        return "-"
    if len(call_sid) > MAX_LOGGED_SID:
        return f"{call_sid[: MAX_LOGGED_SID - 3]}..."
    return call_sid


class CallLogger(RateLimitedLogger):
    """Prefixes messages with ``[call_sid]`` and adds ``call_sid`` to the record's fields;
    rate-limited when it has a budget (see :mod:`._ratelimit`)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        sid = self.extra["call_sid"] if self.extra else "-"
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("call_sid", sid)
        kwargs["extra"] = extra
        return f"[{sid}] {msg}", kwargs


#: The loggers of :func:`call_logger`, by name (a few, named in the code): the same objects
#: ``logging.getLogger`` returns, without taking its lock for each (two per call, issue 23).
_LOGGERS: dict[str, logging.Logger] = {}


def call_logger(name: str, call_sid: str | None, *, budget: LogBudget | None = None) -> CallLogger:
    """A logger for one call (``call_sid`` may be unknown yet: logged as ``-``); records of
    one template beyond ``budget`` are counted instead of logged."""
    logger = _LOGGERS.get(name)
    if logger is None:
        logger = _LOGGERS[name] = logging.getLogger(name)
    return CallLogger(logger, {"call_sid": short_sid(call_sid)}, budget=budget)
