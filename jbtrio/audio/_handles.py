"""Handles on what an audio stream sent: a :class:`Mark` or a :class:`Playback` to await,
and the stream's logger (the call_sid in every record)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import trio

from ._core import MarkOutcome, PendingMark, PendingPlay, PlayResult

__all__ = ["Mark", "Playback", "stream_logger"]

log = logging.getLogger("jbtrio.audio")


class _StreamLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes records with ``[call_sid]`` and sets ``record.call_sid``."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        sid = self.extra["call_sid"] if self.extra else "-"
        kwargs.setdefault("extra", {}).setdefault("call_sid", sid)
        return f"[{sid}] {msg}", kwargs


def stream_logger(call_sid: str | None) -> logging.LoggerAdapter[logging.Logger]:
    """The ``jbtrio.audio`` logger for one stream (``call_sid`` in every record)."""
    return _StreamLog(log, {"call_sid": call_sid or "-"})


class _Waitable:
    """What :class:`Mark` and :class:`Playback` share: one trio.Event set on resolution."""

    __slots__ = ("_done",)

    def __init__(self, ticket: PendingMark | PendingPlay) -> None:
        self._done = trio.Event()
        ticket.on_resolve = self._done.set

    async def _wait(self) -> None:
        await self._done.wait()


class Mark(_Waitable):
    """A mark sent on the stream; ``await mark.wait()`` for its :class:`MarkOutcome`."""

    __slots__ = ("_ticket",)

    def __init__(self, ticket: PendingMark) -> None:
        super().__init__(ticket)
        self._ticket = ticket

    @property
    def name(self) -> str:
        """The mark's name."""
        return self._ticket.name

    @property
    def outcome(self) -> MarkOutcome | None:
        """How it ended, or ``None`` while pending."""
        return self._ticket.outcome

    async def wait(self) -> MarkOutcome:
        """Wait until jambonz played it out or it was cleared (or unreported, or lost)."""
        await self._wait()
        assert self._ticket.outcome is not None
        return self._ticket.outcome


class Playback(_Waitable):
    """A clip sent with ``playAudio``; ``await playback.wait()`` for its :class:`PlayResult`."""

    __slots__ = ("_ticket",)

    def __init__(self, ticket: PendingPlay) -> None:
        super().__init__(ticket)
        self._ticket = ticket

    @property
    def id(self) -> str:
        """The clip's id (``jb<n>``), as ``playDone`` reports it."""
        return self._ticket.id

    @property
    def result(self) -> PlayResult | None:
        """How it ended, or ``None`` while pending."""
        return self._ticket.result

    async def wait(self) -> PlayResult:
        """Wait for ``playDone`` (or the clip being dropped, unreported or lost)."""
        await self._wait()
        assert self._ticket.result is not None
        return self._ticket.result
