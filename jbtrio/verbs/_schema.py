"""Validate verb lists as jambonz 10.x/11.x does, with its own JSON Schema (``@jambonz/schema``).

jambonz 10.x/11.x checks an app's verbs with ``validate(logger, verbs)`` of the npm package
``@jambonz/schema`` 0.4.15 (shipped here unmodified as ``data/jambonz-schema/``, MIT). That
function first normalises the list and then runs one JSON Schema per verb; this module does the
normalisation itself, following the package's rules, and leaves the schema work to
``jsonschema-rs`` (a compiled JSON Schema 2020-12 validator). The rules, as jambonz applies them:

* The payload must be a list. Each element is ``{"verb": name, ...}`` or ``{name: data}`` (one
  key); anything else is malformed. A list as an element counts as an object whose only key is
  ``"0"``, so ``[["say"]]`` names the verb ``"0"``.
* A string name found in the alias table becomes its canonical verb: ``stream`` is checked as
  ``listen``, ``s2s`` as ``llm``, each ``<vendor>_s2s`` as ``llm`` with ``vendor`` preset (the
  app's own ``vendor`` wins). A non-string name is used as JavaScript turns it into an object
  key (``["say"]`` is ``"say"``) and skips the alias table, so ``["openai_s2s"]`` is checked
  against ``openai_s2s``'s own schema.
* The schema receives ``{"verb": name, **data}``: a string or list ``data`` spreads its
  indices, other non-objects nothing, and a ``verb`` key inside ``{name: {...}}`` data
  overrides the name (so it must then match the schema's ``verb`` constant).
* Ajv runs without format checks (no format is registered with it), so ``"format": "uri"``
  constrains nothing; ``jsonschema-rs`` is told the same.

Stricter in one way: only the names of the schema's verbs are looked up. jambonz's Ajv lookup
also resolves a name with a ``#`` fragment (``"agent#/$defs/llmMessage"``) to a sub-schema,
which its validator may then accept although no server can run such a verb.

The schemas are loaded and the registry built on first use; each verb's validator is compiled
the first time that verb is checked, then kept for the life of the process.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from importlib import resources
from typing import Any, Final

import jsonschema_rs
import orjson

from .._errors import VerbError

__all__ = [
    "ALIASES",
    "BASE_URI",
    "MIN_VERSIONS",
    "SCHEMA_VERSION",
    "check_at",
    "check_element",
    "check_verb",
    "component_uri",
    "load_schemas",
    "needs_newer",
    "validator_at",
    "verb_validator",
]

#: Version of ``@jambonz/schema`` shipped in ``data/jambonz-schema``.
SCHEMA_VERSION: Final = "0.4.15"
#: The URI prefix of every ``$id`` in the schema.
BASE_URI: Final = "https://jambonz.org/schema/"
_VERB_URI: Final = BASE_URI + "verbs/"
_DATA_DIR: Final = "data/jambonz-schema"
_SUBDIRS: Final = ("components", "callbacks", "verbs", "commands")

#: Alias verb name -> (canonical verb, ``vendor`` preset or ``None``): the normaliser's table.
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
    "qwen_s2s": ("llm", "qwen"),
    "gptlive_s2s": ("llm", "gptlive"),
}

#: Every verb schema's ``minVersion`` (the jambonz release that introduced it), as
#: (major, minor, patch). A test keeps this equal to the shipped files, so checking a target
#: needs no schema loaded. ``rest:dial`` declares none; ``qwen_s2s`` declares 0.4.0 (the
#: schema package's own version, it seems): both count as always available on 10/11.
MIN_VERSIONS: Final[Mapping[str, tuple[int, int, int]]] = {
    "agent": (10, 1, 0),
    "alert": (0, 9, 6),
    "answer": (0, 9, 6),
    "conference": (0, 9, 6),
    "config": (0, 9, 6),
    "deepgram_s2s": (10, 1, 0),
    "dequeue": (0, 9, 6),
    "dial": (0, 9, 6),
    "dialogflow": (0, 9, 6),
    "dtmf": (0, 9, 6),
    "dub": (0, 9, 6),
    "elevenlabs_s2s": (10, 1, 0),
    "enqueue": (0, 9, 6),
    "gather": (0, 9, 6),
    "google_s2s": (10, 1, 0),
    "gptlive_s2s": (11, 1, 0),
    "hangup": (0, 9, 6),
    "leave": (0, 9, 6),
    "listen": (0, 9, 6),
    "llm": (0, 9, 6),
    "message": (0, 9, 6),
    "openai_s2s": (10, 1, 0),
    "pause": (0, 9, 6),
    "play": (0, 9, 6),
    "qwen_s2s": (0, 4, 0),
    "redirect": (0, 9, 6),
    "rest:dial": (0, 0, 0),
    "room": (0, 9, 6),
    "s2s": (10, 1, 0),
    "say": (0, 9, 6),
    "sip:decline": (0, 9, 6),
    "sip:refer": (0, 9, 6),
    "sip:request": (0, 9, 6),
    "stream": (0, 9, 6),
    "tag": (0, 9, 6),
    "transcribe": (0, 9, 6),
    "transfer": (10, 3, 0),
    "ultravox_s2s": (10, 1, 0),
}

_MISSING: Final = object()
_WIRE_HOOK: Final = "_jbtrio_wire_"
_REPR_LIMIT: Final = 160
_PLAIN_SCALARS: Final = (str, int, float, bool, type(None))


def _make_repr() -> reprlib.Repr:
    shortener = reprlib.Repr()
    shortener.maxlevel = 3
    shortener.maxstring = shortener.maxother = 60
    return shortener


_REPR: Final = _make_repr()


def load_schemas() -> dict[str, dict[str, Any]]:
    """Every shipped schema by its ``$id`` (fresh copies; the validators keep their own)."""
    root = resources.files(__package__).joinpath(_DATA_DIR)
    schemas: dict[str, dict[str, Any]] = {}
    for subdir in _SUBDIRS:
        for entry in sorted(root.joinpath(subdir).iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".schema.json"):
                schema = orjson.loads(entry.read_bytes())
                schemas[schema["$id"]] = schema
    return schemas


class _Compiled:
    """The registry of all schemas and the validators compiled from it so far."""

    __slots__ = ("ids", "registry", "validators", "verb_names")

    def __init__(self) -> None:
        schemas = load_schemas()
        self.ids = frozenset(schemas)
        self.registry = jsonschema_rs.Registry(list(schemas.items()))
        self.verb_names = frozenset(
            uri[len(_VERB_URI) :] for uri in schemas if uri.startswith(_VERB_URI)
        )
        self.validators: dict[str, jsonschema_rs.Validator] = {}

    def validator(self, uri: str) -> jsonschema_rs.Validator:
        found = self.validators.get(uri)
        if found is None:
            found = jsonschema_rs.Draft202012Validator(
                {"$ref": uri}, registry=self.registry, validate_formats=False
            )
            self.validators[uri] = found
        return found


_compiled: _Compiled | None = None
#: Verb name -> compiled validator, filled as verbs are first checked (the hot path's lookup).
_VERB_VALIDATORS: Final[dict[str, jsonschema_rs.Validator]] = {}


def _state() -> _Compiled:
    global _compiled  # noqa: PLW0603 - compiled once per process, on first use
    if _compiled is None:
        _compiled = _Compiled()
    return _compiled


def validator_at(uri: str) -> jsonschema_rs.Validator:
    """The compiled validator of the (sub)schema at ``uri`` (compiled on first use)."""
    return _state().validator(uri)


def verb_validator(name: str) -> jsonschema_rs.Validator | None:
    """The compiled validator of verb ``name``'s schema, or ``None`` when there is none."""
    return _verb_validator(name)


def _verb_validator(name: str) -> jsonschema_rs.Validator | None:
    found = _VERB_VALIDATORS.get(name)
    if found is None:
        state = _state()
        if name not in state.verb_names:
            return None
        found = _VERB_VALIDATORS[name] = state.validator(_VERB_URI + name)
    return found


def needs_newer(name: str, major: int) -> str | None:
    """The ``minVersion`` of verb ``name`` when it is newer than jambonz ``major``, else None.

    A target names a release line (``"10"`` is any 10.x), so only the major number counts.
    """
    found = MIN_VERSIONS.get(name)
    if found is None:
        alias = ALIASES.get(name)
        found = MIN_VERSIONS.get(alias[0]) if alias is not None else None
    if found is None or found[0] <= major:
        return None
    return ".".join(map(str, found))


def _short(value: object) -> str:
    text = _REPR.repr(value)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


def _spread(data: object) -> dict[Any, Any]:
    """``{...data}`` in JavaScript: an object's keys, a string's or array's indices, else none."""
    if type(data) is dict:
        return data
    wire = getattr(data, _WIRE_HOOK, None)
    if wire is not None:
        wired: dict[Any, Any] = wire()
        return wired
    if isinstance(data, Mapping):
        return dict(data)
    if isinstance(data, str | list | tuple):
        return {str(i): item for i, item in enumerate(data)}
    return {}


def _js_key(raw: object) -> str | None:
    """The object key JavaScript makes of a non-string ``verb`` value, when it can name a verb.

    Arrays stringify by joining their items, so only a single-item list (at any depth) can
    produce a verb name; numbers, booleans, ``null`` and objects never do.
    """
    while isinstance(raw, list | tuple) and len(raw) == 1:
        raw = raw[0]
    return raw if isinstance(raw, str) else None


def _plain(value: Any, path: str) -> Any:
    """A copy of ``value`` made of JSON types only (builders and mappings turned into dicts).

    Used only when ``jsonschema-rs`` refused a value's type. Iterative, so depth costs no
    Python recursion.
    """
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while stack:
        item, holder, key = stack.pop()
        wire = getattr(item, _WIRE_HOOK, None)
        if wire is not None:
            item = wire()
        if isinstance(item, _PLAIN_SCALARS):
            holder[key] = item
        elif isinstance(item, Mapping):
            copy: dict[str, Any] = {}
            for k, v in item.items():
                if not isinstance(k, str):
                    raise VerbError(f"object key {_short(k)} is not a string", path=path)
                copy[k] = None
                stack.append((v, copy, k))
            holder[key] = copy
        elif isinstance(item, list | tuple):
            items: list[Any] = [None] * len(item)
            stack.extend((v, items, i) for i, v in enumerate(item))
            holder[key] = items
        else:
            raise VerbError(
                f"value of type {type(item).__name__} cannot be sent to jambonz as JSON",
                path=path,
            )
    return root[0]


def _error_path(root: str, instance_path: list[str | int]) -> str:
    parts = [root]
    for part in instance_path:
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts)


def _run(validator: jsonschema_rs.Validator, obj: Any, root: str) -> None:
    """Raise :class:`VerbError` unless ``obj`` is valid, with the first error jambonz-style."""
    try:
        _run_once(validator, obj, root)
    except VerbError:
        raise
    except ValueError:  # a type jsonschema-rs cannot read (a builder, a UserDict, a set)
        plain = _plain(obj, root)
        try:
            _run_once(validator, plain, root)
        except VerbError:
            raise
        except ValueError as exc:  # nesting beyond jsonschema-rs's recursion limit
            raise VerbError(f"cannot be validated: {exc}", path=root) from None


def _run_once(validator: jsonschema_rs.Validator, obj: Any, root: str) -> None:
    if validator.is_valid(obj):
        return
    try:
        validator.validate(obj)
    except jsonschema_rs.ValidationError as exc:
        message = exc.message
        if len(message) > _REPR_LIMIT:
            message = message[: _REPR_LIMIT - 3] + "..."
        raise VerbError(message, path=_error_path(root, exc.instance_path)) from None
    raise VerbError("invalid (the validator gave no detail)", path=root)  # pragma: no cover


def check_verb(raw_name: object, data: object, major: int) -> None:
    """Validate ``data`` as the verb ``raw_name`` names, after normalising as jambonz does."""
    if isinstance(raw_name, str):
        name: str | None = raw_name
        alias = ALIASES.get(raw_name)
        if alias is not None:
            name, vendor = alias
            if vendor is not None:
                data = {"vendor": vendor, **_spread(data)}
    else:
        name = _js_key(raw_name)
    shown = raw_name if isinstance(raw_name, str) else _short(raw_name)
    validator = _verb_validator(name) if name is not None else None
    if validator is None or name is None:
        raise VerbError(f"unknown verb {shown!r}")
    newer = needs_newer(raw_name if isinstance(raw_name, str) else name, major)
    if newer is not None:
        raise VerbError(
            f"verb {shown!r} needs jambonz {newer} or newer (the target is jambonz='{major}')"
        )
    _run(
        validator, {"verb": name, **_spread(data)}, raw_name if isinstance(raw_name, str) else name
    )


def check_element(element: object, major: int) -> None:
    """Validate one verb-list element for jambonz ``major`` (10 or 11)."""
    if type(element) is dict:
        raw = element.get("verb", _MISSING)
        if type(raw) is str and raw not in ALIASES:
            # the common case: {"verb": "say", ...} is already the object the schema checks
            validator = _VERB_VALIDATORS.get(raw)
            if validator is not None and needs_newer(raw, major) is None:
                _run(validator, element, raw)
                return
    elif hasattr(element, _WIRE_HOOK) and hasattr(element, "to_dict"):
        element = element.to_dict()
    elif isinstance(element, Mapping):
        element = dict(element)
    elif isinstance(element, list | tuple):
        # an array is an object too: its only key, if any, is "0"
        if len(element) == 1:
            raise VerbError("unknown verb '0'")
        raise VerbError("malformed jambonz payload: missing verb property")
    else:
        raise VerbError("malformed jambonz payload: must be array of objects")
    assert isinstance(element, dict)
    if "verb" in element:
        check_verb(element["verb"], {k: v for k, v in element.items() if k != "verb"}, major)
    elif len(element) == 1:
        ((key, data),) = element.items()
        check_verb(key if isinstance(key, str) else str(key), data, major)
    else:
        raise VerbError("malformed jambonz payload: missing verb property")


def component_uri(name: str) -> str | None:
    """The ``$id`` of the schema ``components/<name>``, or ``None`` when there is none."""
    uri = f"{BASE_URI}components/{name}"
    return uri if uri in _state().ids else None


def check_at(uri: str, data: object, root: str) -> None:
    """Validate ``data`` against the (sub)schema at ``uri`` (a component, for the builders)."""
    _run(_state().validator(uri), data, root)
