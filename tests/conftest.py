"""Hypothesis settings profiles, chosen with ``HYPOTHESIS_PROFILE`` (default ``fast``).

- ``fast`` (every CI run and plain ``pytest``): derandomized, so a CI failure reproduces
  exactly on any machine, and sized to keep the whole suite within the CI budget.
- ``dev``: the same size with fresh randomness each run; failing examples are saved in the
  Hypothesis database (``.hypothesis/examples``) and replayed first on the next run.
- ``deep``: fifty times the examples, for long runs (``HYPOTHESIS_PROFILE=deep pytest
  tests/test_core_properties.py``); saves and replays failures like ``dev``.

Derandomization implies no database (Hypothesis refuses both), hence the split: ``fast`` is
reproducible, ``dev``/``deep`` remember what they found. Property tests scale their own
budgets from ``settings.default.max_examples`` so every profile reaches them.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from jbtrio._runtime import TRANSPORTS

_DATABASE = DirectoryBasedExampleDatabase(".hypothesis/examples")

settings.register_profile(
    "fast",
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=100,
    deadline=None,
    database=_DATABASE,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep",
    max_examples=5000,
    deadline=None,
    database=_DATABASE,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Each websocket backend in turn: the transport suite holds for every one."""
    name: str = request.param
    return name
