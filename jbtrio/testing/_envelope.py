"""The JSON envelope the fake speaks, built and checked at the JSON level like jambonz does.

Deliberately independent of jbtrio's own codec: the fake is a clean-room peer, so a codec bug
in the SDK cannot be masked by both sides sharing it. Frames out are plain dicts serialised with
orjson; frames in are checked with the same truthiness rules as WsRequestor's ``_onMessage``
(docs/jambonz.md, Commands), producing the same ``details`` strings an app would see.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

import attrs
import orjson

__all__ = [
    "ACK_TYPES",
    "HOOK_TYPES",
    "V10_HOOK_TYPES",
    "AppAck",
    "AppCommand",
    "InvalidAppMessage",
    "build_frame",
    "dumps",
    "js_truthy",
    "loads_or_none",
    "new_msgid",
    "parse_app_frame",
    "snake_keys",
]

_BASE58 = "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
MSGID_LENGTH = 22

#: Types jambonz waits an ack for (the inverse of its misnamed MTYPE_WANTS_ACK).
ACK_TYPES = frozenset(
    {
        "session:new",
        "session:reconnect",
        "session:redirect",
        "session:adulting",
        "verb:hook",
        "dial:confirm",
    }
)
#: The only types that carry a top-level ``hook`` (WSR:204-206).
HOOK_TYPES = frozenset(
    {"verb:hook", "dial:confirm", "session:redirect", "llm:event", "llm:tool-call"}
)
#: jambonz 10.x/11.x adds the ``agent`` verb's two hook messages.
V10_HOOK_TYPES = HOOK_TYPES | {"agent:event", "agent:tool-call"}
#: Keys whose key and whole value are passed verbatim by snakecase-keys (WSR:190).
VERBATIM_KEYS = frozenset({"customerData", "sip", "env_vars", "args"})
#: Commands that may come without ``data`` (WSR:25-29).
COMMANDS_WITHOUT_DATA = frozenset({"llm:tool-output", "tts:flush", "tts:clear"})


def new_msgid() -> str:
    """A fresh short-uuid style msgid: a uuid4 in flickrBase58, padded to 22 characters."""
    n = uuid.uuid4().int
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_BASE58[r])
    return "".join(reversed(out)).rjust(MSGID_LENGTH, _BASE58[0])


_CAMEL_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")
_SEPARATORS = re.compile(r"[\s\-.]+")


def snake_case(key: str) -> str:
    """Convert one key as to-snake-case does: camel humps and ``-``/space/``.`` become ``_``."""
    s = _CAMEL_1.sub(r"\1_\2", key)
    s = _CAMEL_2.sub(r"\1_\2", s)
    return _SEPARATORS.sub("_", s).strip("_").lower()


def snake_keys(value: Any) -> Any:
    """Recursively snake-case dict keys, except the verbatim subtrees jambonz leaves alone."""
    if isinstance(value, dict):
        return {
            (k if k in VERBATIM_KEYS else snake_case(k)): (
                v if k in VERBATIM_KEYS else snake_keys(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value


def build_frame(
    msg_type: str,
    data: dict[str, Any],
    *,
    msgid: str,
    call_sid: str | None,
    hook: str | None = None,
) -> dict[str, Any]:
    """The envelope of WSR:195-209: ``call_sid`` only when known, ``hook`` only on hook types."""
    frame: dict[str, Any] = {"type": msg_type, "msgid": msgid}
    if call_sid is not None:
        frame["call_sid"] = call_sid
    if msg_type in V10_HOOK_TYPES and hook is not None:
        frame["hook"] = hook
    frame["data"] = snake_keys(data)
    return frame


def js_truthy(value: object) -> bool:
    """JavaScript truthiness, which is what jambonz's ``assert.ok`` checks use."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)  # NaN is falsy
    if isinstance(value, str):
        return value != ""
    return True


def _js_repr(value: object) -> str:
    """How a JS template literal would print a parsed JSON value in an error message."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if isinstance(value, list | dict):
        return "[object Object]" if isinstance(value, dict) else ",".join(map(_js_repr, value))
    return orjson.dumps(value).decode()


@attrs.frozen
class AppAck:
    """A well-formed ``ack`` from the app; ``data`` is whatever it carried (maybe absent)."""

    msgid: str
    data: Any
    has_data: bool


@attrs.frozen
class AppCommand:
    """A well-formed ``command``: name, payload and the envelope options jambonz reads."""

    command: str
    data: Any
    queue_command: bool
    call_sid: str | None
    tool_call_id: Any
    raw: dict[str, Any]


@attrs.frozen
class InvalidAppMessage:
    """A frame jambonz answers with ``jambonz:error`` InvalidMessage (the socket stays open)."""

    details: str
    content: str


ParsedAppFrame = AppAck | AppCommand | InvalidAppMessage


def _json_error(text: str) -> str:
    """A V8-style JSON.parse message (Node 20), so apps can log what jambonz would say."""
    if not text.strip():
        return "Unexpected end of JSON input"
    snippet = text if len(text) <= 30 else text[:30] + "..."
    token = text.strip()[0]
    return f"Unexpected token '{token}', \"{snippet}\" is not valid JSON"


def parse_app_frame(text: str) -> ParsedAppFrame:
    """Classify one app frame as WsRequestor._onMessage does, in the same order of checks."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return InvalidAppMessage(_json_error(text), text)
    if obj is None:
        return InvalidAppMessage("Cannot read properties of null (reading 'type')", text)
    # Any other non-object (number, string, array) has no ``type`` property in JS either.
    msg: dict[str, Any] = obj if isinstance(obj, dict) else {}
    msg_type = msg.get("type")
    if not js_truthy(msg_type):
        return InvalidAppMessage("type property not supplied", text)
    if msg_type == "ack":
        if not js_truthy(msg.get("msgid")):
            return InvalidAppMessage("msgid property not supplied", text)
        return AppAck(msgid=str(msg["msgid"]), data=msg.get("data"), has_data="data" in msg)
    if msg_type == "command":
        command = msg.get("command")
        if not js_truthy(command):
            return InvalidAppMessage("command property not supplied", text)
        if not js_truthy(msg.get("data")) and command not in COMMANDS_WITHOUT_DATA:
            return InvalidAppMessage("data property not supplied", text)
        return AppCommand(
            command=_js_repr(command),
            data=msg.get("data"),
            queue_command=msg.get("queueCommand") is True,
            call_sid=msg.get("callSid") if isinstance(msg.get("callSid"), str) else None,
            tool_call_id=msg.get("tool_call_id"),
            raw=msg,
        )
    return InvalidAppMessage(f"invalid type property: {_js_repr(msg_type)}", text)


def dumps(frame: dict[str, Any]) -> str:
    """Serialise a frame as the text of one websocket text message."""
    return orjson.dumps(frame).decode()


def loads_or_none(text: str) -> dict[str, Any] | None:
    """Parse a frame for the transcript; ``None`` when it is not a JSON object."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None
