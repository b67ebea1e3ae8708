"""How a call's session starts and restarts: ``session:new``, ``session:reconnect``, re-keying.

How jambonz behaves across a drop (``docs/jambonz.md``, "Reconnects"): every request still
awaiting an ack is abandoned, except an unacked ``session:new``, which is re-keyed to the
``session:reconnect`` that follows, whose ack must then carry the initial verbs.
``session:reconnect``'s own ack is otherwise ignored, so repeating the initial verbs in it is
harmless — which is how the core covers the case it cannot observe (an ack written just
before the drop, maybe never read). After such a re-keyed reconnect jambonz 0.9.8 holds every
later message back for good (the "re-key stall"); the core answers it and then asks the
runtime for one more, normal, reconnect (:class:`ForceReconnect`), which releases them.

:class:`SessionStart` is a part of :class:`~jbtrio._core.CallCore` (its base): the state it
reads and writes is the core's, set up in ``CallCore.__init__``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._wire import Ack, CallInfo, Command, InboundMessage, SessionNew, SessionReconnect
from ._config import CoreConfig
from ._events import CoreEvent, Received, Resumed
from ._outbox import Frame, Outbox
from ._receipts import Receipts
from ._reply import ReplyHandle, ReplyState
from ._stall import StallWatch

__all__ = ["SessionStart"]


class SessionStart:
    """The session's start, its reconnects and the re-key stall (see the module doc)."""

    config: CoreConfig
    session_data: CallInfo | None
    _outbox: Outbox
    _receipts: Receipts
    _stall: StallWatch
    _probe: Frame | None
    _twin: ReplyHandle | None
    _new_handle: ReplyHandle | None
    _new_ack_sent: bool
    _new_ack_confirmed: bool
    _new_ack_frame: Frame | None
    _await_new_ack: bool
    _reconnect_msgid: str | None
    _reconnect_count: int
    _echo_id: str | None
    _echo_frame: Frame | None

    # CallCore's own, which it overrides (stubs, not an ``if TYPE_CHECKING`` block, so that
    # mypyc can compile this class: it refuses such blocks in a class body; README, Performance)

    def _push_ack(self, ack: Ack, handle: ReplyHandle | None, *, urgent: bool = False) -> None:
        raise NotImplementedError

    def _new_handle_for(self, message: InboundMessage, now: float) -> ReplyHandle:
        raise NotImplementedError

    def _on_reconnect(self, message: SessionReconnect, now: float) -> list[CoreEvent]:
        new = self._new_handle
        self._reconnect_msgid = message.msgid
        self._reconnect_count += 1
        if self.session_data is None:
            # A call this core never saw (another process served it before): the app answers
            # the reconnect like a session:new; its verbs are ignored unless jambonz re-keyed,
            # and then jambonz may hold its messages back (the re-key stall).
            self.session_data = message.data
            handle = self._new_handle_for(message, now)
            self._new_handle = handle
            self._await_new_ack = True
            self._stall.reconnected("possible")
            return [Resumed(message, session_new_pending=True), Received(message, handle)]
        if new is not None and new.state is ReplyState.OPEN:
            # Dropped before the app replied to session:new: its reply now acks the reconnect,
            # under session:new's original deadline (jambonz moved its timer too). jambonz
            # had no ack at all: it will hold every later message back.
            new.ack_msgid = message.msgid
            self._await_new_ack = True
            self._stall.reconnected("certain")
            return [Resumed(message, session_new_pending=True)]
        if new is not None and not self._new_ack_sent:
            # Replied, but the ack never left: re-key it and send it first.
            self._stall.reconnected("certain")
            for frame in self._outbox:
                if frame.handle is new:
                    ack = Ack(msgid=message.msgid, verbs=new.verbs)
                    self._outbox.replace(frame, None)
                    self._outbox.push(self._outbox.make(ack, new, seq=frame.seq), urgent=True)
                    break
            new.ack_msgid = message.msgid
            self._await_new_ack = True
            return [Resumed(message, session_new_pending=True)]
        if new is not None and not self._new_ack_confirmed:
            # The ack was written but nothing proves jambonz read it: repeat its verbs (ignored
            # by jambonz if it did read it, required if it did not) and gate commands again.
            # Either way they run once, so the first ack is no longer in doubt.
            if self._new_ack_frame is not None:
                self._receipts.forget(self._new_ack_frame)
            self._push_ack(Ack(msgid=message.msgid, verbs=new.verbs), new, urgent=True)
            self._await_new_ack = True
            self._stall.reconnected("possible")
        else:
            self._stall.reconnected(None)
            self._push_ack(Ack(msgid=message.msgid), None, urgent=True)
        return [Resumed(message, session_new_pending=False)]

    def _started_by_reconnect(self) -> bool:
        first = self._new_handle
        return first is not None and isinstance(first.message, SessionReconnect)

    def _on_late_session_new(self, message: SessionNew, now: float) -> list[CoreEvent]:
        """jambonz lost its first socket before writing ``session:new``: it reconnected, sent
        ``session:reconnect`` (which this core, never having seen the call, gave the app as
        the start of the session) and then the queued ``session:new``. The app answers once;
        the core gives ``session:new`` the same verbs, since that ack is the one that counts."""
        first = self._new_handle
        assert first is not None
        twin = ReplyHandle(
            message=message,
            received_at=now,
            deadline=now + self.config.ack_timeout,
            reply_by=now + self.config.reply_window,
            ack_msgid=message.msgid,
        )
        if first.state is ReplyState.OPEN:
            self._twin = twin
        else:
            self._answer_twin(twin, first.verbs)
        return []

    def _answer_twin(self, twin: ReplyHandle, verbs: tuple[Mapping[str, Any], ...] | None) -> None:
        ack = Ack(msgid=twin.ack_msgid, verbs=verbs or self.config.fallback_verbs)
        self._outbox.push(self._outbox.make(ack, twin), urgent=True)
        twin.state = ReplyState.REPLIED
        twin.verbs = ack.verbs
        self._twin = None
        self._new_handle = twin
        self._new_ack_sent = False
        self._await_new_ack = True

    def _after_reconnect_ack(self, now: float) -> None:
        """The ack of the latest ``session:reconnect`` is out: probe what is in doubt, and
        watch for the re-key stall (module doc)."""
        self._reconnect_msgid = None
        probe = self._receipts.probe()
        if probe is not None:
            self._probe = self._outbox.make(probe)
            self._outbox.push(self._probe, urgent=True)
        if self._stall.acked(now):
            self._echo_id = f"jbe{self._stall.forced + 1}-{self._reconnect_count}"
            echo = Command(command="tts:tokens", data={"id": self._echo_id})
            # Past the command gate: if jambonz drops it (its session starting in the same
            # read), it was re-keyed, and no echo is exactly the right answer.
            self._echo_frame = self._outbox.make(echo)
            self._outbox.push(self._echo_frame, urgent=True)

    def _extensible(self, handle: ReplyHandle) -> bool:
        if handle.type == "verb:hook":
            return True
        return (
            handle is self._new_handle
            and self._twin is None
            and isinstance(handle.message, SessionNew)
        )
