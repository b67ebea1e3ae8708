"""Regression tests for what the core's state machine (test_core_properties.py) found, each
the smallest sequence that showed it, against jambonz 0.9.8 as ``docs/jambonz.md``,
"Reconnects" describes it."""

from __future__ import annotations

from typing import Any

import orjson

from jbtrio._core import CallCore, CoreConfig, Received, ReplyHandle
from jbtrio._wire import CallInfo, SessionNew, SessionReconnect

SID = "c0ffee00-0000-4000-8000-0000000000cc"
SAY = {"verb": "say", "text": "hello"}
GATHER = {"verb": "gather", "input": ["speech"], "actionHook": "/g"}


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
    """A call whose session:new ack was written, with nothing since to show jambonz read it."""
    core = CallCore(CoreConfig(stall_wait=1.0))
    core.attach()
    handle = handle_of(core.receive(SessionNew(msgid="new1", call_sid=SID, data=info()), 0.0))
    core.reply(handle, [SAY], 0.0)
    drain(core, 0.0)
    return core, handle


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
