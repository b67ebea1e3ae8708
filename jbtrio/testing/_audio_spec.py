"""What a fake audio leg plays and how: the caller's audio, the verb's settings, the metadata.

:class:`Tone`, :class:`Pcm` and :class:`Quiet` generate the caller's L16 audio (jambonz sends
silence once a source runs out: the line stays open); :class:`AudioScript` is the caller's
side of a ``listen`` (audio, DTMF, how long it lasts); :class:`ListenSpec` is what the
``listen``/``stream`` verb asked for; :func:`listen_metadata` builds the first frame the way
feature-server's listen task does (``{sampleRate, mixType}``, the call info in camelCase,
then the verb's ``metadata`` merged over it).
"""

from __future__ import annotations

import math
import urllib.parse
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

__all__ = [
    "AudioScript",
    "AudioSource",
    "ListenSpec",
    "Pcm",
    "Quiet",
    "Tone",
    "listen_metadata",
]


class AudioSource(Protocol):
    """Audio of the caller: ``seconds`` long (``None``: endless), rendered sample by sample."""

    @property
    def seconds(self) -> float | None: ...

    def render(self, start: int, count: int, rate: int, channels: int) -> bytes:
        """``count`` sample frames from sample ``start`` (L16, interleaved channels)."""
        ...


@attrs.frozen
class Tone:
    """A sine tone (the same in every channel); ``amplitude`` is a fraction of full scale."""

    hz: float = 440.0
    amplitude: float = 0.3
    seconds: float | None = None

    def render(self, start: int, count: int, rate: int, channels: int) -> bytes:
        peak = 32767 * self.amplitude
        step = 2 * math.pi * self.hz / rate
        samples = array("h")
        for n in range(start, start + count):
            value = int(peak * math.sin(step * n))
            samples.extend([value] * channels)
        return samples.tobytes()


@attrs.frozen
class Quiet:
    """Silence."""

    seconds: float | None = None

    def render(self, start: int, count: int, rate: int, channels: int) -> bytes:
        return bytes(2 * channels * count)


@attrs.frozen
class Pcm:
    """Given L16 audio (at the stream's rate and channels), then silence."""

    data: bytes

    @property
    def seconds(self) -> float | None:
        return None  # its length depends on the stream's rate: ends when the data does

    def render(self, start: int, count: int, rate: int, channels: int) -> bytes:
        width = 2 * channels
        chunk = self.data[start * width : (start + count) * width]
        return chunk + bytes(count * width - len(chunk))


@attrs.frozen
class AudioScript:
    """The caller's side of a ``listen``: what they sound like and press, and how long the
    verb runs when neither the app nor ``maxLength``/``finishOnKey`` ends it first (the
    caller hangs up, say). ``dtmf`` is a list of ``(seconds after the start, digit)``."""

    source: AudioSource = attrs.field(factory=Tone)
    duration: float = 5.0
    dtmf: Sequence[tuple[float, str]] = ()
    dtmf_duration: int = 1600  # 200 ms in 8 kHz units, as jambonz reports it


@attrs.frozen
class ListenSpec:
    """What a ``listen``/``stream`` verb asked for (listen.js defaults applied)."""

    url: str
    sample_rate: int = 8000
    mix_type: str = "mono"
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    pass_dtmf: bool = False
    finish_on_key: str | None = None
    max_length: float | None = None
    bidirectional: bool = True
    streaming: bool = False
    output_rate: int | None = None
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_verb(
        cls,
        verb: Mapping[str, Any],
        *,
        base_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> ListenSpec:
        """Read a (normalised) listen verb. A relative ``url`` is made absolute with the
        scheme, host and port of ``base_url`` (the call's websocket URL) and then uses the
        call's credentials, as ``CallSession.normalizeUrl`` does; ``wsAuth`` otherwise."""
        url = str(verb.get("url", ""))
        auth = verb.get("wsAuth")
        user = auth.get("username") if isinstance(auth, Mapping) else None
        secret = auth.get("password") if isinstance(auth, Mapping) else None
        if url.startswith("/") and base_url is not None:
            parts = urllib.parse.urlsplit(base_url)
            url = f"{parts.scheme}://{parts.netloc}{url}"
            user, secret = username, password
        bidi = verb.get("bidirectionalAudio")
        bidi = bidi if isinstance(bidi, Mapping) else {}
        enabled = bidi.get("enabled", verb.get("disableBidirectionalAudio") is not True)
        metadata = verb.get("metadata")
        rate = verb.get("sampleRate")
        max_length = verb.get("maxLength")
        out_rate = bidi.get("sampleRate")
        return cls(
            url=url,
            sample_rate=int(rate) if isinstance(rate, int | float) and rate > 0 else 8000,
            mix_type=str(verb.get("mixType") or "mono"),
            metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
            pass_dtmf=verb.get("passDtmf") is True,
            finish_on_key=verb.get("finishOnKey") or None,
            max_length=float(max_length) if isinstance(max_length, int | float) else None,
            bidirectional=enabled is True,
            streaming=bidi.get("streaming") is True,
            output_rate=int(out_rate) if isinstance(out_rate, int | float) and out_rate else None,
            username=user if isinstance(user, str) else None,
            password=secret if isinstance(secret, str) else None,
        )

    @property
    def channels(self) -> int:
        """2 for ``stereo``."""
        return 2 if self.mix_type == "stereo" else 1


#: call info (snake_case, as hooks carry it) -> the camelCase of ``CallInfo.toJSON``.
_CAMEL = {
    "call_sid": "callSid",
    "direction": "direction",
    "from": "from",
    "to": "to",
    "call_id": "callId",
    "sbc_callid": "sbcCallid",
    "sip_status": "sipStatus",
    "sip_reason": "sipReason",
    "call_status": "callStatus",
    "caller_id": "callerId",
    "account_sid": "accountSid",
    "trace_id": "traceId",
    "application_sid": "applicationSid",
    "local_sip_address": "fsSipAddress",
    "parent_call_sid": "parentCallSid",
    "originating_sip_ip": "originatingSipIp",
    "originating_sip_trunk_name": "originatingSipTrunkName",
    "call_termination_by": "callTerminationBy",
    "duration": "duration",
    "customerData": "customerData",
    "api_base_url": "apiBaseUrl",
}


def listen_metadata(call_info: Mapping[str, Any], spec: ListenSpec) -> dict[str, Any]:
    """The first frame of the audio socket, as jambonz builds it."""
    out: dict[str, Any] = {"sampleRate": spec.sample_rate, "mixType": spec.mix_type}
    for key, camel in _CAMEL.items():
        if key in call_info and call_info[key] is not None:
            out[camel] = call_info[key]
    out.update(spec.metadata)
    return out
