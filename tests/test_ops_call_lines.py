"""A call's start and end lines (``RateLimitedLogger.once``): the record is the one the
logging module makes for the same call (logger, level, text, fields, caller), only cheaper
(issue 23); what ``once`` cannot do quicker goes the stdlib's way."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
import trio
import trio.testing

import jbtrio
from jbtrio import Call
from jbtrio._runtime import _observe
from jbtrio._runtime._logging import CallLogger, call_logger
from jbtrio.testing import Caller, run_app

SID = "CA1f9a3c0e"
#: Fields a record takes from the moment or the place it was made.
WHEN = ("created", "msecs", "relativeCreated", "lineno")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    logger = logging.getLogger("jbtrio.test_lines")
    handler = Records()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
        logger.filters.clear()


def fields(record: logging.LogRecord) -> dict[str, object]:
    seen = {k: v for k, v in vars(record).items() if k not in WHEN}
    if record.exc_info:
        seen["exc_info"] = record.exc_info[:2]
    if record.stack_info:  # the two calls are two lines of one function
        seen["stack_info"] = re.sub(r"line \d+", "line N", record.stack_info.rsplit("\n", 1)[0])
    return seen


def both(log: CallLogger, level: int, msg: str, *args: object, **kwargs: object) -> None:
    """The same record through ``once`` and through the adapter's plain ``log`` (no budget:
    straight to the stdlib), from this one function."""
    log.once(level, msg, *args, **kwargs)
    logging.LoggerAdapter.log(log, level, msg, *args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"extra": {"event": "call.start", "path": "/ivr"}},
        {"extra": {"call_sid": "mine"}},  # the caller's call_sid wins, as in process()
        {"stack_info": True},
        {"stacklevel": 2},
    ],
    ids=["plain", "extra", "own-sid", "stack-info", "stacklevel"],
)
def test_once_makes_the_stdlib_record(
    records: list[logging.LogRecord], kwargs: dict[str, object]
) -> None:
    log = call_logger("jbtrio.test_lines", SID)
    both(log, logging.INFO, "call started: %s from %s", "/ivr", "+1555", **kwargs)
    once, plain = records
    assert fields(once) == fields(plain)
    assert once.getMessage() == f"[{SID}] call started: /ivr from +1555"
    assert once.funcName == (
        "both" if "stacklevel" not in kwargs else "test_once_makes_the_stdlib_record"
    )
    assert once.pathname == __file__


def test_once_with_an_exception(records: list[logging.LogRecord]) -> None:
    log = call_logger("jbtrio.test_lines", SID)
    try:
        raise ValueError("boom")
    except ValueError:
        both(log, logging.ERROR, "failed", exc_info=True)
    once, plain = records
    assert fields(once) == fields(plain)
    assert once.exc_info is not None and once.exc_info[0] is ValueError


def test_once_is_filtered_as_the_stdlib_filters(records: list[logging.LogRecord]) -> None:
    log = call_logger("jbtrio.test_lines", SID)
    log.once(logging.DEBUG, "below the level")
    logging.getLogger("jbtrio.test_lines").disabled = True
    log.once(logging.INFO, "disabled")
    logging.getLogger("jbtrio.test_lines").disabled = False
    logging.getLogger("jbtrio.test_lines").addFilter(lambda r: "keep" in r.getMessage())
    log.once(logging.INFO, "filtered out")
    log.once(logging.INFO, "keep this")
    assert [r.getMessage() for r in records] == [f"[{SID}] keep this"]


def test_once_without_caller_lookup(
    records: list[logging.LogRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``logging._srcfile = None`` turns the caller lookup off (the stdlib's own switch)."""
    monkeypatch.setattr(logging, "_srcfile", None)
    both(call_logger("jbtrio.test_lines", SID), logging.INFO, "no caller")
    once, plain = records
    assert fields(once) == fields(plain)
    assert once.funcName == "(unknown function)"


APP = jbtrio.App()


@APP.flow("/ivr")
async def ivr(call: Call) -> jbtrio.Steps:
    yield jbtrio.verbs.Say(text="hi")
    yield jbtrio.verbs.Hangup()


async def test_a_calls_start_and_end_lines(autojump_clock: trio.testing.MockClock) -> None:
    logger = logging.getLogger("jbtrio.call")
    handler = Records()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        await run_app(APP, "/ivr/x", caller=Caller())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [r for r in handler.records if getattr(r, "event", None) in ("call.start", "call.end")]
    start, end = lines
    for record in lines:
        assert record.name == "jbtrio.call"
        assert record.levelno == logging.INFO
        assert record.pathname == _observe.__file__
        assert record.call_sid == record.getMessage()[1 : record.getMessage().index("]")]  # type: ignore[attr-defined]
        assert record.path == "/ivr/x"  # type: ignore[attr-defined]
    assert start.funcName == "call_started"
    assert end.funcName == "call_ended"
    assert " call started: /ivr/x inbound from " in start.getMessage()
    assert " call ended after " in end.getMessage()
    assert "(reconnects 0, acks on the app's behalf 0, errors 0)" in end.getMessage()
    assert isinstance(end.duration, float)  # type: ignore[attr-defined]
