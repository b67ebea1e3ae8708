"""jambonz audio streams (``listen``/``stream`` verbs, subprotocol ``audio.drachtio.org``).

jambonz opens one websocket per ``listen``/``stream`` verb to the verb's ``url``: a JSON
metadata frame first, then the caller's audio as binary L16 PCM frames, and DTMF, mark and
playDone events; the app can stream audio back, play clips, set marks and end the verb::

    from jbtrio.audio import AudioRoutes

    audio = AudioRoutes()

    @audio.audio("/echo")
    async def echo(stream):
        async for frame in stream:          # 20 ms of the caller's audio
            await stream.send_audio(frame)  # played back (bidirectional streaming)

and in the call flow: ``yield Listen(url=audio.audio_url("/echo"), bidirectional_audio=
{"enabled": True, "streaming": True, "sampleRate": 8000})``.

Layers, as for calls: :mod:`._wire` (frames <-> typed values), :mod:`._core` (sans-IO:
bounded buffers, the playout clock, marks and clips), :mod:`._stream` (Trio: the stream's
reader, writer and timer tasks), :mod:`._routes` (handlers by path, live streams by call_sid).
Bounds and policies: :class:`AudioConfig`.
"""

from __future__ import annotations

from ._config import JAMBONZ_MAX_MARKS as JAMBONZ_MAX_MARKS
from ._config import JAMBONZ_MAX_PLAY_QUEUE as JAMBONZ_MAX_PLAY_QUEUE
from ._config import AudioConfig as AudioConfig
from ._core import AudioStats as AudioStats
from ._core import MarkOutcome as MarkOutcome
from ._core import PlayOutcome as PlayOutcome
from ._core import PlayResult as PlayResult
from ._errors import AudioLimitError as AudioLimitError
from ._errors import AudioProtocolError as AudioProtocolError
from ._errors import AudioStreamClosed as AudioStreamClosed
from ._handles import Mark as Mark
from ._handles import Playback as Playback
from ._routes import AudioRoutes as AudioRoutes
from ._socket import AudioSocket as AudioSocket
from ._socket import FastAudioSocket as FastAudioSocket
from ._stream import AudioHandler as AudioHandler
from ._stream import AudioStream as AudioStream
from ._stream import run_stream as run_stream
from ._wire import SUBPROTOCOL as SUBPROTOCOL
from ._wire import AudioEvent as AudioEvent
from ._wire import AudioMetadata as AudioMetadata
from ._wire import Dtmf as Dtmf
from ._wire import MarkEvent as MarkEvent
from ._wire import MixType as MixType
from ._wire import PlayDone as PlayDone
from ._wire import UnknownAudioEvent as UnknownAudioEvent
from ._wire import parse_event as parse_event
from ._wire import parse_metadata as parse_metadata

__all__ = [
    "JAMBONZ_MAX_MARKS",
    "JAMBONZ_MAX_PLAY_QUEUE",
    "SUBPROTOCOL",
    "AudioConfig",
    "AudioEvent",
    "AudioHandler",
    "AudioLimitError",
    "AudioMetadata",
    "AudioProtocolError",
    "AudioRoutes",
    "AudioSocket",
    "AudioStats",
    "AudioStream",
    "AudioStreamClosed",
    "Dtmf",
    "FastAudioSocket",
    "Mark",
    "MarkEvent",
    "MarkOutcome",
    "MixType",
    "PlayDone",
    "PlayOutcome",
    "PlayResult",
    "Playback",
    "UnknownAudioEvent",
    "parse_event",
    "parse_metadata",
    "run_stream",
]
