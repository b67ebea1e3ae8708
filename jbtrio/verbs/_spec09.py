"""Validate verb lists exactly as jambonz 0.9.x's own validator does, only faster.

jambonz 0.9.x (open-source feature-server up to 0.9.8) checks every verb list an app sends
with the npm package ``@jambonz/verb-specifications`` 0.1.13: a spec table (shipped here as
``data/verb-specifications.json``, MIT) read with JavaScript ``typeof`` semantics. A verb list
that passes here but fails there makes jambonz drop the app's instructions mid-call, and one
that fails here but would pass there stops a working app, so the rules below reproduce the
package's verdicts case for case (proved by ``tests/test_verbs_oracle.py`` against a corpus
recorded from the real package). The code is our own: the spec table is compiled once per
process into one checker callable per property, so validating a typical verb list costs
microseconds instead of a walk over the raw JSON spec.

The ``typeof`` rules that matter, with Python values in mind:

* ``"number"`` is an ``int``/``float`` but never a ``bool`` (``typeof true`` is ``"boolean"``).
* ``"object"`` accepts a dict, a list *and* ``None`` (``typeof null`` and ``typeof []`` are
  ``"object"``); ``"array"`` accepts lists only.
* A union ``"a|b"`` accepts a value whose ``typeof`` is one of the members, or any list when
  ``array`` is a member; so ``"string|#noiseIsolationPipeline"`` accepts strings only.
* ``"#name"`` validates the value against entry ``name`` by walking its keys: a non-empty
  string or list has the key ``"0"`` (an unknown property), while a number, bool, ``None``,
  ``""`` or ``[]`` has no keys, so only the required properties of ``name`` are checked.
* ``["#name"]`` iterates the value: each list item is validated as ``#name``; a string is
  iterated by character (``""`` passes, anything longer fails); anything else is not iterable
  and fails.
* Enums are checked only for ``{"type": "string", "enum": [...]}``; other object specs accept
  any value when their ``type`` is number/string/object/boolean, and reject any present value
  otherwise (``sm_audioEventsConfig.types``, ``noiseIsolationPipeline.direction``).
* A reference to an undefined entry (``mcpServer.roots`` → ``#root``) rejects any value that
  has something to check.
* Unknown keys are errors except ``_`` (free-form data jambonz carries along). Keys such as
  ``toString`` or ``__proto__`` fail in jambonz through JavaScript prototype lookup; here they
  are simply unknown properties.
"""

from __future__ import annotations

import json
import reprlib
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import Any, Final

from .._errors import VerbError

__all__ = [
    "ALIASES",
    "COMPONENT_NAMES",
    "EXECUTABLE_VERBS",
    "MAX_DEPTH",
    "NEWER_VERBS",
    "check_element",
    "load_specs",
    "validate",
    "validate_component",
    "validate_verb",
]

#: The verbs feature-server 0.9.8 can run (docs/jambonz.md, Verbs). The spec table has 83 entries,
#: but a component such as ``synthesizer`` or the non-executable ``pipeline`` sent as a top-level
#: verb fails in jambonz's task factory even though the npm validator lets it through, so we reject
#: those up front.
EXECUTABLE_VERBS: Final[frozenset[str]] = frozenset(
    {
        "alert",
        "answer",
        "conference",
        "config",
        "dequeue",
        "dial",
        "dialogflow",
        "dtmf",
        "dub",
        "enqueue",
        "gather",
        "hangup",
        "leave",
        "lex",
        "listen",
        "llm",
        "message",
        "pause",
        "play",
        "rasa",
        "redirect",
        "rest:dial",
        "say",
        "sip:decline",
        "sip:refer",
        "sip:request",
        "tag",
        "transcribe",
    }
)

#: Alias verb name → (canonical verb, ``vendor`` preset or ``None``), applied before validation
#: the way jambonz 0.9.x normalises a verb list. A preset never overrides a ``vendor`` the app
#: gave. (10.x/11.x add ``qwen_s2s`` and ``gptlive_s2s``: see ``_schema.ALIASES``.)
ALIASES: Final[Mapping[str, tuple[str, str | None]]] = {
    "stream": ("listen", None),
    "s2s": ("llm", None),
    "openai_s2s": ("llm", "openai"),
    "microsoft_s2s": ("llm", "microsoft"),
    "google_s2s": ("llm", "google"),
    "elevenlabs_s2s": ("llm", "elevenlabs"),
    "deepgram_s2s": ("llm", "deepgram"),
    "voiceagent_s2s": ("llm", "voiceagent"),
    "ultravox_s2s": ("llm", "ultravox"),
}

#: Verb names jambonz 10.x/11.x accept that 0.9.x does not know: named in the error, so that a
#: 0.9 target refusing ``agent`` says why.
NEWER_VERBS: Final[frozenset[str]] = frozenset(
    {"agent", "gptlive_s2s", "qwen_s2s", "room", "transfer"}
)

#: Nesting limit for ``#name`` references. The 0.1.13 table nests at most 7 levels, so this
#: never trips on real data; it exists so that a future spec with a cycle cannot turn into a
#: ``RecursionError`` instead of a :class:`VerbError`.
MAX_DEPTH: Final = 32

_SPEC_RESOURCE: Final = "data/verb-specifications.json"
_REPR_LIMIT: Final = 60

# Python value -> the kind jambonz's typeof/Array.isArray test sees. "array" and "null" are
# kept apart from "object" so that both the "array" spec and "object" (= any of the three)
# can be answered from one lookup.
_KIND_BY_TYPE: Final[dict[type, str]] = {
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
    dict: "object",
    list: "array",
    tuple: "array",
}
_TYPEOF_KINDS: Final[Mapping[str, frozenset[str]]] = {
    "string": frozenset({"string"}),
    "number": frozenset({"number"}),
    "boolean": frozenset({"boolean"}),
    "object": frozenset({"object", "array", "null"}),
}
_SIMPLE_TYPES: Final = ("number", "string", "object", "boolean")

# A checker validates one property value. Arguments: the value, the path of the object that
# holds it, the property name and the current nesting depth. The property path is only built
# when an error is raised or a nested object is entered, which keeps the common case cheap.
_Checker = Callable[[Any, str, str, int], None]

_WIRE_HOOK: Final = "_jbtrio_wire_"


def _make_repr() -> reprlib.Repr:
    shortener = reprlib.Repr()  # keyword arguments need Python 3.12
    shortener.maxlevel = 3
    shortener.maxstring = shortener.maxother = _REPR_LIMIT
    return shortener


_REPR: Final = _make_repr()


def _short(value: object) -> str:
    """A bounded repr for messages: user values may be huge or nested beyond recursion."""
    text = _REPR.repr(value)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


def _kind(value: object) -> str | None:
    """Return the JS-visible kind of ``value`` or ``None`` for a value JSON cannot carry.

    Exact types take the dict lookup; subclasses (``IntEnum``, ``StrEnum``, ``OrderedDict``)
    and jbtrio builder objects take the slow path. ``bool`` is tested before ``int`` because
    it is an ``int`` subclass in Python but never a number to jambonz.
    """
    kind = _KIND_BY_TYPE.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping) or hasattr(value, _WIRE_HOOK):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return None


def _kind_or_fail(value: object, path: str) -> str:
    kind = _kind(value)
    if kind is None:
        raise VerbError(
            f"value of type {type(value).__name__} cannot be sent to jambonz as JSON", path=path
        )
    return kind


def _keys_view(value: object, path: str) -> Mapping[Any, Any]:
    """Return what a JS ``for...in`` over ``value`` would enumerate, as a mapping.

    Only dicts have real properties. A non-empty string or list enumerates its indices, and
    index ``"0"`` is never a declared property (checked when the specs are compiled), so the
    first index alone decides; scalars and ``None`` enumerate nothing.
    """
    if isinstance(value, Mapping):
        return value
    wire = getattr(value, _WIRE_HOOK, None)
    if wire is not None:
        result: Mapping[Any, Any] = wire()
        return result
    kind = _kind_or_fail(value, path)
    if kind in ("string", "array"):
        return {"0": value[0]} if value else {}  # type: ignore[index]
    return {}


class _Spec:
    """One compiled spec entry: a checker per declared property plus the required names."""

    __slots__ = ("checkers", "free_underscore", "name", "required")

    def __init__(self, name: str) -> None:
        self.name = name
        self.checkers: dict[str, _Checker] = {}
        self.required: tuple[str, ...] = ()
        self.free_underscore = True

    def check(self, data: object, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise VerbError(f"nesting deeper than {MAX_DEPTH} levels", path=path)
        items = data if type(data) is dict else _keys_view(data, path)
        checkers = self.checkers
        for key, value in items.items():
            checker = checkers.get(key)
            if checker is None:
                if key == "_" and self.free_underscore:
                    continue
                raise VerbError(f"unknown property {_short(key)}", path=f"{path}.{key}")
            checker(value, path, key, depth)
        for name in self.required:
            if name not in items:
                raise VerbError(f"missing required property {name!r}", path=f"{path}.{name}")


def _type_checker(accepted: frozenset[str], described: str) -> _Checker:
    def check(value: Any, path: str, key: str, depth: int) -> None:
        kind = _KIND_BY_TYPE.get(type(value)) or _kind_or_fail(value, f"{path}.{key}")
        if kind not in accepted:
            raise VerbError(
                f"property {key!r} must be {described}, got {kind}", path=f"{path}.{key}"
            )

    return check


def _enum_checker(allowed: list[Any]) -> _Checker:
    """Membership as JS ``Array.prototype.includes`` sees it (the real table lists strings).

    Scalars match when their JS kind and value agree, so ``True`` never matches ``1``; a JSON
    object or array member can never match, since parsed values are distinct objects.
    """
    strings = frozenset(v for v in allowed if isinstance(v, str))
    others = [(_kind(v), v) for v in allowed if _kind(v) in ("number", "boolean", "null")]
    listed = repr(allowed)

    def check(value: Any, path: str, key: str, depth: int) -> None:
        if isinstance(value, str):
            if value in strings:
                return
        elif others:
            kind = _kind(value)
            if any(kind == k and value == v for k, v in others):
                return
        raise VerbError(f"{_short(value)} is not one of {listed}", path=f"{path}.{key}")

    return check


def _accept_any(value: Any, path: str, key: str, depth: int) -> None:
    """Object specs without a string enum do not constrain the value in jambonz."""


def _reject_any(why: str) -> _Checker:
    def check(value: Any, path: str, key: str, depth: int) -> None:
        raise VerbError(f"property {key!r} can never be valid: {why}", path=f"{path}.{key}")

    return check


def _ref_checker(target: _Spec) -> _Checker:
    def check(value: Any, path: str, key: str, depth: int) -> None:
        target.check(value, f"{path}.{key}", depth + 1)

    return check


class _UndefinedSpec(_Spec):
    """A stand-in for a spec the table references but never defines (``#root``).

    jambonz throws ``invalid instruction`` as soon as it tries to validate something against
    it; a value it never visits (``""`` or ``[]`` under ``["#root"]``) still passes.
    """

    __slots__ = ()

    def check(self, data: object, path: str, depth: int) -> None:
        raise VerbError(f"no spec named {self.name!r} (the spec table refers to it)", path=path)


def _list_ref_checker(target: _Spec) -> _Checker:
    def check(value: Any, path: str, key: str, depth: int) -> None:
        kind = _KIND_BY_TYPE.get(type(value)) or _kind_or_fail(value, f"{path}.{key}")
        if kind == "array":
            items: Iterable[Any] = value
        elif kind == "string":
            items = value
        else:
            raise VerbError(
                f"property {key!r} must be an array of {target.name}, got {kind}",
                path=f"{path}.{key}",
            )
        for i, item in enumerate(items):
            target.check(item, f"{path}.{key}[{i}]", depth + 1)

    return check


def _compile_property(type_spec: object, specs: Mapping[str, _Spec]) -> _Checker:
    """Turn one raw type spec into a checker, in the same order jambonz tests the forms."""

    def ref(name: str) -> _Spec:
        return specs.get(name) or _UndefinedSpec(name)

    if type_spec == "array":
        return _type_checker(frozenset({"array"}), "array")
    if isinstance(type_spec, str) and "|" in type_spec:
        members = [t.strip() for t in type_spec.split("|")]
        accepted: set[str] = set()
        for member in members:
            accepted |= _TYPEOF_KINDS.get(member, frozenset())
            if member == "array":
                accepted.add("array")
        return _type_checker(frozenset(accepted), "|".join(members))
    if isinstance(type_spec, str) and type_spec in _SIMPLE_TYPES:
        return _type_checker(_TYPEOF_KINDS[type_spec], type_spec)
    if isinstance(type_spec, list):
        first = type_spec[0] if type_spec else None
        if isinstance(first, str) and first.startswith("#"):
            return _list_ref_checker(ref(first[1:]))
    if isinstance(type_spec, dict | list):
        kind = type_spec.get("type") if isinstance(type_spec, dict) else None
        if kind not in _SIMPLE_TYPES:
            return _reject_any(f"its spec has type {kind!r}, which jambonz does not support")
        assert isinstance(type_spec, dict)
        enum = type_spec.get("enum")
        if kind == "string" and enum not in (None, False, "", 0):
            if not isinstance(enum, list):
                return _reject_any("its spec has a malformed enum")
            return _enum_checker(enum)
        return _accept_any
    if isinstance(type_spec, str) and type_spec.startswith("#"):
        return _ref_checker(ref(type_spec[1:]))
    return _reject_any(f"its spec {type_spec!r} is not understood by jambonz")


def _compile(raw: Mapping[str, Any]) -> dict[str, _Spec]:
    specs = {name: _Spec(name) for name in raw}
    for name, entry in raw.items():
        spec = specs[name]
        properties: Mapping[str, Any] = entry.get("properties", {})
        for prop, type_spec in properties.items():
            # A declared index-like name would break the shortcut in _keys_view.
            assert not prop.isdigit(), f"{name}.{prop}: numeric property names unsupported"
            spec.checkers[prop] = _compile_property(type_spec, specs)
        spec.required = tuple(entry.get("required") or ())
        spec.free_underscore = "_" not in properties
    return specs


def load_specs() -> dict[str, Any]:
    """Return the raw spec table (a fresh copy; the validator keeps its compiled form)."""
    text = resources.files(__package__).joinpath(_SPEC_RESOURCE).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


_SPECS: Final[dict[str, _Spec]] = _compile(load_specs())
_VERB_SPECS: Final[dict[str, _Spec]] = {n: s for n, s in _SPECS.items() if n in EXECUTABLE_VERBS}
#: Every spec entry that is not an executable verb: nested component types and ``pipeline``.
COMPONENT_NAMES: Final[frozenset[str]] = frozenset(_SPECS) - EXECUTABLE_VERBS


def _js_spread(data: object) -> dict[Any, Any]:
    """``{...data}`` in JS terms, used when an alias presets ``vendor``."""
    if isinstance(data, Mapping):
        return dict(data)
    wire = getattr(data, _WIRE_HOOK, None)
    if wire is not None:
        return dict(wire())
    if isinstance(data, str | list | tuple):
        return {str(i): item for i, item in enumerate(data)}
    return {}


def _verb_name(raw: object) -> str | None:
    """Return the verb name jambonz would look up for a ``verb`` value, or ``None``.

    jambonz uses the value as an object key, so JavaScript stringifies it: ``["say"]`` becomes
    ``"say"``. A list with two or more items stringifies with a comma and one with none to
    ``""``, neither of which is a verb name, so only single-item lists are unwrapped.
    """
    while isinstance(raw, list | tuple) and len(raw) == 1:
        raw = raw[0]
    return raw if isinstance(raw, str) else None


def _check_named(raw_name: object, data: object) -> None:
    """Resolve aliases and validate ``data`` as the verb called ``raw_name``."""
    if isinstance(raw_name, str):
        name = raw_name
        alias = ALIASES.get(raw_name)
        if alias is not None:
            name, vendor = alias
            if vendor is not None:
                data = {"vendor": vendor, **_js_spread(data)}
    else:
        # Only a real string goes through the alias table (jambonz looks aliases up by
        # identity), so ``["stream"]`` is not the ``stream`` alias.
        name = _verb_name(raw_name) or ""
    spec = _VERB_SPECS.get(name)
    if spec is None:
        shown = raw_name if isinstance(raw_name, str) else _short(raw_name)
        if name in _SPECS:
            raise VerbError(f"unknown verb {shown!r} ({name} is not an executable verb)")
        if name in NEWER_VERBS:
            raise VerbError(
                f"unknown verb {shown!r}: jambonz 0.9 does not have it, 10.x/11.x do "
                "(the target is jambonz='0.9')"
            )
        raise VerbError(f"unknown verb {shown!r}")
    path = raw_name if isinstance(raw_name, str) else name
    spec.check(data, path, 1)


def check_element(element: object) -> None:
    """Split one verb-list element into name and data, the way jambonz normalises it."""
    if type(element) is not dict:
        to_dict = getattr(element, "to_dict", None)
        if to_dict is not None and hasattr(element, _WIRE_HOOK):
            element = to_dict()
        elif isinstance(element, Mapping):
            element = dict(element)
        elif isinstance(element, list | tuple):
            if len(element) == 1:
                raise VerbError("unknown verb '0'")
            raise VerbError("malformed jambonz payload: missing verb property")
        else:
            raise VerbError("malformed jambonz payload: must be array of objects")
    assert isinstance(element, dict)
    if "verb" in element:
        data = {k: v for k, v in element.items() if k != "verb"}
        _check_named(element["verb"], data)
    elif len(element) == 1:
        ((key, data),) = element.items()
        _check_named(key if isinstance(key, str) else str(key), data)
    else:
        raise VerbError("malformed jambonz payload: missing verb property")


def validate(payload: object) -> None:
    """Raise :class:`VerbError` unless jambonz would accept ``payload`` as a verb list.

    ``payload`` is a list whose elements are ``{"verb": "say", ...}`` dicts, legacy
    ``{"say": {...}}`` dicts or verb builder objects; a single such element is accepted too
    (the error's ``index`` is then ``None``). An empty list is valid here: refusing an empty
    answer to ``session:new`` is a separate rule its callers apply.

    Stricter than the npm validator in one documented way: only the 28 verbs feature-server
    can execute (plus their aliases) are accepted at the top level. A component name such as
    ``synthesizer``, or ``pipeline``, passes the npm validator but then fails in jambonz's
    task factory, so it is reported here as ``unknown verb``.
    """
    if isinstance(payload, list | tuple):
        for index, element in enumerate(payload):
            try:
                check_element(element)
            except VerbError as exc:
                raise VerbError(exc.reason, index=index, path=exc.path) from None
    elif isinstance(payload, Mapping) or hasattr(payload, _WIRE_HOOK):
        check_element(payload)
    else:
        raise VerbError("malformed jambonz payload: must be array")


def validate_verb(name: str, data: object) -> None:
    """Raise :class:`VerbError` unless ``data`` is valid for the verb (or alias) ``name``.

    ``data`` holds the verb's properties without a ``verb`` key. Like :func:`validate`, only
    executable verbs and their aliases are known; use :func:`validate_component` for nested
    component types.
    """
    _check_named(name, data)


def validate_component(name: str, data: object, *, path: str = "") -> None:
    """Raise :class:`VerbError` unless ``data`` is valid for spec entry ``name``.

    Any of the 83 spec entries may be named (``synthesizer``, ``target``, ``say`` used as a
    nested value, ...); this is the check jambonz applies to a ``#name`` property value.
    """
    spec = _SPECS.get(name)
    if spec is None:
        raise VerbError(f"unknown spec entry {name!r}")
    spec.check(data, path or name, 1)
