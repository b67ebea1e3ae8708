"""The app's view of one call: its info, its messages with their replies, its commands.

A :class:`Call` is handed to the handler an :class:`~jbtrio.App` routes a session to. It
survives reconnects (the same object, whatever socket jambonz uses), and everything sent
through it goes through the call's ordered, reconnect-proof outbound queue.
"""

from __future__ import annotations

import fnmatch
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs
import trio

from . import commands
from ._core import ReplyHandle
from ._errors import ReplyError
from ._runtime import CallSession, Incoming
from ._runtime._logging import CallLogger
from ._wire import CallInfo, Command, InboundMessage, UnknownMessage

__all__ = ["Call", "Event", "EventHandler"]

Verbs = Iterable[Mapping[str, Any] | Any]


@attrs.frozen(eq=False)
class Event:
    """A message from jambonz, with the means to answer it when jambonz waits for an ack."""

    message: InboundMessage | UnknownMessage
    call: Call
    handle: ReplyHandle | None

    @property
    def type(self) -> str:
        """The message's wire type (``verb:hook``, ``call:status``, ...)."""
        message = self.message
        return message.type if isinstance(message, UnknownMessage) else message.TYPE

    @property
    def hook(self) -> str | None:
        """The hook path the message was sent to, for the types that carry one."""
        hook = getattr(self.message, "hook", None)
        return hook if isinstance(hook, str) else None

    @property
    def needs_reply(self) -> bool:
        """Whether jambonz still waits for an ack to this message."""
        return self.handle is not None and self.handle.is_open

    async def reply(self, verbs: Verbs | None = None) -> None:
        """Ack this message, with ``verbs`` replacing what jambonz was about to run.

        Raises :class:`~jbtrio.ReplyError` when the message needs no ack, was answered
        already, or its window has passed (then send the verbs with :meth:`Call.redirect`).
        """
        if self.handle is None:
            raise ReplyError(f"{self.type} needs no reply", state="not_ack_required")
        await self.call.session.reply(self.handle, verbs)


EventHandler = Callable[[Event], Awaitable[None]]


@attrs.frozen
class _Subscription:
    pattern: str
    hook: str | None
    handler: EventHandler

    def matches(self, event: Event) -> bool:
        if self.hook is not None and event.hook != self.hook:
            return False
        return fnmatch.fnmatchcase(event.type, self.pattern)


class Call:
    """One call, as the app sees it.

    - ``info``/``sid``/``path``/``locals``: what the call is, and per-call state of the app;
    - ``start``: the message that began the session (``session:new`` usually), to be
      answered with the first verbs: ``await call.start.reply([...])``;
    - ``events()``: every later message not taken by an :meth:`on` handler, in order;
    - :meth:`redirect`, :meth:`send`, :meth:`hangup`: verbs and commands, queued in order.
    """

    def __init__(self, session: CallSession, nursery: trio.Nursery) -> None:
        self.session = session
        self._nursery = nursery
        self._subscriptions: list[_Subscription] = []
        self._events_send, self._events_receive = trio.open_memory_channel[Event](
            session.config.inbox_size
        )
        handle = session.first_reply
        first = session.first_message
        self.start = Event(first, self, handle if handle and handle.message is first else None)

    @property
    def sid(self) -> str:
        """The call sid."""
        return self.session.call_sid

    @property
    def info(self) -> CallInfo:
        """The call info jambonz sent when the session started."""
        data = getattr(self.session.first_message, "data", None)
        return data if isinstance(data, CallInfo) else CallInfo(call_sid=self.sid)

    @property
    def path(self) -> str:
        """The request path jambonz connected to."""
        return self.session.path

    @property
    def locals(self) -> dict[str, Any]:
        """Free per-call storage for the app (kept across reconnects)."""
        return self.session.locals

    @property
    def resumed(self) -> bool:
        """True when the call started here with a ``session:reconnect`` (another process
        served it before); the app is resuming a call, not greeting a new caller."""
        return self.session.resumed

    @property
    def log(self) -> CallLogger:
        """A logger whose records carry this call's sid."""
        return self.session.log

    @property
    def ended(self) -> bool:
        """Whether the call is over."""
        return self.session.ended

    # ------------------------------------------------------------------ outbound

    async def redirect(self, verbs: Verbs, *, queue: bool = False) -> None:
        """Run ``verbs`` now (replacing the verb stack), or after it when ``queue``."""
        await self.send(commands.redirect(verbs, queue=queue))

    async def send(self, command: Command) -> None:
        """Queue any command (see :mod:`jbtrio.commands`), waiting if the queue is full."""
        await self.session.send(command)

    async def hangup(self) -> None:
        """Hang the call up (command ``call:status`` ``completed``)."""
        await self.send(commands.hangup())

    async def wait_ended(self) -> None:
        """Wait until the call is over."""
        await self.session.wait_ended()

    # ------------------------------------------------------------------ inbound

    def on(self, pattern: str, handler: EventHandler, *, hook: str | None = None) -> None:
        """Run ``handler(event)`` for each message whose type matches ``pattern``.

        ``pattern`` is a type (``"call:status"``) or a glob (``"tts:*"``, ``"llm:*"``,
        ``"*"``); ``hook`` narrows it to one hook path. Each handler runs as its own task in
        the call's nursery; an exception in it ends this call only.
        """
        self._subscriptions.append(_Subscription(pattern, hook, handler))

    def events(self) -> trio.MemoryReceiveChannel[Event]:
        """The messages no :meth:`on` handler took, in arrival order (one consumer)."""
        return self._events_receive

    async def _dispatch(self) -> None:
        inbox: AsyncIterator[Incoming] = self.session.inbox.__aiter__()
        async for incoming in inbox:
            if incoming.message is self.session.first_message:
                continue
            event = Event(incoming.message, self, incoming.reply)
            taken = False
            for subscription in self._subscriptions:
                if subscription.matches(event):
                    taken = True
                    self._nursery.start_soon(
                        subscription.handler,
                        event,
                        name=f"call {self.sid} on {event.type} {subscription.handler!r}",
                    )
            if taken:
                continue
            try:
                self._events_send.send_nowait(event)
            except trio.WouldBlock:
                self.log.error(
                    "events() backlog full (inbox_size=%d): %s %s dropped%s",
                    self.session.config.inbox_size,
                    event.type,
                    event.message.msgid,
                    "; it will be acked automatically" if event.needs_reply else "",
                )
        self._events_send.close()
