"""The observers installed in this process (:mod:`._observe` manages them), and the one
notification sent on every hook round trip: :func:`replied`.

Its own module so that the compiled build compiles it (issue 23): :mod:`._observe` holds
attrs classes and stays interpreted, and ``replied`` was an interpreted call for every
reply of the app while an observer (the metrics) is installed.
"""

from __future__ import annotations

import logging
from typing import Any, Final

__all__ = ["OBSERVERS", "replied"]


#: The observers installed, in order (:class:`~._observe.Observer` s, which this module
#: cannot name: their module imports it), changed in place by :mod:`._observe`.
OBSERVERS: Final[list[Any]] = []
_log: Final = logging.getLogger("jbtrio.observe")


def replied(session: Any, handle: Any, latency: float) -> None:
    """The app answered ``handle`` (a hook) ``latency`` seconds after jambonz sent it: every
    observer is told (:meth:`~._observe.Observer.replied`)."""
    for observer in OBSERVERS:
        try:
            observer.replied(session, handle, latency)
        except Exception:  # an observer's bug must not touch the call
            _log.exception("observer %r failed in replied", observer)
