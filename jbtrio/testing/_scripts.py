"""What the far side of a simulated call does: the dialed party, an LLM vendor, jambonz's own
voice agent, a transfer's destination.

The caller (:mod:`._caller`) says what the person on the line does; these say what the rest
of the world does when a verb reaches it, so a test scripts a whole conversation as data.
Each has a ``from_dict`` reader for script files (JSON or TOML), which refuses unknown keys:
a typo must not silently script nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

__all__ = [
    "DEFAULT_LATENCY",
    "AgentScript",
    "AgentTurn",
    "DialOutcome",
    "LlmScript",
    "ScriptedToolCall",
    "ScriptedTransfer",
    "parse_agent",
    "parse_dial",
    "parse_llm",
    "parse_transfer",
]

#: A ``turn_end`` event's latency figures (ms) when a turn's script gives none: a plausible
#: cascaded pipeline (speech-to-text, end-of-turn wait, the LLM's first token, the TTS's first
#: audio).
DEFAULT_LATENCY: Mapping[str, int] = {
    "transcriber_latency": 120,
    "turn_detection_latency": 80,
    "model_latency": 420,
    "voice_latency": 180,
}


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
class ScriptedToolCall:
    """A function call the simulated LLM vendor (or agent) asks the app to run.

    ``expect``, when set, is the result the app must answer with (an ``agent`` tool's
    ``{"result": ...}``): anything else is a fault of the call. ``None`` checks only that an
    answer came.
    """

    name: str
    args: dict[str, Any] = attrs.field(factory=dict)
    tool_call_id: str = "call_abc"
    expect: Any = None


@attrs.frozen
class LlmScript:
    """What an ``llm`` verb's vendor does: events, then tool calls (each awaiting its
    ``llm:tool-output`` for up to ``tool_output_timeout``), then the conversation ends with
    ``completion_reason`` after ``duration`` seconds."""

    events: Sequence[dict[str, Any]] = ()
    tool_calls: Sequence[ScriptedToolCall] = ()
    tool_output_timeout: float = 10.0
    duration: float = 1.0
    completion_reason: str = "normal conversation end"


@attrs.frozen
class AgentTurn:
    """One turn of a conversation with jambonz's ``agent`` verb.

    The caller ``says`` something (``user_transcript``); the agent's LLM makes the
    ``tool_calls`` (``agent:tool-call`` to the verb's ``toolHook``, each awaiting the app's
    ``llm:tool-output``), then answers ``reply`` (``llm_response``), which takes as long to
    speak as a ``say`` of it. With ``barge_in`` the caller interrupts the reply halfway
    (``user_interruption``; the ``turn_end``'s ``response`` is what was heard), unless the
    verb turned barge-in off. ``latency`` is the ``turn_end``'s (ms; default
    :data:`DEFAULT_LATENCY`); the agent answers after their sum.
    """

    says: str
    reply: str = "Okay."
    tool_calls: Sequence[ScriptedToolCall] = ()
    barge_in: bool = False
    latency: Mapping[str, int] | None = None


@attrs.frozen
class AgentScript:
    """What jambonz's ``agent`` verb does on the call (jambonz 10.x/11.x).

    It speaks ``greeting`` first (when the verb's ``greeting`` is on, as by default), then
    plays ``turns``, the caller taking ``response_delay`` seconds to speak each; an
    ``agent:update`` ``generate_reply`` from the app makes it speak the next of ``replies``
    (the last one repeating; a reply naming the prompt when there are none): at once when
    idle, after the current turn otherwise, cutting that turn short with ``interrupt``. After
    the turns and ``linger`` seconds, the conversation ``end``\\s: ``"complete"`` (the verb
    ends, its ``actionHook`` reports ``completion_reason``) or ``"hangup"`` (the caller hangs
    up). Tool answers are awaited ``tool_output_timeout`` seconds each.
    """

    greeting: str | None = "Hello! How can I help you today?"
    turns: Sequence[AgentTurn] = ()
    replies: Sequence[str] = ()
    response_delay: float = 1.0
    linger: float = 1.0
    end: Literal["complete", "hangup"] = attrs.field(
        default="complete", validator=attrs.validators.in_(("complete", "hangup"))
    )
    completion_reason: str = "normal conversation end"
    tool_output_timeout: float = 10.0


@attrs.frozen
class ScriptedTransfer:
    """How a ``transfer`` verb resolves (jambonz 11.x): ``result`` and ``reason`` as its
    ``actionHook`` reports them (``transfer_result``, ``transfer_reason``). A ``bridged``
    transfer talks to the destination for ``duration`` seconds first."""

    result: Literal["bridged", "returned", "voicemail", "failed"] = attrs.field(
        default="bridged",
        validator=attrs.validators.in_(("bridged", "returned", "voicemail", "failed")),
    )
    reason: Literal["completed", "no-answer", "busy", "declined", "caller-abandoned", "error"] = (
        attrs.field(
            default="completed",
            validator=attrs.validators.in_(
                ("completed", "no-answer", "busy", "declined", "caller-abandoned", "error")
            ),
        )
    )
    duration: float = 5.0
    sip_status: int = 200
    dial_call_sid: str = "7c0e5b1a-3f4d-4e2b-9a8c-1d2e3f4a5b6c"


# --------------------------------------------------------------------------- script files


def table(value: Any, where: str) -> Mapping[str, Any]:
    """``value`` as an object, or a ValueError naming ``where``."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def only(table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    """Refuse keys outside ``allowed``."""
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _fields(cls: type, value: Any, where: str) -> dict[str, Any]:
    data = table(value, where)
    only(data, where, {field.name for field in attrs.fields(cls)})
    return dict(data)


def _make(cls: type, kwargs: dict[str, Any], where: str) -> Any:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        # attrs' validators put the readable line first, then the attribute and its options
        reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
        raise ValueError(f"{where}: {reason}") from exc


def _tool_calls(value: Any, where: str, prefix: str = "call_") -> tuple[ScriptedToolCall, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list")
    calls = []
    for i, call in enumerate(value):
        at = f"{where}[{i}]"
        item = _fields(ScriptedToolCall, call, at)
        item.setdefault("tool_call_id", f"{prefix}{i + 1}")
        calls.append(_make(ScriptedToolCall, item, at))
    return tuple(calls)


def parse_dial(value: Any, where: str) -> DialOutcome:
    """A :class:`DialOutcome` from script data."""
    outcome: DialOutcome = _make(DialOutcome, _fields(DialOutcome, value, where), where)
    return outcome


def parse_llm(value: Any, where: str) -> LlmScript:
    """An :class:`LlmScript` from script data (``tool_calls`` as :class:`ScriptedToolCall`)."""
    data = _fields(LlmScript, value, where)
    data["tool_calls"] = _tool_calls(data.get("tool_calls", []), f"{where}.tool_calls")
    script: LlmScript = _make(LlmScript, data, where)
    return script


def parse_transfer(value: Any, where: str) -> ScriptedTransfer:
    """A :class:`ScriptedTransfer` from script data."""
    outcome: ScriptedTransfer = _make(
        ScriptedTransfer, _fields(ScriptedTransfer, value, where), where
    )
    return outcome


def parse_agent(value: Any, where: str) -> AgentScript:
    """An :class:`AgentScript` from script data::

    {"greeting": "Hi, this is Ava.",
     "turns": [{"says": "Is it sunny in Paris?",
                "tool_calls": [{"name": "get_weather", "args": {"city": "Paris"}}],
                "reply": "It is, 22 degrees."},
               {"says": "Book me a table", "reply": "For how many?", "barge_in": true}],
     "replies": ["Your booking is confirmed."], "end": "complete"}
    """
    data = _fields(AgentScript, value, where)
    turns = data.get("turns", [])
    if not isinstance(turns, list):
        raise ValueError(f"{where}.turns: expected a list")
    parsed = []
    for i, turn in enumerate(turns):
        at = f"{where}.turns[{i}]"
        item = _fields(AgentTurn, turn, at)
        if not isinstance(item.get("says"), str):
            raise ValueError(f"{at}.says: the caller's words, a string")
        item["tool_calls"] = _tool_calls(
            item.get("tool_calls", []), f"{at}.tool_calls", prefix=f"call_{i + 1}_"
        )
        parsed.append(_make(AgentTurn, item, at))
    data["turns"] = tuple(parsed)
    replies = data.get("replies", [])
    if not isinstance(replies, list) or not all(isinstance(r, str) for r in replies):
        raise ValueError(f"{where}.replies: expected a list of strings")
    data["replies"] = tuple(replies)
    script: AgentScript = _make(AgentScript, data, where)
    return script
