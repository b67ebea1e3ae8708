"""The message registry: every wire message type, declared once, and all that follows from it.

Why: a message type used to be listed in six places (the codec's union and hook table, the
known-type and notification lists, the exports, the test strategies, the runtime's session
checks) and each of its fields three times (attribute, nullable map, check spec), so adding one
meant finding them all by search. Now a class is declared once and registered by its wire type::

    @inbound("verb:hook", ack=True)
    @attrs.frozen(kw_only=True)
    class VerbHook(InboundMessage):
        hook: str | None = None  # the envelope has ``hook``: the class has the field
        data: CallInfo = attrs.field(factory=CallInfo)

and from the registration come: the class's ``TYPE``, ``REQUIRES_ACK`` and ``STARTS_SESSION``;
its decoder and encoder (:data:`DECODERS`, :data:`ENCODERS`, which :func:`~jbtrio.decode`,
:func:`~jbtrio.encode` and the converter use, built from the fields' declarations by
:func:`~._fields.spec_of`: envelope keys, payload keys, checks, ``extra`` rules);
:data:`KNOWN_TYPES` (what :class:`~jbtrio.UnknownMessage` may not be); and, read from
:data:`REGISTRY`, the Hypothesis strategies of :mod:`jbtrio.testing.strategies`, the golden
file's coverage test and the runtime's "does this message start a session" question.

To add a message type jambonz sends:

1. Declare its ``data`` payload: :class:`~jbtrio.CallInfo`, ``Mapping[str, Any]`` (an object
   kept as sent), or a frozen attrs class whose optional fields (default ``None``) are its
   wire keys (wire name and check from ``attrs.field(metadata=wire(...))`` and the
   annotation) and whose ``extra`` is ``attrs.field(factory=dict, validator=validate_extra)``.
2. Declare the message: a frozen attrs subclass of :class:`~jbtrio.InboundMessage` with
   ``data: Payload = attrs.field(factory=Payload)`` and ``hook: str | None = None`` if its
   envelope has a hook, decorated ``@inbound("kind:name", ack=...)`` (``starts_session=True``
   for a first message of a socket). ``_inbound.py`` holds jambonz 0.9.8's, ``_agent.py``
   10.x/11.x's; a new file needs an import in ``jbtrio/_wire/__init__.py``.
3. Export it from ``jbtrio/_wire/__init__.py`` (and ``jbtrio/__init__.py``), add an example
   to ``tests/data/golden_messages.jsonl`` (a test asks for one per registered class).
4. Handle it where it means something (the call core, the app API).

``ack`` and ``command``, the app's two types, register hand-written hooks with
:func:`register` (their rules are jambonz's ``ws-requestor`` checks, not field checks).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, TypeVar

import attrs

from .._errors import ProtocolError
from ._callinfo import CallInfo, unstructure_call_info
from ._callinfo_decode import structure_call_info
from ._fields import (
    MAX_ID_CHARS,
    Checker,
    WireField,
    check_id,
    check_str,
    compile_to_wire,
    slot_setters,
    spec_of,
    split_known,
    type_error,
)
from ._nesting import check_nesting

__all__ = [
    "DECODERS",
    "ENCODERS",
    "KNOWN_TYPES",
    "REGISTRY",
    "Registration",
    "inbound",
    "register",
    "registration_of",
]

Structure = Callable[[Any, Any], Any]
Unstructure = Callable[[Any], dict[str, Any]]

_C = TypeVar("_C", bound=type[Any])


@attrs.frozen
class Registration:
    """One wire message type: its class, how it behaves and how it is (de)coded.

    ``payload`` is the class of ``data`` (``CallInfo`` or a payload class), ``None`` when
    ``data`` is an object kept as sent (or, for the app's types, has no payload class).
    """

    wire_type: str
    cls: type[Any]
    inbound: bool
    requires_ack: bool
    hook: bool
    starts_session: bool
    payload: type[Any] | None
    structure: Structure
    unstructure: Unstructure


_BY_TYPE: dict[str, Registration] = {}
_BY_CLASS: dict[type[Any], Registration] = {}

#: wire type -> :class:`Registration`, in registration order.
REGISTRY: Final[Mapping[str, Registration]] = MappingProxyType(_BY_TYPE)
#: Every ``type`` that has its own class (a live view of the registry).
KNOWN_TYPES: Final = _BY_TYPE.keys()
#: wire type -> structure hook, for :func:`~jbtrio.decode`'s one lookup per frame.
DECODERS: Final[dict[str, Structure]] = {}
#: class -> unstructure hook, for :func:`~jbtrio.encode`'s one lookup per message.
ENCODERS: Final[dict[type[Any], Unstructure]] = {}
#: The wire types whose decoders hold a frame to MAX_DEPTH themselves (the call-info
#: messages: see ``_decoder``), so that :func:`~jbtrio.decode` need not scan their text.
NESTING_CHECKED: Final[set[str]] = set()


def registration_of(cls: type[Any]) -> Registration:
    """The registration of a message class (``KeyError`` for an unregistered one)."""
    return _BY_CLASS[cls]


def is_registered(cls: Any) -> bool:
    """Whether ``cls`` is a registered message class (the converter's predicate)."""
    return isinstance(cls, type) and cls in _BY_CLASS


def _add(registration: Registration) -> None:
    if registration.wire_type in _BY_TYPE or registration.cls in _BY_CLASS:
        raise ValueError(
            f"{registration.wire_type!r} ({registration.cls.__name__}) registered twice"
        )
    _BY_TYPE[registration.wire_type] = registration
    _BY_CLASS[registration.cls] = registration
    DECODERS[registration.wire_type] = registration.structure
    if registration.inbound and registration.payload is CallInfo:
        NESTING_CHECKED.add(registration.wire_type)
    ENCODERS[registration.cls] = registration.unstructure


def register(
    wire_type: str, cls: type[Any], structure: Structure, unstructure: Unstructure
) -> None:
    """Register an app→jambonz type whose hooks are written by hand (``ack``, ``command``)."""
    registration = Registration(
        wire_type=wire_type,
        cls=cls,
        inbound=False,
        requires_ack=False,
        hook=False,
        starts_session=False,
        payload=None,
        structure=structure,
        unstructure=unstructure,
    )
    _add(registration)


def inbound(wire_type: str, *, ack: bool, starts_session: bool = False) -> Callable[[_C], _C]:
    """Class decorator: register a jambonz→app message class under its wire ``type``.

    ``ack`` says whether jambonz waits for an ``ack`` (docs/jambonz.md, Acks); ``starts_session``
    whether it is a first message of a socket (``session:new`` and its kind).
    """

    def register_class(cls: _C) -> _C:
        hints = typing.get_type_hints(cls)
        data_hint = hints["data"]
        if data_hint is CallInfo or attrs.has(data_hint):
            payload: type[Any] | None = data_hint
        elif typing.get_origin(data_hint) is Mapping:
            payload = None
        else:
            raise TypeError(f"{cls.__name__}.data: {data_hint!r} is not a payload")
        envelope = spec_of(cls)
        hook = "hook" in envelope.nullable
        cls.TYPE = wire_type
        cls.REQUIRES_ACK = ack
        cls.STARTS_SESSION = starts_session
        _add(
            Registration(
                wire_type=wire_type,
                cls=cls,
                inbound=True,
                requires_ack=ack,
                hook=hook,
                starts_session=starts_session,
                payload=payload,
                structure=_decoder(cls, envelope.checks, payload),
                unstructure=_encoder(cls, wire_type, envelope.fields, payload),
            )
        )
        return cls

    return register_class


# --------------------------------------------------------------------------- envelope

_SKIP: Final = frozenset({"type", "msgid", "data"})
_new: Final = object.__new__


def _envelope(
    obj: Mapping[str, Any], spec: Mapping[str, tuple[str, Checker]], nesting: bool = False
) -> dict[str, Any]:
    """Keyword arguments for the envelope part of ``obj`` (msgid required, rest lossless);
    with ``nesting``, a container among them is held to MAX_DEPTH (:data:`NESTING_CHECKED`)."""
    msgid = obj.get("msgid")
    if type(msgid) is not str:
        if "msgid" not in obj:
            raise ProtocolError("$.msgid: missing (every jambonz message has a msgid)")
        raise type_error("$.msgid", "string", msgid)
    if not 0 < len(msgid) <= MAX_ID_CHARS:
        if not msgid:  # names no message: it could not be acked (found by the fuzz suite)
            raise ProtocolError("$.msgid: empty (jambonz's msgids are 22-character short uuids)")
        check_id(msgid, "$.msgid")
    kwargs: dict[str, Any] = {"msgid": msgid}
    extra: dict[str, Any] = {}
    for key, value in obj.items():
        if key in _SKIP:
            continue
        entry = spec.get(key)
        kind = type(value)
        if nesting and (kind is dict or kind is list):
            check_nesting(value, 1)
        if entry is None or value is None:
            extra[key] = value
            continue
        attr, check = entry
        if kind is str and (
            check is check_str or (check is check_id and len(value) <= MAX_ID_CHARS)
        ):
            kwargs[attr] = value  # call_sid and hook: no call needed (issue 23, hot path)
            continue
        try:
            kwargs[attr] = check(value, "")  # path built only on failure
        except ProtocolError:
            check(value, f"$.{key}")
            raise
    kwargs["extra"] = extra
    return kwargs


def _data(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    data = obj.get("data")
    if type(data) is dict:
        return data
    if "data" not in obj:
        raise ProtocolError("$.data: missing (jambonz always sends a data object)")
    raise type_error("$.data", "object", data)


def _decoder(
    cls: type[Any], envelope: Mapping[str, tuple[str, Checker]], payload: type[Any] | None
) -> Structure:
    """The structure hook of a message class: envelope, then ``data`` as its payload says."""
    if payload is CallInfo:
        # verb:hook and the other call-info messages: built without the generated __init__
        # when the envelope's extra is empty (its validator's only work is on a non-empty one),
        # half the instructions (issue 23); the fields not in the envelope are None.
        setters = slot_setters(cls, validated=frozenset({"extra"}))
        for attribute in attrs.fields(cls):
            if (
                attribute.name not in _SKIP
                and attribute.name != "extra"
                and attribute.default is not None
            ):
                raise TypeError(f"{cls.__name__}.{attribute.name}: its default is not None")

        def from_wire(obj: Any, _: Any = None) -> Any:
            # Nesting checked here, on values walked anyway, not by decode's scan of the
            # text (NESTING_CHECKED): the envelope's at level 1, the data's at 2.
            kwargs = _envelope(obj, envelope, True)
            data = obj.get("data")
            kwargs["data"] = structure_call_info(
                data if type(data) is dict else _data(obj), "$.data", 2
            )
            if kwargs["extra"]:
                return cls(**kwargs)
            message = _new(cls)
            get = kwargs.get
            for name, set_field in setters:
                set_field(message, get(name))
            return message

    elif payload is None:

        def from_wire(obj: Any, _: Any = None) -> Any:
            kwargs = _envelope(obj, envelope)
            return cls(data=_data(obj), **kwargs)

    else:
        make_payload, checks = payload, spec_of(payload).checks

        def from_wire(obj: Any, _: Any = None) -> Any:
            kwargs = _envelope(obj, envelope)
            data_kwargs, data_extra = split_known(_data(obj), checks, "$.data")
            return cls(data=make_payload(extra=data_extra, **data_kwargs), **kwargs)

    check_decoded = getattr(cls, "_check_decoded", None)
    if check_decoded is None:
        return from_wire

    def from_wire_checked(obj: Any, _: Any = None) -> Any:
        message = from_wire(obj)
        check_decoded(message)  # e.g. session:adulting's parent call info, at decode time
        return message

    return from_wire_checked


def _encoder(
    cls: type[Any], wire_type: str, envelope: tuple[WireField, ...], payload: type[Any] | None
) -> Unstructure:
    """The unstructure hook of a message class: type, msgid, envelope fields, extra, data."""
    if payload is CallInfo:
        data_to_wire: Callable[[Any], Any] = unstructure_call_info
    elif payload is None:
        data_to_wire = _as_sent
    else:
        data_to_wire = spec_of(payload).unstructure
    head = f"{{'type': {wire_type!r}, 'msgid': inst.msgid}}"
    return compile_to_wire(cls.__name__, envelope, head=head, data=data_to_wire)


def _as_sent(data: Any) -> Any:
    return data
