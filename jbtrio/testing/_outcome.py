"""What a simulated call produced: its outcome, and what the app asked of it along the way.

The outcome separates *how the call ended* from *whether the app misbehaved*: a call can end
normally while the app earned a ``jambonz:error`` on the way, or while its flow crashed and a
polite apology hid it; the CLI and tests both want to fail on that, with one line that says
why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import attrs

from ._envelope import AppCommand

if TYPE_CHECKING:
    from ._audio import FakeAudioLeg

__all__ = ["AckRecord", "AppError", "CallOutcome", "CallRecord"]


@attrs.frozen(eq=False)
class AppError:
    """The app failed on a call: its flow or a handler raised.

    ``exception`` is the exception itself when the app ran in the same Trio run as the fake
    (:func:`~jbtrio.testing.run_app`), which saw it raised; ``None`` when it was only
    recognised on the wire, by the app's apology (``App(error_verbs=...)``) being played —
    the exception is then in the app's log. ``where`` names what failed (``"flow ivr"``).
    """

    call_sid: str
    where: str
    exception: BaseException | None = None

    def __str__(self) -> str:
        if self.exception is None:
            return f"{self.where} (call_sid {self.call_sid}; the exception is in the app's log)"
        return f"{self.where} raised {self.exception!r} (call_sid {self.call_sid})"


@attrs.frozen
class CallOutcome:
    """How a call ended.

    ``status`` is ``"completed"`` (someone hung up normally) or ``"failed"``; ``reason`` is one
    line (``"app hung up"``, ``"no subprotocol"``, ``"HTTP 401"``, ``"session:new ack timed
    out"``, ``"invalid verbs: ..."``, ``"max duration reached"``...); ``ended_by`` says which
    side ended it; ``faults`` lists app-side faults seen during the call, each one line;
    ``app_errors`` the app's crashes (:class:`AppError`), which jambonz would never see as
    faults: a crashed flow apologises and hangs up, a call that looks completed.
    """

    status: Literal["completed", "failed"]
    reason: str
    ended_by: Literal["app", "caller", "jambonz"]
    faults: tuple[str, ...] = ()
    app_errors: tuple[AppError, ...] = ()

    @property
    def ok(self) -> bool:
        """Completed, with no fault on the app's side and no crash of the app."""
        return self.status == "completed" and not self.faults and not self.app_errors

    def summary(self) -> str:
        """One line: the app's crash, else the failure reason, else the first fault, else the
        completion reason."""
        if self.app_errors:
            return f"app failed: {self.app_errors[0]}"
        if self.status == "failed":
            return f"failed: {self.reason}"
        if self.faults:
            return f"completed with app fault: {self.faults[0]}"
        return f"completed: {self.reason}"


@attrs.frozen
class AckRecord:
    """An ack the fake accepted: to which message type and hook, and its verb list."""

    msg_type: str
    hook: str | None
    verbs: tuple[dict[str, Any], ...]


@attrs.define
class CallRecord:
    """Mutable per-call log of acks, commands, executed verbs, speech and faults.

    ``tool_outputs`` are the app's ``llm:tool-output`` answers the running ``llm``/``agent``
    took (``{"tool_call_id", "data"}``), ``agent_updates`` the ``data`` of each
    ``agent:update`` a running ``agent`` took, ``audio_legs`` the audio sockets of its
    ``listen``/``stream`` verbs, in order.
    """

    acks: list[AckRecord] = attrs.field(factory=list)
    commands: list[AppCommand] = attrs.field(factory=list)
    executed: list[dict[str, Any]] = attrs.field(factory=list)
    spoken: list[str] = attrs.field(factory=list)
    tool_outputs: list[dict[str, Any]] = attrs.field(factory=list)
    agent_updates: list[dict[str, Any]] = attrs.field(factory=list)
    audio_legs: list[FakeAudioLeg] = attrs.field(factory=list)
    confirm_verbs: list[dict[str, Any]] = attrs.field(factory=list)
    faults: list[str] = attrs.field(factory=list)
    app_errors: list[AppError] = attrs.field(factory=list)

    def fault(self, reason: str) -> None:
        """Note an app-side fault (kept in order, reported in the outcome)."""
        self.faults.append(reason)
