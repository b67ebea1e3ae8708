"""Verbs as the app wrote them: jbtrio's delivery receipts left out.

A jbtrio app (with ``CoreConfig.receipts`` on, the default) gives every verb it sends an
``id`` of the form ``jb<n>`` when the app set none (a flow's own steps: ``jbf<n>``), turns
``notifyEvents`` on with a leading ``{"verb": "config", "notifyEvents": true, "id":
"jb<n>"}``, and after a reconnect may append a probe ``{"verb": "config", "id": "jbp<n>"}``
(README, "What jbtrio guarantees"). jambonz runs them like any verb, and the transcript keeps
them; but a test that checks *what the app said* should not have to spell them out, so the
fake's verb lists leave them out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

__all__ = ["app_view", "is_receipt_id"]

_RECEIPT_ID: Final = re.compile(r"jb[fp]?\d+")


def is_receipt_id(value: Any) -> bool:
    """Whether ``value`` is an id jbtrio gave a verb itself (``jb<n>``, ``jbp<n>``)."""
    return isinstance(value, str) and _RECEIPT_ID.fullmatch(value) is not None


def _scaffolding(verb: dict[str, Any]) -> bool:
    """The ``config`` verbs jbtrio adds on its own (notifyEvents on; a probe)."""
    if verb.get("verb") != "config" or not is_receipt_id(verb.get("id")):
        return False
    rest = {k: v for k, v in verb.items() if k not in ("verb", "id")}
    return rest in ({}, {"notifyEvents": True})


def app_view(verbs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``verbs`` (normalised ``{"verb": ...}`` form) without jbtrio's receipt scaffolding:
    its own ``config`` verbs dropped and the ``jb<n>`` ids it gave removed."""
    out: list[dict[str, Any]] = []
    for verb in verbs:
        if _scaffolding(verb):
            continue
        if is_receipt_id(verb.get("id")):
            out.append({k: v for k, v in verb.items() if k != "id"})
        else:
            out.append(verb)
    return out
