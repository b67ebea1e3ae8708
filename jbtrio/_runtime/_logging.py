"""Per-call log records: every record carries the call_sid, as a field and in the text."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

__all__ = ["CallLogger", "call_logger"]


class CallLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes messages with ``[call_sid]`` and adds ``call_sid`` to the record's fields."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        sid = self.extra["call_sid"] if self.extra else "-"
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("call_sid", sid)
        kwargs["extra"] = extra
        return f"[{sid}] {msg}", kwargs


def call_logger(name: str, call_sid: str | None) -> CallLogger:
    """A logger for one call (``call_sid`` may be unknown yet: logged as ``-``)."""
    return CallLogger(logging.getLogger(name), {"call_sid": call_sid or "-"})
