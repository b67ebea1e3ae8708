"""The scripted person on the other end of the simulated call, and the world behind it.

A script is data, so a test reads like the conversation it checks: what the caller says or
presses at each ``gather`` (or that they stay silent, or hang up), how each ``dial`` or
``transfer`` ends, what each ``llm`` verb's vendor emits, how a conversation with jambonz's
``agent`` goes (:mod:`._scripts` has those far-side scripts). Live input
(``FakeCall.speak``/``FakeCall.press``) is appended to the same queue of turns, so scripted
and interactive tests share one code path. The same script can live in a JSON or TOML file
(:meth:`Caller.from_file`), which ``jbtrio call --script`` reads too.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from ._audio_spec import AudioScript, Quiet, Tone
from ._scripts import (
    AgentScript,
    AgentTurn,
    DialOutcome,
    LlmScript,
    ScriptedToolCall,
    ScriptedTransfer,
    only,
    parse_agent,
    parse_dial,
    parse_llm,
    parse_transfer,
    table,
)

__all__ = [
    "AgentScript",
    "AgentTurn",
    "Caller",
    "DialOutcome",
    "HangUp",
    "LlmScript",
    "ScriptedToolCall",
    "ScriptedTransfer",
    "Silence",
    "Turn",
]


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
class Caller:
    """The script of the caller.

    ``turns`` are consumed one per ``gather``; ``speech`` and ``digits`` are shorthands appended
    after them (digits as one turn per string). ``response_delay`` is how long the caller takes
    to answer once a gather listens. ``idle_hangup`` hangs up when the app leaves the call with
    no verbs for that many seconds (``None``: wait for ever, as a silent caller would).
    ``dial``, ``llm``, ``agent`` and ``transfer`` script those verbs: one for every such
    verb, or a sequence consumed one per verb (the last one repeating). ``conference_seconds``
    is how long the caller stays in a ``conference`` (or ``room``) before it ends. ``audio``
    is what the caller sounds like on a ``listen``/``stream`` socket (a tone for 5 s, by
    default), and how long such a verb runs when nothing else ends it.
    """

    speech: Sequence[str] = ()
    digits: Sequence[str] = ()
    turns: Sequence[CallerTurn] = ()
    response_delay: float = 1.0
    idle_hangup: float | None = 5.0
    dial: DialOutcome | Sequence[DialOutcome] = attrs.field(factory=DialOutcome)
    llm: LlmScript | Sequence[LlmScript] = attrs.field(factory=LlmScript)
    agent: AgentScript | Sequence[AgentScript] = attrs.field(factory=AgentScript)
    transfer: ScriptedTransfer | Sequence[ScriptedTransfer] = attrs.field(factory=ScriptedTransfer)
    conference_seconds: float = 5.0
    audio: AudioScript = attrs.field(factory=AudioScript)

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

    def agent_scripts(self) -> list[AgentScript]:
        """The scripts of the call's ``agent`` verbs in order (the last one repeats)."""
        scripts = [self.agent] if isinstance(self.agent, AgentScript) else list(self.agent)
        return scripts or [AgentScript()]

    def transfer_outcomes(self) -> list[ScriptedTransfer]:
        """The outcomes of the call's ``transfer`` verbs in order (the last one repeats)."""
        outcomes = (
            [self.transfer] if isinstance(self.transfer, ScriptedTransfer) else list(self.transfer)
        )
        return outcomes or [ScriptedTransfer()]

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
             "agent": {"turns": [{"says": "Is it sunny?", "reply": "Yes."}]},
             "transfer": {"result": "returned", "reason": "no-answer"},
             "audio": {"tone": 440, "seconds": 5, "duration": 7, "dtmf": ["2.5:5"]},
             "response_delay": 1.0, "idle_hangup": 5}

        A turn is ``{"say": TEXT}`` (with an optional ``"confidence"``), ``{"digits":
        KEYS}``, ``"silence"`` or ``"hangup"``; ``"idle_hangup": "never"`` waits for ever.
        ``dial``, ``llm``, ``agent`` and ``transfer`` take the fields of
        :class:`DialOutcome`, :class:`LlmScript`, :class:`AgentScript` (``turns`` those of
        :class:`AgentTurn`) and :class:`ScriptedTransfer` (``tool_calls`` those of
        :class:`ScriptedToolCall`), one object or a list. ``audio`` is the caller's side of a
        ``listen``: a ``tone`` (Hz) or ``"silence": true`` for ``seconds``, the verb lasting
        ``duration`` (``seconds`` + 2 by default), ``dtmf`` as ``"SECONDS:DIGIT"`` strings.
        Unknown keys are refused, so a typo does not silently script nothing.
        """
        script = table(data, "the script")
        only(
            script,
            "the script",
            {
                "turns",
                "response_delay",
                "idle_hangup",
                "dial",
                "llm",
                "agent",
                "transfer",
                "conference_seconds",
                "audio",
            },
        )
        kwargs: dict[str, Any] = {}
        turns = script.get("turns", [])
        if not isinstance(turns, list):
            raise ValueError("turns: expected a list")
        kwargs["turns"] = [_turn(t, f"turns[{i}]") for i, t in enumerate(turns)]
        for key in ("response_delay", "conference_seconds"):
            if key in script:
                kwargs[key] = _number(script[key], key)
        if "idle_hangup" in script:
            idle = script["idle_hangup"]
            never = idle is None or idle == "never"
            kwargs["idle_hangup"] = None if never else _number(idle, "idle_hangup")
        parsers = {
            "dial": parse_dial,
            "llm": parse_llm,
            "agent": parse_agent,
            "transfer": parse_transfer,
        }
        for key, parse in parsers.items():
            if key in script:
                kwargs[key] = _one_or_many(script[key], key, parse)
        if "audio" in script:
            kwargs["audio"] = _audio(script["audio"], "audio")
        return cls(**kwargs)


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
    data = table(value, where)
    only(data, where, {"say", "digits", "confidence"})
    if ("say" in data) == ("digits" in data):
        raise ValueError(f"{where}: a turn has one of 'say' and 'digits'")
    if "digits" in data:
        return Turn("digits", _text(data["digits"], f"{where}.digits"))
    text = _text(data["say"], f"{where}.say")
    if not text:
        return Silence()  # nothing said: the gather times out, as for a silent caller
    confidence = _number(data.get("confidence", 0.92), f"{where}.confidence")
    return Turn("speech", text, confidence)


def _one_or_many(value: Any, where: str, parse: Any) -> Any:
    if isinstance(value, list):
        if not value:
            raise ValueError(f"{where}: an empty list")
        return tuple(parse(item, f"{where}[{i}]") for i, item in enumerate(value))
    return parse(value, where)


def _audio(value: Any, where: str) -> AudioScript:
    data = table(value, where)
    only(data, where, {"tone", "silence", "seconds", "duration", "dtmf"})
    seconds = _number(data.get("seconds", 5.0), f"{where}.seconds")
    silent = data.get("silence", False)
    if not isinstance(silent, bool):
        raise ValueError(f"{where}.silence: expected true or false, got {silent!r}")
    hz = _number(data.get("tone", 440.0), f"{where}.tone")
    source = Quiet(seconds) if silent else Tone(hz, seconds=seconds)
    duration = _number(data.get("duration", seconds + 2.0), f"{where}.duration")
    presses = data.get("dtmf", [])
    if not isinstance(presses, list):
        raise ValueError(f"{where}.dtmf: expected a list of 'SECONDS:DIGIT'")
    return AudioScript(
        source=source,
        duration=duration,
        dtmf=[parse_dtmf(p, f"{where}.dtmf[{i}]") for i, p in enumerate(presses)],
    )


def parse_dtmf(value: Any, where: str = "dtmf") -> tuple[float, str]:
    """``"2.5:5"`` (the caller presses 5 after 2.5 s of audio) as ``(2.5, "5")``."""
    at, _, digit = str(value).partition(":")
    try:
        seconds = float(at)
    except ValueError:
        raise ValueError(f"{where}: expected SECONDS:DIGIT, got {value!r}") from None
    if len(digit) != 1 or digit not in "0123456789*#ABCD":
        raise ValueError(f"{where}: {digit!r} is not a DTMF digit (in {value!r})")
    return seconds, digit
