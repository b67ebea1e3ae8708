"""Instructions counted under callgrind, for the benches that report them (``--instructions``).

Counts, unlike times, do not move with the machine's load: a bench runs its own script
twice under callgrind with two workloads, and the difference divided by the extra work is
the cost of one unit (a round trip, a set-up), its start-up cancelled out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

__all__ = ["per_unit"]


def _collected(script: str, args: list[str]) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    out = subprocess.run(
        [*command, sys.executable, script, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    match = re.search(r"Collected : (\d+)", out.stderr)
    assert match is not None, out.stderr[-2000:]
    return int(match.group(1))


def per_unit(script: str, low: list[str], high: list[str], units: float) -> float:
    """(instructions of ``script high`` minus those of ``script low``) / ``units``: the
    units of work the second run does more than the first."""
    return (_collected(script, high) - _collected(script, low)) / units
