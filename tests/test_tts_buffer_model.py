"""Tests of the sans-IO model of jambonz's TTS streaming buffer.

The fake jambonz trusts this model to reproduce the real server's flow control, quirks
included, so every documented rule and every observed quirk has a test of its own, and a
Hypothesis property checks that no accepted character is ever lost, duplicated or reordered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jbtrio.testing._tts_buffer import (
    StreamEmpty,
    StreamingEvent,
    StreamState,
    TokensResult,
    TtsOutput,
    TtsStreamBuffer,
    VendorClear,
    VendorFlush,
    VendorText,
    utf16_len,
)

OK = TokensResult(1, "ok")
FULL = TokensResult(1, "failed", "full")
OPEN = StreamingEvent("stream_open")
PAUSED = StreamingEvent("stream_paused")
RESUMED = StreamingEvent("stream_resumed")
CLOSED = StreamingEvent("stream_closed")
INTERRUPTED = StreamingEvent("user_interruption")


def connected(
    *, high_water: int = 1000, low_water: int = 200, max_chunk: int = 1800
) -> TtsStreamBuffer:
    """A buffer whose stream is already open, at time 0."""
    buf = TtsStreamBuffer(high_water=high_water, low_water=low_water, max_chunk=max_chunk)
    assert buf.open(0.0) == [OPEN]
    return buf


def state_of(buf: TtsStreamBuffer) -> StreamState:
    """The stream state, read through a call so mypy does not narrow it across steps."""
    return buf.state


def texts(out: Sequence[TtsOutput]) -> list[str]:
    return [item.text for item in out if isinstance(item, VendorText)]


# --------------------------------------------------------------------------- construction


def test_defaults() -> None:
    buf = TtsStreamBuffer()
    assert (buf.high_water, buf.low_water, buf.max_chunk, buf.idle_cut) == (1000, 200, 1800, 1.0)
    assert buf.state is StreamState.CLOSED
    assert not buf.is_connected
    assert not buf.is_full
    assert buf.buffered_chars == 0
    assert buf.spoken_text == ""
    assert buf.next_deadline() is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"high_water": 0},
        {"low_water": -1},
        {"low_water": 1000},
        {"high_water": 10, "low_water": 20},
        {"max_chunk": 1},
        {"idle_cut": 0.0},
        {"idle_cut": -1.0},
    ],
)
def test_invalid_thresholds_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TtsStreamBuffer(**kwargs)


def test_wire_shapes() -> None:
    assert TokensResult(17, "ok").as_data() == {"id": 17, "status": "ok"}
    assert TokensResult("a", "failed", "full").as_data() == {
        "id": "a",
        "status": "failed",
        "reason": "full",
    }
    assert RESUMED.as_data() == {"event_type": "stream_resumed"}


# --------------------------------------------------------------------------- tts:tokens


def test_missing_id_is_ignored_without_result() -> None:
    buf = connected()
    assert buf.tokens(None, "Hello. ", 0.0) == []
    assert buf.tokens(None, None, 0.0) == []
    assert buf.spoken_text == ""
    assert buf.buffered_chars == 0


@pytest.mark.parametrize("open_stream", [False, True])
def test_missing_tokens_fails(open_stream: bool) -> None:
    buf = connected() if open_stream else TtsStreamBuffer()
    assert buf.tokens(7, None, 0.0) == [TokensResult(7, "failed", "missing tokens")]


def test_id_is_echoed_unchanged() -> None:
    buf = TtsStreamBuffer()
    ident = {"turn": 3}
    assert buf.tokens(ident, "hi", 0.0) == [TokensResult(ident, "ok")]


def test_connection_failure_rejects_tokens_until_a_new_stream() -> None:
    buf = TtsStreamBuffer()
    assert buf.tokens(1, "queued", 0.0) == [OK]
    assert buf.start(0.0) == []
    assert state_of(buf) is StreamState.CONNECTING
    assert buf.connection_failed(0.1, "elevenlabs") == [CLOSED]
    assert state_of(buf) is StreamState.FAILED
    assert buf.buffered_text == ""
    assert buf.tokens(2, "Hello. ", 0.2) == [
        TokensResult(2, "failed", "connection to elevenlabs failed")
    ]
    # the connection failure is reported even for whitespace and oversize requests
    assert buf.tokens(3, " ", 0.2) == [TokensResult(3, "failed", "connection to elevenlabs failed")]
    assert buf.tokens(4, "x" * 2000, 0.2) == [
        TokensResult(4, "failed", "connection to elevenlabs failed")
    ]
    assert not buf.is_full
    # missing tokens is checked first
    assert buf.tokens(5, None, 0.2) == [TokensResult(5, "failed", "missing tokens")]
    assert buf.flush(0.2) == []
    assert buf.clear(0.2) == []
    buf.start(1.0)
    assert buf.tokens(6, "Hello. ", 1.0) == [TokensResult(6, "ok")]
    assert buf.open(1.1) == [OPEN, VendorText("Hello. ")]


def test_close_after_failure_buffers_again() -> None:
    buf = TtsStreamBuffer()
    buf.connection_failed(0.0, "deepgram")
    assert buf.close(0.0) == [CLOSED]
    assert buf.tokens(1, "later", 0.0) == [OK]
    assert buf.buffered_text == "later"


@pytest.mark.parametrize("whitespace", ["", " ", "\n\t ", "\u00a0"])
def test_whitespace_into_empty_buffer_is_discarded(whitespace: str) -> None:
    buf = connected()
    assert buf.tokens(1, whitespace, 0.0) == [OK]
    assert buf.buffered_chars == 0
    assert buf.next_deadline() is None
    assert buf.tick(5.0) == []
    assert buf.spoken_text == ""


def test_whitespace_into_non_empty_buffer_is_kept() -> None:
    buf = connected()
    assert buf.tokens(1, "Hello", 0.0) == [OK]
    assert buf.tokens(1, " ", 0.1) == [OK]
    assert buf.buffered_text == "Hello "


def test_accepted_tokens_feed_before_the_result() -> None:
    buf = connected()
    assert buf.tokens(1, "Hi there. How", 0.0) == [VendorText("Hi there. "), OK]
    assert buf.buffered_text == "How"


def test_exactly_high_water_is_accepted() -> None:
    buf = connected()
    assert buf.tokens(1, "a" * 600, 0.0) == [OK]
    assert buf.tokens(1, "b" * 400, 0.0) == [OK]
    assert buf.buffered_chars == 1000
    assert not buf.is_full


def test_full_rejects_whole_request_and_pauses_before_the_result() -> None:
    buf = connected()
    assert buf.tokens(1, "a" * 999, 0.0) == [OK]
    assert buf.tokens(1, "bb", 0.1) == [PAUSED, FULL]
    assert buf.buffered_text == "a" * 999
    assert buf.is_full
    # already full: rejected again, no second stream_paused
    assert buf.tokens(1, "bb", 0.2) == [FULL]
    # a request that still fits is accepted while flagged full
    assert buf.tokens(1, "b", 0.3) == [OK]
    assert buf.buffered_chars == 1000
    assert buf.is_full


def test_oversize_single_request_is_always_rejected_and_never_resumed() -> None:
    buf = connected()
    assert buf.tokens(1, "x" * 1001, 0.0) == [PAUSED, FULL]
    assert buf.buffered_chars == 0
    assert buf.is_full
    # nothing is buffered, so nothing can drain and stream_resumed never comes
    assert buf.next_deadline() is None
    assert buf.tick(10.0) == []
    assert buf.flush(10.0) == [VendorFlush(), StreamEmpty()]
    assert buf.tokens(1, "y" * 5000, 11.0) == [FULL]
    assert buf.is_full


def test_limits_count_utf16_code_units() -> None:
    buf = connected()
    emoji = "\U0001f600"
    assert utf16_len(emoji) == 2
    assert utf16_len("a\u00e9" + emoji) == 4
    assert buf.tokens(1, emoji * 500, 0.0) == [OK]
    assert buf.buffered_chars == 1000
    assert buf.tokens(1, "a", 0.0) == [PAUSED, FULL]


# --------------------------------------------------------------------------- before the stream


def test_tokens_are_buffered_before_the_stream_opens() -> None:
    buf = TtsStreamBuffer()
    assert buf.tokens(1, "Good morning. I am", 0.0) == [OK]
    assert buf.spoken_text == ""
    assert buf.next_deadline() is None
    assert buf.tick(100.0) == []
    buf.start(1.0)
    assert buf.tokens(1, " here", 1.5) == [OK]
    assert buf.spoken_text == ""
    assert buf.open(2.0) == [OPEN, VendorText("Good morning. ")]
    assert buf.is_connected
    assert buf.buffered_text == "I am here"
    # the idle timer runs from the open
    assert buf.next_deadline() == 3.0
    assert buf.tick(3.0) == [VendorText("I am ")]


def test_pre_stream_buffer_has_the_same_limit() -> None:
    buf = TtsStreamBuffer()
    assert buf.tokens(1, "a" * 1000, 0.0) == [OK]
    assert buf.tokens(1, "a", 0.0) == [PAUSED, FULL]
    assert buf.is_full


def test_open_and_start_are_idempotent() -> None:
    buf = connected()
    assert buf.open(1.0) == []
    assert buf.start(1.0) == []
    assert buf.is_connected


# --------------------------------------------------------------------------- sentence chunking

_AR = "\u0645\u0631\u062d\u0628\u0627"  # Arabic "hello"
_UR = "\u0627\u0686\u06be\u0627"  # Urdu "good"


@pytest.mark.parametrize(
    ("tokens", "sent", "kept"),
    [
        ("One. Two", ["One. "], "Two"),
        ("One! Two", ["One! "], "Two"),
        ("One? Two", ["One? "], "Two"),
        (_AR + "\u061f " + _AR, [_AR + "\u061f "], _AR),
        (_UR + "\u06d4 " + _UR, [_UR + "\u06d4 "], _UR),
        ("One.\tTwo", ["One.\t"], "Two"),
        ("One.\nTwo", ["One.\n"], "Two"),
        ("Done.", ["Done."], ""),
        ("Done!", ["Done!"], ""),
        ("One.  \n Two", ["One.  \n "], "Two"),
        ("One. Two. Three", ["One. Two. "], "Three"),
        ("\u4f60\u597d\u3002\u4e16\u754c", ["\u4f60\u597d\u3002"], "\u4e16\u754c"),
        ("\u597d\uff01\u4e16", ["\u597d\uff01"], "\u4e16"),
        ("\u597d\uff1f\u4e16", ["\u597d\uff1f"], "\u4e16"),
        ("para one\n\npara two", ["para one\n\n"], "para two"),
        ("para one\n \t\npara two", ["para one\n \t\n"], "para two"),
        ("line one\nline two", [], "line one\nline two"),
        ("e.g.that", [], "e.g.that"),
        ("wait...what", [], "wait...what"),
        ("It costs 3.", [], "It costs 3."),
        ("It costs 3. Really", [], "It costs 3. Really"),
        ("It costs 3.50 dollars. Ok", ["It costs 3.50 dollars. "], "Ok"),
        ("Version 2! Yes", ["Version 2! "], "Yes"),
        ("no boundary here", [], "no boundary here"),
    ],
)
def test_sentence_boundaries(tokens: str, sent: list[str], kept: str) -> None:
    buf = connected()
    out = buf.tokens(1, tokens, 0.0)
    assert texts(out) == sent
    assert out[-1] == OK
    assert buf.buffered_text == kept


def test_arabic_indic_digit_before_period_is_not_a_boundary() -> None:
    buf = connected()
    assert texts(buf.tokens(1, "\u0663. x", 0.0)) == []


def test_boundary_completed_by_later_tokens() -> None:
    buf = connected()
    assert buf.tokens(1, "Hello there", 0.0) == [OK]
    assert buf.tokens(1, ". How", 0.1) == [VendorText("Hello there. "), OK]
    assert buf.tokens(1, " are you?", 0.2) == [VendorText("How are you?"), OK]
    assert buf.buffered_text == ""
    assert buf.spoken_text == "Hello there. How are you?"


def test_max_chunk_cuts_at_the_last_boundary_within_it() -> None:
    buf = connected(high_water=100, low_water=10, max_chunk=20)
    out = buf.tokens(1, "Aaaa. Bbbb. Cccc. Dddd. Eeee. Ff", 0.0)
    assert texts(out) == ["Aaaa. Bbbb. Cccc. ", "Dddd. Eeee. "]
    assert all(utf16_len(t) <= 20 for t in texts(out))
    assert buf.buffered_text == "Ff"


def test_trailing_whitespace_is_truncated_at_max_chunk() -> None:
    buf = connected(high_water=100, low_water=10, max_chunk=10)
    out = buf.tokens(1, "Aaaaaaaa.     Bb.", 0.0)
    assert texts(out) == ["Aaaaaaaa. ", "    Bb."]


def test_boundary_beyond_max_chunk_waits_for_the_idle_cut() -> None:
    buf = connected(high_water=100, low_water=10, max_chunk=10)
    assert texts(buf.tokens(1, "aaa bbb ccc ddd.", 0.0)) == []
    assert texts(buf.tick(1.0)) == ["aaa bbb ", "ccc ddd."]


def test_chunks_never_split_astral_characters() -> None:
    buf = connected(high_water=100, low_water=10, max_chunk=5)
    emoji = "\U0001f600"
    out = buf.tokens(1, emoji * 5, 0.0)
    assert texts(out) == []
    # 5 units hold two emoji (4 units); what fits in one chunk waits like a word
    out = buf.tick(1.0)
    assert texts(out) == [emoji * 2, emoji * 2]
    assert buf.buffered_text == emoji


# --------------------------------------------------------------------------- idle cut


def test_idle_cut_at_last_word_boundary() -> None:
    buf = connected()
    assert buf.tokens(1, "The weather in Bos", 10.0) == [OK]
    assert buf.next_deadline() == 11.0
    assert buf.tick(10.99) == []
    assert buf.tick(11.0) == [VendorText("The weather in ")]
    assert buf.buffered_text == "Bos"
    # the lull has been served: no timer until new tokens arrive
    assert buf.next_deadline() is None
    assert buf.tick(50.0) == []
    assert buf.tokens(1, "ton is sunny. It", 60.0) == [VendorText("Boston is sunny. "), OK]


def test_new_tokens_restart_the_idle_timer() -> None:
    buf = connected()
    buf.tokens(1, "one two", 0.0)
    buf.tokens(1, " three", 0.8)
    assert buf.next_deadline() == pytest.approx(1.8)
    assert buf.tick(1.0) == []
    assert buf.tick(1.8) == [VendorText("one two ")]


def test_rejected_tokens_do_not_restart_the_idle_timer() -> None:
    buf = connected()
    buf.tokens(1, "a" * 990 + " b", 0.0)
    assert buf.tokens(1, "c" * 50, 0.5) == [PAUSED, FULL]
    assert buf.next_deadline() == 1.0


def test_idle_without_any_word_boundary_waits() -> None:
    buf = connected()
    buf.tokens(1, "Supercalifragilistic", 0.0)
    assert buf.tick(1.0) == []
    assert buf.next_deadline() is None
    assert buf.buffered_text == "Supercalifragilistic"


def test_idle_hard_cut_when_longer_than_max_chunk_without_whitespace() -> None:
    buf = connected(high_water=100, low_water=10, max_chunk=8)
    buf.tokens(1, "abcdefghijklmnopqrst", 0.0)
    assert texts(buf.tick(1.0)) == ["abcdefgh", "ijklmnop"]
    assert buf.buffered_text == "qrst"


def test_idle_cut_can_resume() -> None:
    buf = connected()
    buf.tokens(1, "word " * 190 + "tail", 0.0)
    assert buf.tokens(1, "x" * 100, 0.1) == [PAUSED, FULL]
    out = buf.tick(1.1)
    assert out == [VendorText("word " * 190), RESUMED]
    assert not buf.is_full


# --------------------------------------------------------------------------- stream_resumed


def test_resumed_after_chunk_drains_to_low_water() -> None:
    buf = TtsStreamBuffer()
    sentence = "a" * 597 + ". "
    tail = "b" * 350
    buf.tokens(1, sentence + tail, 0.0)
    assert buf.tokens(1, "c" * 100, 0.0) == [PAUSED, FULL]
    # 350 left after the first chunk: still above low water, no resume
    assert buf.open(1.0) == [OPEN, VendorText(sentence)]
    assert buf.is_full
    out = buf.tokens(1, ".", 1.5)
    assert out == [VendorText(tail + "."), RESUMED, OK]
    assert not buf.is_full
    # the app resends the refused token: accepted, no new pause
    assert buf.tokens(1, "c" * 100, 1.6) == [OK]


def test_resumed_at_exactly_low_water() -> None:
    buf = TtsStreamBuffer()
    buf.tokens(1, "a" * 798 + ". " + "b" * 200, 0.0)
    buf.tokens(1, "c", 0.0)
    assert buf.open(0.0) == [OPEN, VendorText("a" * 798 + ". "), RESUMED]


# --------------------------------------------------------------------------- tts:flush


def test_flush_with_empty_buffer_flushes_at_once_and_reports_empty() -> None:
    buf = connected()
    buf.tokens(1, "All done.", 0.0)
    assert buf.flush(0.1) == [VendorFlush(), StreamEmpty()]
    assert buf.next_deadline() is None


def test_flush_is_deferred_to_the_idle_deadline() -> None:
    buf = connected()
    buf.tokens(1, "Hello there", 0.0)
    assert buf.flush(0.5) == []
    assert buf.pending_flushes == 1
    assert buf.next_deadline() == 1.0
    assert buf.tick(0.9) == []
    assert buf.tick(1.0) == [VendorText("Hello there"), VendorFlush(), StreamEmpty()]
    assert buf.pending_flushes == 0
    assert buf.next_deadline() is None


def test_flush_ignores_boundaries_and_pushes_partial_words() -> None:
    buf = connected()
    buf.tokens(1, "The weather in Bos", 0.0)
    assert buf.tick(1.0) == [VendorText("The weather in ")]
    assert buf.next_deadline() is None
    # no timer armed: the flush arms one
    assert buf.flush(5.0) == []
    assert buf.next_deadline() == 6.0
    assert buf.tick(6.0) == [VendorText("Bos"), VendorFlush(), StreamEmpty()]


def test_flush_is_pushed_by_the_next_tokens_in_order() -> None:
    buf = connected()
    buf.tokens(1, "first turn", 0.0)
    buf.flush(0.1)
    out = buf.tokens(1, "Second turn. And", 0.2)
    assert out == [
        VendorText("first turn"),
        VendorFlush(),
        VendorText("Second turn. "),
        OK,
    ]
    assert buf.buffered_text == "And"
    assert buf.next_deadline() == pytest.approx(1.2)


def test_rejected_tokens_do_not_push_a_pending_flush() -> None:
    buf = connected()
    buf.tokens(1, "a" * 1000, 0.0)
    buf.flush(0.1)
    assert buf.tokens(1, "b", 0.2) == [PAUSED, FULL]
    assert buf.pending_flushes == 1


def test_two_flushes_report_empty_once() -> None:
    buf = connected()
    buf.tokens(1, "text", 0.0)
    buf.flush(0.1)
    buf.flush(0.2)
    assert buf.tick(1.0) == [VendorText("text"), VendorFlush(), VendorFlush(), StreamEmpty()]


def test_flush_large_segment_respects_max_chunk() -> None:
    buf = connected(high_water=100, low_water=10, max_chunk=10)
    buf.tokens(1, "aaaa bbbbbb cc", 0.0)
    buf.flush(0.0)
    assert buf.tick(1.0) == [
        VendorText("aaaa "),
        VendorText("bbbbbb cc"),
        VendorFlush(),
        StreamEmpty(),
    ]


def test_flush_while_connecting_is_queued_in_order() -> None:
    buf = TtsStreamBuffer()
    buf.start(0.0)
    buf.tokens(1, "Hi", 0.0)
    assert buf.flush(0.1) == []
    buf.tokens(1, " there", 0.2)
    assert buf.pending_flushes == 1
    assert buf.open(0.5) == [OPEN, VendorText("Hi"), VendorFlush()]
    assert buf.buffered_text == " there"


def test_flush_while_connecting_with_empty_buffer() -> None:
    buf = TtsStreamBuffer()
    buf.start(0.0)
    buf.flush(0.0)
    assert buf.open(0.5) == [OPEN, VendorFlush(), StreamEmpty()]


def test_flush_without_stream_is_dropped() -> None:
    buf = TtsStreamBuffer()
    buf.tokens(1, "Hi", 0.0)
    assert buf.flush(0.1) == []
    assert buf.pending_flushes == 0
    assert buf.open(0.5) == [OPEN]
    assert buf.tick(1.5) == []
    assert buf.buffered_text == "Hi"
    assert buf.pending_flushes == 0


def test_flush_while_full_never_resumes_and_keeps_the_flag() -> None:
    buf = connected()
    buf.tokens(1, "a" * 950, 0.0)
    assert buf.tokens(1, "b" * 100, 0.1) == [PAUSED, FULL]
    buf.flush(0.2)
    out = buf.tick(1.0)
    assert out == [VendorText("a" * 950), VendorFlush(), StreamEmpty()]
    assert RESUMED not in out
    assert buf.buffered_chars == 0
    assert buf.is_full
    # "already full": the next oversize request gets no new stream_paused
    assert buf.tokens(1, "c" * 1001, 2.0) == [FULL]
    # a fitting request is accepted; the next sentence chunk finally resumes
    assert buf.tokens(1, "Hello. ", 3.0) == [VendorText("Hello. "), RESUMED, OK]
    assert not buf.is_full


def test_flush_pushed_by_tokens_while_full_does_not_resume() -> None:
    buf = connected()
    buf.tokens(1, "a" * 950, 0.0)
    buf.tokens(1, "b" * 100, 0.1)
    buf.flush(0.2)
    out = buf.tokens(1, "b" * 50, 0.3)
    assert out == [VendorText("a" * 950), VendorFlush(), OK]
    assert buf.is_full


# --------------------------------------------------------------------------- tts:clear


def test_clear_empties_buffer_and_full_flag_without_resumed() -> None:
    buf = connected()
    buf.tokens(1, "a" * 999, 0.0)
    buf.flush(0.1)
    assert buf.tokens(1, "bb", 0.2) == [PAUSED, FULL]
    assert buf.clear(0.3) == [VendorClear()]
    assert buf.buffered_chars == 0
    assert buf.pending_flushes == 0
    assert not buf.is_full
    assert buf.next_deadline() is None
    assert buf.tick(10.0) == []
    assert buf.spoken_text == ""
    # not full any more: the next rejection pauses again
    assert buf.tokens(1, "x" * 1001, 11.0) == [PAUSED, FULL]


@pytest.mark.parametrize("connecting", [False, True])
def test_clear_before_connect_is_a_no_op(connecting: bool) -> None:
    buf = TtsStreamBuffer()
    if connecting:
        buf.start(0.0)
        buf.flush(0.0)
    buf.tokens(1, "a" * 999, 0.0)
    buf.tokens(1, "bb", 0.0)
    assert buf.clear(0.1) == []
    assert buf.buffered_chars == 999
    assert buf.is_full
    assert buf.pending_flushes == (1 if connecting else 0)


def test_user_interruption_clears_and_notifies() -> None:
    buf = connected()
    buf.tokens(1, "a" * 999, 0.0)
    buf.tokens(1, "bb", 0.0)
    assert buf.user_interruption(0.5) == [VendorClear(), INTERRUPTED]
    assert buf.buffered_chars == 0
    assert not buf.is_full


def test_user_interruption_before_connect_keeps_the_buffer() -> None:
    buf = TtsStreamBuffer()
    buf.tokens(1, "queued", 0.0)
    assert buf.user_interruption(0.5) == [INTERRUPTED]
    assert buf.buffered_text == "queued"


# --------------------------------------------------------------------------- close


def test_close_empties_and_later_tokens_wait_for_a_new_stream() -> None:
    buf = connected()
    buf.tokens(1, "a" * 999, 0.0)
    buf.tokens(1, "bb", 0.0)
    buf.flush(0.1)
    assert buf.close(0.2) == [CLOSED]
    assert buf.state is StreamState.CLOSED
    assert buf.buffered_chars == 0
    assert buf.pending_flushes == 0
    assert not buf.is_full
    assert buf.next_deadline() is None
    assert buf.tokens(1, "Next one. ", 1.0) == [OK]
    assert buf.spoken_text == ""
    buf.start(2.0)
    assert buf.open(2.5) == [OPEN, VendorText("Next one. ")]


# --------------------------------------------------------------------------- property

_ALPHABET = st.sampled_from(
    ["a", "b", "c", " ", ".", "!", "?", "3", "\n", "\u3002", "\u061f", "\u00e9", "\U0001f600"]
)

_Op = tuple[str, object]

_OPS: st.SearchStrategy[_Op] = st.one_of(
    st.tuples(st.just("tokens"), st.text(_ALPHABET, max_size=60)),
    st.tuples(st.just("big"), st.integers(min_value=100, max_value=1100)),
    st.tuples(
        st.sampled_from(
            ["flush", "clear", "interrupt", "start", "open", "close", "fail", "none_id"]
        ),
        st.none(),
    ),
    st.tuples(st.just("tick"), st.floats(min_value=0.0, max_value=2.5)),
)


class _Shadow:
    """An independent, much simpler account of what the buffer must hold and have spoken."""

    def __init__(self, buf: TtsStreamBuffer) -> None:
        self.buf = buf
        self.pending = ""
        self.spoken = ""
        self.now = 0.0
        self.next_id = 0

    def check(self, out: Sequence[TtsOutput]) -> None:
        for item in out:
            if isinstance(item, VendorText):
                assert item.text
                assert utf16_len(item.text) <= self.buf.max_chunk
                assert self.pending.startswith(item.text)
                self.pending = self.pending[len(item.text) :]
                self.spoken += item.text
        assert self.buf.buffered_text == self.pending
        assert self.buf.spoken_text == self.spoken
        assert self.buf.buffered_chars <= self.buf.high_water
        deadline = self.buf.next_deadline()
        assert deadline is None or deadline >= self.now

    def tokens(self, text: str) -> None:
        self.next_id += 1
        failed = self.buf.state is StreamState.FAILED
        was_full = self.buf.is_full
        fits = utf16_len(self.pending) + utf16_len(text) <= self.buf.high_water
        out = self.buf.tokens(self.next_id, text, self.now)
        result = out[-1]
        assert isinstance(result, TokensResult)
        assert result.id == self.next_id
        if failed:
            assert out == [result]
            assert result.status == "failed"
        elif not self.pending and not text.strip():
            assert out == [TokensResult(self.next_id, "ok")]
        elif fits:
            assert result == TokensResult(self.next_id, "ok")
            self.pending += text
        else:
            assert result == TokensResult(self.next_id, "failed", "full")
            assert out[:-1] == ([] if was_full else [PAUSED])
            assert self.buf.is_full
        self.check(out)

    def run(self, kind: str, arg: object) -> None:
        buf = self.buf
        if kind == "tokens":
            assert isinstance(arg, str)
            self.tokens(arg)
        elif kind == "big":
            assert isinstance(arg, int)
            self.tokens(("word " * 300)[:arg])
        elif kind == "tick":
            assert isinstance(arg, float)
            self.now += arg
            self.check(buf.tick(self.now))
        elif kind == "none_id":
            assert buf.tokens(None, "ignored", self.now) == []
            self.check([])
        elif kind == "flush":
            self.check(buf.flush(self.now))
        elif kind in ("clear", "interrupt"):
            was_connected = buf.is_connected
            out = buf.clear(self.now) if kind == "clear" else buf.user_interruption(self.now)
            if was_connected:
                self.pending = ""
                assert not buf.is_full
            assert (VendorClear() in out) == was_connected
            assert not any(isinstance(item, VendorText) for item in out)
            self.check(out)
        elif kind == "start":
            self.check(buf.start(self.now))
        elif kind == "open":
            self.check(buf.open(self.now))
        elif kind in ("close", "fail"):
            out = buf.close(self.now) if kind == "close" else buf.connection_failed(self.now, "x")
            assert out == [CLOSED]
            self.pending = ""
            self.check(out)
        else:  # pragma: no cover - the strategy draws only the kinds above
            raise AssertionError(kind)


@settings(derandomize=True, max_examples=1000, deadline=None)
@given(st.booleans(), st.lists(_OPS, max_size=60))
def test_property_no_character_lost_duplicated_or_reordered(
    start_open: bool, ops: list[_Op]
) -> None:
    buf = connected() if start_open else TtsStreamBuffer()
    shadow = _Shadow(buf)
    for kind, arg in ops:
        shadow.run(kind, arg)
    # liveness: once a stream is open, a flush and its deadline hand everything over
    shadow.check(buf.close(shadow.now) if buf.state is StreamState.FAILED else [])
    shadow.check(buf.open(shadow.now))
    shadow.check(buf.flush(shadow.now))
    deadline = buf.next_deadline()
    if deadline is not None:
        shadow.now = deadline
        shadow.check(buf.tick(deadline))
    assert buf.buffered_text == ""
    assert buf.pending_flushes == 0
    assert buf.next_deadline() is None


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.lists(st.text(_ALPHABET, max_size=80), max_size=30))
def test_property_connected_stream_speaks_everything_in_order(chunks: list[str]) -> None:
    buf = connected(high_water=1000)
    shadow = _Shadow(buf)
    for chunk in chunks:
        shadow.tokens(chunk)
        shadow.now += 0.3
        shadow.check(buf.tick(shadow.now))
    shadow.check(buf.flush(shadow.now))
    shadow.now += 1.0
    shadow.check(buf.tick(shadow.now))
    assert buf.buffered_text == ""
    # only whitespace-only tokens into an empty buffer may be dropped
    assert "".join(buf.spoken_text.split()) == "".join("".join(chunks).split())
