"""The fake jambonz's audio side: ``listen``/``stream`` sockets, played as jambonz plays them.

::

    from jbtrio.audio import AudioRoutes
    from jbtrio.testing.audio import FakeAudioLeg, ListenSpec, Tone, AudioScript, open_audio_server

    async def test_echo(autojump_clock):
        async with open_audio_server(routes) as server:
            leg = FakeAudioLeg(
                ListenSpec(url="ws://app/echo", streaming=True),
                call_info={"call_sid": "c1", "from": "+1555", "to": "+1666"},
                script=AudioScript(source=Tone(440, seconds=5), duration=7),
                connector=server.connect,
            )
            outcome = await leg.run()
        assert leg.heard  # what the caller heard back

:func:`run_listen` is what the fake's verb executor calls for a ``listen``/``stream`` verb.
"""

from __future__ import annotations

from ._audio import AudioLegConfig, FakeAudioLeg, ListenOutcome, run_listen
from ._audio_playout import Clip, ClipQueue, MarkReport, StreamPlayout
from ._audio_server import (
    AudioTestServer,
    WebSocketAudioSocket,
    open_audio_server,
    serve_audio_stream,
)
from ._audio_spec import AudioScript, AudioSource, ListenSpec, Pcm, Quiet, Tone, listen_metadata

__all__ = [
    "AudioLegConfig",
    "AudioScript",
    "AudioSource",
    "AudioTestServer",
    "Clip",
    "ClipQueue",
    "FakeAudioLeg",
    "ListenOutcome",
    "ListenSpec",
    "MarkReport",
    "Pcm",
    "Quiet",
    "StreamPlayout",
    "Tone",
    "WebSocketAudioSocket",
    "listen_metadata",
    "open_audio_server",
    "run_listen",
    "serve_audio_stream",
]
