"""A builder's wire dict as a :class:`~._checked_wire.CheckedWire`: :func:`checked_wire`, made for
every builder a flow yields.

Its own module so that the compiled build compiles it (issue 23): :class:`~._base.Verb` is
subclassed by the generated builders and stays interpreted, and its ``checked_dict()`` was
an interpreted call per verb of every ``yield``.
"""

from __future__ import annotations

from typing import Any, Protocol

from ._checked_wire import CheckedWire

__all__ = ["checked_wire"]


class _Builder(Protocol):
    """What :func:`checked_wire` reads of a :class:`~._base.Verb` (not imported: its module
    imports this one)."""

    @property
    def verb(self) -> str: ...
    @property
    def _jbtrio_ok(self) -> int: ...
    def _compute_fields(self) -> dict[str, Any]: ...


def checked_wire(verb: _Builder) -> CheckedWire:
    """``verb.to_dict()`` as a :class:`~._checked_wire.CheckedWire`, carrying the builder's
    known-valid mask (for code that only adds ids and hook paths to it before it is sent)."""
    cached: dict[str, Any] | None = getattr(verb, "_jbtrio_fields", None)
    wire = CheckedWire()  # filled in place: a third cheaper than keyword arguments
    wire["verb"] = verb.verb
    wire.update(verb._compute_fields() if cached is None else cached)
    wire._jbtrio_ok = verb._jbtrio_ok
    return wire
