"""The sans-IO call core: reply handles, deadlines, the outbound queue across drops."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from jbtrio import MessageTooLargeError, QueueFullError, ReplyError, VerbError
from jbtrio._core import (
    Abandoned,
    AutoAcked,
    CallCore,
    CoreConfig,
    Duplicate,
    Ended,
    FrameRewritten,
    Received,
    ReplyHandle,
    Resent,
    Resumed,
)
from jbtrio._errors import CallEndedError
from jbtrio._wire import (
    CallInfo,
    CallStatus,
    Command,
    DialConfirm,
    ErrorDetails,
    JambonzError,
    SessionNew,
    SessionReconnect,
    UnknownMessage,
    VerbHook,
)

SID = "c0ffee00-0000-4000-8000-000000000001"
#: Without receipts (no verb ids, no notifyEvents), so frames are exactly what the app gave;
#: the receipts policy has its own tests (test_core_receipts.py).
PLAIN = CoreConfig(receipts=False)
#: The echo the core asks jambonz for after a reconnect that may be re-keyed: answered at once
#: unless jambonz holds everything back (the re-key stall, test_core_receipts.py).
ECHO = {"type": "command", "command": "tts:tokens", "data": {"id": "jbe1-1"}}
SAY = {"verb": "say", "text": "hello"}
HANGUP = {"verb": "hangup"}


def info() -> CallInfo:
    return CallInfo(call_sid=SID, direction="inbound", from_="+15550001", to="+15550002")


def session_new(msgid: str = "new1") -> SessionNew:
    return SessionNew(msgid=msgid, call_sid=SID, data=info())


def reconnect(msgid: str = "rc1") -> SessionReconnect:
    return SessionReconnect(msgid=msgid, call_sid=SID, data=info())


def hook(msgid: str, path: str = "/gather") -> VerbHook:
    return VerbHook(msgid=msgid, call_sid=SID, hook=path, data=info())


def status(msgid: str, call_status: str = "in-progress") -> CallStatus:
    return CallStatus(
        msgid=msgid, call_sid=SID, data=CallInfo(call_sid=SID, call_status=call_status)
    )


def drain(core: CallCore, now: float = 0.0) -> list[dict[str, Any]]:
    """Play the writer: send everything the core lets out, return the JSON frames."""
    out = []
    while (frame := core.next_frame()) is not None:
        out.append(orjson.loads(frame.text))
        core.sent(frame, now)
    return out


def start(core: CallCore, now: float = 0.0) -> ReplyHandle:
    """session:new answered with a say, the ack sent and the session confirmed."""
    core.attach()
    [event] = core.receive(session_new(), now)
    assert isinstance(event, Received) and event.reply is not None
    core.reply(event.reply, [SAY], now)
    assert drain(core, now) == [{"type": "ack", "msgid": "new1", "data": [SAY]}]
    core.receive(status("st1"), now)
    return event.reply


def handle_of(events: list[Any]) -> ReplyHandle:
    [event] = events
    assert isinstance(event, Received) and event.reply is not None
    return event.reply


def test_each_hook_has_its_own_reply_handle() -> None:
    core = CallCore(PLAIN)
    start(core)
    first = handle_of(core.receive(hook("h1", "/a"), 1.0))
    second = handle_of(core.receive(hook("h2", "/b"), 1.1))
    core.reply(second, [HANGUP], 1.2)
    core.reply(first, None, 1.3)
    assert drain(core) == [
        {"type": "ack", "msgid": "h2", "data": [HANGUP]},
        {"type": "ack", "msgid": "h1"},
    ]


def test_replying_twice_is_an_error() -> None:
    core = CallCore(PLAIN)
    start(core)
    handle = handle_of(core.receive(hook("h1"), 1.0))
    core.reply(handle, None, 1.1)
    with pytest.raises(ReplyError) as info_:
        core.reply(handle, [SAY], 1.2)
    assert info_.value.state == "replied"
    assert drain(core) == [{"type": "ack", "msgid": "h1"}]


def test_unanswered_hook_is_acked_empty_before_the_deadline() -> None:
    core = CallCore(CoreConfig(receipts=False, ack_timeout=5.0, ack_margin=1.0))
    start(core)
    handle = handle_of(core.receive(hook("h1"), 10.0))
    assert core.next_deadline() == 14.0
    assert core.tick(13.9) == []
    [event] = core.tick(14.0)
    assert isinstance(event, AutoAcked) and event.handle is handle
    assert drain(core) == [{"type": "ack", "msgid": "h1"}]
    with pytest.raises(ReplyError) as info_:
        core.reply(handle, [SAY], 14.5)
    assert info_.value.state == "auto_acked"
    assert core.next_deadline() is None


def test_a_late_reply_runs_the_deadline_first() -> None:
    core = CallCore(PLAIN)
    start(core)
    handle = handle_of(core.receive(hook("h1"), 0.0))
    with pytest.raises(ReplyError):
        core.reply(handle, [SAY], 4.5)  # no tick happened, but the window has passed
    assert drain(core) == [{"type": "ack", "msgid": "h1"}]


def test_session_new_fallback_verbs_when_the_app_is_silent() -> None:
    config = CoreConfig(receipts=False, fallback_verbs=[{"verb": "say", "text": "one moment"}])
    core = CallCore(config)
    core.attach()
    core.receive(session_new(), 0.0)
    [event] = core.tick(4.0)
    assert isinstance(event, AutoAcked)
    assert drain(core) == [
        {"type": "ack", "msgid": "new1", "data": [{"verb": "say", "text": "one moment"}]}
    ]


def test_session_new_needs_a_non_empty_valid_verb_list() -> None:
    core = CallCore(PLAIN)
    core.attach()
    handle = handle_of(core.receive(session_new(), 0.0))
    with pytest.raises(VerbError):
        core.reply(handle, [], 0.1)
    with pytest.raises(VerbError):
        core.reply(handle, [{"verb": "say", "text": 5}], 0.1)
    assert core.queued == ()
    core.reply(handle, [SAY], 0.2)
    assert len(core.queued) == 1


def test_commands_wait_for_the_session_to_exist() -> None:
    core = CallCore(CoreConfig(receipts=False, session_start_grace=0.5))
    core.attach()
    handle = handle_of(core.receive(session_new(), 0.0))
    core.command(Command(command="redirect", data=[HANGUP]), 0.0)  # queued before the ack
    core.reply(handle, [SAY], 0.1)
    assert drain(core, 0.1) == [{"type": "ack", "msgid": "new1", "data": [SAY]}]
    assert core.next_frame() is None  # gated: jambonz would drop it
    assert core.next_deadline() == pytest.approx(0.6)
    core.tick(0.6)
    assert drain(core) == [{"type": "command", "command": "redirect", "data": [HANGUP]}]


def test_the_first_session_message_opens_the_command_gate() -> None:
    core = CallCore(PLAIN)
    core.attach()
    handle = handle_of(core.receive(session_new(), 0.0))
    core.reply(handle, [SAY], 0.0)
    drain(core)
    core.command(Command(command="tts:flush"), 0.1)
    assert core.next_frame() is None
    core.receive(status("st1"), 0.2)
    assert drain(core) == [{"type": "command", "command": "tts:flush"}]


def test_frames_wait_while_detached_and_flush_in_order_after_the_reconnect_ack() -> None:
    core = CallCore(PLAIN)
    start(core)
    core.detach(1.0)
    for n in range(3):
        core.command(Command(command="redirect", data=[{"verb": "say", "text": f"#{n}"}]), 1.1)
    assert core.next_frame() is None
    core.attach()
    [event] = core.receive(reconnect(), 2.0)
    assert isinstance(event, Resumed) and not event.session_new_pending
    frames = drain(core)
    assert frames[0] == {"type": "ack", "msgid": "rc1"}
    assert [f["data"][0]["text"] for f in frames[1:]] == ["#0", "#1", "#2"]


def test_a_drop_abandons_open_hooks() -> None:
    core = CallCore(PLAIN)
    start(core)
    handle = handle_of(core.receive(hook("h1"), 1.0))
    [event] = core.detach(1.5)
    assert isinstance(event, Abandoned) and event.handle is handle
    with pytest.raises(ReplyError) as info_:
        core.reply(handle, [SAY], 1.6)
    assert info_.value.state == "abandoned"
    assert core.next_deadline() is None


def test_a_queued_ack_for_an_abandoned_hook_becomes_a_redirect_in_place() -> None:
    core = CallCore(PLAIN)
    start(core)
    # Queue three frames on the live socket, but let the writer send none of them.
    core.command(Command(command="redirect", data=[{"verb": "say", "text": "before"}]), 1.0)
    handle = handle_of(core.receive(hook("h1"), 1.0))
    core.reply(handle, [SAY, HANGUP], 1.1)
    core.command(Command(command="redirect", data=[{"verb": "say", "text": "after"}]), 1.2)
    events = core.detach(1.3)
    [rewritten] = [e for e in events if isinstance(e, FrameRewritten)]
    assert rewritten.replacement is not None
    assert rewritten.replacement.seq == rewritten.original.seq
    core.attach()
    core.receive(reconnect("rc1"), 2.0)
    frames = drain(core)
    assert frames[0] == {"type": "ack", "msgid": "rc1"}
    assert frames[1]["data"][0]["text"] == "before"
    assert frames[2] == {
        "type": "command",
        "command": "redirect",
        "queueCommand": False,
        "data": [SAY, HANGUP],
    }
    assert frames[3]["data"][0]["text"] == "after"
    assert len(frames) == 4


def test_an_empty_ack_for_an_abandoned_hook_is_dropped() -> None:
    core = CallCore(PLAIN)
    start(core)
    handle = handle_of(core.receive(hook("h1"), 1.0))
    core.reply(handle, None, 1.1)
    [event] = core.detach(1.2)
    assert isinstance(event, FrameRewritten) and event.replacement is None
    assert core.queued == ()


def test_dial_confirm_verbs_are_not_replayed_on_the_a_leg() -> None:
    core = CallCore(PLAIN)
    start(core)
    confirm = DialConfirm(msgid="dc1", call_sid=SID, hook="/screen", data=info())
    handle = handle_of(core.receive(confirm, 1.0))
    core.reply(handle, [SAY], 1.1)
    [event] = core.detach(1.2)
    assert isinstance(event, FrameRewritten) and event.replacement is None


def test_drop_before_the_app_answered_session_new_rekeys_it() -> None:
    core = CallCore(PLAIN)
    core.attach()
    handle = handle_of(core.receive(session_new(), 0.0))
    assert core.detach(1.0) == []  # session:new is not abandoned
    core.attach()
    [event] = core.receive(reconnect("rc1"), 2.0)
    assert isinstance(event, Resumed) and event.session_new_pending
    core.reply(handle, [SAY], 2.5)
    assert drain(core) == [
        {"type": "ack", "msgid": "rc1", "data": [SAY]}
    ]  # certain: no echo, a forced reconnect


def test_rekeyed_session_new_keeps_its_original_deadline() -> None:
    core = CallCore(PLAIN)
    core.attach()
    core.receive(session_new(), 0.0)
    core.detach(1.0)
    core.attach()
    core.receive(reconnect("rc1"), 2.0)
    [event] = core.tick(4.0)
    assert isinstance(event, AutoAcked)
    assert drain(core) == [
        {"type": "ack", "msgid": "rc1", "data": [{"verb": "pause", "length": 1}]}
    ]


def test_drop_after_reply_but_before_send_rekeys_the_queued_ack() -> None:
    core = CallCore(PLAIN)
    core.attach()
    handle = handle_of(core.receive(session_new(), 0.0))
    core.reply(handle, [SAY], 0.1)
    core.detach(0.2)
    core.attach()
    core.receive(reconnect("rc1"), 1.0)
    assert drain(core) == [
        {"type": "ack", "msgid": "rc1", "data": [SAY]}
    ]  # certain: no echo, a forced reconnect


def test_unconfirmed_session_new_ack_is_repeated_in_the_reconnect_ack() -> None:
    core = CallCore(PLAIN)
    core.attach()
    handle = handle_of(core.receive(session_new(), 0.0))
    core.reply(handle, [SAY], 0.1)
    drain(core, 0.1)
    core.detach(0.2)  # nothing from jambonz proves it read the ack
    core.attach()
    core.receive(reconnect("rc1"), 1.0)
    assert drain(core, 1.0) == [{"type": "ack", "msgid": "rc1", "data": [SAY]}, ECHO]


def test_a_reconnect_for_a_call_this_core_never_saw_is_answered_by_the_app() -> None:
    core = CallCore(PLAIN)
    core.attach()
    events = core.receive(reconnect("rc1"), 0.0)
    assert isinstance(events[0], Resumed) and events[0].session_new_pending
    handle = handle_of(events[1:])
    assert core.call_sid == SID
    core.reply(handle, [SAY], 0.1)
    assert drain(core) == [{"type": "ack", "msgid": "rc1", "data": [SAY]}, ECHO]


def test_the_command_queue_is_bounded_but_acks_never_are() -> None:
    core = CallCore(CoreConfig(receipts=False, max_queued_commands=2))
    start(core)
    core.detach(1.0)
    core.command(Command(command="tts:flush"), 1.0)
    core.command(Command(command="tts:clear"), 1.0)
    assert not core.can_queue_command
    with pytest.raises(QueueFullError):
        core.command(Command(command="tts:flush"), 1.0)
    core.attach()
    core.receive(reconnect(), 2.0)  # its ack is queued despite the full queue
    assert len(drain(core)) == 3
    assert core.can_queue_command


def test_oversized_frames_fail_where_they_are_made() -> None:
    core = CallCore(PLAIN)
    start(core)
    big = [{"verb": "say", "text": "x" * 30_000}]
    with pytest.raises(MessageTooLargeError):
        core.command(Command(command="redirect", data=big), 1.0)
    handle = handle_of(core.receive(hook("h1"), 1.0))
    with pytest.raises(MessageTooLargeError):
        core.reply(handle, big, 1.1)
    assert core.queued == ()
    assert handle.is_open


def test_an_ack_whose_gather_hook_jambonz_reports_failed_is_resent_once() -> None:
    # What jambonz 0.9.8 sends when the ack to a gather's hook died with its socket: the
    # hook's request was abandoned, so gather reports its failure, with no details.
    core = CallCore(PLAIN)
    start(core)
    handle = handle_of(core.receive(hook("h1"), 1.0))
    core.reply(handle, [SAY, HANGUP], 1.1)
    drain(core)  # written... onto a socket that then died
    core.detach(1.2)
    core.attach()
    core.receive(reconnect("rc1"), 2.0)
    error = JambonzError(
        msgid="e1",
        call_sid=SID,
        data=ErrorDetails(msg="invalid actionHook response", verb="gather"),
    )
    events = core.receive(error, 2.1)
    [resent] = events  # the error was evidence for the core, not news for the app
    assert isinstance(resent, Resent) and resent.frame is not None
    assert drain(core)[1:] == [
        {"type": "command", "command": "redirect", "queueCommand": False, "data": [SAY, HANGUP]}
    ]
    again = JambonzError(msgid="e2", call_sid=SID, data=error.data)
    assert not any(isinstance(e, Resent) for e in core.receive(again, 2.2))


def test_duplicated_deliveries_are_dropped() -> None:
    core = CallCore(PLAIN)
    start(core)
    handle_of(core.receive(hook("h1"), 1.0))
    [event] = core.receive(hook("h1"), 1.1)
    assert isinstance(event, Duplicate)
    assert len(core.open_replies) == 1


def test_unknown_types_with_a_msgid_get_an_empty_ack() -> None:
    core = CallCore(PLAIN)
    start(core)
    unknown = UnknownMessage(
        type="agent:future", msgid="u1", raw={"type": "agent:future", "msgid": "u1"}
    )
    [event] = core.receive(unknown, 1.0)
    assert isinstance(event, Received) and event.reply is None
    assert drain(core) == [{"type": "ack", "msgid": "u1"}]


def test_an_unknown_type_with_an_empty_msgid_is_delivered_unacked() -> None:
    """An empty msgid names no message: the core delivers it and acks nothing (found by the
    fuzz suite: the ack's own check refused the empty msgid and the core raised)."""
    core = CallCore(PLAIN)
    start(core)
    unknown = UnknownMessage(
        type="agent:future", msgid="", raw={"type": "agent:future", "msgid": ""}
    )
    [event] = core.receive(unknown, 1.0)
    assert isinstance(event, Received) and event.reply is None
    assert drain(core) == []


def test_end_closes_everything() -> None:
    core = CallCore(PLAIN)
    start(core)
    handle = handle_of(core.receive(hook("h1"), 1.0))
    core.detach(1.1)
    core.command(Command(command="tts:flush"), 1.2)
    [event] = core.end(2.0)
    assert isinstance(event, Ended) and len(event.unsent) == 1
    assert core.open_replies == () and core.queued == ()
    with pytest.raises(ReplyError):
        core.reply(handle, None, 2.1)
    with pytest.raises(CallEndedError):
        core.command(Command(command="tts:flush"), 2.1)
    assert core.receive(hook("h2"), 2.2) == []
    assert core.end(2.3) == []


def test_config_rejects_a_margin_that_swallows_the_window() -> None:
    with pytest.raises(ValueError):
        CoreConfig(ack_timeout=1.0, ack_margin=1.0)
    with pytest.raises(ValueError):
        CoreConfig(fallback_verbs=[])


# ------------------------------------------------------------------ extending a queued ack

GATHER = {"verb": "gather", "input": ["speech"], "actionHook": "/next"}


def test_verbs_appended_to_a_queued_ack_travel_in_it() -> None:
    # A flow's next step after a hook's ack: one frame instead of ack + redirect, so a drop
    # between two frames cannot lose the second (commands are never acknowledged).
    core = CallCore(PLAIN)
    start(core)
    handle = handle_of(core.receive(hook("h1"), 1.0))
    core.reply(handle, [SAY], 1.1)
    assert core.extend_reply(handle, [GATHER], 1.2)
    assert core.extend_reply(handle, [HANGUP], 1.3)
    frames = drain(core)
    assert frames == [{"type": "ack", "msgid": "h1", "data": [SAY, GATHER, HANGUP]}]
    assert handle.verbs == (SAY, GATHER, HANGUP)


def test_an_ack_written_or_being_written_is_not_extended() -> None:
    core = CallCore(PLAIN)
    start(core)
    handle = handle_of(core.receive(hook("h1"), 1.0))
    core.reply(handle, [SAY], 1.1)
    frame = core.next_frame()
    assert frame is not None
    core.sending(frame)
    assert not core.extend_reply(handle, [GATHER], 1.2)  # the writer has it
    core.sent(frame, 1.3)
    assert not core.extend_reply(handle, [GATHER], 1.4)  # on the wire
    assert drain(core) == []


def test_only_the_last_queued_ack_with_verbs_is_extended() -> None:
    core = CallCore(PLAIN)
    start(core)
    first = handle_of(core.receive(hook("h1"), 1.0))
    core.reply(first, [SAY], 1.1)
    core.command(Command(command="mute:status", data={"mute": True}), 1.2)
    assert not core.extend_reply(first, [GATHER], 1.3)  # a command was queued after it
    second = handle_of(core.receive(hook("h2"), 2.0))
    core.reply(second, None, 2.1)
    assert not core.extend_reply(second, [GATHER], 2.2)  # kept jambonz's stack: append
    too_big = [{"verb": "say", "text": "x" * 30_000}]
    third = handle_of(core.receive(hook("h3"), 3.0))
    core.reply(third, [SAY], 3.1)
    assert not core.extend_reply(third, too_big, 3.2)  # over the frame limit
    with pytest.raises(VerbError):
        core.extend_reply(third, [{"verb": "no-such-verb"}], 3.3)
    assert [f["msgid"] for f in drain(core) if f["type"] == "ack"] == ["h1", "h2", "h3"]


def test_the_session_new_ack_is_extended_and_repeated_on_a_re_key() -> None:
    # The flow's first gather travels in the session:new ack (no command gate to wait for);
    # if the socket dies before jambonz confirms the session, the re-key repeats all of it.
    core = CallCore(PLAIN)
    core.attach()
    [event] = core.receive(session_new(), 0.0)
    assert isinstance(event, Received) and event.reply is not None
    core.reply(event.reply, [SAY], 0.1)
    assert core.extend_reply(event.reply, [GATHER], 0.2)
    assert drain(core) == [{"type": "ack", "msgid": "new1", "data": [SAY, GATHER]}]
    core.detach(1.0)
    core.attach()
    core.receive(reconnect("rc1"), 1.5)
    assert drain(core, 1.5) == [{"type": "ack", "msgid": "rc1", "data": [SAY, GATHER]}, ECHO]


def test_the_ack_of_a_call_started_by_a_reconnect_is_not_extended() -> None:
    # jambonz may follow with the re-keyed session:new, whose ack is the one it runs.
    core = CallCore(PLAIN)
    core.attach()
    [event] = [e for e in core.receive(reconnect("rc1"), 0.0) if isinstance(e, Received)]
    assert event.reply is not None
    core.reply(event.reply, [SAY], 0.1)
    assert not core.extend_reply(event.reply, [GATHER], 0.2)
