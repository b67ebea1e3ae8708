"""Faults the fake injects on demand: drops, delays, reordering, malformed frames, stalls.

Each rule names a point in the call with a :class:`At` selector (direction plus index, type or
predicate) and fires once, so a test can say "drop the line right after the second verb:hook"
and get exactly one drop, with the protocol consequences the real server would show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import attrs

from ._transcript import TranscriptFrame

__all__ = ["At", "Delay", "Drop", "Faults", "Inject", "PauseReading", "Reorder"]


@attrs.frozen
class At:
    """Selects frames: ``direction`` (``"out"`` = jambonz to app, ``"in"`` = app to jambonz),
    and optionally ``index`` (0-based among frames of that direction in the whole call),
    ``type`` (envelope type) and ``predicate``. All given conditions must hold."""

    direction: Literal["in", "out"] = "out"
    index: int | None = None
    type: str | None = None
    predicate: Callable[[TranscriptFrame], bool] | None = None

    def matches(self, frame: TranscriptFrame, index: int) -> bool:
        """Whether ``frame``, the ``index``-th of its direction, is selected."""
        if frame.direction != self.direction:
            return False
        if self.index is not None and index != self.index:
            return False
        if self.type is not None and frame.type != self.type:
            return False
        return self.predicate is None or self.predicate(frame)


@attrs.frozen
class Drop:
    """Kill the connection ``when`` (``"before"`` or ``"after"``) the selected frame.

    ``code=None`` kills TCP (the app sees 1006, as on a network loss); a code sends a close
    frame with it. Dropping *before* an outgoing frame re-queues it for the next connection,
    as jambonz queues what it produces while disconnected; an incoming frame dropped *before*
    is lost, as it reached a dead socket.
    """

    at: At
    when: Literal["before", "after"] = "after"
    code: int | None = None


@attrs.frozen
class Delay:
    """Hold the selected outgoing frame back for ``seconds`` (later frames wait behind it)."""

    at: At
    seconds: float


@attrs.frozen
class Reorder:
    """Hold the selected outgoing frame and send it right after the next one."""

    at: At


@attrs.frozen
class Inject:
    """Send ``text`` raw (malformed JSON, a bogus type, a binary frame...) ``when`` the
    selected frame passes."""

    at: At
    text: str | bytes
    when: Literal["before", "after"] = "after"


@attrs.frozen
class PauseReading:
    """Stop reading the socket for ``seconds`` after the selected incoming frame, so the app
    meets backpressure (trio-websocket's reader queue fills and TCP stops draining)."""

    at: At
    seconds: float


Rule = Drop | Delay | Reorder | Inject | PauseReading


@attrs.frozen
class Faults:
    """The set of rules for one call; each fires at most once."""

    rules: Sequence[Rule] = ()

    @classmethod
    def drop_after(cls, n: int) -> Faults:
        """Drop TCP right after the ``n``-th (1-based) frame jambonz sends."""
        return cls([Drop(At("out", index=n - 1), "after")])


class FaultState:
    """Runtime bookkeeping: per-direction counters and which rules already fired."""

    def __init__(self, faults: Faults) -> None:
        self._rules = list(faults.rules)
        self._fired: set[int] = set()
        self.counters = {"in": 0, "out": 0}

    def take(self, frame: TranscriptFrame, index: int, kinds: tuple[type, ...]) -> list[Rule]:
        """Rules of the given kinds that select ``frame``; marks them fired."""
        out: list[Rule] = []
        for i, rule in enumerate(self._rules):
            if i in self._fired or not isinstance(rule, kinds):
                continue
            if rule.at.matches(frame, index):
                self._fired.add(i)
                out.append(rule)
        return out

    def next_index(self, direction: Literal["in", "out"]) -> int:
        """Allocate the index of the next frame in ``direction``."""
        i = self.counters[direction]
        self.counters[direction] = i + 1
        return i
