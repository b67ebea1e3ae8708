"""What a flow reads of hooks on every round trip: a hook property's path
(:func:`hook_url`) and the typed result a ``verb:hook`` carries (:func:`gather_result`, ...,
what :class:`~._inbound.VerbHook`'s methods return).

Its own module so that the compiled build compiles it (issue 23): ``VerbHook`` is an attrs
class built from run-time annotations and stays interpreted, and a flow step called these
through it (and ``_flow.py``) as interpreted functions on every hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, Self, TypeVar

from .._errors import ProtocolError
from ._callinfo import CallInfo
from ._payloads import DialResult, GatherResult, LlmResult

__all__ = [
    "ResultView",
    "ViewT",
    "dial_result",
    "gather_result",
    "hook_url",
    "llm_result",
    "result_as",
]


class ResultView(Protocol):
    """A typed view of a hook's result (:class:`~._payloads.GatherResult`, ...)."""

    @classmethod
    def from_call_info(cls, info: CallInfo) -> Self: ...


ViewT = TypeVar("ViewT", bound=ResultView)


class _Hook(Protocol):
    """What is read here of a :class:`~._inbound.VerbHook` (not imported: its module
    imports this one)."""

    @property
    def msgid(self) -> str: ...
    @property
    def hook(self) -> str | None: ...
    @property
    def data(self) -> CallInfo: ...


def hook_url(value: Any) -> str | None:
    """The path of a hook property value (a string or a ``{url: ...}`` object)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("url"), str):
        url: str = value["url"]
        return url
    return None


def gather_result(hook: _Hook) -> GatherResult:
    """The result of a ``gather`` verb (ProtocolError if it is malformed)."""
    try:
        return GatherResult.from_call_info(hook.data)
    except ProtocolError as exc:
        raise _malformed(hook, "gather", exc) from None


def dial_result(hook: _Hook) -> DialResult:
    """The result of a ``dial`` verb (ProtocolError if it is malformed)."""
    try:
        return DialResult.from_call_info(hook.data)
    except ProtocolError as exc:
        raise _malformed(hook, "dial", exc) from None


def llm_result(hook: _Hook) -> LlmResult:
    """The result of an ``llm`` verb (ProtocolError if it is malformed)."""
    try:
        return LlmResult.from_call_info(hook.data)
    except ProtocolError as exc:
        raise _malformed(hook, "llm", exc) from None


def result_as(view: type[ViewT], hook: _Hook) -> ViewT:
    """The hook's payload read as ``view`` (ProtocolError if it is malformed); the view
    first, so that ``functools.partial(result_as, view)`` is a flow's parser of it."""
    try:
        return view.from_call_info(hook.data)
    except ProtocolError as exc:
        raise _malformed(hook, view.__name__, exc) from None


def _malformed(hook: _Hook, verb: str, exc: ProtocolError) -> ProtocolError:
    """The error of a result that is not what jambonz sends, naming the hook it came in:
    jambonz's fault, not the app's (a flow waiting for it gets it at its ``yield``)."""
    return ProtocolError(
        exc.reason,
        context=f"verb:hook {hook.msgid} ({hook.hook}) carries a malformed {verb} result",
    )
