"""Streaming say through the TTS buffer model: results, streaming events, the flush quirk."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from _standalone_app import AppConn, StandaloneApp, place

from jbtrio.testing import Caller, FakeJambonz, JambonzConfig

WORDS = "word " * 180  # 900 characters, no sentence boundary


def tokens(id_: int, text: str) -> dict[str, Any]:
    return {"type": "command", "command": "tts:tokens", "data": {"id": id_, "tokens": text}}


FLUSH = {"type": "command", "command": "tts:flush"}
CLEAR = {"type": "command", "command": "tts:clear"}


def scripted(*steps: dict[str, Any] | float) -> Any:
    """After the in-progress call:status: send dicts, sleep floats, in order."""

    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "call:status" and msg["data"]["call_status"] == "in-progress":
            for step in steps:
                if isinstance(step, dict):
                    await conn.send(step)
                else:
                    await trio.sleep(step)
            return True
        return False

    return on_message


STREAMING: list[dict[str, Any]] = [{"verb": "say", "stream": True}, {"verb": "hangup"}]


def events(call: Any) -> list[str]:
    return [f.payload["event_type"] for f in call.sent("tts:streaming-event")]


def results(call: Any) -> list[dict[str, Any]]:
    return [f.payload for f in call.sent("tts:tokens-result")]


async def test_streaming_say_completes_after_flush(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(
        initial_verbs=STREAMING,
        on_message=scripted(0.1, tokens(1, "Hello there. "), tokens(2, "How are you? "), FLUSH),
    )
    call = await place(app)
    assert events(call) == ["stream_open"]
    assert results(call) == [{"id": 1, "status": "ok"}, {"id": 2, "status": "ok"}]
    assert "".join(call.spoken) == "Hello there. How are you? "
    assert call.outcome.ok and call.outcome.ended_by == "app"


async def test_streaming_say_without_flush_never_finishes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(initial_verbs=STREAMING, on_message=scripted(tokens(1, "Hi. ")))
    call = await place(app, fake=FakeJambonz(JambonzConfig(max_duration=60)))
    assert call.outcome.reason == "max duration reached"
    assert call.spoken == ["Hi. "]
    assert [v["verb"] for v in call.executed_verbs] == ["say"]


async def test_full_buffer_pauses_then_idle_cut_resumes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(
        initial_verbs=STREAMING,
        on_message=scripted(0.1, tokens(1, WORDS), tokens(2, "x" * 200), 2.0, FLUSH),
    )
    call = await place(app)
    assert results(call)[:2] == [
        {"id": 1, "status": "ok"},
        {"id": 2, "status": "failed", "reason": "full"},
    ]
    paused = call.sent("tts:streaming-event")[1]
    result = call.sent("tts:tokens-result")[1]
    assert paused.payload["event_type"] == "stream_paused"
    assert call.transcript.index(paused) < call.transcript.index(result)
    assert events(call) == ["stream_open", "stream_paused", "stream_resumed"]


async def test_flush_draining_full_buffer_sends_no_resumed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(
        initial_verbs=STREAMING,
        on_message=scripted(0.1, tokens(1, WORDS), tokens(2, "x" * 200), FLUSH),
    )
    call = await place(app)
    assert events(call) == ["stream_open", "stream_paused"]
    assert "".join(call.spoken) == WORDS
    assert call.outcome.ok


async def test_tokens_before_stream_buffer_and_overflow(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(
        initial_verbs=[{"verb": "pause", "length": 5}, *STREAMING],
        on_message=scripted(
            tokens(1, "a" * 600),
            tokens(2, "b" * 600),
            {"type": "command", "command": "tts:tokens", "data": {"id": 3}},
            FLUSH,
            6.0,
            FLUSH,
        ),
    )
    call = await place(app)
    assert results(call) == [
        {"id": 1, "status": "ok"},
        {"id": 2, "status": "failed", "reason": "full"},
        {"id": 3, "status": "failed", "reason": "missing tokens"},
    ]
    assert events(call) == ["stream_paused", "stream_open"]
    assert "".join(call.spoken) == "a" * 600


async def test_clear_empties_buffer_without_resumed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(
        initial_verbs=STREAMING,
        on_message=scripted(0.1, tokens(1, WORDS), tokens(2, "x" * 200), CLEAR, FLUSH),
    )
    call = await place(app)
    assert events(call) == ["stream_open", "stream_paused"]
    assert call.spoken == []
    assert call.outcome.ok


async def test_barge_in_during_gather_sends_user_interruption(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(
        initial_verbs=[
            {"verb": "config", "ttsStream": {"enable": True}},
            {"verb": "gather", "input": ["speech"], "actionHook": "/gather"},
        ],
        on_message=scripted(tokens(1, WORDS)),
    )
    call = await place(app, caller=Caller(speech=["stop talking"]))
    assert events(call) == ["stream_open", "user_interruption"]
    assert call.spoken[-1] == "You said stop talking"


async def test_killed_streaming_say_closes_stream(autojump_clock: trio.testing.MockClock) -> None:
    redirect = {"type": "command", "command": "redirect", "data": [{"verb": "hangup"}]}
    app = StandaloneApp(initial_verbs=STREAMING, on_message=scripted(1.0, redirect))
    call = await place(app)
    assert events(call) == ["stream_open", "stream_closed"]
