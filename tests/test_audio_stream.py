"""Audio streams end to end: jbtrio's AudioStream served over a websocket, the fake jambonz's
audio leg on the other end, under MockClock."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from jbtrio.audio import (
    AudioConfig,
    AudioRoutes,
    AudioStream,
    AudioStreamClosed,
    Dtmf,
    MarkEvent,
    MarkOutcome,
    PlayDone,
    PlayOutcome,
)
from jbtrio.testing.audio import (
    AudioLegConfig,
    AudioScript,
    FakeAudioLeg,
    ListenSpec,
    Pcm,
    Quiet,
    Tone,
    open_audio_server,
)

CALL = {"call_sid": "call-1", "from": "15083084809", "to": "15083728299", "call_id": "x@y"}


async def run_leg(
    handler: Callable[[AudioStream], Awaitable[None]],
    spec: ListenSpec,
    script: AudioScript,
    *,
    config: AudioConfig | None = None,
    leg_config: AudioLegConfig | None = None,
) -> tuple[FakeAudioLeg, AudioRoutes]:
    routes = AudioRoutes(config=config)
    routes.mount("/audio", handler)
    async with open_audio_server(routes) as server:
        leg = FakeAudioLeg(
            spec, call_info=CALL, script=script, connector=server.connect, leg=leg_config
        )
        await leg.run()
        # let the server side see the close
        await trio.testing.wait_all_tasks_blocked()
    return leg, routes


def streaming(**kw: Any) -> ListenSpec:
    return ListenSpec(url="ws://app.example.com/audio", streaming=True, **kw)


def clips(**kw: Any) -> ListenSpec:
    return ListenSpec(url="ws://app.example.com/audio", **kw)


async def test_echo_plays_the_callers_audio_back(autojump_clock: trio.testing.MockClock) -> None:
    seen: list[AudioStream] = []

    async def echo(stream: AudioStream) -> None:
        seen.append(stream)
        async for frame in stream:
            await stream.send_audio(frame)

    tone = Tone(440, seconds=1.0)
    leg, routes = await run_leg(echo, streaming(), AudioScript(source=tone, duration=2.0))
    assert leg.outcome is not None and leg.outcome.reason == "duration"
    expected = tone.render(0, 8000, 8000, 1)
    assert leg.heard[: len(expected)] == expected
    assert leg.heard_from is not None
    assert leg.faults == []
    (stream,) = seen
    assert stream.stats.frames_in >= 100
    assert stream.stats.frames_dropped == 0
    assert stream.closed and stream.close_code == 1000
    assert routes.active == 0 and routes.live == {}


async def test_metadata_and_the_verbs_own_metadata(autojump_clock: trio.testing.MockClock) -> None:
    got: list[Any] = []

    async def handler(stream: AudioStream) -> None:
        got.append(stream.metadata)

    spec = ListenSpec(
        url="ws://app/audio", sample_rate=16000, mix_type="stereo", metadata={"lang": "fr"}
    )
    await run_leg(handler, spec, AudioScript(duration=0.2))
    (meta,) = got
    assert meta.call_sid == "call-1"
    assert (meta.sample_rate, meta.mix_type, meta.channels) == (16000, "stereo", 2)
    assert (meta.from_, meta.to, meta.call_id) == ("15083084809", "15083728299", "x@y")
    assert meta.custom == {"lang": "fr"}


async def test_dtmf_events_and_finish_on_key(autojump_clock: trio.testing.MockClock) -> None:
    events: list[Any] = []

    async def handler(stream: AudioStream) -> None:
        async for event in stream.events():
            events.append(event)

    spec = streaming(pass_dtmf=True, finish_on_key="#")
    script = AudioScript(duration=10, dtmf=[(0.5, "1"), (1.0, "#"), (2.0, "2")])
    leg, _ = await run_leg(handler, spec, script)
    assert events == [Dtmf("1", 1600), Dtmf("#", 1600)]
    assert leg.outcome is not None
    assert (leg.outcome.reason, leg.outcome.digits) == ("finish_on_key", "#")
    assert leg.outcome.hook_data() == {"dial_call_duration": 1, "digits": "#"}


async def test_marks_play_out_after_the_audio_before_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    results: list[tuple[MarkOutcome, float]] = []

    async def handler(stream: AudioStream) -> None:
        start = trio.current_time()
        await stream.send_audio(b"\1\0" * 8000)  # 1 s at 8 kHz
        outcome = await stream.mark("one-second")
        results.append((outcome, trio.current_time() - start))
        await stream.disconnect()

    leg, _ = await run_leg(handler, streaming(), AudioScript(source=Quiet(), duration=5))
    ((outcome, elapsed),) = results
    assert outcome is MarkOutcome.PLAYOUT
    assert 1.0 <= elapsed <= 1.2
    assert [(r.name, r.event) for _, r in leg.marks] == [("one-second", "playout")]
    assert leg.outcome is not None and leg.outcome.reason == "disconnect"
    assert len(leg.heard) == 16000


async def test_kill_audio_clears_the_marks(autojump_clock: trio.testing.MockClock) -> None:
    results: list[MarkOutcome] = []

    async def handler(stream: AudioStream) -> None:
        await stream.send_audio(b"\1\0" * 16000)  # 2 s
        first = await stream.send_mark("a")
        await trio.sleep(0.5)
        await stream.kill_audio()
        results.append(await first.wait())
        await trio.sleep(0.5)
        await stream.aclose()

    config = AudioConfig(max_ahead_ms=2000)  # the 2 s go out at once
    leg, _ = await run_leg(
        handler, streaming(), AudioScript(source=Quiet(), duration=5), config=config
    )
    assert results == [MarkOutcome.CLEARED]
    assert [r.event for _, r in leg.marks] == ["cleared"]
    assert len(leg.heard) < 16000  # cut short
    assert leg.outcome is not None and leg.outcome.reason == "app_closed"
    assert leg.close_code == 1000


@pytest.mark.parametrize("bug", [True, False])
async def test_clear_marks_and_jambonz_losing_later_marks(
    autojump_clock: trio.testing.MockClock, bug: bool
) -> None:
    results: list[MarkOutcome] = []

    async def handler(stream: AudioStream) -> None:
        await stream.send_audio(b"\1\0" * 800)
        pending = await stream.send_mark("never-followed-by-audio")
        await stream.clear_marks()
        results.append(await pending.wait())
        results.append(await stream.mark("second"))
        await stream.send_audio(b"\1\0" * 800)
        results.append(await stream.mark("third"))

    config = AudioConfig(report_grace=1.0)
    leg_config = AudioLegConfig(reproduce_clear_marks_bug=bug)
    leg, _ = await run_leg(
        handler, streaming(), AudioScript(duration=6), config=config, leg_config=leg_config
    )
    if bug:
        # jambonz keeps the mark it forgot on its "cleared" list, and from then on its
        # bookkeeping never reports another: the report grace resolves them.
        assert results == [MarkOutcome.CLEARED, MarkOutcome.UNREPORTED, MarkOutcome.UNREPORTED]
        assert leg.marks == []
    else:
        assert results == [MarkOutcome.CLEARED, MarkOutcome.PLAYOUT, MarkOutcome.PLAYOUT]
        assert [r.name for _, r in leg.marks] == ["second", "third"]


async def test_marks_without_streaming_are_unreported(
    autojump_clock: trio.testing.MockClock,
) -> None:
    results: list[MarkOutcome] = []

    async def handler(stream: AudioStream) -> None:
        results.append(await stream.mark("m"))

    await run_leg(handler, clips(), AudioScript(duration=6), config=AudioConfig(report_grace=2))
    assert results == [MarkOutcome.UNREPORTED]


async def test_clips_play_in_order_with_play_done(autojump_clock: trio.testing.MockClock) -> None:
    results: list[Any] = []

    async def handler(stream: AudioStream) -> None:
        first = await stream.send_play(b"\0\0" * 8000, queue=True)  # 1 s
        second = await stream.send_play(b"\0\0" * 4000, queue=True)
        results.append(await first.wait())
        results.append(await second.wait())
        results.append(trio.current_time())

    leg, _ = await run_leg(handler, clips(), AudioScript(duration=3))
    first, second, _ = results
    assert first.outcome is PlayOutcome.DONE and second.outcome is PlayOutcome.DONE
    assert isinstance(first.done, PlayDone) and first.done.id == "jb1"
    assert first.done.data["playbackMilliseconds"] == "1000"
    assert second.done.data["playbackMilliseconds"] == "500"
    assert [c.id for c in leg.clips] == ["jb1", "jb2"]


async def test_a_clip_without_queue_drops_the_waiting_ones(
    autojump_clock: trio.testing.MockClock,
) -> None:
    results: list[Any] = []

    async def handler(stream: AudioStream) -> None:
        queued = [await stream.send_play(b"\0\0" * 8000, queue=True) for _ in range(3)]
        now = await stream.send_play(b"\0\0" * 800)
        results.extend([await p.wait() for p in [*queued, now]])

    leg, _ = await run_leg(handler, clips(), AudioScript(duration=4))
    assert [r.outcome for r in results] == [
        PlayOutcome.DONE,
        PlayOutcome.DROPPED,
        PlayOutcome.DROPPED,
        PlayOutcome.DONE,
    ]
    assert [c.id for c in leg.clips] == ["jb1", "jb4"]


async def test_kill_audio_cuts_the_clip_playing(autojump_clock: trio.testing.MockClock) -> None:
    results: list[Any] = []

    async def handler(stream: AudioStream) -> None:
        playback = await stream.send_play(b"\0\0" * 16000)  # 2 s
        await trio.sleep(0.5)
        await stream.kill_audio()
        results.append(await playback.wait())

    await run_leg(handler, clips(), AudioScript(duration=3))
    (result,) = results
    assert result.outcome is PlayOutcome.DONE
    assert 400 <= int(result.done.data["playbackMilliseconds"]) <= 600


async def test_play_in_streaming_mode_is_unreported(
    autojump_clock: trio.testing.MockClock,
) -> None:
    results: list[Any] = []

    async def handler(stream: AudioStream) -> None:
        results.append(await stream.play(b"\0\0" * 800))

    leg, _ = await run_leg(
        handler, streaming(), AudioScript(duration=5), config=AudioConfig(report_grace=1)
    )
    assert results[0].outcome is PlayOutcome.UNREPORTED
    assert any("playAudio ignored" in f for f in leg.faults)


async def test_pacing_never_queues_more_than_max_ahead(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ahead: list[float] = []
    took: list[float] = []

    async def handler(stream: AudioStream) -> None:
        start = trio.current_time()
        for _ in range(10):
            await stream.send_audio(b"\0\0" * 2400)  # 300 ms each, 3 s in all
            ahead.append(stream.queued_ahead)
        took.append(trio.current_time() - start)

    config = AudioConfig(max_ahead_ms=200)
    leg, _ = await run_leg(handler, streaming(), AudioScript(duration=4), config=config)
    assert max(ahead) <= 0.2 + 1e-3
    assert 2.7 <= took[0] <= 3.0  # paced to real time, less what may be ahead
    assert leg.playout.buffered_bytes <= 2 * 1600


async def test_a_slow_consumer_drops_the_oldest_frames_not_events(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[Any] = []

    async def handler(stream: AudioStream) -> None:
        await trio.sleep(2.0)  # reads nothing for 2 s
        got.append(stream.stats.frames_dropped)
        got.append(await stream.receive())
        got.append(await stream.receive_event())

    caplog.set_level(logging.WARNING, "jbtrio.audio")
    spec = streaming(pass_dtmf=True)
    script = AudioScript(source=Pcm(bytes(range(256)) * 200), duration=3, dtmf=[(0.1, "7")])
    config = AudioConfig(inbound_buffer_ms=500)
    await run_leg(handler, spec, script, config=config)
    dropped, frame, event = got
    assert dropped >= 70
    assert len(frame) == 320
    assert event == Dtmf("7", 1600)
    records = [r for r in caplog.records if "oldest frames are dropped" in r.getMessage()]
    assert len(records) == 1  # once per stream; the count is in the stats
    assert getattr(records[0], "call_sid", None) == "call-1"


async def test_handler_crash_closes_1011_and_is_logged(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(stream: AudioStream) -> None:
        await stream.receive()
        raise RuntimeError("boom")

    leg, routes = await run_leg(handler, streaming(), AudioScript(duration=5))
    assert leg.close_code == 1011
    assert leg.outcome is not None and leg.outcome.reason == "app_closed"
    failed = [r for r in caplog.records if "the audio handler failed" in r.getMessage()]
    assert failed and getattr(failed[0], "call_sid", None) == "call-1"
    assert routes.active == 0


async def test_sends_after_the_socket_closed_raise(autojump_clock: trio.testing.MockClock) -> None:
    raised: list[BaseException] = []

    async def handler(stream: AudioStream) -> None:
        async for _ in stream:
            pass
        try:
            await stream.send_audio(b"\0\0")
        except AudioStreamClosed as exc:
            raised.append(exc)

    await run_leg(handler, streaming(), AudioScript(duration=0.5))
    assert len(raised) == 1


async def test_a_handler_ignoring_the_close_is_cancelled_after_the_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ended = trio.Event()
    when: list[float] = []
    routes = AudioRoutes(config=AudioConfig(close_grace=3))

    @routes.audio("/audio")
    async def handler(stream: AudioStream) -> None:
        try:
            await trio.sleep_forever()
        finally:
            when.append(trio.current_time())
            ended.set()

    async with open_audio_server(routes) as server:
        leg = FakeAudioLeg(
            streaming(), call_info=CALL, script=AudioScript(duration=0.5), connector=server.connect
        )
        await leg.run()
        closed = trio.current_time()
        await ended.wait()
    assert 3.0 <= when[0] - closed <= 3.1


async def test_a_flow_finds_its_calls_stream(autojump_clock: trio.testing.MockClock) -> None:
    routes = AudioRoutes()
    found: list[AudioStream] = []

    @routes.audio("/audio")
    async def handler(stream: AudioStream) -> None:
        async for _ in stream:
            pass

    async with open_audio_server(routes) as server, trio.open_nursery() as nursery:

        async def flow() -> None:
            found.append(await routes.wait_stream("call-1"))

        nursery.start_soon(flow)
        leg = FakeAudioLeg(
            streaming(), call_info=CALL, script=AudioScript(duration=1), connector=server.connect
        )
        await leg.run()
    assert found[0].call_sid == "call-1"
    assert routes.audio_url("/audio") == "/audio"
    assert routes.audio_url("/audio/x", base="wss://h.example/") == "wss://h.example/audio/x"
    with pytest.raises(ValueError):
        routes.audio_url("/nope")


async def test_events_mark_and_play_done_are_delivered_typed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events: list[Any] = []

    async def handler(stream: AudioStream) -> None:
        async with trio.open_nursery() as nursery:

            async def collect() -> None:
                async for event in stream.events():
                    events.append(event)

            nursery.start_soon(collect)
            await stream.send_audio(b"\0\0" * 800)
            await stream.mark("m")
            await stream.disconnect()

    await run_leg(handler, streaming(), AudioScript(duration=3))
    assert events == [MarkEvent("m", "playout")]
