"""jbtrio.rest.Client end to end against a local server playing jambonz's REST API.

The server (tests/_rest_server.py) records every request, so these tests check the exact
method, path, headers and JSON body jambonz receives, and how the client handles jambonz's
answers: success bodies, ``{"msg": ...}`` errors, 5xx with and without retries, hangs (under
``MockClock``, moved by hand once the server holds the request), oversized bodies.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.testing
from _rest_server import FakeJambonzRest, Reply

from jbtrio import rest
from jbtrio.verbs import Amd, Hook, Play, Say, Target

FAST_RETRY = rest.RetryPolicy(attempts=3, backoff=0.0, jitter=False)


@pytest.fixture
async def api(nursery: trio.Nursery) -> FakeJambonzRest:
    server = FakeJambonzRest()
    await nursery.start(server.serve)
    return server


@pytest.fixture
async def client(api: FakeJambonzRest) -> AsyncIterator[rest.Client]:
    config = rest.RestConfig(retry=FAST_RETRY)
    async with rest.Client(api.base_url, api.account_sid, api.api_key, config=config) as c:
        yield c


CALLS = "/v1/Accounts/acct-1/Calls"


async def test_create_call_sends_exactly_what_jambonz_expects(
    api: FakeJambonzRest, client: rest.Client
) -> None:
    created = await client.create_call(
        rest.CreateCall(
            from_="+15085551212",
            to=Target(type="phone", number="+15085551213"),
            call_hook="wss://app.example.com/outbound",
            tag={"campaign": "spring", "attempt": 1},
            timeout=30,
            time_limit=600,
            amd=Amd(action_hook="/amd", threshold_word_count=9),
            headers={"X-Campaign": "spring"},
            speech_synthesis_vendor="google",
            speech_synthesis_language="en-US",
            speech_synthesis_voice="en-US-Wavenet-C",
            speech_recognizer_vendor="google",
            speech_recognizer_language="en-US",
        )
    )
    [req] = api.requests
    assert (req.method, req.path) == ("POST", CALLS)
    assert req.headers["authorization"] == "Bearer secret-key"
    assert req.headers["content-type"] == "application/json"
    assert req.json == {
        "from": "+15085551212",
        "to": {"type": "phone", "number": "+15085551213"},
        "call_hook": "wss://app.example.com/outbound",
        "tag": {"campaign": "spring", "attempt": 1},
        "timeout": 30,
        "timeLimit": 600,
        "amd": {"actionHook": "/amd", "thresholdWordCount": 9},
        "headers": {"X-Campaign": "spring"},
        "speech_synthesis_vendor": "google",
        "speech_synthesis_language": "en-US",
        "speech_synthesis_voice": "en-US-Wavenet-C",
        "speech_recognizer_vendor": "google",
        "speech_recognizer_language": "en-US",
    }
    assert created.sid in api.calls
    assert created.call_id == f"{created.sid}@sip"


async def test_create_call_with_sip_target_and_hook_objects(
    api: FakeJambonzRest, client: rest.Client
) -> None:
    await client.create_call(
        rest.CreateCall(
            from_="alice",
            to=Target(type="sip", sip_uri="sip:bob@example.com", headers={"X-A": "1"}),
            call_hook=Hook(url="https://app.example.com/hook", method="POST"),
            call_status_hook="https://app.example.com/status",
            application_sid="app-1",
            caller_name="Alice",
            from_host="sip.example.com",
            dual_streams=True,
        )
    )
    assert api.requests[0].json == {
        "from": "alice",
        "to": {"type": "sip", "sipUri": "sip:bob@example.com", "headers": {"X-A": "1"}},
        "call_hook": {"url": "https://app.example.com/hook", "method": "POST"},
        "application_sid": "app-1",
        "call_status_hook": "https://app.example.com/status",
        "callerName": "Alice",
        "fromHost": "sip.example.com",
        "dual_streams": True,
    }


async def test_update_call_sends_one_change_and_returns_none(
    api: FakeJambonzRest, client: rest.Client
) -> None:
    api.add_call("call-1")
    result = await client.update_call(
        "call-1", rest.UpdateCall(call_hook="wss://app.example.com/transfer")
    )
    assert result is None
    await client.update_call("call-1", rest.UpdateCall(mute_status="mute"))
    await client.update_call("call-1", rest.UpdateCall(whisper=Say(text="Your next caller is VIP")))
    await client.update_call(
        "call-1", rest.UpdateCall(conf_hold_status="hold", wait_hook="/hold-music")
    )
    await client.update_call("call-1", rest.UpdateCall(listen_status="pause"))
    await client.update_call("call-1", rest.UpdateCall(tag={"stage": "billing"}))
    bodies = [(r.method, r.path, r.json) for r in api.requests]
    assert bodies == [
        ("PUT", f"{CALLS}/call-1", {"call_hook": "wss://app.example.com/transfer"}),
        ("PUT", f"{CALLS}/call-1", {"mute_status": "mute"}),
        (
            "PUT",
            f"{CALLS}/call-1",
            {"whisper": [{"verb": "say", "text": "Your next caller is VIP"}]},
        ),
        ("PUT", f"{CALLS}/call-1", {"conf_hold_status": "hold", "wait_hook": "/hold-music"}),
        ("PUT", f"{CALLS}/call-1", {"listen_status": "pause"}),
        ("PUT", f"{CALLS}/call-1", {"tag": {"stage": "billing"}}),
    ]
    assert api.calls["call-1"]["customer_data"] == {"stage": "billing"}


async def test_update_call_sip_request_returns_the_far_ends_answer(
    api: FakeJambonzRest, client: rest.Client
) -> None:
    api.add_call("call-1")
    answer = await client.update_call(
        "call-1",
        rest.UpdateCall(
            sip_request=rest.SipRequest(
                method="INFO", content_type="application/json", content='{"a":1}'
            )
        ),
    )
    assert answer == rest.SipResponse(status=200, reason="OK")
    assert api.requests[0].json == {
        "sip_request": {"method": "INFO", "content_type": "application/json", "content": '{"a":1}'}
    }


async def test_conveniences_hangup_redirect_mute_whisper(
    api: FakeJambonzRest, client: rest.Client
) -> None:
    api.add_call("call-1")
    await client.redirect("call-1", "wss://app.example.com/next")
    await client.mute("call-1", "unmute")
    await client.whisper("call-1", [Say(text="hi"), Play(url="https://x/beep.wav")])
    await client.hangup("call-1")
    assert [r.json for r in api.requests] == [
        {"call_hook": "wss://app.example.com/next"},
        {"mute_status": "unmute"},
        {"whisper": [{"verb": "say", "text": "hi"}, {"verb": "play", "url": "https://x/beep.wav"}]},
        {"call_status": "completed"},
    ]
    assert "call-1" not in api.calls


async def test_list_get_count_and_delete_calls(api: FakeJambonzRest, client: rest.Client) -> None:
    api.add_call("in-1", direction="inbound", custom="kept")
    api.add_call("out-1", direction="outbound", call_status="ringing", duration=None)
    calls = await client.list_calls()
    assert [c.call_sid for c in calls] == ["in-1", "out-1"]
    assert calls[0].from_ == "+15550001111"
    assert calls[0].sip_status == 200
    assert calls[0].service_url == "http://10.0.0.9:3000"
    assert calls[0].extra == {"custom": "kept"}

    outbound = await client.list_calls(
        direction="outbound", call_status="ringing", to="+15550002222"
    )
    assert [c.call_sid for c in outbound] == ["out-1"]
    assert api.requests[-1].query == {
        "direction": "outbound",
        "callStatus": "ringing",
        "to": "+15550002222",
    }

    call = await client.get_call("out-1")
    assert (call.call_sid, call.direction, call.call_status) == ("out-1", "outbound", "ringing")
    assert await client.count_calls() == rest.CallCount(inbound=1, outbound=1)

    await client.delete_call("out-1")
    assert (api.requests[-1].method, api.requests[-1].path) == ("DELETE", f"{CALLS}/out-1")
    assert list(api.calls) == ["in-1"]
    with pytest.raises(rest.RestError) as info:
        await client.get_call("out-1")
    assert (info.value.status, info.value.body, info.value.message) == (
        404,
        "Not Found",
        "Not Found",
    )


async def test_call_sids_are_one_path_segment(api: FakeJambonzRest, client: rest.Client) -> None:
    with pytest.raises(rest.RestError):
        await client.get_call("../../Applications")
    assert api.requests[0].path == f"{CALLS}/../../Applications"
    assert "%2F" in repr(client._call_path("a/b"))


async def test_4xx_carries_status_and_jambonzs_error_body(
    api: FakeJambonzRest, client: rest.Client
) -> None:
    api.script(
        "POST",
        "/Calls",
        Reply(400, json={"msg": "either application_sid or set of speech_synthesis_vendor, ..."}),
    )
    request = rest.CreateCall(
        from_="+1", to=Target(type="phone", number="+2"), call_hook="wss://a/b"
    )
    with pytest.raises(rest.RestError) as info:
        await client.create_call(request)
    error = info.value
    assert error.status == 400
    assert error.body == {"msg": "either application_sid or set of speech_synthesis_vendor, ..."}
    assert error.message.startswith("either application_sid")
    assert (error.method, error.path) == ("POST", "/Accounts/acct-1/Calls")
    assert "HTTP 400" in str(error)

    api.add_call("call-1")
    api.script("PUT", "/Calls/call-1", Reply(422, json={"msg": "call session is gone"}))
    with pytest.raises(rest.RestError) as info:
        await client.hangup("call-1")
    assert (info.value.status, info.value.message) == (422, "call session is gone")

    api.script(
        "POST",
        "/Calls",
        Reply(400, json={"errors": [{"msg": "Invalid value", "path": "to"}]}),
    )
    with pytest.raises(rest.RestError) as info:
        await client.create_call(request)
    assert info.value.message == "Invalid value"
    assert len(api.requests) == 3  # no 4xx was retried


async def test_wrong_api_key_is_401(api: FakeJambonzRest) -> None:
    async with rest.Client(api.base_url, api.account_sid, "wrong") as client:
        with pytest.raises(rest.RestError) as info:
            await client.list_calls()
    assert (info.value.status, info.value.message) == (401, "Unauthorized")


async def test_get_is_retried_after_5xx(api: FakeJambonzRest, client: rest.Client) -> None:
    api.add_call("call-1")
    api.script(
        "GET",
        "/Calls/call-1",
        Reply(500, json={"msg": "redis down"}),
        Reply(503, text="busy", headers={"Retry-After": "0"}),
    )
    call = await client.get_call("call-1")
    assert call.call_sid == "call-1"
    assert len(api.requests) == 3


async def test_get_gives_up_after_the_policys_attempts(
    api: FakeJambonzRest, client: rest.Client, caplog: pytest.LogCaptureFixture
) -> None:
    api.script("GET", "/Calls", *[Reply(502, text="Bad Gateway")] * 5)
    with caplog.at_level(logging.INFO, logger="jbtrio.rest"), pytest.raises(rest.RestError) as info:
        await client.list_calls()
    assert info.value.status == 502
    assert len(api.requests) == 3
    lines = [r.getMessage() for r in caplog.records]
    assert sum("retry" in line for line in lines) == 2
    assert "failed after 3 attempt(s): HTTP 502: Bad Gateway" in lines[-1]
    assert caplog.records[-1].levelno == logging.WARNING


async def test_put_is_not_retried_when_jambonz_may_have_acted(
    api: FakeJambonzRest, client: rest.Client
) -> None:
    api.add_call("call-1")
    api.script("PUT", "/Calls/call-1", Reply(500, json={"msg": "boom"}), Reply(504))
    with pytest.raises(rest.RestError) as info:
        await client.whisper("call-1", Say(text="once"))
    assert info.value.status == 500
    assert len(api.requests) == 1


async def test_put_is_retried_when_jambonz_refused_it(
    api: FakeJambonzRest, client: rest.Client
) -> None:
    api.add_call("call-1")
    api.script("PUT", "/Calls/call-1", Reply(503, text="try later", headers={"Retry-After": "0"}))
    api.script("PUT", "/Calls/call-1", Reply(429, text="slow down"))
    await client.mute("call-1")
    assert len(api.requests) == 3
    assert all(r.json == {"mute_status": "mute"} for r in api.requests)


async def test_post_creating_a_call_is_never_retried(
    api: FakeJambonzRest, client: rest.Client
) -> None:
    api.script("POST", "/Calls", Reply(503, text="busy", headers={"Retry-After": "0"}))
    with pytest.raises(rest.RestError) as info:
        await client.create_call(
            rest.CreateCall(from_="+1", to=Target(type="phone", number="+2"), call_hook="wss://a/b")
        )
    assert info.value.status == 503
    assert len(api.requests) == 1


async def test_retry_after_longer_than_max_backoff_is_not_waited_for(
    api: FakeJambonzRest, client: rest.Client
) -> None:
    api.script("GET", "/Conferences", Reply(503, text="busy", headers={"Retry-After": "120"}))
    with pytest.raises(rest.RestError) as info:
        await client.list_conferences()
    assert info.value.status == 503
    assert len(api.requests) == 1


async def test_delete_repeated_after_an_unknown_outcome_accepts_404(
    api: FakeJambonzRest, client: rest.Client
) -> None:
    api.add_call("call-1")
    # The first DELETE reaches jambonz and removes the record, but the answer is lost (504).
    api.calls.pop("call-1")
    api.script("DELETE", "/Calls/call-1", Reply(504, text="Gateway Timeout"))
    await client.delete_call("call-1")
    assert [r.method for r in api.requests] == ["DELETE", "DELETE"]
    with pytest.raises(rest.RestError) as info:  # a plain 404 is still an error
        await client.delete_call("call-1")
    assert info.value.status == 404


async def test_a_hanging_put_times_out_once(
    api: FakeJambonzRest, mock_clock: trio.testing.MockClock
) -> None:
    api.add_call("call-1")
    api.script("PUT", "/Calls/call-1", Reply(hang=True))
    config = rest.RestConfig(timeout=2.0, retry=FAST_RETRY)
    outcome: list[BaseException] = []

    async def update() -> None:
        try:
            await c.mute("call-1")
        except rest.RestError as exc:
            outcome.append(exc)

    async with (
        rest.Client(api.base_url, api.account_sid, api.api_key, config=config) as c,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(update)
        await api.wait_for_requests(1)
        mock_clock.jump(2.0)
    [error] = outcome
    assert isinstance(error, rest.RestTimeout)
    assert error.status is None
    assert len(api.requests) == 1


async def test_a_hanging_get_is_retried_until_answered(
    api: FakeJambonzRest, mock_clock: trio.testing.MockClock
) -> None:
    api.add_call("call-1")
    api.script("GET", "/Calls/call-1", Reply(hang=True), Reply(hang=True))
    config = rest.RestConfig(timeout=2.0, retry=FAST_RETRY)
    found: list[rest.ActiveCall] = []

    async def get() -> None:
        found.append(await c.get_call("call-1"))

    async with (
        rest.Client(api.base_url, api.account_sid, api.api_key, config=config) as c,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(get)
        for count in (1, 2):
            await api.wait_for_requests(count)
            mock_clock.jump(2.0)
    assert [c.call_sid for c in found] == ["call-1"]
    assert len(api.requests) == 3


async def test_connection_refused(caplog: pytest.LogCaptureFixture) -> None:
    # A socket bound but not listening: connecting is refused, and the port stays ours.
    reserved = trio.socket.socket()
    await reserved.bind(("127.0.0.1", 0))
    port = reserved.getsockname()[1]
    config = rest.RestConfig(retry=FAST_RETRY)
    with reserved:
        client = rest.Client(f"http://127.0.0.1:{port}", "acct-1", "k", config=config)
        async with client:
            with caplog.at_level(logging.INFO, logger="jbtrio.rest"):
                with pytest.raises(rest.RestConnectionError) as info:
                    await client.get_call("call-9")
                assert sum("retry" in r.getMessage() for r in caplog.records) == 2
                caplog.clear()
                with pytest.raises(rest.RestConnectionError):
                    await client.send_message(rest.SendMessage(from_="+1", to="+2", text="hi"))
                assert not any("retry" in r.getMessage() for r in caplog.records)
    assert info.value.status is None
    failure = caplog.records[-1]
    assert failure.levelno == logging.WARNING


async def test_failure_log_line_names_the_call_and_not_the_key(
    api: FakeJambonzRest, client: rest.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="jbtrio.rest"), pytest.raises(rest.RestError):
        await client.mute("no-such-call")
    [record] = caplog.records
    line = record.getMessage()
    assert line.startswith("[no-such-call] jambonz REST PUT /Accounts/acct-1/Calls/no-such-call")
    assert "HTTP 404" in line
    assert record.__dict__["call_sid"] == "no-such-call"
    assert api.api_key not in line
    assert api.api_key not in repr(client)


async def test_response_bodies_are_bounded(api: FakeJambonzRest) -> None:
    config = rest.RestConfig(max_response_bytes=64 * 1024, retry=FAST_RETRY)
    big = b"[" + b'"x",' * 40_000 + b'"x"]'
    api.script("GET", "/Conferences", Reply(200, body=big), Reply(200, body=big, chunked=True))
    async with rest.Client(api.base_url, api.account_sid, api.api_key, config=config) as client:
        for _ in range(2):  # once refused by Content-Length, once while reading chunks
            with pytest.raises(rest.RestError) as info:
                await client.list_conferences()
            assert "larger than 65536 bytes" in info.value.message
            assert info.value.status == 200
        api.conferences = ["still-works"]
        assert await client.list_conferences() == ["still-works"]


async def test_a_success_that_is_not_json_or_not_the_right_shape(
    api: FakeJambonzRest, client: rest.Client
) -> None:
    api.script("GET", "/CallCount", Reply(200, text="<html>proxy</html>"))
    with pytest.raises(rest.RestError) as info:
        await client.count_calls()
    assert (info.value.message, info.value.body) == ("response is not JSON", "<html>proxy</html>")
    api.script("GET", "/CallCount", Reply(200, json={"inbound": "many", "outbound": 0}))
    with pytest.raises(rest.RestError) as info:
        await client.count_calls()
    assert "inbound" in info.value.message
    api.script("GET", "/Calls", Reply(200, json={"calls": []}))
    with pytest.raises(rest.RestError, match="expected a list"):
        await client.list_calls()


async def test_send_message(api: FakeJambonzRest, client: rest.Client) -> None:
    sent = await client.send_message(
        rest.SendMessage(from_="+15085551212", to="+15085551213", text="Your code is 1234")
    )
    assert sent.provider_response == "queued"
    [req] = api.requests
    assert (req.method, req.path) == ("POST", "/v1/Accounts/acct-1/Messages")
    assert req.json == {"from": "+15085551212", "to": "+15085551213", "text": "Your code is 1234"}

    api.script(
        "POST",
        "/Messages",
        Reply(480, json={"sid": "m-1", "message": "carrier refused", "smpp_err_code": "0x45"}),
    )
    with pytest.raises(rest.RestError) as info:
        await client.send_message(rest.SendMessage(from_="+1", to="+2", media="https://x/a.png"))
    assert (info.value.status, info.value.message) == (480, "carrier refused")
    assert api.requests[-1].json == {"from": "+1", "to": "+2", "media": "https://x/a.png"}


async def test_queues_and_conferences(api: FakeJambonzRest, client: rest.Client) -> None:
    api.queues = [{"name": "support", "length": "3"}, {"name": "sales", "length": 0}]
    api.conferences = ["room-1", "support room"]
    assert await client.list_queues() == [
        rest.QueueInfo(name="support", length=3),
        rest.QueueInfo(name="sales", length=0),
    ]
    assert await client.list_queues(search="sup") == [rest.QueueInfo(name="support", length=3)]
    assert api.requests[-1].query == {"search": "sup"}
    assert await client.list_conferences() == ["room-1", "support room"]

    listen = rest.ConferenceListen(
        url="wss://app.example.com/fork", sample_rate=16000, metadata={"room": "support room"}
    )
    await client.start_conference_listen("support room", listen)
    await client.stop_conference_listen("support room")
    start, stop = api.requests[-2:]
    assert (start.method, start.path) == (
        "POST",
        "/v1/Accounts/acct-1/Conferences/support room/listen",
    )
    assert start.json == {
        "url": "wss://app.example.com/fork",
        "sampleRate": 16000,
        "metadata": {"room": "support room"},
    }
    assert (stop.method, stop.path) == ("DELETE", start.path)


async def test_concurrent_requests_share_the_pool(
    api: FakeJambonzRest, client: rest.Client
) -> None:
    for n in range(30):
        api.add_call(f"call-{n}")
    found: list[str] = []

    async def get(n: int) -> None:
        found.append((await client.get_call(f"call-{n}")).call_sid)

    async with trio.open_nursery() as nursery:
        for n in range(30):
            nursery.start_soon(get, n)
    assert sorted(found) == sorted(f"call-{n}" for n in range(30))


async def test_a_closed_client_refuses_requests(api: FakeJambonzRest) -> None:
    client = rest.Client(api.base_url, api.account_sid, api.api_key)
    await client.aclose()
    assert client.closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.list_calls()


async def test_call_rest_reaches_the_api_jambonz_named_for_the_call(api: FakeJambonzRest) -> None:
    # call.rest: the app's pool, at the api_base_url jambonz sent with the call.
    import jbtrio
    from jbtrio._runtime import Server
    from jbtrio.testing import Caller, FakeJambonz, JambonzConfig
    from jbtrio.verbs import Gather, Hangup

    pool = rest.ClientPool(api.api_key)
    app = jbtrio.App(rest=pool)
    used: list[str] = []

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> Any:
        yield Gather(input=["speech"], say=Say(text="hi"))  # its hook carries api_base_url
        await call.rest.update_call(call.sid, rest.UpdateCall(tag={"heard": True}))
        used.append(call.sid)
        yield Hangup()

    fast = JambonzConfig(
        say_seconds_per_char=0.0,
        say_min_seconds=0.01,
        api_base_url=api.base_url,
        account_sid=api.account_sid,
    )
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app).run_in)
        placed = FakeJambonz(fast).new_call(
            "ws://app/f",
            connector=server.open_memory_stream,
            caller=Caller(speech=["yes"], response_delay=0.01),
            call_sid="live-1",
        )
        api.add_call("live-1")  # the API knows the live call
        with trio.fail_after(10):
            await placed.run()
        await server.shutdown(grace=0)
    await pool.aclose()
    assert placed.outcome.ok, placed.outcome.summary()
    [request] = [r for r in api.requests if r.method == "PUT"]
    assert request.path == f"{CALLS}/{used[0]}"
    assert request.json == {"tag": {"heard": True}}


async def test_call_rest_without_a_pool_says_how_to_get_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    import jbtrio
    from jbtrio._runtime import Server
    from jbtrio.testing import FakeJambonz

    app = jbtrio.App()
    errors: list[str] = []

    @app.route("/f")
    async def handler(call: jbtrio.Call) -> None:
        try:
            call.rest  # noqa: B018
        except RuntimeError as exc:
            errors.append(str(exc))
        await call.start.reply([Say(text="bye")])

    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app).run_in)
        await FakeJambonz().place_call("ws://app/f", connector=server.open_memory_stream)
        await server.shutdown(grace=0)
    assert errors and "App(rest=jbtrio.rest.ClientPool(" in errors[0]
