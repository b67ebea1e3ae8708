"""What a fuzz target is: a Hypothesis strategy of inputs and a check that must hold for each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from hypothesis.strategies import SearchStrategy


@attrs.frozen
class Target:
    """One fuzz target.

    ``check`` receives one drawn example and raises (usually ``AssertionError``) when the
    example shows a defect: an exception type that is not documented, a crash, a lost key.
    Modules named ``fuzz/target_*.py`` expose one as ``TARGET`` and the runner finds them.
    """

    name: str
    strategy: SearchStrategy[Any]
    check: Callable[[Any], None]
    description: str = ""
