"""A call info out of a decoded JSON object: :func:`structure_call_info`, on every hook.

Its own module so that the compiled build compiles it (issue 23): ``_callinfo.py``'s class
is built from run-time annotations and stays interpreted, while this loop over a dozen keys
per ``verb:hook`` is plain code over that class.
"""

from __future__ import annotations

from typing import Any, Final

from .._errors import ProtocolError
from ._callinfo import CALL_INFO_SPEC, CallInfo
from ._fields import MAX_ID_CHARS, check_id, check_int, check_number, check_object, check_str
from ._nesting import check_nesting

__all__ = ["structure_call_info"]

#: Wire keys of the fields whose only check is "a string" and whose attribute has the same
#: name (all but ``from``): a string there is stored as it is, with no lookup.
_PLAIN_STR_KEYS: Final = frozenset(
    key for key, (attr, check) in CALL_INFO_SPEC.items() if check is check_str and key == attr
)
#: The same for the id fields (``call_sid``): a string of at most MAX_ID_CHARS characters.
_PLAIN_ID_KEYS: Final = frozenset(
    key for key, (attr, check) in CALL_INFO_SPEC.items() if check is check_id and key == attr
)
#: And of the number fields (``sip_status``, ``duration``): an integer there is stored as it is.
_PLAIN_INT_KEYS: Final = frozenset(
    key
    for key, (attr, check) in CALL_INFO_SPEC.items()
    if (check is check_int or check is check_number) and key == attr
)
_new_call_info: Final = object.__new__
_set_dict: Final = object.__setattr__


def structure_call_info(obj: Any, path: str = "$.data", level: int = 0) -> CallInfo:
    """Build a :class:`~jbtrio.CallInfo` from a decoded JSON object; ProtocolError names the
    bad path. With a ``level`` (the nesting of ``obj``'s values in their frame: 2 for a
    message's ``data``), a container among its values is held to MAX_DEPTH too.

    The same checks and the same instance as ``CallInfo(extra=extra, **kwargs)`` (the
    lossless rule holds by construction: the keys are sorted as :func:`~._fields.split_known`
    sorts them), made without the constructor (see ``_callinfo.py``).
    """
    if type(obj) is not dict:
        obj = check_object(obj, path)  # a dict subclass passes, anything else raises
    # split_known's loop, with no lookup for the usual value, a string of a plain string
    # field (issue 23: a dozen of them per verb:hook); every other key takes its path.
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in obj.items():
        kind = type(value)
        if (
            kind is str
            and (key in _PLAIN_STR_KEYS or (key in _PLAIN_ID_KEYS and len(value) <= MAX_ID_CHARS))
        ) or (kind is int and key in _PLAIN_INT_KEYS):
            fields[key] = value
            continue
        if level and (kind is dict or kind is list):
            check_nesting(value, level)
        entry = CALL_INFO_SPEC.get(key)
        if entry is None or value is None:
            extra[key] = value
            continue
        attr, check = entry
        try:
            fields[attr] = check(value, "")  # no path string unless it fails
        except ProtocolError:
            check(value, f"{path}.{key}")  # the same error, with the exact path
            raise
    fields["extra"] = extra
    info = _new_call_info(CallInfo)
    _set_dict(info, "__dict__", fields)
    return info
