"""A builder's wire dict that still carries what the builder was checked valid for.

Its own module: :mod:`._to_checked` (compiled in the compiled build) makes them, and
:mod:`._base` uses it, with no import circle; a dict subclass stays interpreted.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CheckedWire"]


class CheckedWire(dict[str, Any]):
    """A builder's wire dict that still carries what the builder was checked valid for.

    A flow turns builders into dicts to give them ids and hooks (strings, valid on any verb
    that has the property); the dict keeps the builder's known-valid mask, so the call core
    does not validate again, at every ``yield``, what was checked when the builder was made
    (:func:`~jbtrio.verbs.known_valid`). A check for another target still runs once.
    """

    __slots__ = ("_jbtrio_ok",)

    _jbtrio_ok: int

    def to_dict(self) -> dict[str, Any]:
        """A plain copy (what validation for a target not checked yet reads)."""
        return dict(self)
