"""examples/audio_echo.py and examples/recorder.py through the fake jambonz's audio leg, and
the whole call (flow -> listen verb -> audio socket -> actionHook) through the fake jambonz
with its executor running ``listen`` the way the integration wires it."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from jbtrio import Server
from jbtrio.audio import AudioRoutes
from jbtrio.testing import FakeJambonz
from jbtrio.testing._executor import VerbExecutor as FakeCallSession
from jbtrio.testing.audio import (
    AudioScript,
    AudioTestServer,
    FakeAudioLeg,
    ListenSpec,
    Tone,
    open_audio_server,
    run_listen,
)

CALL = {"call_sid": "call-echo", "from": "15083084809", "to": "15083728299"}


async def test_echo_plays_5_s_back_1_s_late_with_a_mark_every_second(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from examples.audio_echo import DELAY, audio

    tone = Tone(440, seconds=5.0)
    async with open_audio_server(audio) as server:
        leg = FakeAudioLeg(
            ListenSpec(url="ws://app/echo", streaming=True, output_rate=8000),
            call_info=CALL,
            script=AudioScript(source=tone, duration=7.0),
            connector=server.connect,
        )
        start = trio.current_time()
        await leg.run()
    assert leg.outcome is not None and leg.outcome.reason == "duration"
    sent = tone.render(0, 5 * 8000, 8000, 1)
    assert bytes(leg.heard[: len(sent)]) == sent  # every frame back, in order
    assert leg.heard_from is not None
    assert DELAY <= leg.heard_from - start <= DELAY + 0.2  # + jambonz's 80 ms prebuffer
    names = [(r.name, r.event) for _, r in leg.marks]
    assert names == [(f"second-{n}", "playout") for n in range(1, 6)]
    times = [t - start for t, _ in leg.marks]
    for n, t in enumerate(times, start=1):
        assert n + DELAY <= t <= n + DELAY + 0.2
    assert leg.faults == []


async def test_recorder_writes_one_wav_per_call(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    from examples.recorder import make_recorder

    routes = AudioRoutes()
    routes.mount("/record", make_recorder(tmp_path))
    tone = Tone(300, seconds=2.0)
    async with open_audio_server(routes) as server:
        for sid in ("c-1", "../etc/passwd"):
            leg = FakeAudioLeg(
                ListenSpec(url="ws://app/record", mix_type="stereo", sample_rate=16000),
                call_info={**CALL, "call_sid": sid},
                script=AudioScript(source=tone, duration=2.5),
                connector=server.connect,
            )
            await leg.run()
        await trio.testing.wait_all_tasks_blocked()
    check_recordings(tmp_path, tone)


def check_recordings(directory: Path, tone: Tone) -> None:
    assert sorted(p.name for p in directory.iterdir()) == [".._etc_passwd.wav", "c-1.wav"]
    with wave.open(str(directory / "c-1.wav")) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 16000)
        frames = wav.readframes(wav.getnframes())
    assert frames[: 2 * 2 * 32000] == tone.render(0, 32000, 16000, 2)
    assert 2.5 <= len(frames) / (4 * 16000) <= 2.6


# ---------------------------------------------------------------- the whole call


async def _verb_listen(self: FakeCallSession, verb: dict[str, Any]) -> None:
    """What the integration adds to the fake's executor (jbtrio/testing/_executor.py):
    run the audio leg, then the verb's actionHook with the listen results."""
    outcome = await run_listen(
        verb,
        call_info=self.call_info(),
        base_url="ws://jbtrio.test/",
        connector=AUDIO_CONNECTOR[0],
        script=self.caller_audio,  # type: ignore[attr-defined]
        config=self.config,
        log=self.log,
    )
    result = await self._hook(verb, "actionHook", **outcome.hook_data())
    await self._after_hook(verb, "actionHook", result)


AUDIO_CONNECTOR: list[Any] = [None]  # the test's audio server (the listener, once it serves)


@asynccontextmanager
async def serving(app: Any, audio: AudioRoutes) -> AsyncIterator[tuple[Server, AudioTestServer]]:
    async with trio.open_nursery() as nursery, open_audio_server(audio) as audio_server:
        server: Server = await nursery.start(Server(app).run_in)
        yield server, audio_server
        nursery.cancel_scope.cancel()


async def test_the_echo_call_through_the_fake_jambonz(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from examples.audio_echo import app, audio

    monkeypatch.setattr(FakeCallSession, "_verb_listen", _verb_listen, raising=False)
    monkeypatch.setattr(
        FakeCallSession,
        "caller_audio",
        AudioScript(source=Tone(440, seconds=3), duration=4),
        raising=False,
    )
    streams: list[str] = []
    async with serving(app, audio) as (server, audio_server):
        AUDIO_CONNECTOR[0] = audio_server.connect

        async def watch() -> None:
            streams.append((await audio.wait_stream("call-x")).path)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            call = await FakeJambonz().place_call(
                "ws://jbtrio.test/", connector=server.open_memory_stream, call_sid="call-x"
            )
    assert call.outcome.ok, call.outcome.summary()
    listen, hangup = call.executed_verbs
    assert listen["verb"] == "listen" and listen["url"] == "/echo"
    assert listen["bidirectionalAudio"] == {"enabled": True, "streaming": True, "sampleRate": 8000}
    assert hangup == {"verb": "hangup"}
    hook = call.sent("verb:hook")[0]
    assert hook.payload["dial_call_duration"] == 4
    assert streams == ["/echo"]
