"""``python -m fuzz --seconds N`` spends N seconds in all, not N per target plus overruns.

The runner reads the wall clock; here it reads a fake one that only the targets move, so
the checks are exact and take no time.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

import fuzz.__main__ as runner
from fuzz._target import Target


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


def test_a_target_stops_at_its_share_not_at_the_end_of_a_batch(
    clock: Clock, tmp_path: Path
) -> None:
    def check(_: int) -> None:
        clock.now += 0.02  # each example "takes" 20 ms

    target = Target(name="slow", strategy=st.integers(), check=check)
    report = runner.run_target(target, 0.3, DirectoryBasedExampleDatabase(tmp_path))
    assert report.failure is None
    assert report.examples == 15  # then the share is spent: the rest of the batch is not run
    assert clock.now == pytest.approx(0.3)


def test_the_budget_is_shared_by_what_is_left(
    clock: Clock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shares: list[float] = []

    def run_target(target: Target, seconds: float, database: object) -> runner.Report:
        shares.append(seconds)
        clock.now += seconds * (2 if target.name == "t0" else 1)  # t0 overruns
        return runner.Report(name=target.name)

    targets = [Target(name=f"t{n}", strategy=st.none(), check=print) for n in range(4)]
    monkeypatch.setattr(runner, "discover", lambda: targets)
    monkeypatch.setattr(runner, "run_target", run_target)
    monkeypatch.setattr(runner, "_DB_PATH", tmp_path / "db")
    assert runner.main(["--seconds", "8"]) == 0
    # t0 took 4 s instead of 2: the 4 s left are shared by the other three
    assert shares == pytest.approx([2.0, 4 / 3, 4 / 3, 4 / 3])
    assert clock.now == pytest.approx(8.0)
