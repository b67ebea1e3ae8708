"""The commands jambonz 10.x/11.x added beyond the agent's: speech recognition and noise
isolation changed mid-call, speech and audio into a room.

Part of :mod:`jbtrio.commands` (which re-exports every name here). Shapes from
``@jambonz/schema``'s ``docs/guides/session-commands.md`` and ``@jambonz/sdk`` 0.10.1;
jambonz 0.9.8 ignores these sub-types (only logged), so a call whose target is
``jambonz="0.9"`` refuses to send them (:data:`V10_COMMANDS`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

from ._commands_ai import choice as _choice
from ._commands_ai import mapping as _mapping
from ._wire import Command, SupportsToDict

__all__ = [
    "V10_COMMANDS",
    "NoiseIsolationStatus",
    "noise_isolation",
    "room_play",
    "room_say",
    "stt_reconfigure",
]

NoiseIsolationStatus = Literal["enable", "disable"]

#: The sub-types jambonz 10.x/11.x added; jambonz 0.9.8 ignores them.
V10_COMMANDS: Final = frozenset(
    {"agent:update", "stt:reconfigure", "noiseIsolation:status", "room:say", "room:play"}
)


def stt_reconfigure(language_hints: Iterable[str], *, call_sid: str | None = None) -> Command:
    """Change the recognizer's language hints mid-call (Deepgram Flux multilingual); an empty
    list clears them (automatic detection)."""
    hints = list(language_hints)
    if not all(isinstance(h, str) and h for h in hints):
        raise ValueError(f"language_hints must be BCP-47 codes such as 'en'; got {hints!r}")
    return Command(command="stt:reconfigure", data={"languageHints": hints}, call_sid=call_sid)


def noise_isolation(
    status: NoiseIsolationStatus = "enable",
    *,
    vendor: str | None = None,
    level: int | None = None,
    model: str | None = None,
    call_sid: str | None = None,
) -> Command:
    """Turn server-side noise isolation on or off (``vendor`` ``krisp``/``rnnoise``,
    ``level`` 0-100)."""
    _choice("status", status, NoiseIsolationStatus)
    data: dict[str, Any] = {"noise_isolation_status": status}
    if vendor is not None:
        data["vendor"] = vendor
    if level is not None:
        if type(level) is not int or not 0 <= level <= 100:
            raise ValueError(f"level must be an integer from 0 to 100; got {level!r}")
        data["level"] = level
    if model is not None:
        data["model"] = model
    return Command(command="noiseIsolation:status", data=data, call_sid=call_sid)


def room_say(
    text: str | Iterable[str],
    *,
    synthesizer: Mapping[str, Any] | SupportsToDict | None = None,
    loop: int | str | None = None,
    id: str | None = None,
    replace: bool | None = None,
    call_sid: str | None = None,
) -> Command:
    """Speak ``text`` into the room (conference) the call is in: every member hears it.
    ``id`` comes back in the room's ``say-start``/``say-done`` status events; ``replace``
    cuts what the room is saying."""
    data: dict[str, Any] = {"text": text if isinstance(text, str) else list(text)}
    if not data["text"]:
        raise ValueError("room_say needs text")
    if synthesizer is not None:
        to_dict = getattr(synthesizer, "to_dict", None)
        data["synthesizer"] = (
            to_dict() if callable(to_dict) else _mapping("synthesizer", synthesizer)
        )
    _room_options(data, loop=loop, id=id, replace=replace)
    return Command(command="room:say", data=data, call_sid=call_sid)


def room_play(
    url: str,
    *,
    id: str | None = None,
    replace: bool | None = None,
    call_sid: str | None = None,
) -> Command:
    """Play ``url`` (a file or tone) into the room the call is in, heard by every member."""
    if not isinstance(url, str) or not url:
        raise ValueError("room_play needs the url of the audio")
    data: dict[str, Any] = {"url": url}
    _room_options(data, loop=None, id=id, replace=replace)
    return Command(command="room:play", data=data, call_sid=call_sid)


def _room_options(
    data: dict[str, Any], *, loop: int | str | None, id: str | None, replace: bool | None
) -> None:
    if loop is not None:
        data["loop"] = loop
    if id is not None:
        data["id"] = str(id)
    if replace is not None:
        data["replace"] = bool(replace)
