"""jbtrio.rest's typed requests and responses, and its retry rules, without a network.

Request bodies are compared with the JSON jambonz reads (api-server's checks and the
feature server's ``rest:dial`` / ``updateCall``); bad requests must fail at construction.
"""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

import pytest

from jbtrio import rest
from jbtrio.rest._codec import structure_response, unstructure_request
from jbtrio.rest._config import Outcome, may_retry, parse_retry_after, retry_delay
from jbtrio.verbs import Dub, Hook, Play, Say, Target


def body(request: Any) -> dict[str, Any]:
    return unstructure_request(request)


def _any(value: object) -> Any:
    """A value the type checker lets through, to test the run-time checks."""
    return value


PHONE = Target(type="phone", number="+15085551213")


# --------------------------------------------------------------------------- CreateCall


def test_create_call_minimal_with_application() -> None:
    request = rest.CreateCall(from_="+15085551212", to=PHONE, application_sid="app-1")
    assert body(request) == {
        "from": "+15085551212",
        "to": {"type": "phone", "number": "+15085551213"},
        "application_sid": "app-1",
    }


@pytest.mark.parametrize(
    ("target", "wire"),
    [
        (Target(type="user", name="bob@example.com"), {"type": "user", "name": "bob@example.com"}),
        (
            Target(type="teams", number="+15551230000", tenant="contoso.com"),
            {"type": "teams", "number": "+15551230000", "tenant": "contoso.com"},
        ),
        ({"type": "sip", "sipUri": "sip:a@b"}, {"type": "sip", "sipUri": "sip:a@b"}),
        (
            Target(type="phone", number="+1555", trunk="carrier-a", override_to="+1666"),
            {"type": "phone", "number": "+1555", "trunk": "carrier-a", "overrideTo": "+1666"},
        ),
    ],
)
def test_create_call_targets(target: Any, wire: dict[str, Any]) -> None:
    request = rest.CreateCall(from_="+1", to=target, call_hook="wss://app.example.com/out")
    assert body(request)["to"] == wire


def test_create_call_hooks_and_extra() -> None:
    request = rest.CreateCall(
        from_="+1",
        to=PHONE,
        call_hook=Hook(url="wss://app.example.com/out", username="u", password="p"),
        sip_request_within_dialog_hook="/sip-info",
        refer_hook="https://app.example.com/refer",
        extra={"answerOnBridge": True},
    )
    assert body(request) == {
        "from": "+1",
        "to": {"type": "phone", "number": "+15085551213"},
        "call_hook": {"url": "wss://app.example.com/out", "username": "u", "password": "p"},
        "sipRequestWithinDialogHook": "/sip-info",
        "referHook": "https://app.example.com/refer",
        "answerOnBridge": True,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "call_hook .* or application_sid"),
        ({"call_hook": "/relative"}, "call_hook must be an absolute"),
        ({"call_hook": "wss://a/b", "call_status_hook": "/status"}, "call_status_hook must be"),
        ({"call_hook": ""}, "must not be empty"),
        ({"call_hook": {"method": "POST"}}, "needs a non-empty 'url'"),
        ({"application_sid": "a", "timeout": 0}, "timeout must be a positive"),
        ({"application_sid": "a", "time_limit": True}, "time_limit must be a positive"),
        ({"application_sid": "a", "extra": {"from": "x"}}, "repeats typed field"),
        ({"application_sid": "a", "to": Target(type="phone")}, "'phone' target needs 'number'"),
        ({"application_sid": "a", "to": {"type": "fax"}}, "to.type must be one of"),
        ({"application_sid": "a", "to": "+1555"}, "to must be a builder or a mapping"),
        ({"application_sid": "a", "from_": ""}, "from_ must be a non-empty"),
        # checked as the feature server checks its rest:dial verb
        (
            {"application_sid": "a", "amd": {"actionHook": "/a", "thresholdWordCount": "x"}},
            "thresholdWordCount",
        ),
        ({"application_sid": "a", "timeout": "30"}, "timeout must be a positive"),
    ],
)
def test_create_call_refuses_what_jambonz_would(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"from_": "+1", "to": PHONE, **kwargs}
    with pytest.raises(ValueError, match=message):
        rest.CreateCall(**arguments)


# --------------------------------------------------------------------------- UpdateCall


@pytest.mark.parametrize(
    ("update", "wire"),
    [
        (rest.UpdateCall(call_status="completed"), {"call_status": "completed"}),
        (rest.UpdateCall(call_status="no-answer"), {"call_status": "no-answer"}),
        (
            rest.UpdateCall(call_hook="wss://a/b", child_call_hook=Hook(url="wss://a/c")),
            {"call_hook": "wss://a/b", "child_call_hook": {"url": "wss://a/c"}},
        ),
        (
            rest.UpdateCall(call_hook="https://a/b", call_status_hook="https://a/s"),
            {"call_hook": "https://a/b", "call_status_hook": "https://a/s"},
        ),
        (rest.UpdateCall(conf_mute_status="unmute"), {"conf_mute_status": "unmute"}),
        (rest.UpdateCall(conf_hold_status="unhold"), {"conf_hold_status": "unhold"}),
        (rest.UpdateCall(listen_status="silence"), {"listen_status": "silence"}),
        (rest.UpdateCall(transcribe_status="resume"), {"transcribe_status": "resume"}),
        (
            rest.UpdateCall(whisper=Play(url="https://x/a.wav"), mute_status="mute"),
            {"mute_status": "mute", "whisper": [{"verb": "play", "url": "https://x/a.wav"}]},
        ),
        (
            rest.UpdateCall(whisper={"verb": "say", "text": "hi"}),
            {"whisper": [{"verb": "say", "text": "hi"}]},
        ),
        (
            rest.UpdateCall(
                sip_request=rest.SipRequest(
                    method="NOTIFY",
                    content_type="text/plain",
                    content="x",
                    headers={"Event": "talk"},
                )
            ),
            {
                "sip_request": {
                    "method": "NOTIFY",
                    "content_type": "text/plain",
                    "content": "x",
                    "headers": {"Event": "talk"},
                }
            },
        ),
        (
            rest.UpdateCall(
                record=rest.RecordControl(
                    action="startCallRecording",
                    siprec_server_url="sip:srs@example.com",
                    recording_id="rec-1",
                )
            ),
            {
                "record": {
                    "action": "startCallRecording",
                    "recordingID": "rec-1",
                    "siprecServerURL": "sip:srs@example.com",
                }
            },
        ),
        (
            rest.UpdateCall(record=rest.RecordControl(action="pauseCallRecording", type="cloud")),
            {"record": {"action": "pauseCallRecording", "type": "cloud"}},
        ),
        (
            rest.UpdateCall(dtmf=rest.DtmfTone(digit="5", duration=300)),
            {"dtmf": {"digit": "5", "duration": 300}},
        ),
        (
            rest.UpdateCall(
                conference_participant_action=rest.ParticipantAction(action="coach", tag="agent")
            ),
            {"conferenceParticipantAction": {"action": "coach", "tag": "agent"}},
        ),
        (
            rest.UpdateCall(dub=Dub(action="playOnTrack", track="music", play="https://x/a.mp3")),
            {"dub": {"action": "playOnTrack", "track": "music", "play": "https://x/a.mp3"}},
        ),
        (rest.UpdateCall(tag={"a": 1}), {"tag": {"a": 1}}),
        (rest.UpdateCall(boost_audio_signal="-6 dB"), {"boostAudioSignal": "-6 dB"}),
        (rest.UpdateCall(media_path="no-media"), {"media_path": "no-media"}),
        (
            rest.UpdateCall(noise_isolation_status="enable", noise_isolation_level=60),
            {"noise_isolation_status": "enable", "noise_isolation_level": 60},
        ),
        (
            rest.UpdateCall(llm_status="move-to-conference", conference="room-1"),
            {"llm_status": "move-to-conference", "conference": "room-1"},
        ),
        (
            rest.UpdateCall(room_say=Say(text="Closing in 5 minutes")),
            {"room_say": {"text": "Closing in 5 minutes"}},
        ),
        (
            rest.UpdateCall(room_play=rest.RoomPlay(url="https://x/chime.wav", replace=True)),
            {"room_play": {"url": "https://x/chime.wav", "replace": True}},
        ),
        (
            rest.UpdateCall(transfer={"verb": "transfer", "target": "+1555"}),
            {"transfer": {"target": "+1555"}},
        ),
        (
            rest.UpdateCall(
                agent_update=rest.AgentUpdate(
                    type="generate_reply", user_input="hello", interrupt=True
                )
            ),
            {"agent_update": {"type": "generate_reply", "user_input": "hello", "interrupt": True}},
        ),
        (rest.UpdateCall(extra={"future_status": "on"}), {"future_status": "on"}),
    ],
)
def test_update_call_wire(update: rest.UpdateCall, wire: dict[str, Any]) -> None:
    assert body(update) == wire


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs a change"),
        ({"mute_status": "mute", "tag": {"a": 1}}, "one change per update; got mute_status, tag"),
        ({"call_hook": "wss://a/b", "call_status": "completed"}, "one change per update"),
        ({"whisper": Say(text="x"), "dtmf": rest.DtmfTone(digit="1"), "tag": {"a": 1}}, "one"),
        ({"call_status_hook": "wss://a/s"}, "call_status_hook needs call_hook"),
        ({"wait_hook": "/w"}, "wait_hook needs conf_hold_status"),
        ({"conference": "r"}, "conference needs llm_status"),
        ({"noise_isolation_level": 3}, "needs noise_isolation_status"),
        ({"mute_status": "off"}, "mute_status must be one of 'mute', 'unmute'"),
        ({"call_status": "busy"}, "call_status must be one of"),
        ({"listen_status": "stop"}, "listen_status must be one of"),
        ({"whisper": [Say(text="x"), {"verb": "hangup"}]}, "whisper verb #1 is 'hangup'"),
        ({"whisper": Say(text="x"), "tag": {"a": 1}}, "would drop a whisper sent with tag"),
        ({"whisper": Say(text="x"), "call_status": "completed"}, "would drop a whisper"),
        ({"whisper": []}, "at least one say or play"),
        ({"tag": {}}, "tag must not be empty"),
        ({"sip_request": {"method": "INFO"}}, "sip_request must be a SipRequest"),
        ({"extra": {"mute_status": "mute"}}, "repeats typed field"),
    ],
)
def test_update_call_refuses_what_jambonz_would_drop(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rest.UpdateCall(**kwargs)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: rest.SipRequest(method="IN FO", content_type="t", content=""), "SIP method"),
        (lambda: rest.SipRequest(method="INFO", content_type="", content=""), "content_type"),
        (lambda: rest.RecordControl(action="startCallRecording"), "siprec_server_url"),
        (lambda: rest.RecordControl(action=_any("rewind"), type="cloud"), "action must be"),
        (lambda: rest.ParticipantAction(action="tag"), "needs tag"),
        (lambda: rest.ParticipantAction(action=_any("kick")), "action must be one of"),
        (lambda: rest.DtmfTone(digit="12"), "digit must be one of"),
        (lambda: rest.DtmfTone(digit="1", duration=0), "duration must be"),
        (lambda: rest.RoomPlay(url=""), "url must be"),
        (lambda: rest.AgentUpdate(type=_any("reboot")), "type must be one of"),
        (lambda: rest.SendMessage(from_="+1", to="+2"), "text or media"),
        (lambda: rest.SendMessage(from_="", to="+2", text="x"), "from_"),
        (lambda: rest.ConferenceListen(url="https://x"), "ws:// or wss://"),
    ],
)
def test_nested_requests_check_their_fields(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_send_message_and_conference_listen_wire() -> None:
    message = rest.SendMessage(from_="+1", to="+2", text="hi", provider="carrier-a")
    assert body(message) == {"from": "+1", "to": "+2", "text": "hi", "provider": "carrier-a"}
    assert body(rest.ConferenceListen(url="wss://x/fork")) == {"url": "wss://x/fork"}


# --------------------------------------------------------------------------- responses


def test_active_call_keeps_unknown_keys_and_types_the_rest() -> None:
    call = structure_response(
        {
            "call_sid": "c1",
            "from": "+1",
            "duration": 12,
            "sip_status": 200,
            "customer_data": {"a": 1},
            "caller_name": None,
        },
        rest.ActiveCall,
    )
    assert (call.call_sid, call.from_, call.duration, call.sip_status) == ("c1", "+1", 12, 200)
    assert call.caller_name is None
    assert call.extra == {"customer_data": {"a": 1}}


@pytest.mark.parametrize(
    ("data", "cls", "message"),
    [
        ({"from": "+1"}, rest.ActiveCall, r"\$\.call_sid"),
        ({"call_sid": 5}, rest.ActiveCall, r"expected str @ \$\.call_sid"),
        ({"call_sid": "c", "sip_status": True}, rest.ActiveCall, r"\$\.sip_status"),
        ({"call_sid": "c", "sip_status": "200 OK"}, rest.ActiveCall, r"\$\.sip_status"),
        ({"name": "q", "length": "many"}, rest.QueueInfo, r"\$\.length"),
        (["c1"], rest.CreatedCall, "expected an object, got list"),
    ],
)
def test_responses_are_structured_strictly(data: Any, cls: type, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        structure_response(data, cls)


def test_queue_length_from_redis_strings() -> None:
    assert structure_response({"name": "q", "length": "12"}, rest.QueueInfo).length == 12
    assert structure_response({"name": "q", "length": 0}, rest.QueueInfo).length == 0


# --------------------------------------------------------------------------- retries


@pytest.mark.parametrize(
    ("retry", "outcome", "allowed"),
    [
        (rest.Retry.NEVER, Outcome.NOT_SENT, False),
        (rest.Retry.NEVER, Outcome.REFUSED, False),
        (rest.Retry.IF_NOT_PROCESSED, Outcome.NOT_SENT, True),
        (rest.Retry.IF_NOT_PROCESSED, Outcome.REFUSED, True),
        (rest.Retry.IF_NOT_PROCESSED, Outcome.AMBIGUOUS, False),
        (rest.Retry.SAFE, Outcome.AMBIGUOUS, True),
        (rest.Retry.SAFE, Outcome.FINAL, False),
    ],
)
def test_what_may_be_retried(retry: rest.Retry, outcome: Outcome, allowed: bool) -> None:
    assert may_retry(retry, outcome) is allowed


def test_backoff_doubles_up_to_the_cap_and_stops_after_the_attempts() -> None:
    policy = rest.RetryPolicy(attempts=6, backoff=0.5, max_backoff=3.0, jitter=False)
    assert [retry_delay(policy, n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, None]


def test_jitter_draws_from_the_upper_half() -> None:
    policy = rest.RetryPolicy(attempts=10, backoff=1.0, max_backoff=100.0)
    rng = random.Random(7)
    for n in range(1, 10):
        delay = retry_delay(policy, n, rng=rng)
        assert delay is not None
        full = min(100.0, 2.0 ** (n - 1))
        assert full / 2 <= delay <= full


def test_retry_after_replaces_the_delay_unless_too_long() -> None:
    policy = rest.RetryPolicy(max_backoff=4.0)
    assert retry_delay(policy, 1, retry_after=2.5) == 2.5
    assert retry_delay(policy, 1, retry_after=30.0) is None
    assert retry_delay(rest.RetryPolicy(attempts=1), 1, retry_after=0.0) is None
    assert [parse_retry_after(v) for v in ("3", " 1.5 ", "-1", "Wed, 21 Oct 2026", None)] == [
        3.0,
        1.5,
        None,
        None,
        None,
    ]


@pytest.mark.parametrize(
    "kwargs", [{"timeout": 0}, {"max_response_bytes": 0}, {"connect_timeout": -1}]
)
def test_config_bounds_must_be_positive(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be >"):
        rest.RestConfig(**kwargs)


# --------------------------------------------------------------------------- base URLs


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("https://jambonz.example.com", "https://jambonz.example.com/v1"),
        ("https://jambonz.example.com/", "https://jambonz.example.com/v1"),
        ("http://10.0.0.5/v1", "http://10.0.0.5/v1"),
        ("http://10.0.0.5:3000/v1/", "http://10.0.0.5:3000/v1"),
        ("https://example.com/api/v1", "https://example.com/api/v1"),
        ("https://example.com/api", "https://example.com/api/v1"),
    ],
)
def test_base_url_gets_v1(given: str, root: str) -> None:
    assert rest.normalize_base_url(given) == root


@pytest.mark.parametrize(
    "bad", ["", "jambonz.example.com", "ftp://x", "https://x/v1?a=1", "http://"]
)
def test_bad_base_urls(bad: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        rest.normalize_base_url(bad)


async def test_for_call_uses_the_call_info_or_the_default() -> None:
    client = rest.Client.for_call("http://10.0.0.5/v1", "acct-1", "key")
    assert (client.base_url, client.account_sid) == ("http://10.0.0.5/v1", "acct-1")
    await client.aclose()
    client = rest.Client.for_call(None, "acct-1", "key", default_base_url="https://j.example")
    assert client.base_url == "https://j.example/v1"
    await client.aclose()
    with pytest.raises(ValueError, match="no api_base_url"):
        rest.Client.for_call(None, "acct-1", "key")
    with pytest.raises(ValueError, match="no account_sid"):
        rest.Client.for_call("http://10.0.0.5/v1", None, "key")
    with pytest.raises(ValueError, match="api_key"):
        rest.Client("http://10.0.0.5/v1", "acct-1", "")


async def test_client_pool_shares_one_client_per_api_and_account() -> None:
    pool = rest.ClientPool("key", base_url="https://j.example", max_clients=2)
    first = pool.get("http://10.0.0.5/v1", "acct-1")
    assert pool.get("http://10.0.0.5/v1/", "acct-1") is first
    fallback = pool.get(None, "acct-1")
    assert fallback.base_url == "https://j.example/v1"
    assert len(pool) == 2
    with pytest.raises(ValueError, match="more than 2"):
        pool.get("http://10.0.0.6/v1", "acct-1")
    await pool.aclose()
    assert first.closed and fallback.closed
    with pytest.raises(RuntimeError, match="closed"):
        pool.get(None, "acct-1")


async def test_client_pool_sends_the_key_only_to_allowed_hosts() -> None:
    pool = rest.ClientPool("key", allowed_hosts=["API.jambonz.example"])
    assert pool.get("https://api.jambonz.example/v1", "a").base_url.startswith("https://api")
    with pytest.raises(ValueError, match=r"'evil\.example' is not in allowed_hosts"):
        pool.get("https://evil.example/v1", "a")
    with pytest.raises(ValueError, match="no REST base URL is configured"):
        pool.get(None, "a")
    await pool.aclose()


def test_without_httpx_the_import_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['httpx'] = None\n"
        "try:\n    import jbtrio.rest\n"
        "except ImportError as exc:\n    print(exc)\n"
        "import jbtrio, jbtrio.verbs\n"  # the rest of jbtrio does not need it
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert 'pip install "jbtrio[rest]"' in done.stdout
