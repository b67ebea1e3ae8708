"""Which jambonz the verbs are for, and validation exactly as that jambonz does it.

Two servers are in use and they disagree on verbs: open-source jambonz 0.9.x (feature-server
0.9.8, checked by ``@jambonz/verb-specifications``: unknown properties are errors) and the
current commercial jambonz 10.x/11.x (checked by ``@jambonz/schema``'s JSON Schema: new verbs
such as ``agent`` and ``transfer``, new properties, and unknown properties mostly allowed). A
verb list valid for one may be refused by the other, so every check names its target:
``jambonz="0.9"``, ``"10"`` or ``"11"`` (the default, the current release line). ``"10"`` and
``"11"`` share one schema; they differ in the verbs a target refuses as too new (a verb
schema's ``minVersion``, ``gptlive_s2s`` needing 11.1 for instance).

Builders are shared by all targets: a builder is validated when it is constructed against the
10.x/11.x schema, or, for what only 0.9 has (``lex``, ``rasa``, a 0.9-only property), against
0.9's spec, and refused only when no target accepts it. It remembers which targets it is known
valid for, so :func:`validate` skips it for those and checks it (once) for any other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, Final, Literal

from .._errors import VerbError, from_none
from . import _schema, _spec09
from ._spec09 import COMPONENT_NAMES, EXECUTABLE_VERBS, MAX_DEPTH, load_specs

__all__ = [
    "COMPONENT_NAMES",
    "DEFAULT_JAMBONZ",
    "EXECUTABLE_VERBS",
    "JAMBONZ_VERSIONS",
    "MAX_DEPTH",
    "VERB_ALIASES",
    "JambonzVersion",
    "check_built_component",
    "check_built_verb",
    "known_valid",
    "load_specs",
    "target_bit",
    "validate",
    "validate_component",
    "validate_verb",
]

#: The jambonz a verb list is validated for: ``"0.9"`` (open-source feature-server 0.9.x,
#: exactly as 0.9.8 checks verbs), ``"10"`` or ``"11"`` (the commercial release lines; they
#: share one schema and differ only in the verbs each is new enough for).
JambonzVersion = Literal["0.9", "10", "11"]
#: Every accepted target, oldest first.
JAMBONZ_VERSIONS: Final[tuple[JambonzVersion, ...]] = ("0.9", "10", "11")
#: The target when none is named: the current jambonz, which jambonz tells app authors to use.
DEFAULT_JAMBONZ: Final[JambonzVersion] = "11"

#: Alias verb name -> (canonical verb, ``vendor`` preset or ``None``), as jambonz normalises a
#: verb list before validating it. A preset never overrides a ``vendor`` the app gave. This is
#: 10.x/11.x's table; 0.9.x knows all of it except ``qwen_s2s`` and ``gptlive_s2s``.
VERB_ALIASES: Final[Mapping[str, tuple[str, str | None]]] = _schema.ALIASES

_BITS: Final[Mapping[str, int]] = {"0.9": 1, "10": 2, "11": 4}
_WIRE_HOOK: Final = "_jbtrio_wire_"
_KNOWN_MASK: Final = "_jbtrio_ok"

_CHECKERS: Final[Mapping[str, Callable[[object], None]]] = {
    "0.9": _spec09.check_element,
    "10": partial(_schema.check_element, major=10),
    "11": partial(_schema.check_element, major=11),
}
_NAMES_09: Final = EXECUTABLE_VERBS | frozenset(_spec09.ALIASES)
_NAMES_CURRENT: Final = frozenset(_schema.MIN_VERSIONS) | frozenset(_schema.ALIASES)


def target_bit(jambonz: str) -> int:
    """The bit that marks a builder as known valid for ``jambonz`` (ValueError if unknown)."""
    bit = _BITS.get(jambonz)
    if bit is None:
        raise ValueError(f"jambonz must be one of {', '.join(map(repr, _BITS))}, got {jambonz!r}")
    return bit


def _check_builder(verb: Any, known: int, bit: int, check: Callable[[object], None]) -> None:
    """Check a builder not yet known valid for this target; remember a pass."""
    check(verb.to_dict())
    object.__setattr__(verb, _KNOWN_MASK, known | bit)


def known_valid(verbs: Iterable[object], jambonz: JambonzVersion = DEFAULT_JAMBONZ) -> bool:
    """Whether every element of ``verbs`` is a builder already known valid for ``jambonz``
    (checked when built, frozen since), so that validating the list would only cost time."""
    bit = _BITS.get(jambonz) or target_bit(jambonz)  # one lookup: this runs per reply
    for verb in verbs:
        known = getattr(verb, _KNOWN_MASK, None)
        if known is None or not known & bit:
            return False
    return True


def validate(payload: object, *, jambonz: JambonzVersion = DEFAULT_JAMBONZ) -> None:
    """Raise :class:`VerbError` unless jambonz ``jambonz`` would accept ``payload``.

    ``payload`` is a list whose elements are ``{"verb": "say", ...}`` dicts, legacy
    ``{"say": {...}}`` dicts or verb builder objects; a single such element is accepted too
    (the error's ``index`` is then ``None``). An empty list is valid here: refusing an empty
    answer to ``session:new`` is a separate rule its callers apply. A verb newer than the
    target (``agent`` for ``"0.9"``, ``gptlive_s2s`` for ``"10"``) is refused with a message
    saying so. Builders already known valid for the target are not checked again.
    """
    bit = target_bit(jambonz)
    check = _CHECKERS[jambonz]
    if isinstance(payload, list | tuple):
        for index, element in enumerate(payload):
            try:
                if type(element) is not dict:
                    known: int | None = getattr(element, _KNOWN_MASK, None)
                    if known is not None:
                        if not known & bit:
                            _check_builder(element, known, bit, check)
                        continue
                check(element)
            except VerbError as exc:
                raise from_none(VerbError(exc.reason, index=index, path=exc.path))  # noqa: B904
    elif isinstance(payload, Mapping) or hasattr(payload, _WIRE_HOOK):
        known = getattr(payload, _KNOWN_MASK, None)
        if known is None:
            check(payload)
        elif not known & bit:
            _check_builder(payload, known, bit, check)
    else:
        raise VerbError("malformed jambonz payload: must be array")


def validate_verb(name: str, data: object, *, jambonz: JambonzVersion = DEFAULT_JAMBONZ) -> None:
    """Raise :class:`VerbError` unless ``data`` is valid for the verb (or alias) ``name``.

    ``data`` holds the verb's properties without a ``verb`` key.
    """
    target_bit(jambonz)
    if jambonz == "0.9":
        _spec09.validate_verb(name, data)
    else:
        _schema.check_verb(name, data, int(jambonz))


def validate_component(
    name: str, data: object, *, path: str = "", jambonz: JambonzVersion = DEFAULT_JAMBONZ
) -> None:
    """Raise :class:`VerbError` unless ``data`` is valid for the component ``name``.

    For ``"0.9"``, ``name`` is an entry of 0.9's spec table (``synthesizer``,
    ``sm_transcriptionConfig``, a verb used as a nested value, ...). For ``"10"``/``"11"`` it
    is a schema of ``@jambonz/schema``'s ``components/`` folder (``synthesizer``,
    ``recognizer-deepgramOptions``, ``transferOptions``, ...).
    """
    target_bit(jambonz)
    if jambonz == "0.9":
        _spec09.validate_component(name, data, path=path)
        return
    uri = _schema.component_uri(name)
    if uri is None:
        raise VerbError(f"unknown component schema {name!r}")
    _schema.check_at(uri, data, path or name)


# Verb name -> (its compiled 10.x/11.x validator, canonical name, vendor preset, mask), filled
# once a builder of that verb passed: every later one takes one call into jsonschema-rs.
_BUILT: Final[dict[str, tuple[Any, str, str | None, int]]] = {}


def check_built_verb(name: str, fields: dict[str, Any]) -> int:
    """Validate a verb builder's properties when it is built; return its known-valid mask.

    The 10.x/11.x schema is tried first (the default target); what fails there is accepted
    if 0.9 accepts it, and refused with the error of the schema that knows the verb.
    """
    built = _BUILT.get(name)
    if built is not None:
        validator, canonical, vendor, mask = built
        obj = (
            {"verb": canonical, **fields}
            if vendor is None
            else {"verb": canonical, "vendor": vendor, **fields}
        )
        try:
            if validator.is_valid(obj):
                return mask
        except ValueError:  # a value jsonschema-rs cannot read: the full path says which
            pass
    mask = _check_built_verb(name, fields)
    if mask & _BITS["11"] and name not in _BUILT:
        canonical, vendor = _schema.ALIASES.get(name, (name, None))
        _BUILT[name] = (_schema.verb_validator(canonical), canonical, vendor, mask)
    return mask


def _check_built_verb(name: str, fields: Mapping[str, Any]) -> int:
    if name in _NAMES_CURRENT:
        try:
            _schema.check_verb(name, fields, 11)
        except VerbError as current:
            if name not in _NAMES_09:
                raise
            try:
                _spec09.validate_verb(name, fields)
            except VerbError:
                raise from_none(current)  # noqa: B904
            return _BITS["0.9"]
        newer_than_10 = _schema.needs_newer(name, 10) is not None
        return _BITS["11"] if newer_than_10 else _BITS["10"] | _BITS["11"]
    _spec09.validate_verb(name, fields)
    return _BITS["0.9"]


def check_built_component(spec09: str | None, location: str | None, fields: object) -> None:
    """Validate a component builder when it is built: valid if any target's schema accepts it.

    ``spec09`` names its entry in 0.9's spec table, ``location`` its (sub)schema URI in
    ``@jambonz/schema``; either may be missing when only one server has the component.
    """
    if location is not None:
        try:
            if _schema.validator_at(location).is_valid(fields):
                return
        except ValueError:  # a value jsonschema-rs cannot read: the full path says which
            pass
        try:
            _schema.check_at(location, fields, spec09 or location.rsplit("/", 1)[-1])
        except VerbError as current:
            if spec09 is None:
                raise
            try:
                _spec09.validate_component(spec09, fields)
            except VerbError:
                raise from_none(current)  # noqa: B904
        return
    assert spec09 is not None
    _spec09.validate_component(spec09, fields)
