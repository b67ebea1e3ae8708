"""The two messages an app sends to jambonz: ``ack`` and ``command``.

docs/jambonz.md, Acks and Commands, say how jambonz reads them.

jambonz accepts no other top-level ``type`` (``tts:tokens`` or ``llm:tool-output`` sent as a
type are rejected with ``jambonz:error``), so everything else an app does is a :class:`Command`
with a sub-type; :mod:`jbtrio.commands` builds the 23 sub-types jambonz 0.9.8 reads.

The constructors refuse what jambonz would reject (an ack without ``msgid``, a command whose
``data`` JavaScript considers falsy), because a rejected frame only comes back later as an
asynchronous ``jambonz:error``, far from the code that built it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol

import attrs

from .._errors import ProtocolError
from . import _acks
from ._fields import (
    extra_validator,
    json_type,
    reserved,
    slot_setters,
    spec_of,
    type_error,
    validate_extra,
    wire,
)
from ._registry import register

__all__ = ["ABSENT", "DATA_OPTIONAL_COMMANDS", "Ack", "Command", "SupportsToDict", "js_falsy"]


class _Absent(enum.Enum):
    """Type of :data:`ABSENT`; an enum so that ``Literal[_Absent.ABSENT]`` type-checks."""

    ABSENT = "ABSENT"

    def __repr__(self) -> str:
        return "ABSENT"


#: The ``data`` of a :class:`Command` that has no ``data`` key at all (distinct from ``None``,
#: which is a JSON ``null``).
ABSENT: Final = _Absent.ABSENT

#: Commands jambonz accepts without a truthy ``data`` (docs/jambonz.md, Commands).
DATA_OPTIONAL_COMMANDS: Final = frozenset({"llm:tool-output", "tts:flush", "tts:clear"})


def js_falsy(value: Any) -> bool:
    """Whether JavaScript treats a decoded JSON value as false (``null``, false, 0, ``""``)."""
    if value is None or value is ABSENT or value is False:
        return True
    if type(value) is int or type(value) is float:
        return bool(value == 0)
    return isinstance(value, str) and not value


class SupportsToDict(Protocol):
    """A verb object (as built by :mod:`jbtrio.verbs`): ``to_dict()`` gives its wire dict."""

    def to_dict(self) -> Mapping[str, Any]: ...


def verb_dicts(verbs: Any) -> tuple[dict[str, Any], ...] | None:
    """Normalize verbs to a tuple of wire dicts.

    Accepts ``None``, one verb, or an iterable of verbs, where a verb is a dict (kept as is, a
    subclass too: a flow's :class:`~jbtrio.verbs.CheckedWire`) or any object with
    ``to_dict()`` (the :mod:`jbtrio.verbs` builders; duck-typed so the wire model does not
    depend on the verb layer).
    """
    if verbs is None:
        return None
    if type(verbs) is not list and type(verbs) is not tuple:
        if isinstance(verbs, Mapping) or hasattr(verbs, "to_dict"):
            verbs = (verbs,)
        elif isinstance(verbs, str | bytes) or not isinstance(verbs, Iterable):
            raise TypeError(f"verbs must be an iterable of verbs, got {type(verbs).__name__}")
    out: list[dict[str, Any]] = []
    for index, verb in enumerate(verbs):
        if isinstance(verb, dict):
            out.append(verb)
        elif hasattr(verb, "_jbtrio_wire_"):
            # jbtrio's builders: to_dict() gives a fresh dict, no copy needed (checked first,
            # as isinstance against the Mapping ABC is slow and this is the common case)
            out.append(verb.to_dict())
        elif isinstance(verb, Mapping):
            out.append(dict(verb))
        elif callable(getattr(verb, "to_dict", None)):
            wire = verb.to_dict()
            if not isinstance(wire, Mapping):
                raise TypeError(f"verb #{index}: to_dict() returned {type(wire).__name__}")
            out.append(dict(wire))
        else:
            raise TypeError(
                f"verb #{index}: expected a verb dict or an object with to_dict(), "
                f"got {type(verb).__name__}"
            )
    return tuple(out)


def _check_msgid(inst: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError("Ack.msgid must be the non-empty msgid of the message being acked")


@attrs.frozen(kw_only=True)
class Ack:
    """The reply to an ack-required message: ``{"type":"ack","msgid":...,"data":[verbs]}``.

    ``verbs`` is ``None`` for an ack without ``data`` (which jambonz reads differently from an
    empty list, docs/jambonz.md, Messages from jambonz). It accepts any iterable of verb dicts or
    verb objects with ``to_dict()`` and stores the wire dicts.
    """

    TYPE: ClassVar[str] = "ack"

    msgid: str = attrs.field(validator=_check_msgid)
    verbs: tuple[dict[str, Any], ...] | None = attrs.field(default=None, converter=verb_dicts)
    extra: Mapping[str, Any] = attrs.field(
        factory=dict,
        validator=extra_validator({"data": "verbs"}, frozenset({"type", "msgid"})),
    )

    if TYPE_CHECKING:  # the functions of _acks.py, bound below (compiled, issue 23)

        @classmethod
        def of_dicts(cls, msgid: str, verbs: list[Any] | tuple[Any, ...] | None) -> Ack:
            """``Ack(msgid=msgid, verbs=verbs)``, made without the converter and validators
            when they would change nothing (see :func:`~._acks.of_dicts`)."""

        @classmethod
        def of_wire(cls, msgid: str, verbs: tuple[dict[str, Any], ...]) -> Ack:
            """:meth:`of_dicts` of verbs known to be a tuple of wire dicts already (see
            :func:`~._acks.of_wire`)."""

    @property
    def sid(self) -> None:
        """Always ``None``: an ack names a message, not a call (uniform with inbound types)."""
        return None

    @property
    def should_ack(self) -> bool:
        """Always ``False``: jambonz never acks what the app sends."""
        return False


# Ack's slots, set directly by Ack.of_dicts and Ack.of_wire (_acks.py), which check what
# msgid's validator and verbs' converter would (extra is a new empty dict: nothing to check).
_ACK_SETTERS: Final = dict(
    slot_setters(Ack, validated=frozenset({"msgid", "extra"}), converted=frozenset({"verbs"}))
)
if set(_ACK_SETTERS) != {"msgid", "verbs", "extra"}:
    raise TypeError("Ack.of_dicts sets msgid, verbs and extra: Ack's fields changed")
_acks.use_slot_setters(*(_ACK_SETTERS[name] for name in ("msgid", "verbs", "extra")))
# A class method calls its function as any callable: compiled in the compiled build, no
# interpreted call per reply there (issue 23).
Ack.of_dicts = classmethod(_acks.of_dicts)  # type: ignore[method-assign,assignment]
Ack.of_wire = classmethod(_acks.of_wire)  # type: ignore[method-assign,assignment]


def _check_command(inst: Command, attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError("Command.command must be a non-empty sub-type name such as 'redirect'")


def _check_data(inst: Command, attribute: Any, value: Any) -> None:
    if inst.command not in DATA_OPTIONAL_COMMANDS and js_falsy(value):
        raise ValueError(
            f"command {inst.command!r} needs truthy data: jambonz rejects a missing, null, "
            f"false, 0 or empty-string data with 'data property not supplied'"
        )


@attrs.frozen(kw_only=True)
class Command:
    """An app→jambonz command. Prefer the builders in :mod:`jbtrio.commands`.

    docs/jambonz.md, Commands, lists the sub-types jambonz reads and their ``data``.

    ``data`` is :data:`ABSENT` when the frame has no ``data`` key. ``queue_command`` is the wire
    ``queueCommand``; ``call_sid`` is the wire ``callSid`` (camelCase, top level) selecting the
    call leg; ``tool_call_id`` is top level for ``llm:tool-output``; ``msgid`` is only logged by
    jambonz, which never acks commands.
    """

    TYPE: ClassVar[str] = "command"

    command: str = attrs.field(validator=_check_command)
    data: Any = attrs.field(default=ABSENT, validator=_check_data)
    queue_command: bool | None = attrs.field(default=None, metadata=wire("queueCommand"))
    call_sid: str | None = attrs.field(default=None, metadata=wire("callSid"))
    tool_call_id: str | None = None
    msgid: str | None = None
    extra: Mapping[str, Any] = attrs.field(
        factory=dict, validator=validate_extra, metadata=reserved("type", "command", "data")
    )

    @property
    def sid(self) -> str | None:
        """The call leg the command targets (``callSid``), ``None`` for the socket's own call."""
        return self.call_sid

    @property
    def should_ack(self) -> bool:
        """Always ``False``: jambonz never acks commands."""
        return False


# --------------------------------------------------------------------------- hooks

#: wire key -> (attribute, check) of the command's optional top-level fields.
_COMMAND_SPEC: Final = spec_of(Command).checks


def ack_from_wire(obj: Any, _: Any = None) -> Ack:
    """Structure hook for ``ack`` (jambonz's rule: a non-empty string ``msgid``)."""
    msgid = obj.get("msgid")
    if type(msgid) is not str or not msgid:
        if "msgid" not in obj:
            raise ProtocolError("$.msgid: missing (an ack must name the msgid it answers)")
        if type(msgid) is str:
            raise ProtocolError("$.msgid: must not be empty")
        raise type_error("$.msgid", "string", msgid)
    extra: dict[str, Any] = {}
    verbs: list[Any] | None = None
    for key, value in obj.items():
        if key in ("type", "msgid"):
            continue
        if key == "data" and value is not None:
            if type(value) is not list:
                raise type_error("$.data", "array of verbs", value)
            for index, verb in enumerate(value):
                if type(verb) is not dict:
                    raise type_error(f"$.data[{index}]", "verb object", verb)
            verbs = value
        else:
            extra[key] = value
    return Ack(msgid=msgid, verbs=verbs, extra=extra)


def ack_to_wire(ack: Ack) -> dict[str, Any]:
    """Unstructure hook for :class:`Ack`."""
    out: dict[str, Any] = {"type": "ack", "msgid": ack.msgid}
    if ack.verbs is not None:
        out["data"] = list(ack.verbs)
    if ack.extra:
        out.update(ack.extra)
    return out


def command_from_wire(obj: Any, _: Any = None) -> Command:
    """Structure hook for ``command`` (jambonz's rules: string ``command``, truthy ``data``)."""
    command = obj.get("command")
    if type(command) is not str or not command:
        if "command" not in obj:
            raise ProtocolError("$.command: missing (a command needs a sub-type)")
        if type(command) is str:
            raise ProtocolError("$.command: must not be empty")
        raise type_error("$.command", "string", command)
    data = obj.get("data", ABSENT)
    if command not in DATA_OPTIONAL_COMMANDS and js_falsy(data):
        shown = "missing" if data is ABSENT else f"{json_type(data)} {data!r}"
        raise ProtocolError(
            f"$.data: command {command!r} needs truthy data, got {shown} "
            f"(jambonz answers 'data property not supplied')"
        )
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in obj.items():
        if key in ("type", "command", "data"):
            continue
        entry = _COMMAND_SPEC.get(key)
        if entry is None or value is None:
            extra[key] = value
        else:
            kwargs[entry[0]] = entry[1](value, f"$.{key}")
    return Command(command=command, data=data, extra=extra, **kwargs)


def command_to_wire(cmd: Command) -> dict[str, Any]:
    """Unstructure hook for :class:`Command` (wire names ``queueCommand`` and ``callSid``)."""
    out: dict[str, Any] = {"type": "command", "command": cmd.command}
    if cmd.queue_command is not None:
        out["queueCommand"] = cmd.queue_command
    if cmd.tool_call_id is not None:
        out["tool_call_id"] = cmd.tool_call_id
    if cmd.data is not ABSENT:
        out["data"] = cmd.data
    if cmd.call_sid is not None:
        out["callSid"] = cmd.call_sid
    if cmd.msgid is not None:
        out["msgid"] = cmd.msgid
    if cmd.extra:
        out.update(cmd.extra)
    return out


register("ack", Ack, ack_from_wire, ack_to_wire)
register("command", Command, command_from_wire, command_to_wire)
