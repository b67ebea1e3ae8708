"""What a call does with what its protocol core reports: messages go to the app (or its
bounded backlog), the rest is logged once, with the call_sid, and wakes the writer where
frames became ready. A part of :class:`~._session.CallSession`."""

from __future__ import annotations

from collections.abc import Iterable

import trio

from .._core import (
    Abandoned,
    AutoAcked,
    Confirmed,
    CoreEvent,
    Duplicate,
    ForceReconnect,
    FrameRewritten,
    Received,
    Refused,
    Resent,
    Resumed,
    Unconfirmed,
)
from .._wire import InboundMessage, TtsStreamingEvent, TtsTokensResult
from ._session_parts import Consumer, SessionParts

__all__ = ["consume", "deliver", "handle_core_events", "received"]


#: What the TTS pump is fed before the app sees it (a tuple: cheaper than a union).
_FOR_THE_PUMP = (TtsTokensResult, TtsStreamingEvent)


def received(self: SessionParts, event: Received) -> None:
    """A message for the app (the core's usual event: see :meth:`CallSession.feed_message`)."""
    if self._first_handle is None and event.reply is not None:
        self._first_handle = event.reply
    if isinstance(event.message, _FOR_THE_PUMP):
        # The pump needs these first; the app still sees them.
        self.tts_driver.feed(event.message, trio.current_time())
    consumer = self._consumer
    if consumer is not None:
        # _consume inline: one call fewer per message (issue 23)
        try:
            consumer(event)
        except Exception:
            _routing_failed(self, event)
    else:
        self._deliver(event)


def handle_core_events(self: SessionParts, events: Iterable[CoreEvent]) -> None:
    for event in events:
        if isinstance(event, Received):
            received(self, event)
        elif isinstance(event, AutoAcked):
            self.stats.auto_acks += 1
            self.log.warning(
                "%s %s not answered in %.1f s: acked automatically%s",
                event.handle.type,
                event.handle.msgid,
                self.core.config.reply_window,
                " with the fallback verbs" if event.handle.verbs else "",
            )
        elif isinstance(event, Abandoned):
            self.log.warning(
                "%s %s abandoned by jambonz when the socket dropped",
                event.handle.type,
                event.handle.msgid,
            )
        elif isinstance(event, FrameRewritten):
            self.log.warning("queued frame rewritten: %s", event.reason)
        elif isinstance(event, Resumed):
            self.stats.reconnects += 1
            self.log.info(
                "call resumed on a new socket%s",
                " (session:new reply pending)" if event.session_new_pending else "",
            )
        elif isinstance(event, Resent):
            self.stats.resent += 1
            self.log.warning(
                "%d frame(s) written before the drop never reached jambonz (%s): %s",
                len(event.lost),
                event.evidence,
                "their verbs re-sent as a redirect" if event.frame else "nothing to re-send",
            )
            self._frames_ready.set()
        elif isinstance(event, Confirmed):
            self.log.info("frames written before the drop did reach jambonz (%s)", event.evidence)
            self._frames_ready.set()
        elif isinstance(event, Unconfirmed):
            self.stats.unconfirmed += 1
            self.stats.errors += 1
            self.log.error(
                "%d frame(s) written before the drop: no evidence whether jambonz ran them "
                "within %g s; not re-sent (it could run them twice)",
                len(event.frames),
                self.core.config.doubt_timeout,
            )
            self._frames_ready.set()
            if self.on_unconfirmed is not None:
                self.on_unconfirmed(event)
        elif isinstance(event, ForceReconnect):
            self.stats.stall_recoveries += 1
            self.log.warning(
                "closing the socket with 1011 to make jambonz reconnect: %s", event.reason
            )
            self._force_close = event.reason
            self._frames_ready.set()
        elif isinstance(event, Refused):
            self.log.warning(
                "%s %s refused: %s",
                event.message.TYPE if isinstance(event.message, InboundMessage) else "message",
                event.message.msgid,
                event.reason,
            )
        elif isinstance(event, Duplicate):
            self.log.info("duplicate msgid %s dropped", event.message.msgid)


def deliver(self: SessionParts, event: Received) -> None:
    consumer = self._consumer
    if consumer is not None:
        self._consume(consumer, event)
    elif self.ended:
        return
    elif len(self._backlog) < self.config.inbox_size:
        self._backlog.append(event)
    else:
        self.stats.dropped += 1
        self.log.error(
            "app inbox full (inbox_size=%d): %s %s dropped%s",
            self.config.inbox_size,
            event.message.TYPE if isinstance(event.message, InboundMessage) else "message",
            event.message.msgid,
            "; it will be acked automatically" if event.reply is not None else "",
        )


def consume(self: SessionParts, consumer: Consumer, event: Received) -> None:
    try:
        consumer(event)
    except Exception:
        _routing_failed(self, event)


def _routing_failed(self: SessionParts, event: Received) -> None:
    # The app's routing failed for this message: log it, keep the call (its ack, if any,
    # is still sent by the deadline policy). Called in the except block: the log has it.
    self.log.exception(
        "routing %s %s to the app failed",
        event.message,
        event.message.msgid,
    )
