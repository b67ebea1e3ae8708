"""What :class:`~._config.CoreConfig` derives from its fields, read on every message.

Its own module so that the compiled build compiles it (issue 23): ``CoreConfig`` is an attrs
class with validated field defaults and stays interpreted, and its ``reply_window`` property,
read for every message that waits for an ack, was an interpreted call there.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["reply_window"]


class _Timings(Protocol):
    """What :func:`reply_window` reads of a ``CoreConfig`` (not imported: its module
    imports this one)."""

    @property
    def ack_timeout(self) -> float: ...
    @property
    def ack_margin(self) -> float: ...


def reply_window(config: _Timings) -> float:
    """Seconds the app has to reply before the core acks for it."""
    return config.ack_timeout - config.ack_margin
