"""Field converters and checks shared by the request classes.

Request classes normalise what they are given (a :class:`jbtrio.verbs.Target`, a
:class:`jbtrio.verbs.Hook`, a mapping) into the plain JSON value jambonz gets, once, at
construction; bad values raise ``ValueError`` there, at the line that made them, rather than
as a 400 from jambonz later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeAlias, get_args

from ..verbs import Hook, Target
from ._codec import wire_dict

__all__ = [
    "HookLike",
    "check_choice",
    "check_extra",
    "check_non_empty",
    "extra",
    "hook",
    "optional_hook",
    "optional_mapping",
    "target",
]

HookLike: TypeAlias = str | Hook | Mapping[str, Any]
"""A hook: a URL string, ``{"url": ..., "method": ..., "username": ..., "password": ...}``
or a :class:`jbtrio.verbs.Hook`."""

_TARGET_KEY: Final = {"phone": "number", "teams": "number", "user": "name", "sip": "sipUri"}


def hook(value: HookLike) -> str | dict[str, Any]:
    """A hook as jambonz reads it: a non-empty URL string, or an object with a ``url``."""
    if isinstance(value, str):
        if not value:
            raise ValueError("a hook URL must not be empty")
        return value
    data = wire_dict("hook", value)
    if not isinstance(data.get("url"), str) or not data["url"]:
        raise ValueError(f"a hook object needs a non-empty 'url'; got {data!r}")
    return data


def optional_hook(value: HookLike | None) -> str | dict[str, Any] | None:
    return None if value is None else hook(value)


def extra(value: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` keys of a request, copied (the request is frozen; the caller's dict is not)."""
    if not isinstance(value, Mapping):
        raise ValueError(f"extra must be a mapping; got {type(value).__name__}")
    return dict(value)


def optional_mapping(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping; got {type(value).__name__}")
    return dict(value)


def target(value: Target | Mapping[str, Any]) -> dict[str, Any]:
    """A call target (:class:`jbtrio.verbs.Target` or mapping), checked as api-server does.

    jambonz needs ``number`` for ``phone``/``teams``, ``name`` for ``user`` and ``sipUri``
    for ``sip`` targets, and answers 400 otherwise.
    """
    data = wire_dict("to", value)
    kind = data.get("type")
    key = _TARGET_KEY.get(kind) if isinstance(kind, str) else None
    if key is None:
        raise ValueError(f"to.type must be one of {', '.join(_TARGET_KEY)}; got {kind!r}")
    if not isinstance(data.get(key), str) or not data[key]:
        raise ValueError(f"a {kind!r} target needs {key!r}")
    return data


def hook_url(value: str | Mapping[str, Any]) -> str:
    return value if isinstance(value, str) else str(value["url"])


def check_absolute(name: str, value: str | Mapping[str, Any] | None) -> None:
    """jambonz's REST API resolves no relative hooks on a new call: it wants full URLs."""
    if value is None:
        return
    url = hook_url(value)
    if not url.startswith(("http://", "https://", "ws://", "wss://")):
        raise ValueError(f"{name} must be an absolute http(s):// or ws(s):// URL; got {url!r}")


def check_non_empty(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string; got {value!r}")


def check_choice(name: str, value: object, allowed: Any) -> None:
    """``value`` is ``None`` or one of the ``Literal`` type ``allowed``'s values."""
    if value is None:
        return
    options = get_args(allowed)
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")


def check_extra(cls_name: str, extra: Mapping[str, Any], typed: Iterable[str]) -> None:
    """``extra`` adds keys; it must not shadow a typed field (one would silently win)."""
    clash = sorted(set(extra) & set(typed))
    if clash:
        raise ValueError(
            f"{cls_name}.extra repeats typed field(s) {', '.join(map(repr, clash))}; "
            f"set the field instead"
        )
