"""Flow control of streaming TTS (``tts:tokens``), sans-IO.

Why a state machine of its own: jambonz's token buffer has sharp edges (docs/jambonz.md,
Streaming TTS) that every existing SDK trips over — one round trip per LLM delta, a text
counted as delivered although jambonz answered ``full``, chunks over the buffer's 1,000
characters that are rejected forever, results matched without their ``id``, a buffer drained by
a flush that never sends ``stream_resumed``. :class:`TtsPump` owns all of that as plain data, so
Hypothesis can hammer it against a model of the buffer without sockets, clocks or Trio.

The pump takes the app's text deltas and flush requests plus jambonz's results and streaming
events, and returns :data:`PumpOutput` values in order: commands to send (:class:`SendTokens`,
:class:`SendFlush`, :class:`SendClear`) and an account of the text (:class:`Delivered`,
:class:`Dropped`, :class:`Failed`) delimited by turn boundaries (:class:`FlushDone`,
:class:`Cleared`). Reading the account outputs in order tells exactly which characters of each
turn jambonz accepted and which never made it.

Lengths are UTF-16 code units, as jambonz's JavaScript counts them.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Final, Literal, TypeAlias

import attrs

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_RESULT_TIMEOUT",
    "DEFAULT_RESUME_TIMEOUT",
    "Cleared",
    "Delivered",
    "Dropped",
    "Failed",
    "FlushDone",
    "PumpOutput",
    "SendClear",
    "SendFlush",
    "SendTokens",
    "TtsPump",
    "TtsResult",
    "split_point",
]

DEFAULT_MAX_CHARS: Final = 1000
"""jambonz rejects a ``tts:tokens`` whose text would take its buffer over 1,000 characters."""

DEFAULT_RESUME_TIMEOUT: Final = 2.0
"""Seconds paused after ``full`` before retrying without ``stream_resumed``: a buffer drained
by a flush (or cleared) never sends it, so waiting for it alone can stall forever."""

DEFAULT_RESULT_TIMEOUT: Final = 5.0
"""Seconds after a reconnect to wait for the result of a ``tts:tokens`` sent before the drop
(jambonz queues results while the socket is down) before sending its text again."""

ClearReason: TypeAlias = Literal["clear", "interruption", "failed"]


@attrs.frozen(slots=True)
class SendTokens:
    """Send ``tts:tokens`` ``{"id": id, "tokens": text}`` (the one in flight)."""

    id: int
    text: str


@attrs.frozen(slots=True)
class SendFlush:
    """Send ``tts:flush``."""


@attrs.frozen(slots=True)
class SendClear:
    """Send ``tts:clear``."""


@attrs.frozen(slots=True)
class Delivered:
    """jambonz accepted ``text`` into its stream (``status: ok``)."""

    text: str


@attrs.frozen(slots=True)
class Dropped:
    """``text`` will never be sent or was discarded by a clear: it is not spoken."""

    text: str
    reason: ClearReason


@attrs.frozen(slots=True)
class Failed:
    """jambonz rejected ``text`` for ``reason`` (not ``full``): the producer must hear of it."""

    text: str
    reason: str


@attrs.frozen(slots=True)
class FlushDone:
    """Flush ``marker`` is settled: sent after all text before it (``sent``), or dropped."""

    marker: int
    sent: bool


@attrs.frozen(slots=True)
class Cleared:
    """Everything queued was dropped (app clear, barge-in or a failure): a turn boundary."""

    reason: ClearReason


PumpOutput: TypeAlias = (
    SendTokens | SendFlush | SendClear | Delivered | Dropped | Failed | FlushDone | Cleared
)


def utf16_len(text: str) -> int:
    """Length as JavaScript's ``String.length`` (what jambonz compares to its limits)."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _prefix_within(text: str, units: int) -> int:
    if text.isascii():
        return min(len(text), units)
    used = 0
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > units:
            return index
    return len(text)


# Where jambonz itself ends a sentence (". ! ?", the Arabic question mark or the Urdu full stop
# before whitespace, not a period after a digit; the CJK full stop, exclamation and question
# marks; a blank line), with the whitespace after it: a chunk cut there leaves
# jambonz's buffer empty, because the buffer hands complete sentences to the vendor at once.
_SENTENCE_END: Final = re.compile(
    r"(?:(?<!\d)\.(?=\s)|[!?\u061f\u06d4](?=\s)|[\u3002\uff01\uff1f]|\n[^\S\n]*\n)\s*"
)


def split_point(text: str, max_chars: int) -> int:
    """Index where to cut ``text`` so the head is at most ``max_chars`` UTF-16 units.

    All of it when it fits; else after the last sentence end that fits, else after the last
    whitespace that fits, else hard at the limit (a word longer than the limit).
    """
    limit = _prefix_within(text, max_chars)
    if limit >= len(text):
        return len(text)
    cut = 0
    for match in _SENTENCE_END.finditer(text, 0, limit):
        cut = match.end()
    if cut > 0:
        return cut
    for index in range(limit - 1, -1, -1):
        if text[index].isspace():
            return index + 1
    return max(limit, 1)


@attrs.define(slots=True)
class _InFlight:
    id: int
    text: str
    #: Dropped by a clear or barge-in while in flight: its result only frees the slot.
    void: bool = False
    #: Dropped by a barge-in jambonz had already cleared for: an ``ok`` means jambonz stored
    #: it *after* clearing, so a ``tts:clear`` must follow or the agent keeps talking.
    clear_on_ok: bool = False
    #: Sent on a socket that dropped: the result may come on the next socket, or never.
    uncertain: bool = False


@attrs.frozen(slots=True)
class _Mark:
    marker: int


class TtsPump:
    """Stop-and-wait, coalescing, splitting flow control for one call's ``tts:tokens``.

    Invariants (checked by the Hypothesis state machine in ``tests/test_tts_pump.py``):

    * at most one ``tts:tokens`` is in flight; results are matched by ``id``, others ignored;
    * no ``tts:tokens`` is longer than ``max_chars``; deltas queued while one is in flight are
      merged into the next message, cut at a sentence end, else a word end;
    * text counts as :class:`Delivered` only on ``status: ok``; on ``full`` the same text is
      resent after ``stream_resumed`` or ``resume_timeout`` seconds, whichever comes first;
    * a flush goes out only after everything before it is settled;
    * every character pushed is reported exactly once, as delivered, dropped or failed, in order.
    """

    __slots__ = (
        "_in_flight",
        "_max_chars",
        "_next_id",
        "_next_marker",
        "_paused",
        "_queue",
        "_reconnect_deadline",
        "_result_timeout",
        "_resume_deadline",
        "_resume_timeout",
        "_retry",
    )

    def __init__(
        self,
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
        resume_timeout: float = DEFAULT_RESUME_TIMEOUT,
        result_timeout: float = DEFAULT_RESULT_TIMEOUT,
    ) -> None:
        if max_chars < 2:
            raise ValueError(f"max_chars must be at least 2, got {max_chars}")
        if not resume_timeout > 0 or not result_timeout > 0:
            raise ValueError("resume_timeout and result_timeout must be positive")
        self._max_chars = max_chars
        self._resume_timeout = resume_timeout
        self._result_timeout = result_timeout
        self._queue: deque[str | _Mark] = deque()
        self._in_flight: _InFlight | None = None
        self._retry: str | None = None
        self._paused = False
        self._resume_deadline: float | None = None
        self._reconnect_deadline: float | None = None
        self._next_id = 1
        self._next_marker = 1

    # ------------------------------------------------------------------ state

    @property
    def max_chars(self) -> int:
        """Longest ``tts:tokens`` text the pump sends."""
        return self._max_chars

    @property
    def paused(self) -> bool:
        """Whether jambonz answered ``full`` and the pump waits to resend."""
        return self._paused

    @property
    def in_flight(self) -> tuple[int, str] | None:
        """``(id, text)`` of the ``tts:tokens`` awaiting its result, if any."""
        entry = self._in_flight
        return None if entry is None else (entry.id, entry.text)

    @property
    def pending_chars(self) -> int:
        """Characters queued and not yet confirmed (what back-pressure is measured on)."""
        total = sum(len(item) for item in self._queue if isinstance(item, str))
        if self._retry is not None:
            total += len(self._retry)
        if self._in_flight is not None and not self._in_flight.void:
            total += len(self._in_flight.text)
        return total

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing in flight, nothing to resend."""
        return not self._queue and self._in_flight is None and self._retry is None

    def next_deadline(self) -> float | None:
        """When :meth:`tick` has work to do, or ``None``."""
        deadlines = [d for d in (self._resume_deadline, self._reconnect_deadline) if d is not None]
        return min(deadlines, default=None)

    # ------------------------------------------------------------------ app side

    def push(self, text: str, now: float) -> list[PumpOutput]:
        """Queue a text delta; merged with the text queued before it."""
        if not text:
            return []
        if self._queue and isinstance(self._queue[-1], str):
            self._queue[-1] += text
        else:
            self._queue.append(text)
        return self._pump(now)

    def flush(self, now: float) -> tuple[int, list[PumpOutput]]:
        """Queue a ``tts:flush`` behind the text queued so far; returns its marker number."""
        marker = self._next_marker
        self._next_marker += 1
        self._queue.append(_Mark(marker))
        return marker, self._pump(now)

    def clear(self, now: float) -> list[PumpOutput]:
        """Drop everything queued or in flight and send ``tts:clear`` (the app's barge-in).

        The clear goes out after the ``tts:tokens`` in flight, so whatever its result, that
        text is discarded by jambonz: it is reported dropped now.
        """
        out = self._drop_all("clear", clear_on_ok=False)
        out.append(SendClear())
        out.append(Cleared("clear"))
        out.extend(self._pump(now))
        return out

    # ------------------------------------------------------------------ jambonz side

    def receive_result(
        self, id: object, status: str | None, reason: str | None, now: float
    ) -> list[PumpOutput]:
        """Handle ``tts:tokens-result``; results for any other id than the one in flight
        (late, duplicated, or another sender's) are ignored."""
        entry = self._in_flight
        if entry is None or type(id) is not int or id != entry.id:
            return []
        self._in_flight = None
        self._reconnect_deadline = None
        out: list[PumpOutput] = []
        if entry.void:
            if status == "ok" and entry.clear_on_ok:
                out.append(SendClear())
        elif status == "ok":
            out.append(Delivered(entry.text))
        elif status == "failed" and reason == "full":
            self._retry = entry.text
            self._paused = True
            self._resume_deadline = now + self._resume_timeout
        else:
            why = reason or (f"status {status}" if status else "no TTS streaming buffer")
            out.append(Failed(entry.text, why))
            out.extend(self._drop_all("failed", clear_on_ok=False))
            out.append(Cleared("failed"))
        out.extend(self._pump(now))
        return out

    def receive_event(self, event_type: str | None, now: float) -> list[PumpOutput]:
        """Handle ``tts:streaming-event``: resume on ``stream_resumed``, drop on barge-in."""
        if event_type == "stream_resumed":
            return self._resume(now)
        if event_type == "user_interruption":
            # jambonz emptied its buffer already; a tts:tokens in flight is answered after
            # the clear, so an ok means its text is in the fresh buffer and must be cleared.
            out = self._drop_all("interruption", clear_on_ok=True)
            out.append(Cleared("interruption"))
            out.extend(self._pump(now))
            return out
        return []

    def tick(self, now: float) -> list[PumpOutput]:
        """Run due deadlines: the resume fallback and the post-reconnect resend."""
        out: list[PumpOutput] = []
        if self._resume_deadline is not None and now >= self._resume_deadline:
            out.extend(self._resume(now))
        entry = self._in_flight
        if (
            self._reconnect_deadline is not None
            and now >= self._reconnect_deadline
            and entry is not None
        ):
            # No result since the drop: jambonz never read the command. Send it again (a
            # new id, so a result for the old one can never settle the new one).
            self._reconnect_deadline = None
            self._in_flight = None
            if not entry.void:
                self._retry = entry.text
            out.extend(self._pump(now))
        return out

    # ------------------------------------------------------------------ sockets

    def detach(self, now: float) -> None:
        """The socket dropped: the ``tts:tokens`` in flight may or may not have arrived."""
        del now
        self._reconnect_deadline = None
        if self._in_flight is not None:
            self._in_flight.uncertain = True

    def attach(self, now: float) -> list[PumpOutput]:
        """A socket is back: give the result of a command sent before the drop some time."""
        entry = self._in_flight
        if entry is not None and entry.uncertain:
            self._reconnect_deadline = now + self._result_timeout
        return self._pump(now)

    # ------------------------------------------------------------------ internals

    def _resume(self, now: float) -> list[PumpOutput]:
        if not self._paused:
            return []
        self._paused = False
        self._resume_deadline = None
        return self._pump(now)

    def _drop_all(self, reason: ClearReason, *, clear_on_ok: bool) -> list[PumpOutput]:
        out: list[PumpOutput] = []
        entry = self._in_flight
        if entry is not None and not entry.void:
            entry.void = True
            entry.clear_on_ok = clear_on_ok
            out.append(Dropped(entry.text, reason))
        if self._retry is not None:
            out.append(Dropped(self._retry, reason))
            self._retry = None
        for item in self._queue:
            if isinstance(item, str):
                out.append(Dropped(item, reason))
            else:
                out.append(FlushDone(item.marker, sent=False))
        self._queue.clear()
        self._paused = False
        self._resume_deadline = None
        return out

    def _send(self, text: str) -> SendTokens:
        entry = _InFlight(self._next_id, text)
        self._next_id += 1
        self._in_flight = entry
        return SendTokens(entry.id, text)

    def _pump(self, now: float) -> list[PumpOutput]:
        del now
        out: list[PumpOutput] = []
        while self._in_flight is None and not self._paused:
            if self._retry is not None:
                text, self._retry = self._retry, None
                out.append(self._send(text))
                break
            if not self._queue:
                break
            head = self._queue[0]
            if isinstance(head, _Mark):
                self._queue.popleft()
                out.append(SendFlush())
                out.append(FlushDone(head.marker, sent=True))
                continue
            cut = split_point(head, self._max_chars)
            if cut < len(head):
                self._queue[0] = head[cut:]
            else:
                self._queue.popleft()
            out.append(self._send(head[:cut]))
        return out


@attrs.frozen(slots=True)
class TtsResult:
    """What became of one turn's text.

    ``spoken`` is the text jambonz accepted into its stream (``status: ok``), in order;
    ``dropped`` the text that never reached it (cleared, interrupted or refused). On a barge-in
    the caller may not have *heard* the tail of ``spoken`` — jambonz 0.9.8 does not say how
    much was played — but nothing in ``dropped`` was ever spoken. ``interrupted`` is set by a
    ``user_interruption``; ``flushed`` when the turn's ``tts:flush`` went out.

    ``heard`` is what the caller actually heard of the turn, when jambonz says so: 10.x/11.x's
    ``tts_spoken`` event (``config`` ``trackTtsPlayout: true``, a TTS vendor with alignment
    data), sent once the speech ended or was interrupted; ``None`` until then, and always
    with jambonz 0.9 (``TtsStream.flush(heard_timeout=...)`` waits for it). Keep it, not
    ``spoken``, in the LLM's history.
    """

    spoken: str = ""
    dropped: str = ""
    interrupted: bool = False
    flushed: bool = False
    heard: str | None = None
