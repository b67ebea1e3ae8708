"""What every typed view of a hook payload is made of: typed fields out of a call info's
``extra``, and the recognizer's ``speech`` object that gather, transcribe and partial results
share (:mod:`._payloads` has the hand-written views, :mod:`._results` the generated ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

import attrs

from .._errors import ProtocolError
from ._callinfo import CallInfo
from ._fields import (
    Checker,
    check_bool,
    check_number,
    check_object,
    check_str,
    slot_setters,
    split_known,
    type_error,
)

__all__ = ["HasCallInfo", "SpeechAlternative", "SpeechResult", "typed_fields"]

_DATA = "$.data"


class HasCallInfo(Protocol):
    """Anything with a call-info ``data`` (a ``verb:hook``)."""

    @property
    def data(self) -> CallInfo: ...


def typed_fields(
    extra: Mapping[str, Any], spec: Mapping[str, tuple[str, Checker]]
) -> dict[str, Any]:
    """Typed keyword arguments for the keys of ``spec`` present (and not null) in ``extra``."""
    out: dict[str, Any] = {}
    for key, (attr, check) in spec.items():
        value = extra.get(key)
        if value is not None:
            if check is check_str and type(value) is str:
                out[attr] = value  # most fields: no call needed (issue 23, hot path)
                continue
            try:
                out[attr] = check(value, "")  # no path string unless it fails (issue 23)
            except ProtocolError:
                check(value, f"{_DATA}.{key}")  # the same error, with the exact path
                raise
    return out


@attrs.frozen(kw_only=True)
class SpeechAlternative:
    """One recognition hypothesis: its ``transcript`` and the recognizer's ``confidence``."""

    transcript: str | None = None
    confidence: float | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)


_ALT_SPEC: Final[dict[str, tuple[str, Checker]]] = {
    "transcript": ("transcript", check_str),
    "confidence": ("confidence", check_number),
}


@attrs.frozen(kw_only=True)
class SpeechResult:
    """The ``speech`` object of a gather/transcribe result (vendor-neutral part of it).

    ``alternatives`` are in the recognizer's order, best first. Vendor specific keys (``vendor``,
    ``channel_tag``, ...) are kept in ``extra``.
    """

    is_final: bool | None = None
    alternatives: tuple[SpeechAlternative, ...] = ()
    language_code: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_json(cls, obj: Any, path: str = f"{_DATA}.speech") -> SpeechResult:
        """Parse a decoded ``speech`` object; ProtocolError names the offending path."""
        # One pass, and no path string unless a check fails: a flow's gather hook is parsed on
        # every round trip (issue 23). The checks and their order are those of the fields.
        speech = obj if type(obj) is dict else check_object(obj, path)
        is_final = speech.get("is_final")
        if is_final is not None and type(is_final) is not bool:
            check_bool(is_final, f"{path}.is_final")
        language_code = speech.get("language_code")
        if language_code is not None and type(language_code) is not str:
            check_str(language_code, f"{path}.language_code")
        raw_alts = speech.get("alternatives")
        alternatives: list[SpeechAlternative] = []
        if raw_alts is not None:
            if not isinstance(raw_alts, list):
                raise type_error(f"{path}.alternatives", "array", raw_alts)
            for index, alt in enumerate(raw_alts):
                if type(alt) is dict and len(alt) == 2:  # the common {transcript, confidence}
                    transcript = alt.get("transcript")
                    confidence = alt.get("confidence")
                    if type(transcript) is str and (
                        type(confidence) is float or type(confidence) is int
                    ):
                        # SpeechAlternative(transcript=..., confidence=...) without its
                        # __init__ (issue 23); confidence stays an int if sent as one
                        alternative = _new(SpeechAlternative)
                        _set_transcript(alternative, transcript)
                        _set_confidence(alternative, confidence)
                        _set_alt_extra(alternative, {})
                        alternatives.append(alternative)
                        continue
                alt_path = f"{path}.alternatives[{index}]"
                kwargs, alt_extra = split_known(check_object(alt, alt_path), _ALT_SPEC, alt_path)
                alternatives.append(SpeechAlternative(extra=alt_extra, **kwargs))
        # Every other key, verbatim and in order (the three above leave even when null).
        extra = {} if speech.keys() <= _SPEECH_KEYS else _other_keys(speech)
        if cls is not SpeechResult:  # a subclass may have its own __init__
            return cls(
                is_final=is_final,
                alternatives=tuple(alternatives),
                language_code=language_code,
                extra=extra,
            )
        result = _new(SpeechResult)
        _set_is_final(result, is_final)
        _set_alternatives(result, tuple(alternatives))
        _set_language_code(result, language_code)
        _set_extra(result, extra)
        return result


_SPEECH_KEYS: Final = frozenset({"is_final", "language_code", "alternatives"})


def _other_keys(speech: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in speech.items() if key not in _SPEECH_KEYS}


# The instances are built without the generated __init__ (all it does is set the fields):
# half the instructions, on every gather hook a flow reads (issue 23).
_new: Final = object.__new__
_ALT_SETTERS: Final = dict(slot_setters(SpeechAlternative))
_set_transcript: Final = _ALT_SETTERS["transcript"]
_set_confidence: Final = _ALT_SETTERS["confidence"]
_set_alt_extra: Final = _ALT_SETTERS["extra"]
_SPEECH_SETTERS: Final = dict(slot_setters(SpeechResult))
_set_is_final: Final = _SPEECH_SETTERS["is_final"]
_set_alternatives: Final = _SPEECH_SETTERS["alternatives"]
_set_language_code: Final = _SPEECH_SETTERS["language_code"]
_set_extra: Final = _SPEECH_SETTERS["extra"]
if len(_ALT_SETTERS) != 3 or len(_SPEECH_SETTERS) != 4:
    raise TypeError("SpeechAlternative/SpeechResult gained a field: set it above")
