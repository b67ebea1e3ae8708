"""jambonz 10.x/11.x's other verbs through the fake: ``transfer``, ``room`` (a conference) and
the speech-to-speech ``*_s2s`` verbs (run as ``llm``), each resuming its flow with its typed
result."""

from __future__ import annotations

import trio.testing

import jbtrio
from jbtrio.testing import Caller, LlmScript, ScriptedToolCall, ScriptedTransfer, run_app
from jbtrio.verbs import DeepgramS2s, Hangup, Room, Say, Target, Transfer

TARGET = [Target(type="phone", number="+15551230001")]


async def test_a_transfer_returns_its_result(autojump_clock: trio.testing.MockClock) -> None:
    app = jbtrio.App(jambonz="11")
    results: list[jbtrio.TransferResult] = []

    @app.flow("/")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        for _ in range(2):
            result: jbtrio.TransferResult = yield Transfer(mode="blind", target=TARGET)
            results.append(result)
        yield Hangup()

    caller = Caller(
        transfer=[ScriptedTransfer("returned", "busy", sip_status=486), ScriptedTransfer()]
    )
    call = await run_app(app, caller=caller)
    assert [(r.transfer_result, r.transfer_reason, r.sip_status) for r in results] == [
        ("returned", "busy", 486),
        ("bridged", "completed", 200),
    ]
    legs = [f.payload["call_status"] for f in call.sent("call:status")]
    assert legs == ["in-progress", "busy", "in-progress", "completed", "completed"]


async def test_a_room_is_a_conference_and_room_say_speaks_into_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()
    results: list[jbtrio.ConferenceResult] = []

    async def announce(call: jbtrio.Call) -> None:
        await trio.sleep(1)
        await call.room_say("The meeting starts now.", id="start")

    @app.flow("/")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        call.on("call:status", lambda event: announce(call))
        result: jbtrio.ConferenceResult = yield Room(name="standup")
        results.append(result)
        yield [Say(text="Bye"), Hangup()]

    call = await run_app(app, caller=Caller(conference_seconds=3))
    assert results and results[0].verb_id is not None
    assert call.spoken[0] == "The meeting starts now."
    assert call.received("room:say")[0].payload == {
        "text": "The meeting starts now.",
        "id": "start",
    }


async def test_an_s2s_verb_runs_as_llm_with_its_tools(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()
    results: list[jbtrio.LlmResult] = []

    @app.tool("lookup")
    async def lookup(call: jbtrio.Call, key: str = "") -> str:
        return key.upper()

    @app.flow("/")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        result: jbtrio.LlmResult = yield DeepgramS2s(llm_options={"settings": {}})
        results.append(result)
        yield Hangup()

    script = LlmScript(tool_calls=[ScriptedToolCall("lookup", {"key": "a"}, "fn-1")])
    call = await run_app(app, caller=Caller(llm=script))
    assert results[0].completion_reason == "normal conversation end"
    assert call.record.tool_outputs[0]["data"] == {
        "data": {"type": "FunctionCallResponse", "id": "fn-1", "name": "lookup", "content": "A"}
    }
