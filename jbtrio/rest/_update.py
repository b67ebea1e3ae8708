"""Mid-call control: the body of ``PUT /Accounts/{sid}/Calls/{call_sid}``.

jambonz acts on **one** change per request: api-server rejects two (400 "multiple options are
not allowed in updateCall"), and a feature server reached another way would run only the first
of its if/else chain and drop the rest silently. So :class:`UpdateCall` refuses more than one
at construction, allowing what jambonz does together: ``call_hook`` with ``child_call_hook``,
and ``whisper`` alone or after one of the changes the feature server does not return from
(mute, hold, listen/transcribe status, DTMF, recording control); api-server would accept it
beside any change, but the feature server returns before the whisper after the others. Some
fields qualify another and need it (``call_status_hook`` needs ``call_hook``, ``wait_hook``
needs ``conf_hold_status``, ...).

Fields from jambonz 10.x/11.x (``noise_isolation_*``, ``llm_status``, ``room_say``,
``room_play``, ``transfer``, ``agent_update``) are typed as ``@jambonz/sdk`` 0.10.1 sends them;
open-source api-server 0.9.x answers them 400 "no valid options supplied to updateCall".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Final, Literal

import attrs

from ..verbs import Dub, Say, Verb
from ._codec import RequestBody, ResponseBody, wire_dict
from ._values import (
    check_choice,
    check_extra,
    check_non_empty,
    extra,
    optional_hook,
    optional_mapping,
)

__all__ = [
    "AgentUpdate",
    "DtmfTone",
    "ParticipantAction",
    "RecordControl",
    "RoomPlay",
    "SipRequest",
    "SipResponse",
    "UpdateCall",
]

CallStatus = Literal["completed", "no-answer"]
MuteStatus = Literal["mute", "unmute"]
HoldStatus = Literal["hold", "unhold"]
ListenStatus = Literal["pause", "silence", "resume"]
TranscribeStatus = Literal["pause", "resume"]
MediaPath = Literal["no-media", "partial-media", "full-media"]
NoiseIsolationStatus = Literal["enable", "disable"]
LlmStatus = Literal["move-to-conference", "move-from-conference", "stop"]
RecordAction = Literal[
    "startCallRecording", "stopCallRecording", "pauseCallRecording", "resumeCallRecording"
]
RecordType = Literal["siprec", "cloud"]
ParticipantActionName = Literal[
    "tag", "untag", "coach", "uncoach", "mute", "unmute", "hold", "unhold"
]
AgentUpdateType = Literal["update_instructions", "inject_context", "update_tools", "generate_reply"]

_DTMF_DIGITS: Final = frozenset("0123456789*#ABCDabcd")


@attrs.frozen(kw_only=True)
class SipRequest(RequestBody):
    """An in-dialog SIP request (INFO, NOTIFY, MESSAGE, ...); api-server needs all three."""

    method: str
    content_type: str
    content: str
    headers: dict[str, str] | None = attrs.field(default=None, converter=optional_mapping)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.method, str) or not self.method.isalpha():
            raise ValueError(
                f"method must be a SIP method name such as 'INFO'; got {self.method!r}"
            )
        check_non_empty("content_type", self.content_type)
        if not isinstance(self.content, str):
            raise ValueError("content must be a string")


@attrs.frozen(kw_only=True)
class RecordControl(RequestBody):
    """Start, stop, pause or resume SIPREC (default) or ``cloud`` recording.

    api-server wants ``siprec_server_url`` (``siprecServerURL``) for every SIPREC action.
    """

    WIRE_NAMES: ClassVar[Mapping[str, str]] = {
        "recording_id": "recordingID",
        "siprec_server_url": "siprecServerURL",
    }

    action: RecordAction
    type: RecordType | None = None
    recording_id: str | None = None
    siprec_server_url: str | None = None
    headers: dict[str, str] | None = attrs.field(default=None, converter=optional_mapping)

    def __attrs_post_init__(self) -> None:
        check_choice("action", self.action, RecordAction)
        check_choice("type", self.type, RecordType)
        if self.type != "cloud" and not self.siprec_server_url:
            raise ValueError("SIPREC recording control needs siprec_server_url")


@attrs.frozen(kw_only=True)
class ParticipantAction(RequestBody):
    """Act on a conference member: (un)tag, (un)coach, (un)mute, (un)hold; ``tag`` for tag/coach."""

    action: ParticipantActionName
    tag: str | None = None

    def __attrs_post_init__(self) -> None:
        check_choice("action", self.action, ParticipantActionName)
        if self.action in ("tag", "coach") and not self.tag:
            raise ValueError(f"participant action {self.action!r} needs tag")


@attrs.frozen(kw_only=True)
class DtmfTone(RequestBody):
    """One DTMF digit sent as SIP INFO; ``duration`` in ms (jambonz's default 250)."""

    digit: str
    duration: int | None = None

    def __attrs_post_init__(self) -> None:
        if (
            not isinstance(self.digit, str)
            or len(self.digit) != 1
            or self.digit not in _DTMF_DIGITS
        ):
            raise ValueError(f"digit must be one of 0-9, *, #, A-D; got {self.digit!r}")
        if self.duration is not None and (type(self.duration) is not int or self.duration <= 0):
            raise ValueError(f"duration must be a positive number of ms; got {self.duration!r}")


@attrs.frozen(kw_only=True)
class RoomPlay(RequestBody):
    """Play a file into the conference the call is in, heard by every member (10.x/11.x)."""

    url: str
    id: str | None = None
    replace: bool | None = None

    def __attrs_post_init__(self) -> None:
        check_non_empty("url", self.url)


@attrs.frozen(kw_only=True)
class AgentUpdate(RequestBody):
    """A mid-conversation update to the ``agent`` verb (10.1+)."""

    type: AgentUpdateType
    instructions: str | None = None
    messages: list[dict[str, Any]] | None = attrs.field(
        default=None, converter=attrs.converters.optional(list)
    )
    tools: list[Any] | None = attrs.field(default=None, converter=attrs.converters.optional(list))
    user_input: str | None = None
    interrupt: bool | None = None

    def __attrs_post_init__(self) -> None:
        check_choice("type", self.type, AgentUpdateType)


Whisper = Verb | Mapping[str, Any] | Iterable[Verb | Mapping[str, Any]]
"""``say``/``play`` verbs: one builder or dict, or a list of them."""


def _whisper(value: Whisper | None) -> list[dict[str, Any]] | None:
    """Whisper verbs: ``say``/``play`` builders or dicts, one or a list (loop forced to 1)."""
    if value is None:
        return None
    items: Iterable[Any] = (
        [value] if isinstance(value, Mapping) or hasattr(value, "to_dict") else value
    )
    verbs = [wire_dict("whisper", item) for item in items]
    if not verbs:
        raise ValueError("whisper needs at least one say or play verb")
    for index, verb in enumerate(verbs):
        name = verb.get("verb")
        if name not in ("say", "play"):
            raise ValueError(f"whisper verb #{index} is {name!r}; only say and play are allowed")
    return verbs


def _nested_dub(value: Dub | Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else wire_dict("dub", value, nested_verb=True)


def _nested_say(value: Say | Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else wire_dict("room_say", value, nested_verb=True)


def _nested_transfer(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else wire_dict("transfer", value, nested_verb=True)


# The changes after which the feature server's updateCall goes on to run a whisper (the others
# return first).
_WHISPER_AFTER: Final = frozenset(
    {
        "listen_status",
        "transcribe_status",
        "mute_status",
        "conf_hold_status",
        "conf_mute_status",
        "dtmf",
        "record",
    }
)

# field -> the field it qualifies (it may only be given with that one)
_QUALIFIERS: Final = {
    "call_status_hook": "call_hook",
    "wait_hook": "conf_hold_status",
    "noise_isolation_vendor": "noise_isolation_status",
    "noise_isolation_level": "noise_isolation_status",
    "noise_isolation_model": "noise_isolation_status",
    "conference": "llm_status",
}


@attrs.frozen(kw_only=True)
class UpdateCall(RequestBody):
    """One change to a live call; see the module docstring for the one-change rule.

    - ``call_hook``/``child_call_hook``: fetch new verbs for the call (or a dialed leg) from a
      URL (``session:redirect`` on a websocket app); ``call_status_hook`` with ``call_hook``.
    - ``call_status``: ``"completed"`` hangs up an answered call, ``"no-answer"`` cancels a
      ringing one.
    - ``mute_status``, ``conf_mute_status``, ``conf_hold_status`` (+ ``wait_hook``),
      ``listen_status`` (``pause``/``silence``/``resume`` a listen/stream), ``transcribe_status``.
    - ``whisper``: ``say``/``play`` verbs heard by one party of a bridged call (alone, or
      with a mute/hold/listen/transcribe status, DTMF or recording change).
    - ``sip_request``: a :class:`SipRequest`; jambonz answers with the far end's SIP response.
    - ``record``, ``dtmf``, ``conference_participant_action``, ``dub``, ``tag`` (replaces the
      call's customer data), ``boost_audio_signal`` (dB), ``media_path``.
    - ``extra``: more keys sent as given (they count as one change).
    """

    WIRE_NAMES: ClassVar[Mapping[str, str]] = {
        "conference_participant_action": "conferenceParticipantAction",
        "boost_audio_signal": "boostAudioSignal",
    }

    call_hook: str | dict[str, Any] | None = attrs.field(default=None, converter=optional_hook)
    child_call_hook: str | dict[str, Any] | None = attrs.field(
        default=None, converter=optional_hook
    )
    call_status_hook: str | dict[str, Any] | None = attrs.field(
        default=None, converter=optional_hook
    )
    call_status: CallStatus | None = None
    mute_status: MuteStatus | None = None
    conf_mute_status: MuteStatus | None = None
    conf_hold_status: HoldStatus | None = None
    wait_hook: str | None = None
    listen_status: ListenStatus | None = None
    transcribe_status: TranscribeStatus | None = None
    whisper: list[dict[str, Any]] | None = attrs.field(default=None, converter=_whisper)
    sip_request: SipRequest | None = None
    record: RecordControl | None = None
    dtmf: DtmfTone | None = None
    conference_participant_action: ParticipantAction | None = None
    dub: dict[str, Any] | None = attrs.field(default=None, converter=_nested_dub)
    tag: dict[str, Any] | None = attrs.field(default=None, converter=optional_mapping)
    boost_audio_signal: int | float | str | None = None
    media_path: MediaPath | None = None
    noise_isolation_status: NoiseIsolationStatus | None = None
    noise_isolation_vendor: str | None = None
    noise_isolation_level: int | None = None
    noise_isolation_model: str | None = None
    llm_status: LlmStatus | None = None
    conference: str | None = None
    room_say: dict[str, Any] | None = attrs.field(default=None, converter=_nested_say)
    room_play: RoomPlay | None = None
    transfer: dict[str, Any] | None = attrs.field(default=None, converter=_nested_transfer)
    agent_update: AgentUpdate | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, converter=extra)

    def __attrs_post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            check_choice(name, getattr(self, name), allowed)
        for name, kind in _NESTED.items():
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise ValueError(f"{name} must be a {kind.__name__}; got {type(value).__name__}")
        if self.tag is not None and not self.tag:
            raise ValueError("tag must not be empty (jambonz reads {} as no change)")
        check_extra("UpdateCall", self.extra, _update_wire_keys())
        given = [f.name for f in attrs.fields(UpdateCall) if _given(self, f.name)]
        for name in given:
            needs = _QUALIFIERS.get(name)
            if needs is not None and needs not in given:
                raise ValueError(f"UpdateCall.{name} needs {needs}")
        changes = [n for n in given if n not in _QUALIFIERS and n != "whisper"]
        if changes == ["call_hook", "child_call_hook"]:
            changes = ["call_hook"]
        if not changes and "whisper" not in given:
            raise ValueError("UpdateCall needs a change (call_hook, call_status, mute_status, ...)")
        if len(changes) > 1:
            raise ValueError(
                f"jambonz applies one change per update; got {', '.join(changes)} "
                f"(only call_hook with child_call_hook, or whisper with one other, go together)"
            )
        if "whisper" in given and changes and changes[0] not in _WHISPER_AFTER:
            raise ValueError(
                f"jambonz would drop a whisper sent with {changes[0]}; whisper goes alone or "
                f"with one of {', '.join(sorted(_WHISPER_AFTER))}"
            )


def _given(update: UpdateCall, name: str) -> bool:
    value = getattr(update, name)
    return bool(value) if name == "extra" else value is not None


_CHOICES: Final[dict[str, Any]] = {
    "call_status": CallStatus,
    "mute_status": MuteStatus,
    "conf_mute_status": MuteStatus,
    "conf_hold_status": HoldStatus,
    "listen_status": ListenStatus,
    "transcribe_status": TranscribeStatus,
    "media_path": MediaPath,
    "noise_isolation_status": NoiseIsolationStatus,
    "llm_status": LlmStatus,
}
_NESTED: Final[dict[str, type]] = {
    "sip_request": SipRequest,
    "record": RecordControl,
    "dtmf": DtmfTone,
    "conference_participant_action": ParticipantAction,
    "room_play": RoomPlay,
    "agent_update": AgentUpdate,
}


def _update_wire_keys() -> list[str]:
    names = UpdateCall.WIRE_NAMES
    return [names.get(f.name, f.name) for f in attrs.fields(UpdateCall) if f.name != "extra"]


@attrs.frozen(kw_only=True)
class SipResponse(ResponseBody):
    """The far end's answer to a ``sip_request`` update: SIP ``status`` and ``reason``."""

    status: int
    reason: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)
