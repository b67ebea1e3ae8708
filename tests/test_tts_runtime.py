"""Streamed TTS through the runtime and the fake jambonz's TTS buffer.

Each test checks what the caller would hear (the fake's ``spoken`` record, fed by the buffer
model's vendor chunks): every character exactly once, in order, through pauses, resumes, a
flush while full, a clear, a barge-in and a reconnect, and no ``tts:tokens`` over the limit.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any, cast

import pytest
import trio
import trio.testing

import jbtrio
from jbtrio._core import TtsResult
from jbtrio._errors import CallEndedError, TtsInterrupted
from jbtrio._runtime import CallSession, Server
from jbtrio._runtime._tts_driver import TtsPumpDriver, TtsRequest
from jbtrio._tts import TtsStream
from jbtrio._wire import TokensResult, TtsTokensResult
from jbtrio.testing import At, Caller, Drop, FakeJambonz, Faults
from jbtrio.verbs import Config, Gather, Hangup, Say

STREAMING = [Say(stream=True), Hangup()]


@asynccontextmanager
async def serving(app: jbtrio.App) -> AsyncIterator[Server]:
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app).run_in)
        yield server
        await server.shutdown(grace=0)


def tokens_sent(call: Any) -> list[dict[str, Any]]:
    return [c.data for c in call.commands if c.command == "tts:tokens"]


def spoken(call: Any) -> str:
    return "".join(call.spoken)


def assert_under_the_limit(call: Any, limit: int = 1000) -> None:
    for data in tokens_sent(call):
        assert len(data["tokens"]) <= limit


async def run_call(
    handler: Callable[[jbtrio.Call], Coroutine[Any, Any, None]],
    *,
    caller: Caller | None = None,
    faults: Faults | None = None,
) -> Any:
    app = jbtrio.App()
    app.route("/tts")(handler)
    async with serving(app) as server:
        return await FakeJambonz().place_call(
            "ws://jbtrio.test/tts",
            connector=server.open_memory_stream,
            caller=caller,
            faults=faults,
        )


async def test_the_example_speaks_every_character_once_in_few_messages(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from examples.tts_stream import ANSWER, app

    async with serving(app) as server:
        call = await FakeJambonz().place_call(
            "ws://jbtrio.test/tts-stream", connector=server.open_memory_stream
        )
    assert call.outcome.ok, call.outcome.summary()
    assert spoken(call) == ANSWER
    assert call.executed_verbs[-1]["verb"] == "hangup"
    assert_under_the_limit(call)
    assert 2 <= len(tokens_sent(call)) <= 300 // 4
    assert [c.command for c in call.commands if c.command.startswith("tts:")][-1] == "tts:flush"


async def test_paced_deltas_still_arrive_once_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from examples.tts_stream import ANSWER, fake_llm

    results: list[TtsResult] = []

    async def handler(call: jbtrio.Call) -> None:
        await call.start.reply(STREAMING)
        results.append(await call.tts.stream(fake_llm(delay=0.02)))
        await call.wait_ended()

    call = await run_call(handler)
    assert spoken(call) == ANSWER
    assert results == [TtsResult(spoken=ANSWER, flushed=True)]
    ids = [d["id"] for d in tokens_sent(call)]
    assert len(ids) == len(set(ids))


async def test_pauses_and_resumes_without_loss(autojump_clock: trio.testing.MockClock) -> None:
    # No sentence ends: jambonz's buffer only drains by idle cuts, so it fills up, answers
    # full (stream_paused) and later sends stream_resumed.
    text = " ".join(f"word{n}" for n in range(900))
    seen: list[str] = []

    async def handler(call: jbtrio.Call) -> None:
        call.on("tts:streaming-event", record_event)
        await call.start.reply(STREAMING)
        for start in range(0, len(text), 7):
            await call.tts.push(text[start : start + 7])
        result = await call.tts.flush()
        assert result.spoken == text and result.flushed
        await call.wait_ended()

    async def record_event(event: jbtrio.Event) -> None:
        assert isinstance(event.message, jbtrio.TtsStreamingEvent)
        seen.append(str(event.message.data.event_type))

    call = await run_call(handler)
    assert call.outcome.ok, call.outcome.summary()
    assert spoken(call) == text
    assert "stream_paused" in seen and "stream_resumed" in seen
    assert_under_the_limit(call)
    results = [f.data["data"] for f in call.sent("tts:tokens-result")]
    assert any(r.get("reason") == "full" for r in results)


async def test_a_flush_while_full_never_stalls_the_next_turn(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Turn 1 is flushed while jambonz still buffers it; turn 2 arrives at once and is refused
    # as full while the flush is pending in jambonz's buffer. Turn 2 must still be spoken,
    # once, after turn 1 (the resume fallback itself is covered in test_tts_pump.py).
    first = " ".join(f"alpha{n}" for n in range(140))
    second = " ".join(f"beta{n}" for n in range(40)) + "."
    seen: list[str] = []

    async def handler(call: jbtrio.Call) -> None:
        call.on("tts:streaming-event", record_event)
        await call.start.reply([Config(tts_stream={"enable": True})])
        await call.tts.push(first)
        one = await call.tts.flush()
        await call.tts.push(second)
        two = await call.tts.flush()
        assert (one.spoken, two.spoken) == (first, second)
        await trio.sleep(5)
        await call.hangup()

    async def record_event(event: jbtrio.Event) -> None:
        assert isinstance(event.message, jbtrio.TtsStreamingEvent)
        seen.append(str(event.message.data.event_type))

    call = await run_call(handler)
    assert spoken(call) == first + second
    assert "stream_paused" in seen


async def test_clear_drops_what_is_queued_and_reports_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    text = "".join(f"Sentence number {n} is here. " for n in range(200))
    results: list[TtsResult] = []

    async def handler(call: jbtrio.Call) -> None:
        await call.start.reply([Config(tts_stream={"enable": True})])
        for start in range(0, len(text), 9):
            await call.tts.push(text[start : start + 9])
        results.append(await call.tts.clear())
        await call.tts.push("After the clear.")
        results.append(await call.tts.flush())
        await trio.sleep(3)
        await call.hangup()

    call = await run_call(handler)
    cleared, after = results
    assert cleared.spoken + cleared.dropped == text
    assert cleared.dropped and not cleared.interrupted
    assert after.spoken == "After the clear."
    names = [c.command for c in call.commands if c.command.startswith("tts:")]
    clear_at = names.index("tts:clear")
    later = [c.data["tokens"] for c in call.commands if c.command == "tts:tokens"][
        names[:clear_at].count("tts:tokens") :
    ]
    # After the clear only the new turn is sent (the voided one in flight is not resent).
    assert "".join(later) == "After the clear."
    assert spoken(call).endswith("After the clear.")
    assert_under_the_limit(call)


async def test_barge_in_cancels_the_producer_and_reports_the_split(
    autojump_clock: trio.testing.MockClock,
) -> None:
    produced: list[str] = []
    closed = trio.Event()
    results: list[TtsResult] = []

    async def slow_llm() -> AsyncIterator[str]:
        try:
            for n in range(10_000):
                piece = f"Part {n} of a very long answer. "
                produced.append(piece)
                yield piece
                await trio.sleep(0.05)
        finally:
            closed.set()

    async def handler(call: jbtrio.Call) -> None:
        await call.start.reply(
            [
                Config(tts_stream={"enable": True}),
                Gather(input=["speech"], action_hook="/heard", timeout=30),
            ]
        )
        results.append(await call.tts.stream(slow_llm()))
        assert call.tts.interruptions == 1
        await call.hangup()

    call = await run_call(handler, caller=Caller(speech=["stop talking"], response_delay=2.0))
    assert closed.is_set()
    (result,) = results
    assert result.interrupted and not result.flushed
    assert result.spoken + result.dropped == "".join(produced)
    heard = spoken(call)
    assert result.spoken.startswith(heard)
    assert 10 < len(produced) < 200


async def test_push_after_a_barge_in_raises_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    outcome: list[object] = []

    async def handler(call: jbtrio.Call) -> None:
        await call.start.reply(
            [
                Config(tts_stream={"enable": True}),
                Gather(input=["speech"], action_hook="/heard", timeout=30),
            ]
        )
        try:
            for n in range(10_000):
                await call.tts.push(f"Word{n} ")
                await trio.sleep(0.05)
        except TtsInterrupted as exc:
            outcome.append(exc.result)
        await call.tts.push("New turn.")
        outcome.append(await call.tts.flush())
        await trio.sleep(3)
        await call.hangup()

    await run_call(handler, caller=Caller(speech=["hey"], response_delay=1.0))
    interrupted, fresh = outcome
    assert isinstance(interrupted, TtsResult) and interrupted.interrupted
    assert fresh == TtsResult(spoken="New turn.", flushed=True)


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_drop_mid_stream_neither_loses_nor_duplicates(
    autojump_clock: trio.testing.MockClock, when: str
) -> None:
    # "before": the tts:tokens reaches a dead socket and is lost, so it is resent (once) after
    # the result timeout; "after": jambonz stored it and its result comes on the new socket.
    from examples.tts_stream import ANSWER, fake_llm

    def second_tokens(frame: Any) -> bool:
        data = frame.data or {}
        return data.get("command") == "tts:tokens" and data["data"]["id"] == 3

    faults = Faults([Drop(At("in", predicate=second_tokens), when)])  # type: ignore[arg-type]

    async def handler(call: jbtrio.Call) -> None:
        await call.start.reply(STREAMING)
        result = await call.tts.stream(fake_llm(delay=0.01))
        assert result.spoken == ANSWER
        await call.wait_ended()

    call = await run_call(handler, faults=faults)
    # What jambonz's buffer accepted (ok results, matched to the texts sent by id).
    texts = {d["id"]: d["tokens"] for d in tokens_sent(call)}
    accepted = [
        texts[f.payload["id"]]
        for f in call.sent("tts:tokens-result")
        if f.payload.get("status") == "ok"
    ]
    assert "".join(accepted) == ANSWER
    assert len(call.sent("session:reconnect")) == 1
    assert_under_the_limit(call)


async def test_jambonz_refusals_surface_as_typed_errors() -> None:
    # The fake cannot fail a vendor connection, so the driver is fed jambonz's answer directly.
    send_channel, receive_channel = trio.open_memory_channel[TtsRequest](8)
    sent: list[jbtrio.Command] = []

    async def send(command: jbtrio.Command) -> None:
        sent.append(command)

    driver = TtsPumpDriver(send, receive_channel, logging.getLogger("test"))
    session = SimpleNamespace(tts_driver=driver, start_tts=lambda: send_channel, ended=False)
    tts = TtsStream(cast(CallSession, session))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(driver.run, name="tts-pump")
        await tts.push("Hello there. ")
        await tts.push("More text.")
        await trio.testing.wait_all_tasks_blocked()
        assert [c.data["tokens"] for c in sent if c.command == "tts:tokens"] == ["Hello there. "]
        failure = TokensResult(id=1, status="failed", reason="connection to deepgram failed")
        driver.feed(TtsTokensResult(msgid="m1", data=failure), trio.current_time())
        with pytest.raises(jbtrio.TtsError) as caught:
            await tts.flush()
        assert caught.value.reason == "connection to deepgram failed"
        assert caught.value.text == "Hello there. "
        await tts.push("Next turn.")
        await trio.testing.wait_all_tasks_blocked()
        driver.feed(
            TtsTokensResult(msgid="m2", data=TokensResult(id=2, status="ok")),
            trio.current_time(),
        )
        assert await tts.flush() == TtsResult(spoken="Next turn.", flushed=True)
        nursery.cancel_scope.cancel()
    with pytest.raises(CallEndedError):
        await tts.flush()
