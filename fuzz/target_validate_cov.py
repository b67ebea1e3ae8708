"""Coverage-guided fuzz target: ``validate`` under atheris (skipped when atheris is absent)."""

from __future__ import annotations

from functools import partial

from hypothesis import strategies as st

from fuzz._atheris import run_subprocess
from fuzz._target import Target


def _unused(_example: object) -> None:
    raise AssertionError("an external target is not driven by Hypothesis")


TARGET = Target(
    name="validate-cov",
    strategy=st.nothing(),
    check=_unused,
    description="validate under atheris (libFuzzer), coverage-guided",
    requires=("atheris",),
    external=partial(run_subprocess, "validate-cov"),
)
