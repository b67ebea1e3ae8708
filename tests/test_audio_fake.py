"""The fake jambonz's audio side on its own: the playout model, the clip queue, the verb and
the metadata frame, and run_listen (the executor's entry point)."""

from __future__ import annotations

import trio
import trio.testing

from jbtrio.audio import AudioRoutes, AudioStream
from jbtrio.testing.audio import (
    AudioScript,
    Clip,
    ClipQueue,
    FakeAudioLeg,
    ListenSpec,
    MarkReport,
    Pcm,
    StreamPlayout,
    Tone,
    listen_metadata,
    open_audio_server,
    run_listen,
)


def playout(bug: bool = True) -> StreamPlayout:
    # 20 ms frames of 4 bytes, playout from the first 8 bytes on
    return StreamPlayout(frame_bytes=4, prebuffer_bytes=8, reproduce_clear_marks_bug=bug)


def test_playout_starts_after_the_prebuffer_and_reports_marks_in_place() -> None:
    p = playout()
    p.receive_audio(b"aaaa")
    assert p.tick() == (b"", [])  # 4 bytes < prebuffer
    p.mark("m1")
    p.receive_audio(b"bbbb")
    assert p.tick() == (b"aaaa", [])
    assert p.tick() == (b"bbbb", [MarkReport("m1", "playout")])
    assert p.tick() == (b"", [])


def test_a_mark_with_no_audio_after_it_fires_once_the_buffer_is_empty() -> None:
    p = playout()
    p.receive_audio(b"aaaabbbb")
    p.mark("end")
    assert p.tick() == (b"aaaa", [])
    assert p.tick() == (b"bbbb", [])
    assert p.tick() == (b"", [MarkReport("end", "playout")])


def test_kill_reports_every_mark_cleared_and_empties_the_buffer() -> None:
    p = playout(bug=False)
    p.mark("a")
    p.receive_audio(b"aaaabbbb")
    p.mark("b")
    p.kill()
    assert p.tick() == (b"", [MarkReport("a", "cleared"), MarkReport("b", "cleared")])
    assert p.buffered_bytes == 0


def test_clear_marks_is_silent_and_the_defect_swallows_later_marks() -> None:
    p = playout(bug=True)
    p.receive_audio(b"aaaabbbb")
    p.mark("forgotten")
    p.clear_marks()
    p.mark("next")
    p.receive_audio(b"cccc")
    reports = [r for _ in range(5) for r in p.tick()[1]]
    assert reports == []  # "next" consumed the forgotten mark's place on the cleared list
    q = playout(bug=False)
    q.receive_audio(b"aaaabbbb")
    q.mark("forgotten")
    q.clear_marks()
    q.mark("next")
    q.receive_audio(b"cccc")
    assert [r for _ in range(5) for r in q.tick()[1]] == [MarkReport("next", "playout")]


def test_more_than_30_marks_are_discarded() -> None:
    p = playout()
    for n in range(32):
        p.mark(f"m{n}")
    assert p.discarded_marks == ["m30", "m31"]


def test_clip_queue_follows_listen_js() -> None:
    q = ClipQueue(max_queue=2)
    clips = [Clip(n, 1.0, {}) for n in range(5)]
    for clip in clips[:4]:
        q.play(clip, queued=True)
    assert q.current is clips[0]
    assert list(q.waiting) == clips[1:4]  # 3 wait: listen.js accepts while <= max
    q.play(clips[4], queued=True)
    assert q.dropped == [clips[4]]
    assert q.finish_current() is clips[0]
    assert q.current is clips[1]
    now = Clip("now", 1.0, {})
    q.play(now, queued=False)
    assert q.dropped == [clips[4], clips[2], clips[3]]
    assert q.finish_current() is clips[1]
    assert q.current is now


def test_the_verb_and_its_metadata_frame() -> None:
    verb = {
        "verb": "listen",
        "url": "/audio",
        "sampleRate": 16000,
        "mixType": "stereo",
        "metadata": {"callSid": "overridden?", "topic": "x"},
        "passDtmf": True,
        "bidirectionalAudio": {"enabled": True, "streaming": True, "sampleRate": 24000},
    }
    spec = ListenSpec.from_verb(
        verb, base_url="wss://app.example.com:8443/calls", username="u", password="p"
    )
    assert spec.url == "wss://app.example.com:8443/audio"
    assert (spec.username, spec.password) == ("u", "p")
    assert (spec.streaming, spec.output_rate, spec.channels) == (True, 24000, 2)
    info = {"call_sid": "c1", "from": "a", "to": "b", "customerData": {"k": 1}, "sip_status": 200}
    frame = listen_metadata(info, spec)
    assert frame["sampleRate"] == 16000 and frame["mixType"] == "stereo"
    assert frame["sipStatus"] == 200 and frame["customerData"] == {"k": 1}
    assert frame["callSid"] == "overridden?"  # the verb's metadata is merged over the info
    assert (
        ListenSpec.from_verb({"url": "ws://h/x", "disableBidirectionalAudio": True}).bidirectional
        is False
    )
    absolute = ListenSpec.from_verb(
        {"url": "ws://h/x", "wsAuth": {"username": "a", "password": "b"}}
    )
    assert (absolute.username, absolute.password) == ("a", "b")


def test_sources() -> None:
    tone = Tone(1000, amplitude=0.5)
    stereo = tone.render(0, 8, 8000, 2)
    assert len(stereo) == 32 and stereo[:2] == stereo[2:4]
    assert Pcm(b"\1\2\3\4").render(1, 3, 8000, 1) == b"\3\4" + bytes(4)


async def test_run_listen_is_the_executor_hook(autojump_clock: trio.testing.MockClock) -> None:
    routes = AudioRoutes()
    got: list[AudioStream] = []

    @routes.audio("/audio")
    async def handler(stream: AudioStream) -> None:
        got.append(stream)
        async for frame in stream:
            await stream.send_audio(frame)

    legs: list[FakeAudioLeg] = []
    verb = {
        "verb": "listen",
        "url": "/audio",
        "actionHook": "/done",
        "maxLength": 2,
        "bidirectionalAudio": {"enabled": True, "streaming": True},
    }
    async with open_audio_server(routes) as server:
        outcome = await run_listen(
            verb,
            call_info={"call_sid": "c7", "from": "a", "to": "b"},
            base_url="ws://localhost:3000/",
            connector=server.connect,
            script=AudioScript(duration=10),
            legs=legs,
        )
    assert outcome.reason == "max_length"
    assert outcome.hook_data() == {"dial_call_duration": 2}
    assert got[0].call_sid == "c7"
    assert len(legs[0].heard) > 0


async def test_connect_failure_ends_the_listen_without_duration(
    autojump_clock: trio.testing.MockClock,
) -> None:
    routes = AudioRoutes()  # nothing mounted: 404
    async with open_audio_server(routes) as server:
        outcome = await run_listen(
            {"verb": "listen", "url": "ws://x/audio"},
            call_info={"call_sid": "c8"},
            connector=server.connect,
        )
    assert outcome.reason == "connect_failed"
    assert "404" in outcome.detail
    assert outcome.hook_data() == {}
