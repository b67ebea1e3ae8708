"""The verb executor: statuses, timing, gather, redirect, commands, idle, dial, llm."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from _standalone_app import AppConn, StandaloneApp, place

from jbtrio.testing import (
    Caller,
    DialOutcome,
    FakeJambonz,
    JambonzConfig,
    LlmScript,
    ScriptedToolCall,
)


async def test_config_notify_events_sends_verb_status(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(
        initial_verbs=[
            {"verb": "say", "text": "before"},
            {"verb": "config", "notifyEvents": True},
            {"verb": "say", "id": "s1", "text": "hello"},
            {"verb": "pause", "length": 2},
            {"verb": "hangup"},
        ]
    )
    call = await place(app)
    statuses = [f.payload for f in call.sent("verb:status")]
    assert statuses == [
        {"event": "finished", "name": "config"},
        {"event": "starting", "name": "say", "id": "s1"},
        {"event": "finished", "name": "say", "id": "s1"},
        {"event": "starting", "name": "pause"},
        {"event": "finished", "name": "pause"},
        {"event": "starting", "name": "hangup"},
    ]
    pause = [f for f in call.sent("verb:status") if f.payload.get("name") == "pause"]
    assert pause[1].time - pause[0].time == pytest.approx(2.0)


async def test_call_status_in_progress_then_completed_and_close_1000(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(initial_verbs=[{"verb": "pause", "length": 3}, {"verb": "hangup"}])
    call = await place(app)
    statuses = [f.payload for f in call.sent("call:status")]
    assert [s["call_status"] for s in statuses] == ["in-progress", "completed"]
    assert statuses[1]["duration"] == 3
    assert statuses[1]["call_termination_by"] == "jambonz"
    assert app.conns[0].close_code == 1000
    session_new = call.sent("session:new")[0]
    assert session_new.data is not None
    assert session_new.data["call_sid"] == session_new.payload["call_sid"]
    assert session_new.payload["call_status"] == "trying"
    assert all(f.data is not None and "call_sid" in f.data for f in call.sent())


async def test_idle_stack_waits_for_commands_then_caller_hangs_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(initial_verbs=[{"verb": "say", "text": "hi"}])
    call = await place(app, caller=Caller(idle_hangup=7))
    assert call.outcome.status == "completed"
    assert call.outcome.ended_by == "caller"
    completed = call.sent("call:status")[-1]
    assert completed.payload["call_termination_by"] == "caller"
    assert completed.time == pytest.approx(0.5 + 7)


async def test_redirect_command_wakes_idle_session(autojump_clock: trio.testing.MockClock) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "call:status" and msg["data"]["call_status"] == "in-progress":
            await trio.sleep(3)
            await conn.send(
                {
                    "type": "command",
                    "command": "redirect",
                    "data": [{"verb": "say", "text": "redirected"}, {"verb": "hangup"}],
                }
            )
            return True
        return False

    app = StandaloneApp(initial_verbs=[{"verb": "say", "text": "hi"}], on_message=on_message)
    call = await place(app)
    assert call.outcome.ended_by == "app"
    assert call.spoken == ["hi", "redirected"]
    assert call.commands[0].command == "redirect"


@pytest.mark.parametrize("queue", [False, True])
async def test_redirect_command_replaces_or_appends(
    autojump_clock: trio.testing.MockClock, queue: bool
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "call:status" and msg["data"]["call_status"] == "in-progress":
            await conn.send(
                {
                    "type": "command",
                    "command": "redirect",
                    "queueCommand": queue,
                    "data": [{"verb": "say", "text": "new"}, {"verb": "hangup"}],
                }
            )
            return True
        return False

    app = StandaloneApp(
        initial_verbs=[
            {"verb": "pause", "length": 5},
            {"verb": "say", "text": "old"},
        ],
        on_message=on_message,
    )
    call = await place(app)
    assert call.spoken == (["old", "new"] if queue else ["new"])


async def test_call_status_command_hangs_up(autojump_clock: trio.testing.MockClock) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "call:status" and msg["data"]["call_status"] == "in-progress":
            await conn.send(
                {"type": "command", "command": "call:status", "data": {"call_status": "completed"}}
            )
            return True
        return False

    app = StandaloneApp(initial_verbs=[{"verb": "pause", "length": 60}], on_message=on_message)
    call = await place(app)
    assert call.outcome.ended_by == "app"
    assert call.sent("call:status")[-1].time < 1


async def test_invalid_redirect_command_is_silently_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "call:status" and msg["data"]["call_status"] == "in-progress":
            await conn.send({"type": "command", "command": "redirect", "data": [{"verb": "x"}]})
            await conn.send({"type": "command", "command": "no-such-command", "data": {"a": 1}})
            return True
        return False

    app = StandaloneApp(initial_verbs=[{"verb": "say", "text": "hi"}], on_message=on_message)
    call = await place(app, caller=Caller(idle_hangup=1))
    assert call.sent("jambonz:error") == []
    assert call.outcome.ok
    assert [c.command for c in call.commands] == ["redirect", "no-such-command"]


async def test_gather_timeout_and_silence(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(
        initial_verbs=[
            {"verb": "gather", "input": ["speech"], "actionHook": "/gather", "timeout": 4}
        ]
    )
    call = await place(app)
    hook = call.sent("verb:hook")[0]
    assert hook.payload["reason"] == "timeout"
    assert hook.time == pytest.approx(4)
    assert call.spoken == ["I did not hear you"]


async def test_gather_nested_prompt_and_live_speech(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(
        initial_verbs=[
            {
                "verb": "gather",
                "input": ["speech", "digits"],
                "actionHook": "/gather",
                "say": {"text": "Say something"},
                "timeout": 30,
            }
        ]
    )
    async with trio.open_nursery() as nursery:
        async with FakeJambonz().call(
            app.memory_connector(nursery), caller=Caller(response_delay=0.5)
        ) as call:
            await call.wait_for_type("call:status")
            await trio.sleep(10)
            call.speak("live words")
            outcome = await call.finished()
        nursery.cancel_scope.cancel()
    assert outcome.ok
    assert call.spoken == ["Say something", "You said live words"]
    assert call.sent("verb:hook")[0].time == pytest.approx(10.5)


async def test_redirect_verb_sends_session_redirect(autojump_clock: trio.testing.MockClock) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "session:redirect":
            await conn.ack(msg["msgid"], [{"verb": "say", "text": "moved"}, {"verb": "hangup"}])
            return True
        return False

    app = StandaloneApp(
        initial_verbs=[
            {"verb": "redirect", "id": "r", "actionHook": "/next"},
            {"verb": "say", "text": "not reached"},
        ],
        on_message=on_message,
    )
    call = await place(app)
    redirect = call.sent("session:redirect")[0]
    assert redirect.data is not None and redirect.data["hook"] == "/next"
    assert redirect.payload["verb_id"] == "r"
    assert call.spoken == ["moved"]
    assert [a.msg_type for a in call.acks] == ["session:new", "session:redirect"]


async def test_dial_with_confirm_hook(autojump_clock: trio.testing.MockClock) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "dial:confirm":
            await conn.ack(msg["msgid"], [{"verb": "say", "text": "screening"}])
            return True
        if msg["type"] == "verb:hook" and msg["hook"] == "/dial-done":
            await conn.ack(msg["msgid"], [{"verb": "hangup"}])
            return True
        return False

    app = StandaloneApp(
        initial_verbs=[
            {
                "verb": "dial",
                "actionHook": "/dial-done",
                "confirmHook": "/screen",
                "target": [{"type": "phone", "number": "15085551212"}],
            }
        ],
        on_message=on_message,
    )
    call = await place(app, caller=Caller(dial=DialOutcome(duration=10)))
    confirm = call.sent("dial:confirm")[0]
    assert confirm.data is not None and confirm.data["hook"] == "/screen"
    assert confirm.payload["direction"] == "outbound"
    assert confirm.payload["to"] == "15085551212"
    done = call.sent("verb:hook")[0].payload
    assert done["dial_call_status"] == "completed"
    assert done["duration"] == 10
    assert call.record.confirm_verbs == [{"verb": "say", "text": "screening"}]
    assert call.outcome.ok


async def test_dial_unanswered(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(
        initial_verbs=[
            {
                "verb": "dial",
                "actionHook": "/dial-done",
                "target": [{"type": "phone", "number": "1"}],
            },
            {"verb": "hangup"},
        ]
    )
    outcome = DialOutcome(answered=False, call_status="busy", sip_status=486)
    call = await place(app, caller=Caller(dial=outcome))
    done = call.sent("verb:hook")[0].payload
    assert (done["dial_call_status"], done["dial_sip_status"]) == ("busy", 486)


async def test_llm_events_tool_calls_and_outputs(autojump_clock: trio.testing.MockClock) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "llm:tool-call":
            await conn.send(
                {
                    "type": "command",
                    "command": "llm:tool-output",
                    "tool_call_id": msg["data"]["tool_call_id"],
                    "data": {"type": "conversation.item.create", "item": {"output": "22C"}},
                }
            )
            return True
        if msg["type"] == "verb:hook" and msg["hook"] == "/llm-done":
            await conn.ack(msg["msgid"], [{"verb": "hangup"}])
            return True
        return False

    app = StandaloneApp(
        initial_verbs=[
            {
                "verb": "llm",
                "vendor": "openai",
                "model": "gpt-4o-realtime-preview",
                "auth": {"apiKey": "k"},
                "actionHook": "/llm-done",
                "eventHook": "/events",
                "toolHook": "/tools",
                "llmOptions": {},
            }
        ],
        on_message=on_message,
    )
    script = LlmScript(
        events=[{"type": "response.done", "response": {"outputItems": []}}],
        tool_calls=[ScriptedToolCall("get_weather", {"cityName": "Paris"}, "call_1")],
    )
    call = await place(app, caller=Caller(llm=script))
    event = call.sent("llm:event")[0]
    assert event.data is not None and event.data["hook"] == "/events"
    assert event.payload == {"type": "response.done", "response": {"output_items": []}}
    tool = call.sent("llm:tool-call")[0]
    assert tool.payload == {
        "tool_call_id": "call_1",
        "name": "get_weather",
        "args": {"cityName": "Paris"},
    }
    assert call.record.tool_outputs[0]["tool_call_id"] == "call_1"
    assert call.sent("verb:hook")[0].payload["completion_reason"] == "normal conversation end"
    assert call.outcome.ok


async def test_max_duration(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(initial_verbs=[{"verb": "pause", "length": 100}])
    call = await place(app, fake=FakeJambonz(JambonzConfig(max_duration=30)))
    assert call.outcome.status == "failed"
    assert call.outcome.reason == "max duration reached"
    assert app.conns[0].close_code == 1000


async def test_session_adulting_socket(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp()
    call = await place(
        app,
        first_message="session:adulting",
        verbs=[{"verb": "say", "text": "child leg"}, {"verb": "hangup"}],
    )
    assert call.outcome.ok
    assert app.requests[0].path == "//adulting"
    first = app.conns[0].messages[0]
    assert first["type"] == "session:adulting"
    assert first["data"]["direction"] == "outbound"
    assert "parent_call_info" in first["data"]
    assert all(f.data is not None and "call_sid" not in f.data for f in call.sent())
    assert call.spoken == ["child leg"]
    assert "parent_call_info" not in call.sent("call:status")[0].payload


async def test_play_takes_time_and_reports_to_its_action_hook(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = StandaloneApp(
        initial_verbs=[
            {"verb": "play", "url": ["https://x/a.wav", "https://x/b.wav"], "actionHook": "/p"},
            {"verb": "hangup"},
        ]
    )
    call = await place(app)
    hook = call.sent("verb:hook")[0]
    assert hook.time == pytest.approx(4.0)
    assert hook.payload["reason"] == "playCompleted"
    assert call.outcome.ok


async def test_unacked_dial_confirm_declines_the_leg(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        return bool(msg["type"] == "dial:confirm")

    app = StandaloneApp(
        initial_verbs=[
            {
                "verb": "dial",
                "actionHook": "/dial-done",
                # jambonz 10.x/11.x's schema refuses a string confirmHook on a target (it
                # matches both branches of its oneOf); the object form is valid everywhere
                "target": [{"type": "phone", "number": "1", "confirmHook": {"url": "/screen"}}],
            },
            {"verb": "hangup"},
        ],
        on_message=on_message,
    )
    call = await place(app)
    confirm = call.sent("dial:confirm")[0]
    done = call.sent("verb:hook")[0]
    assert done.time - confirm.time == pytest.approx(5.0)
    assert done.payload["dial_call_status"] == "failed"
    assert call.outcome.faults == ("dial:confirm /screen ack timed out",)


async def test_redirect_command_with_call_hook(autojump_clock: trio.testing.MockClock) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "call:status" and msg["data"]["call_status"] == "in-progress":
            await conn.send(
                {"type": "command", "command": "redirect", "data": {"call_hook": "/flow2"}}
            )
            return True
        if msg["type"] == "session:redirect":
            await conn.ack(msg["msgid"], [{"verb": "say", "text": "flow 2"}, {"verb": "hangup"}])
            return True
        return False

    app = StandaloneApp(initial_verbs=[{"verb": "pause", "length": 30}], on_message=on_message)
    call = await place(app)
    redirect = call.sent("session:redirect")[0]
    assert redirect.data is not None and redirect.data["hook"] == "/flow2"
    assert call.spoken == ["flow 2"]
    assert call.sent("call:status")[-1].time < 2


async def test_unacked_session_redirect_is_a_fault(autojump_clock: trio.testing.MockClock) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        return bool(msg["type"] == "session:redirect")

    app = StandaloneApp(
        initial_verbs=[{"verb": "redirect", "actionHook": "/next"}, {"verb": "hangup"}],
        on_message=on_message,
    )
    call = await place(app)
    assert call.outcome.faults == ("session:redirect /next ack timed out",)
    assert call.sent("call:status")[-1].time == pytest.approx(5.0)


async def test_redirect_verb_to_absolute_ws_url_opens_a_new_socket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "session:redirect":
            verbs = [
                {"verb": "gather", "input": ["speech"], "actionHook": "/gather"},
            ]
            await conn.ack(msg["msgid"], verbs)
            return True
        return False

    app = StandaloneApp(
        initial_verbs=[
            {"verb": "config", "notifyEvents": True},
            {"verb": "redirect", "actionHook": "ws://app/other"},
        ],
        on_message=on_message,
    )
    call = await place(app, caller=Caller(speech=["over here"]))
    assert call.outcome.ok
    assert [r.path for r in app.requests] == ["/", "/other"]
    old, new = app.conns
    assert new.messages[0]["type"] == "session:redirect"
    assert new.messages[0]["hook"] == "ws://app/other"
    assert all("call_sid" not in m for m in new.messages)
    assert "verb:hook" in [m["type"] for m in new.messages]
    assert [m["data"]["call_status"] for m in old.messages if m["type"] == "call:status"] == [
        "in-progress",
        "completed",
    ]
    assert (old.close_code, new.close_code) == (1000, 1000)
    assert call.spoken == ["You said over here"]
