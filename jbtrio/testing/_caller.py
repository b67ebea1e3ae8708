"""The scripted person on the other end of the simulated call.

A script is data, so a test reads like the conversation it checks: what the caller says or
presses at each ``gather``, how a ``dial`` ends, what an ``llm`` verb's vendor emits. Live input
(``Call.speak``/``Call.press``) is appended to the same queue of turns, so scripted and
interactive tests share one code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import attrs

__all__ = ["Caller", "DialOutcome", "LlmScript", "Silence", "ToolCall", "Turn"]


@attrs.frozen
class Turn:
    """One answer of the caller to a ``gather``: speech or DTMF digits."""

    kind: Literal["speech", "digits"]
    value: str
    confidence: float = 0.92


@attrs.frozen
class Silence:
    """A turn in which the caller says nothing: the ``gather`` times out."""


@attrs.frozen
class DialOutcome:
    """How a ``dial`` verb's outbound leg goes.

    ``answered`` legs talk for ``duration`` seconds and end ``completed``; unanswered ones end
    with ``call_status`` (``no-answer``, ``busy``, ``failed``) and ``sip_status``.
    """

    answered: bool = True
    duration: float = 5.0
    call_status: str = "completed"
    sip_status: int = 200
    to_call_sid: str = "5d1f0d2e-8b36-4b2c-9c2e-3f1d7c1b9a10"


@attrs.frozen
class ToolCall:
    """A function call the simulated LLM vendor asks the app to run."""

    name: str
    args: dict[str, Any] = attrs.field(factory=dict)
    tool_call_id: str = "call_abc"


@attrs.frozen
class LlmScript:
    """What an ``llm`` verb's vendor does: events, then tool calls (each awaiting its
    ``llm:tool-output`` for up to ``tool_output_timeout``), then the conversation ends with
    ``completion_reason`` after ``duration`` seconds."""

    events: Sequence[dict[str, Any]] = ()
    tool_calls: Sequence[ToolCall] = ()
    tool_output_timeout: float = 10.0
    duration: float = 1.0
    completion_reason: str = "normal conversation end"


@attrs.frozen
class Caller:
    """The script of the caller.

    ``turns`` are consumed one per ``gather``; ``speech`` and ``digits`` are shorthands appended
    after them (digits as one turn per string). ``response_delay`` is how long the caller takes
    to answer once a gather listens. ``idle_hangup`` hangs up when the app leaves the call with
    no verbs for that many seconds (``None``: wait for ever, as a silent caller would).
    ``dial`` and ``llm`` script those verbs.
    """

    speech: Sequence[str] = ()
    digits: Sequence[str] = ()
    turns: Sequence[Turn | Silence] = ()
    response_delay: float = 1.0
    idle_hangup: float | None = 5.0
    dial: DialOutcome = attrs.field(factory=DialOutcome)
    llm: LlmScript = attrs.field(factory=LlmScript)

    def initial_turns(self) -> list[Turn | Silence]:
        """All scripted turns in the order gathers will consume them."""
        out: list[Turn | Silence] = list(self.turns)
        out.extend(Turn("speech", s) for s in self.speech)
        out.extend(Turn("digits", d) for d in self.digits)
        return out
