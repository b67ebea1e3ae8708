"""What the runtime tells about its calls: per-call counters, and the observers told of the
few moments that matter (a call starts, a call ends, the app replies, an upgrade is refused).

The counters are plain integers on each call (:class:`CallStats`), bumped where the session
already handles the event, so a server without observers pays an integer add per frame and
nothing else. Observers (the metrics module, tests) are installed per process with
:func:`add_observer`; with none installed, each notification is a loop over an empty list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import attrs
import trio

from .._core import ReplyHandle
from ._logging import CallLogger
from ._observers import OBSERVERS, replied
from ._transport_api import WebSocket

__all__ = [
    "CallStats",
    "ObservedCall",
    "Observer",
    "Reading",
    "Readings",
    "add_observer",
    "add_readings",
    "call_ended",
    "call_started",
    "installed",
    "observers",
    "readings",
    "remove_observer",
    "remove_readings",
    "replied",
    "tool_ran",
    "upgrade_refused",
]


@attrs.define(slots=True)
class CallStats:
    """Counters of one call, read by its end log line and by observers.

    ``bytes_in``/``bytes_out`` count the characters of inbound text frames and the bytes of
    outbound ones (jambonz's JSON is nearly always ASCII, so the two agree); ``bytes_in``
    leaves out the frames up to the session message (``frames_in`` counts them).
    """

    started_at: float | None = None
    """When the call's app started (``trio.current_time()``)."""
    frames_in: int = 0
    bytes_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    reconnects: int = 0
    """Sockets the call resumed on after a drop (jambonz's ``session:reconnect``)."""
    auto_acks: int = 0
    """Acks the core sent on the app's behalf at the reply deadline (fallback verbs or none)."""
    late_replies: int = 0
    """Replies of the app refused because the message was already answered or abandoned."""
    dropped: int = 0
    """Inbound frames skipped (binary, malformed, unexpected) or messages dropped (inbox full)."""
    resent: int = 0
    """Times frames lost in a drop were re-sent (as a redirect)."""
    unconfirmed: int = 0
    """Times frames written before a drop stayed unconfirmed (not re-sent)."""
    stall_recoveries: int = 0
    """Sockets closed with 1011 to make jambonz reconnect and release held messages."""
    oversized: int = 0
    """Sockets of the call closed with 1009 (a frame over ``max_message_bytes``)."""
    tts_requests: int = 0
    """Text chunks, flushes and clears the app streamed (set when the call ends)."""
    tts_messages: int = 0
    """``tts:tokens`` messages sent for them (set when the call ends)."""
    tts_started_at: float | None = None
    """When the call first streamed text (its TTS pump was made)."""
    errors: int = 0
    """Errors of the call: the app crashed, the core failed, the call was aborted, frames
    stayed unconfirmed."""


class ObservedCall(Protocol):
    """What observers see of a call (:class:`~._session.CallSession` is one; this module
    cannot import it: the session imports this)."""

    @property
    def call_sid(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def resumed(self) -> bool: ...
    @property
    def first_message(self) -> object: ...
    @property
    def log(self) -> CallLogger: ...
    @property
    def stats(self) -> CallStats: ...
    @property
    def end_reason(self) -> str | None: ...
    @property
    def socket(self) -> WebSocket | None: ...


class Observer(Protocol):
    """Told of the moments of every call of this process (all methods must be cheap and
    must not raise: they run in the call's tasks)."""

    def call_started(self, session: ObservedCall) -> None:
        """The call's app starts (its first session message was fed to the core)."""

    def call_ended(self, session: ObservedCall) -> None:
        """The call is over (``session.end_reason`` says why, ``session.stats`` what it did)."""

    def replied(self, session: ObservedCall, handle: ReplyHandle, latency: float) -> None:
        """The app answered ``handle`` (a hook) ``latency`` seconds after jambonz sent it."""

    def tool_ran(
        self, session: ObservedCall, name: str, started_at: float, error: BaseException | None
    ) -> None:
        """A tool of the app served an LLM's tool call from ``started_at`` (trio time) to
        now; ``error`` is what it raised."""

    def upgrade_refused(self, status: int) -> None:
        """An upgrade was refused with HTTP ``status``."""


@attrs.frozen
class Reading:
    """One value a component of this process counts itself (no metric call on its paths),
    read when the metrics page is made: ``name`` without the ``jbtrio_`` prefix, a
    counter (monotonic) or a gauge. Readings of one name from several sources add up."""

    name: str
    documentation: str
    value: float
    gauge: bool = False


Readings = Callable[[], Iterable[Reading]]
"""A source of :class:`Reading` s (e.g. a cluster instance's counters)."""

# The list lives in _observers.py with replied(), the notification of every round trip, which
# the compiled build compiles (issue 23).
_observers: list[Observer] = OBSERVERS
#: The observers installed (the same list, changed in place): a hot path checks it is
#: empty before it calls a notification (issue 23).
installed: Sequence[Observer] = _observers
_readings: list[Readings] = []
_log = logging.getLogger("jbtrio.observe")


def observers() -> tuple[Observer, ...]:
    """The observers installed in this process."""
    return tuple(_observers)


def add_observer(observer: Observer) -> None:
    """Tell ``observer`` about every call of this process from now on."""
    if observer not in _observers:
        _observers.append(observer)


def remove_observer(observer: Observer) -> None:
    """Stop telling ``observer``."""
    _observers[:] = [o for o in _observers if o is not observer]


def add_readings(source: Readings) -> None:
    """Put ``source``'s values on the metrics page from now on."""
    if source not in _readings:
        _readings.append(source)


def remove_readings(source: Readings) -> None:
    """Take ``source``'s values off the page."""
    _readings[:] = [r for r in _readings if r != source]


def readings() -> list[Reading]:
    """Every source's values now (a failing source is logged and skipped)."""
    values: list[Reading] = []
    for source in tuple(_readings):
        try:
            values.extend(source())
        except Exception:  # a source's bug must not break the page
            _log.exception("readings source %r failed", source)
    return values


def call_started(session: ObservedCall) -> None:
    """The call's first line (who calls whom, on which path, from where), then the
    observers."""
    data = getattr(session.first_message, "data", None)
    socket = session.socket
    session.log.once(
        logging.INFO,
        "call started: %s %s from %s to %s (peer %s)%s",
        session.path,
        getattr(data, "direction", None) or "-",
        getattr(data, "from_", None) or "-",
        getattr(data, "to", None) or "-",
        socket.remote if socket is not None else "-",
        " (resumed)" if session.resumed else "",
        extra={"event": "call.start", "path": session.path},
    )
    for observer in _observers:
        try:
            observer.call_started(session)
        except Exception:  # an observer's bug must not touch the call
            _log.exception("observer %r failed in call_started", observer)


def call_ended(session: ObservedCall) -> None:
    """The call's last line (how long, why it ended, what went wrong), then the observers."""
    stats = session.stats
    started = stats.started_at
    duration = trio.current_time() - started if started is not None else 0.0
    session.log.once(
        logging.INFO,
        "call ended after %.1f s: %s (reconnects %d, acks on the app's behalf %d, errors %d)",
        duration,
        session.end_reason,
        stats.reconnects,
        stats.auto_acks,
        stats.errors,
        extra={"event": "call.end", "path": session.path, "duration": round(duration, 3)},
    )
    for observer in _observers:
        try:
            observer.call_ended(session)
        except Exception:  # an observer's bug must not touch the call
            _log.exception("observer %r failed in call_ended", observer)


def tool_ran(
    session: ObservedCall, name: str, started_at: float, error: BaseException | None
) -> None:
    for observer in _observers:
        try:
            observer.tool_ran(session, name, started_at, error)
        except Exception:  # an observer's bug must not touch the call
            _log.exception("observer %r failed in tool_ran", observer)


def upgrade_refused(status: int) -> None:
    for observer in _observers:
        try:
            observer.upgrade_refused(status)
        except Exception:  # an observer's bug must not touch the call
            _log.exception("observer %r failed in upgrade_refused", observer)
