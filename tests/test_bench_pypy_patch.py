"""The PyPy trial's patch (``bench/pypy/portability.patch``, README: Performance, issue 23
round 11) still applies to this checkout: a change to a file it touches must carry the patch
along, or ``bench/pypy_trial.sh`` stops at ``git apply``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATCH = ROOT / "bench" / "pypy" / "portability.patch"


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout"
)
def test_the_pypy_trials_patch_applies() -> None:
    checked = subprocess.run(
        ["git", "apply", "--check", str(PATCH)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
