"""Generate ``jbtrio/verbs/_generated.py``, the typed verb builders, from both verb schemas.

Usage: ``.venv/bin/python tools/gen_verbs.py`` (writes the file) or ``--check`` (exit 1 when
the committed file differs). The output is deterministic and passed through ``ruff format``,
so ``tests/test_verbs_builders.py`` can check byte for byte that the committed file is what
this script produces from the committed schemas.

Sources: jambonz 0.9's spec table (``data/verb-specifications.json``) and jambonz 10.x/11.x's
JSON Schema (``data/jambonz-schema/``, ``@jambonz/schema`` 0.4.15). One frozen attrs class is
produced per verb either server knows (``Say``, ``Agent``, ``Transfer``, ``Room``, ``Lex``,
...), per alias (``Stream``, ``OpenaiS2s``, ``GptliveS2s``, ...) and per nested component:
every 0.9 spec entry and the 10.x/11.x component schemas listed in ``MERGED``/``NEW_ONLY``
(``tools/verb_tables.py``).
Where both servers have a verb or component, its attributes are the union of both property
sets and each attribute's type the union of both; required are only the properties both
require. ``pipeline`` (0.9's spec, not executable) gets no class.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _generated_file import ruff_format, write_or_check
from verb_tables import (
    ALIAS_DOCS,
    DOCS,
    MERGED,
    NEW_DOCS,
    NEW_ONLY,
    SAME_AS,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "jbtrio" / "verbs" / "data"
SPEC_PATH = DATA / "verb-specifications.json"
SCHEMA_DIR = DATA / "jambonz-schema"
OUTPUT = ROOT / "jbtrio" / "verbs" / "_generated.py"
LINE_LIMIT = 100
BASE = "https://jambonz.org/schema/"

# Repeated from jbtrio/verbs/_spec09.py and _schema.py (a test keeps them equal): importing the
# package would import the very module this script regenerates, which may be broken or stale.
EXECUTABLE = [
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
]
NOT_GENERATED = {"pipeline"}
ALIASES_09: dict[str, tuple[str, str | None]] = {
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
ALIASES: dict[str, tuple[str, str | None]] = {
    **ALIASES_09,
    "qwen_s2s": ("llm", "qwen"),
    "gptlive_s2s": ("llm", "gptlive"),
}
# Attribute names that would shadow what the base classes provide.
RESERVED = {
    "verb",
    "spec_name",
    "schema_location",
    "to_dict",
    "checked_for",
    "hook_properties",
    "REPORTS_BACK",
    "WIRE_NAMES",
}

SIMPLE_TYPES = {
    "string": "str",
    "number": "int | float",
    "boolean": "bool",
    "object": "Mapping[str, Any]",
    "array": "Sequence[Any]",
}
JSON_TYPES = {
    "string": "str",
    "integer": "int",
    "number": "int | float",
    "boolean": "bool",
    "null": "None",
    "object": "Mapping[str, Any]",
}
HOOK = "str | Hook | Mapping[str, Any]"
MAPPING = "Mapping[str, Any]"


def class_name(spec_name: str) -> str:
    """``sip:decline`` -> ``SipDecline``, ``sm_audioEventsConfig`` -> ``SmAudioEventsConfig``."""
    parts = re.split(r"[:_]", spec_name)
    return "".join(p[:1].upper() + p[1:] for p in parts if p)


def attribute_name(wire: str) -> str:
    """``actionHook`` -> ``action_hook``, ``recordingID`` -> ``recording_id``, ``_`` -> ..."""
    if wire == "_":
        return "passthrough"
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", wire).lower()
    if keyword.iskeyword(snake) or keyword.issoftkeyword(snake):
        snake += "_"
    assert snake.isidentifier() and snake not in RESERVED, wire
    return snake


def is_hook(wire: str) -> bool:
    return wire.endswith(("Hook", "_hook"))


def load_schemas() -> dict[str, Any]:
    """Every 10.x/11.x schema file by its ``$id``."""
    schemas: dict[str, Any] = {}
    for subdir in ("components", "callbacks", "verbs", "commands"):
        for path in sorted((SCHEMA_DIR / subdir).glob("*.schema.json")):
            schema = json.loads(path.read_text("utf-8"))
            schemas[schema["$id"]] = schema
    return schemas


def child(loc: str, *parts: str | int) -> str:
    """The location of a sub-schema: ``uri#/json/pointer``."""
    tail = "/".join(str(p) for p in parts)
    return f"{loc}/{tail}" if "#" in loc else f"{loc}#/{tail}"


class Resolver:
    """Follows ``$ref`` through the schemas, keeping track of where each sub-schema lives."""

    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas

    def at(self, loc: str) -> Any:
        uri, _, pointer = loc.partition("#")
        node = self.schemas[uri]
        for part in [p for p in pointer.split("/") if p]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def resolve(self, schema: Any, loc: str) -> tuple[Any, str]:
        while isinstance(schema, dict) and "$ref" in schema:
            loc = urljoin(loc.partition("#")[0], schema["$ref"]).rstrip("#")
            schema = self.at(loc)
        return schema, loc

    def properties(self, schema: Any, loc: str) -> tuple[dict[str, tuple[Any, str]], list[str]]:
        """Declared properties (with their locations) and required names, over ``allOf``."""
        schema, loc = self.resolve(schema, loc)
        props: dict[str, tuple[Any, str]] = {}
        required: list[str] = []
        for i, part in enumerate(schema.get("allOf", [])):
            sub_props, sub_required = self.properties(part, child(loc, "allOf", i))
            props.update(sub_props)
            required += [r for r in sub_required if r not in required]
        for name, sub in schema.get("properties", {}).items():
            props[name] = (sub, child(loc, "properties", name))
        required += [r for r in schema.get("required", []) if r not in required]
        return props, required


def split_union(annotation: str) -> list[str]:
    """Split ``A | Sequence[B | C] | D`` at its top-level bars."""
    parts, depth, current = [], 0, ""
    for char in annotation:
        depth += char == "["
        depth -= char == "]"
        if char == "|" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return [p for p in parts if p]


def union(annotations: list[str]) -> str:
    """One annotation accepting what any of ``annotations`` accepts, without repeats."""
    members: list[str] = []
    literals: list[str] = []
    for annotation in annotations:
        for member in split_union(annotation):
            if member.startswith("Literal["):
                literals += [v for v in member[8:-1].split(", ") if v not in literals]
            elif member not in members:
                members.append(member)
    if "Any" in members:
        return "Any"
    if "str" in members:
        literals = [v for v in literals if not v.startswith('"')]
    if "Sequence[Any]" in members:
        members = [m for m in members if not m.startswith("Sequence[") or m == "Sequence[Any]"]
    if len(members) + len(literals) > 1 and "None" in members:
        members.remove("None")  # a 0.9-only "never valid" form next to a real type
    if literals:
        members.insert(0, "Literal[" + ", ".join(literals) + "]")
    return " | ".join(members)


def literal(value: Any) -> str:
    if isinstance(value, str):
        return f"Literal[{json.dumps(value)}]"
    return f"Literal[{value!r}]" if isinstance(value, bool | int) else "Any"


class ClassDef:
    """One builder class: where its properties come from, and what it is called."""

    def __init__(
        self,
        cls: str,
        doc: str,
        *,
        verb: str | None = None,
        spec09: str | None = None,
        location: str | None = None,
        preset_vendor: bool = False,
    ) -> None:
        self.cls = cls
        self.doc = doc
        self.verb = verb
        self.spec09 = spec09  # 0.9 spec entry (a verb's canonical name, or a component)
        self.location = location  # 10.x/11.x schema location (full URI)
        self.preset_vendor = preset_vendor


class Emitter:
    """Builds the module text; collects the long enum aliases it had to hoist."""

    def __init__(self, specs: dict[str, Any], schemas: dict[str, Any]) -> None:
        self.specs = specs
        self.resolver = Resolver(schemas)
        self.aliases: list[str] = []
        self.by_location: dict[str, str] = {}  # short location -> class name
        for short, spec09 in MERGED.items():
            self.by_location[short] = class_name(spec09)
        for short, (cls, _) in NEW_ONLY.items():
            self.by_location[short] = cls
        for short, same in SAME_AS.items():
            self.by_location[short] = self.by_location[same]

    # --- types ------------------------------------------------------------------------------

    def verb_ref(self, name: str) -> str:
        """A nested verb, given as its class, an alias class or a dict (dial.listen = Stream)."""
        aliases = [class_name(a) for a, (target, _) in sorted(ALIASES.items()) if target == name]
        return " | ".join([class_name(name), *aliases, MAPPING])

    def ref09(self, name: str) -> str:
        if name not in self.specs or name in NOT_GENERATED:
            return MAPPING
        if name in EXECUTABLE:
            return self.verb_ref(name)
        return f"{class_name(name)} | {MAPPING}"

    def annotation09(self, wire: str, type_spec: Any) -> str:
        """The Python type of one 0.9 property, mirroring what jambonz 0.9 accepts for it."""
        if isinstance(type_spec, list):
            target = type_spec[0][1:]
            if target not in self.specs:
                return "Sequence[Never]"  # mcpServer.roots: only an empty list validates
            return f"Sequence[{self.ref09(target)}]"
        if isinstance(type_spec, dict):
            enum = type_spec.get("enum")
            if type_spec.get("type") != "string":
                return "None"  # jambonz rejects any value for this property
            if isinstance(enum, list) and enum:
                return "Literal[" + ", ".join(json.dumps(v) for v in enum) + "]"
            return "str"
        if "|" in type_spec:
            members = [m.strip() for m in type_spec.split("|")]
            # A "#name" member of a union never matches a JS typeof, so it adds nothing.
            kinds = [m for m in members if m in SIMPLE_TYPES]
            if is_hook(wire) and "object" in kinds:
                return HOOK
            return " | ".join(SIMPLE_TYPES[k] for k in kinds)
        if type_spec.startswith("#"):
            return self.ref09(type_spec[1:])
        return SIMPLE_TYPES[type_spec]

    def annotation_new(self, schema: Any, loc: str, depth: int = 0) -> str:
        """The Python type of one 10.x/11.x (sub)schema."""
        schema, loc = self.resolver.resolve(schema, loc)
        short = loc[len(BASE) :]
        if short == "components/actionHook":
            return HOOK
        if short in self.by_location:
            return f"{self.by_location[short]} | {MAPPING}"
        if short.startswith("verbs/") and "#" not in short:
            return self.verb_ref(short[len("verbs/") :])
        if not isinstance(schema, dict) or depth > 6:
            return "Any"
        if "const" in schema:
            return literal(schema["const"])
        branches = [
            self.annotation_new(b, child(loc, key, i), depth + 1)
            for key in ("oneOf", "anyOf")
            for i, b in enumerate(schema.get(key, []))
        ]
        if branches:
            return union(branches)
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return union([literal(v) for v in enum])
        kinds = schema.get("type")
        if kinds is None:
            return MAPPING if ("properties" in schema or "allOf" in schema) else "Any"
        members = []
        for kind in kinds if isinstance(kinds, list) else [kinds]:
            if kind == "array":
                items = schema.get("items")
                inner = (
                    self.annotation_new(items, child(loc, "items"), depth + 1)
                    if isinstance(items, dict)
                    else "Any"
                )
                members.append(f"Sequence[{inner}]")
            else:
                members.append(JSON_TYPES[kind])
        return union(members)

    # --- properties -------------------------------------------------------------------------

    def props(self, c: ClassDef) -> tuple[dict[str, str], list[str]]:
        """Wire name -> annotation (union of both servers), and the required wire names."""
        sources: list[tuple[dict[str, str], set[str]]] = []
        if c.spec09 is not None:
            entry = self.specs[c.spec09]
            sources.append(
                (
                    {w: self.annotation09(w, t) for w, t in entry["properties"].items()},
                    set(entry.get("required") or ()),
                )
            )
        if c.location is not None:
            props, required = self.resolver.properties({"$ref": c.location}, c.location)
            sources.append(
                (
                    {
                        w: self.annotation_new(s, loc)
                        for w, (s, loc) in props.items()
                        if not (c.verb is not None and w == "verb")
                    },
                    set(required) - {"verb"},
                )
            )
        order: list[str] = []
        for found, _ in sources:
            order += [w for w in found if w not in order]
        merged = {w: union([found[w] for found, _ in sources if w in found]) for w in order}
        both = set.intersection(*(req for _, req in sources))
        if c.preset_vendor:
            both.discard("vendor")
        return merged, [w for w in order if w in both]

    def field_line(self, owner: str, attr: str, annotation: str, required: bool) -> str:
        tail = "" if required else (" = None" if annotation == "None" else " | None = None")
        line = f"    {attr}: {annotation}{tail}"
        if len(line) <= LINE_LIMIT or not annotation.startswith("Literal["):
            return line
        if "|" in annotation.split("]", 1)[1]:
            return line  # a Literal with other members: ruff format wraps it
        alias = f"{owner}{class_name(attr)}"
        members = annotation[len("Literal[") : -1].split(", ")
        self.aliases.append(
            f"{alias} = Literal[\n" + "".join(f"    {m},\n" for m in members) + "]\n"
        )
        return f"    {attr}: {alias}{tail}"

    def class_text(self, c: ClassDef) -> str:
        props, required = self.props(c)
        attrs_by_wire = {wire: attribute_name(wire) for wire in props}
        assert len(set(attrs_by_wire.values())) == len(attrs_by_wire), c.cls
        base = "Verb" if c.verb is not None else "Component"
        lines = ["@attrs.frozen(kw_only=True)", f"class {c.cls}({base}):", f'    """{c.doc}"""', ""]
        assert len(lines[2]) <= LINE_LIMIT, lines[2]
        if c.verb is not None:
            lines.append(f'    verb: ClassVar[str] = "{c.verb}"')
        else:
            if c.spec09 is not None:
                lines.append(f'    spec_name: ClassVar[str | None] = "{c.spec09}"')
            if c.location is not None:
                lines.append(f'    schema_location: ClassVar[str | None] = "{c.location}"')
        hooks = [w for w in props if is_hook(w)]
        if hooks:
            lines.append(self.tuple_classvar("hook_properties", hooks))
        if c.verb is not None and "actionHook" in props:
            lines.append("    REPORTS_BACK: ClassVar[bool] = True")
        renamed = {a: w for w, a in attrs_by_wire.items() if a != w}
        if renamed:
            lines.append("    WIRE_NAMES: ClassVar[Mapping[str, str]] = {")
            lines += [f'        "{a}": "{w}",' for a, w in renamed.items()]
            lines.append("    }")
        lines.append("")
        ordered = required + [w for w in props if w not in required]
        for wire in ordered:
            lines.append(self.field_line(c.cls, attrs_by_wire[wire], props[wire], wire in required))
        return "\n".join(lines) + "\n"

    @staticmethod
    def tuple_classvar(name: str, items: list[str]) -> str:
        quoted = [f'"{i}"' for i in items]
        inner = ", ".join(quoted) + ("," if len(quoted) == 1 else "")
        return f"    {name}: ClassVar[tuple[str, ...]] = ({inner})"


HEADER = '''\
"""Typed builders for every jambonz verb and nested component, of 0.9 and of 10.x/11.x.

GENERATED by ``tools/gen_verbs.py`` from ``data/verb-specifications.json``
(``@jambonz/verb-specifications`` 0.1.13, MIT) and ``data/jambonz-schema/``
(``@jambonz/schema`` 0.4.15, MIT); do not edit by hand, re-run the generator.

Attributes are snake_case and map to the exact wire names; optional properties default to
``None`` and are left out of ``to_dict()``. Where both servers have a verb, its attributes are
the union of both. Every builder validates its wire form when it is constructed (valid for at
least one jambonz, see ``jbtrio.verbs``), so an invalid one raises :class:`~jbtrio.VerbError`
right there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, Never

import attrs

from ._base import Component, Hook, Verb, install_inits

'''


def verb_names_new(schemas: dict[str, Any]) -> list[str]:
    prefix = BASE + "verbs/"
    return sorted(u[len(prefix) :] for u in schemas if u.startswith(prefix))


def class_defs(specs: dict[str, Any], schemas: dict[str, Any]) -> list[ClassDef]:
    names_new = set(verb_names_new(schemas)) | set(ALIASES)
    names_09 = set(EXECUTABLE) | set(ALIASES_09)
    defs: list[ClassDef] = []
    for name in sorted(names_new | names_09, key=class_name):
        canonical, vendor = ALIASES.get(name, (name, None))
        if name in ALIASES:
            doc = ALIAS_DOCS.get(name) or (
                f"Alias of llm with vendor preset to {vendor!r}: a {vendor} speech-to-speech agent."
            )
        else:
            doc = DOCS.get(name) or NEW_DOCS[name]
        defs.append(
            ClassDef(
                class_name(name),
                doc,
                verb=name,
                spec09=canonical if name in names_09 else None,
                location=f"{BASE}verbs/{canonical}" if name in names_new else None,
                preset_vendor=vendor is not None,
            )
        )
    merged_by_spec = {spec: short for short, spec in MERGED.items()}
    components = sorted(
        (n for n in specs if n not in EXECUTABLE and n not in NOT_GENERATED), key=class_name
    )
    for name in components:
        short = merged_by_spec.get(name)
        defs.append(
            ClassDef(
                class_name(name),
                DOCS[name],
                spec09=name,
                location=BASE + short if short is not None else None,
            )
        )
    for short, (cls, doc) in sorted(NEW_ONLY.items(), key=lambda kv: kv[1][0]):
        defs.append(ClassDef(cls, doc, location=BASE + short))
    return defs


def generate(specs: dict[str, Any], schemas: dict[str, Any] | None = None) -> str:
    schemas = load_schemas() if schemas is None else schemas
    emitter = Emitter(specs, schemas)
    defs = class_defs(specs, schemas)
    texts = [emitter.class_text(c) for c in defs]
    names = [c.cls for c in defs]
    assert len(set(names)) == len(names), "class name collision"
    assert set(DOCS) == set(specs) - NOT_GENERATED, set(DOCS) ^ (set(specs) - NOT_GENERATED)

    enum_aliases = [a.split(" ", 1)[0] for a in emitter.aliases]
    assert not set(enum_aliases) & set(names)
    exported = ["COMPONENT_CLASSES", "VERB_CLASSES", *sorted([*names, *enum_aliases])]
    all_block = "__all__ = [\n" + "".join(f'    "{n}",\n' for n in exported) + "]\n"
    parts = [HEADER, all_block]
    parts += ["\n" + a for a in emitter.aliases]
    parts += ["\n\n" + text for text in texts]
    verbs = [c for c in defs if c.verb is not None]
    comps = [c for c in defs if c.verb is None]
    verb_order = [*EXECUTABLE, *ALIASES_09]
    verb_order += sorted({c.verb for c in verbs if c.verb is not None} - set(verb_order))

    def comp_key(c: ClassDef) -> str:
        assert c.location is not None or c.spec09 is not None
        return c.spec09 or (c.location or "")[len(BASE) :]

    parts.append(
        "\n\n#: Builder class of every verb name jbtrio accepts at the top level (aliases and"
        " the\n#: verbs only one server has included).\nVERB_CLASSES: Mapping[str, type[Verb]]"
        " = {\n" + "".join(f'    "{n}": {class_name(n)},\n' for n in verb_order) + "}\n"
        "#: Builder class of every nested component: by 0.9 spec entry name, or by schema\n"
        "#: location for the components only 10.x/11.x have.\n"
        "COMPONENT_CLASSES: Mapping[str, type[Component]] = {\n"
        + "".join(
            f'    "{comp_key(c)}": {c.cls},\n'
            for c in sorted(comps, key=lambda c: (c.spec09 is None, comp_key(c)))
        )
        + "}\n"
        "\n# Each builder class gets a faster __init__ than attrs' (issue 23; see install_inits).\n"
        "install_inits([*VERB_CLASSES.values(), *COMPONENT_CLASSES.values()])\n"
    )
    return ruff_format("".join(parts), OUTPUT)


def main() -> None:
    write_or_check(
        lambda: generate(json.loads(SPEC_PATH.read_text("utf-8"))),
        OUTPUT,
        "gen_verbs.py",
        __doc__.split("\n")[0],
    )


if __name__ == "__main__":
    main()
