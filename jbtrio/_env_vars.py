"""jambonz's application environment variables: what an app declares, and a call's values.

jambonz asks an app's URL with ``OPTIONS`` which variables it takes (when the application is
set up in its portal) and sends their values in ``session:new`` as ``env_vars``
(docs/jambonz.md, "Application environment variables"). :class:`EnvVar` is one declaration
(its JSON is the object jambonz expects: ``type``, ``description``, ``required``,
``default``, ``enum``, ``obscure``, ``uiHint``, ``jambonzResource``); :class:`CallEnv` is a
call's values, converted to their declared type with defaults filled in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

import attrs

from ._errors import JbtrioError

__all__ = [
    "CallEnv",
    "EnvValue",
    "EnvVar",
    "EnvVarError",
    "EnvVarMissing",
    "declare_env_vars",
]

EnvValue = str | int | float | bool
EnvType = Literal["string", "number", "boolean"]
_TYPES = ("string", "number", "boolean")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class EnvVarError(JbtrioError, ValueError):
    """A call's environment variable has a value its declaration refuses."""


class EnvVarMissing(JbtrioError, KeyError):
    """A required environment variable has no value in the call (jambonz sent none: set it
    in the application's settings in the jambonz portal)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "missing environment variable"


def _convert(kind: EnvType, value: Any) -> EnvValue:
    """``value`` as ``kind`` (jambonz may send every value as a string)."""
    if kind == "string":
        if isinstance(value, bool | int | float | str):
            return value if isinstance(value, str) else str(value)
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
    elif kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                try:
                    return float(text)
                except ValueError:
                    pass
    raise ValueError(f"{value!r} is not a {kind}")


def _choices(values: Iterable[EnvValue] | None) -> tuple[EnvValue, ...] | None:
    return None if values is None else tuple(values)


@attrs.frozen(kw_only=True)
class EnvVar:
    """One declared variable. ``default`` and ``enum`` values must be of ``type``;
    ``obscure`` masks the value in the portal (secrets); ``ui_hint`` is ``input``,
    ``textarea`` or ``filepicker``; ``jambonz_resource="carriers"`` fills a dropdown from
    the account's carriers."""

    type: EnvType = attrs.field(default="string", validator=attrs.validators.in_(_TYPES))
    description: str = ""
    required: bool = False
    default: EnvValue | None = None
    enum: tuple[EnvValue, ...] | None = attrs.field(default=None, converter=_choices)
    obscure: bool = False
    ui_hint: Literal["input", "textarea", "filepicker"] | None = None
    jambonz_resource: Literal["carriers"] | None = None

    def __attrs_post_init__(self) -> None:
        for value in (self.default, *(self.enum or ())):
            if value is not None:
                _convert(self.type, value)  # raises for a default or choice of another type
        default = self.default
        enum = self.enum
        if enum is not None and default is not None and _convert(self.type, default) not in enum:
            raise ValueError(f"default {default!r} is not one of {enum}")

    def to_json(self) -> dict[str, Any]:
        """The declaration as jambonz reads it (what ``OPTIONS`` answers for it)."""
        out: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.required:
            out["required"] = True
        if self.default is not None:
            out["default"] = self.default
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.obscure:
            out["obscure"] = True
        if self.ui_hint is not None:
            out["uiHint"] = self.ui_hint
        if self.jambonz_resource is not None:
            out["jambonzResource"] = self.jambonz_resource
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EnvVar:
        """A declaration in jambonz's own shape (``uiHint``, ``jambonzResource``)."""
        known = {
            "type": "type",
            "description": "description",
            "required": "required",
            "default": "default",
            "enum": "enum",
            "obscure": "obscure",
            "uiHint": "ui_hint",
            "jambonzResource": "jambonz_resource",
        }
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)} (known: {sorted(known)})")
        return cls(**{known[key]: value for key, value in data.items()})


def declare_env_vars(
    declared: Mapping[str, EnvVar | Mapping[str, Any]] | None,
) -> dict[str, EnvVar]:
    """``App(env_vars=...)``: :class:`EnvVar` values, or dicts in jambonz's shape."""
    out: dict[str, EnvVar] = {}
    for name, value in (declared or {}).items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"environment variable names are non-empty strings, got {name!r}")
        try:
            out[name] = value if isinstance(value, EnvVar) else EnvVar.from_json(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"env_vars[{name!r}]: {exc}") from None
    return out


class CallEnv(Mapping[str, EnvValue]):
    """A call's environment variables (``call.env``): each declared one converted to its
    type, its default when jambonz sent no value; variables sent but not declared are kept
    as sent. A required one without a value raises :class:`EnvVarMissing` (and is not among
    the names iterated); a value its declaration refuses (not of its type, not in its
    ``enum``) raises :class:`EnvVarError`.
    """

    def __init__(self, declared: Mapping[str, EnvVar], sent: Mapping[str, Any] | None) -> None:
        self._declared = declared
        self._sent = dict(sent or {})

    def __getitem__(self, name: str) -> EnvValue:
        declaration = self._declared.get(name)
        sent = self._sent.get(name)
        if declaration is None:
            if name not in self._sent:
                raise KeyError(name)
            value: EnvValue = sent if isinstance(sent, EnvValue) else str(sent)
            return value
        if sent is None or sent == "":
            if declaration.default is not None:
                return _convert(declaration.type, declaration.default)
            if declaration.required:
                raise EnvVarMissing(
                    f"environment variable {name} is required and jambonz sent no value "
                    "(set it in the application's settings)"
                )
            raise KeyError(name)
        try:
            value = _convert(declaration.type, sent)
        except ValueError as exc:
            raise EnvVarError(f"environment variable {name}: {exc}") from None
        if declaration.enum is not None and value not in declaration.enum:
            raise EnvVarError(
                f"environment variable {name}: {value!r} is not one of {list(declaration.enum)}"
            )
        return value

    def __iter__(self) -> Iterator[str]:
        names = dict.fromkeys(self._sent)
        for name, declaration in self._declared.items():
            if declaration.default is not None:
                names[name] = None
        return iter(names)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def problems(self) -> list[str]:
        """What is wrong with the call's values (missing required ones, refused values):
        logged once when the call starts."""
        found: list[str] = []
        for name in self._declared:
            try:
                self[name]
            except KeyError as exc:  # EnvVarMissing included
                if isinstance(exc, EnvVarMissing):
                    found.append(str(exc))
            except EnvVarError as exc:
                found.append(str(exc))
        return found

    def __repr__(self) -> str:
        shown = {
            name: "***" if (d := self._declared.get(name)) is not None and d.obscure else value
            for name, value in self._sent.items()
        }
        return f"CallEnv({shown!r})"
