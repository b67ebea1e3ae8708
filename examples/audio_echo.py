"""``/echo``: the caller hears themself one second late, with a mark after every second.

An audio app has two sides. The call flow at ``/`` answers with a ``listen`` verb pointed
at ``/echo``, bidirectional streaming on; jambonz then opens a second websocket (subprotocol
``audio.drachtio.org``) to ``/echo``. The audio handler there gets the caller's audio (20 ms
L16 frames) and sends every frame back one second after it arrived; after each second of
echoed audio it puts a mark, which jambonz reports once that second has been played to the
caller.

Both sides are the one app's: ``jbtrio serve examples.audio_echo:app`` serves the call
socket and the audio socket on the same port (told apart by subprotocol); try the audio side
alone with ``python -m jbtrio audio ws://127.0.0.1:3000/echo --streaming``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

import trio

import jbtrio
from jbtrio.audio import AudioRoutes, AudioStream, Mark
from jbtrio.verbs import BidirectionalAudio, Hangup, Listen

__all__ = ["DELAY", "app", "audio", "echo"]

log = logging.getLogger("examples.audio_echo")

DELAY = 1.0
"""Seconds between hearing a frame and playing it back."""
RATE = 8000

app = jbtrio.App()


@app.flow("/")
async def answer(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
    """Stream the call's audio to ``/echo`` and take audio back (for at most 5 minutes)."""
    yield Listen(
        url=app.audio_url("/echo"),
        sample_rate=RATE,
        bidirectional_audio=BidirectionalAudio(enabled=True, streaming=True, sample_rate=RATE),
        max_length=300,
    )
    yield Hangup()


@app.audio("/echo")
async def echo(stream: AudioStream) -> None:
    """Frames go into a bounded channel (2 s of them) stamped with when to play them."""
    delayed, playback = trio.open_memory_channel[tuple[float, bytes]](int(2 * DELAY * 50))
    marks, reports = trio.open_memory_channel[Mark](16)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_play_back, stream, playback, marks, name=f"echo {stream.call_sid}")
        nursery.start_soon(_report, stream, reports, name=f"echo {stream.call_sid} marks")
        async with delayed:
            async for frame in stream:
                await delayed.send((trio.current_time() + DELAY, frame))


assert app.audio_routes is not None
audio: AudioRoutes = app.audio_routes
"""The app's audio routes (a flow reaches its call's stream with ``audio.wait_stream``)."""


async def _play_back(
    stream: AudioStream,
    frames: trio.MemoryReceiveChannel[tuple[float, bytes]],
    marks: trio.MemorySendChannel[Mark],
) -> None:
    per_second = 2 * stream.output_sample_rate  # L16 mono
    sent = seconds = 0
    async with frames, marks:
        async for due, frame in frames:
            await trio.sleep_until(due)
            await stream.send_audio(frame)
            sent += len(frame)
            if sent >= (seconds + 1) * per_second:
                seconds += 1
                await marks.send(await stream.send_mark(f"second-{seconds}"))


async def _report(stream: AudioStream, marks: trio.MemoryReceiveChannel[Mark]) -> None:
    async with marks:
        async for mark in marks:
            outcome = await mark.wait()
            stream.log.info("%s: %s", mark.name, outcome.value)
