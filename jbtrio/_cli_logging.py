"""Logging for the ``jbtrio`` command line: the options that may sit anywhere on it, and the
one handler it installs (text or JSON lines on stderr).

The library only ever logs through stdlib :mod:`logging` (a per-call record carries
``call_sid`` as a field, the call lines ``path`` and ``event`` too); configuring handlers is
the command line's job, done here once.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

__all__ = [
    "LEVELS",
    "LOG_FORMATS",
    "JsonFormatter",
    "LoggingOptions",
    "TextFormatter",
    "UsageError",
    "configure_logging",
    "env_logging_options",
    "split_logging_options",
]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# A LogRecord's own attributes: everything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class LoggingOptions:
    """``--log-level``/``--log-format`` as found on the command line (``None``: not given)."""

    def __init__(self, level: str | None = None, log_format: str | None = None) -> None:
        self.level = level
        self.log_format = log_format


class UsageError(ValueError):
    """A logging option with a bad or missing value (one line, exit status 2)."""


def split_logging_options(argv: Sequence[str]) -> tuple[list[str], LoggingOptions]:
    """Take ``--log-level``/``--log-format`` (``--opt V`` or ``--opt=V``) out of ``argv``
    wherever they are — before or after the subcommand and its app — and return the rest.

    Everything after a ``--`` is left alone. Raises :class:`UsageError` for a bad value."""
    rest: list[str] = []
    found = LoggingOptions()
    names = {"--log-level": LEVELS, "--log-format": LOG_FORMATS}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name, eq, value = arg.partition("=")
        if name not in names:
            rest.append(arg)
            i += 1
            continue
        if not eq:
            if i + 1 >= len(args):
                raise UsageError(f"{name} needs a value: one of {', '.join(names[name])}")
            value = args[i + 1]
            i += 1
        i += 1
        choices = names[name]
        chosen = value.upper() if name == "--log-level" else value.lower()
        if chosen not in choices:
            raise UsageError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        if name == "--log-level":
            found.level = chosen
        else:
            found.log_format = chosen
    return rest, found


class TextFormatter(logging.Formatter):
    """The stdlib's formatter, its lines character for character, but the date and time of
    ``%(asctime)s`` made once a second, not for every record: ``time.localtime`` and
    ``strftime`` were ~10% of each of a call's start and end lines (issue 23)."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._uses_time = super().usesTime()  # fmt does not change: asked once
        self._stamp: tuple[int, str] = (-1, "")  # one tuple: read and replaced whole

    def usesTime(self) -> bool:  # noqa: N802 - the stdlib's name
        return self._uses_time

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, stamp = self._stamp
        if second != int(record.created):
            stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._stamp = (int(record.created), stamp)
        msec = self.default_msec_format
        return stamp if msec is None else msec % (stamp, record.msecs)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    and every field the record carries from ``extra`` (``call_sid``, ``path``, ``event``,
    ``duration``, ``worker`` ...); ``exc`` holds a traceback."""

    def __init__(self, fields: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._fields = dict(fields or {})
        self._stamp: tuple[int, str] = (-1, "")  # the last second's, made once (issue 23)

    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        last, stamp = self._stamp
        if last != seconds:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            self._stamp = (seconds, stamp)
        line: dict[str, Any] = {
            "ts": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(self._fields)
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(
    level: str, log_format: str = "text", *, worker: int | None = None
) -> logging.Handler | None:
    """Install the one stderr handler on the root logger at ``level`` (replacing the one an
    earlier call installed); ``worker`` labels every record of a ``--workers`` process (they
    share one stderr). As :func:`logging.basicConfig`, it adds none when a program (or
    pytest) already put handlers of its own on the root logger: only the level is set."""
    root = logging.getLogger()
    root.setLevel(getattr(logging, level))
    ours = [handler for handler in root.handlers if getattr(handler, "_jbtrio", False)]
    for handler in ours:
        root.removeHandler(handler)
    if root.handlers:
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler._jbtrio = True  # type: ignore[attr-defined]
    if log_format == "json":
        handler.setFormatter(JsonFormatter({"worker": worker} if worker is not None else None))
    else:
        label = f" [worker {worker}]" if worker is not None else ""
        handler.setFormatter(TextFormatter(_TEXT.replace(" %(name)s", f"{label} %(name)s")))
    root.addHandler(handler)
    return handler


def env_logging_options(environ: Mapping[str, str]) -> LoggingOptions:
    """``JBTRIO_LOG_LEVEL``/``JBTRIO_LOG_FORMAT`` (the command line wins over them)."""
    found = LoggingOptions()
    for var, option in (("JBTRIO_LOG_LEVEL", "--log-level"), ("JBTRIO_LOG_FORMAT", "--log-format")):
        value = environ.get(var)
        if not value:
            continue
        try:
            one = split_logging_options([f"{option}={value}"])[1]
        except UsageError as exc:
            raise UsageError(f"${var}: {exc}") from None
        found.level = one.level or found.level
        found.log_format = one.log_format or found.log_format
    return found
