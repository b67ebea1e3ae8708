"""Fuzz ``jbtrio.verbs.validate`` for jambonz 10.x/11.x with payloads shaped by its JSON Schema.

The strategies walk ``@jambonz/schema``'s verb schemas (``$ref``, ``allOf``, ``oneOf``,
``const``, ``enum``, nested objects and arrays) and draw values that are mostly right and
sometimes subtly wrong: a near-miss enum member, a wrong type, a missing required property, an
unknown key, the legacy ``{"say": {...}}`` form, an alias. ``tools/gen_verb_oracle10_corpus.py``
draws part of its corpus from them. The check runs every target (``"0.9"``, ``"10"``,
``"11"``), which must answer with ``VerbError`` or nothing.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urljoin

from hypothesis import strategies as st

from fuzz._target import Target
from jbtrio import VerbError
from jbtrio.verbs import JAMBONZ_VERSIONS, validate
from jbtrio.verbs._schema import ALIASES, BASE_URI, load_schemas

__all__ = ["SCHEMAS", "TARGET", "VERB_NAMES", "Resolver", "schema_payloads", "schema_value"]

SCHEMAS: dict[str, dict[str, Any]] = load_schemas()
_VERB_PREFIX = BASE_URI + "verbs/"
#: Every verb name with a schema, plus the aliases jambonz normalises to ``llm``/``listen``.
VERB_NAMES: list[str] = sorted(
    {u[len(_VERB_PREFIX) :] for u in SCHEMAS if u.startswith(_VERB_PREFIX)} | set(ALIASES)
)
_TYPOS = ("sya", "Say", "agnet", "Transfer", "room ", "pipeline", "lex", "rasa", "", "0")


class Resolver:
    """Follows ``$ref`` through the shipped schemas (test tooling, not a validator)."""

    def resolve(self, schema: Any, base: str) -> tuple[Any, str]:
        """Return the schema a ``$ref`` chain ends at, and its base URI."""
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 20:
            seen += 1
            target = urljoin(base, schema["$ref"])
            uri, _, fragment = target.partition("#")
            doc: Any = SCHEMAS[uri] if uri else SCHEMAS[base]
            base = uri or base
            for part in [p for p in fragment.split("/") if p]:
                doc = doc[int(part)] if isinstance(doc, list) else doc[part]
            schema = doc
        return schema, base

    def properties(self, schema: Any, base: str) -> tuple[dict[str, tuple[Any, str]], list[str]]:
        """The declared properties (with their bases) and required names of an object schema,
        merged over ``allOf`` and ``$ref`` as jambonz's schemas compose them."""
        schema, base = self.resolve(schema, base)
        props: dict[str, tuple[Any, str]] = {}
        required: list[str] = []
        if not isinstance(schema, dict):
            return props, required
        for part in schema.get("allOf", []):
            sub_props, sub_required = self.properties(part, base)
            props.update(sub_props)
            required += [r for r in sub_required if r not in required]
        for name, sub in schema.get("properties", {}).items():
            props[name] = (sub, base)
        required += [r for r in schema.get("required", []) if r not in required]
        return props, required


RESOLVER = Resolver()

_text = st.text(st.sampled_from("abcxyz0 :_-/#é"), max_size=6)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | _text
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


def _json_values(max_leaves: int = 6) -> st.SearchStrategy[Any]:
    return st.recursive(
        _scalars,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(_text, children, max_size=3)
        ),
        max_leaves=max_leaves,
    )


@st.composite
def _typed(draw: st.DrawFn, kind: str, schema: dict[str, Any], base: str, depth: int) -> Any:
    if kind == "string":
        return draw(_text | st.sampled_from(["wss://example.com/x", "/hook", "en-US"]))
    if kind == "integer":
        low = schema.get("minimum", -3)
        return draw(
            st.integers(int(low) - 1, int(low) + 40) if isinstance(low, int) else st.integers()
        )
    if kind == "number":
        return draw(st.integers(-2, 200) | st.floats(-1, 2, width=32))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "null":
        return None
    if kind == "array":
        items = schema.get("items", {})
        return draw(st.lists(schema_value(items, base, depth - 1), max_size=2))
    return draw(_object(schema, base, depth))


@st.composite
def _object(draw: st.DrawFn, schema: Any, base: str, depth: int) -> dict[str, Any]:
    props, required = RESOLVER.properties(schema, base)
    if depth <= 0 or not props:
        return draw(st.dictionaries(_text, _scalars, max_size=2)) if not props else {}
    names = sorted(props)
    chosen = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    if draw(st.integers(0, 9)) > 0:  # usually keep the required properties
        chosen = [r for r in required if r in props] + [p for p in chosen if p not in required]
    result = {p: draw(schema_value(*props[p], depth - 1)) for p in chosen if p != "verb"}
    if draw(st.integers(0, 14)) == 0:
        result[draw(_text)] = draw(_scalars)
    return result


@st.composite
def schema_value(draw: st.DrawFn, schema: Any, base: str, depth: int = 3) -> Any:
    """A value for ``schema``: usually what it asks for, sometimes a near miss or junk."""
    schema, base = RESOLVER.resolve(schema, base)
    roll = draw(st.integers(0, 19))
    if roll == 0:
        return draw(st.sampled_from(_WRONG_POOL))
    if roll == 1:
        return draw(_json_values())
    if not isinstance(schema, dict) or not schema:
        return draw(_json_values())
    if "const" in schema:
        const = schema["const"]
        return const if roll > 3 or not isinstance(const, str) else const.upper() + " "
    if isinstance(schema.get("enum"), list):
        members = schema["enum"]
        first = members[0]
        near = [f"{first} ", str(first).upper()] if isinstance(first, str) else [None]
        return draw(st.sampled_from([*members, *near]))
    for key in ("oneOf", "anyOf"):
        if key in schema:
            branch = draw(st.sampled_from(schema[key]))
            return draw(schema_value(branch, base, depth))
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = draw(st.sampled_from(kind))
    if kind is None:
        kind = "object" if ("properties" in schema or "allOf" in schema) else None
    if kind is None:
        return draw(_json_values())
    return draw(_typed(kind, schema, base, depth))


@st.composite
def _element(draw: st.DrawFn) -> Any:
    name = draw(st.sampled_from(VERB_NAMES + list(_TYPOS)))
    canonical, vendor = ALIASES.get(name, (name, None))
    uri = _VERB_PREFIX + canonical
    data: Any = draw(_object({"$ref": uri}, uri, 3)) if uri in SCHEMAS else {}
    if vendor is not None and draw(st.booleans()):
        data.pop("vendor", None)  # let the alias preset it
    form = draw(st.integers(0, 9))
    if form < 6:
        return {"verb": name, **data}
    if form < 9:
        return {name: data}
    return {name: draw(_scalars | st.sampled_from([[], ["ab"], {}]))}


def schema_payloads() -> st.SearchStrategy[list[Any]]:
    """Verb lists of one to three schema-shaped elements (verbs, aliases and typos)."""
    return st.lists(_element(), min_size=1, max_size=3)


def _check(payload: Any) -> None:
    for jambonz in JAMBONZ_VERSIONS:
        with contextlib.suppress(VerbError):
            validate(payload, jambonz=jambonz)


TARGET = Target(
    name="validate-schema",
    strategy=st.one_of(schema_payloads(), st.lists(_json_values(8), max_size=3)),
    check=_check,
    description="jbtrio.verbs.validate for every target raises only VerbError on "
    "payloads shaped by jambonz 10.x/11.x's JSON Schema",
)
