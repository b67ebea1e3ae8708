"""An :class:`~._outbound.Ack` made for a reply without its generated ``__init__``:
``Ack.of_dicts`` and ``Ack.of_wire`` are these functions, bound as class methods.

Their own module so that the compiled build compiles them (issue 23): ``Ack`` is an attrs
class with a converter and validators and stays interpreted, and the call core makes one of
these per reply (a class method calls its function as any callable: no interpreted call).
Their arguments are typed ``Any`` here (``Ack`` declares their types): they check them
themselves, and a compiled function would refuse a wrong type before that check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["of_dicts", "of_wire", "use_slot_setters"]

_A = TypeVar("_A")
_Setter = Callable[[Any, Any], None]


def _unset(ack: Any, value: Any) -> None:
    raise RuntimeError("Ack's slot setters are not given yet (_outbound.py gives them)")


# Ack's slot setters (msgid, verbs, extra), given by _outbound.py once Ack exists: this
# module cannot import Ack's, which imports it (no import circle).
_set_msgid: _Setter = _unset
_set_verbs: _Setter = _unset
_set_extra: _Setter = _unset


def use_slot_setters(msgid: _Setter, verbs: _Setter, extra: _Setter) -> None:
    """Ack's slot setters, which the functions here call (``Ack``'s module checked them)."""
    global _set_msgid, _set_verbs, _set_extra
    _set_msgid, _set_verbs, _set_extra = msgid, verbs, extra


def of_dicts(cls: type[_A], msgid: Any, verbs: Any) -> _A:
    """``Ack(msgid=msgid, verbs=verbs)``, made without the converter and validators when
    they would change nothing: a non-empty ``msgid`` and verbs that are all dicts already.

    Why (issue 23): the call core makes one per reply, and the generated ``__init__`` (the
    converter walking the verbs again, two validators, the ``extra`` factory) was the
    largest single cost of a reply. Anything else goes through the constructor.
    """
    if type(msgid) is not str or not msgid:
        return cls(msgid=msgid, verbs=verbs)  # type: ignore[call-arg]
    if verbs is not None:
        for verb in verbs:
            if not isinstance(verb, dict):
                return cls(msgid=msgid, verbs=verbs)  # type: ignore[call-arg]
        verbs = tuple(verbs)
    ack = object.__new__(cls)
    _set_msgid(ack, msgid)
    _set_verbs(ack, verbs)
    _set_extra(ack, {})
    return ack


def of_wire(cls: type[_A], msgid: Any, verbs: Any) -> _A:
    """:meth:`of_dicts` of verbs known to be a tuple of wire dicts already (what the call
    core's receipts make of a reply's verbs): no walk over them again (issue 23)."""
    if type(msgid) is not str or not msgid or type(verbs) is not tuple:
        return cls(msgid=msgid, verbs=verbs)  # type: ignore[call-arg]
    ack = object.__new__(cls)
    _set_msgid(ack, msgid)
    _set_verbs(ack, verbs)
    _set_extra(ack, {})
    return ack
