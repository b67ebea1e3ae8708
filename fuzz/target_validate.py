"""Fuzz ``jbtrio.verbs.validate``: whatever it is given, it answers with ``VerbError`` or nothing.

The strategies here are also what ``tools/gen_verb_oracle_corpus.py`` draws its payloads from,
so they are written to hit every rule of jambonz's validator: values of the right and the
wrong ``typeof`` for each property (from the real spec table), nulls, lists, unknown and
prototype-named keys, enum members and near misses, nested components, aliases and the
legacy ``{"say": {...}}`` form. On top of JSON, the fuzz target adds values only Python can
produce (tuples, sets, bytes, arbitrary objects, very deep nesting), which must still come
out as ``VerbError``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import strategies as st

from fuzz._target import Target
from jbtrio import VerbError
from jbtrio.verbs import EXECUTABLE_VERBS, JAMBONZ_VERSIONS, validate
from jbtrio.verbs._spec09 import ALIASES as VERB_ALIASES
from jbtrio.verbs._validate import load_specs

__all__ = [
    "SPECS",
    "TARGET",
    "component_payloads",
    "json_values",
    "spec_object",
    "verb_payloads",
]

SPECS: dict[str, Any] = load_specs()
_VERBS = sorted(EXECUTABLE_VERBS)
_ALIASES = sorted(VERB_ALIASES)
_COMPONENTS = sorted(set(SPECS) - EXECUTABLE_VERBS)
_ALL_PROPS = sorted({p for entry in SPECS.values() for p in entry["properties"]})
# Keys that exist on every JS object through Object.prototype; jambonz trips over them.
# "__proto__" is left out: in the {"verb": ...} form jambonz assigns it as the prototype
# instead of a property, a documented divergence covered by hand-written corpus lines.
PROTOTYPE_KEYS = ("toString", "constructor", "hasOwnProperty", "valueOf", "isPrototypeOf")
_TYPO_VERBS = ("sya", "Say", "SAY", "dail", "sip:Decline", "rest_dial", "", "verb", "0")

_text = st.text(st.sampled_from("abcxyz0 :_-#é"), max_size=6)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | _text
)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Arbitrary JSON values whose dict keys are often real property names."""
    keys = _text | st.sampled_from(_ALL_PROPS) | st.sampled_from(("_", "verb", *PROTOTYPE_KEYS))
    return st.recursive(
        _scalars,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3)
        ),
        max_leaves=max_leaves,
    )


_WRONG_POOL: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    2.5,
    "",
    "x",
    [],
    [1],
    ["x"],
    {},
    {"a": 1},
)


@st.composite
def _right_value(draw: st.DrawFn, type_spec: Any, depth: int) -> Any:
    """A value the spec form asks for (it may still be invalid deeper down)."""
    if isinstance(type_spec, list):
        name = type_spec[0][1:]
        if name not in SPECS or depth <= 0:
            return draw(st.sampled_from([[], ""]))
        return draw(st.lists(spec_object(name, depth - 1), max_size=2))
    if isinstance(type_spec, dict):
        enum = type_spec.get("enum")
        if isinstance(enum, list) and enum:
            return draw(st.sampled_from([*enum, enum[0].upper(), enum[0] + " "]))
        return draw(_scalars)
    assert isinstance(type_spec, str)
    if "|" in type_spec:
        member = draw(st.sampled_from([m.strip() for m in type_spec.split("|")]))
        return draw(_right_value(member, depth))
    if type_spec.startswith("#"):
        name = type_spec[1:]
        if name not in SPECS or depth <= 0:
            return {}
        return draw(spec_object(name, depth - 1))
    simple: dict[str, st.SearchStrategy[Any]] = {
        "string": _text,
        "number": st.integers(-5, 5000) | st.floats(-10, 10, width=32),
        "boolean": st.booleans(),
        "object": st.dictionaries(_text, _scalars, max_size=2) | st.sampled_from([None, [], [1]]),
        "array": st.lists(_scalars, max_size=2),
    }
    return draw(simple.get(type_spec, _scalars))


@st.composite
def _property_value(draw: st.DrawFn, type_spec: Any, depth: int) -> Any:
    roll = draw(st.integers(0, 9))
    if roll < 7:
        return draw(_right_value(type_spec, depth))
    if roll < 9:
        return draw(st.sampled_from(_WRONG_POOL))
    return draw(json_values(4))


@st.composite
def spec_object(draw: st.DrawFn, name: str, depth: int = 2) -> dict[str, Any]:
    """A dict shaped after spec entry ``name``: mostly right, sometimes subtly wrong."""
    entry = SPECS[name]
    props: dict[str, Any] = entry["properties"]
    required: list[str] = list(entry.get("required", []))
    chosen = draw(st.lists(st.sampled_from(sorted(props)), max_size=3, unique=True))
    if draw(st.integers(0, 9)) > 0:  # usually keep the required properties
        chosen = required + [p for p in chosen if p not in required]
    result = {p: draw(_property_value(props[p], depth)) for p in chosen}
    roll = draw(st.integers(0, 19))
    if roll == 0:
        result[draw(_text | st.sampled_from(_ALL_PROPS))] = draw(_scalars)
    elif roll == 1:
        result["_"] = draw(json_values(3))
    elif roll == 2:
        result[draw(st.sampled_from(PROTOTYPE_KEYS))] = draw(_scalars)
    return result


@st.composite
def _element(draw: st.DrawFn, names: list[str]) -> Any:
    name = draw(st.sampled_from(names))
    canonical = VERB_ALIASES.get(name, (name, None))[0]
    data: Any
    if canonical in SPECS:
        data = draw(spec_object(canonical))
        if name in VERB_ALIASES and VERB_ALIASES[name][1] and draw(st.booleans()):
            data.pop("vendor", None)  # let the alias preset the vendor
    else:
        data = draw(st.dictionaries(_text, _scalars, max_size=2))
    form = draw(st.integers(0, 9))
    if form < 6:
        return {"verb": name, **data}
    if form < 9:
        return {name: data}
    return {name: draw(_scalars | st.sampled_from([[], [1], {}]))}


def verb_payloads() -> st.SearchStrategy[list[Any]]:
    """Verb lists built from executable verbs, aliases and typos (never components)."""
    names = _VERBS + _ALIASES + list(_TYPO_VERBS)
    return st.lists(_element(names), min_size=1, max_size=3)


def component_payloads() -> st.SearchStrategy[list[Any]]:
    """One-element lists naming a component or ``pipeline`` at the top level.

    npm's validator accepts these; jbtrio rejects them as unknown verbs (feature-server cannot
    run them), and the oracle test checks the data against the component spec instead.
    """
    return st.lists(_element(_COMPONENTS), min_size=1, max_size=1)


class _Opaque:
    """An object JSON cannot carry."""


_python_only = st.recursive(
    _scalars
    | st.binary(max_size=3)
    | st.builds(_Opaque)
    | st.frozensets(st.integers(0, 3), max_size=2),
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children, children)
        | st.dictionaries(st.sampled_from(_ALL_PROPS) | st.integers(0, 2), children, max_size=3)
    ),
    max_leaves=10,
)


@st.composite
def _deep(draw: st.DrawFn) -> Any:
    """Nesting far beyond any spec, in the places the validator walks or unwraps."""
    levels = draw(st.integers(50, 3000))
    inner: Any = "say"
    for _ in range(levels):
        inner = [inner]
    shape = draw(st.integers(0, 2))
    if shape == 0:
        return [{"verb": inner}]
    if shape == 1:
        return [{"verb": "tag", "data": inner}]
    return inner


def _check(payload: Any) -> None:
    for jambonz in JAMBONZ_VERSIONS:
        with contextlib.suppress(VerbError):
            validate(payload, jambonz=jambonz)


TARGET = Target(
    name="validate",
    strategy=st.one_of(
        verb_payloads(),
        component_payloads(),
        json_values(),
        st.lists(json_values(), max_size=3),
        _python_only,
        st.lists(_python_only, max_size=3),
        _deep(),
    ),
    check=_check,
    description="jbtrio.verbs.validate (every target) raises only VerbError, whatever it is given",
)
