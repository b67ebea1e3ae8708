"""The one cattrs converter of :mod:`jbtrio.rest`: request bodies out, typed responses in.

Requests (:class:`RequestBody`) unstructure to jambonz's JSON: attribute names are mapped to
the wire names in ``WIRE_NAMES`` (``from_`` -> ``from``, ``time_limit`` -> ``timeLimit``),
fields left at ``None`` are omitted (jambonz reads a missing key as "not given", and some of
its checks trip on ``null``), and ``extra`` is merged in last, for keys a newer jambonz reads.

Responses (:class:`ResponseBody`) structure strictly: a string field gets a string, an
integer an integer (never a bool), so a surprising answer fails loudly as a
:class:`~jbtrio.rest.RestError` instead of turning ``"false"`` into ``True``. Keys the class
does not type are kept in ``extra``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar, cast

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = [
    "RequestBody",
    "ResponseBody",
    "converter",
    "structure_response",
    "unstructure_request",
    "wire_dict",
]

_T = TypeVar("_T")


class RequestBody:
    """Base of the request classes: ``WIRE_NAMES`` maps attribute -> wire name where they differ."""

    __slots__ = ()
    WIRE_NAMES: ClassVar[Mapping[str, str]] = {}


class ResponseBody:
    """Base of the response classes: ``WIRE_NAMES`` as for requests, other keys in ``extra``."""

    __slots__ = ()
    WIRE_NAMES: ClassVar[Mapping[str, str]] = {}


converter = cattrs.Converter(forbid_extra_keys=False, detailed_validation=True)


def _strict(kind: type, name: str) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _type: Any) -> Any:
        if type(value) is kind:
            return value
        raise TypeError(f"expected {name}, got {type(value).__name__}")

    return structure


def _number(value: Any, _type: Any) -> float:
    if type(value) is int or type(value) is float:
        return value
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _int(value: Any, _type: Any) -> int:
    # jambonz's REST layer runs values through coerceNumbers(), and some (queue lengths) come
    # from Redis as strings of digits; both are the same integer to the caller.
    if type(value) is int:
        return value
    if type(value) is str and value.strip().lstrip("-").isdigit():
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__}")


converter.register_structure_hook(str, _strict(str, "a string"))
converter.register_structure_hook(bool, _strict(bool, "a boolean"))
converter.register_structure_hook(int, _int)
converter.register_structure_hook(float, _number)


def _object(value: Any, _type: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise TypeError(f"expected an object, got {type(value).__name__}")


converter.register_structure_hook_func(lambda t: t == Mapping[str, Any], _object)


def _wire_names(cls: type) -> dict[str, str]:
    names: Mapping[str, str] = getattr(cls, "WIRE_NAMES", {})
    fields = attrs.fields(cast(Any, cls))
    return {f.name: names.get(f.name, f.name) for f in fields if f.name != "extra"}


def _unstructure_factory(cls: type[RequestBody]) -> Callable[[Any], dict[str, Any]]:
    names = _wire_names(cls)
    overrides = {attr: override(rename=wire, omit_if_default=True) for attr, wire in names.items()}
    has_extra = "extra" in attrs.fields_dict(cast(Any, cls))
    if has_extra:
        overrides["extra"] = override(omit=True)
    generated = make_dict_unstructure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

    def unstructure(obj: Any) -> dict[str, Any]:
        body: dict[str, Any] = generated(obj)
        if has_extra and obj.extra:
            body.update(obj.extra)
        return body

    return unstructure


def _structure_factory(cls: type[ResponseBody]) -> Callable[[Any, Any], Any]:
    names = _wire_names(cls)
    overrides = {attr: override(rename=wire) for attr, wire in names.items()}
    has_extra = "extra" in attrs.fields_dict(cast(Any, cls))
    if has_extra:
        overrides["extra"] = override(omit=True)
    generated = make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]
    known = frozenset(names.values())

    def structure(value: Any, _type: Any) -> Any:
        data = _object(value, _type)
        obj = generated(data, cls)
        if has_extra:
            extra = {k: v for k, v in data.items() if k not in known}
            if extra:
                obj = attrs.evolve(cast(Any, obj), extra=extra)
        return obj

    return structure


converter.register_unstructure_hook_factory(
    lambda t: isinstance(t, type) and issubclass(t, RequestBody), _unstructure_factory
)
converter.register_structure_hook_factory(
    lambda t: isinstance(t, type) and issubclass(t, ResponseBody), _structure_factory
)


def unstructure_request(body: RequestBody) -> dict[str, Any]:
    """The JSON object jambonz gets for a request."""
    result: dict[str, Any] = converter.unstructure(body, type(body))
    return result


def structure_response(data: Any, cls: type[_T]) -> _T:
    """A typed response; raises ``ValueError`` saying which fields did not fit."""
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            details = "; ".join(cattrs.transform_error(exc, path="$"))
        else:
            details = str(exc)
        raise ValueError(f"unexpected {cls.__name__} from jambonz: {details}") from None


def wire_dict(name: str, value: object, *, nested_verb: bool = False) -> dict[str, Any]:
    """A builder (``to_dict()``: :mod:`jbtrio.verbs` objects) or a mapping as a plain dict.

    ``nested_verb`` drops the ``verb`` key, for properties that take a verb's attributes.
    """
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        value = to_dict()
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a builder or a mapping; got {type(value).__name__}")
    result = dict(value)
    if nested_verb:
        result.pop("verb", None)
    return result
