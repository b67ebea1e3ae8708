"""jambonz's playout of what an app sends on an audio socket, as a pure model (no I/O).

Rebuilt from what jambonz does (jambonz/freeswitch-modules ``mod_audio_fork/lws_glue.cpp``
and feature-server ``lib/tasks/listen.js``, read for behaviour, not copied):

Streaming mode (``bidirectionalAudio.streaming``), :class:`StreamPlayout`:

- binary frames go into a playout buffer; playout starts once ``prebuffer`` bytes are in it;
  every 20 ms tick plays up to one frame of it;
- a ``mark`` waits in an "inventory" until the next binary frame arrives, then sits in the
  buffer in front of that frame's audio; when playout reaches it jambonz sends
  ``{"type":"mark","data":{"name","event":"playout"}}``; with the buffer empty, one
  inventory mark is reported per tick; beyond 30 marks (``MAX_MARKS``) a mark is discarded;
- ``killAudio`` empties the buffer at the next tick and reports every mark ``cleared``;
- ``clearMarks`` forgets the marks and reports nothing; and (a defect, reproduced unless
  ``reproduce_clear_marks_bug`` is off) the marks it forgot are kept on a "cleared" list that
  the next markers played consume first, so later marks go unreported; ``killAudio`` adds
  the marks it cleared to that list too.

Non-streaming mode (``playAudio`` clips), :class:`ClipQueue`: clips with ``queuePlay`` wait
in listen.js's queue (dropped when 11 already wait) and are handed to FreeSWITCH one at a
time; a clip without it empties that queue and goes to FreeSWITCH at once; FreeSWITCH plays
what it is handed in order; ``killAudio`` cuts the clip playing (its ``playDone`` is still
sent, with the seconds played) and the next one starts.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import attrs

__all__ = ["Clip", "ClipQueue", "MarkReport", "StreamPlayout"]

MAX_MARKS = 30
MAX_PLAY_AUDIO_QUEUE = 10


class _Marker:
    """An anonymous marker in the playout buffer (jambonz's ``AUDIO_MARKER`` sample)."""

    __slots__ = ()


_MARKER = _Marker()


@attrs.frozen
class MarkReport:
    """A mark event jambonz sends: ``name`` reached (``playout``) or dropped (``cleared``)."""

    name: str
    event: str


class StreamPlayout:
    """The streaming-mode playout buffer of one audio socket, with its marks."""

    def __init__(
        self,
        *,
        frame_bytes: int,
        prebuffer_bytes: int,
        reproduce_clear_marks_bug: bool = True,
        max_marks: int = MAX_MARKS,
    ) -> None:
        self.frame_bytes = frame_bytes
        self.prebuffer_bytes = prebuffer_bytes
        self.bug = reproduce_clear_marks_bug
        self.max_marks = max_marks
        self.started = False
        self.discarded_marks: list[str] = []
        self._buffer: deque[bytes | _Marker] = deque()
        self._buffered = 0
        self._inventory: deque[str] = deque()
        self._in_use: deque[str] = deque()
        self._cleared: deque[str] = deque()
        self._kill = False

    @property
    def buffered_bytes(self) -> int:
        """Audio waiting to be played."""
        return self._buffered

    def receive_audio(self, data: bytes) -> None:
        """A binary frame from the app: the marks waiting for audio go in front of it."""
        while self._inventory:
            self._in_use.append(self._inventory.popleft())
            self._buffer.append(_MARKER)
        if data:
            self._buffer.append(data)
            self._buffered += len(data)
        if not self.started and self._buffered >= self.prebuffer_bytes:
            self.started = True

    def mark(self, name: str) -> None:
        """A ``mark`` from the app (discarded beyond ``max_marks`` pending)."""
        if len(self._in_use) + len(self._inventory) >= self.max_marks:
            self.discarded_marks.append(name)
            return
        self._inventory.append(name)

    def clear_marks(self) -> None:
        """``clearMarks``: forget the pending marks without a word."""
        self._cleared.extend(self._in_use)
        if self.bug:
            self._cleared.extend(self._inventory)
        self._in_use.clear()
        self._inventory.clear()

    def kill(self) -> None:
        """``killAudio``: the buffer is emptied at the next tick."""
        self._kill = True

    def tick(self) -> tuple[bytes, list[MarkReport]]:
        """One 20 ms period: the audio played (``b""`` for none) and the mark events."""
        if self._kill:
            self._kill = False
            cleared = [MarkReport(n, "cleared") for n in (*self._in_use, *self._inventory)]
            if self.bug:
                self._cleared.extend(self._in_use)
            self._in_use.clear()
            self._inventory.clear()
            self._buffer.clear()
            self._buffered = 0
            return b"", cleared
        if not self.started:
            return b"", []
        reports: list[MarkReport] = []
        played = bytearray()
        buffer = self._buffer
        while buffer and len(played) < self.frame_bytes:
            item = buffer[0]
            if isinstance(item, _Marker):
                buffer.popleft()
                source = self._cleared if self._cleared else self._in_use
                if source:
                    name = source.popleft()
                    if source is self._in_use:
                        reports.append(MarkReport(name, "playout"))
                continue
            want = self.frame_bytes - len(played)
            if len(item) <= want:
                played += item
                buffer.popleft()
            else:
                played += item[:want]
                buffer[0] = item[want:]
        self._buffered -= len(played)
        idle = not played and not self._in_use and not self._cleared
        if idle and self._inventory:
            reports.append(MarkReport(self._inventory.popleft(), "playout"))
        return bytes(played), reports


@attrs.define
class Clip:
    """A ``playAudio`` clip as jambonz handles it."""

    id: Any
    seconds: float
    data: dict[str, Any]
    played: float = 0.0
    cut: bool = False


class ClipQueue:
    """listen.js's play queue in front of FreeSWITCH's (non-streaming mode)."""

    def __init__(self, max_queue: int = MAX_PLAY_AUDIO_QUEUE) -> None:
        self.max_queue = max_queue
        self.waiting: deque[Clip] = deque()
        """Clips sent with ``queuePlay``, not yet handed to FreeSWITCH."""
        self.freeswitch: deque[Clip] = deque()
        """Clips handed to FreeSWITCH, the first one playing."""
        self.dropped: list[Clip] = []
        self._from_queue = False  # listen.js isPlayingAudioFromQueue
        self._loop_clips: list[Clip] = []  # clips a queue loop awaits

    def play(self, clip: Clip, *, queued: bool) -> None:
        """A ``playAudio`` arrived."""
        if not queued:
            self.dropped.extend(self.waiting)
            self.waiting.clear()
            self.freeswitch.append(clip)
            self._from_queue = False
            return
        if len(self.waiting) <= self.max_queue:
            self.waiting.append(clip)
        else:
            self.dropped.append(clip)
        if not self._from_queue:
            self._from_queue = True
            self._next_from_queue()

    def _next_from_queue(self) -> None:
        if self.waiting:
            clip = self.waiting.popleft()
            self._loop_clips.append(clip)
            self.freeswitch.append(clip)
        else:
            self._from_queue = False

    @property
    def current(self) -> Clip | None:
        """The clip FreeSWITCH is playing."""
        return self.freeswitch[0] if self.freeswitch else None

    def finish_current(self) -> Clip:
        """The playing clip ended (or was cut); a queue loop awaiting it hands the next over."""
        clip = self.freeswitch.popleft()
        if any(c is clip for c in self._loop_clips):
            self._loop_clips = [c for c in self._loop_clips if c is not clip]
            self._next_from_queue()
        return clip
