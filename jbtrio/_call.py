"""The app's view of one call: its info, its messages with their replies, its commands.

A :class:`Call` is handed to the handler or flow an :class:`~jbtrio.App` routes a session
to. It survives reconnects (the same object, whatever socket jambonz uses), and everything
sent through it goes through the call's ordered, reconnect-proof outbound queue.

Three ways to drive a call, freely mixed:

- **flows** (async generators, see :mod:`jbtrio._flow`), run by :meth:`Call.run_flow`;
- **awaitable verbs**: ``await call.run(verbs)`` returns when jambonz has finished them,
  ``await call.gather(...)`` returns the typed result;
- **events**: ``call.on(pattern, handler)`` and ``async for event in call.events()``, each
  event carrying its own reply.
"""

from __future__ import annotations

import fnmatch
import inspect
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs
import trio

from . import commands
from ._core import ReplyHandle, abandoned_msgid
from ._errors import HookFailed, MessageTooLargeError, ProtocolError, ReplyError, VerbError
from ._event_stream import EventStream
from ._flow import Prepared, Step, prepare, verb_name
from ._runtime import CallSession, Incoming
from ._runtime._logging import CallLogger
from ._tts import TtsStream
from ._wire import (
    CallInfo,
    CallStatus,
    Command,
    GatherResult,
    InboundMessage,
    JambonzError,
    LlmToolCall,
    UnknownMessage,
    VerbHook,
    VerbStatus,
)
from .verbs import Gather
from .verbs._validate import VERB_ALIASES

if TYPE_CHECKING:
    from ._app import AppHooks

__all__ = ["DEFAULT_ERROR_VERBS", "Call", "Event", "EventHandler", "Flow", "Tool"]

Verbs = Iterable[Mapping[str, Any] | Any]
Flow = Callable[["Call"], AsyncGenerator[Any, Any]]
"""An ``async def flow(call): ... yield ...`` generator function."""
Tool = Callable[..., Awaitable[Any]]
"""An LLM tool: ``async def tool(call, **args) -> result``."""

#: How long a flow's ``finally`` blocks may run after a hang-up.
_FLOW_CLOSE_TIMEOUT = 5.0
#: Errors a yield can cause that are thrown back into the flow at that ``yield``.
_STEP_ERRORS = (ProtocolError, VerbError, MessageTooLargeError, TypeError, HookFailed)

#: ``jambonz:error`` ``msg`` when jambonz could not get an answer from a verb's action hook.
_HOOK_FAILED = "invalid actionHook response"


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
        It does not wait, and is no checkpoint (the ``async for`` over :meth:`Call.events`
        that got the event is one): the ack is written at once when the socket takes it,
        else queued for the call's writer task.
        """
        if self.handle is None:
            raise ReplyError(f"{self.type} needs no reply", state="not_ack_required")
        self.call.session.reply(self.handle, verbs)


EventHandler = Callable[[Event], Awaitable[None]]


@attrs.frozen
class Subscription:
    """An event handler and what it listens to (a type or glob, and maybe one hook path)."""

    pattern: str
    hook: str | None
    handler: EventHandler

    def matches(self, event: Event) -> bool:
        """Whether ``event`` is for this handler."""
        if self.hook is not None and event.hook != self.hook:
            return False
        return fnmatch.fnmatchcase(event.type, self.pattern)


class _HookWaiter:
    """Resolved by the first of a step's hooks to fire, or failed when jambonz reports that
    it could not deliver the hook of one of the step's ``verbs``."""

    def __init__(self, verbs: frozenset[str]) -> None:
        self.verbs = verbs
        self.event: Event | None = None
        self.error: HookFailed | None = None
        self._done = trio.Event()

    def deliver(self, event: Event) -> None:
        if not self._done.is_set():
            self.event = event
            self._done.set()

    def fail(self, error: HookFailed) -> None:
        if not self._done.is_set():
            self.error = error
            self._done.set()

    async def wait(self) -> Event:
        await self._done.wait()
        if self.error is not None:
            raise self.error
        assert self.event is not None
        return self.event


class _Driver:
    """Who is answering what: the reply a flow's next ``yield`` answers, and its scope.

    A call has a main driver (its flow, or the awaitable verbs); a ``dial:confirm`` flow or a
    flow taking over on ``session:redirect`` gets its own, so they never answer each other's
    hooks.
    """

    def __init__(self, pending: ReplyHandle | None) -> None:
        self.pending = pending
        self.answered: ReplyHandle | None = None
        """The hook this driver answered last (its ack may still be queued, and the verbs
        of the next steps can then travel in it)."""
        self.scope = trio.CancelScope()
        # Whether the code last resumed on a hook: its next verbs replace what jambonz is
        # running (as an ack would). After a yield that resumed at once they are appended,
        # so ``yield Say(...)`` then ``yield Gather(...)`` plays the say, then gathers.
        self.after_hook = True


def _drop_tracebacks(exc: BaseException) -> None:
    """Clear the tracebacks of ``exc`` and of the exceptions chained to it, once logged: a
    traceback's frames refer to the call (and to the exception, through their locals), a
    cycle only a full collection would free."""
    stack: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        stack += (current.__context__, current.__cause__)


class Call:
    """One call, as the app sees it.

    - ``info``/``sid``/``path``/``locals``: what the call is, and per-call state of the app;
    - ``start``: the message that began the session (``session:new`` usually);
    - :meth:`run`, :meth:`gather`, :meth:`ask`: awaitable verbs;
    - :meth:`redirect`, :meth:`send`, :meth:`hangup` and one method per command sub-type;
    - :meth:`on`, :meth:`events`: everything else jambonz sends.
    """

    def __init__(
        self, session: CallSession, nursery: trio.Nursery, hooks: AppHooks | None = None
    ) -> None:
        self.session = session
        self._nursery = nursery
        self._app = hooks
        self._subscriptions: list[Subscription] = []
        self._tools: dict[str, Tool] = {}
        self._events = EventStream[Event](session.config.inbox_size)
        self._events_wanted = False
        handle = session.first_reply
        first = session.first_message
        self.start = Event(first, self, handle if handle and handle.message is first else None)
        self._main = _Driver(self.start.handle)
        self._drivers: set[_Driver] = set()
        self._hook_waiters: dict[str, _HookWaiter] = {}
        self._finish_waiters: dict[str, trio.Event] = {}
        self._hooks_made = 0
        self._ids_made = 0
        self._notify_events_on = False
        self._llm_vendor: str | None = None
        self._hung_up = trio.Event()
        session.consume(self._consume, self._events.close_sending, self._release)

    def _release(self) -> None:
        """The call is over and its tasks are done: ``start`` points back at this call, a
        cycle that would keep the call (and its session) until a full collection; its
        event now refers to the call weakly."""
        self.start = attrs.evolve(self.start, call=weakref.proxy(self))

    # ------------------------------------------------------------------ what the call is

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
        served it before): the app is resuming a call, not greeting a new caller."""
        return self.session.resumed

    @property
    def log(self) -> CallLogger:
        """A logger whose records carry this call's sid."""
        return self.session.log

    @property
    def ended(self) -> bool:
        """Whether the call is over."""
        return self.session.ended

    @property
    def hung_up(self) -> bool:
        """Whether jambonz reported this call ``completed``."""
        return self._hung_up.is_set()

    async def wait_ended(self) -> None:
        """Wait until the call is over."""
        await self.session.wait_ended()

    # ------------------------------------------------------------------ awaitable verbs

    async def run(self, verbs: Any) -> None:
        """Hand ``verbs`` to jambonz and return when it has finished running them.

        Like a flow's ``yield``, they answer the hook that resumed this code if jambonz still
        waits for it, else they go out as a ``redirect``. Finishing is known from
        ``verb:status`` (verb ids and ``notifyEvents`` are set up automatically).
        """
        await self.step(Step(_tuple(verbs), wait_finished=True))

    async def gather(self, **properties: Any) -> GatherResult:
        """Run a ``gather`` with ``properties`` (snake_case, as :class:`~jbtrio.verbs.Gather`)
        and return its typed result."""
        result = await self.step(Gather(**properties))
        assert isinstance(result, GatherResult)
        return result

    async def ask(self, verb: Any) -> Any:
        """Run one verb that reports back (dial, llm, listen, ...) and return its payload."""
        return await self.step(verb)

    async def step(self, step: Any, *, _driver: _Driver | None = None) -> Any:
        """Hand one flow step to jambonz and wait as the flow would (see :mod:`jbtrio._flow`).

        Returns the typed payload of the hook that fired, or ``None``.
        """
        driver = _driver or self._main
        prepared = prepare(
            step,
            new_hook=self._new_hook,
            new_id=self._new_id,
            notify_events_on=self._notify_events_on,
        )
        self._note_llm(prepared)
        waiter = (
            _HookWaiter(frozenset(filter(None, map(verb_name, prepared.verbs))))
            if prepared.hooks
            else None
        )
        finished = trio.Event() if prepared.finished_id is not None else None
        for hook in prepared.hooks:
            self._hook_waiters[hook] = waiter  # type: ignore[assignment]
        if finished is not None:
            self._finish_waiters[prepared.finished_id] = finished  # type: ignore[index]
        try:
            await self._hand_over(
                prepared.verbs, driver, final=waiter is not None or finished is not None
            )
            if prepared.finished_id is not None:
                self._notify_events_on = True
            if waiter is not None:
                try:
                    event = await waiter.wait()
                except HookFailed:
                    driver.after_hook = True  # jambonz idles with an empty stack
                    raise
                driver.pending = event.handle
                driver.after_hook = True
                assert isinstance(event.message, VerbHook) and event.hook is not None
                return prepared.hooks[event.hook](event.message)
            if finished is not None:
                await finished.wait()
            return None
        finally:
            for hook in prepared.hooks:
                if self._hook_waiters.get(hook) is waiter:
                    del self._hook_waiters[hook]
            if prepared.finished_id is not None:
                self._finish_waiters.pop(prepared.finished_id, None)

    async def _hand_over(
        self, verbs: list[dict[str, Any]], driver: _Driver, *, final: bool = True
    ) -> None:
        """Answer the pending hook with ``verbs`` if jambonz still waits, else redirect.

        A redirect replaces jambonz's verb stack when these verbs answer a hook (what the
        ack would have done), and is queued after it otherwise. ``final=False`` (the flow
        resumes at once) leaves the ack queued until the flow's next checkpoint, so that
        the next step may still join it; a final step's ack is written at once.
        """
        handle, driver.pending = driver.pending, None
        replace, driver.after_hook = driver.after_hook, False
        if handle is not None and handle.is_open:
            try:
                self.session.reply(handle, verbs, now=final)
                driver.answered = handle
                return
            except ReplyError:
                pass  # its window closed meanwhile: the verbs go as a command instead
        answered, driver.answered = driver.answered, None
        if not replace and answered is not None and self.session.extend_reply(answered, verbs):
            driver.answered = answered  # still queued: later steps may join it too
            await trio.lowlevel.checkpoint()
            return
        await self.redirect(verbs, queue=not replace)

    def _new_hook(self, verb: str) -> str:
        self._hooks_made += 1
        return f"/jbtrio/{verb}/{self._hooks_made}"

    def _new_id(self) -> str:
        self._ids_made += 1
        return f"jbtrio-{self._ids_made}"

    def _note_llm(self, prepared: Prepared) -> None:
        for verb in prepared.verbs:
            if verb_name(verb) != "llm":
                continue
            body = verb if "verb" in verb else verb[next(iter(verb))]
            alias = verb.get("verb") if "verb" in verb else next(iter(verb))
            vendor = body.get("vendor") or VERB_ALIASES.get(str(alias), ("", None))[1]
            if isinstance(vendor, str):
                self._llm_vendor = vendor
            if self._tool_names() and "toolHook" not in body:
                body["toolHook"] = "/jbtrio/tools"
            if "eventHook" not in body and self._wants("llm:event"):
                body["eventHook"] = "/jbtrio/llm-events"  # jambonz sends llm:event only then

    # ------------------------------------------------------------------ flows

    async def run_flow(self, flow: Flow, *, first: ReplyHandle | None = None) -> None:
        """Drive ``flow`` to its end.

        Without ``first`` it is the call's main flow, whose first ``yield`` answers the
        session's start; with ``first`` (a ``dial:confirm`` or ``session:redirect`` reply) it
        runs beside it and its first ``yield`` answers that. A hang-up closes the flow
        (``finally`` blocks run); an exception in it ends this call only, after the app's
        apology verbs, logged with the call_sid.
        """
        agen = flow(self)
        if not inspect.isasyncgen(agen):
            raise TypeError(f"{flow!r} is not an async generator function (it must yield)")
        driver = self._main if first is None else _Driver(first)
        driver.scope = trio.CancelScope()
        self._drivers.add(driver)
        try:
            with driver.scope:
                if self._hung_up.is_set():
                    driver.scope.cancel()
                await self._drive(agen, driver)
        except Exception as exc:  # the author's code failed: this call only
            name = getattr(flow, "__name__", repr(flow))
            if isinstance(exc, ProtocolError):  # jambonz's data, not the author's code
                self.log.error("flow %s ended by what jambonz sent: %s", name, str(exc))
            else:
                self.log.error("flow %s failed: %r", name, exc, exc_info=exc)
            _drop_tracebacks(exc)  # their frames hold this call: no cycle outlives it
            await self._apologise(driver)
        finally:
            self._drivers.discard(driver)
            with trio.CancelScope(shield=True), trio.move_on_after(_FLOW_CLOSE_TIMEOUT):
                await agen.aclose()

    async def _drive(self, agen: AsyncGenerator[Any, Any], driver: _Driver) -> None:
        outcome: tuple[Literal["send", "throw"], Any] = ("send", None)
        while True:
            try:
                if outcome[0] == "send":
                    step = await agen.asend(outcome[1])
                else:
                    step = await agen.athrow(outcome[1])
            except StopAsyncIteration:
                break
            try:
                outcome = ("send", await self.step(step, _driver=driver))
            except _STEP_ERRORS as exc:
                outcome = ("throw", exc)
        handle, driver.pending = driver.pending, None
        if handle is not None and handle.is_open:
            self.session.reply(handle, None)  # let jambonz carry on with its stack

    async def _apologise(self, driver: _Driver) -> None:
        verbs = self._app.error_verbs if self._app is not None else DEFAULT_ERROR_VERBS
        try:
            await self._hand_over([_wire(v) for v in verbs], driver)
        except Exception as exc:
            self.log.error("could not send the apology: %r; hanging up", exc)
            await self.hangup()

    def _stop_flows(self, reason: str) -> None:
        for driver in list(self._drivers):
            self.log.info("closing the flow: %s", reason)
            driver.scope.cancel()

    # ------------------------------------------------------------------ commands

    async def send(self, command: Command) -> None:
        """Queue any command (see :mod:`jbtrio.commands`), waiting if the queue is full."""
        await self.session.send(command)

    async def redirect(self, verbs: Verbs, *, queue: bool = False) -> None:
        """Run ``verbs`` now (replacing the verb stack), or after it when ``queue``."""
        await self.send(commands.redirect(verbs, queue=queue))

    async def redirect_to_hook(
        self, call_hook: str | None = None, *, child_call_hook: str | None = None
    ) -> None:
        """Hand the call (or the dialed leg) to the app at another hook (``session:redirect``)."""
        await self.send(commands.redirect_to_hook(call_hook, child_call_hook=child_call_hook))

    async def redirect_legs(
        self, parent_call: Verbs | None = None, child_call: Verbs | None = None
    ) -> None:
        """During a dial, give the parent and/or the dialed leg new verbs; the child then
        runs as its own session (``session:adulting`` on ``<path>/adulting``)."""
        await self.send(commands.redirect_legs(parent_call, child_call))

    async def hangup(self) -> None:
        """Hang the call up (``call:status`` ``completed``)."""
        await self.send(commands.hangup())

    async def no_answer(self) -> None:
        """Reject an unanswered inbound call / cancel an unanswered outbound one."""
        await self.send(commands.no_answer())

    async def config(self, props: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        """Apply ``config`` verb properties now."""
        await self.send(commands.config(props, **kwargs))

    async def mute(self, mute: bool = True, *, call_sid: str | None = None) -> None:
        """Mute (or unmute) a leg during a dial or conference (``callSid`` for the B-leg)."""
        await self.send(commands.mute("mute" if mute else "unmute", call_sid=call_sid))

    async def conf_mute(self, mute: bool = True) -> None:
        """In a conference: (un)mute every non-moderator."""
        await self.send(commands.conf_mute("mute" if mute else "unmute"))

    async def conf_hold(self, hold: bool = True, *, wait_hook: str | None = None) -> None:
        """In a conference: hold (or unhold) this member, ``wait_hook`` playing meanwhile."""
        await self.send(commands.conf_hold("hold" if hold else "unhold", wait_hook=wait_hook))

    async def conf_participant_action(self, action: Any, **kwargs: Any) -> None:
        """In a conference: tag/untag/coach/uncoach/hold/unhold/mute/unmute/kick."""
        await self.send(commands.conf_participant_action(action, **kwargs))

    async def listen_status(self, status: Any) -> None:
        """Pause or resume the running ``listen``."""
        await self.send(commands.listen_status(status))

    async def stream_status(self, status: Any) -> None:
        """Pause or resume the running ``stream``."""
        await self.send(commands.stream_status(status))

    async def transcribe_status(self, status: Any) -> None:
        """Pause or resume transcription."""
        await self.send(commands.transcribe_status(status))

    async def record(self, action: Any, **kwargs: Any) -> None:
        """Start/stop/pause/resume SIPREC or cloud recording."""
        await self.send(commands.record(action, **kwargs))

    async def whisper(self, verbs: Verbs, *, call_sid: str | None = None) -> None:
        """Play ``say``/``play`` verbs to one leg of a dial (``call_sid`` for the B-leg)."""
        await self.send(commands.whisper(verbs, call_sid=call_sid))

    async def dtmf(self, digit: str, duration: int | None = None, **kwargs: Any) -> None:
        """Send DTMF (SIP INFO) on the call (``call_sid=`` for the B-leg)."""
        await self.send(commands.dtmf(digit, duration, **kwargs))

    async def sip_request(self, method: str, **kwargs: Any) -> None:
        """Send an in-dialog SIP request (INFO, NOTIFY, MESSAGE, ...)."""
        await self.send(commands.sip_request(method, **kwargs))

    async def dub(self, action: Any, track: str, **kwargs: Any) -> None:
        """Add/remove/silence a dub track or play/say on it."""
        await self.send(commands.dub(action, track, **kwargs))

    async def dial(self, **kwargs: Any) -> None:
        """Create a new outbound call from this one (REST createCall body)."""
        await self.send(commands.dial(**kwargs))

    async def boost_audio_signal(self, db: int | float | str, **kwargs: Any) -> None:
        """Adjust the gain of the main track (dB, or a string such as ``"-6 dB"``)."""
        await self.send(commands.boost_audio_signal(db, **kwargs))

    async def media_path(self, path: Any) -> None:
        """During a dial: ``no-media``, ``partial-media`` or ``full-media``."""
        await self.send(commands.media_path(path))

    async def llm_update(self, data: Mapping[str, Any]) -> None:
        """Send a vendor-native update to the running ``llm`` verb."""
        await self.send(commands.llm_update(data))

    async def tool_output(
        self, tool_call_id: str, result: Any, *, name: str | None = None, is_error: bool = False
    ) -> None:
        """Answer an ``llm:tool-call`` in the shape the running ``llm`` vendor expects."""
        vendor = self._llm_vendor or "openai"
        await self.send(
            commands.tool_result(vendor, tool_call_id, result, name=name, is_error=is_error)  # type: ignore[arg-type]
        )

    # ------------------------------------------------------------------ inbound

    def on(self, pattern: str, handler: EventHandler, *, hook: str | None = None) -> None:
        """Run ``handler(event)`` for each message whose type matches ``pattern``.

        ``pattern`` is a type (``"call:status"``) or a glob (``"tts:*"``, ``"llm:*"``,
        ``"*"``); ``hook`` narrows it to one hook path. Each handler runs as its own task in
        the call's nursery; an exception in it ends this call only.
        """
        self._subscriptions.append(Subscription(pattern, hook, handler))

    def tool(self, name: str, tool: Tool) -> None:
        """Serve the LLM tool ``name`` on this call (``async def tool(call, **args)``)."""
        self._tools[name] = tool

    def events(self) -> EventStream[Event]:
        """The messages nothing else took, in arrival order (one consumer).

        A ``trio.abc.ReceiveChannel``: ``async for event in call.events()`` ends when the call
        does. At most ``ServerConfig.inbox_size`` messages wait in it; past that, a message is
        dropped with an error log (and acked automatically if jambonz waits for an ack). Until
        this is called, messages nobody handles are answered at once (an ack without
        verbs) or dropped, rather than left to wait.
        """
        self._events_wanted = True
        return self._events

    def want_events(self) -> None:
        """Keep unhandled messages for :meth:`events` from now on."""
        self._events_wanted = True

    def _consume(self, incoming: Incoming) -> None:
        """Route one message from jambonz to whatever waits for it (in the reader's task:
        never blocks)."""
        if incoming.message is self.session.first_message:
            return
        self._route(Event(incoming.message, self, incoming.reply))

    def _route(self, event: Event) -> None:
        message = event.message
        if isinstance(message, VerbHook):
            # The common case, first: a hook goes to the flow step waiting for it, if any.
            hook = message.hook
            waiter = self._hook_waiters.get(hook) if hook is not None else None
            if waiter is not None:
                waiter.deliver(event)
                return
        elif self._route_notice(event, message):
            return
        taken = False
        for subscription in self._all_subscriptions():
            if subscription.matches(event):
                taken = True
                self._nursery.start_soon(
                    subscription.handler,
                    event,
                    name=f"call {self.sid} on {event.type} {subscription.handler!r}",
                )
        if taken:
            return
        if not self._events_wanted:
            if event.handle is not None and event.handle.is_open:
                # nobody wants it: let jambonz carry on at once
                self.session.reply(event.handle, None)
            return
        try:
            self._events.put_nowait(event)
        except trio.WouldBlock:
            self.log.error(
                "events() backlog full (inbox_size=%d): %s %s dropped%s",
                self.session.config.inbox_size,
                event.type,
                message.msgid,
                "; it will be acked automatically" if event.needs_reply else "",
            )

    def _route_notice(self, event: Event, message: InboundMessage | UnknownMessage) -> bool:
        """What messages other than hooks mean to the call itself; True when taken."""
        if isinstance(message, JambonzError) and message.data.msg == _HOOK_FAILED:
            self._fail_hook_waiters(message)
        if isinstance(message, VerbStatus) and message.data.event == "finished":
            done = self._finish_waiters.get(str(message.data.id))
            if done is not None:
                done.set()
        if (
            isinstance(message, CallStatus)
            and message.data.call_status == "completed"
            and message.data.call_sid in (None, self.sid)
        ):
            self._hung_up.set()
            self._stop_flows("jambonz reported the call completed")
        if isinstance(message, LlmToolCall) and self._serve_tools(event):
            return True
        return self._app is not None and self._app.route_special(self, event)

    def _fail_hook_waiters(self, message: JambonzError) -> None:
        """jambonz gave up on a verb's action hook: the steps waiting on it must not wait
        forever (jambonz runs nothing more until it gets new verbs)."""
        verb = message.data.verb
        if verb is None or abandoned_msgid(message) is not None:
            return  # an abandoned answer: the core re-sends it, the hook did reach the app
        error = HookFailed(verb, message.data.msg or _HOOK_FAILED, message.data.details)
        failed = {id(w): w for w in self._hook_waiters.values() if verb in w.verbs}
        for waiter in failed.values():
            self.log.warning("%s; the flow step waiting for it is told", error)
            waiter.fail(error)

    def _wants(self, message_type: str) -> bool:
        """Whether some handler listens to ``message_type`` (so jambonz must be asked for it)."""
        return any(
            fnmatch.fnmatchcase(message_type, sub.pattern) for sub in self._all_subscriptions()
        )

    def _all_subscriptions(self) -> list[Subscription]:
        app = self._app.subscriptions if self._app is not None else ()
        if not app:
            return self._subscriptions
        return [*self._subscriptions, *app]

    # ------------------------------------------------------------------ llm tools

    def _tool_names(self) -> set[str]:
        names = set(self._tools)
        if self._app is not None:
            names |= set(self._app.tools)
        return names

    def _find_tool(self, name: str | None) -> Tool | None:
        if name is None:
            return None
        tool = self._tools.get(name)
        if tool is None and self._app is not None:
            tool = self._app.tools.get(name)
        return tool

    def _serve_tools(self, event: Event) -> bool:
        message = event.message
        assert isinstance(message, LlmToolCall)
        calls = message.data.calls
        if not calls or not any(self._find_tool(c.name) for c in calls):
            return False
        self._nursery.start_soon(
            self._run_tools, message, name=f"call {self.sid} tool {calls[0].name}"
        )
        return True

    async def _run_tools(self, message: LlmToolCall) -> None:
        results: list[tuple[str, Any, bool, str | None]] = []
        for fc in message.data.calls:
            tool = self._find_tool(fc.name)
            if tool is None:
                results.append((fc.id or "", f"unknown tool {fc.name!r}", True, fc.name))
                continue
            args = fc.args if isinstance(fc.args, Mapping) else {}
            try:
                result = await tool(self, **args)
                results.append((fc.id or "", result, False, fc.name))
            except Exception as exc:  # a failing tool answers with an error, not silence
                self.log.warning("tool %s failed: %r", fc.name, exc)
                results.append((fc.id or "", f"error: {exc}", True, fc.name))
        vendor = self._llm_vendor or "openai"
        tool_call_id = message.data.tool_call_id or ""
        if message.data.function_calls is not None or vendor == "google":
            command = commands.google_tool_results(
                [(cid, {"error": r} if err else r) for cid, r, err, _ in results],
                tool_call_id=tool_call_id or None,
            )
        else:
            cid, result, err, name = results[0]
            command = commands.tool_result(
                vendor,  # type: ignore[arg-type]
                tool_call_id or cid,
                result,
                name=name,
                is_error=err,
            )
        await self.send(command)

    # ------------------------------------------------------------------ streaming TTS

    @property
    def tts(self) -> TtsStream:
        """Stream LLM text into a streaming ``say`` with flow control (:class:`TtsStream`)."""
        return TtsStream(self.session)


def _tuple(verbs: Any) -> tuple[Any, ...]:
    if isinstance(verbs, Mapping) or hasattr(verbs, "to_dict"):
        return (verbs,)
    return tuple(verbs)


def _wire(verb: Any) -> dict[str, Any]:
    to_dict = getattr(verb, "to_dict", None)
    wire: dict[str, Any] = to_dict() if to_dict is not None else dict(verb)
    return wire


#: What a call hears when its flow crashes, unless the app configures otherwise.
DEFAULT_ERROR_VERBS: tuple[Mapping[str, Any], ...] = (
    {"verb": "say", "text": "Sorry, something went wrong. Goodbye."},
    {"verb": "hangup"},
)
