"""Fuzz target: the sans-IO call core fed arbitrary message sequences and driving calls.

Where ``tests/test_core_properties.py`` models a *well-behaved* jambonz and checks exact
delivery, this target assumes nothing of the peer: any inbound message of any type (known,
unknown, with random payloads), msgids drawn from a tiny pool so duplicates and clashes are
common, ``session:new``/``session:reconnect`` at any point and any number of times, evidence
about verbs that may or may not be true (``verb:status`` and ``verb:hook`` naming ids the core
gives, ``jambonz:error`` hook failures naming them or not), replies to any handle ever given
(with valid, empty, invalid and oversized verbs) and extensions of queued replies, commands
that replace or append, time jumps forwards, attaches and detaches in any order, partial
writes, and the end.

The check is what the core promises whatever the peer does:

- ``receive``, ``tick``, ``attach``, ``detach``, ``next_frame``, ``sent`` and ``end`` never
  raise; ``reply``, ``extend_reply`` and ``command`` raise only their documented errors
  (ReplyError, VerbError, MessageTooLargeError, QueueFullError, CallEndedError) and queue
  nothing then;
- every queued frame is valid wire text that decodes back to the message it carries, within
  the frame limit; acks in the queue name distinct msgids; commands the app queued never
  exceed the bound (the redirects the core makes — rewritten acks, re-sends, probes — are
  the only commands allowed past it);
- a re-send carries only verbs (by id) the core wrote before, and a report of frames given
  up (``Unconfirmed``) or lost names only frames it wrote; after ``ForceReconnect`` nothing
  more is written until the socket is gone;
- ``tick`` never leaves a deadline in the past; after ``end`` nothing is open, queued or
  sendable, and input is ignored.
"""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import strategies as st

from fuzz._target import Target
from jbtrio._core import (
    CallCore,
    CoreConfig,
    ForceReconnect,
    Frame,
    FrameRewritten,
    Received,
    Resent,
    Unconfirmed,
    verb_body,
)
from jbtrio._errors import (
    CallEndedError,
    MessageTooLargeError,
    QueueFullError,
    ReplyError,
    VerbError,
)
from jbtrio._wire import (
    Ack,
    CallInfo,
    Command,
    ErrorDetails,
    InboundMessage,
    JambonzError,
    SessionNew,
    SessionReconnect,
    UnknownMessage,
    VerbHook,
    VerbStatus,
    VerbStatusEvent,
    VerbStatusEventType,
    decode,
)
from jbtrio.testing import strategies as jst

MAX_COMMANDS = 4
CONFIG = CoreConfig(max_queued_commands=MAX_COMMANDS, remembered_msgids=8)
_POOL = [f"m{n}" for n in range(6)]
#: ids the core gives verbs (``jb<n>``) and probes (``jbp<n>``), and one it never gives
_IDS = [*(f"jb{n}" for n in range(1, 9)), "jbp3", "jbp5", "jbp7", "mine"]
_VERBS: list[list[Any] | None] = [
    None,
    [],
    [{"verb": "say", "text": "hi"}],
    [{"verb": "gather", "input": ["speech"], "actionHook": "/g"}],
    [{"verb": "hangup"}],
    [{"verb": "say", "text": "hi", "id": "mine"}],
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
    kind = draw(st.integers(0, 11))
    msgid = draw(st.sampled_from(_POOL))
    info = CallInfo(call_sid="fuzz-sid")
    some_id = draw(st.sampled_from([*_IDS, None]))
    if kind == 0:
        return SessionNew(msgid=msgid, call_sid="fuzz-sid", data=info)
    if kind == 1:
        return SessionReconnect(msgid=msgid, call_sid="fuzz-sid", data=info)
    if kind == 2:
        # a hook failure as jambonz 0.9.8 reports it: no details, maybe the verb's id
        verb = draw(st.sampled_from(["gather", "say", None]))
        error = ErrorDetails(msg="invalid actionHook response", verb=verb, id=some_id)
        return JambonzError(msgid=msgid, data=error)
    if kind == 3:
        event: VerbStatusEventType = draw(
            st.sampled_from(["starting", "finished", "start-playback"])
        )
        status = VerbStatusEvent(event=event, id=some_id, name="say")
        return VerbStatus(msgid=msgid, call_sid="fuzz-sid", data=status)
    if kind == 4:
        extra = {} if some_id is None else {"verb_id": some_id}
        return VerbHook(
            msgid=msgid,
            call_sid="fuzz-sid",
            hook="/g",
            data=CallInfo(call_sid="fuzz-sid", extra=extra),
        )
    message = draw(jst.inbound_messages() | jst.unknown_messages())
    return _pooled(message, msgid) if draw(st.booleans()) else message


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("receive"), _inbound()),
        st.tuples(st.just("reply"), st.integers(0, 7), st.sampled_from(_VERBS)),
        st.tuples(st.just("extend"), st.integers(0, 7), st.sampled_from(_VERBS)),
        st.tuples(st.just("command"), st.sampled_from(_VERBS), st.booleans()),
        st.tuples(st.just("time"), st.sampled_from([0.0, 0.2, 0.6, 1.0, 4.0, 5.0, 30.0, 60.0])),
        st.tuples(st.just("write"), st.integers(0, 4)),
        st.tuples(st.just("attach")),
        st.tuples(st.just("detach")),
        st.tuples(st.just("end")),
    ),
    max_size=40,
)


def _ids(frame: Frame) -> list[str]:
    message = frame.message
    verbs = message.verbs if isinstance(message, Ack) else message.data
    if not isinstance(verbs, list | tuple):
        return []
    found = (verb_body(v).get("id") for v in verbs if isinstance(v, dict))
    return [i for i in found if isinstance(i, str)]


class _Run:
    """One core and what the check knows of it."""

    def __init__(self) -> None:
        self.core = CallCore(CONFIG)
        self.now = 0.0
        self.handles: list[Any] = []
        self.app_commands: set[int] = set()  # seqs of the commands the app queued
        self.written: set[int] = set()  # seqs of frames written
        self.written_ids: set[str] = set()  # verb ids the core wrote
        self.forcing = False

    def events(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, Received) and event.reply is not None:
                self.handles.append(event.reply)
            elif isinstance(event, Resent):
                assert event.lost and all(f.seq in self.written for f in event.lost)
                if event.frame is not None:
                    ids = _ids(event.frame)
                    assert set(ids) <= self.written_ids, f"re-sent verbs never sent: {ids}"
            elif isinstance(event, Unconfirmed):
                assert all(f.seq in self.written for f in event.frames), event
            elif isinstance(event, ForceReconnect):
                assert self.core.attached
                self.forcing = True
            elif isinstance(event, FrameRewritten):
                assert event.original.is_ack

    def write(self, count: int) -> None:
        for _ in range(count):
            frame = self.core.next_frame()
            if frame is None:
                break
            assert self.core.attached and not self.forcing, "a frame on a socket being closed"
            self.core.sending(frame)
            self.core.sent(frame, self.now)
            self.written.add(frame.seq)
            self.written_ids.update(_ids(frame))

    def check_queue(self) -> None:
        queued = self.core.queued
        acks = [f.message.msgid for f in queued if f.is_ack]
        assert len(acks) == len(set(acks)), f"two queued acks for one msgid: {acks}"
        plain = [f for f in queued if not f.is_ack and f.seq in self.app_commands]
        assert len(plain) <= MAX_COMMANDS, f"{len(plain)} commands queued, bound {MAX_COMMANDS}"
        for frame in queued:
            assert len(frame.text.encode()) <= CONFIG.max_frame_bytes
            assert decode(frame.text) == frame.message, f"frame text does not decode: {frame.text}"
        if self.forcing:
            assert self.core.next_frame() is None


def _command(verbs: list[Any] | None, append: bool) -> Command:
    if verbs is None:
        return Command(command="tts:flush")
    return Command(command="redirect", data=verbs, queue_command=append)


def check(ops: list[tuple[Any, ...]]) -> None:
    """Run ``ops`` against one core; raise AssertionError on any broken promise."""
    run = _Run()
    core = run.core
    for op in ops:
        name = op[0]
        if name == "receive":
            run.events(core.receive(op[1], run.now))
        elif name in ("reply", "extend") and run.handles:
            handle = run.handles[op[1] % len(run.handles)]
            before = core.queued
            try:
                if name == "reply":
                    core.reply(handle, op[2], run.now)
                elif not core.extend_reply(handle, op[2] or [], run.now):
                    assert core.queued == before, "a refused extension changed the queue"
            except (ReplyError, VerbError, MessageTooLargeError):
                assert core.queued == before, "a refused reply queued something"
        elif name == "command":
            before = core.queued
            try:
                frame = core.command(_command(op[1], op[2] if len(op) > 2 else False), run.now)
            except (QueueFullError, CallEndedError, VerbError, MessageTooLargeError):
                assert core.queued == before, "a refused command queued something"
            else:
                run.app_commands.add(frame.seq)
        elif name == "time":
            run.now += op[1]
            run.events(core.tick(run.now))
            due = core.next_deadline()
            assert due is None or due > run.now or core.ended, "tick left a deadline in the past"
        elif name == "write":
            run.write(op[1])
        elif name == "attach":
            if not core.ended:
                core.attach()
        elif name == "detach":
            run.forcing = False
            run.events(core.detach(run.now))
        else:
            run.forcing = False
            core.end(run.now)
        run.check_queue()
    core.end(run.now)
    assert core.ended and not core.attached
    assert core.open_replies == () and core.queued == ()
    assert core.next_frame() is None and core.next_deadline() is None
    assert core.receive(SessionNew(msgid="late", data=CallInfo()), run.now) == []


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
