"""The sans-IO core of one audio stream: bounded buffers, the playout clock, marks and clips.

Like the call core, it takes input and the current time and says what to do; it never
imports Trio. The Trio layer (:mod:`._stream`) feeds it frames, asks it how long a send must
wait, and sleeps until :meth:`AudioCore.next_deadline`.

Marks and clips are tickets (:class:`PendingMark`, :class:`PendingPlay`) resolved exactly
once: by jambonz's report, locally (``clearMarks``/``killAudio`` clear marks; a clip sent
without ``queuePlay`` drops the queued clips jambonz has not started), by the playout clock
when jambonz stays silent past ``report_grace`` (``UNREPORTED``), or when the stream ends
(``LOST``). What jambonz does, read in mod_audio_fork (``lws_glue.cpp``) and feature-server
(``listen.js``): a mark sits in the streamed audio where it was sent and is reported when the
audio before it has played, in order; ``killAudio`` drops the buffered audio and reports every
mark ``cleared``; ``clearMarks`` forgets the marks *without* reporting them (and, a defect,
makes jambonz swallow as many later marks as were not yet followed by audio); clips sent with
``queuePlay`` play one after the other, the others start at once and empty that queue.
"""

from __future__ import annotations

import enum
import io
import itertools
import math
import wave
from collections import Counter, deque
from collections.abc import Callable

import attrs

from ._config import AudioConfig
from ._errors import AudioLimitError, AudioProtocolError
from ._wire import (
    AudioEvent,
    AudioMetadata,
    MarkEvent,
    PlayDone,
    encode_mark,
    encode_play,
    parse_event,
)

__all__ = [
    "AudioCore",
    "AudioStats",
    "LogLimiter",
    "MarkOutcome",
    "PendingMark",
    "PendingPlay",
    "PlayOutcome",
    "PlayResult",
]


class MarkOutcome(enum.Enum):
    """How a mark ended."""

    PLAYOUT = "playout"
    """jambonz played the audio sent before the mark."""
    CLEARED = "cleared"
    """Cleared before it played (``clear_marks``/``kill_audio``, or jambonz said so)."""
    UNREPORTED = "unreported"
    """jambonz did not report it within ``report_grace`` of when it should have played (no
    ``bidirectionalAudio.streaming``, or lost by jambonz), or a later mark played first."""
    LOST = "lost"
    """The stream ended first."""


class PlayOutcome(enum.Enum):
    """How a ``playAudio`` clip ended."""

    DONE = "done"
    """jambonz reported ``playDone`` (it played, or ``killAudio`` cut it)."""
    DROPPED = "dropped"
    """A clip sent without ``queue`` emptied jambonz's queue before this one started."""
    UNREPORTED = "unreported"
    """No ``playDone`` within ``report_grace`` of its estimated end (jambonz ignores
    ``playAudio`` when ``bidirectionalAudio`` is off or in streaming mode)."""
    LOST = "lost"
    """The stream ended first."""


@attrs.frozen
class PlayResult:
    """The end of a clip: how, and jambonz's ``playDone`` event when there was one."""

    outcome: PlayOutcome
    done: PlayDone | None = None


class _Ticket:
    __slots__ = ("deadline", "on_resolve")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.on_resolve: Callable[[], None] | None = None

    def _fire(self) -> None:
        if self.on_resolve is not None:
            self.on_resolve()


class PendingMark(_Ticket):
    """A mark sent and not yet resolved; :attr:`outcome` once it is."""

    __slots__ = ("name", "outcome")

    def __init__(self, name: str, deadline: float) -> None:
        super().__init__(deadline)
        self.name = name
        self.outcome: MarkOutcome | None = None

    def resolve(self, outcome: MarkOutcome) -> bool:
        """Set the outcome (once); True if this call set it."""
        if self.outcome is not None:
            return False
        self.outcome = outcome
        self._fire()
        return True


class PendingPlay(_Ticket):
    """A clip sent and not yet resolved; :attr:`result` once it is."""

    __slots__ = ("due", "duration", "id", "queued", "result", "sent_at")

    def __init__(self, play_id: str, queued: bool, duration: float, sent_at: float) -> None:
        super().__init__(math.inf)
        self.id = play_id
        self.queued = queued
        self.duration = duration
        self.sent_at = sent_at
        self.due = math.inf
        self.result: PlayResult | None = None

    def resolve(self, result: PlayResult) -> bool:
        """Set the result (once); True if this call set it."""
        if self.result is not None:
            return False
        self.result = result
        self._fire()
        return True


@attrs.define
class AudioStats:
    """Counters of one stream, for logs and metrics."""

    frames_in: int = 0
    bytes_in: int = 0
    frames_dropped: int = 0
    bytes_dropped: int = 0
    empty_frames: int = 0
    events_in: int = 0
    events_dropped: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    paced_waits: int = 0
    marks_sent: int = 0
    plays_sent: int = 0
    unreported: int = 0
    stale_reports: int = 0
    protocol_errors: int = 0


class LogLimiter:
    """At most ``burst`` records per ``interval`` seconds for each kind of trouble."""

    def __init__(self, interval: float, burst: int) -> None:
        self._interval = interval
        self._burst = burst
        self._windows: dict[str, tuple[float, int, int]] = {}

    def allow(self, kind: str, now: float) -> int | None:
        """``None`` to suppress this record; else how many were suppressed before it."""
        start, used, suppressed = self._windows.get(kind, (now, 0, 0))
        if now - start >= self._interval:
            start, used = now, 0
        if used >= self._burst:
            self._windows[kind] = (start, used, suppressed + 1)
            return None
        self._windows[kind] = (start, used + 1, 0)
        return suppressed


def clip_seconds(audio: bytes, content_type: str, sample_rate: int) -> float:
    """How long a ``playAudio`` clip plays: raw L16 mono at ``sample_rate``, or a WAV file."""
    if content_type == "raw":
        if len(audio) % 2:
            raise AudioLimitError("raw L16 audio must have an even number of bytes")
        return len(audio) / (2 * sample_rate)
    if content_type in ("wav", "wave"):
        try:
            with wave.open(io.BytesIO(audio)) as wav:
                frames: int = wav.getnframes()
                rate: int = wav.getframerate()
                return frames / rate
        except (wave.Error, EOFError, ZeroDivisionError) as exc:
            raise AudioLimitError(f"not a playable WAV file: {exc}") from None
    raise AudioLimitError(f"audioContentType must be 'raw', 'wav' or 'wave', not {content_type!r}")


class AudioCore:
    """The protocol state of one audio stream (see the module docstring)."""

    def __init__(self, metadata: AudioMetadata, config: AudioConfig, now: float) -> None:
        self.metadata = metadata
        self.config = config
        self.stats = AudioStats()
        self.closed = False
        self._output_rate = 0
        self._per_second = 0.0
        self._ahead = config.max_ahead_ms / 1000
        self.slice_bytes = 0
        """The largest piece :meth:`slices` leaves whole."""
        self.output_rate = metadata.sample_rate
        self.on_room: Callable[[], None] | None = None
        """Called when a mark or clip resolves (room for one more)."""
        self._align = 2 * metadata.channels
        self._max_buffered = max(
            self._align, config.inbound_buffer_ms * metadata.bytes_per_second // 1000
        )
        self._frames: deque[bytes] = deque()
        self._buffered = 0
        self._events: deque[AudioEvent] = deque()
        self._marks: deque[PendingMark] = deque()
        self._expected_cleared: Counter[str] = Counter()
        self._plays: list[PendingPlay] = []
        self._play_end = now
        self._ids = itertools.count(1)
        self._grace = math.inf if config.report_grace is None else config.report_grace

    # ------------------------------------------------------------------ inbound

    def receive_audio(self, data: bytes) -> int:
        """Buffer one binary frame; returns how many old frames were dropped to make room.

        An empty frame (jambonz's graceful-shutdown flush) is ignored; a frame that is not a
        whole number of samples raises :class:`AudioProtocolError` and is not kept.
        """
        size = len(data)
        if not size:
            self.stats.empty_frames += 1
            return 0
        if size % self._align:
            self.stats.protocol_errors += 1
            raise AudioProtocolError(
                f"a {size}-byte binary frame is not whole {self._align}-byte L16 samples"
            )
        stats = self.stats
        stats.frames_in += 1
        stats.bytes_in += size
        frames = self._frames
        frames.append(data)
        self._buffered += size
        dropped = 0
        limit_frames = self.config.inbound_buffer_frames
        while len(frames) > 1 and (
            self._buffered > self._max_buffered or len(frames) > limit_frames
        ):
            old = frames.popleft()
            self._buffered -= len(old)
            dropped += 1
            stats.bytes_dropped += len(old)
        stats.frames_dropped += dropped
        return dropped

    def pop_frame(self) -> bytes | None:
        """The oldest buffered frame, if any."""
        if not self._frames:
            return None
        frame = self._frames.popleft()
        self._buffered -= len(frame)
        return frame

    @property
    def buffered_frames(self) -> int:
        """Frames received and not yet read."""
        return len(self._frames)

    def receive_text(self, text: str) -> AudioEvent:
        """Handle one event frame: resolve the mark or clip it reports and keep the event for
        :meth:`pop_event` (dropping the oldest beyond ``event_buffer``).

        Raises :class:`AudioProtocolError` for a malformed frame (counted, nothing kept).
        """
        try:
            event = parse_event(text, self.config.max_text_bytes)
        except AudioProtocolError:
            self.stats.protocol_errors += 1
            raise
        self.stats.events_in += 1
        if isinstance(event, MarkEvent):
            self._on_mark(event)
        elif isinstance(event, PlayDone):
            self._on_play_done(event)
        self._events.append(event)
        if len(self._events) > self.config.event_buffer:
            self._events.popleft()
            self.stats.events_dropped += 1
        return event

    def pop_event(self) -> AudioEvent | None:
        """The oldest kept event, if any."""
        return self._events.popleft() if self._events else None

    def _on_mark(self, event: MarkEvent) -> None:
        name = event.name
        if event.event == "cleared" and self._expected_cleared[name] > 0:
            # jambonz confirms a mark this side already resolved (kill_audio/clear_marks).
            self._expected_cleared[name] -= 1
            if not self._expected_cleared[name]:
                del self._expected_cleared[name]
            return
        for index, mark in enumerate(self._marks):
            if mark.name != name:
                continue
            # Marks play in order: one reported means every older one never will be.
            for _ in range(index):
                self._resolve_mark(self._marks.popleft(), MarkOutcome.UNREPORTED)
            self._marks.popleft()
            outcome = MarkOutcome.PLAYOUT if event.event == "playout" else MarkOutcome.CLEARED
            self._resolve_mark(mark, outcome)
            return
        self.stats.stale_reports += 1

    def _on_play_done(self, event: PlayDone) -> None:
        for play in self._plays:
            if play.id == event.id:
                self._plays.remove(play)
                self._resolve_play(play, PlayResult(PlayOutcome.DONE, event))
                return
        self.stats.stale_reports += 1

    def _resolve_mark(self, mark: PendingMark, outcome: MarkOutcome) -> None:
        if outcome is MarkOutcome.UNREPORTED:
            self.stats.unreported += 1
        mark.resolve(outcome)
        if self.on_room is not None:
            self.on_room()

    def _resolve_play(self, play: PendingPlay, result: PlayResult) -> None:
        if result.outcome is PlayOutcome.UNREPORTED:
            self.stats.unreported += 1
        play.resolve(result)
        if self.on_room is not None:
            self.on_room()

    # ------------------------------------------------------------------ streamed audio out

    @property
    def output_rate(self) -> int:
        """Sample rate of the audio the app sends back (the verb's
        ``bidirectionalAudio.sampleRate``; the stream's own rate unless set)."""
        return self._output_rate

    @output_rate.setter
    def output_rate(self, rate: int) -> None:
        self._output_rate = rate
        self._per_second = 2.0 * rate  # L16 mono
        step = 2 * rate * self.config.max_ahead_ms // 2000
        self.slice_bytes = step - step % 2

    def output_bytes_per_second(self) -> int:
        """Bytes per second of the audio the app sends (L16 mono at :attr:`output_rate`)."""
        return 2 * self._output_rate

    def slices(self, pcm: bytes) -> list[bytes]:
        """``pcm`` cut into pieces of at most half of ``max_ahead_ms`` (whole samples)."""
        if len(pcm) % 2:
            raise AudioLimitError("L16 audio must have an even number of bytes")
        step = self.slice_bytes
        if len(pcm) <= step:
            return [pcm]
        view = memoryview(pcm)
        return [bytes(view[i : i + step]) for i in range(0, len(pcm), step)]

    def queued_ahead(self, now: float) -> float:
        """Seconds of sent audio jambonz has not played yet (the playout clock's estimate)."""
        return max(0.0, self._play_end - now)

    def send_delay(self, size: int, now: float) -> float:
        """Seconds to wait before ``size`` more bytes may go without exceeding
        ``max_ahead_ms`` (0: send now)."""
        excess = self._play_end - now
        excess = max(excess, 0.0)
        excess += size / self._per_second - self._ahead
        # Below a tenth of a millisecond is float noise: waiting for it could spin for ever.
        return excess if excess > 1e-4 else 0.0

    def audio_sent(self, size: int, now: float) -> None:
        """Account for ``size`` bytes handed to the writer at ``now``."""
        stats = self.stats
        stats.frames_out += 1
        stats.bytes_out += size
        end = self._play_end
        self._play_end = (end if end > now else now) + size / self._per_second

    # ------------------------------------------------------------------ marks

    @property
    def pending_marks(self) -> int:
        """Marks sent and not resolved."""
        return len(self._marks)

    def mark_room(self) -> bool:
        """Whether one more mark may be sent (``max_pending_marks``)."""
        return len(self._marks) < self.config.max_pending_marks

    @staticmethod
    def prepare_mark(name: str) -> str:
        """Check a mark's name; the frame to send (register it with :meth:`commit_mark` once
        it is handed to the writer)."""
        if not isinstance(name, str) or not name:
            raise AudioLimitError("a mark needs a non-empty name")
        if len(name) > 256:
            raise AudioLimitError("a mark name is at most 256 characters")
        return encode_mark(name)

    def commit_mark(self, name: str, now: float) -> PendingMark:
        """Register a mark sent at ``now``, after the audio sent so far."""
        mark = PendingMark(name, max(now, self._play_end) + self._grace)
        self._marks.append(mark)
        self.stats.marks_sent += 1
        return mark

    def clear_marks(self) -> None:
        """``clearMarks`` was sent: every pending mark is cleared."""
        self._clear_all_marks()

    def _clear_all_marks(self) -> None:
        while self._marks:
            mark = self._marks.popleft()
            self._expected_cleared[mark.name] += 1
            self._resolve_mark(mark, MarkOutcome.CLEARED)
        # A jambonz that never confirms (clearMarks) must not leave this growing for ever.
        if sum(self._expected_cleared.values()) > 4 * self.config.max_pending_marks:
            self._expected_cleared.clear()

    def kill_audio(self, now: float) -> None:
        """``killAudio`` was sent: jambonz drops its buffered audio and cuts the clip playing
        (marks cleared, the playout clock reset)."""
        self._clear_all_marks()
        self._play_end = now
        if self._plays:
            first = self._plays[0]  # cut now; its playDone still comes
            first.duration = max(0.0, now - first.sent_at)
            self._reschedule()

    # ------------------------------------------------------------------ clips

    def play_room(self, queue: bool) -> bool:
        """Whether a clip may be sent now (``max_queued_plays`` unresolved clips at most; a
        clip without ``queue`` first drops the queued ones jambonz has not started)."""
        outstanding = len(self._plays)
        if not queue:
            outstanding -= len(self._droppable())
        return outstanding < self.config.max_queued_plays

    def _droppable(self) -> list[PendingPlay]:
        queued = [p for p in self._plays if p.queued]
        return queued[1:]  # the oldest queued clip may be playing: jambonz lets it finish

    def prepare_play(
        self,
        audio: bytes,
        *,
        content_type: str,
        sample_rate: int | None,
        queue: bool,
    ) -> tuple[PendingPlay, str]:
        """Check a clip; its ticket and the ``playAudio`` frame to send (register it with
        :meth:`commit_play` once it is handed to the writer)."""
        if len(audio) > self.config.max_play_bytes:
            raise AudioLimitError(
                f"a {len(audio)}-byte clip is over max_play_bytes ({self.config.max_play_bytes})"
            )
        rate = self.output_rate if sample_rate is None else sample_rate
        if not isinstance(rate, int) or rate <= 0:
            raise AudioLimitError(f"sample_rate must be a positive int, got {rate!r}")
        duration = clip_seconds(audio, content_type, rate)
        play = PendingPlay(f"jb{next(self._ids)}", queue, duration, math.inf)
        text = encode_play(
            audio, content_type=content_type, sample_rate=rate, play_id=play.id, queue=queue
        )
        return play, text

    def commit_play(self, play: PendingPlay, now: float) -> None:
        """Register a clip sent at ``now``; one sent without ``queue`` drops the queued clips
        jambonz has not started (they resolve ``DROPPED``)."""
        if not play.queued:
            for dropped in self._droppable():
                self._plays.remove(dropped)
                self._resolve_play(dropped, PlayResult(PlayOutcome.DROPPED))
        play.sent_at = now
        self._plays.append(play)
        self._reschedule()
        self.stats.plays_sent += 1

    def _reschedule(self) -> None:
        """Estimated ends of the unresolved clips: each starts when sent or when the one
        before it ends, whichever is later (jambonz plays them one after another)."""
        previous_end = -math.inf
        for play in self._plays:
            play.due = max(play.sent_at, previous_end) + play.duration
            play.deadline = play.due + self._grace
            previous_end = play.due

    # ------------------------------------------------------------------ time and end

    def next_deadline(self) -> float:
        """When :meth:`expire` has work next (``inf``: nothing pending)."""
        deadline = self._marks[0].deadline if self._marks else math.inf
        for play in self._plays:
            deadline = min(deadline, play.deadline)
        return deadline

    def expire(self, now: float) -> None:
        """Resolve as ``UNREPORTED`` what jambonz should have reported by ``now``."""
        while self._marks and self._marks[0].deadline <= now:
            self._resolve_mark(self._marks.popleft(), MarkOutcome.UNREPORTED)
        for play in [p for p in self._plays if p.deadline <= now]:
            self._plays.remove(play)
            self._resolve_play(play, PlayResult(PlayOutcome.UNREPORTED))

    def close(self) -> None:
        """The stream is over: everything pending is ``LOST``."""
        self.closed = True
        while self._marks:
            self._resolve_mark(self._marks.popleft(), MarkOutcome.LOST)
        while self._plays:
            self._resolve_play(self._plays.pop(0), PlayResult(PlayOutcome.LOST))
