"""The PyPy trial's stand-in for ``tracemalloc`` (``bench/pypy_trial.sh``): PyPy has none,
and the bench server imports it for its memory report, which the trial does not ask for."""

from __future__ import annotations


def is_tracing() -> bool:
    return False


def start(frames: int = 1) -> None:
    raise RuntimeError("PyPy has no tracemalloc")
