"""What a simulated call produced: its outcome, and what the app asked of it along the way.

The outcome separates *how the call ended* from *whether the app misbehaved*: a call can end
normally while the app earned a ``jambonz:error`` on the way, and the CLI and tests both want
to fail on that, with one line that says why.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from ._envelope import AppCommand

__all__ = ["AckRecord", "CallOutcome", "CallRecord"]


@attrs.frozen
class CallOutcome:
    """How a call ended.

    ``status`` is ``"completed"`` (someone hung up normally) or ``"failed"``; ``reason`` is one
    line (``"app hung up"``, ``"no subprotocol"``, ``"HTTP 401"``, ``"session:new ack timed
    out"``, ``"invalid verbs: ..."``, ``"max duration reached"``...); ``ended_by`` says which
    side ended it; ``faults`` lists app-side faults seen during the call, each one line.
    """

    status: Literal["completed", "failed"]
    reason: str
    ended_by: Literal["app", "caller", "jambonz"]
    faults: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Completed with no fault on the app's side."""
        return self.status == "completed" and not self.faults

    def summary(self) -> str:
        """One line: the failure reason, else the first fault, else the completion reason."""
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
    """Mutable per-call log of acks, commands, executed verbs, speech and faults."""

    acks: list[AckRecord] = attrs.field(factory=list)
    commands: list[AppCommand] = attrs.field(factory=list)
    executed: list[dict[str, Any]] = attrs.field(factory=list)
    spoken: list[str] = attrs.field(factory=list)
    tool_outputs: list[dict[str, Any]] = attrs.field(factory=list)
    confirm_verbs: list[dict[str, Any]] = attrs.field(factory=list)
    faults: list[str] = attrs.field(factory=list)

    def fault(self, reason: str) -> None:
        """Note an app-side fault (kept in order, reported in the outcome)."""
        self.faults.append(reason)
