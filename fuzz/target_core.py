"""Fuzz target: the sans-IO call core fed arbitrary message sequences and driving calls.

Where ``tests/test_core_properties.py`` models a *well-behaved* jambonz and checks exact
delivery, this target assumes nothing of the peer: any inbound message of any type (known,
unknown, with random payloads), msgids drawn from a tiny pool so duplicates and clashes are
common, ``session:new``/``session:reconnect`` at any point and any number of times,
``jambonz:error`` reports naming real and made-up msgids, replies to any handle ever given
(with valid, empty, invalid and oversized verbs), commands, time jumps forwards and
backwards-free, attaches and detaches in any order, partial writes, and the end.

The check is what the core promises whatever the peer does:

- ``receive``, ``tick``, ``attach``, ``detach``, ``next_frame``, ``sent`` and ``end`` never
  raise; ``reply`` and ``command`` raise only their documented errors (ReplyError,
  VerbError, MessageTooLargeError, QueueFullError, CallEndedError) and queue nothing then;
- every queued frame is valid wire text that decodes back to the message it carries, within
  the frame limit; acks in the queue name distinct msgids; commands the app queued never
  exceed the bound (frames the core rewrote from acks, or re-sent on jambonz's report, are
  the only commands allowed past it);
- ``tick`` never leaves a deadline in the past; after ``end`` nothing is open, queued or
  sendable, and input is ignored.
"""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import strategies as st

from fuzz._target import Target
from jbtrio._core import CallCore, CoreConfig, Frame, FrameRewritten, Received, Recovered
from jbtrio._errors import (
    CallEndedError,
    MessageTooLargeError,
    QueueFullError,
    ReplyError,
    VerbError,
)
from jbtrio._wire import (
    CallInfo,
    Command,
    ErrorDetails,
    InboundMessage,
    JambonzError,
    SessionNew,
    SessionReconnect,
    UnknownMessage,
    decode,
)
from jbtrio.testing import strategies as jst

MAX_COMMANDS = 4
CONFIG = CoreConfig(max_queued_commands=MAX_COMMANDS, remembered_msgids=8)
_POOL = [f"m{n}" for n in range(6)]
_VERBS: list[list[Any] | None] = [
    None,
    [],
    [{"verb": "say", "text": "hi"}],
    [{"verb": "hangup"}],
    [{"verb": "say", "txet": "typo"}],
    [{"verb": "say", "text": "x" * 30_000}],
    [{"verb": "nonsense"}],
]


def _pooled(message: InboundMessage | UnknownMessage, msgid: str) -> Any:
    if isinstance(message, UnknownMessage):
        return message
    return attrs.evolve(message, msgid=msgid)


@st.composite
def _inbound(draw: st.DrawFn) -> InboundMessage | UnknownMessage:
    kind = draw(st.integers(0, 9))
    msgid = draw(st.sampled_from(_POOL))
    info = CallInfo(call_sid="fuzz-sid")
    if kind == 0:
        return SessionNew(msgid=msgid, call_sid="fuzz-sid", data=info)
    if kind == 1:
        return SessionReconnect(msgid=msgid, call_sid="fuzz-sid", data=info)
    if kind == 2:
        named = draw(st.sampled_from([*_POOL, "nope"]))
        details = f"abandoning msgid {named} since socket is closed"
        return JambonzError(msgid=msgid, data=ErrorDetails(msg="x", details=details))
    message = draw(jst.inbound_messages() | jst.unknown_messages())
    return _pooled(message, msgid) if draw(st.booleans()) else message


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("receive"), _inbound()),
        st.tuples(st.just("reply"), st.integers(0, 7), st.sampled_from(_VERBS)),
        st.tuples(st.just("command"), st.sampled_from(_VERBS)),
        st.tuples(st.just("time"), st.sampled_from([0.0, 0.2, 0.6, 1.0, 4.0, 5.0, 30.0])),
        st.tuples(st.just("write"), st.integers(0, 4)),
        st.tuples(st.just("attach")),
        st.tuples(st.just("detach")),
        st.tuples(st.just("end")),
    ),
    max_size=40,
)


def _check_queue(core: CallCore, rewritten: set[int]) -> None:
    queued = core.queued
    acks = [f.message.msgid for f in queued if f.is_ack]
    assert len(acks) == len(set(acks)), f"two queued acks for one msgid: {acks}"
    plain = [f for f in queued if not f.is_ack and f.seq not in rewritten]
    assert len(plain) <= MAX_COMMANDS, f"{len(plain)} commands queued, bound {MAX_COMMANDS}"
    for frame in queued:
        assert len(frame.text.encode()) <= CONFIG.max_frame_bytes
        assert decode(frame.text) == frame.message, f"frame text does not decode: {frame.text}"


def check(ops: list[tuple[Any, ...]]) -> None:
    """Run ``ops`` against one core; raise AssertionError on any broken promise."""
    core = CallCore(CONFIG)
    now = 0.0
    handles = []
    rewritten: set[int] = set()  # seqs of commands the core made from acks
    for op in ops:
        name = op[0]
        if name == "receive":
            for event in core.receive(op[1], now):
                if isinstance(event, Received) and event.reply is not None:
                    handles.append(event.reply)
                elif isinstance(event, Recovered):
                    rewritten.add(event.frame.seq)
        elif name == "reply" and handles:
            handle = handles[op[1] % len(handles)]
            before = core.queued
            try:
                core.reply(handle, op[2], now)
            except (ReplyError, VerbError, MessageTooLargeError):
                assert core.queued == before, "a refused reply queued something"
        elif name == "command":
            verbs = op[1]
            command = (
                Command(command="tts:flush")
                if verbs is None
                else Command(command="redirect", data=verbs, queue_command=False)
            )
            before = core.queued
            try:
                core.command(command, now)
            except (QueueFullError, CallEndedError, VerbError, MessageTooLargeError):
                assert core.queued == before, "a refused command queued something"
        elif name == "time":
            now += op[1]
            core.tick(now)
            due = core.next_deadline()
            assert due is None or due > now or core.ended, "tick left a deadline in the past"
        elif name == "write":
            for _ in range(op[1]):
                frame: Frame | None = core.next_frame()
                if frame is None:
                    break
                assert core.attached
                core.sent(frame, now)
        elif name == "attach":
            if not core.ended:
                core.attach()
        elif name == "detach":
            for event in core.detach(now):
                if isinstance(event, FrameRewritten) and event.replacement is not None:
                    rewritten.add(event.replacement.seq)
        else:
            core.end(now)
        _check_queue(core, rewritten)
    core.end(now)
    assert core.ended and not core.attached
    assert core.open_replies == () and core.queued == ()
    assert core.next_frame() is None
    assert core.receive(SessionNew(msgid="late", data=CallInfo()), now) == []


def load(ops: list[list[Any]]) -> list[tuple[Any, ...]]:
    """A corpus file (JSON list of ops; ``receive`` carries the wire text) as ops."""
    out: list[tuple[Any, ...]] = []
    for op in ops:
        if op[0] == "receive":
            message = decode(op[1])
            assert isinstance(message, InboundMessage | UnknownMessage)
            out.append(("receive", message))
        else:
            out.append(tuple(op))
    return out


TARGET = Target(
    name="core",
    strategy=_OPS,
    check=check,
    load=load,
    description="CallCore fed arbitrary message/op sequences: only typed errors, sane queue",
)
