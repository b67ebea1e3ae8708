"""What every typed view of a hook payload is made of: typed fields out of a call info's
``extra``, and the recognizer's ``speech`` object that gather, transcribe and partial results
share (:mod:`._payloads` has the hand-written views, :mod:`._results` the generated ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

import attrs

from ._callinfo import CallInfo
from ._fields import (
    Checker,
    check_bool,
    check_number,
    check_object,
    check_str,
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
            out[attr] = check(value, f"{_DATA}.{key}")
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
        speech = check_object(obj, path)
        extra = dict(speech)
        is_final = extra.pop("is_final", None)
        if is_final is not None:
            check_bool(is_final, f"{path}.is_final")
        language_code = extra.pop("language_code", None)
        if language_code is not None:
            check_str(language_code, f"{path}.language_code")
        raw_alts = extra.pop("alternatives", None)
        alternatives: list[SpeechAlternative] = []
        if raw_alts is not None:
            if not isinstance(raw_alts, list):
                raise type_error(f"{path}.alternatives", "array", raw_alts)
            for index, alt in enumerate(raw_alts):
                alt_path = f"{path}.alternatives[{index}]"
                kwargs, alt_extra = split_known(check_object(alt, alt_path), _ALT_SPEC, alt_path)
                alternatives.append(SpeechAlternative(extra=alt_extra, **kwargs))
        return cls(
            is_final=is_final,
            alternatives=tuple(alternatives),
            language_code=language_code,
            extra=extra,
        )
