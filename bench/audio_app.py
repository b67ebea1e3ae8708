"""The audio echo as a jbtrio app, for ``bench/audio.py``: ``jbtrio serve audio_app:app``
(from ``bench/``) serves it on the same listener as calls, the way a user's app is served.

The handler is the one a user writes (``examples/audio_echo.py`` without the delay)::

    async for frame in stream:
        await stream.send_audio(frame)
"""

from __future__ import annotations

import jbtrio
from jbtrio.audio import AudioStream

__all__ = ["app"]

app = jbtrio.App()


@app.audio("/echo")
async def echo(stream: AudioStream) -> None:
    """Every frame of the caller sent back, paced by the stream's playout clock."""
    async for frame in stream:
        await stream.send_audio(frame)
