"""Text frames to message objects and back: :func:`decode` and :func:`encode`.

There is one cattrs converter (orjson preconf) for the process, :data:`converter`. Each message
class has a hand-written structure and unstructure hook registered on it: generated cattrs code
would be slower (a ``verb:hook`` has some 30 optional call-info fields) and would report errors
as exception groups, while jbtrio promises a single :class:`~jbtrio.ProtocolError` with a JSON
path and the raw text. The converter still gives users the usual entry points,
``converter.structure(obj, VerbHook)`` and ``converter.unstructure(msg)``.

:func:`decode` is direction-agnostic: it reads jambonz's messages and the app's ``ack`` and
``command`` alike, so a fake jambonz (``jbtrio.testing``) and round-trip tests use the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

import orjson
from cattrs.preconf.orjson import make_converter

from .._errors import MessageTooLargeError, ProtocolError
from ._callinfo import MAX_ID_CHARS, CallInfo, json_type, structure_call_info, unstructure_call_info
from ._inbound import (
    INBOUND_HOOKS,
    CallStatus,
    DialConfirm,
    JambonzError,
    LlmEvent,
    LlmToolCall,
    SessionAdulting,
    SessionNew,
    SessionReconnect,
    SessionRedirect,
    TtsStreamingEvent,
    TtsTokensResult,
    UnknownMessage,
    VerbHook,
    VerbStatus,
    unknown_from_wire,
    unknown_to_wire,
)
from ._outbound import Ack, Command, ack_from_wire, ack_to_wire, command_from_wire, command_to_wire

__all__ = [
    "MAX_DEPTH",
    "MAX_FRAME_BYTES",
    "MAX_ID_CHARS",
    "Message",
    "converter",
    "decode",
    "encode",
    "encode_bytes",
]

#: jambonz's default cap on frames from the app (``JAMBONES_WS_MAX_PAYLOAD``); a larger frame
#: makes it close the socket with 1009 and lose the message.
MAX_FRAME_BYTES: Final = 24576

Message: TypeAlias = (
    SessionNew
    | SessionReconnect
    | SessionRedirect
    | SessionAdulting
    | CallStatus
    | VerbHook
    | DialConfirm
    | VerbStatus
    | JambonzError
    | LlmEvent
    | LlmToolCall
    | TtsTokensResult
    | TtsStreamingEvent
    | Ack
    | Command
    | UnknownMessage
)

#: The process-wide converter; the message classes' hooks are registered on it.
converter: Final = make_converter()

_Structure = Callable[[Any, Any], Any]
_Unstructure = Callable[[Any], dict[str, Any]]

_HOOKS: dict[str, tuple[type[Any], _Structure, _Unstructure]] = {
    **INBOUND_HOOKS,
    "ack": (Ack, ack_from_wire, ack_to_wire),
    "command": (Command, command_from_wire, command_to_wire),
}
for _cls, _structure, _unstructure in _HOOKS.values():
    converter.register_structure_hook(_cls, _structure)
    converter.register_unstructure_hook(_cls, _unstructure)
converter.register_structure_hook(UnknownMessage, unknown_from_wire)
converter.register_unstructure_hook(UnknownMessage, unknown_to_wire)
converter.register_structure_hook(CallInfo, lambda obj, _: structure_call_info(obj))
converter.register_unstructure_hook(CallInfo, unstructure_call_info)

# decode() looks hooks up by wire type once, here, instead of dispatching per message.
_DECODERS: Final[dict[str, _Structure]] = {
    wire_type: converter.get_structure_hook(cls) for wire_type, (cls, _, _) in _HOOKS.items()
}
#: Every class with its own hooks, for tests and tools that want to enumerate the model.
_HOOKS_CLASSES: Final = tuple(cls for cls, _, _ in _HOOKS.values())

_ENCODERS: Final[dict[type[Any], _Unstructure]] = {
    cls: unstructure for cls, _, unstructure in _HOOKS.values()
}


def _structure_message(obj: Any, _: Any = None) -> Message:
    """Structure a decoded JSON object into the message class its ``type`` names."""
    if type(obj) is not dict:
        raise ProtocolError(f"$: expected a JSON object, got {json_type(obj)}")
    wire_type = obj.get("type")
    if type(wire_type) is not str:
        if "type" not in obj:
            raise ProtocolError("$.type: missing (every message has a string type)")
        raise ProtocolError(f"$.type: expected string, got {json_type(wire_type)}")
    structure = _DECODERS.get(wire_type)
    if structure is None:
        return unknown_from_wire(obj)
    return structure(obj, None)  # type: ignore[no-any-return]


converter.register_structure_hook_func(lambda t: t == Message, _structure_message)


#: Deepest container nesting a frame may have: orjson reads 1024 levels but writes only 254,
#: and a frame jbtrio accepts must be one it can send back (the fake jambonz, logging, tests).
MAX_DEPTH: Final = 254


def _may_be_too_deep(text: str | bytes | bytearray | memoryview) -> bool:
    """Cheap necessary condition for a nesting deeper than MAX_DEPTH: enough brackets."""
    if isinstance(text, str):
        return text.count("[") + text.count("{") > MAX_DEPTH
    data = bytes(text)
    return data.count(b"[") + data.count(b"{") > MAX_DEPTH


def _depth(obj: Any) -> int:
    """The container nesting depth of a decoded JSON value (iterative: no recursion limit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def decode(text: str | bytes) -> Message:
    """Parse one WebSocket text frame into a message object.

    Any input that is not a valid jambonz message raises :class:`~jbtrio.ProtocolError` (a
    ``ValueError``) carrying ``text`` and saying what is wrong: invalid UTF-8, invalid JSON, not
    an object, a missing or non-string ``type``, a missing ``msgid``, ``data`` that is not an
    object, a field of the wrong type (with its JSON path), a ``msgid`` or ``call_sid``
    longer than :data:`MAX_ID_CHARS`, or nesting deeper than :data:`MAX_DEPTH`. An unknown
    ``type`` is not an error: it gives an :class:`UnknownMessage`.
    """
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if not isinstance(text, str | bytes | bytearray | memoryview):
            raise ProtocolError(
                f"expected str or bytes, got {type(text).__name__}: {text!r:.200}"
            ) from None
        reason = str(exc)
        if "UTF-8" in reason:
            raise ProtocolError(f"invalid UTF-8: {reason}", text) from None
        raise ProtocolError(f"invalid JSON: {reason}", text) from None
    if _may_be_too_deep(text) and _depth(obj) > MAX_DEPTH:
        raise ProtocolError(
            f"nested deeper than {MAX_DEPTH} levels (such a frame could not be re-encoded)", text
        )
    try:
        return _structure_message(obj)
    except ProtocolError as exc:
        raise ProtocolError(exc.reason, text) from None


def _default(value: Any) -> Any:
    """orjson fallback: verb objects become their wire dict, other mappings become dicts."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(message: Message, *, max_bytes: int | None = MAX_FRAME_BYTES) -> str:
    """Serialize a message to the JSON text of one WebSocket frame.

    Raises :class:`~jbtrio.MessageTooLargeError` when the UTF-8 size exceeds ``max_bytes``
    (jambonz's 24 KiB default), before anything could be sent. Pass ``max_bytes=None`` for
    jambonz→app frames, which have no cap. A value that is not JSON serializable raises
    ``TypeError``.
    """
    return encode_bytes(message, max_bytes=max_bytes).decode()


def encode_bytes(message: Message, *, max_bytes: int | None = MAX_FRAME_BYTES) -> bytes:
    """:func:`encode`, as the UTF-8 bytes a text frame carries (what the writer sends)."""
    unstructure = _ENCODERS.get(type(message)) or converter.get_unstructure_hook(type(message))
    payload = orjson.dumps(unstructure(message), default=_default)
    if max_bytes is not None and len(payload) > max_bytes:
        if isinstance(message, Command):
            kind = f"{message.command!r} command"
        elif isinstance(message, UnknownMessage):
            kind = f"{message.type!r} message"
        else:
            kind = f"{message.TYPE!r} message"
        raise MessageTooLargeError(len(payload), max_bytes, kind)
    return payload
