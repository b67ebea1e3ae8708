"""Base classes of the generated verb builders, and :class:`Hook`.

The builders in ``_generated.py`` are frozen attrs classes with snake_case attributes; the
bases here turn them into jambonz's wire dicts (camelCase names, ``None`` omitted) and
validate that dict when the object is built, so a mistake raises :class:`~jbtrio.VerbError`
at the line that made it rather than when jambonz drops the verb list mid-call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, cast

import attrs

from .._errors import VerbError
from ._checked_wire import CheckedWire
from ._to_checked import checked_wire
from ._validate import (
    VERB_ALIASES,
    JambonzVersion,
    check_built_component,
    check_built_verb,
    target_bit,
)

__all__ = ["CheckedWire", "Component", "Hook", "Verb", "WireObject"]


@attrs.frozen(kw_only=True)
class Hook:
    """A webhook in object form, for hook properties that accept more than a URL string.

    ``url`` is a path relative to the app's socket (``"/gather-done"``, answered over the same
    WebSocket) or an absolute ``ws(s)://``/``http(s)://`` URL. For HTTP basic auth when jambonz
    calls an HTTP hook, 0.9 reads ``username``/``password``, 10.x/11.x ``basic_auth``
    (``{"username": ..., "password": ...}`` or an ``Auth``); 10.x/11.x accept only ``"GET"``
    or ``"POST"`` as ``method``.
    """

    url: str
    method: str | None = None
    username: str | None = None
    password: str | None = None
    basic_auth: Mapping[str, Any] | WireObject | None = None

    def __attrs_post_init__(self) -> None:
        # jambonz 0.9 does not look inside hook objects, so check the types here instead.
        if not isinstance(self.url, str):
            raise VerbError("hook url must be a string", path="url")
        for name in ("method", "username", "password"):
            if not isinstance(getattr(self, name), str | None):
                raise VerbError(f"hook {name} must be a string", path=name)
        if not isinstance(self.basic_auth, Mapping | WireObject | None):
            raise VerbError("hook basic_auth must be an object", path="basicAuth")

    def to_dict(self) -> dict[str, Any]:
        """Return the wire form, leaving out what was not given."""
        wire = {"url": self.url, "method": self.method}
        wire |= {"username": self.username, "password": self.password}
        wire["basicAuth"] = _to_wire(self.basic_auth)
        return {k: v for k, v in wire.items() if v is not None}

    def _jbtrio_wire_(self) -> dict[str, Any]:
        return self.to_dict()


_PLAIN: Final = frozenset({str, int, float, bool, dict})


def _to_wire(value: Any) -> Any:
    """Convert one attribute value: builders and hooks to dicts, sequences item by item.

    Only one level of sequence is converted (that is where ``Sequence[Target]`` and friends
    live); other values are sent as given, so free-form objects are not walked.
    """
    if type(value) in _PLAIN:
        return value
    wire = getattr(value, "_jbtrio_wire_", None)
    if wire is not None:
        return wire()
    if isinstance(value, list | tuple):
        return [_to_wire_item(item) for item in value]
    if isinstance(value, Mapping) and type(value) is not dict:
        return dict(value)
    return value


def _to_wire_item(item: Any) -> Any:
    wire = getattr(item, "_jbtrio_wire_", None)
    return wire() if wire is not None else item


# Per builder class: a function computing its wire fields, compiled on first use from the
# attrs fields (attrs replaces the class when it adds slots, so not at class creation). It
# reads each attribute once and tests it inline: a generic loop over ``attrs.fields`` costs
# about twice as much, and builders are made for every reply.
_COMPUTERS: Final[dict[type, Callable[[Any], dict[str, Any]]]] = {}


def _fields_computer(cls: type[WireObject]) -> Callable[[Any], dict[str, Any]]:
    lines = ["def compute(self):", "    d = {}"]
    for field in attrs.fields(cast(Any, cls)):
        if not field.name.isidentifier():  # attrs names always are; guard the exec anyway
            raise TypeError(f"{cls.__name__}: bad attribute name {field.name!r}")
        wire = cls.WIRE_NAMES.get(field.name, field.name)
        lines += [
            f"    v = self.{field.name}",
            "    if v is not None:",
            f"        d[{wire!r}] = v if type(v) in _PLAIN else _to_wire(v)",
        ]
    lines.append("    return d")
    namespace: dict[str, Any] = {"_PLAIN": _PLAIN, "_to_wire": _to_wire}
    exec(compile("\n".join(lines), f"<jbtrio wire fields of {cls.__name__}>", "exec"), namespace)
    compute: Callable[[Any], dict[str, Any]] = namespace["compute"]
    _COMPUTERS[cls] = compute
    return compute


class WireObject:
    """What verbs and components share: wire-name mapping, serialisation, hook metadata.

    Builders are frozen, so the wire dict computed for validation at construction is kept
    (``_jbtrio_fields``) and copied on each ``to_dict()``, rather than walking every field
    again each time a verb is sent.

    The generated builders are made by :func:`install_init`'s ``__init__``, which leaves the
    slot of an optional attribute given as ``None`` unset; reading it goes through
    ``__getattr__``, which answers ``None`` for an attribute of the class.
    """

    __slots__ = ("_jbtrio_fields",)

    if not TYPE_CHECKING:  # a type checker must still refuse unknown attributes

        def __getattr__(self, name: str) -> Any:
            # Only reached when the slot is unset: an optional attribute left None.
            if name in _attribute_names(type(self)):
                return None
            if name == "_jbtrio_ok":
                # A copy or an unpickled builder (attrs carries its fields only): known valid
                # for no target yet, so it is checked once where it is sent.
                return 0
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
            )

    #: attribute name -> wire name, for the attributes whose names differ on the wire
    #: (``action_hook`` -> ``actionHook``, ``from_`` -> ``from``, ``passthrough`` -> ``_``).
    WIRE_NAMES: ClassVar[Mapping[str, str]] = {}
    #: Wire names of the properties that are hooks (end in ``Hook``/``_hook``), in spec order.
    hook_properties: ClassVar[tuple[str, ...]] = ()

    def _fields_dict(self) -> dict[str, Any]:
        cached: dict[str, Any] | None = getattr(self, "_jbtrio_fields", None)
        if cached is not None:
            return dict(cached)
        return self._compute_fields()

    def _remember_fields(self) -> dict[str, Any]:
        """Compute the wire fields once (at construction) and keep them."""
        fields = self._compute_fields()
        object.__setattr__(self, "_jbtrio_fields", fields)
        return fields

    def _compute_fields(self) -> dict[str, Any]:
        compute = _COMPUTERS.get(type(self)) or _fields_computer(type(self))
        return compute(self)

    def _jbtrio_wire_(self) -> dict[str, Any]:
        """The form used when this object is the value of another verb's property."""
        return self._fields_dict()

    def to_dict(self) -> dict[str, Any]:
        """Return the wire dict; optional properties left as ``None`` are omitted."""
        return self._fields_dict()


class Verb(WireObject):
    """A verb builder: ``to_dict()`` gives ``{"verb": name, ...}`` ready for a verb list.

    A builder is valid for at least one jambonz when it exists (see ``jbtrio.verbs``); it
    knows which targets it was checked for, so sending it to one of those costs no check.
    """

    __slots__ = ("_jbtrio_ok",)

    _jbtrio_ok: int

    #: The verb name on the wire, as this class sends it (an alias class sends its alias).
    verb: ClassVar[str]
    #: True when the verb has an ``actionHook``: jambonz reports its outcome to that hook when
    #: it ends (``verb:hook``), which is what automatic action hooks build on.
    REPORTS_BACK: ClassVar[bool] = False

    def __attrs_post_init__(self) -> None:
        known = check_built_verb(self.verb, self._remember_fields())
        object.__setattr__(self, "_jbtrio_ok", known)

    def checked_for(self, jambonz: JambonzVersion) -> bool:
        """Whether this builder is known valid for ``jambonz`` (checked when built, or by an
        earlier :func:`~jbtrio.verbs.validate` for that target), so it needs no check."""
        return bool(self._jbtrio_ok & target_bit(jambonz))

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"verb": ..., **properties}``; properties left as ``None`` are omitted."""
        cached: dict[str, Any] | None = getattr(self, "_jbtrio_fields", None)
        return {"verb": self.verb, **(self._compute_fields() if cached is None else cached)}

    def checked_dict(self) -> CheckedWire:
        """:meth:`to_dict` as a :class:`CheckedWire`, carrying this builder's known-valid mask
        (for code that only adds ids and hook paths to it before it is sent). A flow calls
        :func:`~._to_checked.checked_wire` itself (compiled in the compiled build, issue 23)."""
        return checked_wire(self)

    def _jbtrio_wire_(self) -> dict[str, Any]:
        """Nested form (``gather.say``, ``dial.dub``): no ``verb`` key, which jambonz rejects.

        An alias that presets ``vendor`` keeps the preset, since the alias name is lost.
        """
        data = self._fields_dict()
        alias = VERB_ALIASES.get(self.verb)
        if alias is not None and alias[1] is not None and "vendor" not in data:
            data = {"vendor": alias[1], **data}
        return data


class Component(WireObject):
    """A nested component builder (``Synthesizer``, ``Target``, ...): ``to_dict()`` is bare."""

    __slots__ = ()

    #: Its entry in jambonz 0.9's spec table (``"synthesizer"``, ``"sm_transcriptionConfig"``),
    #: or ``None`` when only 10.x/11.x have it.
    spec_name: ClassVar[str | None] = None
    #: URI of its (sub)schema in ``@jambonz/schema`` (10.x/11.x), or ``None`` when only 0.9
    #: has it.
    schema_location: ClassVar[str | None] = None

    def __attrs_post_init__(self) -> None:
        check_built_component(self.spec_name, self.schema_location, self._remember_fields())


# ----------------------------------------------------------------------------- fast __init__

#: Attribute names of each builder class (what ``WireObject.__getattr__`` answers None for).
_ATTRIBUTE_NAMES: Final[dict[type, frozenset[str]]] = {}


def _attribute_names(cls: type) -> frozenset[str]:
    names = _ATTRIBUTE_NAMES.get(cls)
    if names is None:
        found = attrs.fields(cast(Any, cls)) if attrs.has(cls) else ()
        names = _ATTRIBUTE_NAMES[cls] = frozenset(f.name for f in found)
    return names


def install_inits(classes: Iterable[type[WireObject]]) -> None:
    """Give each generated builder class the ``__init__`` :func:`_fast_init` makes, made
    when the class is first used (compiling one for each of a hundred classes at import
    would cost more than an app's whole use of the few it makes)."""
    for cls in dict.fromkeys(classes):
        cls.__init__ = _first_init(cls)  # type: ignore[method-assign]


def _first_init(cls: type[WireObject]) -> Callable[..., None]:
    attrs_init = cls.__init__

    @functools.wraps(attrs_init)  # the signature shown is attrs' (``__wrapped__``)
    def first_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init = _fast_init(cls, attrs_init)
        cls.__init__ = init  # type: ignore[method-assign]
        init(self, *args, **kwargs)

    return first_init


def _fast_init(cls: type[WireObject], attrs_init: Callable[..., None]) -> Callable[..., None]:
    """An ``__init__`` for a generated builder, equivalent to attrs' and its post-init.

    Why (issue 23: the app makes a builder for every reply): attrs' frozen ``__init__`` sets
    every attribute through ``object.__setattr__``, then the post-init reads them all back to
    build the wire dict. This one sets only the attributes given (one left ``None`` reads as
    ``None`` through ``WireObject.__getattr__``), with the slot's own setter, and builds the
    wire dict from its arguments as it goes; then it checks it as the post-init does: the
    same object, the same errors, a third of the instructions. An instance of a subclass is
    made by attrs' ``__init__``, since the subclass may add attributes or a post-init.
    """
    fields = attrs.fields(cast(Any, cls))
    post_init = getattr(cls, "__attrs_post_init__", None)
    if post_init not in (Verb.__attrs_post_init__, Component.__attrs_post_init__):
        raise TypeError(f"{cls.__name__}: a post-init of its own")
    # The helpers' names start with ``_jb_``, which no attribute's does: a builder has
    # attributes named ``type`` and ``id``.
    namespace: dict[str, Any] = {
        "_jb_cls": cls,
        "_jb_attrs_init": attrs_init,
        "_jb_type": type,
        "_jb_plain": _PLAIN,
        "_jb_to_wire": _to_wire,
        "_jb_set_fields": vars(WireObject)["_jbtrio_fields"].__set__,
    }
    params: list[str] = []
    body: list[str] = []
    for field in fields:
        name = field.name
        if not name.isidentifier() or name.startswith("_jb_") or name == "self":
            raise TypeError(f"{cls.__name__}: bad attribute name {name!r}")
        required = field.default is attrs.NOTHING
        if (
            not (required or field.default is None)
            or field.converter is not None
            or field.validator is not None
            or not field.kw_only
            or not field.init
        ):
            raise TypeError(f"{cls.__name__}.{name}: __init__ does more than set it")
        params.append(name if required else f"{name}=None")
        namespace[f"_jb_set_{name}"] = getattr(cls, name).__set__
        wire = cls.WIRE_NAMES.get(name, name)
        store = (
            f"_jb_d[{wire!r}] = {name} if _jb_type({name}) in _jb_plain else _jb_to_wire({name})"
        )
        set_it = f"_jb_set_{name}(self, {name})"
        if required:
            body += [f"    {set_it}", f"    if {name} is not None:", f"        {store}"]
        else:
            body += [f"    if {name} is not None:", f"        {set_it}", f"        {store}"]
    body.append("    _jb_set_fields(self, _jb_d)")
    if issubclass(cls, Verb):
        namespace["_jb_check"] = check_built_verb
        namespace["_jb_set_ok"] = vars(Verb)["_jbtrio_ok"].__set__
        body.append(f"    _jb_set_ok(self, _jb_check({cls.verb!r}, _jb_d))")
    else:
        assert issubclass(cls, Component)
        namespace["_jb_check"] = check_built_component
        body.append(f"    _jb_check({cls.spec_name!r}, {cls.schema_location!r}, _jb_d)")
    passed = ", ".join(f"{f.name}={f.name}" for f in fields)
    lines = [
        f"def __init__(self, *, {', '.join(params)}):" if params else "def __init__(self):",
        "    if _jb_type(self) is not _jb_cls:",
        f"        return _jb_attrs_init(self, {passed})",
        "    _jb_d = {}",
        *body,
    ]
    source = "\n".join(lines)
    exec(compile(source, f"<jbtrio __init__ of {cls.__name__}>", "exec"), namespace)
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = dict(attrs_init.__annotations__)
    return init
