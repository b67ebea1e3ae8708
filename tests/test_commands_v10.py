"""The commands jambonz 10.x/11.x added: their wire shapes, and their refusal for jambonz 0.9."""

from __future__ import annotations

from typing import Any

import pytest

from jbtrio import Command, CoreConfig, VerbError, encode
from jbtrio import commands as cmd
from jbtrio._core import CallCore
from jbtrio.verbs import Synthesizer


def wire(command: Command) -> dict[str, Any]:
    import orjson

    frame: dict[str, Any] = orjson.loads(encode(command))
    return frame


def test_agent_updates_have_the_documented_shapes() -> None:
    assert wire(cmd.agent_update_instructions("Be brief.")) == {
        "type": "command",
        "command": "agent:update",
        "data": {"type": "update_instructions", "instructions": "Be brief."},
    }
    context = [{"role": "system", "content": "Gold tier."}]
    assert wire(cmd.agent_inject_context(context))["data"] == {
        "type": "inject_context",
        "messages": context,
    }
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert wire(cmd.agent_update_tools(tools))["data"] == {"type": "update_tools", "tools": tools}
    assert wire(cmd.agent_generate_reply("Account 12345", interrupt=True))["data"] == {
        "type": "generate_reply",
        "user_input": "Account 12345",
        "interrupt": True,
    }
    assert wire(cmd.agent_generate_reply(instructions="Say goodbye."))["data"] == {
        "type": "generate_reply",
        "instructions": "Say goodbye.",
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda: cmd.agent_update({"type": "reboot"}),
        lambda: cmd.agent_update_instructions(""),
        lambda: cmd.agent_inject_context([]),
        cmd.agent_generate_reply,
        lambda: cmd.stt_reconfigure(["en", ""]),
        lambda: cmd.noise_isolation("on"),  # type: ignore[arg-type]
        lambda: cmd.noise_isolation(level=101),
        lambda: cmd.room_say(""),
        lambda: cmd.room_play(""),
    ],
)
def test_bad_arguments_are_refused_where_written(make: Any) -> None:
    with pytest.raises(ValueError):
        make()


def test_the_other_v10_commands() -> None:
    assert wire(cmd.stt_reconfigure(["en", "es"], call_sid="b-leg")) == {
        "type": "command",
        "command": "stt:reconfigure",
        "callSid": "b-leg",
        "data": {"languageHints": ["en", "es"]},
    }
    assert wire(cmd.stt_reconfigure([]))["data"] == {"languageHints": []}
    assert wire(cmd.noise_isolation("enable", vendor="krisp", level=80))["data"] == {
        "noise_isolation_status": "enable",
        "vendor": "krisp",
        "level": 80,
    }
    voice = Synthesizer(vendor="elevenlabs", voice="v")
    assert wire(cmd.room_say("Welcome all", synthesizer=voice, id="w1", replace=True)) == {
        "type": "command",
        "command": "room:say",
        "data": {
            "text": "Welcome all",
            "synthesizer": {"vendor": "elevenlabs", "voice": "v"},
            "id": "w1",
            "replace": True,
        },
    }
    assert wire(cmd.room_play("https://x/beep.wav", id="b"))["data"] == {
        "url": "https://x/beep.wav",
        "id": "b",
    }


def test_an_agent_tool_result_is_result_or_error() -> None:
    assert wire(cmd.tool_result("agent", "t1", {"ok": 1})) == {
        "type": "command",
        "command": "llm:tool-output",
        "tool_call_id": "t1",
        "data": {"result": {"ok": 1}},
    }
    assert wire(cmd.tool_result("agent", "t1", "no", is_error=True))["data"] == {"error": "no"}


def test_a_call_for_jambonz_0_9_refuses_them_and_the_others_go() -> None:
    old = CallCore(CoreConfig(jambonz="0.9"))
    for command in (cmd.agent_generate_reply("hi"), cmd.room_play("u"), cmd.stt_reconfigure([])):
        with pytest.raises(VerbError, match="needs jambonz 10 or newer"):
            old.command(command, 0.0)
    old.command(cmd.hangup(), 0.0)
    new = CallCore(CoreConfig(jambonz="10"))
    new.command(cmd.agent_generate_reply("hi"), 0.0)
    assert {
        "agent:update",
        "stt:reconfigure",
        "noiseIsolation:status",
        "room:say",
        "room:play",
    } == cmd.V10_COMMANDS
