"""The app the multi-process tests serve (``jbtrio serve _workers_app:app --workers 2``).

Every verb it says names the process that said it, so a test can check that all the sockets
of a call, reconnects and audio sockets included, were served by the same worker.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from typing import Any

import jbtrio
from jbtrio.audio import AudioStream
from jbtrio.verbs import Gather, Hangup, Listen, Say

app = jbtrio.App()

TURNS = 3


@app.flow("/workers")
async def turns(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
    """Three gathers, each answered with a say naming this process, then a hang-up."""
    pid = os.getpid()
    for turn in range(TURNS):
        try:
            answer: jbtrio.GatherResult = yield Gather(
                input=["speech"], timeout=5, say=Say(text=f"pid {pid} turn {turn}")
            )
        except jbtrio.HookFailed:
            # The hook died with a dropped socket, what the caller said with it: jambonz
            # gave up on it and waits for verbs. Move on (unhandled, it would end the call).
            continue
        yield Say(text=f"pid {pid} heard {answer.speech_text}")
    yield [Say(text=f"pid {pid} bye"), Hangup()]


AUDIO_PIDS: dict[str, int] = {}
"""The process whose audio handler served each call's audio socket (this process's only)."""


@app.audio("/pid")
async def audio_pid(stream: AudioStream) -> None:
    AUDIO_PIDS[stream.call_sid] = os.getpid()
    async for _frame in stream:
        pass


@app.flow("/workers-audio")
async def with_audio(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
    """A listen verb to ``/pid``, then a say naming the process of the call and of its audio
    socket (``elsewhere``: not this process)."""
    yield Listen(url=app.audio_url("/pid"))
    audio = AUDIO_PIDS.pop(call.sid, "elsewhere")
    yield [Say(text=f"pid {os.getpid()} audio {audio}"), Hangup()]
