"""The bound on a frame's nesting: :data:`MAX_DEPTH`, and the checks that hold a frame to it.

Its own module because two places check it: :func:`~._codec.decode` for any frame, and the
call-info decoders while they walk a message's values anyway (issue 23: a ``verb:hook`` is
then not scanned for brackets a second time).
"""

from __future__ import annotations

from typing import Any, Final

from .._errors import ProtocolError

__all__ = ["MAX_DEPTH", "check_nesting", "frame_too_deep", "too_deep"]

#: Deepest container nesting a frame may have: orjson reads 1024 levels but writes only 254,
#: and a frame jbtrio accepts must be one it can send back (the fake jambonz, logging, tests).
MAX_DEPTH: Final = 254
_TOO_DEEP: Final = f"nested deeper than {MAX_DEPTH} levels (such a frame could not be re-encoded)"


def too_deep(text: Any = None) -> ProtocolError:
    """The error of a frame nested deeper than MAX_DEPTH (``text``: the frame, when known)."""
    return ProtocolError(_TOO_DEEP, text)


def frame_too_deep(text: str | bytes | bytearray | memoryview, obj: Any) -> bool:
    """Whether a frame, its text and what it decoded to, nests deeper than MAX_DEPTH."""
    if not _may_be_too_deep(text) or (type(obj) is not dict and type(obj) is not list):
        return False
    return not _within(obj, MAX_DEPTH)


def check_nesting(value: Any, level: int) -> None:
    """Raise :func:`too_deep` when ``value``, a container at nesting ``level`` (1: the frame's
    own values), takes the frame deeper than MAX_DEPTH."""
    if not _within(value, MAX_DEPTH - level):
        raise too_deep()


def _may_be_too_deep(text: str | bytes | bytearray | memoryview) -> bool:
    """Cheap necessary condition for a nesting deeper than MAX_DEPTH: enough brackets."""
    # Nesting deeper than MAX_DEPTH takes more than MAX_DEPTH opening and as many closing
    # brackets: a shorter frame skips both scans (issue 23).
    if (type(text) is str or type(text) is bytes) and len(text) <= 2 * MAX_DEPTH:
        return False
    if isinstance(text, str):
        return text.count("[") + text.count("{") > MAX_DEPTH
    data = bytes(text)
    return data.count(b"[") + data.count(b"{") > MAX_DEPTH


def _within(container: Any, levels: int) -> bool:
    """Whether ``container`` (a dict or a list) nests at most ``levels`` deep.

    A walk that stops at the bound, not an exact count: a call info's few containers
    (``speech``, ``sip``) are shallow, and this is paid on every hook (issue 23). Its
    recursion is at most ``levels`` (MAX_DEPTH at most) deep, whatever the input.
    """
    if levels <= 0:
        return False
    children = container.values() if type(container) is dict else container
    for child in children:
        kind = type(child)
        if (kind is dict or kind is list) and not _within(child, levels - 1):
            return False
    return True
