"""The record of a simulated call: every frame both ways and every connection event, timed.

Tests assert on it and wait on it, so it doubles as the synchronisation point between a test
and the running fake: appending wakes every waiter, and waiters re-check their predicate instead
of polling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs
import orjson
import trio

__all__ = ["ConnEvent", "FakeCallEnded", "Transcript", "TranscriptFrame"]

Direction = Literal["in", "out"]


@attrs.frozen
class TranscriptFrame:
    """One websocket message as it crossed the wire.

    ``direction`` is seen from the fake: ``"out"`` was sent by jambonz to the app, ``"in"`` was
    received from the app. ``time`` is ``trio.current_time()`` (virtual under MockClock),
    ``connection`` the 1-based number of the socket it travelled on, ``text`` the exact payload
    and ``data`` the parsed JSON object (``None`` when it was not one).
    """

    direction: Direction
    time: float
    text: str
    data: dict[str, Any] | None
    connection: int = 1

    @property
    def type(self) -> str | None:
        """The envelope ``type`` (``None`` for a frame that is not a JSON object with one)."""
        t = self.data.get("type") if self.data else None
        return t if isinstance(t, str) else None

    @property
    def msgid(self) -> str | None:
        """The envelope ``msgid``, when present and a string."""
        m = self.data.get("msgid") if self.data else None
        return m if isinstance(m, str) else None

    @property
    def payload(self) -> Any:
        """The ``data`` member of the envelope (``None`` when absent)."""
        return self.data.get("data") if self.data else None

    def to_json(self, origin: float = 0.0) -> str:
        """One JSON line for logs and the CLI's ``--json`` output (``time`` minus ``origin``)."""
        return orjson.dumps(
            {
                "direction": self.direction,
                "time": round(self.time - origin, 6),
                "connection": self.connection,
                "frame": self.data if self.data is not None else self.text,
            }
        ).decode()


@attrs.frozen
class ConnEvent:
    """A connection-level event: ``"open"``, ``"close"`` (with ``code`` and who closed), or
    ``"connect-failed"`` (with ``detail``)."""

    time: float
    connection: int
    kind: str
    code: int | None = None
    by: Literal["app", "jambonz", "network"] | None = None
    detail: str = ""


class FakeCallEnded(Exception):
    """Raised by a wait when the call ended before what was awaited happened."""


class Transcript:
    """Append-only list of frames and events with predicate waits."""

    def __init__(self) -> None:
        self.frames: list[TranscriptFrame] = []
        self.events: list[ConnEvent] = []
        self._changed = trio.Event()
        self._ended = False
        self.listeners: list[Callable[[TranscriptFrame], None]] = []

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def add_frame(self, frame: TranscriptFrame) -> None:
        """Record a frame and wake waiters."""
        self.frames.append(frame)
        for listener in self.listeners:
            listener(frame)
        self._wake()

    def add_event(self, event: ConnEvent) -> None:
        """Record a connection event and wake waiters."""
        self.events.append(event)
        self._wake()

    def end(self) -> None:
        """Mark the call over so pending waits fail instead of hanging."""
        self._ended = True
        self._wake()

    async def wait_for(
        self, predicate: Callable[[TranscriptFrame], bool], *, start: int = 0
    ) -> TranscriptFrame:
        """The first frame at index >= ``start`` matching ``predicate``, waiting if needed."""
        i = start
        while True:
            while i < len(self.frames):
                if predicate(self.frames[i]):
                    return self.frames[i]
                i += 1
            if self._ended:
                raise FakeCallEnded("the call ended before a matching frame was seen")
            await self._changed.wait()

    async def wait_event(self, predicate: Callable[[ConnEvent], bool]) -> ConnEvent:
        """The first connection event matching ``predicate``, waiting if needed."""
        i = 0
        while True:
            while i < len(self.events):
                if predicate(self.events[i]):
                    return self.events[i]
                i += 1
            if self._ended:
                raise FakeCallEnded("the call ended before a matching event was seen")
            await self._changed.wait()

    def format(self) -> str:
        """A human-readable rendering, one line per frame."""
        lines = []
        for f in self.frames:
            arrow = "jambonz -> app" if f.direction == "out" else "app -> jambonz"
            lines.append(f"{f.time:9.3f} #{f.connection} {arrow}  {f.text}")
        return "\n".join(lines)
