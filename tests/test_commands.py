"""Each command builder produces exactly the JSON jambonz-feature-server 0.9.8 reads.

The expected frames are the wire examples of the project's protocol notes, which were read from
the feature server's ``CallSession._onCommand`` and the vendor adapters (summarised in
docs/jambonz.md, Commands and Streaming TTS), written out literally so a change of shape shows.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from jbtrio import commands as cmd
from jbtrio._wire import ABSENT, Command, decode, encode

B_LEG = "5d1f0d2e-8b36-4b2c-9c2e-3f1d7c1b9a10"


def wire(command: Command) -> dict[str, Any]:
    """The parsed JSON frame of a command (after checking it round-trips)."""
    text = encode(command)
    assert decode(text) == command
    parsed: dict[str, Any] = orjson.loads(text)
    return parsed


def example(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(text)
    return parsed


class VerbObject:
    """Stands in for a jbtrio.verbs builder: anything with to_dict()."""

    def __init__(self, **props: Any) -> None:
        self.props = props

    def to_dict(self) -> dict[str, Any]:
        return dict(self.props)


# --------------------------------------------------------------------------- §4.3 examples


def test_redirect() -> None:
    command = cmd.redirect([{"verb": "say", "id": "b5e39996", "text": "Hello it's me Mario"}])
    assert wire(command) == example(
        '{"type":"command","command":"redirect","queueCommand":false,'
        '"data":[{"verb":"say","id":"b5e39996","text":"Hello it\'s me Mario"}]}'
    )


def test_redirect_queued_with_verb_objects() -> None:
    command = cmd.redirect(
        [VerbObject(verb="say", text="redirected"), {"verb": "hangup"}], queue=True
    )
    assert wire(command) == {
        "type": "command",
        "command": "redirect",
        "queueCommand": True,
        "data": [{"verb": "say", "text": "redirected"}, {"verb": "hangup"}],
    }


def test_redirect_accepts_one_verb() -> None:
    assert wire(cmd.redirect(VerbObject(verb="hangup")))["data"] == [{"verb": "hangup"}]


def test_redirect_to_hook() -> None:
    assert wire(cmd.redirect_to_hook("/new-flow")) == example(
        '{"type":"command","command":"redirect","data":{"call_hook":"/new-flow"}}'
    )


def test_redirect_to_hook_child_and_hook_object() -> None:
    command = cmd.redirect_to_hook(
        {"url": "wss://x.example/app", "method": "GET"}, child_call_hook="/child"
    )
    assert wire(command)["data"] == {
        "call_hook": {"url": "wss://x.example/app", "method": "GET"},
        "child_call_hook": "/child",
    }
    assert "queueCommand" not in wire(command)


def test_hooks_accept_hook_objects() -> None:
    from jbtrio.verbs import Hook

    command = cmd.redirect_to_hook(Hook(url="/next", method="POST"))
    assert wire(command)["data"] == {"call_hook": {"url": "/next", "method": "POST"}}
    assert wire(cmd.redirect_to_hook(VerbObject(url="/w")))["data"]["call_hook"] == {"url": "/w"}


def test_redirect_legs() -> None:
    command = cmd.redirect_legs(
        parent_call=[{"verb": "say", "text": "bye"}], child_call=[VerbObject(verb="hangup")]
    )
    assert wire(command) == {
        "type": "command",
        "command": "redirect",
        "data": {
            "parent_call": [{"verb": "say", "text": "bye"}],
            "child_call": [{"verb": "hangup"}],
        },
    }
    assert wire(cmd.redirect_legs(child_call=[{"verb": "hangup"}]))["data"] == {
        "child_call": [{"verb": "hangup"}]
    }


def test_hangup() -> None:
    assert wire(cmd.hangup()) == example(
        '{"type":"command","command":"call:status","data":{"call_status":"completed"}}'
    )


def test_no_answer() -> None:
    assert wire(cmd.no_answer()) == {
        "type": "command",
        "command": "call:status",
        "data": {"call_status": "no-answer"},
    }


def test_mute() -> None:
    assert wire(cmd.mute("mute", call_sid=B_LEG)) == example(
        '{"type":"command","command":"mute:status","data":{"mute_status":"mute"},'
        '"callSid":"5d1f0d2e-8b36-4b2c-9c2e-3f1d7c1b9a10"}'
    )
    assert wire(cmd.mute("unmute"))["data"] == {"mute_status": "unmute"}


def test_conf_mute() -> None:
    assert wire(cmd.conf_mute("unmute")) == {
        "type": "command",
        "command": "conf:mute-status",
        "data": {"conf_mute_status": "unmute"},
    }


def test_conf_hold() -> None:
    assert wire(cmd.conf_hold("hold", wait_hook="/hold-music")) == example(
        '{"type":"command","command":"conf:hold-status",'
        '"data":{"conf_hold_status":"hold","wait_hook":"/hold-music"}}'
    )
    assert wire(cmd.conf_hold("unhold"))["data"] == {"conf_hold_status": "unhold"}


def test_conf_participant_action() -> None:
    assert wire(cmd.conf_participant_action("coach", tag="agent-42")) == example(
        '{"type":"command","command":"conf:participant-action",'
        '"data":{"action":"coach","tag":"agent-42"}}'
    )
    assert wire(cmd.conf_participant_action("hold", wait_hook="/w"))["data"] == {
        "action": "hold",
        "wait_hook": "/w",
    }


def test_listen_status() -> None:
    assert wire(cmd.listen_status("pause")) == example(
        '{"type":"command","command":"listen:status","data":{"listen_status":"pause"}}'
    )


def test_stream_status() -> None:
    assert wire(cmd.stream_status("resume")) == {
        "type": "command",
        "command": "stream:status",
        "data": {"stream_status": "resume"},
    }


def test_transcribe_status() -> None:
    assert wire(cmd.transcribe_status("resume")) == example(
        '{"type":"command","command":"transcribe:status","data":{"transcribe_status":"resume"}}'
    )


def test_record() -> None:
    command = cmd.record(
        "startCallRecording",
        siprec_server_url="sip:srs@recorder.example.com",
        recording_id="rec-123",
        headers={"X-Customer": "acme"},
    )
    assert wire(command) == example(
        '{"type":"command","command":"record","data":{"action":"startCallRecording",'
        '"siprecServerURL":"sip:srs@recorder.example.com","recordingID":"rec-123",'
        '"headers":{"X-Customer":"acme"}}}'
    )


def test_record_cloud_and_stop() -> None:
    assert wire(cmd.record("startCallRecording", type="cloud", silence=True))["data"] == {
        "action": "startCallRecording",
        "type": "cloud",
        "silence": True,
    }
    assert wire(cmd.record("stopCallRecording"))["data"] == {"action": "stopCallRecording"}


def test_whisper() -> None:
    command = cmd.whisper(
        [{"verb": "say", "text": "You have 5 minutes remaining."}], call_sid=B_LEG
    )
    assert wire(command) == example(
        '{"type":"command","command":"whisper","data":{"whisper":[{"verb":"say",'
        '"text":"You have 5 minutes remaining."}]},'
        '"callSid":"5d1f0d2e-8b36-4b2c-9c2e-3f1d7c1b9a10"}'
    )


def test_whisper_accepts_play_and_the_short_verb_form() -> None:
    command = cmd.whisper(
        [{"play": {"url": "https://x/beep.wav"}}, VerbObject(verb="play", url="u")]
    )
    assert wire(command)["data"]["whisper"][1] == {"verb": "play", "url": "u"}


def test_sip_request() -> None:
    command = cmd.sip_request("INFO", "application/json", '{"a":1}', {"X-Foo": "bar"})
    assert wire(command) == example(
        '{"type":"command","command":"sip:request","data":{"sip_request":{"method":"INFO",'
        '"content_type":"application/json","content":"{\\"a\\":1}","headers":{"X-Foo":"bar"}}}}'
    )


def test_sip_request_superset() -> None:
    data = wire(cmd.sip_request("notify", superset=True, call_sid=B_LEG))["data"]
    assert data == {"sip_request": {"method": "NOTIFY"}, "method": "NOTIFY"}


def test_dtmf() -> None:
    assert wire(cmd.dtmf("1", 250)) == example(
        '{"type":"command","command":"dtmf","data":{"dtmf":{"digit":"1","duration":250}}}'
    )
    assert wire(cmd.dtmf("#"))["data"] == {"dtmf": {"digit": "#"}}


def test_dtmf_superset() -> None:
    assert wire(cmd.dtmf("5", 100, superset=True))["data"] == {
        "dtmf": {"digit": "5", "duration": 100},
        "digit": "5",
        "duration": 100,
    }


def test_dub() -> None:
    command = cmd.dub("sayOnTrack", "callee-audio", say="Hola", call_sid=B_LEG)
    assert wire(command) == example(
        '{"type":"command","command":"dub","data":{"action":"sayOnTrack","track":"callee-audio",'
        '"say":"Hola"},"callSid":"5d1f0d2e-8b36-4b2c-9c2e-3f1d7c1b9a10"}'
    )


def test_dub_options() -> None:
    command = cmd.dub("playOnTrack", "bg", play="https://x/music.mp3", loop=True, gain="-6 dB")
    assert wire(command)["data"] == {
        "action": "playOnTrack",
        "track": "bg",
        "play": "https://x/music.mp3",
        "loop": True,
        "gain": "-6 dB",
    }


def test_boost_audio_signal() -> None:
    assert wire(cmd.boost_audio_signal("-6 dB")) == example(
        '{"type":"command","command":"boostAudioSignal","data":"-6 dB"}'
    )
    assert wire(cmd.boost_audio_signal(3, call_sid=B_LEG))["data"] == 3
    assert wire(cmd.boost_audio_signal("+3dB"))["data"] == "+3dB"


def test_boost_audio_signal_zero_is_sent_as_a_string() -> None:
    # 0 is falsy in JavaScript: jambonz would reject it as "data property not supplied".
    assert wire(cmd.boost_audio_signal(0))["data"] == "0 dB"


def test_media_path() -> None:
    assert wire(cmd.media_path("partial-media")) == example(
        '{"type":"command","command":"media:path","data":"partial-media"}'
    )


def test_config() -> None:
    assert wire(cmd.config(notify_events=True)) == example(
        '{"type":"command","command":"config","data":{"notifyEvents":true}}'
    )


def test_config_names_and_mapping_form() -> None:
    command = cmd.config(
        {"bargeIn": {"enable": True}, "tts_stream": VerbObject(enable=True)},
        sip_request_within_dialog_hook="/info",
        boost_audio_signal=-3,
    )
    assert wire(command)["data"] == {
        "bargeIn": {"enable": True},
        "ttsStream": {"enable": True},
        "sipRequestWithinDialogHook": "/info",
        "boostAudioSignal": -3,
    }


def test_dial() -> None:
    command = cmd.dial(
        {"type": "phone", "number": "+15085551212"}, from_="+15083084809", call_hook="/outdial"
    )
    assert wire(command) == example(
        '{"type":"command","command":"dial","data":{"from":"+15083084809",'
        '"to":{"type":"phone","number":"+15085551212"},"call_hook":"/outdial"}}'
    )


def test_dial_all_options() -> None:
    command = cmd.dial(
        {"type": "sip", "sipUri": "sip:bob@example.com"},
        from_="alice",
        application_sid="app-1",
        call_status_hook="/status",
        tag={"ticket": 7},
        timeout=30,
        amd={"actionHook": "/amd"},
        headers={"X-Foo": "1"},
        extra={"caller_name": "Alice"},
    )
    assert wire(command)["data"] == {
        "from": "alice",
        "to": {"type": "sip", "sipUri": "sip:bob@example.com"},
        "application_sid": "app-1",
        "call_status_hook": "/status",
        "tag": {"ticket": 7},
        "timeout": 30,
        "amd": {"actionHook": "/amd"},
        "headers": {"X-Foo": "1"},
        "caller_name": "Alice",
    }


# --------------------------------------------------------------------------- §4.4 llm


def test_llm_tool_output() -> None:
    command = cmd.llm_tool_output("call_3fKq9", {"...vendor specific...": True})
    assert wire(command) == example(
        '{"type":"command","command":"llm:tool-output","tool_call_id":"call_3fKq9",'
        '"data":{ "...vendor specific...": true }}'
    )


def test_tool_result_openai() -> None:
    assert wire(cmd.tool_result("openai", "call_abc", "22C")) == example(
        '{"type":"command","command":"llm:tool-output","tool_call_id":"call_abc",'
        '"data":{"type":"conversation.item.create","item":{"type":"function_call_output",'
        '"call_id":"call_abc","output":"22C"}}}'
    )
    data = wire(cmd.tool_result("microsoft", "c1", {"temp": 22}))["data"]
    assert data["item"]["output"] == '{"temp":22}'


def test_tool_result_ultravox() -> None:
    assert wire(cmd.tool_result("ultravox", "inv-1", "done"))["data"] == {
        "type": "client_tool_result",
        "invocation_id": "inv-1",
        "result": "done",
    }


def test_tool_result_elevenlabs() -> None:
    assert wire(cmd.tool_result("elevenlabs", "t1", {"ok": 1}, is_error=True))["data"] == {
        "data": {
            "type": "client_tool_result",
            "tool_call_id": "t1",
            "result": {"ok": 1},
            "is_error": True,
        }
    }


@pytest.mark.parametrize("vendor", ["deepgram", "voiceagent"])
def test_tool_result_deepgram(vendor: Any) -> None:
    assert wire(cmd.tool_result(vendor, "f1", "sunny", name="get_weather"))["data"] == {
        "data": {
            "type": "FunctionCallResponse",
            "id": "f1",
            "name": "get_weather",
            "content": "sunny",
        }
    }


def test_tool_result_google() -> None:
    assert wire(cmd.tool_result("google", "fc-1", {"temp": 22}))["data"] == {
        "toolResponse": {
            "functionResponses": [{"id": "fc-1", "response": {"output": {"temp": 22}}}]
        }
    }
    error = wire(cmd.tool_result("google", "fc-1", "boom", is_error=True))["data"]
    assert error["toolResponse"]["functionResponses"][0]["response"] == {"error": "boom"}


def test_tool_result_agent_v10() -> None:
    assert wire(cmd.tool_result("agent", "t", {"x": 1}))["data"] == {"result": {"x": 1}}


def test_google_tool_results() -> None:
    command = cmd.google_tool_results(
        {"fc-1": "a", "fc-2": {"b": 2}}, tool_call_id="function_call_id"
    )
    assert wire(command) == {
        "type": "command",
        "command": "llm:tool-output",
        "tool_call_id": "function_call_id",
        "data": {
            "toolResponse": {
                "functionResponses": [
                    {"id": "fc-1", "response": {"output": "a"}},
                    {"id": "fc-2", "response": {"output": {"b": 2}}},
                ]
            }
        },
    }
    assert "tool_call_id" not in wire(cmd.google_tool_results([("x", 1)]))


def test_llm_update() -> None:
    data = {"type": "session.update", "session": {"instructions": "Be brief."}}
    assert wire(cmd.llm_update(data)) == {"type": "command", "command": "llm:update", "data": data}


# --------------------------------------------------------------------------- §5 tts


def test_tts_tokens() -> None:
    assert wire(cmd.tts_tokens(17, "The weather in Boston is ")) == example(
        '{"type":"command","command":"tts:tokens",'
        '"data":{"id":17,"tokens":"The weather in Boston is "}}'
    )
    assert wire(cmd.tts_tokens("a", "x"))["data"] == {"id": "a", "tokens": "x"}


def test_tts_flush_and_clear() -> None:
    assert wire(cmd.tts_flush()) == example('{"type":"command","command":"tts:flush"}')
    assert wire(cmd.tts_clear()) == example('{"type":"command","command":"tts:clear"}')
    assert cmd.tts_flush().data is ABSENT


def test_all_23_sub_types_have_a_builder() -> None:
    built = {
        cmd.redirect([{"verb": "hangup"}]).command,
        cmd.hangup().command,
        cmd.config(notify_events=True).command,
        cmd.dial({"type": "phone", "number": "1"}, from_="2", call_hook="/h").command,
        cmd.dub("removeTrack", "t").command,
        cmd.record("stopCallRecording").command,
        cmd.mute().command,
        cmd.conf_mute().command,
        cmd.conf_hold().command,
        cmd.conf_participant_action("kick").command,
        cmd.listen_status("pause").command,
        cmd.stream_status("pause").command,
        cmd.transcribe_status("pause").command,
        cmd.whisper([{"verb": "say", "text": "x"}]).command,
        cmd.sip_request("INFO").command,
        cmd.dtmf("1").command,
        cmd.boost_audio_signal(1).command,
        cmd.media_path("full-media").command,
        cmd.llm_tool_output("t", {}).command,
        cmd.llm_update({"type": "x"}).command,
        cmd.tts_tokens(1, "x").command,
        cmd.tts_flush().command,
        cmd.tts_clear().command,
    }
    assert len(built) == 23
    assert not hasattr(cmd, "tag")


# --------------------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: cmd.mute("off"), "status must be one of"),  # type: ignore[arg-type]
        (lambda: cmd.conf_mute("hold"), "status must be one of"),  # type: ignore[arg-type]
        (lambda: cmd.conf_hold("mute"), "status must be one of"),  # type: ignore[arg-type]
        (lambda: cmd.conf_participant_action("dance"), "action must be one of"),  # type: ignore[arg-type]
        (lambda: cmd.conf_participant_action("tag"), "needs tag"),
        (lambda: cmd.listen_status("stop"), "status must be one of"),  # type: ignore[arg-type]
        (lambda: cmd.stream_status("stop"), "status must be one of"),  # type: ignore[arg-type]
        (lambda: cmd.transcribe_status("stop"), "status must be one of"),  # type: ignore[arg-type]
        (lambda: cmd.media_path("none"), "path must be one of"),  # type: ignore[arg-type]
        (cmd.redirect_to_hook, "needs call_hook"),
        (lambda: cmd.redirect_to_hook(""), "non-empty path"),
        (lambda: cmd.redirect_to_hook({"method": "GET"}), "mapping with a 'url'"),
        (cmd.redirect_legs, "needs parent_call"),
        (lambda: cmd.redirect(3), "iterable of verbs"),  # type: ignore[arg-type]
        (lambda: cmd.redirect([{"verb": "say"}, "hangup"]), "verb #1"),
        (cmd.config, "at least one property"),
        (lambda: cmd.config(notify_everything=True), "no property 'notifyEverything'"),
        (lambda: cmd.dial({"number": "1"}, from_="2", call_hook="/h"), "to\\['type'\\]"),
        (lambda: cmd.dial({"type": "phone"}, from_="", call_hook="/h"), "from_"),
        (lambda: cmd.dial({"type": "phone"}, from_="1"), "call_hook or application_sid"),
        (lambda: cmd.dial({"type": "phone"}, from_="1", call_hook="/h", timeout=0), "timeout"),
        (lambda: cmd.dub("mix", "t"), "action must be one of"),  # type: ignore[arg-type]
        (lambda: cmd.dub("addTrack", ""), "track"),
        (lambda: cmd.dub("playOnTrack", "t"), "needs play"),
        (lambda: cmd.dub("sayOnTrack", "t"), "needs say"),
        (lambda: cmd.dub("addTrack", "t", gain="loud"), "gain"),
        (lambda: cmd.record("start"), "action must be one of"),  # type: ignore[arg-type]
        (lambda: cmd.record("startCallRecording"), "siprec_server_url"),
        (lambda: cmd.record("stopCallRecording", type="tape"), "type must be one of"),  # type: ignore[arg-type]
        (lambda: cmd.conf_hold(wait_hook=""), "wait_hook"),
        (lambda: cmd.whisper([]), "at least one"),
        (lambda: cmd.whisper([{"verb": "gather"}]), "only say and play"),
        (lambda: cmd.sip_request("IN FO"), "SIP method"),
        (lambda: cmd.dtmf("12"), "digit"),
        (lambda: cmd.dtmf("x"), "digit"),
        (lambda: cmd.dtmf("1", duration=-5), "duration"),
        (lambda: cmd.boost_audio_signal("loud"), "dB"),
        (lambda: cmd.boost_audio_signal(True), "dB"),
        (lambda: cmd.llm_tool_output("", {}), "tool_call_id"),
        (lambda: cmd.llm_update({}), "non-empty"),
        (lambda: cmd.tool_result("anthropic", "t", 1), "vendor must be one of"),  # type: ignore[arg-type]
        (lambda: cmd.tool_result("deepgram", "t", 1), "name="),
        (lambda: cmd.google_tool_results({}), "at least one"),
        (lambda: cmd.google_tool_results([("", 1)]), "non-empty strings"),
        (lambda: cmd.tts_tokens(True, "x"), "id must be"),
        (lambda: cmd.tts_tokens("", "x"), "id must be"),
        (lambda: cmd.tts_tokens(1, ""), "non-empty string"),
        (lambda: cmd.tts_tokens(1, "x" * 1001), "1001 characters"),
    ],
)
def test_bad_values_raise_value_error(build: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


def test_tts_tokens_at_the_high_water_mark_is_accepted() -> None:
    assert len(cmd.tts_tokens(1, "x" * 1000).data["tokens"]) == 1000


def test_outbound_messages_share_the_inbound_interface() -> None:
    assert cmd.mute(call_sid=B_LEG).sid == B_LEG
    assert cmd.hangup().sid is None
    assert not cmd.hangup().should_ack
    ack = decode('{"type":"ack","msgid":"m"}')
    assert ack.sid is None
    assert not ack.should_ack
