"""Inbound routing: who gets each message jambonz sends on a call.

In the order asked, for each message the call's session hands over (in the reader's task, so
nothing here blocks):

1. a ``verb:hook`` goes to the flow step waiting for it (:class:`~jbtrio._flow_runner.FlowRunner`);
2. what the call itself must hear: a hook jambonz gave up on, a verb finished, the call
   completed, an ``llm:tool-call`` or ``agent:tool-call`` for a tool served here, and what
   the app routes specially
   (``dial:confirm``, ``session:redirect`` to a mounted flow);
3. the handlers subscribed to its type (the call's and the app's), each in its own task;
4. else :meth:`InboundRouter.events`, once someone asked for it; else an ack without verbs,
   so that jambonz carries on instead of waiting for an answer nobody will give.

The router is generic in the event it hands out (:class:`~jbtrio.Event`, made by the call) so
that it needs nothing of the call but what it is given.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import attrs
import trio

from ._core import ReplyHandle
from ._event_stream import EventStream
from ._flow_runner import FlowRunner
from ._runtime import CallSession, Incoming
from ._tool_serving import ToolServer
from ._wire import (
    AgentToolCall,
    CallInfo,
    CallStatus,
    InboundMessage,
    JambonzError,
    LlmToolCall,
    UnknownMessage,
    VerbHook,
    VerbStatus,
)

__all__ = ["InboundRouter", "Routed", "Subscription"]


class Routed(Protocol):
    """What routing reads of an event (:class:`~jbtrio.Event` has it all)."""

    @property
    def message(self) -> InboundMessage | UnknownMessage: ...
    @property
    def handle(self) -> ReplyHandle | None: ...
    @property
    def type(self) -> str: ...
    @property
    def hook(self) -> str | None: ...
    @property
    def needs_reply(self) -> bool: ...


_E = TypeVar("_E", bound=Routed)


@attrs.frozen
class Subscription(Generic[_E]):
    """An event handler and what it listens to (a type or glob, and maybe one hook path)."""

    pattern: str
    hook: str | None
    handler: Callable[[_E], Awaitable[None]]

    def matches(self, event: _E) -> bool:
        """Whether ``event`` is for this handler."""
        if self.hook is not None and event.hook != self.hook:
            return False
        return fnmatch.fnmatchcase(event.type, self.pattern)


def _no_event(message: InboundMessage | UnknownMessage, reply: ReplyHandle | None) -> Any:
    raise RuntimeError("the call is over: no more events")


def _not_special(event: Any) -> bool:
    return False


class InboundRouter(Generic[_E]):
    """Routes one call's messages (see the module's docstring for the order).

    ``make_event(message, handle)`` makes the event handed to handlers; ``shared`` are the
    app's subscriptions (read at each message, so a handler registered later hears);
    ``special(event)`` takes what the app routes itself, True when it did.
    """

    # Slots: one per call (issue 23: memory per call).
    __slots__ = (
        "_events",
        "_events_wanted",
        "_flows",
        "_make_event",
        "_nursery",
        "_session",
        "_shared",
        "_special",
        "_subscriptions",
        "_tools",
        "latest_api_url",
    )

    def __init__(
        self,
        session: CallSession,
        nursery: trio.Nursery,
        *,
        make_event: Callable[[InboundMessage | UnknownMessage, ReplyHandle | None], _E],
        flows: FlowRunner,
        tools: ToolServer,
        shared: Sequence[Subscription[_E]],
        special: Callable[[_E], bool],
    ) -> None:
        self._session = session
        self._nursery = nursery
        self._make_event = make_event
        self._flows = flows
        self._tools = tools
        self._shared = shared
        self._special = special
        self._subscriptions: list[Subscription[_E]] = []
        # Not EventStream[_E](...): a subscripted call costs time and sets __orig_class__.
        self._events: EventStream[_E] = EventStream(session.config.inbox_size)
        self._events_wanted = False
        self.latest_api_url: str | None = None
        """The newest ``api_base_url`` jambonz sent (in ``session:new`` or a hook)."""

    def release(self) -> None:
        """The call is over: let go of the call's callbacks (they refer back to the call,
        a cycle only a full collection would free)."""
        self._make_event = _no_event
        self._special = _not_special
        self._shared = ()

    def subscribe(self, subscription: Subscription[_E]) -> None:
        """Hand matching events to ``subscription`` from now on (before the app's)."""
        self._subscriptions.append(subscription)

    def events(self) -> EventStream[_E]:
        """The events nothing else took (see :meth:`jbtrio.Call.events`)."""
        self._events_wanted = True
        return self._events

    def want_events(self) -> None:
        """Keep unhandled events for :meth:`events` from now on."""
        self._events_wanted = True

    def wants(self, message_type: str) -> bool:
        """Whether some handler listens to ``message_type`` (so jambonz must be asked for it).

        ``agent:event`` is also wanted by a reader of :meth:`events` (a handler's way to read
        everything): the ``agent`` verb's events are the conversation itself, not vendor
        chatter."""
        if message_type == "agent:event" and self._events_wanted:
            return True
        return any(
            fnmatch.fnmatchcase(message_type, sub.pattern) for sub in self._all_subscriptions()
        )

    def close(self) -> None:
        """The call ended: :meth:`events` ends once its backlog is read."""
        self._events.close_sending()

    # ------------------------------------------------------------------ routing

    def consume(self, incoming: Incoming) -> None:
        """Route one message from jambonz to whatever waits for it (in the reader's task:
        never blocks). The session's first message is the call's ``start``, not routed."""
        if incoming.message is self._session.first_message:
            return
        message, handle = incoming.message, incoming.reply
        data = getattr(message, "data", None)
        if isinstance(data, CallInfo) and data.api_base_url:
            self.latest_api_url = data.api_base_url
        if isinstance(message, VerbHook):
            # The common case, first: a hook goes to the flow step waiting for it, if any.
            if self._flows.deliver_hook(message, handle):
                return
            event = self._make_event(message, handle)
        else:
            event = self._make_event(message, handle)
            if self._take_notice(event):
                return
        self._hand_out(event)

    def _take_notice(self, event: _E) -> bool:
        """What messages other than hooks mean to the call itself; True when taken."""
        message = event.message
        if isinstance(message, JambonzError):
            self._flows.jambonz_error(message)
        if isinstance(message, VerbStatus) and message.data.event == "finished":
            self._flows.verb_finished(str(message.data.id))
        if (
            isinstance(message, CallStatus)
            and message.data.call_status == "completed"
            and message.data.call_sid in (None, self._session.call_sid)
        ):
            self._flows.call_completed()
        if isinstance(message, LlmToolCall | AgentToolCall) and self._tools.serve(message):
            return True
        return self._special(event)

    def _hand_out(self, event: _E) -> None:
        """To the subscribed handlers, else to :meth:`events`, else answered at once."""
        taken = False
        for subscription in self._all_subscriptions():
            if subscription.matches(event):
                taken = True
                self._nursery.start_soon(
                    subscription.handler,
                    event,
                    name=f"call {self._session.call_sid} on {event.type} {subscription.handler!r}",
                )
        if taken:
            return
        if not self._events_wanted:
            if event.handle is not None and event.handle.is_open:
                # nobody wants it: let jambonz carry on at once
                self._session.reply(event.handle, None)
            return
        try:
            self._events.put_nowait(event)
        except trio.WouldBlock:
            self._session.log.error(
                "events() backlog full (inbox_size=%d): %s %s dropped%s",
                self._session.config.inbox_size,
                event.type,
                event.message.msgid,
                "; it will be acked automatically" if event.needs_reply else "",
            )

    def _all_subscriptions(self) -> Sequence[Subscription[_E]]:
        if not self._shared:
            return self._subscriptions
        return [*self._subscriptions, *self._shared]
