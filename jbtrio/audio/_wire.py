"""The ``audio.drachtio.org`` wire model: the metadata frame, jambonz's events, the app's
commands. Pure data and parsing; no I/O, no Trio.

What jambonz sends (feature-server ``lib/tasks/listen.js`` and mod_audio_fork's
``lws_glue.cpp``, read for the facts):

- first, one text frame of JSON metadata: ``sampleRate`` and ``mixType``, then the call's
  info in camelCase (``callSid``, ``from``, ``to``, ``callId``, ``direction``,
  ``accountSid``, ...), then the verb's own ``metadata`` object merged in *at the top level*
  (its keys can even override the call info's);
- binary frames of L16 PCM (little-endian, interleaved for ``stereo``), 20 ms each
  typically, longer when jambonz fell behind; an empty binary frame on a graceful shutdown;
- text events: ``{"event": "dtmf", "dtmf": "1", "duration": "1600"}`` (only with
  ``passDtmf``; duration in 8 kHz samples, often a string), ``{"type": "playDone", "data":
  {"id": ..., ...}}`` and ``{"type": "mark", "data": {"name": ..., "event": "playout" |
  "cleared"}}``.

What the app sends: binary L16 (bidirectional streaming), or JSON ``playAudio``,
``killAudio``, ``disconnect``, ``mark`` and ``clearMarks``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Final, Literal

import attrs
import orjson

from ._errors import AudioProtocolError

__all__ = [
    "CLEAR_MARKS",
    "DISCONNECT",
    "KILL_AUDIO",
    "SUBPROTOCOL",
    "AudioEvent",
    "AudioMetadata",
    "Dtmf",
    "MarkEvent",
    "MixType",
    "PlayDone",
    "UnknownAudioEvent",
    "encode_mark",
    "encode_play",
    "parse_event",
    "parse_metadata",
]

#: The websocket subprotocol jambonz offers on audio sockets (``MOD_AUDIO_FORK_SUBPROTOCOL_NAME``).
SUBPROTOCOL: Final = "audio.drachtio.org"

MixType = Literal["mono", "stereo", "mixed"]
_MIX_TYPES: Final[frozenset[str]] = frozenset({"mono", "stereo", "mixed"})
#: The highest sample rate taken as plausible (mod_audio_fork resamples to at most 64 kHz).
_MAX_RATE: Final = 192_000

#: Keys of the metadata frame that are not the verb's own ``metadata``: the stream format and
#: the call info (``call-info.js`` ``toJSON``).
CALL_INFO_KEYS: Final[frozenset[str]] = frozenset(
    {
        "sampleRate",
        "mixType",
        "callSid",
        "direction",
        "from",
        "to",
        "callId",
        "sbcCallid",
        "sipStatus",
        "sipReason",
        "callStatus",
        "callerId",
        "accountSid",
        "traceId",
        "applicationSid",
        "fsSipAddress",
        "parentCallSid",
        "originatingSipIp",
        "originatingSipTrunkName",
        "callTerminationBy",
        "duration",
        "customerData",
        "headers",
        "apiBaseUrl",
        "fsPublicIp",
    }
)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@attrs.frozen
class AudioMetadata:
    """The first frame of an audio socket, typed.

    ``custom`` holds every key that is not the stream format or the call info: the listen
    verb's ``metadata`` (jambonz merges it into the frame's top level). ``raw`` is the whole
    frame as received.
    """

    call_sid: str
    sample_rate: int
    mix_type: MixType
    from_: str | None = None
    to: str | None = None
    call_id: str | None = None
    direction: str | None = None
    account_sid: str | None = None
    application_sid: str | None = None
    customer_data: Any = None
    custom: Mapping[str, Any] = attrs.field(factory=dict)
    raw: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def channels(self) -> int:
        """2 for ``stereo`` (caller left, callee right), else 1."""
        return 2 if self.mix_type == "stereo" else 1

    @property
    def bytes_per_second(self) -> int:
        """Bytes of inbound L16 audio per second of call."""
        return self.sample_rate * 2 * self.channels

    def frame_bytes(self, ms: int = 20) -> int:
        """Bytes of ``ms`` milliseconds of inbound audio (320 for 20 ms at 8 kHz mono)."""
        return self.bytes_per_second * ms // 1000


@attrs.frozen
class Dtmf:
    """A key the caller pressed (sent only when the verb has ``passDtmf: true``).

    ``duration`` is in 8 kHz RTP timestamp units as jambonz reports it (``None`` if absent);
    :attr:`duration_ms` converts it.
    """

    digit: str
    duration: int | None = None

    @property
    def duration_ms(self) -> int | None:
        """The key press's length in milliseconds."""
        return None if self.duration is None else self.duration // 8


@attrs.frozen
class MarkEvent:
    """jambonz reached a mark in the streamed audio (``playout``) or dropped it (``cleared``)."""

    name: str
    event: Literal["playout", "cleared"]


@attrs.frozen
class PlayDone:
    """A ``playAudio`` clip finished (or was cut by ``killAudio``); ``data`` is everything
    jambonz reported (its playback figures), ``id`` the clip's id."""

    id: str | None
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class UnknownAudioEvent:
    """A well-formed JSON event jbtrio does not know (kept whole, for forward compatibility)."""

    data: Mapping[str, Any]


AudioEvent = Dtmf | MarkEvent | PlayDone | UnknownAudioEvent


def _load_object(text: str | bytes, limit: int, what: str) -> dict[str, Any]:
    if len(text) > limit:
        raise AudioProtocolError(f"{what} is {len(text)} bytes, over the {limit}-byte limit")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise AudioProtocolError(f"{what} is not JSON: {exc}", text) from None
    if not isinstance(data, dict):
        raise AudioProtocolError(f"{what} is not a JSON object", text)
    return data


def parse_metadata(text: str | bytes, limit: int = 256 * 1024) -> AudioMetadata:
    """The metadata frame, typed; :class:`AudioProtocolError` if it is not valid."""
    data = _load_object(text, limit, "the metadata frame")
    sid = data.get("callSid")
    if not isinstance(sid, str) or not sid:
        raise AudioProtocolError("the metadata frame has no callSid", text)
    rate = data.get("sampleRate")
    if (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not (0 < rate <= _MAX_RATE)
        or rate != int(rate)
    ):
        raise AudioProtocolError(f"the metadata frame has an invalid sampleRate {rate!r}", text)
    mix = data.get("mixType", "mono")
    if mix not in _MIX_TYPES:
        raise AudioProtocolError(f"the metadata frame has an invalid mixType {mix!r}", text)
    return AudioMetadata(
        call_sid=sid,
        sample_rate=int(rate),
        mix_type=mix,
        from_=_str_or_none(data.get("from")),
        to=_str_or_none(data.get("to")),
        call_id=_str_or_none(data.get("callId")),
        direction=_str_or_none(data.get("direction")),
        account_sid=_str_or_none(data.get("accountSid")),
        application_sid=_str_or_none(data.get("applicationSid")),
        customer_data=data.get("customerData"),
        custom={k: v for k, v in data.items() if k not in CALL_INFO_KEYS},
        raw=data,
    )


def _duration(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def parse_event(text: str | bytes, limit: int = 64 * 1024) -> AudioEvent:
    """One text frame after the metadata, typed; :class:`AudioProtocolError` if it is not
    valid JSON or a known event with a wrong shape. Unknown events come back as
    :class:`UnknownAudioEvent`."""
    data = _load_object(text, limit, "an event frame")
    if data.get("event") == "dtmf":
        digit = data.get("dtmf")
        if not isinstance(digit, str) or not digit:
            raise AudioProtocolError("a dtmf event without a dtmf digit", text)
        return Dtmf(digit, _duration(data.get("duration")))
    kind = data.get("type")
    if kind == "mark":
        body = data.get("data")
        if not isinstance(body, dict):
            raise AudioProtocolError("a mark event without data", text)
        name, event = body.get("name"), body.get("event")
        if not isinstance(name, str) or event not in ("playout", "cleared"):
            raise AudioProtocolError("a mark event without a name and playout/cleared", text)
        return MarkEvent(name, event)
    if kind == "playDone":
        body = data.get("data", {})
        if not isinstance(body, dict):
            raise AudioProtocolError("a playDone event whose data is not an object", text)
        ident = body.get("id")
        return PlayDone(ident if isinstance(ident, str) else None, body)
    return UnknownAudioEvent(data)


# ---------------------------------------------------------------- outbound

KILL_AUDIO: Final = '{"type":"killAudio"}'
CLEAR_MARKS: Final = '{"type":"clearMarks"}'
DISCONNECT: Final = '{"type":"disconnect"}'


def encode_mark(name: str) -> str:
    """The ``mark`` command for ``name``."""
    return orjson.dumps({"type": "mark", "data": {"name": name}}).decode()


def encode_play(
    audio: bytes, *, content_type: str, sample_rate: int, play_id: str, queue: bool
) -> str:
    """The ``playAudio`` command carrying ``audio`` (base64), as jambonz reads it."""
    data = {
        "audioContent": base64.b64encode(audio).decode("ascii"),
        "audioContentType": content_type,
        "sampleRate": sample_rate,
        "id": play_id,
        "queuePlay": queue,
    }
    return orjson.dumps({"type": "playAudio", "data": data}).decode()
