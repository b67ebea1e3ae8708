"""jambonz 10.x/11.x through the fake: the ``agent`` verb (turns, tools, events, updates,
barge-in), what the caller heard of streamed TTS (``tts_spoken``), and the scripts."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
import trio
import trio.testing

import jbtrio
from jbtrio.testing import (
    AgentScript,
    AgentTurn,
    Caller,
    FakeCall,
    JambonzConfig,
    ScriptedToolCall,
    run_app,
)
from jbtrio.verbs import Agent, AgentLlm, Config, Gather, Hangup, Say

AGENT = Agent(llm=AgentLlm(vendor="openai", model="gpt-4.1-mini"))


def agent_events(call: FakeCall) -> list[dict[str, Any]]:
    return [f.payload for f in call.sent("agent:event") if isinstance(f.payload, dict)]


def _agent_app(**kwargs: Any) -> tuple[jbtrio.App, list[jbtrio.AgentResult]]:
    app = jbtrio.App(**kwargs)
    results: list[jbtrio.AgentResult] = []

    @app.flow("/")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        result: jbtrio.AgentResult = yield AGENT
        results.append(result)
        yield Hangup()

    return app, results


async def test_a_wrong_tool_answer_is_a_fault(autojump_clock: trio.testing.MockClock) -> None:
    app, _ = _agent_app()

    @app.tool("add")
    async def add(call: jbtrio.Call, a: int = 0, b: int = 0) -> int:
        return a - b  # the bug the script catches

    turn = AgentTurn(
        says="two and two?", tool_calls=[ScriptedToolCall("add", {"a": 2, "b": 2}, expect=4)]
    )
    call = await run_app(app, caller=Caller(agent=AgentScript(turns=[turn])), check=False)
    assert call.outcome.faults == ("agent tool add answered {'result': 0}, expected {'result': 4}",)


async def test_a_tool_call_with_no_tool_served_is_a_fault(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app, results = _agent_app()
    turn = AgentTurn(says="weather?", tool_calls=[ScriptedToolCall("weather")])
    call = await run_app(app, caller=Caller(agent=AgentScript(turns=[turn])), check=False)
    assert "toolHook" not in call.executed_verbs[0]  # no tools: none asked for
    assert call.outcome.faults == ("agent:tool-call weather: the agent verb has no toolHook",)
    assert [r.completion_reason for r in results] == ["normal conversation end"]


async def test_a_handler_reads_agent_events_and_a_generate_reply_interrupts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()
    seen: list[str] = []

    @app.route("/")
    async def handler(call: jbtrio.Call) -> None:
        await call.start.reply([AGENT, Hangup()])
        async for event in call.events():
            if isinstance(event.message, jbtrio.AgentEvent):
                seen.append(event.message.event_type or "")
                if event.message.data.type == "llm_response" and len(seen) == 1:
                    await trio.sleep(1)  # the caller hears a second of the greeting
                    await call.agent.generate_reply("Stop: the supervisor speaks.", interrupt=True)

    script = AgentScript(
        greeting="Welcome to the very long greeting that nobody wants to hear in full today.",
        replies=["The supervisor is here."],
    )
    call = await run_app(app, caller=Caller(agent=script))
    assert "eventHook" in call.executed_verbs[0]  # events() wants them: jambonz is asked
    ends = [e for e in agent_events(call) if e["type"] == "turn_end"]
    assert ends[0]["interrupted"] is True
    assert ends[0]["response"] == "Welcome to the"  # 1 s of its 3.7
    assert ends[1] == {
        "type": "turn_end",
        "transcript": "",
        "response": "The supervisor is here.",
        "interrupted": False,
        "latency": {"model_latency": 420, "voice_latency": 180},
    }
    assert seen[:2] == ["llm_response", "turn_end"]


async def test_the_caller_may_end_the_conversation(autojump_clock: trio.testing.MockClock) -> None:
    app, results = _agent_app()
    script = AgentScript(greeting=None, turns=[AgentTurn(says="bye")], end="hangup")
    call = await run_app(app, caller=Caller(agent=script))
    assert results == []  # the verb never ended: the caller left
    assert call.outcome.reason == "caller hung up"


async def test_agent_updates_go_nowhere_without_an_agent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()

    @app.flow("/")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        await call.agent.update_instructions("Be brief.")
        yield [Say(text="No agent here."), Hangup()]

    call = await run_app(app)
    assert call.received("agent:update") and call.record.agent_updates == []


async def test_a_0_9_fake_ignores_the_newer_commands(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    # An app that thinks it talks to jambonz 11, in front of a 0.9.8: it sends, jambonz logs.
    app = jbtrio.App()

    @app.flow("/")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        await call.room_play("https://example.com/beep.wav")
        yield [Say(text="Hi"), Hangup()]

    caplog.set_level(logging.INFO, logger="jbtrio.testing.fake")
    call = await run_app(app, config=JambonzConfig(jambonz="0.9"))
    assert call.received("room:play")
    assert any("invalid command room:play" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- what the caller heard


def _streaming_app(results: list[jbtrio.TtsResult]) -> jbtrio.App:
    app = jbtrio.App()

    @app.flow("/")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        yield [Config(track_tts_playout=True), Say(stream=True)]
        await call.tts.push("The first sentence is heard. ")
        await call.tts.push("So is the second one.")
        results.append(await call.tts.flush(heard_timeout=10))
        yield Hangup()

    return app


async def test_tts_spoken_fills_what_the_caller_heard(
    autojump_clock: trio.testing.MockClock,
) -> None:
    results: list[jbtrio.TtsResult] = []
    call = await run_app(_streaming_app(results))
    spoken = [
        f.payload
        for f in call.sent("tts:streaming-event")
        if f.payload["event_type"] == "tts_spoken"
    ]
    assert spoken == [
        {
            "event_type": "tts_spoken",
            "text": "The first sentence is heard. So is the second one.",
            "bargein": False,
        }
    ]
    (result,) = results
    assert result.heard == "The first sentence is heard. So is the second one."
    assert result.flushed and not result.interrupted


async def test_without_track_tts_playout_heard_stays_unknown(
    autojump_clock: trio.testing.MockClock,
) -> None:
    results: list[jbtrio.TtsResult] = []
    app = jbtrio.App()

    @app.flow("/")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        yield Say(stream=True)
        await call.tts.push("Nobody tracks this.")
        results.append(await call.tts.flush(heard_timeout=2))
        yield Hangup()

    await run_app(app)
    assert results[0].heard is None and results[0].spoken == "Nobody tracks this."


# ---------------------------------------------------------------- scripts


def test_an_agent_script_from_data() -> None:
    caller = Caller.from_dict(
        {
            "agent": {
                "greeting": None,
                "turns": [
                    {"says": "hi", "tool_calls": [{"name": "t"}, {"name": "u"}], "latency": {}},
                    {"says": "again", "tool_calls": [{"name": "t", "tool_call_id": "x"}]},
                ],
                "end": "hangup",
            },
            "transfer": [{"result": "returned", "reason": "busy"}, {}],
            "conference_seconds": 2,
        }
    )
    (script,) = caller.agent_scripts()
    assert [c.tool_call_id for t in script.turns for c in t.tool_calls] == [
        "call_1_1",
        "call_1_2",
        "x",
    ]
    assert script.greeting is None and script.end == "hangup"
    assert [o.result for o in caller.transfer_outcomes()] == ["returned", "bridged"]
    assert caller.conference_seconds == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"agent": {"turnz": []}}, "agent: unknown key(s) ['turnz']"),
        ({"agent": {"turns": [{"reply": "x"}]}}, "agent.turns[0].says: the caller's words"),
        ({"agent": {"end": "never"}}, "agent: 'end' must be in"),
        ({"transfer": {"result": "parked"}}, "transfer: 'result' must be in"),
    ],
)
def test_bad_scripts_say_where(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Caller.from_dict(data)


async def test_a_barge_in_reports_the_words_heard(autojump_clock: trio.testing.MockClock) -> None:
    results: list[jbtrio.TtsResult] = []
    app = jbtrio.App()

    @app.flow("/")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        yield Config(track_tts_playout=True, tts_stream={"enable": True})
        await call.tts.push("This part is spoken. And this part waits for more")
        yield Gather(input=["speech"])  # the caller talks over it
        results.append(await call.tts.flush(heard_timeout=10))
        yield Hangup()

    await run_app(app, caller=Caller(speech=["stop"], response_delay=0.5))  # before the lull cut
    (result,) = results
    assert result.interrupted
    assert result.heard == "This part is spoken. "


async def test_a_handler_answers_an_agent_tool_call_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()

    @app.route("/")
    async def handler(call: jbtrio.Call) -> None:
        agent = Agent(llm=AgentLlm(vendor="anthropic"), tool_hook="/my-tools")
        await call.start.reply([agent, Hangup()])
        async for event in call.events():
            if isinstance(event.message, jbtrio.AgentToolCall):
                data = event.message.data
                await call.tool_output(data.tool_call_id or "", {"sum": 4})

    turn = AgentTurn(says="add", tool_calls=[ScriptedToolCall("add", expect={"sum": 4})])
    call = await run_app(app, caller=Caller(agent=AgentScript(greeting=None, turns=[turn])))
    assert call.record.tool_outputs[0]["data"] == {"result": {"sum": 4}}
