"""``/record``: each call's audio written to a WAV file (stdlib ``wave``), one per call.

The call flow at ``/`` tells the caller, then streams the call to ``/record`` (both
parties, in stereo: caller left, callee right) until they hang up. The handler writes
``<call_sid>.wav`` in :data:`RECORDINGS` (``$JBTRIO_RECORDINGS``, default ``recordings``):
frames are gathered into one-second batches and written from a worker thread, so disk I/O
never blocks the event loop; the file is finished even when the handler is cancelled.

As in ``audio_echo``, the audio handler is the app's own (``app.audio``): ``jbtrio
serve examples.recorder:app`` serves both sockets on one port.
"""

from __future__ import annotations

import os
import re
import wave
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import trio

import jbtrio
from jbtrio.audio import AudioHandler, AudioMetadata, AudioRoutes, AudioStream
from jbtrio.verbs import Listen, Say

__all__ = ["RECORDINGS", "app", "audio", "make_recorder"]

RECORDINGS = Path(os.environ.get("JBTRIO_RECORDINGS", "recordings"))

app = jbtrio.App()


@app.flow("/")
async def answer(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
    """Announce the recording, then stream both parties to ``/record``."""
    yield [
        Say(text="This call is recorded."),
        Listen(url=app.audio_url("/record"), mix_type="stereo", sample_rate=8000),
    ]


def _file_name(call_sid: str) -> str:
    # a call_sid comes from the network: keep it to a safe file name
    return re.sub(r"[^A-Za-z0-9_.-]", "_", call_sid)[:100] or "call"


def _open(path: Path, metadata: AudioMetadata) -> wave.Wave_write:
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = wave.open(str(path), "wb")  # noqa: SIM115 (closed by the handler)
    wav.setnchannels(metadata.channels)
    wav.setsampwidth(2)
    wav.setframerate(metadata.sample_rate)
    return wav


def make_recorder(directory: Path) -> AudioHandler:
    """An audio handler writing every stream to ``directory/<call_sid>.wav``."""

    async def record(stream: AudioStream) -> None:
        path = directory / f"{_file_name(stream.call_sid)}.wav"
        wav = await trio.to_thread.run_sync(_open, path, stream.metadata)
        batch = bytearray()
        try:
            async for frame in stream:
                batch += frame
                if len(batch) >= stream.metadata.bytes_per_second:
                    chunk, batch = bytes(batch), bytearray()
                    await trio.to_thread.run_sync(wav.writeframes, chunk)
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(_finish, wav, bytes(batch))
            stream.log.info("recorded %s", path)

    return record


def _finish(wav: wave.Wave_write, rest: bytes) -> None:
    wav.writeframes(rest)
    wav.close()


app.audio("/record")(make_recorder(RECORDINGS))
assert app.audio_routes is not None
audio: AudioRoutes = app.audio_routes
"""The app's audio routes."""
