"""A Hypothesis state machine over the sans-IO call core, with jambonz modelled beside it.

The machine plays three parts at once, each from the documents rather than from the core:

- **jambonz** (``tests/_jambonz_model.py``, after ``docs/jambonz.md``, "Reconnects"): it opens
  every socket, keeps each ack-required message in flight for 5 s from when it wrote it, reads
  the app's frames in order, runs their verbs (``starting``/``finished`` receipts naming each
  verb's id once ``notifyEvents`` is on; a verb with an action hook sends ``verb:hook`` with
  its ``verb_id`` and waits for the answer), and on a drop abandons what is in flight — unless
  the "initial msgid" is set (``session:new`` written, no ack read since): then it abandons
  nothing and re-keys ``session:new`` to the next ``session:reconnect``, after whose ack it
  holds every message back until a normal reconnect is acked (the re-key stall). An abandoned
  gather hook is reported after the reconnect by ``jambonz:error`` with the gather's id and
  no ``details``; an abandoned ``session:reconnect`` makes it hang up. What it produces while
  it cannot write is queued and sent after the reconnect's ack (the message that asked for
  the connection last); what it wrote into a dying socket is lost. It reconnects after every
  close but a normal one, at most 5 sockets per call.
- **the runtime**: a writer that sends what :meth:`CallCore.next_frame` allows; a reader that
  hands messages on (in order for the evidence about verbs — ``verb:status``, ``verb:hook``,
  ``jambonz:error`` — others may overtake each other; deliveries may repeat); the ack tracker
  that ticks the core at every deadline it announces; and on :class:`ForceReconnect` a close
  with 1011, after which jambonz reads everything the writer sent before the close frame.
- **the app**: replies to any handle it was given (in time, late, twice; with valid, empty
  or invalid verbs), extends a queued reply, and queues commands (``redirect`` replacing or
  appending, ``tts:flush``) at any moment.

A drop takes the frames on the wire with it or not, at any point, at most twice per call
(the forced reconnects come on top); the reconnect comes at once, late, or never.

Invariants:

1. *Acks.* Every ack jambonz reads names a msgid it has in flight (never one it abandoned or
   moved away by a re-key, timed out or already had acked), and arrives before that msgid's
   deadline; ``session:new`` is never acked without verbs. No in-flight msgid passes its
   deadline while a socket is attached. No command reaches jambonz before its session
   exists or in the same read as the ``session:new`` ack.
2. *Exactly once, in order, or told.* No verb reaches jambonz's stack twice (a re-send of a
   frame jambonz had read is a duplicate, caught when it is re-sent); the app's verb frames
   reach it in the order the app made them (the ``session:new`` reply first). When the call
   has settled — reconnected, everything written and read, every verb run, every doubt
   decided — every verb frame of the app for the call's stack was read by jambonz, or was
   rewritten away for a documented reason, or was made moot by a later frame that replaced
   the stack and that jambonz read (or that the app was told about: whatever it does next
   supersedes both), or was reported (:class:`Unconfirmed`, ``Ended.unsent``), or the call
   ended (the caller hung up; jambonz hangs up when a ``session:reconnect`` ack dies, when a
   hangup verb runs, or when ``session:new`` was never acked in time). A call that cannot settle
   (jambonz stalled for good) fails. A queued reply for a msgid a drop abandoned is
   rewritten in place into a ``redirect`` with the same verbs, or dropped precisely when it
   carries no verbs, answers a ``dial:confirm`` / ``session:adulting``, or repeats the
   ``session:new`` verbs for a reconnect now gone; a re-sent frame carries the lost frames'
   verbs, same ids, in order.
3. *Nothing vanishes.* Every frame the app produced is queued, on the wire, read, lost on
   the wire, rewritten away, or reported unsent at the end.
4. *Bounds.* Commands the app queued never exceed ``max_queued_commands`` (the redirects the
   core makes — rewritten acks, re-sends, probes — are never refused) and
   ``can_queue_command`` agrees with the queue; queued acks name distinct msgids, all in
   flight at jambonz (or, while detached, only the ``session:new`` reply, to be re-keyed).
5. *End.* After :meth:`CallCore.end`, no handle is open, nothing is queued or sendable,
   every app frame not delivered was reported in ``Ended.unsent``, the core ignores input, and
   ``next_deadline`` is ``None`` (``test_no_deadline_survives_the_end``).

Not modelled: a core that first hears of the call through ``session:reconnect`` (another
process served it) and then gets the late ``session:new`` (see
``test_the_twin_start_reply_is_not_replayed_as_a_redirect`` and ``fuzz/target_core.py``);
jambonz's on-demand reconnects past its 5 sockets (the drop budget never reaches them); the
evidence policy turned off (``CoreConfig.receipts=False``: lost commands then stay lost).
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
import orjson
from _jambonz_model import (
    ACK_TIMEOUT,
    HOOK_FAILED,
    SID,
    Jambonz,
    Message,
    Other,
    ids_of,
    info,
    is_evidence,
)
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from jbtrio import QueueFullError, ReplyError, VerbError
from jbtrio._core import (
    Abandoned,
    AutoAcked,
    CallCore,
    Confirmed,
    CoreConfig,
    CoreEvent,
    Duplicate,
    Ended,
    ForceReconnect,
    Frame,
    FrameRewritten,
    Received,
    Refused,
    ReplyHandle,
    Resent,
    Resumed,
    Unconfirmed,
)
from jbtrio._errors import CallEndedError
from jbtrio._wire import (
    Ack,
    CallStatus,
    Command,
    DialConfirm,
    JambonzError,
    SessionAdulting,
    SessionNew,
    SessionReconnect,
    VerbHook,
    VerbStatus,
)

MAX_COMMANDS = 6
MAX_DROPS = 2
CONFIG = CoreConfig(
    ack_timeout=ACK_TIMEOUT,
    ack_margin=1.0,
    max_queued_commands=MAX_COMMANDS,
    session_start_grace=0.5,
    stall_wait=1.0,
    doubt_timeout=30.0,
)
#: Rounds of "everyone does what is pending" before a call counts as stuck.
SETTLE_ROUNDS = 80

SAY = {"verb": "say", "text": "hi"}
PAUSE = {"verb": "pause", "length": 2}
GATHER = {"verb": "gather", "input": ["speech"], "actionHook": "/g"}
DIAL = {"verb": "dial", "target": [{"type": "phone", "number": "+15550003"}], "actionHook": "/d"}
HANGUP = {"verb": "hangup"}
BAD = {"verb": "say", "text": 5}  # invalid for every target jambonz
REPLIES: list[list[dict[str, Any]] | None] = [
    None,
    [],
    [SAY],
    [SAY, GATHER],
    [GATHER],
    [PAUSE, DIAL],
    [SAY, HANGUP],
    [BAD],
]
#: (verbs, queueCommand) of a redirect; ``None`` verbs: a tts:flush
COMMANDS: list[tuple[list[dict[str, Any]] | None, bool]] = [
    ([SAY, GATHER], False),
    ([PAUSE], False),
    ([SAY], True),
    ([GATHER], True),
    (None, False),
    ([BAD], False),
]
OTHERS: list[Other] = [
    "call:status",
    "verb:status",
    "jambonz:error",
    "session:redirect",
    "dial:confirm",
    "session:adulting",
    "agent:future",
    "session:new",
]


def _plain(verbs: Any) -> list[dict[str, Any]]:
    """Wire verbs as the app gave them: without the core's ids and ``notifyEvents`` config."""
    out: list[dict[str, Any]] = []
    if not isinstance(verbs, list | tuple):
        return out  # a command whose data is no verb list (the core's tts:tokens echo)
    for verb in verbs:
        if verb.get("verb") == "config" and verb.get("notifyEvents") is True:
            continue
        out.append({k: v for k, v in verb.items() if k != "id"})
    return out


@attrs.define(eq=False)
class Item:
    """One frame the app produced, and what became of it.

    ``state``: ``queued`` (in the core's queue as ``frame``), ``wire`` (written, not read),
    ``read``, ``lost`` (died on the wire), ``rewritten-away`` (dropped by the core for a
    documented reason), ``unsent`` (reported at the end). ``ids``: the ids of its verbs when
    they are for the call's stack (the invariant's subject); ``runs``: how many times they
    entered jambonz's stack.
    """

    index: int
    kind: Literal["reply", "command"]
    handle: ReplyHandle | None
    frame: Frame
    ids: tuple[str, ...]
    replaces: bool
    is_start: bool = False
    state: str = "queued"
    runs: int = 0
    reported: bool = False


@attrs.define(repr=False)
class AppHandle:
    """What the app (and the model) know of one reply handle."""

    handle: ReplyHandle
    status: Literal["open", "replied", "auto", "abandoned", "ended"]
    reply_by: float
    is_start: bool

    def __repr__(self) -> str:
        return f"<AppHandle {self.handle.type} {self.handle.msgid} {self.status}>"


class CoreMachine(RuleBasedStateMachine):
    """jambonz, the runtime and the app around one :class:`CallCore`; see the module doc."""

    def __init__(self) -> None:
        super().__init__()
        self.core = CallCore(CONFIG)
        self.j = Jambonz()
        self.now = 0.0
        self.started = False
        self.ended = False
        self.end_reason = ""
        self.drops = 0
        self.forced = 0
        self.delivered: list[Message] = []
        self.handles: list[AppHandle] = []
        self.items: list[Item] = []
        self.carried: dict[int, list[Item]] = {}  # frame seq -> the app items it carries
        self.owner: dict[str, Item] = {}  # verb id -> the app item that sent it
        self.app_commands_sent: set[int] = set()  # seqs of the commands the app queued
        self.last_ran = -1
        self.start_written = False

    # ------------------------------------------------------------------ helpers

    @property
    def attached(self) -> bool:
        return self.core.attached

    def _handle(self, handle: ReplyHandle) -> AppHandle:
        return next(h for h in self.handles if h.handle is handle)

    def _new_item(
        self, kind: Literal["reply", "command"], handle: ReplyHandle | None, frame: Frame
    ) -> Item:
        message = frame.message
        verbs = message.verbs if isinstance(message, Ack) else message.data
        ids = ids_of(verbs)
        replaces = bool(ids) and (
            isinstance(message, Ack) or not (isinstance(message, Command) and message.queue_command)
        )
        item = Item(len(self.items), kind, handle, frame, ids, replaces)
        self.items.append(item)
        self.carried[frame.seq] = [item]
        for verb_id in ids:
            assert verb_id not in self.owner, f"verb id {verb_id} given twice"
            self.owner[verb_id] = item
        return item

    def _take_events(self, events: list[CoreEvent]) -> None:
        """Apply what the core reports to the app's and the model's view."""
        for event in events:
            if isinstance(event, Received) and event.reply is not None:
                is_start = not self.handles
                self.handles.append(AppHandle(event.reply, "open", event.reply.reply_by, is_start))
            elif isinstance(event, AutoAcked):
                self._handle(event.handle).status = "auto"
            elif isinstance(event, Abandoned):
                known = self._handle(event.handle)
                assert not known.is_start, "an unacked session:new must be re-keyed, not abandoned"
                assert known.status == "open"
                known.status = "abandoned"
            elif isinstance(event, FrameRewritten):
                self._rewritten(event)
            elif isinstance(event, Resent):
                self._resent(event)
            elif isinstance(event, Unconfirmed):
                for frame in event.frames:
                    for item in self.carried.get(frame.seq, []):
                        item.reported = True
            elif isinstance(event, ForceReconnect):
                self._forced_close()
            elif isinstance(event, Refused):
                assert isinstance(event.message, SessionNew), event
            else:
                assert isinstance(event, Received | Confirmed | Resumed | Duplicate), event

    def _rewritten(self, event: FrameRewritten) -> None:
        original = event.original
        handle = original.handle
        assert isinstance(original.message, Ack)
        if handle is None:
            # one of the core's own acks (to a reconnect or an unknown type): dropped on a
            # detach, since jambonz abandoned its msgid and will send a new reconnect
            assert event.replacement is None
            return
        assert (
            handle.message.msgid not in self.j.in_flight or handle.ack_msgid not in self.j.in_flight
        )
        verbs = original.message.verbs
        if event.replacement is None:
            # Dropped: only an ack without verbs, one whose verbs cannot apply any more, the
            # reply to a reconnect that started the call (its verbs travel with session:new),
            # or the core's repeat of the session:new verbs for a reconnect now gone.
            repeat = original.message.msgid != handle.ack_msgid
            assert (
                not verbs
                or repeat
                or isinstance(handle.message, DialConfirm | SessionAdulting | SessionReconnect)
            ), event
        else:
            new = event.replacement
            assert not isinstance(handle.message, DialConfirm | SessionAdulting)
            assert new.seq == original.seq, "a rewritten ack keeps its place in the queue"
            assert isinstance(new.message, Command) and new.message.command == "redirect"
            assert tuple(new.message.data) == verbs, "the same verbs, the same ids"
            assert new.message.queue_command is False
        items = self.carried.get(original.seq, [])
        for item in items:
            assert item.state == "queued" and item.frame is original
            if event.replacement is None:
                item.state = "rewritten-away"
            else:
                item.frame = event.replacement

    def _resent(self, event: Resent) -> None:
        frame = event.frame
        assert event.lost, event
        if frame is None:
            return
        assert isinstance(frame.message, Command) and frame.message.command == "redirect"
        ids = ids_of(frame.message.data)
        owners: list[Item] = []
        for verb_id in ids:
            item = self.owner.get(verb_id)
            assert item is not None, f"re-sent verb {verb_id} the app never sent"
            if item not in owners:
                owners.append(item)
        for item in owners:
            assert item.runs == 0, (
                f"app frame #{item.index} re-sent ({event.evidence}), but jambonz had run it: "
                "a duplicate"
            )
        # the lost frames' verbs, whole, in the order the app made them
        assert owners == sorted(owners, key=lambda i: i.index)
        assert ids == tuple(i for item in owners for i in item.ids), (ids, event)
        self.carried[frame.seq] = owners
        for item in owners:
            item.frame = frame
            item.state = "queued"

    def _receive(self, message: Message) -> list[CoreEvent]:
        events = self.core.receive(message, self.now)
        self._take_events(events)
        return events

    def _deliver_all(self) -> None:
        """The reader hands on everything jambonz wrote, in order."""
        while self.j.to_app and self.attached and not self.ended:
            message = self.j.to_app.pop(0)
            self.delivered.append(message)
            self._receive(message)

    # ------------------------------------------------------------------ jambonz side

    def _peer_read(self, count: int | None = None) -> None:
        """jambonz reads frames on the wire, in order (all of them by default)."""
        reads = self.j.read(len(self.j.wire) if count is None else count, self.now)
        for read in reads:
            for item in self.carried.get(read.frame.seq, []):
                assert item.frame is read.frame and item.state == "wire"
                item.state = "read"
            owners: list[Item] = []
            for verb_id in read.applied:
                owner = self.owner.get(verb_id)
                if owner is not None and owner not in owners:
                    owners.append(owner)
            for owner in owners:
                self._ran(owner)
        self._after_jambonz()

    def _ran(self, item: Item) -> None:
        item.runs += 1
        assert item.runs == 1, f"app frame #{item.index} reached jambonz twice"
        if item.is_start:
            return
        assert item.index > self.last_ran, (
            f"app frame #{item.index} reached jambonz after #{self.last_ran}"
        )
        self.last_ran = item.index

    def _after_jambonz(self) -> None:
        if self.j.hung_up is not None and not self.ended:
            self._end(f"jambonz hung up: {self.j.hung_up}")

    def _check_jambonz_timers(self, until: float) -> None:
        for msgid, request in self.j.overdue(until):
            if self.ended:
                return
            assert not self.j.socket, (
                f"{request.kind} {msgid} missed its deadline with a socket attached"
            )
            # Only an unacked session:new survives a drop: jambonz fails the call.
            assert request.kind == "session:new", (msgid, request.kind)
            self._end("session:new was never acked in time")

    @initialize(
        start=st.sampled_from(["running", "running", "read", "written", "silent"]),
        verbs=st.sampled_from([[SAY, GATHER], [GATHER]]),
    )
    def session_new(self, start: str, verbs: list[dict[str, Any]]) -> None:
        """jambonz opens the call. ``start``: the app answers at once, and the call is
        ``running`` (jambonz read the answer and the app heard from it: the usual start,
        which gets most runs to the interesting part sooner), or jambonz ``read`` the answer
        but the app has not heard from it yet, or the answer is ``written`` only, or the app
        is ``silent`` for now."""
        self.started = True
        self.core.attach()
        message = self.j.open_call(self.now)
        self.delivered.append(message)
        [event] = self._receive(message)
        assert isinstance(event, Received) and event.reply is not None
        if start != "silent":
            self._reply(self.handles[0], verbs, write_now=True)
        if start == "running":
            self._drain()
        elif start == "read":
            self._peer_read()

    @rule(at_once=st.booleans())
    @precondition(
        lambda self: not self.ended and self.j.current is not None and self.j.current.hook is None
    )
    def verb_ends(self, at_once: bool) -> None:
        """The verb jambonz runs comes to its end (a verb with an action hook sends it);
        ``at_once``: the reader hands on what jambonz wrote."""
        self.j.verb_ends(self.now)
        self._after_jambonz()
        if at_once:
            self._deliver_all()

    @rule(verbs=st.sampled_from([[SAY], [SAY, GATHER], [GATHER], None]))
    @precondition(
        lambda self: (
            self.attached
            and not self.ended
            and self.j.current is not None
            and "actionHook" in self.j.current.body
            and self.j.current.hook is None
        )
    )
    def hook_round_trip(self, verbs: list[dict[str, Any]] | None) -> None:
        """The running verb's hook arrives, the app answers it at once and the writer sends
        the ack, which jambonz has not read yet: common steps in one, so drops often catch an
        ack on the wire (the race the core's receipts exist for)."""
        self.j.verb_ends(self.now)
        self._deliver_all()
        if self.handles and self.handles[-1].status == "open":
            self._reply(self.handles[-1], verbs, write_now=True)

    @rule(kind=st.sampled_from(OTHERS), at_once=st.booleans())
    @precondition(lambda self: self.started and not self.ended)
    def jambonz_sends(self, kind: Other, at_once: bool) -> None:
        """jambonz sends a message no verb of the app asked for; ``at_once``: the reader
        hands it on now, else it waits (and may be overtaken, or die with the socket)."""
        self.j.produce(kind, self.now)
        if at_once:
            self._deliver_all()

    @rule(data=st.data())
    @precondition(lambda self: bool(self.j.to_app) and self.attached and not self.ended)
    def deliver(self, data: st.DataObject) -> None:
        """One written message reaches the app; not always the oldest (evidence keeps its
        order: one socket keeps it)."""
        evidence = [i for i, m in enumerate(self.j.to_app) if is_evidence(m)]
        choices = [i for i, m in enumerate(self.j.to_app) if not is_evidence(m) or i == evidence[0]]
        index = data.draw(st.sampled_from(choices), label="index")
        message = self.j.to_app.pop(index)
        self.delivered.append(message)
        events = self._receive(message)
        assert not any(isinstance(e, Duplicate) for e in events)

    @rule(data=st.data(), roll=st.integers(0, 3))
    @precondition(lambda self: bool(self.delivered) and self.attached and not self.ended)
    def duplicate(self, data: st.DataObject, roll: int) -> None:
        """A message is delivered a second time: the core drops it (one draw in four)."""
        if roll:
            return
        message = self.delivered[
            data.draw(st.integers(0, len(self.delivered) - 1), label="message")
        ]
        events = self._receive(message)
        assert [type(e) for e in events] == [Duplicate]

    @rule(count=st.integers(1, 3))
    @precondition(lambda self: bool(self.j.wire) and not self.ended)
    def jambonz_reads(self, count: int) -> None:
        """jambonz's loop reads some of what is on the wire."""
        self._peer_read(count)

    def _socket_dies(self, *, lossy: bool) -> None:
        if not lossy:
            self._peer_read()  # jambonz read everything the app wrote before the end
            if self.ended:
                return
        lost = self.j.drop(self.now)
        for frame in lost:
            for item in self.carried.get(frame.seq, []):
                assert item.frame is frame and item.state == "wire"
                item.state = "lost"
        self._take_events(self.core.detach(self.now))
        assert not self.core.attached
        if self.j.hung_up is not None:
            self._end(f"jambonz hung up: {self.j.hung_up}")
        elif self.j.gone:
            self._end("jambonz would not reconnect")

    @rule(
        lossy=st.booleans(),
        lead=st.sampled_from(["now", "command", "ran", "later"]),
        command=st.sampled_from(COMMANDS[:4]),
    )
    @precondition(lambda self: self.attached and not self.ended and self.drops < MAX_DROPS)
    def drop(self, lossy: bool, lead: str, command: tuple[list[dict[str, Any]], bool]) -> None:
        """The socket dies; a lossy drop takes the frames still on the wire with it, and
        every drop what jambonz wrote that the app has not read. ``lead``: what happens just
        before — nothing, the app sends a redirect, jambonz reads all and its verb ends
        (receipts unread), or 0.6 s pass (past the command gate's grace, within
        ``stall_wait``) and the app sends a redirect: the moments drops are most likely to
        leave something in doubt."""
        if lead == "later":
            self._advance(0.6)
        if lead in ("command", "later") and self.attached and not self.ended:
            self._command(command)
            while self._write_one():
                pass
        elif lead == "ran":
            self._peer_read()
            if not self.ended:
                self.j.verb_ends(self.now)
                self._after_jambonz()
        if not self.attached or self.ended:
            return  # time ran out first: a deadline ended the call, or a forced reconnect
        self.drops += 1
        self._socket_dies(lossy=lossy)

    def _forced_close(self) -> None:
        """The runtime closes the socket with 1011 (ForceReconnect): jambonz reads what was
        written before the close frame; nothing more is written."""
        assert self.attached
        assert self.core.next_frame() is None, "a frame written on a socket being closed"
        self.forced += 1
        assert self.forced <= CONFIG.max_stall_recoveries
        self._socket_dies(lossy=False)

    def _reconnect(self) -> None:
        message, rekeyed = self.j.reconnect(self.now)
        self.core.attach()
        self.delivered.append(message)
        events = self._receive(message)
        [resumed] = [e for e in events if isinstance(e, Resumed)]
        # The core cannot know whether a written session:new ack was read: "pending" means
        # the reply never left, so it now travels as this reconnect's ack.
        assert resumed.session_new_pending == (not self.start_written)
        if resumed.session_new_pending:
            assert rekeyed, "jambonz re-keys an unacked session:new; it was acked"
        start = next((i for i in self.items if i.is_start), None)
        if start is not None and start.state == "queued":
            # Re-keyed in place: same position, same verbs, the reconnect's msgid.
            [frame] = [f for f in self.core.queued if f.seq == start.frame.seq]
            assert isinstance(frame.message, Ack) and frame.message.msgid == message.msgid
            assert isinstance(start.frame.message, Ack)
            assert frame.message.verbs == start.frame.message.verbs
            start.frame = frame

    @rule(prompt=st.booleans())
    @precondition(
        lambda self: self.started and not self.attached and not self.ended and not self.j.gone
    )
    def reconnect(self, prompt: bool) -> None:
        """jambonz opens a new socket and sends session:reconnect first; ``prompt``: the
        writer answers it and jambonz reads the answer at once (what usually happens)."""
        self._reconnect()
        if prompt:
            self._drain()

    # ------------------------------------------------------------------ runtime side

    def _write_one(self) -> bool:
        frame = self.core.next_frame()
        if frame is None:
            return False
        assert self.attached and self.j.socket
        self.core.sending(frame)
        self.j.wire.append(frame)
        if frame.handle is not None and self._handle(frame.handle).is_start:
            self.start_written = True
        for item in self.carried.get(frame.seq, []):
            assert item.frame is frame and item.state == "queued"
            item.state = "wire"
        self.core.sent(frame, self.now)
        return True

    @rule(count=st.integers(1, 3))
    @precondition(lambda self: self.attached and not self.ended)
    def writer(self, count: int) -> None:
        """The writer sends up to ``count`` frames the core lets out."""
        for _ in range(count):
            if not self._write_one():
                break

    def _drain(self) -> None:
        """Writer, jambonz and reader do all they can at this instant."""
        for _ in range(100):
            if not self.attached or self.ended:
                return
            wrote = False
            while self._write_one():
                wrote = True
            read = bool(self.j.wire)
            self._peer_read()
            heard = bool(self.j.to_app)
            self._deliver_all()
            if not (wrote or read or heard):
                return
        raise AssertionError("the writer and jambonz kept talking")

    @rule(dt=st.sampled_from([0.1, 0.3, 0.6, 1.5, 3.9, 4.5, 6.0, 40.0]))
    @precondition(lambda self: self.started)
    def advance(self, dt: float) -> None:
        """Virtual time passes: the writer, jambonz and the reader keep up, the ack tracker
        ticks at every deadline the core announces, and jambonz's timers fire."""
        self._advance(dt)

    def _advance(self, dt: float) -> None:
        target = self.now + dt
        for _ in range(1000):
            if self.ended:
                break
            self._drain()
            due = self.core.next_deadline()
            if due is None or due > target:
                break
            self.now = max(self.now, due)
            self._check_jambonz_timers(self.now)
            if self.ended:
                break
            self._take_events(self.core.tick(self.now))
            after = self.core.next_deadline()
            assert after is None or after > self.now, "tick left a deadline in the past"
        else:
            raise AssertionError("the core kept announcing deadlines")
        self._drain()
        self._check_jambonz_timers(target)
        self.now = target

    # ------------------------------------------------------------------ app side

    @rule(data=st.data(), verbs=st.sampled_from(REPLIES), write_now=st.booleans())
    @precondition(lambda self: bool(self.handles))
    def app_replies(
        self, data: st.DataObject, verbs: list[dict[str, Any]] | None, write_now: bool
    ) -> None:
        """The app answers a handle: maybe in time, maybe late, maybe a second time;
        ``write_now``: the writer then sends what it can (without jambonz reading it yet)."""
        # Mostly the newest handle (the common case, and the one drops race against);
        # otherwise any handle ever given: answered, abandoned, auto-acked or ended.
        newest = len(self.handles) - 1
        pick = data.draw(st.integers(0, 2 * newest + 1), label="handle")
        self._reply(self.handles[min(pick, newest)], verbs, write_now)

    def _reply(self, known: AppHandle, verbs: list[dict[str, Any]] | None, write_now: bool) -> None:
        handle = known.handle
        late = self.now >= known.reply_by
        if known.status == "open" and late:
            known.status = "auto"  # reply() runs the deadline first
        queued_before = len(self.core.queued)
        expect_ok = known.status == "open"
        try:
            self.core.reply(handle, verbs, self.now)
        except ReplyError as exc:
            assert not expect_ok, f"reply refused: {exc}"
            assert exc.state == {"auto": "auto_acked"}.get(known.status, known.status)
            return
        except VerbError:
            assert expect_ok
            assert verbs == [BAD] or (known.is_start and not verbs)
            assert len(self.core.queued) == queued_before, "a refused reply queued something"
            return
        assert expect_ok, f"reply to a {known.status} handle accepted"
        assert verbs != [BAD] and not (known.is_start and not verbs)
        known.status = "replied"
        frame = next(f for f in reversed(self.core.queued) if f.handle is handle)
        assert isinstance(frame.message, Ack)
        assert _plain(frame.message.verbs) == (verbs or [])
        item = self._new_item("reply", handle, frame)
        item.is_start = known.is_start
        if write_now and self.attached:
            while self._write_one():
                pass

    @rule(verbs=st.sampled_from([[SAY], [GATHER], [PAUSE]]))
    @precondition(
        lambda self: bool(self.items) and self.items[-1].kind == "reply" and not self.ended
    )
    def app_extends(self, verbs: list[dict[str, Any]]) -> None:
        """The app adds verbs to its last reply while it is still queued (a late ``yield``)."""
        item = self.items[-1]
        assert item.handle is not None
        tail = self.core.queued[-1] if self.core.queued else None
        if not self.core.extend_reply(item.handle, verbs, self.now):
            return
        assert tail is not None and tail is item.frame and item.state == "queued"
        [frame] = [f for f in self.core.queued if f.seq == tail.seq]
        assert isinstance(frame.message, Ack) and isinstance(tail.message, Ack)
        assert _plain(frame.message.verbs) == _plain(tail.message.verbs) + verbs
        ids = ids_of(frame.message.verbs)
        assert ids[: len(item.ids)] == item.ids
        for verb_id in ids[len(item.ids) :]:
            self.owner[verb_id] = item
        item.ids = ids
        item.frame = frame
        self.carried[frame.seq] = [item]

    @rule(command=st.sampled_from(COMMANDS))
    def app_commands(self, command: tuple[list[dict[str, Any]] | None, bool]) -> None:
        """The app queues a command (a redirect that replaces or appends, or a tts:flush)."""
        self._command(command)

    @rule(command=st.sampled_from(COMMANDS[:4]), read=st.booleans(), run=st.booleans())
    @precondition(lambda self: self.attached and not self.ended)
    def command_round_trip(
        self, command: tuple[list[dict[str, Any]] | None, bool], read: bool, run: bool
    ) -> None:
        """The app queues a redirect and the writer sends what it can; ``read``: jambonz
        reads it; ``run``: and the verb it runs comes to its end — common steps in one, so
        drops catch redirects on the wire, read without a receipt yet, or run to the end
        with their receipts unread."""
        self._command(command)
        while self._write_one():
            pass
        if read:
            self._peer_read()
        if run and not self.ended:
            self.j.verb_ends(self.now)
            self._after_jambonz()

    def _command(self, command: tuple[list[dict[str, Any]] | None, bool]) -> None:
        verbs, append = command
        message = (
            Command(command="tts:flush")
            if verbs is None
            else Command(command="redirect", data=verbs, queue_command=append)
        )
        pending = sum(1 for f in self.core.queued if not f.is_ack)
        try:
            frame = self.core.command(message, self.now)
        except CallEndedError:
            assert self.ended
            return
        except QueueFullError:
            assert pending >= MAX_COMMANDS
            return
        except VerbError:
            assert verbs == [BAD]
            return
        assert not self.ended and pending < MAX_COMMANDS and verbs != [BAD]
        if verbs is not None:
            assert isinstance(frame.message, Command)
            assert _plain(frame.message.data) == verbs
        self.app_commands_sent.add(frame.seq)
        self._new_item("command", None, frame)

    # ------------------------------------------------------------------ settling

    def _quiet(self) -> bool:
        j = self.j
        return (
            self.attached
            and not self.core.queued
            and not j.wire
            and not j.to_app
            and not j.backlog
            and not j.stalled
            and j.reconnect_msgid is None
            and not j.in_flight
            and j.idle
            and self.core.next_deadline() is None
        )

    def _settle(self) -> None:
        """Let the call come to rest: jambonz reconnects, the app answers every open handle
        (without verbs), jambonz runs every verb to its end, doubts are decided (time runs
        to every deadline) — then check that no verb of the app was silently lost."""
        for _ in range(SETTLE_ROUNDS):
            if self.ended:
                return
            if not self.attached:
                assert not self.j.gone
                self._reconnect()
            self._drain()
            for known in self.handles:
                if known.status == "open" and not self.ended:
                    self._reply(known, [SAY] if known.is_start else None, write_now=False)
            self._drain()
            if self.ended:
                return
            if self.j.verb_ends(self.now):
                self._after_jambonz()
                continue
            if self._quiet():
                break
            due = self.core.next_deadline()
            self._advance(max(0.1, due - self.now) if due is not None else 1.0)
        else:
            raise AssertionError(
                f"the call never settled: jambonz stalled={self.j.stalled} "
                f"backlog={self.j.backlog} in_flight={list(self.j.in_flight)} "
                f"queued={self.core.queued}"
            )
        self._check_fates()

    def _check_fates(self) -> None:
        for item in self.items:
            if not item.ids or item.runs or item.reported or item.state == "rewritten-away":
                continue
            # superseded by a later frame that replaced the stack and that jambonz ran, or
            # that the app was told about (whatever it does next supersedes this one too)
            moot = any(
                later.replaces and later.index > item.index and (later.runs or later.reported)
                for later in self.items
            )
            assert moot, (
                f"app frame #{item.index} ({item.kind}, {item.state}) was silently lost: "
                f"never run, not reported, not made moot"
            )

    @rule(roll=st.integers(0, 3))
    @precondition(lambda self: self.started and not self.ended)
    def settle(self, roll: int) -> None:
        """The call comes to rest and is checked (one draw in four; the end of every run
        does the same)."""
        if not roll:
            self._settle()

    def teardown(self) -> None:
        if self.started and not self.ended:
            self._settle()

    # ------------------------------------------------------------------ end

    def _end(self, reason: str) -> None:
        events = self.core.end(self.now)
        [ended] = events
        assert isinstance(ended, Ended)
        self.ended = True
        self.end_reason = reason
        unsent = {f.seq for f in ended.unsent}
        for item in self.items:
            if item.state == "queued":
                assert item.frame.seq in unsent, f"app frame #{item.index} vanished at the end"
                item.state = "unsent"
        for known in self.handles:
            if known.status == "open":
                known.status = "ended"

    @rule(roll=st.integers(0, 15))
    @precondition(lambda self: self.started and not self.ended)
    def call_ends(self, roll: int) -> None:
        """The call is over (the caller hung up, or the runtime gave up on a reconnect); only
        one draw in sixteen ends it, so most runs get deep before the end."""
        if roll:
            return
        self._peer_read()
        if not self.ended:
            self._end("the call ended")

    # ------------------------------------------------------------------ invariants

    @invariant()
    def queue_is_bounded_and_consistent(self) -> None:
        queued = self.core.queued
        commands = [f for f in queued if not f.is_ack]
        # The bound applies to what the app queues; the redirects the core makes are never
        # refused (acks never are).
        app_commands = [f for f in commands if f.seq in self.app_commands_sent]
        assert len(app_commands) <= MAX_COMMANDS
        assert self.core.can_queue_command == (len(commands) < MAX_COMMANDS)
        ack_ids = [f.message.msgid for f in queued if f.is_ack]
        assert len(ack_ids) == len(set(ack_ids)), f"two queued acks for one msgid: {ack_ids}"
        for frame in queued:
            if not isinstance(frame.message, Ack):
                continue
            msgid = frame.message.msgid
            if self.attached:
                assert msgid in self.j.in_flight, f"queued ack for {msgid}, not in flight"
            else:
                assert frame.handle is not None and self._handle(frame.handle).is_start, (
                    f"a queued ack for {msgid} survived the drop"
                )

    @invariant()
    def nothing_vanishes(self) -> None:
        queued = {f.seq: f for f in self.core.queued}
        on_wire = {f.seq for f in self.j.wire}
        for item in self.items:
            if item.state == "queued":
                assert queued.get(item.frame.seq) is item.frame, f"app frame #{item.index} lost"
            elif item.state == "wire":
                assert item.frame.seq in on_wire
            assert item.runs <= 1

    @invariant()
    def no_deadline_passed_while_attached(self) -> None:
        if self.j.socket and not self.ended:
            for msgid, request in self.j.in_flight.items():
                assert request.deadline is not None and self.now < request.deadline, (
                    f"{msgid} is past its deadline"
                )

    @invariant()
    def nothing_survives_the_end(self) -> None:
        if not self.ended:
            return
        core = self.core
        assert core.ended and not core.attached
        assert core.open_replies == ()
        assert core.queued == ()
        assert core.next_frame() is None
        assert core.next_deadline() is None
        assert core.receive(CallStatus(msgid="after-end", call_sid=SID), self.now) == []


CoreMachine.TestCase.settings = settings(
    max_examples=settings().max_examples,
    stateful_step_count=50,
)
test_core_machine = CoreMachine.TestCase


# ---------------------------------------------------------------------- examples


def _drain(core: CallCore, now: float) -> list[dict[str, Any]]:
    sent = []
    while (frame := core.next_frame()) is not None:
        sent.append(orjson.loads(frame.text))
        core.sent(frame, now)
    return sent


def test_no_deadline_survives_the_end() -> None:
    core = CallCore(CONFIG)
    core.attach()
    [event] = core.receive(SessionNew(msgid="n1", call_sid=SID, data=info()), 0.0)
    assert isinstance(event, Received) and event.reply is not None
    core.reply(event.reply, [SAY], 0.0)
    _drain(core, 0.0)
    core.end(0.1)
    assert core.next_deadline() is None


def test_a_stale_core_ack_goes_out_after_a_second_drop() -> None:
    core = CallCore(CONFIG)
    core.attach()
    [event] = core.receive(SessionNew(msgid="n1", call_sid=SID, data=info()), 0.0)
    assert isinstance(event, Received) and event.reply is not None
    core.reply(event.reply, [SAY], 0.0)
    _drain(core, 0.0)
    core.receive(CallStatus(msgid="s1", call_sid=SID, data=info()), 0.1)  # session confirmed
    core.detach(1.0)
    core.attach()
    core.receive(SessionReconnect(msgid="rc1", call_sid=SID, data=info()), 1.5)
    core.detach(1.6)  # before the writer sent the rc1 ack: jambonz abandons rc1
    core.attach()
    core.receive(SessionReconnect(msgid="rc2", call_sid=SID, data=info()), 2.0)
    assert _drain(core, 2.0) == [{"type": "ack", "msgid": "rc2"}]


def test_the_twin_start_reply_is_not_replayed_as_a_redirect() -> None:
    core = CallCore(CONFIG)
    core.attach()
    events = core.receive(SessionReconnect(msgid="r1", call_sid=SID, data=info()), 0.0)
    [start] = [e for e in events if isinstance(e, Received)]
    assert start.reply is not None
    core.receive(SessionNew(msgid="n1", call_sid=SID, data=info()), 0.0)
    core.reply(start.reply, [SAY], 0.1)
    frame = core.next_frame()  # the session:new (twin) ack goes first...
    assert frame is not None and frame.message.msgid == "n1"
    core.sent(frame, 0.1)
    core.detach(0.2)  # ...and jambonz never reads it: it re-keys session:new to r2
    core.attach()
    core.receive(SessionReconnect(msgid="r2", call_sid=SID, data=info()), 0.7)
    sent = _drain(core, 0.7)
    core.receive(CallStatus(msgid="s1", call_sid=SID, data=info()), 0.8)
    sent += _drain(core, 0.8)
    carrying_say = [f for f in sent if SAY in _plain(f.get("data"))]
    assert len(carrying_say) == 1, sent


def test_hooks_name_their_verb_and_jambonz_reports_only_a_gather_s_lost_hook() -> None:
    """The model's own facts: a hook names its verb; a drop abandons it and, for a gather
    only, a ``jambonz:error`` with the gather's id and no ``details`` follows the reconnect."""
    j = Jambonz()
    j.open_call(0.0)
    j.init_set, j.running, j.notify = False, True, True
    j._replace([{**GATHER, "id": "g1"}], 0.0)
    j.verb_ends(0.1)
    hook = j.to_app[-1]
    assert isinstance(hook, VerbHook) and hook.data.extra == {"verb_id": "g1"}
    j.drop(0.2)
    j.reconnect(0.5)
    assert j.to_app == []  # held until the reconnect's ack
    j.reconnect_msgid = None
    j._flush(0.6)
    # the error asked for the connection: it comes after what was produced meanwhile
    status, finished, error = j.to_app
    assert isinstance(status, CallStatus) and status.data.extra == {"error": HOOK_FAILED}
    assert isinstance(finished, VerbStatus) and finished.data.event == "finished"
    assert isinstance(error, JambonzError) and error.data.id == "g1"
    assert error.data.msg == HOOK_FAILED and error.data.details is None
