"""Regression tests for what the core's state machine (test_core_properties.py) found, each
the smallest sequence that showed it, against jambonz 0.9.8 as ``docs/jambonz.md``,
"Reconnects" describes it."""

from __future__ import annotations

from typing import Any

import orjson

from jbtrio._core import CallCore, CoreConfig, Received, ReplyHandle, Resent, Unconfirmed
from jbtrio._wire import (
    CallInfo,
    CallStatus,
    Command,
    SessionNew,
    SessionReconnect,
    VerbHook,
    VerbStatus,
    VerbStatusEvent,
)

SID = "c0ffee00-0000-4000-8000-0000000000cc"
SAY = {"verb": "say", "text": "hello"}
PAUSE = {"verb": "pause", "length": 1}
GATHER = {"verb": "gather", "input": ["speech"], "actionHook": "/g"}
HANGUP = {"verb": "hangup"}


def info(**extra: Any) -> CallInfo:
    return CallInfo(call_sid=SID, extra=extra)


def reconnect(msgid: str) -> SessionReconnect:
    return SessionReconnect(msgid=msgid, call_sid=SID, data=info())


def drain(core: CallCore, now: float) -> list[dict[str, Any]]:
    out = []
    while (frame := core.next_frame()) is not None:
        out.append(orjson.loads(frame.text))
        core.sent(frame, now)
    return out


def handle_of(events: list[Any]) -> ReplyHandle:
    [event] = [e for e in events if isinstance(e, Received)]
    assert event.reply is not None
    return event.reply


def answered_unconfirmed() -> tuple[CallCore, ReplyHandle]:
    """A call whose session:new ack was written, with nothing since to show jambonz read it
    (without the re-key stall watch and its echo, which test_core_receipts.py covers)."""
    core = CallCore(CoreConfig(stall_wait=1.0, max_stall_recoveries=0))
    core.attach()
    handle = handle_of(core.receive(SessionNew(msgid="new1", call_sid=SID, data=info()), 0.0))
    core.reply(handle, [SAY], 0.0)
    drain(core, 0.0)
    return core, handle


def is_probe(frame: dict[str, Any]) -> bool:
    return frame.get("command") == "redirect" and frame["data"][0]["verb"] == "config"


def test_a_reply_is_not_extended_into_the_reconnect_ack_that_repeats_it() -> None:
    # The reconnect's ack repeats the session:new verbs; jambonz ignores them when it had read
    # the first ack, so verbs added there would never run.
    core, handle = answered_unconfirmed()
    core.detach(0.1)
    core.attach()
    core.receive(reconnect("rc1"), 0.5)
    assert not core.extend_reply(handle, [GATHER], 0.6)
    [ack] = drain(core, 0.6)
    assert ack["msgid"] == "rc1" and len(ack["data"]) == 2  # config and say, nothing added


def test_repeating_the_session_new_verbs_leaves_later_frames_in_doubt() -> None:
    core, _ = answered_unconfirmed()
    core.detach(0.1)
    core.attach()
    core.receive(reconnect("rc1"), 0.5)
    # only the repeat: the first ack is settled by it (its verbs run once either way)
    assert [f["type"] for f in drain(core, 0.5)] == ["ack"]
    core.tick(1.0)  # the command gate's grace is over; jambonz said nothing yet
    core.command(Command(command="redirect", data=[HANGUP], queue_command=True), 1.0)
    [appended] = drain(core, 1.0)
    core.detach(1.2)  # it may have died on the wire
    core.attach()
    core.receive(reconnect("rc2"), 1.5)
    [again] = drain(core, 1.5)
    core.tick(2.0)
    [probe] = drain(core, 2.0)
    # the repeat again, which jambonz ignores if it had read the first: not a verdict on the
    # appended verbs, which stay in doubt (probed, then reported) instead of being forgotten
    assert again["msgid"] == "rc2" and is_probe(probe)
    [given_up] = [e for e in core.tick(100.0) if isinstance(e, Unconfirmed)]
    assert [orjson.loads(f.text) for f in given_up.frames] == [appended]


def test_a_stack_replacing_ack_does_not_overtake_verbs_appended_in_doubt() -> None:
    core, _ = answered_unconfirmed()
    core.receive(CallStatus(msgid="s1", call_sid=SID, data=info()), 0.1)  # the call runs
    core.command(Command(command="redirect", data=[SAY], queue_command=False), 1.0)
    drain(core, 1.0)
    core.detach(1.1)  # that redirect is in doubt
    core.command(Command(command="redirect", data=[PAUSE], queue_command=True), 1.2)
    core.attach()
    core.receive(reconnect("rc1"), 2.0)
    drain(core, 2.0)  # the reconnect's ack and the probe; the appended pause waits
    # a hook of the verb jambonz runs (the say of session:new), not of a verb in doubt
    hook = VerbHook(msgid="h1", call_sid=SID, hook="/g", data=info(verb_id="jb2"))
    core.reply(handle_of(core.receive(hook, 2.5)), [HANGUP], 2.5)
    # The app appended the pause, then replaced the stack: jambonz must get them in that
    # order, or the pause would run after the hangup's stack replaced it.
    out = drain(core, 2.5)
    assert [f.get("command", f["type"]) for f in out] == ["redirect", "ack"]
    assert out[0]["data"][0]["verb"] == "pause"


def test_verbs_that_ran_while_their_receipts_died_are_not_re_sent_after_the_probe() -> None:
    core, _ = answered_unconfirmed()
    core.receive(CallStatus(msgid="s1", call_sid=SID, data=info()), 0.1)  # the call runs
    hook = VerbHook(msgid="h1", call_sid=SID, hook="/g", data=info(verb_id="jb2"))
    core.reply(handle_of(core.receive(hook, 1.0)), [PAUSE], 1.0)
    [ack] = drain(core, 1.0)
    # jambonz reads the ack and runs the pause to its end; its "starting" and "finished"
    # are written into the socket as it dies, and are lost with it
    core.detach(2.5)
    core.attach()
    core.receive(reconnect("rc1"), 3.0)
    _, probe = drain(core, 3.0)
    # jambonz is idle: the probe runs at once. That is no proof the ack was lost.
    data = VerbStatusEvent(event="starting", id=probe["data"][0]["id"], name="config")
    events = core.receive(VerbStatus(msgid="v9", call_sid=SID, data=data), 3.1)
    assert not [e for e in events if isinstance(e, Resent)], "the pause would run twice"
    [given_up] = [e for e in events if isinstance(e, Unconfirmed)]
    assert [orjson.loads(f.text) for f in given_up.frames] == [ack]
    assert drain(core, 3.1) == []
