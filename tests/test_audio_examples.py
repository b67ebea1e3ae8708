"""examples/audio_echo.py and examples/recorder.py through the fake jambonz's audio leg, and
the whole call (flow -> listen verb -> audio socket -> actionHook) through the fake jambonz,
whose executor runs ``listen`` as jambonz does."""

from __future__ import annotations

import wave
from pathlib import Path

import trio
import trio.testing

import jbtrio
from jbtrio import Server
from jbtrio.audio import AudioRoutes
from jbtrio.testing import Caller, FakeJambonz
from jbtrio.testing.audio import (
    AudioScript,
    FakeAudioLeg,
    ListenSpec,
    Tone,
    open_audio_server,
)
from jbtrio.verbs import Hangup, Listen, Say

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


async def test_the_echo_call_through_the_fake_jambonz(
    transport: str, autojump_clock: trio.testing.MockClock
) -> None:
    """The call socket and the audio socket reach the same listener (the app's own audio
    routes), as with ``jbtrio serve examples.audio_echo:app``."""
    from examples.audio_echo import app, audio

    streams: list[str] = []
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(
            Server(app, jbtrio.ServerConfig(transport=transport)).run_in
        )

        async def watch() -> None:
            streams.append((await audio.wait_stream("call-x")).path)

        nursery.start_soon(watch)
        call = await FakeJambonz().place_call(
            "ws://jbtrio.test/",
            connector=server.open_memory_stream,  # the audio socket too: the app's own host
            caller=Caller(audio=AudioScript(source=Tone(440, seconds=3), duration=4)),
            call_sid="call-x",
        )
        await server.shutdown(0)
        nursery.cancel_scope.cancel()
    assert call.outcome.ok, call.outcome.summary()
    listen, hangup = call.executed_verbs
    assert listen["verb"] == "listen" and listen["url"] == "/echo"
    assert listen["bidirectionalAudio"] == {"enabled": True, "streaming": True, "sampleRate": 8000}
    assert hangup == {"verb": "hangup"}
    hook = call.sent("verb:hook")[0]
    assert hook.payload["dial_call_duration"] == 4
    assert streams == ["/echo"]
    (leg,) = call.audio_legs
    assert leg.metadata["callSid"] == "call-x" and leg.spec.url == "ws://jbtrio.test/echo"
    assert len(leg.heard) >= 2 * 8000 * 2  # the echo came back, 1 s late
    assert [r.name for _, r in leg.marks][:2] == ["second-1", "second-2"]


async def test_an_audio_socket_that_fails_is_a_fault_and_the_verb_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()

    @app.flow("/")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        heard: jbtrio.ListenResult = yield Listen(url="/nobody-serves-this")
        yield [Say(text=f"{heard.dial_call_duration}"), Hangup()]

    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app).run_in)
        call = await FakeJambonz().place_call(
            "ws://jbtrio.test/", connector=server.open_memory_stream
        )
        nursery.cancel_scope.cancel()
    assert not call.outcome.ok
    assert call.outcome.faults[0].startswith("listen /nobody-serves-this: the audio socket failed")
    assert call.executed_verbs[1] == {"verb": "say", "text": "None"}  # no duration: no socket
