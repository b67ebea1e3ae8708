"""The sans-IO protocol core of one call, in the style of h11 and wsproto.

:class:`CallCore` knows nothing of sockets, tasks or clocks: the runtime feeds it decoded
messages and the current time, and executes what it says — events for the app, frames to
write. It owns

- the ack ledger: one :class:`ReplyHandle` per ack-required message, each with its own msgid
  and deadline, answered exactly once (by the app, or by the core when the app is too slow);
- the outbound queue, which survives a dropped socket and is flushed, in order and once, after
  jambonz's ``session:reconnect`` has been acked;
- the receipts of the verbs it sent (:mod:`._receipts`): a frame that died with its socket is
  re-sent when jambonz's own evidence says it was not read, never on a guess;
- what a reconnect needs: the ``session:new`` data and whether its ack ever reached jambonz.

How jambonz behaves across a drop, and how the core starts and restarts a session, is
in :mod:`._session_start` (the part of :class:`CallCore` that does it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from .._errors import (
    CallEndedError,
    MessageTooLargeError,
    QueueFullError,
    ReplyError,
    VerbError,
)
from .._wire import (
    Ack,
    CallInfo,
    Command,
    DialConfirm,
    InboundMessage,
    SessionAdulting,
    SessionNew,
    SessionReconnect,
    TtsTokensResult,
    UnknownMessage,
    VerbHook,
)
from ..commands import V10_COMMANDS
from ..verbs import JambonzVersion, known_valid, validate
from ._config import CoreConfig
from ._events import (
    Abandoned,
    AutoAcked,
    Confirmed,
    CoreEvent,
    Duplicate,
    Ended,
    ForceReconnect,
    FrameRewritten,
    Refused,
    Resent,
    Unconfirmed,
    received,
)
from ._outbox import Frame, Outbox
from ._receipts import Receipts, Verdict, replaces_stack
from ._reply import ReplyHandle, ReplyState
from ._session_start import SessionStart
from ._stall import StallWatch

__all__ = ["CallCore"]

Verbs = Iterable[Mapping[str, Any] | Any]

# isinstance() against prebuilt tuples: ``A | B`` in a hot path builds a union each time
# (issue 23).
_SESSION_OPENERS: Final = (SessionNew, SessionReconnect)
_SESSION_DATA: Final = (SessionNew, SessionAdulting)
_SEQUENCES: Final = (list, tuple)


class CallCore(SessionStart):
    """Protocol state of one call, across any number of sockets.

    Typical driving loop (the runtime's job)::

        core.attach()
        for event in core.receive(decode(text), now): ...
        while (frame := core.next_frame()) is not None:
            send(frame.data); core.sent(frame)
        core.tick(now) at core.next_deadline()
        core.detach(now) when the socket drops; core.end(now) when the call is over

    ``validate_verbs`` runs jambonz's own verb validation on every reply and redirect, so a
    bad verb raises :class:`VerbError` in the app instead of failing the call at jambonz.
    """

    def __init__(self, config: CoreConfig | None = None, *, validate_verbs: bool = True) -> None:
        self.config = config or CoreConfig()
        self._validate = validate_verbs
        self._in_flight: Frame | None = None
        self._outbox = Outbox(
            self.config.max_frame_bytes,
            max_frames=self.config.max_queued_frames,
            max_bytes=self.config.max_queued_bytes,
        )
        self._abort_reason: str | None = None
        self._open: dict[str, ReplyHandle] = {}
        # the last remembered_msgids msgids: a ring (a list grown as needed, then overwritten
        # from _seen_next on), and a set to look them up
        self._seen: list[str] = []
        self._seen_next = 0
        self._seen_set: set[str] = set()
        self._receipts = Receipts(
            enabled=self.config.receipts,
            probe=self.config.probe_in_doubt,
            doubt_timeout=self.config.doubt_timeout,
            max_tracked=self.config.max_unconfirmed,
        )
        self._probe: Frame | None = None
        # a session:new that followed the session:reconnect this core started with, answered
        # by the core with the verbs the app gives that reconnect (see _on_late_session_new)
        self._twin: ReplyHandle | None = None
        self._attached = False
        self._ended = False
        # session:new bookkeeping, for rebinding on session:reconnect
        self.session_data: CallInfo | None = None
        self._new_handle: ReplyHandle | None = None
        self._new_ack_sent = False
        self._new_ack_confirmed = False
        self._new_ack_frame: Frame | None = None
        # The command gate. jambonz creates the session that listens for commands only when the
        # session:new ack resolves, so a command read in the same tick is lost (docs/jambonz.md,
        # Ordering): until the ack is out nothing else goes, then commands wait for the first
        # message of the running session or ``session_start_grace`` seconds, whichever comes first.
        self._await_new_ack = False
        self._grace_until: float | None = None
        # The msgid of the last session:reconnect (its ack starts the probe and the stall
        # watch), and the re-key stall watch (see ._stall).
        self._reconnect_msgid: str | None = None
        self._reconnect_count = 0
        self._echo_id: str | None = None
        self._echo_frame: Frame | None = None
        self._stall = StallWatch(
            wait=self.config.stall_wait, max_recoveries=self.config.max_stall_recoveries
        )

    def target(self, jambonz: JambonzVersion) -> None:
        """Validate this call's verbs by jambonz ``jambonz``'s rules from now on (the app
        declared which jambonz it is written for: ``App(jambonz=...)``)."""
        if jambonz != self.config.jambonz:
            self.config = attrs.evolve(self.config, jambonz=jambonz)

    # ------------------------------------------------------------------ state

    @property
    def attached(self) -> bool:
        """Whether a socket is bound to the call."""
        return self._attached

    @property
    def ended(self) -> bool:
        """Whether the call is over."""
        return self._ended

    @property
    def call_sid(self) -> str | None:
        """The call's sid, from the ``session:new`` (or first session message) data."""
        return self.session_data.call_sid if self.session_data is not None else None

    @property
    def open_replies(self) -> tuple[ReplyHandle, ...]:
        """Handles jambonz is still waiting on, oldest first."""
        return tuple(self._open.values())

    @property
    def queued(self) -> tuple[Frame, ...]:
        """Frames not yet accepted by a socket, in sending order."""
        return tuple(self._outbox)

    @property
    def can_queue_command(self) -> bool:
        """Whether :meth:`command` would accept another command now (below
        ``max_queued_commands``, and half of ``max_queued_bytes``: the rest is the acks')."""
        outbox = self._outbox
        return (
            outbox.commands_queued < self.config.max_queued_commands
            and outbox.bytes_queued < self.config.max_queued_bytes // 2
        )

    @property
    def abort_reason(self) -> str | None:
        """Why the call cannot go on, if it cannot: its outbound queue (or the messages
        awaiting an ack) went over a bound, or an ack the core owes jambonz could not be
        encoded. The runtime ends the call (a peer that does not read what it must)."""
        if self._abort_reason is None and self._outbox.overflow is not None:
            self._abort_reason = f"outbound queue over its bound: {self._outbox.overflow}"
        return self._abort_reason

    # ------------------------------------------------------------------ inbound

    def receive(self, message: InboundMessage | UnknownMessage, now: float) -> list[CoreEvent]:
        """Take one decoded message from jambonz; returns what the app must be told."""
        if self._ended or (
            (self._abort_reason is not None or self._outbox.overflow is not None)
            and self.abort_reason is not None
        ):
            return []
        msgid = message.msgid
        if msgid is not None:
            if msgid in self._seen_set:
                return [Duplicate(message)]
            # self._remember(msgid), inline (issue 23)
            seen = self._seen
            self._seen_set.add(msgid)
            limit = self.config.remembered_msgids
            if len(seen) < limit:
                seen.append(msgid)
            else:
                index = self._seen_next % limit
                self._seen_set.discard(seen[index])
                seen[index] = msgid
                self._seen_next = index + 1
            if (
                (self._open or self._outbox.bytes_queued)  # nothing owed: the usual case
                and len(self._outbox) + len(self._open) >= self.config.max_queued_frames
                and message.should_ack
            ):  # self._owed(), inline; should_ack (a property) only at the bound (issue 23)
                # Each such message will queue an ack: past the bound, jambonz is not reading.
                self._abort_reason = (
                    f"outbound queue over its bound: {self._owed()} frames queued or owed "
                    f"(max_queued_frames={self.config.max_queued_frames})"
                )
                return []
        # A verb:hook, the usual message, skips the isinstance checks of the other types
        # (issue 23); its own class only, not a subclass.
        hook = message if type(message) is VerbHook else None
        if hook is not None or not isinstance(message, _SESSION_OPENERS):
            if self._new_ack_sent and not self._new_ack_confirmed:
                # jambonz sends nothing else before the session:new ack resolved: it arrived.
                self._new_ack_confirmed = True
                self._grace_until = None
                if self._new_ack_frame is not None:
                    self._receipts.read(self._new_ack_frame)
                    self._new_ack_frame = None
            if self._stall.active:
                self._stall.heard()

        if hook is not None:
            # What the lines below do for a verb:hook: its receipt, then its reply handle.
            verdict = self._receipts.observe_hook(hook)
            handle = self._new_handle_for(hook, now)
            event = received(hook, handle)
            return [event] if verdict is None else [*self._apply(verdict), event]
        if isinstance(message, SessionReconnect):
            return self._on_reconnect(message, now)
        if (
            isinstance(message, TtsTokensResult)
            and self._echo_id is not None
            and message.data.id == self._echo_id
        ):
            self._echo_id = None
            return []  # the stall check's echo: it did its job by arriving
        events: list[CoreEvent] = []
        verdict, only_evidence = self._receipts.observe(message)
        if verdict is not None:
            events.extend(self._apply(verdict))
        if isinstance(message, UnknownMessage):
            if message.should_ack and msgid:
                # An unknown type with a msgid gets an empty ack, harmlessly.
                self._push_ack(Ack(msgid=msgid), None)
            events.append(received(message, None))
            return events
        if only_evidence:
            return events
        if not message.REQUIRES_ACK:
            events.append(received(message, None))
            return events

        if isinstance(message, SessionNew):
            if self._started_by_reconnect():
                return self._on_late_session_new(message, now)
            if self.session_data is not None:
                # jambonz sends one session:new per socket, first; a second is refused
                # rather than made the start of a new session (it would hold every frame
                # of the call back behind its ack).
                return [Refused(message, "a second session:new on a running call")]
        handle = self._new_handle_for(message, now)  # (a verb:hook's is made above)
        if self.session_data is None and isinstance(message, _SESSION_DATA):
            self.session_data = message.data
        if isinstance(message, SessionNew):
            self._new_handle = handle
            self._new_ack_sent = False
            self._new_ack_confirmed = False
            self._await_new_ack = True
        return [received(message, handle)]

    def _apply(self, verdict: Verdict) -> list[CoreEvent]:
        """Act on a decided doubt: re-send what jambonz never read, first in the queue;
        report what nothing can tell."""
        if verdict.undecided:
            return [Unconfirmed(verdict.undecided)]
        if not verdict.lost:
            return [Confirmed(verdict.evidence)]
        frame = None
        if verdict.resend is not None and not self._ended:
            # Before every frame the app made after the lost ones; after the acks that open
            # the session on this socket, which jambonz needs first.
            frame = self._outbox.make(verdict.resend)
            self._outbox.push_before(frame, self._not_session_ack)
        return [Resent(verdict.lost, frame, verdict.evidence)]

    def _not_session_ack(self, frame: Frame) -> bool:
        return not frame.is_ack or (
            frame.handle is not None and frame.handle is not self._new_handle
        )

    def _new_handle_for(self, message: InboundMessage, now: float) -> ReplyHandle:
        config = self.config
        msgid = message.msgid
        handle = ReplyHandle(
            message,
            now,
            now + config.ack_timeout,
            now + config.reply_window,
            msgid,
        )
        self._open[msgid] = handle
        return handle

    # ------------------------------------------------------------------ replies and commands

    def reply(self, handle: ReplyHandle, verbs: Verbs | None, now: float) -> None:
        """Answer ``handle`` with ``verbs`` (``None``: an ack without verbs).

        Raises :class:`ReplyError` when the handle was already answered, its window has
        passed (the core acked for the app), the socket dropped meanwhile, or the call ended;
        :class:`VerbError` for verbs jambonz would reject; MessageTooLargeError for an ack over
        the frame limit. Nothing is queued when it raises.
        """
        if now >= handle.reply_by:
            self._run_deadline(handle, now)
        if handle.state is not ReplyState.OPEN:
            raise ReplyError(handle.why_closed, state=handle.state.value)
        if verbs is not None and not isinstance(verbs, _SEQUENCES):
            verbs = list(verbs)
        if handle is self._new_handle and not verbs:
            raise VerbError(
                "session:new must be answered with a non-empty verb list "
                "(jambonz rejects the call otherwise)"
            )
        if verbs and self._receipts.stamps(handle):
            ack = Ack.of_wire(handle.ack_msgid, self._receipts.stamp(verbs))
        else:
            ack = Ack.of_dicts(handle.ack_msgid, verbs)
        if self._validate and ack.verbs and not known_valid(verbs or (), self.config.jambonz):
            validate(list(ack.verbs), jambonz=self.config.jambonz)
        self._push_ack(ack, handle)
        handle.state = ReplyState.REPLIED
        handle.verbs = ack.verbs
        del self._open[handle.message.msgid]
        if self._twin is not None and handle is self._new_handle:
            self._answer_twin(self._twin, ack.verbs)

    def command(self, command: Command, now: float) -> Frame:
        """Queue ``command``; it goes out after everything queued before it.

        Raises :class:`QueueFullError` at the configured bound, :class:`CallEndedError` after
        the end, MessageTooLargeError for an oversized frame, and VerbError for invalid verbs
        in a ``redirect`` or a sub-type newer than the call's jambonz (``agent:update`` for
        0.9, which would ignore it).
        """
        del now  # commands carry no deadline; the parameter keeps the driving API uniform
        if self._ended:
            raise CallEndedError("the call has ended; the command was not sent")
        if not self.can_queue_command:
            raise QueueFullError(
                f"{self._outbox.commands_queued} commands already queued "
                f"(max_queued_commands={self.config.max_queued_commands})"
            )
        if self._validate and command.command == "redirect" and isinstance(command.data, list):
            validate(command.data, jambonz=self.config.jambonz)
        if self.config.jambonz == "0.9" and command.command in V10_COMMANDS:
            raise VerbError(
                f"command {command.command!r} needs jambonz 10 or newer; jambonz 0.9 ignores "
                "it (the target is jambonz='0.9')"
            )
        frame = self._outbox.make(self._receipts.stamp_command(command))
        self._outbox.push(frame)
        return frame

    def _push_ack(self, ack: Ack, handle: ReplyHandle | None, *, urgent: bool = False) -> None:
        try:
            frame = self._outbox.make(ack, handle)
        except MessageTooLargeError as exc:
            if ack.verbs:
                raise  # the app's verbs (or the fallback verbs): its error to see
            # An ack without verbs too large: only a msgid can make it so (the decoder bounds
            # them); the core's own ack never raises into the runtime.
            self._abort_reason = f"an ack for jambonz cannot be sent: {exc}"
            return
        self._outbox.push(frame, urgent=urgent)

    def _owed(self) -> int:
        """Frames queued, and acks owed for messages still awaiting their reply."""
        return len(self._outbox) + len(self._open)

    # ------------------------------------------------------------------ time

    @property
    def grace_until(self) -> float | None:
        """End of the pause after the ``session:new`` ack (commands wait until then)."""
        return self._grace_until

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has work to do, or ``None``."""
        deadline = min((h.reply_by for h in self._open.values()), default=None)
        for other in (self._grace_until, self._stall.deadline, self._receipts.deadline):
            if other is not None and (deadline is None or other < deadline):
                deadline = other
        return deadline

    def tick(self, now: float) -> list[CoreEvent]:
        """Ack, on the app's behalf, every message whose reply window has passed; give up
        doubts past their time; ask for a reconnect when jambonz seems stalled."""
        if self._grace_until is not None and now >= self._grace_until:
            self._grace_until = None
        events: list[CoreEvent] = []
        for handle in list(self._open.values()):
            if self._run_deadline(handle, now):
                events.append(AutoAcked(handle))
        given_up = self._receipts.tick(now)
        if given_up:
            events.append(Unconfirmed(given_up))
        reason = self._stall.due(now) if self._attached else None
        if reason is not None:
            events.append(ForceReconnect(reason))
        return events

    def _run_deadline(self, handle: ReplyHandle, now: float) -> bool:
        if handle.state is not ReplyState.OPEN or now < handle.reply_by:
            return False
        verbs: tuple[Mapping[str, Any], ...] | None = None
        if handle is self._new_handle:
            verbs = self.config.fallback_verbs
        ack = self._receipts.stamp_ack(Ack(msgid=handle.ack_msgid, verbs=verbs), handle)
        self._push_ack(ack, handle)
        handle.state = ReplyState.AUTO_ACKED
        handle.verbs = ack.verbs
        del self._open[handle.msgid]
        if self._twin is not None and handle is self._new_handle:
            self._answer_twin(self._twin, ack.verbs)
        return True

    # ------------------------------------------------------------------ sockets

    def attach(self) -> None:
        """A socket is bound to the call; queued frames may flow once it is safe."""
        self._attached = True

    def detach(self, now: float) -> list[CoreEvent]:
        """The socket dropped: jambonz abandons every pending ack but an unacked session:new.

        Queued acks for abandoned msgids are rewritten: their verbs go out as a ``redirect``
        command in the same place (so they are not lost), or they are dropped when they carry
        no verbs or cannot apply any more (a ``dial:confirm`` leg is declined by jambonz).
        """
        self._attached = False
        self._stall.detached()
        self._receipts.detach(now)
        events: list[CoreEvent] = []
        new = self._new_handle
        for handle in list(self._open.values()):
            if handle is new:
                continue
            handle.state = ReplyState.ABANDONED
            del self._open[handle.msgid]
            events.append(Abandoned(handle))
        for frame in list(self._outbox):
            if not frame.is_ack:
                continue
            if frame.handle is None or (frame.handle is new and self._new_ack_sent):
                # The core's own acks (to a reconnect, an unknown type) or a repeat of the
                # session:new verbs for a reconnect now gone: jambonz abandoned those msgids,
                # and the next session:reconnect gets answered afresh.
                self._outbox.replace(frame, None)
                why = (
                    "jbtrio's own ack (of a session:reconnect or an unknown message type)"
                    if frame.handle is None
                    else "repeat of the session:new verbs for a reconnect that was lost"
                )
                events.append(FrameRewritten(frame, None, f"{why}: its msgid is abandoned"))
            elif frame.handle is not new:
                events.append(self._rewrite_abandoned_ack(frame))
        return events

    def _rewrite_abandoned_ack(self, frame: Frame) -> FrameRewritten:
        assert isinstance(frame.message, Ack) and frame.handle is not None
        verbs = frame.message.verbs
        if not verbs:
            self._outbox.replace(frame, None)
            return FrameRewritten(frame, None, "ack without verbs for an abandoned msgid")
        if isinstance(frame.handle.message, DialConfirm | SessionAdulting | SessionReconnect):
            # a confirm leg jambonz declined, a child that ignores them, or a reconnect whose
            # verbs travel with the session:new that followed it: not for the A-leg's stack
            self._outbox.replace(frame, None)
            return FrameRewritten(
                frame, None, f"{frame.handle.type} verbs cannot apply after a drop"
            )
        redirect = Command(command="redirect", data=list(verbs), queue_command=False)
        replacement = self._outbox.make(redirect, seq=frame.seq)
        self._outbox.replace(frame, replacement)
        return FrameRewritten(frame, replacement, "ack outlived its msgid; sent as redirect")

    def next_frame(self) -> Frame | None:
        """The frame the writer should send next, or ``None`` (nothing, or not safe yet).

        Frames go in the order they were produced, with two exceptions jambonz imposes: the
        ``session:new`` ack (or the reconnect ack) goes before anything queued earlier, and
        commands wait for the session to exist (see the command gate above).
        """
        if not self._outbox.bytes_queued:
            # Empty (no frame is empty): the answer of most calls, two of a round trip's three
            # (issue 23).
            return None
        if not self._attached or self._ended or self._stall.forcing:
            return None
        if self._await_new_ack:
            new = self._new_handle
            return next((f for f in self._outbox if f.handle is new and f.is_ack), None)
        head = self._outbox.head()
        if self._grace_until is not None:
            return head if head is not None and head is self._echo_frame else None
        if (
            head is not None
            and self._receipts.in_doubt
            and head is not self._probe
            and self._receipts.holds(head)
            and not any(replaces_stack(f) for f in self._outbox)
        ):
            # Verbs appended after frames in doubt wait for the verdict (acks without verbs
            # do not). A queued frame that replaces the stack makes the doubt moot: then
            # everything goes in order, or the held verbs would run after it.
            return next((f for f in self._outbox if f.is_ack), None)
        return head

    def sending(self, frame: Frame | None) -> None:
        """The writer is writing ``frame`` now (``None``: done with it, written or not).

        A frame being written is never extended (:meth:`extend_reply`).
        """
        self._in_flight = frame

    def extend_reply(self, handle: ReplyHandle, verbs: Verbs, now: float) -> bool:
        """Append ``verbs`` to ``handle``'s ack while it is still queued, instead of a
        ``redirect`` queued after it: jambonz runs the same verbs, and both travel in one
        frame, so a socket that dies between two frames cannot drop the second one unseen
        (jambonz never acknowledges commands).

        Returns False, changing nothing, unless the ack answers a ``verb:hook`` or the
        ``session:new`` that started the call (the ack jambonz runs: after a re-key,
        docs/jambonz.md, Reconnects, its verbs are the ones repeated; the ack of a
        ``session:reconnect`` can be superseded by the re-keyed ``session:new``), is that
        handle's own ack (not the core's repeat of the ``session:new`` verbs in a reconnect's
        ack, which jambonz ignores when it had read the first one), replaced
        jambonz's verbs (an ack without verbs keeps jambonz's stack, which a redirect
        would append to), is the last frame queued, is not being written, and still fits the
        frame limit. Raises
        :class:`VerbError` for verbs jambonz would reject, like :meth:`reply`.
        """
        del now
        tail = self._outbox.tail()
        if (
            self._ended
            or tail is None
            or tail.handle is not handle
            or tail.message.msgid != handle.ack_msgid
            or tail is self._in_flight
            or not self._extensible(handle)
            or not isinstance(tail.message, Ack)
            or not tail.message.verbs
        ):
            return False
        added = list(verbs)
        if self._validate and added and not known_valid(added, self.config.jambonz):
            validate(added, jambonz=self.config.jambonz)
        more = self._receipts.stamp_ack(Ack(msgid=tail.message.msgid, verbs=added), handle)
        ack = Ack(msgid=tail.message.msgid, verbs=[*tail.message.verbs, *(more.verbs or ())])
        try:
            frame = self._outbox.make(ack, handle, seq=tail.seq)
        except MessageTooLargeError:
            return False
        self._outbox.replace(tail, frame)
        handle.verbs = ack.verbs
        return True

    def sent(self, frame: Frame, now: float | Callable[[], float]) -> bool:
        """The socket accepted ``frame`` (call after the send returned).

        ``now``: the time, or a function that reads the clock; called only for the acks that
        start a deadline, so a runtime need not read it for every frame (issue 23).

        True when it may have started a deadline (the command gate's grace, the re-key
        stall watch): only then need a runtime ask :meth:`next_deadline` again, not after
        every ack of a hook (issue 23)."""
        self._in_flight = None
        if not self._outbox.sent(frame):
            return False
        if frame is not self._probe:
            self._receipts.written(frame)
        started = False
        handle = frame.handle
        if handle is not None and handle is self._new_handle:
            self._new_ack_frame = frame
            self._new_ack_sent = True
            self._await_new_ack = False
            if not self._new_ack_confirmed:
                if callable(now):
                    now = now()
                self._grace_until = now + self.config.session_start_grace
                started = True
        if (
            self._reconnect_msgid is not None
            and frame.is_ack
            and frame.message.msgid == self._reconnect_msgid
        ):
            self._after_reconnect_ack(now() if callable(now) else now)
            started = True
        return started

    # ------------------------------------------------------------------ end

    def end(self, now: float) -> list[CoreEvent]:
        """The call is over: close every handle and drop what could not be sent."""
        del now
        if self._ended:
            return []
        self._ended = True
        self._attached = False
        for handle in self._open.values():
            handle.state = ReplyState.ENDED
        self._open.clear()
        unsent = tuple(self._outbox.clear())
        self._seen.clear()
        self._seen_next = 0
        self._seen_set.clear()
        self._receipts.clear()
        self._probe = None
        self._stall.detached()
        self._new_handle = None
        self._twin = None
        self._grace_until = None
        self._await_new_ack = False
        return [Ended(unsent)]
