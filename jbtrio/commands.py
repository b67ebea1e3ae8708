"""Typed builders for the ``command`` sub-types: the 23 jambonz-feature-server 0.9.8 handles,
and the five jambonz 10.x/11.x adds (:data:`V10_COMMANDS`).

Each function returns a :class:`~jbtrio.Command` whose JSON is exactly what 0.9.8's
``CallSession._onCommand`` reads (docs/jambonz.md, Commands). Where the docs or the official SDKs
send a shape the server cannot read, the server's shape wins: ``sip:request`` data is
``{"sip_request": {...}}`` and ``dtmf`` data is ``{"dtmf": {"digit": ..., "duration": ...}}`` (both
accept ``superset=True`` to add the documented flat keys too, for servers of unknown version).
Scalar data (``boostAudioSignal``, ``media:path``) is sent as is, not wrapped.

Bad values raise ``ValueError`` here, at construction: jambonz reports a bad command only as a
log line or a later ``jambonz:error``, far from the code that built it.

Builders that act on one call leg (``whisper``, ``dub``, ``mute:status``, ``sip:request``,
``dtmf``, ``boostAudioSignal``) take ``call_sid=`` (the top-level ``callSid``; default: the
socket's own call; pass a dialed B-leg's sid to target it).

jambonz 10.x/11.x adds ``agent:update`` (:func:`agent_update` and its four forms, for a
running ``agent`` verb), ``stt:reconfigure``, ``noiseIsolation:status``, ``room:say`` and
``room:play``; shapes from ``@jambonz/schema``'s ``docs/guides/session-commands.md`` and
``@jambonz/sdk`` 0.10.1. jambonz 0.9.8 ignores them (only logged), so a call whose target is
``jambonz="0.9"`` refuses to send them.

There is deliberately no ``tag`` builder: the Node and Python SDKs send a ``tag`` command, but
0.9.8's ``_onCommand`` has no ``tag`` case and silently ignores it (docs/jambonz.md, Commands). To
set customer data mid-call, send a ``tag`` verb, e.g. ``redirect([tag_verb], queue=True)``, which
runs it after the current stack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any, Final, Literal, TypeAlias

from ._commands_ai import (
    AgentUpdateType,
    ToolVendor,
    agent_generate_reply,
    agent_inject_context,
    agent_update,
    agent_update_instructions,
    agent_update_tools,
    google_tool_results,
    llm_tool_output,
    llm_update,
    tool_result,
)
from ._commands_ai import choice as _choice
from ._commands_ai import mapping as _mapping
from ._commands_v10 import (
    V10_COMMANDS,
    NoiseIsolationStatus,
    noise_isolation,
    room_play,
    room_say,
    stt_reconfigure,
)
from ._errors import from_none
from ._wire import Command, SupportsToDict, verb_dicts

__all__ = [
    "V10_COMMANDS",
    "AgentUpdateType",
    "NoiseIsolationStatus",
    "ToolVendor",
    "agent_generate_reply",
    "agent_inject_context",
    "agent_update",
    "agent_update_instructions",
    "agent_update_tools",
    "boost_audio_signal",
    "conf_hold",
    "conf_mute",
    "conf_participant_action",
    "config",
    "dial",
    "dtmf",
    "dub",
    "google_tool_results",
    "hangup",
    "listen_status",
    "llm_tool_output",
    "llm_update",
    "media_path",
    "mute",
    "no_answer",
    "noise_isolation",
    "record",
    "redirect",
    "redirect_legs",
    "redirect_to_hook",
    "room_play",
    "room_say",
    "sip_request",
    "stream_status",
    "stt_reconfigure",
    "tool_result",
    "transcribe_status",
    "tts_clear",
    "tts_flush",
    "tts_tokens",
    "whisper",
]

Hook: TypeAlias = str | Mapping[str, Any] | SupportsToDict
"""A hook as the verbs take it: a path or URL, ``{"url": ..., "method": ..., ...}`` or a
:class:`jbtrio.verbs.Hook`."""
Verbs: TypeAlias = Iterable[Any] | Mapping[str, Any] | SupportsToDict
"""Verb dicts or verb objects with ``to_dict()`` (one verb alone is accepted too)."""

MuteStatus = Literal["mute", "unmute"]
HoldStatus = Literal["hold", "unhold"]
PauseResume = Literal["pause", "resume"]
DubAction = Literal["addTrack", "removeTrack", "silenceTrack", "playOnTrack", "sayOnTrack"]
RecordAction = Literal[
    "startCallRecording", "stopCallRecording", "pauseCallRecording", "resumeCallRecording"
]
RecordType = Literal["siprec", "cloud"]
ParticipantAction = Literal[
    "tag", "untag", "coach", "uncoach", "hold", "unhold", "mute", "unmute", "kick"
]
MediaPath = Literal["no-media", "partial-media", "full-media"]
DialTargetType = Literal["phone", "sip", "user", "teams"]

_DTMF_DIGITS: Final = frozenset("0123456789*#ABCDabcd")
_DECIBELS: Final = re.compile(r"^\s*[+-]?\d+(\.\d+)?\s*(dB)?\s*$", re.IGNORECASE)
_TTS_HIGH_WATER: Final = 1000


def _hook(name: str, value: object) -> str | dict[str, Any]:
    if isinstance(value, str) and value:
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        value = to_dict()
    if isinstance(value, Mapping) and isinstance(value.get("url"), str) and value["url"]:
        return dict(value)
    raise ValueError(
        f"{name} must be a non-empty path/URL or a mapping with a 'url'; got {value!r}"
    )


def _path(name: str, value: object) -> str:
    # conference wait hooks are read as plain URL strings by jambonz (docs/jambonz.md, Commands).
    if isinstance(value, str) and value:
        return value
    raise ValueError(f"{name} must be a non-empty path or URL string; got {value!r}")


def _verb_list(name: str, verbs: Verbs) -> list[dict[str, Any]]:
    try:
        result = verb_dicts(verbs)
    except TypeError as exc:
        raise from_none(ValueError(f"{name}: {exc}"))  # noqa: B904
    return list(result or ())


def _verb_name(verb: Mapping[str, Any]) -> str | None:
    name = verb.get("verb")
    if isinstance(name, str):
        return name
    if len(verb) == 1:  # the {"say": {...}} form normalizeJambones also accepts
        return next(iter(verb))
    return None


# --------------------------------------------------------------------------- redirect


def redirect(verbs: Verbs, *, queue: bool = False) -> Command:
    """Replace the verb stack with ``verbs`` (``queue=True``: append them to it instead).

    Also wakes a session that idles with an empty stack. ``queueCommand`` is always sent.
    """
    return Command(
        command="redirect", data=_verb_list("redirect", verbs), queue_command=bool(queue)
    )


def redirect_to_hook(
    call_hook: Hook | None = None, *, child_call_hook: Hook | None = None
) -> Command:
    """Move the call (or, with ``child_call_hook``, a connected dial's B-leg) to a new hook.

    ``call_hook`` makes jambonz send ``session:redirect`` and the ack's verbs replace the app;
    ``child_call_hook`` detaches the B-leg, which then runs as its own session on an
    ``/adulting`` socket.
    """
    data: dict[str, Any] = {}
    if call_hook is not None:
        data["call_hook"] = _hook("call_hook", call_hook)
    if child_call_hook is not None:
        data["child_call_hook"] = _hook("child_call_hook", child_call_hook)
    if not data:
        raise ValueError("redirect_to_hook needs call_hook, child_call_hook or both")
    return Command(command="redirect", data=data)


def redirect_legs(parent_call: Verbs | None = None, child_call: Verbs | None = None) -> Command:
    """Split a connected ``dial``: give the parent and/or the child leg their own verbs.

    If only ``child_call`` is given, the parent's current verb (the dial) is killed.
    """
    data: dict[str, Any] = {}
    if parent_call is not None:
        data["parent_call"] = _verb_list("parent_call", parent_call)
    if child_call is not None:
        data["child_call"] = _verb_list("child_call", child_call)
    if not data:
        raise ValueError("redirect_legs needs parent_call, child_call or both")
    return Command(command="redirect", data=data)


# --------------------------------------------------------------------------- call control


def hangup() -> Command:
    """Hang up the (answered) call: ``call:status`` with ``call_status: completed``."""
    return Command(command="call:status", data={"call_status": "completed"})


def no_answer() -> Command:
    """Reject an unanswered inbound call (503) or cancel an unanswered outbound one."""
    return Command(command="call:status", data={"call_status": "no-answer"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@cache
def _config_properties() -> frozenset[str]:
    """The ``config`` verb's property names from jambonz's own verb spec (read once)."""
    spec_file = resources.files("jbtrio").joinpath("verbs/data/verb-specifications.json")
    specs = json.loads(spec_file.read_text(encoding="utf-8"))
    return frozenset(specs["config"]["properties"]) - {"id"}


def config(props: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Command:
    """Run a ``config`` verb now with these properties (``config(notify_events=True)``).

    Keys may be snake_case (converted to jambonz's camelCase: ``notify_events`` →
    ``notifyEvents``) or camelCase, given as keyword arguments or as a mapping. Only top-level
    keys are converted; nested values are sent as given (objects with ``to_dict()`` are
    expanded). Unknown properties raise ``ValueError``, as jambonz's validator would reject them.
    """
    merged: dict[str, Any] = {}
    for source in (props or {}), kwargs:
        for key, value in source.items():
            wire = _camel(key)
            if wire not in _config_properties():
                known = ", ".join(sorted(_config_properties()))
                raise ValueError(f"config has no property {wire!r}; known: {known}")
            merged[wire] = value.to_dict() if callable(getattr(value, "to_dict", None)) else value
    if not merged:
        raise ValueError("config needs at least one property")
    return Command(command="config", data=merged)


def dial(
    to: Mapping[str, Any],
    *,
    from_: str,
    call_hook: Hook | None = None,
    application_sid: str | None = None,
    call_status_hook: Hook | None = None,
    tag: Mapping[str, Any] | None = None,
    timeout: int | None = None,
    amd: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Command:
    """Place a new outbound call on this account (the REST ``createCall`` body).

    ``to`` is a target such as ``{"type": "phone", "number": "+15085551212"}``; ``from_`` is the
    calling number. The new call runs ``call_hook`` (relative hooks resolve against this socket's
    URL) or the application ``application_sid``; one of them is required. ``extra`` adds any
    other createCall property verbatim (``speech_synthesis_vendor``, ``caller_name``, ...).
    """
    target = _mapping("to", to)
    _choice("to['type']", target.get("type"), DialTargetType)
    if not isinstance(from_, str) or not from_:
        raise ValueError("from_ must be a non-empty calling number or SIP user")
    if call_hook is None and application_sid is None:
        raise ValueError("dial needs call_hook or application_sid for the new call's app")
    data: dict[str, Any] = {"from": from_, "to": target}
    if call_hook is not None:
        data["call_hook"] = _hook("call_hook", call_hook)
    if application_sid is not None:
        data["application_sid"] = application_sid
    if call_status_hook is not None:
        data["call_status_hook"] = _hook("call_status_hook", call_status_hook)
    if tag is not None:
        data["tag"] = _mapping("tag", tag)
    if timeout is not None:
        if type(timeout) is not int or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
        data["timeout"] = timeout
    if amd is not None:
        data["amd"] = _mapping("amd", amd)
    if headers is not None:
        data["headers"] = _mapping("headers", headers)
    if extra:
        data.update(extra)
    return Command(command="dial", data=data)


def dub(
    action: DubAction,
    track: str,
    *,
    play: str | None = None,
    say: str | Mapping[str, Any] | None = None,
    loop: bool | None = None,
    gain: int | float | str | None = None,
    call_sid: str | None = None,
) -> Command:
    """Add, remove, silence or play/say on an extra audio track of a call leg (the dub verb).

    ``playOnTrack`` needs ``play`` (a URL) and ``sayOnTrack`` needs ``say`` (text or a say
    object); ``gain`` is in dB (number or ``"-6 dB"``).
    """
    _choice("action", action, DubAction)
    if not isinstance(track, str) or not track:
        raise ValueError("track must be a non-empty track name")
    if action == "playOnTrack" and play is None:
        raise ValueError("dub playOnTrack needs play (an audio URL)")
    if action == "sayOnTrack" and say is None:
        raise ValueError("dub sayOnTrack needs say (text or a say object)")
    data: dict[str, Any] = {"action": action, "track": track}
    if play is not None:
        data["play"] = play
    if say is not None:
        data["say"] = say if isinstance(say, str) else _mapping("say", say)
    if loop is not None:
        data["loop"] = bool(loop)
    if gain is not None:
        data["gain"] = _decibels("gain", gain)
    return Command(command="dub", data=data, call_sid=call_sid)


def record(
    action: RecordAction,
    *,
    type: RecordType | None = None,
    recording_id: str | None = None,
    siprec_server_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    silence: bool | None = None,
) -> Command:
    """Start, stop, pause or resume SIPREC (default) or ``cloud`` recording of the call.

    SIPREC ``startCallRecording`` needs ``siprec_server_url`` (wire ``siprecServerURL``);
    ``recording_id`` is the wire ``recordingID``.
    """
    _choice("action", action, RecordAction)
    if type is not None:
        _choice("type", type, RecordType)
    if action == "startCallRecording" and type != "cloud" and not siprec_server_url:
        raise ValueError("SIPREC startCallRecording needs siprec_server_url")
    data: dict[str, Any] = {"action": action}
    if type is not None:
        data["type"] = type
    if recording_id is not None:
        data["recordingID"] = recording_id
    if siprec_server_url is not None:
        data["siprecServerURL"] = siprec_server_url
    if headers is not None:
        data["headers"] = _mapping("headers", headers)
    if silence is not None:
        data["silence"] = bool(silence)
    return Command(command="record", data=data)


def mute(status: MuteStatus = "mute", *, call_sid: str | None = None) -> Command:
    """Mute or unmute a leg while ``dial`` or ``conference`` is the current verb."""
    _choice("status", status, MuteStatus)
    return Command(command="mute:status", data={"mute_status": status}, call_sid=call_sid)


def conf_mute(status: MuteStatus = "mute") -> Command:
    """In a conference, mute or unmute every member who is not a moderator."""
    _choice("status", status, MuteStatus)
    return Command(command="conf:mute-status", data={"conf_mute_status": status})


def conf_hold(status: HoldStatus = "hold", *, wait_hook: str | None = None) -> Command:
    """Put this conference member on hold (``wait_hook``'s verbs play meanwhile) or back."""
    _choice("status", status, HoldStatus)
    data: dict[str, Any] = {"conf_hold_status": status}
    if wait_hook is not None:
        data["wait_hook"] = _path("wait_hook", wait_hook)
    return Command(command="conf:hold-status", data=data)


def conf_participant_action(
    action: ParticipantAction, tag: str | None = None, wait_hook: str | None = None
) -> Command:
    """Act on this conference member: (un)tag, (un)coach, (un)hold, (un)mute or kick.

    ``tag`` names the member's tag (required for ``tag``); ``wait_hook`` plays while on hold.
    """
    _choice("action", action, ParticipantAction)
    if action == "tag" and not tag:
        raise ValueError("conf_participant_action('tag') needs tag")
    data: dict[str, Any] = {"action": action}
    if tag is not None:
        data["tag"] = tag
    if wait_hook is not None:
        data["wait_hook"] = _path("wait_hook", wait_hook)
    return Command(command="conf:participant-action", data=data)


def listen_status(status: PauseResume) -> Command:
    """Pause or resume the audio of the current ``listen`` verb (or a dial's nested listen)."""
    _choice("status", status, PauseResume)
    return Command(command="listen:status", data={"listen_status": status})


def stream_status(status: PauseResume) -> Command:
    """Pause or resume the audio of the current ``stream`` verb."""
    _choice("status", status, PauseResume)
    return Command(command="stream:status", data={"stream_status": status})


def transcribe_status(status: PauseResume) -> Command:
    """Pause or resume the current (or background) ``transcribe``."""
    _choice("status", status, PauseResume)
    return Command(command="transcribe:status", data={"transcribe_status": status})


def whisper(verbs: Verbs, *, call_sid: str | None = None) -> Command:
    """Play ``say``/``play`` verbs to one leg of a connected ``dial`` (the other leg hears nothing).

    jambonz accepts no other verbs here and forces ``loop`` to 1.
    """
    items = _verb_list("whisper", verbs)
    if not items:
        raise ValueError("whisper needs at least one say or play verb")
    for index, verb in enumerate(items):
        name = _verb_name(verb)
        if name not in ("say", "play"):
            raise ValueError(f"whisper verb #{index} is {name!r}; only say and play are allowed")
    return Command(command="whisper", data={"whisper": items}, call_sid=call_sid)


def sip_request(
    method: str,
    content_type: str | None = None,
    content: str | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    call_sid: str | None = None,
    superset: bool = False,
) -> Command:
    """Send an in-dialog SIP request (INFO, NOTIFY, MESSAGE, ...) on an answered call.

    Sends ``{"sip_request": {...}}``, the shape 0.9.8 reads; ``superset=True`` also puts the
    fields at the top of ``data`` (the documented shape, which other versions may read).
    """
    if not isinstance(method, str) or not method.isalpha():
        raise ValueError(f"method must be a SIP method name such as 'INFO'; got {method!r}")
    request: dict[str, Any] = {"method": method.upper()}
    if content_type is not None:
        request["content_type"] = content_type
    if content is not None:
        request["content"] = content
    if headers is not None:
        request["headers"] = _mapping("headers", headers)
    data: dict[str, Any] = {"sip_request": request}
    if superset:
        data.update(request)
    return Command(command="sip:request", data=data, call_sid=call_sid)


def dtmf(
    digit: str, duration: int | None = None, *, call_sid: str | None = None, superset: bool = False
) -> Command:
    """Send one DTMF digit as SIP INFO (``duration`` in ms, jambonz's default 250).

    Sends ``{"dtmf": {"digit", "duration"}}``, the shape 0.9.8 reads; ``superset=True`` adds
    ``digit``/``duration`` at the top of ``data`` (the shape the Node SDK sends).
    """
    if not isinstance(digit, str) or len(digit) != 1 or digit not in _DTMF_DIGITS:
        raise ValueError(f"digit must be one of 0-9, *, #, A-D; got {digit!r}")
    tone: dict[str, Any] = {"digit": digit}
    if duration is not None:
        if type(duration) is not int or duration <= 0:
            raise ValueError(f"duration must be a positive number of ms; got {duration!r}")
        tone["duration"] = duration
    data: dict[str, Any] = {"dtmf": tone}
    if superset:
        data.update(tone)
    return Command(command="dtmf", data=data, call_sid=call_sid)


def _decibels(name: str, value: object) -> int | float | str:
    if type(value) is int or type(value) is float:
        return value
    if isinstance(value, str) and _DECIBELS.match(value):
        return value
    raise ValueError(f"{name} must be a number of dB or a string like '-6 dB'; got {value!r}")


def boost_audio_signal(db: int | float | str, *, call_sid: str | None = None) -> Command:
    """Change the gain of a leg's main audio track, in dB (``-6``, ``"+3dB"``).

    The value is sent as is, except a numeric 0, which becomes ``"0 dB"``: jambonz treats a
    falsy ``data`` as missing and would reject the command.
    """
    value = _decibels("db", db)
    if not isinstance(value, str) and value == 0:
        value = "0 dB"
    return Command(command="boostAudioSignal", data=value, call_sid=call_sid)


def media_path(path: MediaPath) -> Command:
    """During a ``dial``, release media (``no-media``) or re-anchor it (``partial``/``full``)."""
    _choice("path", path, MediaPath)
    return Command(command="media:path", data=path)


# --------------------------------------------------------------------------- tts streaming


def tts_tokens(id: str | int, tokens: str) -> Command:
    """Buffer text for streaming TTS; jambonz answers with a ``tts:tokens-result`` for ``id``.

    More than 1000 characters in one message is always rejected by jambonz (its buffer's high
    water mark), so it raises ``ValueError`` here; split long text and send pieces
    stop-and-wait (docs/jambonz.md, Streaming TTS).
    """
    if not (type(id) is int or (isinstance(id, str) and id)):
        raise ValueError(f"id must be an integer or a non-empty string; got {id!r}")
    if not isinstance(tokens, str) or not tokens:
        raise ValueError("tokens must be a non-empty string")
    if len(tokens) > _TTS_HIGH_WATER:
        raise ValueError(
            f"tokens is {len(tokens)} characters; jambonz rejects more than "
            f"{_TTS_HIGH_WATER} per message"
        )
    return Command(command="tts:tokens", data={"id": id, "tokens": tokens})


def tts_flush() -> Command:
    """Synthesize everything buffered so far (end of an LLM response). No ``data`` key."""
    return Command(command="tts:flush")


def tts_clear() -> Command:
    """Drop buffered tokens and queued audio (barge-in). jambonz sends no ``stream_resumed``."""
    return Command(command="tts:clear")
