"""The audio wire model and the sans-IO audio core: parsing, bounds, the playout clock,
marks and clips, without sockets or Trio."""

from __future__ import annotations

import io
import math
import wave
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from jbtrio.audio import (
    AudioConfig,
    AudioLimitError,
    AudioProtocolError,
    Dtmf,
    MarkEvent,
    MarkOutcome,
    PlayDone,
    PlayOutcome,
    UnknownAudioEvent,
    parse_event,
    parse_metadata,
)
from jbtrio.audio._core import AudioCore, LogLimiter, PendingPlay, PlayResult, clip_seconds

# What listen.js sends: {sampleRate, mixType}, the call info (camelCase), then the verb's
# metadata merged at the top level.
METADATA = {
    "sampleRate": 8000,
    "mixType": "mono",
    "callSid": "c1",
    "direction": "inbound",
    "from": "15083084809",
    "to": "15083728299",
    "callId": "abc@10.0.0.1",
    "sipStatus": 200,
    "callStatus": "in-progress",
    "accountSid": "acct",
    "applicationSid": "app",
    "traceId": "t",
    "customerData": {"tier": "gold"},
    "language": "en-US",
    "callType": "support",
}


def core(config: AudioConfig | None = None, **overrides: object) -> AudioCore:
    data = {**METADATA, **overrides}
    return AudioCore(parse_metadata(orjson.dumps(data)), config or AudioConfig(), 0.0)


# ---------------------------------------------------------------- wire


def test_metadata_typed_with_the_verbs_metadata_apart() -> None:
    meta = parse_metadata(orjson.dumps(METADATA).decode())
    assert meta.call_sid == "c1"
    assert (meta.sample_rate, meta.mix_type, meta.channels) == (8000, "mono", 1)
    assert (meta.from_, meta.to, meta.call_id) == ("15083084809", "15083728299", "abc@10.0.0.1")
    assert meta.customer_data == {"tier": "gold"}
    assert meta.custom == {"language": "en-US", "callType": "support"}
    assert meta.raw["sipStatus"] == 200
    assert meta.frame_bytes() == 320


def test_stereo_metadata_has_two_channels() -> None:
    meta = parse_metadata(orjson.dumps({**METADATA, "mixType": "stereo", "sampleRate": 16000}))
    assert meta.channels == 2
    assert meta.frame_bytes() == 1280


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"sampleRate": 8000}', "no callSid"),
        ('{"callSid": "c", "sampleRate": "8000"}', "invalid sampleRate"),
        ('{"callSid": "c", "sampleRate": 0}', "invalid sampleRate"),
        ('{"callSid": "c", "sampleRate": true}', "invalid sampleRate"),
        ('{"callSid": "c", "sampleRate": 8000.5}', "invalid sampleRate"),
        ('{"callSid": "c", "sampleRate": 8000, "mixType": "quad"}', "invalid mixType"),
    ],
)
def test_bad_metadata_is_a_typed_error(frame: str, reason: str) -> None:
    with pytest.raises(AudioProtocolError, match=reason):
        parse_metadata(frame)


def test_metadata_size_is_capped() -> None:
    with pytest.raises(AudioProtocolError, match="over the 100-byte limit"):
        parse_metadata(orjson.dumps(METADATA), limit=100)


def test_events_typed() -> None:
    assert parse_event('{"event":"dtmf","dtmf":"5","duration":"1600"}') == Dtmf("5", 1600)
    assert Dtmf("#", 800).duration_ms == 100
    assert parse_event('{"event":"dtmf","dtmf":"1"}') == Dtmf("1", None)
    mark = '{"type": "mark", "data": {"name":"m1", "event": "playout"}}'
    assert parse_event(mark) == MarkEvent("m1", "playout")
    done = parse_event('{"type":"playDone","data":{"id":"jb1","playbackSeconds":2}}')
    assert isinstance(done, PlayDone)
    assert done.id == "jb1"
    assert done.data["playbackSeconds"] == 2
    assert parse_event('{"type":"playDone"}') == PlayDone(None, {})
    assert parse_event('{"type":"later","x":1}') == UnknownAudioEvent({"type": "later", "x": 1})


@pytest.mark.parametrize(
    "frame",
    [
        "{",
        '"text"',
        '{"event":"dtmf"}',
        '{"type":"mark"}',
        '{"type":"mark","data":{"name":"m"}}',
        '{"type":"mark","data":{"name":"m","event":"later"}}',
        '{"type":"playDone","data":[]}',
    ],
)
def test_malformed_events_are_typed_errors(frame: str) -> None:
    with pytest.raises(AudioProtocolError):
        parse_event(frame)


# ---------------------------------------------------------------- inbound audio


def test_slow_consumer_loses_the_oldest_frames_counted() -> None:
    c = core(AudioConfig(inbound_buffer_ms=100))  # 1,600 bytes at 8 kHz mono: 5 frames
    for n in range(8):
        c.receive_audio(bytes([n]) * 320)
    assert c.buffered_frames == 5
    assert c.stats.frames_dropped == 3
    assert c.stats.bytes_dropped == 960
    assert c.pop_frame() == bytes([3]) * 320


def test_frame_count_bound_applies_too() -> None:
    c = core(AudioConfig(inbound_buffer_frames=2))
    for n in range(4):
        c.receive_audio(bytes([n]) * 2)
    assert c.buffered_frames == 2
    assert c.pop_frame() == bytes([2]) * 2


def test_a_frame_bigger_than_the_buffer_is_kept_alone() -> None:
    c = core(AudioConfig(inbound_buffer_ms=100))
    c.receive_audio(b"\0" * 100)
    c.receive_audio(b"\1" * 5000)
    assert c.buffered_frames == 1
    assert c.pop_frame() == b"\1" * 5000


def test_misaligned_and_empty_frames() -> None:
    c = core(mixType="stereo")
    with pytest.raises(AudioProtocolError, match="not whole 4-byte"):
        c.receive_audio(b"\0" * 6)
    assert c.stats.protocol_errors == 1
    assert c.receive_audio(b"") == 0
    assert c.stats.empty_frames == 1
    assert c.buffered_frames == 0


@given(st.lists(st.one_of(st.integers(1, 400), st.just(0)), max_size=60))
def test_inbound_buffer_stays_bounded_and_accounts_for_every_frame(ops: list[int]) -> None:
    c = core(AudioConfig(inbound_buffer_ms=50, inbound_buffer_frames=4))
    popped = 0
    for size in ops:
        if size == 0:
            popped += c.pop_frame() is not None
            continue
        c.receive_audio(b"\0" * (size * 2))
        assert c.buffered_frames <= 4
        assert c.buffered_frames == 1 or c._buffered <= 800  # 50 ms
    assert c.stats.frames_in == popped + c.stats.frames_dropped + c.buffered_frames


def test_events_are_bounded_and_counted() -> None:
    c = core(AudioConfig(event_buffer=2))
    for digit in "123":
        c.receive_text(orjson.dumps({"event": "dtmf", "dtmf": digit}).decode())
    assert c.stats.events_dropped == 1
    assert c.pop_event() == Dtmf("2")


# ---------------------------------------------------------------- the playout clock


def test_pacing_keeps_at_most_max_ahead_queued() -> None:
    c = core(AudioConfig(max_ahead_ms=100))
    frame = b"\0" * 320  # 20 ms at 8 kHz
    now = 0.0
    for _ in range(5):
        assert c.send_delay(len(frame), now) == 0
        c.audio_sent(len(frame), now)
    assert c.queued_ahead(now) == pytest.approx(0.1)
    assert c.send_delay(len(frame), now) == pytest.approx(0.02)
    assert c.send_delay(len(frame), 0.02) == 0
    c.output_rate = 16000
    assert c.send_delay(640, 0.0) == pytest.approx(0.02)


def test_big_chunks_go_in_slices_of_half_the_budget() -> None:
    c = core(AudioConfig(max_ahead_ms=100))
    pieces = c.slices(b"\0" * 3200)  # 200 ms
    assert [len(p) for p in pieces] == [800, 800, 800, 800]
    assert c.slices(b"\0" * 320) == [b"\0" * 320]
    with pytest.raises(AudioLimitError):
        c.slices(b"\0" * 3)


# ---------------------------------------------------------------- marks


def mark_event(name: str, event: str = "playout") -> str:
    return orjson.dumps({"type": "mark", "data": {"name": name, "event": event}}).decode()


def test_marks_resolve_in_order_and_a_later_one_settles_the_skipped() -> None:
    c = core()
    a = c.commit_mark("a", 0.0)
    b = c.commit_mark("b", 0.0)
    d = c.commit_mark("d", 0.0)
    c.receive_text(mark_event("a"))
    assert a.outcome is MarkOutcome.PLAYOUT
    c.receive_text(mark_event("d"))
    assert b.outcome is MarkOutcome.UNREPORTED
    assert d.outcome is MarkOutcome.PLAYOUT
    c.receive_text(mark_event("b"))
    assert c.stats.stale_reports == 1


def test_kill_clears_marks_locally_and_absorbs_jambonz_cleared_reports() -> None:
    c = core()
    c.audio_sent(3200, 0.0)
    x = c.commit_mark("x", 0.0)
    c.kill_audio(0.05)
    assert x.outcome is MarkOutcome.CLEARED
    assert c.queued_ahead(0.05) == 0
    again = c.commit_mark("x", 0.06)  # sent after the kill, same name
    c.receive_text(mark_event("x", "cleared"))  # jambonz's report of the killed one
    assert again.outcome is None
    c.receive_text(mark_event("x"))
    assert again.outcome is MarkOutcome.PLAYOUT


def test_clear_marks_resolves_at_once() -> None:
    c = core()
    marks = [c.commit_mark(f"m{i}", 0.0) for i in range(3)]
    c.clear_marks()
    assert [m.outcome for m in marks] == [MarkOutcome.CLEARED] * 3
    assert c.pending_marks == 0


def test_unreported_marks_resolve_after_the_grace() -> None:
    c = core(AudioConfig(report_grace=2.0))
    c.audio_sent(8000, 0.0)  # 0.5 s of audio
    m = c.commit_mark("end", 0.0)
    assert c.next_deadline() == pytest.approx(2.5)
    c.expire(2.4)
    assert m.outcome is None
    c.expire(2.5)
    assert m.outcome is MarkOutcome.UNREPORTED
    assert c.stats.unreported == 1
    assert c.next_deadline() == math.inf


def test_no_grace_waits_for_the_end_of_the_stream() -> None:
    c = core(AudioConfig(report_grace=None))
    m = c.commit_mark("m", 0.0)
    assert c.next_deadline() == math.inf
    c.close()
    assert m.outcome is MarkOutcome.LOST


def test_mark_room_and_names() -> None:
    c = core(AudioConfig(max_pending_marks=2))
    c.commit_mark("a", 0.0)
    assert c.mark_room()
    c.commit_mark("b", 0.0)
    assert not c.mark_room()
    with pytest.raises(AudioLimitError):
        c.prepare_mark("")
    assert c.prepare_mark("n") == '{"type":"mark","data":{"name":"n"}}'


# ---------------------------------------------------------------- clips


def play(c: AudioCore, seconds: float, *, queue: bool, now: float = 0.0) -> PendingPlay:
    ticket, text = c.prepare_play(
        b"\0" * int(16000 * seconds), content_type="raw", sample_rate=None, queue=queue
    )
    body = orjson.loads(text)
    assert body["type"] == "playAudio"
    assert body["data"]["queuePlay"] is queue
    assert body["data"]["sampleRate"] == 8000
    c.commit_play(ticket, now)
    return ticket


def done(ident: str) -> str:
    return orjson.dumps({"type": "playDone", "data": {"id": ident}}).decode()


def test_play_done_resolves_the_clip_by_id() -> None:
    c = core()
    first = play(c, 1.0, queue=True)
    c.receive_text(done("jb1"))
    assert first.result is not None
    assert first.result.done is not None
    assert first.result.outcome is PlayOutcome.DONE
    assert first.result.done.id == "jb1"


def test_a_clip_without_queue_drops_the_queued_ones_not_started() -> None:
    c = core()
    queued = [play(c, 1.0, queue=True) for _ in range(3)]
    now = play(c, 1.0, queue=False, now=0.5)
    assert queued[0].result is None
    assert [q.result for q in queued[1:]] == [PlayResult(PlayOutcome.DROPPED)] * 2
    assert now.due == pytest.approx(2.0)


def test_queue_room_and_size_caps() -> None:
    c = core(AudioConfig(max_queued_plays=2, max_play_bytes=1000))
    play(c, 0.01, queue=True)
    play(c, 0.01, queue=True)
    assert not c.play_room(queue=True)
    assert c.play_room(queue=False)  # it would drop the second
    with pytest.raises(AudioLimitError, match="max_play_bytes"):
        c.prepare_play(b"\0" * 1002, content_type="raw", sample_rate=None, queue=False)
    with pytest.raises(AudioLimitError, match="audioContentType"):
        c.prepare_play(b"\0" * 2, content_type="mp3", sample_rate=None, queue=False)


def test_unreported_clips_resolve_after_their_estimated_end() -> None:
    c = core(AudioConfig(report_grace=1.0))
    a = play(c, 2.0, queue=True)
    b = play(c, 2.0, queue=True)
    assert (a.due, b.due) == (2.0, 4.0)
    c.kill_audio(0.5)  # cuts the first: the second moves up
    assert b.due == pytest.approx(2.5)
    c.expire(3.5)
    assert a.result == b.result == PlayResult(PlayOutcome.UNREPORTED)


def test_wav_clip_duration() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(b"\0" * 32000)
    assert clip_seconds(buf.getvalue(), "wav", 8000) == 1.0
    with pytest.raises(AudioLimitError, match="WAV"):
        clip_seconds(b"RIFFnope", "wave", 8000)


def test_close_loses_everything_pending() -> None:
    c = core()
    m = c.commit_mark("m", 0.0)
    p = play(c, 1.0, queue=True)
    c.close()
    assert m.outcome is MarkOutcome.LOST
    assert p.result == PlayResult(PlayOutcome.LOST)


# ---------------------------------------------------------------- logging


def test_log_limiter_counts_what_it_suppressed() -> None:
    limiter = LogLimiter(interval=10.0, burst=2)
    assert limiter.allow("x", 0.0) == 0
    assert limiter.allow("x", 1.0) == 0
    assert limiter.allow("x", 2.0) is None
    assert limiter.allow("x", 3.0) is None
    assert limiter.allow("y", 3.0) == 0
    assert limiter.allow("x", 10.5) == 2


# ---------------------------------------------------------------- state machine


class MarksAndClips(RuleBasedStateMachine):
    """Any interleaving of the app's marks, clips, kills and clears with whatever jambonz
    reports (right, wrong, late or duplicated): bounds hold, every ticket resolves once, and
    nothing stays pending past its deadline or the end of the stream."""

    def __init__(self) -> None:
        super().__init__()
        config = AudioConfig(max_pending_marks=4, max_queued_plays=3, report_grace=1.0)
        self.core = core(config)
        self.now = 0.0
        self.marks: list[Any] = []
        self.plays: list[PendingPlay] = []

    @rule(name=st.sampled_from("abc"))
    def mark(self, name: str) -> None:
        if self.core.mark_room():
            self.marks.append(self.core.commit_mark(name, self.now))

    @rule(ms=st.integers(20, 600))
    def audio(self, ms: int) -> None:
        self.core.audio_sent(16 * ms, self.now)

    @rule(queue=st.booleans(), seconds=st.sampled_from([0.02, 0.5, 2.0]))
    def clip(self, queue: bool, seconds: float) -> None:
        if self.core.play_room(queue):
            self.plays.append(play(self.core, seconds, queue=queue, now=self.now))

    @rule()
    def kill(self) -> None:
        self.core.kill_audio(self.now)

    @rule()
    def clear(self) -> None:
        self.core.clear_marks()

    @rule(name=st.sampled_from("abcz"), event=st.sampled_from(["playout", "cleared"]))
    def mark_report(self, name: str, event: str) -> None:
        self.core.receive_text(mark_event(name, event))

    @rule(ident=st.sampled_from(["jb1", "jb2", "jb3", "jb4", "jb9"]))
    def play_done(self, ident: str) -> None:
        self.core.receive_text(done(ident))

    @rule(dt=st.sampled_from([0.01, 0.3, 1.0, 3.0]))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        self.core.expire(self.now)

    @invariant()
    def bounded_and_due(self) -> None:
        assert self.core.pending_marks <= 4
        assert len(self.core._plays) <= 3
        assert self.core.next_deadline() > self.now or not (
            self.core.pending_marks or self.core._plays
        )

    def teardown(self) -> None:
        self.core.close()
        assert all(m.outcome is not None for m in self.marks)
        assert all(p.result is not None for p in self.plays)


TestMarksAndClips = MarksAndClips.TestCase
