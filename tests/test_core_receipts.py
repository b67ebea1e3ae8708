"""The evidence policy of the call core: verb ids, receipts, doubts, the probe, the re-key
stall — each case as jambonz 0.9.8 really plays it (docs/jambonz.md, "Reconnects")."""

from __future__ import annotations

from typing import Any

import orjson

from jbtrio._core import (
    CallCore,
    Confirmed,
    CoreConfig,
    ForceReconnect,
    Received,
    Refused,
    ReplyHandle,
    Resent,
    Unconfirmed,
)
from jbtrio._wire import (
    CallInfo,
    CallStatus,
    Command,
    ErrorDetails,
    JambonzError,
    SessionNew,
    SessionReconnect,
    TokensResult,
    TtsTokensResult,
    VerbHook,
    VerbStatus,
    VerbStatusEvent,
    VerbStatusEventType,
)

SID = "c0ffee00-0000-4000-8000-0000000000bb"
SAY = {"verb": "say", "text": "hello"}
GATHER = {"verb": "gather", "input": ["speech"], "actionHook": "/g"}
HANGUP = {"verb": "hangup"}


def info(**extra: Any) -> CallInfo:
    return CallInfo(call_sid=SID, extra=extra)


def session_new(msgid: str = "new1") -> SessionNew:
    return SessionNew(msgid=msgid, call_sid=SID, data=info())


def reconnect(msgid: str) -> SessionReconnect:
    return SessionReconnect(msgid=msgid, call_sid=SID, data=info())


def hook(msgid: str, verb_id: str) -> VerbHook:
    return VerbHook(msgid=msgid, call_sid=SID, hook="/g", data=info(verb_id=verb_id))


def status(msgid: str, verb_id: str, event: VerbStatusEventType = "starting") -> VerbStatus:
    return VerbStatus(
        msgid=msgid, call_sid=SID, data=VerbStatusEvent(event=event, id=verb_id, name="say")
    )


def gather_failed(msgid: str, verb_id: str | None) -> JambonzError:
    """What jambonz 0.9.8 sends when a gather's hook got no answer: no ``details``."""
    return JambonzError(
        msgid=msgid,
        call_sid=SID,
        data=ErrorDetails(msg="invalid actionHook response", verb="gather", id=verb_id),
    )


def drain(core: CallCore, now: float = 0.0) -> list[dict[str, Any]]:
    out = []
    while (frame := core.next_frame()) is not None:
        out.append(orjson.loads(frame.text))
        core.sent(frame, now)
    return out


def handle_of(events: list[Any]) -> ReplyHandle:
    [event] = [e for e in events if isinstance(e, Received)]
    assert event.reply is not None
    return event.reply


def started(config: CoreConfig | None = None) -> CallCore:
    """A call whose session:new was answered, written and confirmed (a call:status came)."""
    core = CallCore(config)
    core.attach()
    core.reply(handle_of(core.receive(session_new(), 0.0)), [SAY, GATHER], 0.0)
    drain(core)
    core.receive(CallStatus(msgid="s0", call_sid=SID, data=info()), 0.1)
    return core


def test_verbs_get_ids_and_the_first_ones_turn_notify_events_on() -> None:
    core = CallCore()
    core.attach()
    handle = handle_of(core.receive(session_new(), 0.0))
    core.reply(handle, [SAY, {"verb": "pause", "length": 1, "id": "mine"}, {"hangup": {}}], 0.0)
    [ack] = drain(core)
    assert ack["data"] == [
        {"verb": "config", "notifyEvents": True, "id": "jb1"},
        {"verb": "say", "text": "hello", "id": "jb2"},
        {"verb": "pause", "length": 1, "id": "mine"},  # the app's own id is kept
        {"hangup": {"id": "jb3"}},
    ]
    assert SAY == {"verb": "say", "text": "hello"}, "the app's dict was not changed"
    core.receive(CallStatus(msgid="s0", call_sid=SID, data=info()), 0.1)
    core.command(Command(command="redirect", data=[SAY], queue_command=True), 0.2)
    [command] = drain(core)
    assert command["data"] == [{"verb": "say", "text": "hello", "id": "jb4"}]  # no 2nd config


def test_without_receipts_verbs_go_as_given() -> None:
    core = CallCore(CoreConfig(receipts=False))
    core.attach()
    core.reply(handle_of(core.receive(session_new(), 0.0)), [SAY], 0.0)
    assert drain(core) == [{"type": "ack", "msgid": "new1", "data": [SAY]}]


def test_an_ack_for_a_gather_hook_that_died_is_resent_on_jambonz_s_error() -> None:
    core = started()
    core.reply(handle_of(core.receive(hook("h1", "g1"), 1.0)), [SAY, HANGUP], 1.0)
    [ack] = drain(core, 1.0)  # written onto a socket that then died
    core.detach(1.2)
    core.attach()
    core.receive(reconnect("rc1"), 2.0)
    assert drain(core, 2.0)[0] == {"type": "ack", "msgid": "rc1"}
    # Another gather's failure is news for the app, not evidence about this ack.
    [other] = core.receive(gather_failed("e0", "g9"), 2.05)
    assert isinstance(other, Received)
    [resent] = core.receive(gather_failed("e1", "g1"), 2.1)
    assert isinstance(resent, Resent) and resent.evidence.startswith("jambonz reported")
    out = drain(core, 2.1)
    assert out[0]["command"] == "redirect" and out[0]["queueCommand"] is False
    assert out[0]["data"] == ack["data"], "the same verbs, the same ids"


def test_a_receipt_settles_a_doubt_and_nothing_is_resent() -> None:
    core = started()
    core.reply(handle_of(core.receive(hook("h1", "g1"), 1.0)), [SAY, HANGUP], 1.0)
    [ack] = drain(core, 1.0)
    core.detach(1.2)
    core.attach()
    core.receive(reconnect("rc1"), 2.0)
    out = drain(core, 2.0)
    assert out[0] == {"type": "ack", "msgid": "rc1"}
    assert out[1]["command"] == "redirect" and out[1]["queueCommand"] is True  # the probe
    [probe_verb] = out[1]["data"]
    assert probe_verb == {"verb": "config", "id": probe_verb["id"]}
    confirmed, received = core.receive(status("v1", ack["data"][0]["id"]), 2.1)
    assert isinstance(confirmed, Confirmed) and isinstance(received, Received)
    assert [
        e for e in core.receive(status("v2", probe_verb["id"]), 2.2) if isinstance(e, Resent)
    ] == []
    assert drain(core, 2.2) == []


def _probed(verbs: list[dict[str, Any]]) -> tuple[CallCore, dict[str, Any], list[Any]]:
    """A redirect of ``verbs`` written, the socket dropped, the flow's next (appending) step
    queued meanwhile, jambonz back: the probe runs before anything in doubt."""
    core = started()
    core.command(Command(command="redirect", data=verbs, queue_command=False), 1.0)
    [doubted] = drain(core, 1.0)
    core.detach(1.1)
    # The flow's next step, appending: it waits for the verdict.
    core.command(Command(command="redirect", data=[HANGUP], queue_command=True), 1.2)
    core.attach()
    core.receive(reconnect("rc1"), 2.0)
    out = drain(core, 2.0)
    assert [f.get("command", f["type"]) for f in out] == ["ack", "redirect"]  # ack, probe
    probe_id = out[1]["data"][0]["id"]
    return core, doubted, core.receive(status("v1", probe_id), 2.1)


def test_a_command_that_could_not_end_unseen_is_resent_when_the_probe_runs_first() -> None:
    # [say, hangup]: had jambonz read it, it would have ended the call, not reconnected.
    core, doubted, events = _probed([SAY, HANGUP])
    [resent] = [e for e in events if isinstance(e, Resent)]
    assert resent.evidence.startswith("probe")
    again, held = drain(core, 2.1)
    assert again["data"] == doubted["data"] and again["queueCommand"] is False
    assert held["queueCommand"] is True and held["data"][0]["verb"] == "hangup"


def test_a_command_in_doubt_is_reported_when_the_probe_runs_first() -> None:
    # [say]: jambonz runs none of it any more: it never read it, or ran it to the end while
    # the receipts died with the socket. A re-send could run it twice: it is reported.
    core, doubted, events = _probed([SAY])
    assert not [e for e in events if isinstance(e, Resent)]
    [given_up] = [e for e in events if isinstance(e, Unconfirmed)]
    assert [orjson.loads(f.text) for f in given_up.frames] == [doubted]
    [held] = drain(core, 2.1)
    assert held["queueCommand"] is True and held["data"][0]["verb"] == "hangup"
    assert core.next_deadline() is None


def test_acks_are_not_held_behind_appending_commands_in_doubt() -> None:
    core = started()
    core.command(Command(command="redirect", data=[SAY], queue_command=False), 1.0)
    drain(core, 1.0)
    core.detach(1.1)
    core.command(Command(command="redirect", data=[HANGUP], queue_command=True), 1.2)
    core.attach()
    core.receive(reconnect("rc1"), 2.0)
    drain(core, 2.0)  # reconnect ack and probe; the appending redirect waits
    assert len(core.queued) == 1
    core.receive(hook("h2", "g7"), 2.5)  # a hook from whatever jambonz runs
    handle = core.open_replies[0]
    core.reply(handle, None, 2.5)
    [ack] = drain(core, 2.5)
    assert ack == {"type": "ack", "msgid": "h2"}
    assert len(core.queued) == 1  # still waiting


def test_a_frame_that_replaces_the_stack_makes_the_doubt_moot() -> None:
    core = started()
    core.command(Command(command="redirect", data=[SAY], queue_command=False), 1.0)
    drain(core, 1.0)
    core.detach(1.1)
    core.command(Command(command="redirect", data=[HANGUP], queue_command=False), 1.2)
    core.attach()
    core.receive(reconnect("rc1"), 2.0)
    out = drain(core, 2.0)
    assert [f.get("command", f["type"]) for f in out] == ["ack", "redirect", "redirect"]
    assert out[2]["data"][0]["verb"] == "hangup"
    probe_id = out[1]["data"][0]["id"]
    assert not [e for e in core.receive(status("v1", probe_id), 2.1) if isinstance(e, Resent)]


def test_an_undecided_doubt_is_given_up_and_reported() -> None:
    core = started(CoreConfig(doubt_timeout=10.0))
    core.command(Command(command="redirect", data=[SAY], queue_command=False), 1.0)
    drain(core, 1.0)
    core.detach(1.1)
    assert core.next_deadline() == 11.1
    [given_up] = [e for e in core.tick(11.1) if isinstance(e, Unconfirmed)]
    assert len(given_up.frames) == 1
    assert core.next_deadline() is None


def test_a_drop_before_any_ack_forces_one_normal_reconnect() -> None:
    core = CallCore()
    core.attach()
    handle = handle_of(core.receive(session_new(), 0.0))
    core.detach(0.1)  # before the app replied: jambonz re-keys and then holds everything
    core.attach()
    core.receive(reconnect("rc1"), 0.6)
    core.reply(handle, [SAY], 0.7)
    [ack] = drain(core, 0.7)
    assert ack["msgid"] == "rc1" and ack["data"][1] == {"verb": "say", "text": "hello", "id": "jb2"}
    [force] = [e for e in core.tick(0.7) if isinstance(e, ForceReconnect)]
    assert "never reached" in force.reason
    core.command(Command(command="redirect", data=[HANGUP]), 0.8)
    assert core.next_frame() is None, "nothing more is written on a socket being closed"
    core.detach(0.9)
    core.attach()
    core.receive(reconnect("rc2"), 2.0)
    out = drain(core, 2.0)
    # The verbs are repeated (harmless if jambonz read them, needed if not), then an echo
    # that a stalled jambonz would hold back; this one answers it: no second reconnect.
    assert out[0]["msgid"] == "rc2" and out[0]["data"] == ack["data"]
    assert out[1]["command"] == "tts:tokens" and "tokens" not in out[1]["data"]
    echo = TtsTokensResult(
        msgid="t1",
        call_sid=SID,
        data=TokensResult(id=out[1]["data"]["id"], status="failed", reason="missing tokens"),
    )
    assert core.receive(echo, 2.1) == [], "the echo is the core's, not the app's"
    assert not [e for e in core.tick(10.0) if isinstance(e, ForceReconnect)], "once per stall"


def test_a_stall_that_outlives_a_forced_reconnect_is_forced_again() -> None:
    core = CallCore()
    core.attach()
    handle = handle_of(core.receive(session_new(), 0.0))
    core.detach(0.1)
    core.attach()
    core.receive(reconnect("rc1"), 0.6)
    core.reply(handle, [SAY], 0.7)
    drain(core, 0.7)
    assert [e for e in core.tick(0.7) if isinstance(e, ForceReconnect)]
    core.detach(0.9)  # ... and the ack died with the line before the close: still stalled
    core.attach()
    core.receive(reconnect("rc2"), 2.0)
    drain(core, 2.0)  # the echo goes, and nothing comes back
    assert [e for e in core.tick(3.0) if isinstance(e, ForceReconnect)]


def test_a_maybe_stalled_jambonz_gets_stall_wait_to_show_it_is_not() -> None:
    def written_then_dropped() -> CallCore:
        core = CallCore(CoreConfig(stall_wait=1.0))
        core.attach()
        core.reply(handle_of(core.receive(session_new(), 0.0)), [SAY], 0.0)
        drain(core)  # written, and nothing proves jambonz read it
        core.detach(0.1)
        core.attach()
        core.receive(reconnect("rc1"), 0.6)
        drain(core, 0.6)
        return core

    core = written_then_dropped()
    assert core.next_deadline() == 1.1  # the command gate's grace first
    assert not core.tick(1.1)
    assert core.next_deadline() == 1.6
    assert [e for e in core.tick(1.6) if isinstance(e, ForceReconnect)]
    core = written_then_dropped()
    core.receive(CallStatus(msgid="s1", call_sid=SID, data=info()), 1.0)  # it is sending
    assert not [e for e in core.tick(1.6) if isinstance(e, ForceReconnect)]


def test_no_forced_reconnect_past_the_bound() -> None:
    core = CallCore(CoreConfig(max_stall_recoveries=0))
    core.attach()
    handle = handle_of(core.receive(session_new(), 0.0))
    core.detach(0.1)
    core.attach()
    core.receive(reconnect("rc1"), 0.6)
    core.reply(handle, [SAY], 0.7)
    drain(core, 0.7)
    assert not [e for e in core.tick(5.0) if isinstance(e, ForceReconnect)]


def test_a_second_session_new_on_a_running_call_is_refused() -> None:
    core = started()
    [refused] = core.receive(session_new("new2"), 1.0)
    assert isinstance(refused, Refused)
    core.command(Command(command="redirect", data=[HANGUP]), 1.1)
    assert len(drain(core, 1.1)) == 1, "the call's frames are not held behind a phantom start"


def test_a_receipt_for_an_older_frame_confirms_it_and_those_before_it_only() -> None:
    # Appending redirects do not replace one another: several wait for receipts at once, and
    # a receipt names one of them (the index of their ids is made when a receipt needs it,
    # then extended with the frames written since).
    core = started()

    def write(text: str) -> tuple[Any, str]:
        core.command(
            Command(command="redirect", data=[{"verb": "say", "text": text}], queue_command=True),
            1.0,
        )
        frame = core.next_frame()
        assert frame is not None
        core.sent(frame, 1.0)
        return frame, orjson.loads(frame.text)["data"][0]["id"]

    _, first = write("one")
    write("two")
    assert core.receive(status("v1", first), 1.1) != []  # the first read: indexed, dropped
    _, third = write("three")
    fourth, _ = write("four")
    unknown = core.receive(status("v2", "jb-unknown"), 1.2)
    assert [e for e in unknown if not isinstance(e, Received)] == []
    core.receive(status("v3", third), 1.3)  # read up to the third, written after the index
    core.detach(1.4)
    core.attach()
    core.receive(reconnect("rc1"), 2.0)
    out = drain(core, 2.0)
    probe_id = out[1]["data"][0]["id"]
    [given_up] = [
        e for e in core.receive(status("v4", probe_id), 2.1) if isinstance(e, Unconfirmed)
    ]
    assert given_up.frames == (fourth,)
