"""The scripted person on the other end of the simulated call.

A script is data, so a test reads like the conversation it checks: what the caller says or
presses at each ``gather`` (or that they stay silent, or hang up), how each ``dial`` ends,
what each ``llm`` verb's vendor emits. Live input (``FakeCall.speak``/``FakeCall.press``) is
appended to the same queue of turns, so scripted and interactive tests share one code path.
The same script can live in a JSON or TOML file (:meth:`Caller.from_file`), which ``jbtrio
call --script`` reads too.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

__all__ = ["Caller", "DialOutcome", "HangUp", "LlmScript", "ScriptedToolCall", "Silence", "Turn"]


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
class HangUp:
    """A turn in which the caller hangs up while the ``gather`` listens."""


CallerTurn = Turn | Silence | HangUp


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
    tool_calls: Sequence[ScriptedToolCall] = ()
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
    ``dial`` and ``llm`` script those verbs: one for every such verb, or a sequence consumed
    one per verb (the last one repeating).
    """

    speech: Sequence[str] = ()
    digits: Sequence[str] = ()
    turns: Sequence[CallerTurn] = ()
    response_delay: float = 1.0
    idle_hangup: float | None = 5.0
    dial: DialOutcome | Sequence[DialOutcome] = attrs.field(factory=DialOutcome)
    llm: LlmScript | Sequence[LlmScript] = attrs.field(factory=LlmScript)

    def initial_turns(self) -> list[CallerTurn]:
        """All scripted turns in the order gathers will consume them."""
        out: list[CallerTurn] = list(self.turns)
        out.extend(Turn("speech", s) for s in self.speech)
        out.extend(Turn("digits", d) for d in self.digits)
        return out

    def dial_outcomes(self) -> list[DialOutcome]:
        """The outcomes of the call's dials in order (the last one repeats)."""
        dials = [self.dial] if isinstance(self.dial, DialOutcome) else list(self.dial)
        return dials or [DialOutcome()]

    def llm_scripts(self) -> list[LlmScript]:
        """The scripts of the call's ``llm`` verbs in order (the last one repeats)."""
        scripts = [self.llm] if isinstance(self.llm, LlmScript) else list(self.llm)
        return scripts or [LlmScript()]

    @classmethod
    def from_file(cls, path: str | Path) -> Caller:
        """Read a script from a ``.json`` or ``.toml`` file (see :meth:`from_dict`)."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: {exc}") from exc
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    @classmethod
    def from_dict(cls, data: Any) -> Caller:
        """A script from plain data (parsed JSON or TOML)::

            {"turns": [{"say": "I need help"}, {"digits": "1"}, "silence", "hangup"],
             "dial": [{"answered": false, "call_status": "busy", "sip_status": 486}, {}],
             "llm": {"tool_calls": [{"name": "get_weather", "args": {"city": "Paris"}}]},
             "response_delay": 1.0, "idle_hangup": 5}

        A turn is ``{"say": TEXT}`` (with an optional ``"confidence"``), ``{"digits":
        KEYS}``, ``"silence"`` or ``"hangup"``; ``"idle_hangup": "never"`` waits for ever.
        ``dial`` and ``llm`` take the fields of :class:`DialOutcome` and :class:`LlmScript`
        (``tool_calls`` those of :class:`ScriptedToolCall`), one object or a list. Unknown keys are
        refused, so a typo does not silently script nothing.
        """
        table = _table(data, "the script")
        _only(table, "the script", {"turns", "response_delay", "idle_hangup", "dial", "llm"})
        kwargs: dict[str, Any] = {}
        turns = table.get("turns", [])
        if not isinstance(turns, list):
            raise ValueError("turns: expected a list")
        kwargs["turns"] = [_turn(t, f"turns[{i}]") for i, t in enumerate(turns)]
        if "response_delay" in table:
            kwargs["response_delay"] = _number(table["response_delay"], "response_delay")
        if "idle_hangup" in table:
            idle = table["idle_hangup"]
            never = idle is None or idle == "never"
            kwargs["idle_hangup"] = None if never else _number(idle, "idle_hangup")
        if "dial" in table:
            kwargs["dial"] = _one_or_many(table["dial"], "dial", _dial)
        if "llm" in table:
            kwargs["llm"] = _one_or_many(table["llm"], "llm", _llm)
        return cls(**kwargs)


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _only(table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {value!r}")
    return value


def _turn(value: Any, where: str) -> CallerTurn:
    if value in ("silence", {"silence": True}):
        return Silence()
    if value in ("hangup", {"hangup": True}):
        return HangUp()
    if isinstance(value, str):
        raise ValueError(f"{where}: {value!r} is not a turn ('silence', 'hangup' or an object)")
    table = _table(value, where)
    _only(table, where, {"say", "digits", "confidence"})
    if ("say" in table) == ("digits" in table):
        raise ValueError(f"{where}: a turn has one of 'say' and 'digits'")
    if "digits" in table:
        return Turn("digits", _text(table["digits"], f"{where}.digits"))
    text = _text(table["say"], f"{where}.say")
    if not text:
        return Silence()  # nothing said: the gather times out, as for a silent caller
    confidence = _number(table.get("confidence", 0.92), f"{where}.confidence")
    return Turn("speech", text, confidence)


def _one_or_many(value: Any, where: str, parse: Any) -> Any:
    if isinstance(value, list):
        if not value:
            raise ValueError(f"{where}: an empty list")
        return tuple(parse(item, f"{where}[{i}]") for i, item in enumerate(value))
    return parse(value, where)


def _fields(cls: type, table: Mapping[str, Any], where: str) -> dict[str, Any]:
    names = {field.name for field in attrs.fields(cls)}
    _only(table, where, names)
    return dict(table)


def _dial(value: Any, where: str) -> DialOutcome:
    table = _fields(DialOutcome, _table(value, where), where)
    try:
        return DialOutcome(**table)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _llm(value: Any, where: str) -> LlmScript:
    table = _fields(LlmScript, _table(value, where), where)
    calls = table.get("tool_calls", [])
    if not isinstance(calls, list):
        raise ValueError(f"{where}.tool_calls: expected a list")
    tool_calls = []
    for i, call in enumerate(calls):
        at = f"{where}.tool_calls[{i}]"
        item = _fields(ScriptedToolCall, _table(call, at), at)
        item.setdefault("tool_call_id", f"call_{i + 1}")
        tool_calls.append(ScriptedToolCall(**item))
    table["tool_calls"] = tuple(tool_calls)
    try:
        return LlmScript(**table)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from exc
