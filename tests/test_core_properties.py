"""A Hypothesis state machine over the sans-IO call core, with jambonz modelled beside it.

The machine plays three parts at once, each from the documents rather than from the core:

- **jambonz** (PEER-BEHAVIOUR §4-5): it sends messages with fresh msgids, keeps the
  ack-required ones in flight with a 5 s deadline that starts when written, reads what the
  app wrote *before* it writes anything new (so a message from jambonz proves its earlier
  input was read), and on a drop abandons everything in flight except an unacked
  ``session:new``, which it re-keys to the msgid of the ``session:reconnect`` that follows.
  It reports every abandoned ``verb:hook`` after the reconnect with ``jambonz:error``
  ("abandoning msgid X since socket is closed"), as gather does, and holds its own messages
  back until the reconnect ack arrived. A drop is *lossless* (jambonz read everything the
  writer sent) or *lossy* (the frames still on the wire die with the socket).
- **the runtime**: a writer that sends what :meth:`CallCore.next_frame` allows and confirms
  each send; it may lag between steps (so drops catch frames queued), but never while
  virtual time passes, and the ack tracker ticks the core at every deadline it announces.
- **the app**: replies to any handle it was given, in time, late, twice, with valid, empty
  or invalid verbs, and queues commands at any moment.

Invariants, after every step:

1. *Acks.* Every ack jambonz reads names a msgid it has in flight (never one it abandoned,
   timed out or already had acked), and arrives before that msgid's deadline. No in-flight
   msgid passes its deadline while a socket is attached.
2. *Delivery.* Every frame the app produced (a reply or a command) reaches jambonz at most
   once; the ones that reached it did so in the order the app produced them, with exactly
   the documented exceptions: the ``session:new`` reply goes before everything (and
   nothing reaches jambonz before it), a queued reply for a msgid abandoned by a drop is
   rewritten in its own position into a ``redirect`` command carrying the same verbs — or
   dropped, precisely when it carries no verbs or answers a ``dial:confirm`` /
   ``session:adulting`` — and a hook ack lost on the wire is re-sent as a ``redirect`` only
   after jambonz reported it abandoned (that one necessarily comes late). A frame that is
   neither delivered, nor rewritten away for one of those reasons, nor lost on the wire, is
   still in the core's queue: nothing vanishes silently.
3. *Commands wait for the session.* No command reaches jambonz in the same read as the
   ``session:new`` ack (jambonz would drop it: its session does not exist yet).
4. *Bounds.* Commands the app queued never exceed ``max_queued_commands`` (the redirects
   the core makes from acks are acks in disguise and, like acks, never refused) and
   ``can_queue_command`` agrees with the queue; queued acks name distinct msgids, all in
   flight at jambonz (or, while detached, only the ``session:new`` reply, which will be
   re-keyed).
5. *End.* After :meth:`CallCore.end`, no handle is open, nothing is queued or sendable,
   every frame not delivered was reported in ``Ended.unsent``, the core ignores input, and
   ``next_deadline`` is ``None`` (``test_no_deadline_survives_the_end``).

Not modelled here: a core that first hears of the call through ``session:reconnect``
(another process served it) and then gets the late ``session:new`` — see the regression
test ``test_the_twin_start_reply_is_not_replayed_as_a_redirect`` and ``fuzz/target_core.py``.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
import orjson
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
    CoreConfig,
    Duplicate,
    Ended,
    Frame,
    FrameRewritten,
    Received,
    Recovered,
    ReplyHandle,
    Resumed,
)
from jbtrio._errors import CallEndedError
from jbtrio._wire import (
    Ack,
    CallInfo,
    CallStatus,
    Command,
    DialConfirm,
    ErrorDetails,
    InboundMessage,
    JambonzError,
    SessionAdulting,
    SessionNew,
    SessionReconnect,
    SessionRedirect,
    UnknownMessage,
    VerbHook,
    VerbStatus,
)

SID = "c0ffee00-0000-4000-8000-0000000000aa"
ACK_TIMEOUT = 5.0
MAX_COMMANDS = 6
CONFIG = CoreConfig(
    ack_timeout=ACK_TIMEOUT,
    ack_margin=1.0,
    max_queued_commands=MAX_COMMANDS,
    session_start_grace=0.5,
)

SAY = {"verb": "say", "text": "hi"}
HANGUP = {"verb": "hangup"}
PAUSE = {"verb": "pause", "length": 2}
BAD = {"verb": "say", "text": 5}  # invalid for every target jambonz
VERB_CHOICES: list[list[dict[str, Any]] | None] = [
    None,
    [],
    [SAY],
    [SAY, HANGUP],
    [PAUSE],
    [BAD],
]

#: Fixed finding (test_a_stale_core_ack_goes_out_after_a_second_drop is its regression test;
#: the machine no longer tolerates it): the core's own acks —
#: to ``session:reconnect``, to unknown ack-required types, and the reconnect ack repeating
#: an unconfirmed ``session:new`` reply — are not dropped on a detach like the app's, so one
#: queued at a drop goes out on the next socket naming a msgid jambonz abandoned (or moved
#: away by a re-key); jambonz discards it ("ack to unknown msgid"). The machine tolerates
#: exactly that — an ack of the core's own, for a msgid of one of these kinds that a drop
#: killed — and counts it, so every other property still runs. Set False to see it fail.
STALE_OWN_ACKS = False
STALE_KINDS = frozenset({"session:reconnect", "agent:future", "session:new"})

PeerKind = Literal[
    "verb:hook",
    "session:redirect",
    "dial:confirm",
    "session:adulting",
    "agent:future",
    "call:status",
    "verb:status",
    "jambonz:error",
]
PEER_KINDS: list[PeerKind] = [
    "verb:hook",
    "session:redirect",
    "dial:confirm",
    "session:adulting",
    "agent:future",
    "call:status",
    "verb:status",
    "jambonz:error",
]


def _info() -> CallInfo:
    return CallInfo(call_sid=SID, direction="inbound", from_="+15550001", to="+15550002")


@attrs.define
class InFlight:
    """A message jambonz waits an ack for: its kind (``session:new`` keeps its kind when
    re-keyed) and the deadline of jambonz's timer, which a re-key does not restart."""

    kind: str
    deadline: float


@attrs.define
class Item:
    """One frame the app produced, and what became of it.

    ``status``: ``queued`` (in the core's queue as ``frame``), ``wire`` (written, not yet
    read), ``delivered``, ``lost`` (died on the wire with a socket), ``rewritten-away``
    (dropped by the core, for a documented reason), ``unsent`` (reported at the end).
    """

    index: int
    kind: Literal["reply", "command"]
    verbs: tuple[dict[str, Any], ...] | None
    handle: ReplyHandle | None
    frame: Frame
    status: str = "queued"
    deliveries: int = 0
    recovered: bool = False
    is_start: bool = False


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
        self.now = 0.0
        self.started = False
        self.ended = False
        self.peer_failed = False
        self.unsent_at_end: tuple[Frame, ...] = ()
        # jambonz
        self.msgids = 0
        self.in_flight: dict[str, InFlight] = {}
        self.new_key: str | None = None  # msgid session:new is keyed by while unacked
        self.new_acked = False
        self.awaiting_reconnect_ack: str | None = None
        self.to_app: list[InboundMessage | UnknownMessage] = []
        self.delivered: list[InboundMessage | UnknownMessage] = []
        self.wire: list[Frame] = []
        self.acked: set[str] = set()
        # abandoned by a drop, by kind; an ack for one of these is a defect, except a
        # stale ack of the core's own (see STALE_OWN_ACKS)
        self.dead: dict[str, str] = {}
        self.stale_acks = 0
        self.pending_errors: list[str] = []
        self.error_reports: dict[str, str] = {}  # jambonz:error msgid -> abandoned msgid
        self.hook_msgids: set[str] = set()
        # the app
        self.handles: list[AppHandle] = []
        self.items: list[Item] = []
        self.by_seq: dict[int, Item] = {}
        self.last_in_order = -1
        self.ack_frames_by_seq: set[int] = set()
        self.start_written = False
        self.core_commands: set[int] = set()  # seqs of redirects the core made from acks

    # ------------------------------------------------------------------ helpers

    def _msgid(self, prefix: str) -> str:
        self.msgids += 1
        return f"{prefix}{self.msgids}"

    @property
    def attached(self) -> bool:
        return self.core.attached

    def _handle(self, handle: ReplyHandle) -> AppHandle:
        return next(h for h in self.handles if h.handle is handle)

    def _take_events(self, events: list[Any]) -> None:
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
            elif isinstance(event, Recovered):
                self._recovered(event)

    def _rewritten(self, event: FrameRewritten) -> None:
        original = event.original
        handle = original.handle
        assert original.is_ack
        if handle is None:
            # one of the core's own acks (to a reconnect or an unknown type): dropped on a
            # detach, since jambonz abandoned its msgid and will send a new reconnect
            assert event.replacement is None
            return
        assert handle.message.msgid not in self.in_flight or handle.ack_msgid not in self.in_flight
        item = self.by_seq.get(original.seq)
        verbs = original.message.verbs  # type: ignore[union-attr]
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
            self.core_commands.add(new.seq)
            assert not isinstance(handle.message, DialConfirm | SessionAdulting)
            assert new.seq == original.seq, "a rewritten ack keeps its place in the queue"
            assert isinstance(new.message, Command) and new.message.command == "redirect"
            assert tuple(new.message.data) == verbs
            assert new.message.queue_command is False
        if item is None:
            return  # the core's own ack (an automatic one): not an app frame
        assert item.status == "queued"
        if event.replacement is None:
            item.status = "rewritten-away"
        else:
            item.frame = event.replacement

    def _recovered(self, event: Recovered) -> None:
        handle = event.handle
        candidates = [i for i in self.items if i.handle is handle]
        assert candidates, "recovered a reply the app never gave"
        item = candidates[-1]
        # Only on proof: jambonz said it never read that ack, which the model agrees with.
        assert item.status == "lost", f"recovered an ack that was {item.status}"
        assert isinstance(event.frame.message, Command)
        assert event.frame.message.queue_command is False
        assert item.verbs is not None
        data = tuple(event.frame.message.data)
        # the lost verbs, then what the app appended to the stack after writing them
        assert data == item.verbs + self._appended_after(item), (data, item.verbs)
        item.status = "queued"
        item.frame = event.frame
        item.recovered = True
        self.by_seq[event.frame.seq] = item
        self.core_commands.add(event.frame.seq)

    def _receive(self, message: InboundMessage | UnknownMessage) -> list[Any]:
        events = self.core.receive(message, self.now)
        self._take_events(events)
        if isinstance(message, JambonzError) and message.msgid in self.error_reports:
            # jambonz proved it never read the ack: a hook reply with verbs that died on
            # the wire must now be queued again (as a redirect), exactly once.
            abandoned = self.error_reports[message.msgid]
            for item in self.items:
                if item.handle is not None and item.handle.ack_msgid == abandoned:
                    assert item.status != "lost" or not item.verbs or self._superseded(item), (
                        f"hook {abandoned} reported abandoned, its verbs were not re-sent"
                    )
        return events

    def _written_after(self, item: Item) -> list[Item]:
        """App frames written to a socket after ``item`` (in queue order)."""
        return [
            later
            for later in self.items
            if later.index > item.index and later.status in ("wire", "delivered", "lost")
        ]

    @staticmethod
    def _replaces_stack(item: Item) -> bool:
        message = item.frame.message
        if isinstance(message, Ack):
            return bool(message.verbs)
        return message.command == "redirect" and not message.queue_command

    def _superseded(self, item: Item) -> bool:
        """A later frame replaced jambonz's stack: replaying ``item`` would undo it."""
        return any(self._replaces_stack(later) for later in self._written_after(item))

    def _appended_after(self, item: Item) -> tuple[dict[str, Any], ...]:
        out: list[dict[str, Any]] = []
        for later in self._written_after(item):
            message = later.frame.message
            if isinstance(message, Command) and message.command == "redirect":
                out.extend(message.data)
        return tuple(out)

    # ------------------------------------------------------------------ jambonz side

    def _peer_read(self) -> None:
        """jambonz reads everything written so far, in order (one 'tick' of its loop)."""
        batch, self.wire = self.wire, []
        saw_start_ack = False
        for frame in batch:
            item = self.by_seq.get(frame.seq) if frame.seq not in self.ack_frames_by_seq else None
            msg = orjson.loads(frame.text)
            if msg["type"] == "ack":
                saw_start_ack |= self._peer_ack(msg, item)
            else:
                assert self.new_acked, "a command reached jambonz before the session:new ack"
                assert not saw_start_ack, (
                    "a command was read in the same tick as the session:new ack: jambonz "
                    "drops it, its session does not exist yet"
                )
                assert item is not None, f"a command the app never sent: {msg}"
                self._deliver_item(item)

    def _peer_ack(self, msg: dict[str, Any], item: Item | None) -> bool:
        """jambonz reads one ack; True when it resolved ``session:new`` (the call starts)."""
        msgid = msg["msgid"]
        assert msgid not in self.acked, f"msgid {msgid} acked twice"
        if msgid in self.dead:
            kind = self.dead[msgid]
            assert STALE_OWN_ACKS and item is None and kind in STALE_KINDS, (
                f"ack for {kind} {msgid}, which jambonz abandoned"
            )
            self.stale_acks += 1  # jambonz: "ack to unknown msgid ... discarding"
            return False
        entry = self.in_flight.pop(msgid, None)
        assert entry is not None, f"ack for {msgid}, which jambonz never sent"
        assert self.now < entry.deadline, f"ack for {msgid} after its deadline"
        self.acked.add(msgid)
        verbs = tuple(msg["data"]) if "data" in msg else None
        if entry.kind == "session:new":
            assert verbs, "session:new acked without verbs: jambonz rejects the call"
            self.new_acked = True
            self.new_key = None
            start = next((i for i in self.items if i.is_start), None)
            if start is not None and start.status in ("queued", "wire", "lost"):
                assert verbs == start.verbs, "session:new ran other verbs than the app's"
                self._deliver_item(start)
            elif start is None:
                assert verbs == CONFIG.fallback_verbs, "automatic session:new ack"
            return True
        if entry.kind == "session:reconnect":
            assert self.awaiting_reconnect_ack == msgid
            self.awaiting_reconnect_ack = None
            for abandoned in self.pending_errors:
                self._peer_send_error(abandoned)
            self.pending_errors = []
            return False
        if item is not None:
            assert item.kind == "reply" and item.handle is not None
            assert item.handle.ack_msgid == msgid
            assert verbs == item.verbs
            self._deliver_item(item)
        return False

    def _deliver_item(self, item: Item) -> None:
        item.deliveries += 1
        assert item.deliveries == 1, f"app frame #{item.index} reached jambonz twice"
        item.status = "delivered"
        if item.is_start or item.recovered:
            return
        assert item.index > self.last_in_order, (
            f"app frame #{item.index} reached jambonz after #{self.last_in_order}"
        )
        self.last_in_order = item.index

    def _peer_send_error(self, abandoned: str) -> None:
        details = f"abandoning msgid {abandoned} since socket is closed"
        error = JambonzError(
            msgid=self._msgid("e"),
            call_sid=SID,
            data=ErrorDetails(msg="invalid actionHook response", details=details, verb="gather"),
        )
        self.error_reports[error.msgid] = abandoned
        self.to_app.append(error)

    @property
    def live(self) -> bool:
        """jambonz writes freely: attached, session running, no reconnect ack pending."""
        return (
            self.started
            and self.attached
            and not self.ended
            and self.new_acked
            and self.awaiting_reconnect_ack is None
        )

    @initialize(answer=st.booleans())
    def session_new(self, answer: bool) -> None:
        """jambonz opens the call; ``answer``: the app replies at once and the writer sends
        it (the usual start, which gets most runs to the interesting part sooner)."""
        self.started = True
        self.core.attach()
        msgid = self._msgid("new")
        self.new_key = msgid
        self.in_flight[msgid] = InFlight("session:new", self.now + ACK_TIMEOUT)
        message = SessionNew(msgid=msgid, call_sid=SID, data=_info())
        self.delivered.append(message)
        [event] = self._receive(message)
        assert isinstance(event, Received) and event.reply is not None
        if answer:
            self._reply(self.handles[0], [SAY], write_now=True)
            self._peer_read()

    @rule(at_once=st.booleans())
    @precondition(lambda self: self.attached and not self.ended)
    def hook_fires(self, at_once: bool) -> None:
        """A ``verb:hook`` (the most common ack-required message) gets its own rule, so
        runs see many of them; see :meth:`jambonz_sends`."""
        self.jambonz_sends("verb:hook", at_once)

    @rule(verbs=st.sampled_from([[SAY], [SAY, HANGUP], None]))
    @precondition(lambda self: self.attached and not self.ended)
    def hook_round_trip(self, verbs: list[dict[str, Any]] | None) -> None:
        """A hook arrives, the app answers it at once and the writer sends the ack, which
        jambonz has not read yet: three common steps in one, so drops often catch an ack
        on the wire (the race the core's recovery exists for)."""
        self.jambonz_sends("verb:hook", at_once=True)
        if self.handles and self.handles[-1].status == "open" and self.live:
            self._reply(self.handles[-1], verbs, write_now=True)

    @rule(kind=st.sampled_from(PEER_KINDS), at_once=st.booleans())
    @precondition(lambda self: self.attached and not self.ended)
    def jambonz_sends_any(self, kind: PeerKind, at_once: bool) -> None:
        """jambonz sends a message of any kind; see :meth:`jambonz_sends`."""
        self.jambonz_sends(kind, at_once)

    def jambonz_sends(self, kind: PeerKind, at_once: bool) -> None:
        """jambonz writes one message (after reading what the app wrote), if its session is
        running; ``at_once``: the reader hands it to the core now, else it waits on the
        wire (and may be overtaken)."""
        self._peer_read()
        if not self.live:
            return
        msgid = self._msgid("m")
        message: InboundMessage | UnknownMessage
        if kind == "verb:hook":
            message = VerbHook(msgid=msgid, call_sid=SID, hook="/h", data=_info())
            self.hook_msgids.add(msgid)
        elif kind == "session:redirect":
            message = SessionRedirect(msgid=msgid, call_sid=SID, hook="/r", data=_info())
        elif kind == "dial:confirm":
            message = DialConfirm(msgid=msgid, call_sid=SID, hook="/c", data=_info())
        elif kind == "session:adulting":
            message = SessionAdulting(msgid=msgid, data=_info())
        elif kind == "agent:future":
            raw = {"type": kind, "msgid": msgid, "call_sid": SID}
            message = UnknownMessage.from_raw(raw)
        elif kind == "call:status":
            message = CallStatus(msgid=msgid, call_sid=SID, data=_info())
        elif kind == "verb:status":
            message = VerbStatus(msgid=msgid, call_sid=SID)
        else:
            message = JambonzError(msgid=msgid, call_sid=SID, data=ErrorDetails(msg="oops"))
        if message.should_ack:
            self.in_flight[msgid] = InFlight(kind, self.now + ACK_TIMEOUT)
        if at_once:
            self.delivered.append(message)
            self._receive(message)
        else:
            self.to_app.append(message)

    @rule(data=st.data())
    @precondition(lambda self: bool(self.to_app) and not self.ended)
    def deliver(self, data: st.DataObject) -> None:
        """One written message reaches the app; not always the oldest (reordering)."""
        index = data.draw(st.integers(0, len(self.to_app) - 1), label="index")
        message = self.to_app.pop(index)
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

    @rule()
    @precondition(lambda self: bool(self.wire))
    def jambonz_reads(self) -> None:
        """jambonz's loop reads what is on the wire."""
        self._peer_read()

    @rule(lossy=st.booleans())
    @precondition(lambda self: self.attached and not self.ended)
    def drop(self, lossy: bool) -> None:
        """The socket dies; a lossy drop takes the frames still on the wire with it."""
        if lossy:
            for frame in self.wire:
                item = self.by_seq.get(frame.seq)
                if item is not None and frame.seq not in self.ack_frames_by_seq:
                    item.status = "lost"
            self.wire = []
        else:
            self._peer_read()
        for message in self.to_app:
            if message.msgid in self.in_flight:
                pass  # written to a dead socket: abandoned below like the rest
        self.to_app = []
        for msgid, entry in list(self.in_flight.items()):
            if entry.kind == "session:new":
                continue
            del self.in_flight[msgid]
            self.dead[msgid] = entry.kind
            if msgid in self.hook_msgids:
                self.pending_errors.append(msgid)
        if self.awaiting_reconnect_ack is not None:
            self.awaiting_reconnect_ack = None
        self._take_events(self.core.detach(self.now))
        assert not self.core.attached

    @rule(prompt=st.booleans())
    @precondition(lambda self: self.started and not self.attached and not self.ended)
    def reconnect(self, prompt: bool) -> None:
        """jambonz opens a new socket and sends session:reconnect first; ``prompt``: the
        writer answers it and jambonz reads the answer at once (what usually happens)."""
        self.core.attach()
        msgid = self._msgid("rc")
        rekeyed = self.new_key is not None
        if rekeyed:
            assert self.new_key is not None
            self.in_flight[msgid] = self.in_flight.pop(self.new_key)
            self.dead[self.new_key] = "session:new"  # moved away: an ack for it is stale
            self.new_key = msgid
        else:
            self.in_flight[msgid] = InFlight("session:reconnect", self.now + ACK_TIMEOUT)
            self.awaiting_reconnect_ack = msgid
        message = SessionReconnect(msgid=msgid, call_sid=SID, data=_info())
        self.delivered.append(message)
        events = self._receive(message)
        [resumed] = [e for e in events if isinstance(e, Resumed)]
        # The core cannot know whether a written session:new ack was read: "pending" means
        # the reply never left, so it now travels as this reconnect's ack.
        assert resumed.session_new_pending == (not self.start_written)
        if resumed.session_new_pending:
            assert rekeyed, "jambonz re-keys an unacked session:new; it was acked"
        start = next((i for i in self.items if i.is_start), None)
        if start is not None and start.status == "queued":
            # Re-keyed in place: same position, same verbs, the reconnect's msgid.
            [frame] = [f for f in self.core.queued if f.seq == start.frame.seq]
            assert frame.is_ack and frame.message.msgid == msgid
            assert frame.message.verbs == start.verbs  # type: ignore[union-attr]
            start.frame = frame
        if prompt:
            self._drain()
            while self.to_app:  # what jambonz held back follows the reconnect ack at once
                held = self.to_app.pop(0)
                self.delivered.append(held)
                self._receive(held)

    # ------------------------------------------------------------------ runtime side

    def _write_one(self) -> bool:
        frame = self.core.next_frame()
        if frame is None:
            return False
        assert self.attached
        self.wire.append(frame)
        if frame.handle is not None and self._handle(frame.handle).is_start:
            self.start_written = True
        item = self.by_seq.get(frame.seq)
        if frame.is_ack and (item is None or item.frame is not frame):
            self.ack_frames_by_seq.add(frame.seq)  # the core's own ack
        elif item is not None:
            assert item.frame is frame
            item.status = "wire"
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
        if self.attached:
            while self._write_one():
                pass
            self._peer_read()

    @rule(dt=st.sampled_from([0.1, 0.3, 0.6, 1.5, 3.9, 4.5, 6.0, 40.0]))
    def advance(self, dt: float) -> None:
        """Virtual time passes: the writer drains first, the ack tracker ticks at every
        deadline the core announces, and jambonz's timers fire."""
        target = self.now + dt
        while self.to_app and self.attached:
            # Before time passes, the reader hands on what jambonz wrote.
            self._receive(self.to_app.pop(0))
        for _ in range(1000):
            self._drain()
            due = self.core.next_deadline()
            if due is None or due > target:
                break
            self.now = max(self.now, due)
            self._take_events(self.core.tick(self.now))
            after = self.core.next_deadline()
            assert after is None or after > self.now, "tick left a deadline in the past"
        else:
            raise AssertionError("the core kept announcing deadlines")
        self._drain()
        for msgid, entry in list(self.in_flight.items()):
            if entry.deadline <= target and not self.ended:
                assert not self.attached, (
                    f"{entry.kind} {msgid} missed its deadline with a socket attached"
                )
                # Only an unacked session:new survives a drop: jambonz fails the call.
                assert entry.kind == "session:new"
                self.peer_failed = True
        self.now = target
        if self.peer_failed and not self.ended:
            self._end()

    # ------------------------------------------------------------------ app side

    @rule(data=st.data(), verbs=st.sampled_from(VERB_CHOICES), write_now=st.booleans())
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
        item = Item(
            index=len(self.items),
            kind="reply",
            verbs=None if verbs is None else tuple(verbs),
            handle=handle,
            frame=frame,
            is_start=known.is_start,
        )
        self.items.append(item)
        self.by_seq[frame.seq] = item
        if write_now and self.attached:
            while self._write_one():
                pass

    @rule(verbs=st.sampled_from([[SAY], [PAUSE, HANGUP], [BAD], None]))
    def app_commands(self, verbs: list[dict[str, Any]] | None) -> None:
        """The app queues a command (a redirect, or a tts:flush without data)."""
        command = (
            Command(command="tts:flush")
            if verbs is None
            else Command(command="redirect", data=verbs, queue_command=False)
        )
        pending = sum(1 for f in self.core.queued if not f.is_ack)
        try:
            frame = self.core.command(command, self.now)
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
        item = Item(
            index=len(self.items),
            kind="command",
            verbs=tuple(verbs) if verbs else None,
            handle=None,
            frame=frame,
        )
        self.items.append(item)
        self.by_seq[frame.seq] = item

    # ------------------------------------------------------------------ end

    def _end(self) -> None:
        events = self.core.end(self.now)
        [ended] = events
        assert isinstance(ended, Ended)
        self.ended = True
        self.unsent_at_end = ended.unsent
        self.in_flight.clear()
        self.to_app.clear()
        unsent = {f.seq for f in ended.unsent}
        for item in self.items:
            if item.status == "queued":
                assert item.frame.seq in unsent, f"app frame #{item.index} vanished at the end"
                item.status = "unsent"
        for known in self.handles:
            if known.status == "open":
                known.status = "ended"

    @rule(roll=st.integers(0, 15))
    @precondition(lambda self: self.started and not self.ended)
    def call_ends(self, roll: int) -> None:
        """The call is over (jambonz hung up, or the runtime gave up on a reconnect); only
        one draw in sixteen ends it, so most runs get deep before the end."""
        if roll:
            return
        self._peer_read()
        self._end()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def queue_is_bounded_and_consistent(self) -> None:
        queued = self.core.queued
        commands = [f for f in queued if not f.is_ack]
        # The bound applies to what the app queues; an ack rewritten into a redirect, or a
        # redirect re-sent on jambonz's report, is never refused (acks never are).
        app_commands = [
            f
            for f in commands
            if (item := self.by_seq.get(f.seq)) is None or item.kind == "command"
        ]
        app_commands = [f for f in app_commands if f.seq not in self.core_commands]
        assert len(app_commands) <= MAX_COMMANDS
        assert self.core.can_queue_command == (len(commands) < MAX_COMMANDS)
        ack_ids = [f.message.msgid for f in queued if f.is_ack]
        assert len(ack_ids) == len(set(ack_ids)), f"two queued acks for one msgid: {ack_ids}"
        for frame in queued:
            if not isinstance(frame.message, Ack):
                continue
            msgid = frame.message.msgid
            if STALE_OWN_ACKS and self.dead.get(msgid) in STALE_KINDS:
                assert frame.seq not in self.by_seq, "an app reply outlived its msgid"
            elif self.attached:
                assert msgid in self.in_flight, f"queued ack for {msgid}, not in flight"
            else:
                assert frame.handle is not None and self._handle(frame.handle).is_start, (
                    f"a queued ack for {msgid} survived the drop"
                )

    @invariant()
    def nothing_vanishes(self) -> None:
        queued = {f.seq: f for f in self.core.queued}
        on_wire = {f.seq for f in self.wire}
        for item in self.items:
            if item.status == "queued":
                assert queued.get(item.frame.seq) is item.frame, f"app frame #{item.index} lost"
            elif item.status == "wire":
                assert item.frame.seq in on_wire
            assert item.deliveries <= 1

    @invariant()
    def no_deadline_passed_while_attached(self) -> None:
        if self.attached:
            for msgid, entry in self.in_flight.items():
                assert self.now < entry.deadline, f"{msgid} is past its deadline"

    @invariant()
    def nothing_survives_the_end(self) -> None:
        if not self.ended:
            return
        core = self.core
        assert core.ended and not core.attached
        assert core.open_replies == ()
        assert core.queued == ()
        assert core.next_frame() is None
        assert core.receive(CallStatus(msgid="after-end", call_sid=SID), self.now) == []


CoreMachine.TestCase.settings = settings(
    max_examples=settings().max_examples * 2,
    stateful_step_count=50,
)
test_core_machine = CoreMachine.TestCase


def test_no_deadline_survives_the_end() -> None:
    core = CallCore(CONFIG)
    core.attach()
    [event] = core.receive(SessionNew(msgid="n1", call_sid=SID, data=_info()), 0.0)
    assert isinstance(event, Received) and event.reply is not None
    core.reply(event.reply, [SAY], 0.0)
    frame = core.next_frame()
    assert frame is not None
    core.sent(frame, 0.0)
    core.end(0.1)
    assert core.next_deadline() is None


def test_a_stale_core_ack_goes_out_after_a_second_drop() -> None:
    core = CallCore(CONFIG)
    core.attach()
    [event] = core.receive(SessionNew(msgid="n1", call_sid=SID, data=_info()), 0.0)
    assert isinstance(event, Received) and event.reply is not None
    core.reply(event.reply, [SAY], 0.0)
    while (frame := core.next_frame()) is not None:
        core.sent(frame, 0.0)
    core.receive(CallStatus(msgid="s1", call_sid=SID, data=_info()), 0.1)  # session confirmed
    core.detach(1.0)
    core.attach()
    core.receive(SessionReconnect(msgid="rc1", call_sid=SID, data=_info()), 1.5)
    core.detach(1.6)  # before the writer sent the rc1 ack: jambonz abandons rc1
    core.attach()
    core.receive(SessionReconnect(msgid="rc2", call_sid=SID, data=_info()), 2.0)
    sent = []
    while (frame := core.next_frame()) is not None:
        sent.append(orjson.loads(frame.text))
        core.sent(frame, 2.0)
    assert sent == [{"type": "ack", "msgid": "rc2"}]


def test_the_twin_start_reply_is_not_replayed_as_a_redirect() -> None:
    core = CallCore(CONFIG)
    core.attach()
    events = core.receive(SessionReconnect(msgid="r1", call_sid=SID, data=_info()), 0.0)
    [start] = [e for e in events if isinstance(e, Received)]
    assert start.reply is not None
    core.receive(SessionNew(msgid="n1", call_sid=SID, data=_info()), 0.0)
    core.reply(start.reply, [SAY], 0.1)
    frame = core.next_frame()  # the session:new (twin) ack goes first...
    assert frame is not None and frame.message.msgid == "n1"
    core.sent(frame, 0.1)
    core.detach(0.2)  # ...and jambonz never reads it: it re-keys session:new to r2
    core.attach()
    core.receive(SessionReconnect(msgid="r2", call_sid=SID, data=_info()), 0.7)
    sent = []
    while (frame := core.next_frame()) is not None:
        sent.append(orjson.loads(frame.text))
        core.sent(frame, 0.7)
    core.receive(CallStatus(msgid="s1", call_sid=SID, data=_info()), 0.8)
    while (frame := core.next_frame()) is not None:
        sent.append(orjson.loads(frame.text))
        core.sent(frame, 0.8)
    carrying_say = [f for f in sent if f.get("data") == [SAY]]
    assert len(carrying_say) == 1, sent
