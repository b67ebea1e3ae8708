"""examples/agent.py and examples/transfer.py through the fake jambonz (playing jambonz 11)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio
import trio.testing

from jbtrio.testing import Caller, FakeCall, ScriptedTransfer, run_app

ROOT = Path(__file__).resolve().parent.parent


def agent_events(call: FakeCall) -> list[dict[str, object]]:
    return [f.payload for f in call.sent("agent:event") if isinstance(f.payload, dict)]


async def test_the_agent_example_runs_its_script(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    from examples.agent import app

    caplog.set_level(logging.INFO, logger="jbtrio.call")
    script = Caller.from_file(ROOT / "examples" / "agent_script.json")
    call = await run_app(app, "/agent", caller=script)

    kinds = [e["type"] for e in agent_events(call)]
    assert kinds.count("turn_end") == 4  # greeting, two caller turns, the generated reply
    assert kinds.count("user_transcript") == 2 and "user_interruption" in kinds
    tools = call.sent("agent:tool-call")
    assert [f.payload["name"] for f in tools] == ["order_status", "book_callback"]
    assert [o["tool_call_id"] for o in call.record.tool_outputs] == ["call_1_1", "call_2_1"]
    assert call.record.tool_outputs[1]["data"] == {"result": "callback booked at 17:00"}
    assert [u["type"] for u in call.record.agent_updates] == ["inject_context", "generate_reply"]
    assert "Hi Ada, thank you for being a Gold member!" in call.spoken
    assert "Done: a colleague will call you back at 5" in call.spoken  # cut halfway
    tag, goodbye, _ = call.executed_verbs[1:]
    assert tag == {"verb": "tag", "data": {"agent_turns": 4, "slowest_turn_ms": 800}}
    assert goodbye["text"].endswith("(normal conversation end)")
    logged = [r.getMessage() for r in caplog.records if "turn 2:" in r.getMessage()]
    assert logged and "llm 420 ms, tts 180 ms" in logged[0]


async def test_transfer_bridged(autojump_clock: trio.testing.MockClock) -> None:
    from examples.transfer import app

    call = await run_app(app, "/transfer", caller=Caller(speech=["sales please"]))
    say, transfer, hangup = call.executed_verbs[1:]
    assert say == {"verb": "say", "text": "Transferring you to sales."}
    assert transfer["verb"] == "transfer" and transfer["target"][0]["number"] == "+15551230001"
    assert hangup == {"verb": "hangup"}


async def test_transfer_busy_then_the_other_department(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from examples.transfer import app

    caller = Caller(
        speech=["support", "yes"],
        transfer=[ScriptedTransfer("returned", "busy", sip_status=486), ScriptedTransfer()],
    )
    call = await run_app(app, "/transfer", caller=caller)
    asked = [v["say"]["text"] for v in call.executed_verbs if v["verb"] == "gather"]
    assert asked[1] == "Sorry, support is busy. Shall I try sales instead?"
    transfers = [v["target"][0]["number"] for v in call.executed_verbs if v["verb"] == "transfer"]
    assert transfers == ["+15551230002", "+15551230001"]
    hooks = [f.payload for f in call.sent("verb:hook") if "transfer_result" in f.payload]
    assert [h["transfer_reason"] for h in hooks] == ["busy", "completed"]


async def test_transfer_nobody_answers_anywhere(autojump_clock: trio.testing.MockClock) -> None:
    from examples.transfer import app

    caller = Caller(
        speech=["sales", "yes"], transfer=ScriptedTransfer("returned", "no-answer", sip_status=487)
    )
    call = await run_app(app, "/transfer", caller=caller)
    assert call.executed_verbs[-2] == {"verb": "say", "text": "Please call again later. Goodbye."}
