"""What a fuzz target is: a Hypothesis strategy of inputs and a check that must hold for each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from hypothesis.strategies import SearchStrategy


def _as_is(data: Any) -> Any:
    return data


@attrs.frozen
class Target:
    """One fuzz target.

    ``check`` receives one drawn example and raises (usually ``AssertionError``) when the
    example shows a defect: an exception type that is not documented, a crash, a lost key.
    Modules named ``fuzz/target_*.py`` expose one as ``TARGET`` and the runner finds them.

    ``load`` turns one file of the seed corpus (``fuzz/corpus/<name>/*``) into an example for
    ``check``: it gets the parsed JSON of a ``.json`` file and the raw bytes of any other; the
    runner replays the whole corpus before fuzzing. ``requires``
    names optional modules (an engine such as ``atheris``) without which the runner skips
    the target instead of failing.
    """

    name: str
    strategy: SearchStrategy[Any]
    check: Callable[[Any], None]
    description: str = ""
    load: Callable[[Any], Any] = _as_is
    requires: tuple[str, ...] = ()
    external: Callable[[float], tuple[int, str | None]] | None = None
    """A target with its own engine (coverage-guided atheris): called with the seconds to
    spend, returns (inputs tried, failure or ``None``); ``strategy``/``check`` are unused."""
