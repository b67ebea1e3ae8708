"""A wire verb in either of its forms: ``{"verb": "say", ...}`` or ``{"say": {...}}``.

jambonz accepts both (and aliases such as ``openai_s2s`` for ``llm`` with a vendor), so every
layer that looks inside a verb list needs a verb's name and its properties. They are read
here, once, so that no two places can tell the forms apart differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload

from ._validate import VERB_ALIASES

__all__ = ["canonical_verb", "verb_body", "verb_name"]


def verb_name(verb: Mapping[str, Any]) -> str | None:
    """The verb's name as written (an alias stays itself), in either form; ``None`` when the
    mapping is in neither form."""
    name = verb.get("verb")
    if name is None and len(verb) == 1:
        name = next(iter(verb))
    return name if isinstance(name, str) else None


@overload
def verb_body(verb: dict[str, Any]) -> dict[str, Any]: ...
@overload
def verb_body(verb: Mapping[str, Any]) -> Mapping[str, Any]: ...


def verb_body(verb: Mapping[str, Any]) -> Mapping[str, Any]:
    """The verb's properties: ``verb`` itself in the ``{"verb": ...}`` form, the inner mapping
    in the ``{"say": {...}}`` form.

    The same object, not a copy, so a property set on the body of a verb made of dicts (wire
    dicts, the builders' ``to_dict()``) travels with the verb. A mapping in neither form is
    its own body.
    """
    if "verb" in verb or len(verb) != 1:
        return verb
    body = next(iter(verb.values()))
    return body if isinstance(body, Mapping) else verb


def canonical_verb(name: str) -> tuple[str, str | None]:
    """``(canonical name, vendor)`` for a verb name: an alias resolved
    (``"openai_s2s"`` -> ``("llm", "openai")``), any other name as it is, with no vendor."""
    return VERB_ALIASES.get(name, (name, None))
