"""A call's inbound side: a frame from jambonz decoded and fed to the core, and what the core
makes of it handed on (to the app, the timer, the writer). A part of
:class:`~._session.CallSession` (its ``feed`` and ``feed_message``).

Its own module so that the compiled build compiles it (issue 23): the session's class stays
interpreted, and these ran as interpreted calls for every frame.
"""

from __future__ import annotations

from .._core import Received
from .._errors import ProtocolError
from .._wire import InboundMessage, UnknownMessage, decode
from ._session_events import handle_core_events, received
from ._session_parts import SessionParts
from ._session_timer import arm

__all__ = ["feed", "feed_message"]

#: What a text frame from jambonz may decode to (a tuple: isinstance with one is cheaper
#: than with a union, issue 23).
_FOR_THE_CORE = (InboundMessage, UnknownMessage)


def feed(self: SessionParts, text: str | bytes) -> None:
    """Decode one inbound frame and hand it to the core and the app; never blocks."""
    stats = self.stats
    stats.frames_in += 1
    stats.bytes_in += len(text)
    if not isinstance(text, str):
        stats.dropped += 1
        self.log.warning("binary frame skipped: jambonz sends text frames only")
        return
    try:
        message = decode(text)
    except ProtocolError as exc:
        stats.dropped += 1
        self.log.warning("malformed frame skipped: %s", exc)
        return
    if not isinstance(message, _FOR_THE_CORE):
        stats.dropped += 1
        self.log.warning("unexpected %s frame from jambonz skipped", message.TYPE)
        return
    feed_message(self, message)


def feed_message(self: SessionParts, message: InboundMessage | UnknownMessage) -> None:
    """Hand an already-decoded message to the core and the app."""
    core = self.core
    try:
        events = core.receive(message, self._now())
    except Exception as exc:  # a bug: never out of the reader, never for other calls
        self.log.error("protocol core failed on %s: %r", message, exc, exc_info=exc)
        self.abort(f"protocol core failed: {exc!r}")
        return
    if core.abort_reason is not None:
        self.abort(core.abort_reason)
        return
    if len(events) == 1 and type(event := events[0]) is Received:
        # The usual message, one for the app: no loop over the core's events, and the
        # deadline armed inline (issue 23).
        reply = event.reply
        if reply is not None and reply.reply_by < self._armed:
            arm(self, reply.reply_by)
        received(self, event)
    else:
        arm(self, core.next_deadline())
        handle_core_events(self, events)
    if core.next_frame() is not None:
        self._frames_ready.set()
