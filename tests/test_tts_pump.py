"""The sans-IO TTS pump: unit tests, and a Hypothesis state machine against the buffer model.

The state machine wires :class:`TtsPump` to :class:`TtsStreamBuffer` (the fake jambonz's
faithful model of the feature server's buffer) through two in-order queues, one per direction,
and lets Hypothesis interleave pushes, flushes, clears, barge-ins, message deliveries, time and
socket drops. Whatever it does: no message exceeds the limit, one ``tts:tokens`` is in flight,
every pushed character is accounted for exactly once and in order, what jambonz accepted is
exactly what the pump reports delivered (never twice), and a flush goes out only after the text
before it is settled.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from jbtrio._core._tts_pump import (
    Cleared,
    Delivered,
    Dropped,
    Failed,
    FlushDone,
    PumpOutput,
    SendClear,
    SendFlush,
    SendTokens,
    TtsPump,
    split_point,
    utf16_len,
)
from jbtrio.testing._tts_buffer import (
    StreamingEvent,
    StreamState,
    TokensResult,
    TtsStreamBuffer,
)


def sends(outputs: list[PumpOutput]) -> list[PumpOutput]:
    return [o for o in outputs if isinstance(o, SendTokens | SendFlush | SendClear)]


# --------------------------------------------------------------------------- splitting


def test_split_keeps_text_that_fits() -> None:
    assert split_point("Hello there.", 1000) == len("Hello there.")


def test_split_prefers_the_last_sentence_end() -> None:
    text = "One. Two is here! Three goes on and on"
    cut = split_point(text, 25)
    assert text[:cut] == "One. Two is here! "


def test_split_falls_back_to_a_word_end_then_a_hard_cut() -> None:
    assert "alpha beta gamma"[: split_point("alpha beta gamma", 12)] == "alpha beta "
    assert split_point("x" * 30, 10) == 10


def test_split_ignores_a_period_after_a_digit() -> None:
    text = "Pi is 3.14 and more words here"
    assert text[: split_point(text, 12)] == "Pi is 3.14 "


def test_split_counts_utf16_units() -> None:
    text = "\U0001f600" * 10
    cut = split_point(text, 5)
    assert utf16_len(text[:cut]) <= 5


# --------------------------------------------------------------------------- stop-and-wait


def test_deltas_coalesce_while_one_is_in_flight() -> None:
    pump = TtsPump()
    assert sends(pump.push("Hel", 0)) == [SendTokens(1, "Hel")]
    for delta in ("lo ", "wor", "ld."):
        assert pump.push(delta, 0) == []
    out = pump.receive_result(1, "ok", None, 0)
    assert out == [Delivered("Hel"), SendTokens(2, "lo world.")]


def test_results_for_other_ids_are_ignored() -> None:
    pump = TtsPump()
    pump.push("a", 0)
    assert pump.receive_result(7, "ok", None, 0) == []
    assert pump.receive_result("1", "ok", None, 0) == []
    assert pump.in_flight == (1, "a")


def test_full_pauses_and_retries_the_same_text_on_resume() -> None:
    pump = TtsPump()
    pump.push("first ", 0)
    pump.push("second", 0)
    assert pump.receive_result(1, "failed", "full", 0) == []
    assert pump.paused
    pump.push(" third", 0)
    assert pump.receive_event("stream_resumed", 0) == [SendTokens(2, "first ")]
    assert pump.receive_result(2, "ok", None, 0) == [
        Delivered("first "),
        SendTokens(3, "second third"),
    ]


def test_full_retries_after_the_fallback_timeout() -> None:
    # A buffer drained by a flush never sends stream_resumed.
    pump = TtsPump(resume_timeout=2.0)
    pump.push("text", 0)
    pump.receive_result(1, "failed", "full", 10.0)
    assert pump.next_deadline() == 12.0
    assert pump.tick(11.9) == []
    assert pump.tick(12.0) == [SendTokens(2, "text")]


def test_flush_waits_behind_pending_text() -> None:
    pump = TtsPump()
    pump.push("a", 0)
    marker, out = pump.flush(0)
    assert out == []
    assert pump.receive_result(1, "ok", None, 0) == [
        Delivered("a"),
        SendFlush(),
        FlushDone(marker, sent=True),
    ]


def test_flush_with_nothing_pending_goes_at_once() -> None:
    pump = TtsPump()
    marker, out = pump.flush(0)
    assert out == [SendFlush(), FlushDone(marker, sent=True)]


def test_clear_drops_in_order_and_voids_the_one_in_flight() -> None:
    pump = TtsPump()
    pump.push("a ", 0)
    pump.push("b ", 0)
    marker, _ = pump.flush(0)
    pump.push("c", 0)
    out = pump.clear(0)
    assert out == [
        Dropped("a ", "clear"),
        Dropped("b ", "clear"),
        FlushDone(marker, sent=False),
        Dropped("c", "clear"),
        SendClear(),
        Cleared("clear"),
    ]
    pump.push("d", 0)
    # The voided result frees the slot; its text stays dropped.
    assert pump.receive_result(1, "ok", None, 0) == [SendTokens(2, "d")]


def test_interruption_clears_a_late_ok_again() -> None:
    pump = TtsPump()
    pump.push("talking", 0)
    out = pump.receive_event("user_interruption", 0)
    assert out == [Dropped("talking", "interruption"), Cleared("interruption")]
    assert pump.receive_result(1, "ok", None, 0) == [SendClear()]


def test_interruption_resets_the_paused_state() -> None:
    pump = TtsPump()
    pump.push("x", 0)
    pump.receive_result(1, "failed", "full", 0)
    pump.receive_event("user_interruption", 0)
    assert not pump.paused and pump.next_deadline() is None
    assert pump.push("y", 0) == [SendTokens(2, "y")]


def test_other_failures_report_and_drop_the_rest() -> None:
    pump = TtsPump()
    pump.push("a", 0)
    pump.push("b", 0)
    out = pump.receive_result(1, "failed", "connection to deepgram failed", 0)
    assert out == [
        Failed("a", "connection to deepgram failed"),
        Dropped("b", "failed"),
        Cleared("failed"),
    ]
    assert pump.receive_result(2, None, None, 0) == []
    pump.push("c", 0)
    assert pump.receive_result(2, None, None, 0)[0] == Failed("c", "no TTS streaming buffer")


def test_reconnect_waits_for_the_old_result_then_resends_once() -> None:
    pump = TtsPump(result_timeout=5.0)
    pump.push("hello", 0)
    pump.detach(1.0)
    pump.push(" world", 1.0)
    assert pump.attach(2.0) == []
    # The result jambonz queued during the drop arrives: no resend.
    assert pump.receive_result(1, "ok", None, 2.5) == [Delivered("hello"), SendTokens(2, " world")]
    pump.detach(3.0)
    pump.attach(4.0)
    assert pump.next_deadline() == 9.0
    assert pump.tick(9.0) == [SendTokens(3, " world")]
    assert pump.receive_result(2, "ok", None, 9.1) == []  # too late: never settles id 3


def test_constructor_checks_its_limits() -> None:
    with pytest.raises(ValueError):
        TtsPump(max_chars=1)
    with pytest.raises(ValueError):
        TtsPump(resume_timeout=0)


def test_300_deltas_cost_far_fewer_messages() -> None:
    pump = TtsPump()
    buffer = TtsStreamBuffer()
    buffer.start(0)
    buffer.open(0)
    text = ("The quick brown fox jumps over the lazy dog. " * 34)[:1500]
    deltas = [text[i : i + 5] for i in range(0, 1500, 5)]
    sent: list[SendTokens] = []
    inbox: list[PumpOutput] = []
    for delta in deltas:
        inbox.extend(pump.push(delta, 0))
        while inbox:
            output = inbox.pop(0)
            if isinstance(output, SendTokens):
                sent.append(output)
                for result in buffer.tokens(output.id, output.text, 0):
                    if isinstance(result, TokensResult):
                        inbox.extend(pump.receive_result(result.id, result.status, None, 0))
    assert len(sent) == 300  # one round trip per delta when each is answered at once
    # ...but while a result is on its way, everything else coalesces:
    pump = TtsPump()
    first = pump.push(deltas[0], 0)
    for delta in deltas[1:]:
        assert pump.push(delta, 0) == []
    assert len([o for o in first if isinstance(o, SendTokens)]) == 1
    out = pump.receive_result(1, "ok", None, 0)
    second = [o for o in out if isinstance(o, SendTokens)]
    assert len(second) == 1 and len(second[0].text) <= 1000
    assert second[0].text.endswith(". ")


# --------------------------------------------------------------------------- state machine

words = st.text(alphabet="abcdefghij\u00e9\U0001f600", min_size=1, max_size=12)
punct = st.sampled_from([" ", " ", ". ", "! ", ", ", "\n\n", "3. ", "? "])
deltas = st.lists(st.tuples(words, punct), min_size=1, max_size=6).map(
    lambda parts: "".join(w + p for w, p in parts)
)
big_deltas = st.integers(min_value=100, max_value=1400).map(
    lambda n: ("lorem ipsum dolor sit amet. " * 60)[:n]
)


class PumpVersusBuffer(RuleBasedStateMachine):
    """The pump and the buffer model over an in-order, droppable network."""

    @initialize(max_chars=st.sampled_from([1000, 300, 64]))
    def setup(self, max_chars: int) -> None:
        self.now = 0.0
        self.pump = TtsPump(max_chars=max_chars, resume_timeout=2.0, result_timeout=5.0)
        self.buffer = TtsStreamBuffer()
        self.to_jambonz: list[SendTokens | SendFlush | SendClear] = []
        self.to_app: list[TokensResult | StreamingEvent] = []
        self.pushed = ""
        self.reported = ""
        self.delivered: list[str] = []
        self.texts: dict[int, str] = {}
        self.voided: set[int] = set()
        self.accepted: list[int] = []
        self.flush_at: dict[int, int] = {}
        self.connected = True

    # -- running the pump, checking what it emits

    def run(self, outputs: list[PumpOutput], *, may_send: bool) -> None:
        tokens = [o for o in outputs if isinstance(o, SendTokens)]
        assert len(tokens) <= 1, outputs
        if tokens:
            assert may_send, f"a tts:tokens went out while one was in flight: {outputs}"
        for output in outputs:
            if isinstance(output, SendTokens):
                assert 0 < utf16_len(output.text) <= self.pump.max_chars
                assert output.id not in self.texts
                self.texts[output.id] = output.text
                self.to_jambonz.append(output)
            elif isinstance(output, SendFlush | SendClear):
                self.to_jambonz.append(output)
            elif isinstance(output, Delivered):
                self.reported += output.text
                self.delivered.append(output.text)
            elif isinstance(output, Dropped | Failed):
                self.reported += output.text
            elif isinstance(output, FlushDone) and output.sent:
                assert len(self.reported) >= self.flush_at.pop(output.marker)
            elif isinstance(output, FlushDone):
                self.flush_at.pop(output.marker)
        assert self.pushed.startswith(self.reported)

    def idle_slot(self) -> bool:
        return self.pump.in_flight is None

    # -- the app

    @rule(text=st.one_of(deltas, big_deltas))
    def push(self, text: str) -> None:
        free = self.idle_slot()
        self.pushed += text
        self.run(self.pump.push(text, self.now), may_send=free)

    @rule()
    def flush(self) -> None:
        free = self.idle_slot()
        marker, outputs = self.pump.flush(self.now)
        self.flush_at[marker] = len(self.pushed)
        self.run(outputs, may_send=free)

    @rule()
    def clear(self) -> None:
        before = self.pump.in_flight
        if before is not None:
            self.voided.add(before[0])
        self.run(self.pump.clear(self.now), may_send=before is None)

    # -- jambonz

    @precondition(lambda self: self.buffer.state is not StreamState.CONNECTED)
    @rule()
    def open_stream(self) -> None:
        self.buffer.start(self.now)
        self.take(self.buffer.open(self.now))

    @rule()
    def barge_in(self) -> None:
        self.take(self.buffer.user_interruption(self.now))

    def take(self, outputs: list[Any]) -> None:
        for output in outputs:
            if isinstance(output, TokensResult | StreamingEvent):
                self.to_app.append(output)

    @precondition(lambda self: self.connected and bool(self.to_jambonz))
    @rule()
    def jambonz_reads(self) -> None:
        command = self.to_jambonz.pop(0)
        if isinstance(command, SendTokens):
            outputs = self.buffer.tokens(command.id, command.text, self.now)
            for output in outputs:
                if isinstance(output, TokensResult) and output.status == "ok":
                    self.accepted.append(command.id)
        elif isinstance(command, SendFlush):
            outputs = self.buffer.flush(self.now)
        else:
            outputs = self.buffer.clear(self.now)
        self.take(outputs)

    @precondition(lambda self: self.connected and bool(self.to_app))
    @rule()
    def app_reads(self) -> None:
        message = self.to_app.pop(0)
        before = self.pump.in_flight
        if isinstance(message, TokensResult):
            outputs = self.pump.receive_result(message.id, message.status, message.reason, self.now)
        else:
            if message.event_type == "user_interruption" and before is not None:
                self.voided.add(before[0])
            outputs = self.pump.receive_event(message.event_type, self.now)
        self.run(outputs, may_send=before is None or before != self.pump.in_flight)

    @precondition(lambda self: not self.to_jambonz and not self.to_app and self.connected)
    @rule(seconds=st.sampled_from([0.5, 1.0, 2.0, 5.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        self.take(self.buffer.tick(self.now))
        before = self.pump.in_flight
        self.run(self.pump.tick(self.now), may_send=True)
        if before is not None and before != self.pump.in_flight:
            self.voided.add(before[0])

    # -- the socket

    @precondition(lambda self: self.connected)
    @rule(lose=st.booleans())
    def socket_drops(self, lose: bool) -> None:
        """Commands written to the dying socket may be lost (only tts:tokens here: a lost
        flush or clear is a known limit); jambonz queues what it sends meanwhile."""
        self.connected = False
        self.pump.detach(self.now)
        if lose:
            self.to_jambonz = [c for c in self.to_jambonz if not isinstance(c, SendTokens)]

    @precondition(lambda self: not self.connected)
    @rule()
    def socket_back(self) -> None:
        self.connected = True
        self.now += 0.5
        self.run(self.pump.attach(self.now), may_send=self.idle_slot())

    # -- the properties

    @invariant()
    def every_character_once_in_order(self) -> None:
        assert self.pushed.startswith(self.reported)
        assert len(self.pushed) - len(self.reported) == self.pump.pending_chars

    @invariant()
    def jambonz_accepted_exactly_what_was_delivered(self) -> None:
        # The last one accepted may still have its result on the way back.
        accepted = [self.texts[i] for i in self.accepted if i not in self.voided]
        assert accepted[: len(self.delivered)] == self.delivered
        assert len(accepted) - len(self.delivered) <= 1
        assert len(self.accepted) == len(set(self.accepted))

    @invariant()
    def spoken_text_is_in_order_and_never_repeated(self) -> None:
        spoken = self.buffer.spoken_text
        # Everything the vendor got was accepted, in the order it was accepted.
        stream = "".join(self.texts[i] for i in self.accepted)
        assert _is_subsequence_of_chunks(spoken, stream)

    def teardown(self) -> None:
        """Liveness: with the stream open and a working network, everything settles."""
        if not hasattr(self, "pump"):
            return
        if not self.connected:
            self.socket_back()
        if self.buffer.state is not StreamState.CONNECTED:
            self.open_stream()
        for _ in range(200):
            while self.to_jambonz or self.to_app:
                if self.to_jambonz:
                    self.jambonz_reads()
                if self.to_app:
                    self.app_reads()
            if self.pump.idle:
                break
            self.time_passes(2.0)
        assert self.pump.idle, (self.pump.in_flight, self.pump.paused)
        assert self.reported == self.pushed
        accepted = [self.texts[i] for i in self.accepted if i not in self.voided]
        assert accepted == self.delivered


def _is_subsequence_of_chunks(spoken: str, stream: str) -> bool:
    """``spoken`` can be read off ``stream`` left to right (clears skip text, never repeat)."""
    position = 0
    for ch in spoken:
        position = stream.find(ch, position)
        if position < 0:
            return False
        position += 1
    return True


TestPumpVersusBuffer = PumpVersusBuffer.TestCase
