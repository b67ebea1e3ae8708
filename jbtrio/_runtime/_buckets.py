"""A latency histogram's child counted in plain numbers: :class:`Buckets` (the metrics'
``jbtrio_hook_ack_latency_seconds`` observes one per reply of the app).

Its own module so that the compiled build compiles it (issue 23): :mod:`._metrics` builds on
prometheus_client's classes and stays interpreted, and ``observe`` was an interpreted call
for every reply while the metrics are on.
"""

from __future__ import annotations

import time
from bisect import bisect_left

__all__ = ["Buckets"]


class Buckets:
    """A histogram's child: the count of each bucket (not cumulative; the last is +Inf's)
    and the sum."""

    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        # the first bucket whose bound is >= amount, found in C (prometheus_client loops in
        # Python, issue 23); NaN is in none, as there
        if amount == amount:  # noqa: PLR0124 - False for NaN only
            self.counts[bisect_left(self.bounds, amount)] += 1
        self.sum += amount
