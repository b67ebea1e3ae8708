"""Call ownership leases, sans-IO: what a lease says, the leases this instance holds, and
whether Redis is reachable (with the counters a metrics exporter reads).

An instance *claims* a call when a socket of a call no instance holds reaches it, *renews*
every lease it holds in batches at a bounded interval, and *releases* a lease when its call
ends (only if the lease is still its own). The Redis side of each is in :mod:`._store`;
this module decides what to do with the answers, without I/O, so that it is tested alone.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator

import attrs

__all__ = ["Health", "Lease", "LeaseBook", "RedisHealth", "Transition"]


@attrs.frozen
class Lease:
    """What a lease key holds: the owning instance's id and its relay address."""

    instance: str
    address: str

    def encode(self) -> bytes:
        return f"{self.instance} {self.address}".encode()

    @classmethod
    def decode(cls, raw: bytes | str | None) -> Lease | None:
        """The lease in ``raw``; ``None`` for no value or one no jbtrio wrote."""
        if raw is None:
            return None
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        instance, sep, address = text.partition(" ")
        if not sep or not instance or not address or " " in address:
            return None
        return cls(instance, address)


@attrs.define
class _Held:
    since: float
    confirmed: bool


class LeaseBook:
    """The calls whose lease this instance holds (or is taking).

    A lease claimed while a socket is routed is *tentative* until the call is registered
    here (:meth:`confirm`): a socket refused after its call was claimed (bounds, a bad
    session) leaves a tentative lease, released by :meth:`stale` once it is older than the
    grace given. Renewal covers every lease held, tentative ones included.
    """

    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, call_sid: object) -> bool:
        return call_sid in self._held

    def hold(self, call_sid: str, now: float, *, confirmed: bool) -> None:
        """Note a lease claimed (or about to be renewed into existence)."""
        held = self._held.get(call_sid)
        if held is None:
            self._held[call_sid] = _Held(now, confirmed)
        elif confirmed:
            held.confirmed = True

    def confirm(self, call_sid: str, now: float) -> None:
        """The call is registered here: its lease is no longer tentative."""
        self.hold(call_sid, now, confirmed=True)

    def drop(self, call_sid: str) -> bool:
        """Forget a lease (released, or lost to another instance); whether it was held."""
        return self._held.pop(call_sid, None) is not None

    def stale(self, now: float, grace: float) -> list[str]:
        """Tentative leases older than ``grace`` seconds: their socket never became a call
        here. They are dropped from the book (the caller releases them in Redis)."""
        old = [
            sid
            for sid, held in self._held.items()
            if not held.confirmed and now - held.since >= grace
        ]
        for sid in old:
            del self._held[sid]
        return old

    def batches(self, size: int) -> Iterator[list[str]]:
        """Every lease held, in lists of at most ``size`` (one Redis round trip each)."""
        sids = list(self._held)
        for start in range(0, len(sids), size):
            yield sids[start : start + size]


class Health(enum.Enum):
    """Whether Redis answered the last call made to it."""

    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


@attrs.frozen
class Transition:
    """Redis became reachable or unreachable: log it (once, not per failed call)."""

    health: Health
    since: float  # when the previous state began
    reason: str  # the failure that made it DOWN, "" when UP


@attrs.define
class RedisHealth:
    """Redis reachability with a log line per change of state, not per failure, and counters
    for a metrics exporter. While DOWN, :meth:`reminder` is due every ``remind_every``
    seconds (a still-down Redis is said again, with what it cost meanwhile)."""

    remind_every: float = 60.0
    health: Health = Health.UNKNOWN
    since: float = 0.0
    next_reminder: float = math.inf
    calls_ok: int = 0
    calls_failed: int = 0
    outages: int = 0
    failed_since_down: int = 0

    def ok(self, now: float) -> Transition | None:
        """A Redis call succeeded; a :class:`Transition` when Redis was not UP."""
        self.calls_ok += 1
        if self.health is Health.UP:
            return None
        previous = self.since
        was_down = self.health is Health.DOWN
        self.health, self.since, self.next_reminder = Health.UP, now, math.inf
        self.failed_since_down = 0
        return Transition(Health.UP, previous, "") if was_down else None

    def failed(self, now: float, reason: str) -> Transition | None:
        """A Redis call failed (error or timeout); a :class:`Transition` when Redis was UP
        (or not yet known)."""
        self.calls_failed += 1
        self.failed_since_down += 1
        if self.health is Health.DOWN:
            return None
        previous = self.since
        self.health, self.since = Health.DOWN, now
        self.next_reminder = now + self.remind_every
        self.outages += 1
        return Transition(Health.DOWN, previous, reason)

    def reminder(self, now: float) -> bool:
        """Whether a "still unreachable" line is due now (then the next one is scheduled)."""
        if self.health is not Health.DOWN or now < self.next_reminder:
            return False
        self.next_reminder = now + self.remind_every
        return True
