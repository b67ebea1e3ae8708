"""The app's view of one call: what it is, its events, and what it asks of its app.

A :class:`Call` is handed to the handler or flow an :class:`~jbtrio.App` routes a session
to. It survives reconnects (the same object, whatever socket jambonz uses), and everything
sent through it goes through the call's ordered, reconnect-proof outbound queue.

Three ways to drive a call, freely mixed:

- **flows** (async generators, see :mod:`jbtrio._flow`), run by :meth:`Call.run_flow`;
- **awaitable verbs**: ``await call.run(verbs)`` returns when jambonz has finished them,
  ``await call.gather(...)`` returns the typed result;
- **events**: ``call.on(pattern, handler)`` and ``async for event in call.events()``, each
  event carrying its own reply.

This module is the call's face and what holds it together; the work is done in rooms of
their own, each knowing nothing of :class:`Call`: the commands (:mod:`jbtrio._call_commands`,
its base class), flow driving (:mod:`jbtrio._flow_runner`), inbound routing
(:mod:`jbtrio._inbound_routing`) and LLM tool serving (:mod:`jbtrio._tool_serving`). What a
call asks of its app is the :class:`AppHooks` protocol, so this module never imports the app.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

import attrs
import trio

from ._call_commands import CallCommands, Verbs
from ._core import ReplyHandle
from ._env_vars import CallEnv, EnvVar
from ._errors import ReplyError
from ._event_stream import EventStream
from ._flow import Step, Steps, wire_verbs
from ._flow_runner import DEFAULT_ERROR_VERBS, FlowRunner
from ._inbound_routing import InboundRouter, Subscription
from ._runtime import CallLogger, CallSession
from ._tool_serving import Tool, ToolServer
from ._tts import TtsStream
from ._wire import (
    AgentResult,
    CallInfo,
    ConferenceResult,
    DequeueResult,
    DialResult,
    EnqueueResult,
    GatherResult,
    InboundMessage,
    ListenResult,
    LlmResult,
    MessageResult,
    SipReferResult,
    SipRequestResult,
    TranscribeResult,
    TransferResult,
    UnknownMessage,
)
from .verbs import (
    Agent,
    Conference,
    DeepgramS2s,
    Dequeue,
    Dial,
    ElevenlabsS2s,
    Enqueue,
    Gather,
    GoogleS2s,
    GptliveS2s,
    Listen,
    Llm,
    Message,
    MicrosoftS2s,
    OpenaiS2s,
    QwenS2s,
    Room,
    S2s,
    SipRefer,
    SipRequest,
    Stream,
    Transcribe,
    Transfer,
    UltravoxS2s,
    Verb,
    VoiceagentS2s,
)

if TYPE_CHECKING:
    from .rest import Client, ClientPool

__all__ = ["AppHooks", "Call", "Event", "EventHandler", "Flow"]

#: The builders whose hook payload parses as an :class:`~jbtrio.LlmResult` (``llm`` and its
#: ``*_s2s`` aliases).
_LlmVerb = (
    Llm
    | S2s
    | OpenaiS2s
    | MicrosoftS2s
    | GoogleS2s
    | ElevenlabsS2s
    | DeepgramS2s
    | VoiceagentS2s
    | UltravoxS2s
    | QwenS2s
    | GptliveS2s
)
Flow = Callable[["Call"], Steps]
"""An ``async def flow(call: Call) -> Steps: ... yield ...`` generator function."""


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
        if verbs is not None:
            verbs, ai = wire_verbs(verbs)
            if ai:
                self.call._prepare_llm(verbs)  # AI verbs get the hooks the call serves
        self.call.session.reply(self.handle, verbs)


EventHandler = Callable[[Event], Awaitable[None]]
"""An ``async def handler(event: Event)`` for :meth:`Call.on` and ``App.on``."""


class AppHooks(Protocol):
    """What a :class:`Call` asks of its app (:class:`~jbtrio.App` answers it).

    Read when needed, never copied: a handler or tool registered on the app after a call
    started serves that call too.
    """

    @property
    def subscriptions(self) -> Sequence[Subscription[Event]]:
        """Event handlers for every call, after the call's own."""
        ...

    @property
    def tools(self) -> Mapping[str, Tool]:
        """LLM tools for every call, after the call's own."""
        ...

    @property
    def error_verbs(self) -> Iterable[Any]:
        """What a call hears when its flow crashes."""
        ...

    @property
    def rest(self) -> ClientPool | None:
        """The app's jambonz REST clients, if it configured them."""
        ...

    def failed(self, call: Call, where: str, exc: BaseException) -> bool:
        """``where`` (``"flow ivr"``) raised ``exc`` on ``call``: tell who listens (True when
        someone did, and may keep the exception with its traceback)."""
        ...

    def flow_for(self, event: Event) -> tuple[Flow, bool] | None:
        """The flow the app mounts for ``event``, and whether it takes the call over.

        ``dial:confirm`` on a confirm hook: its confirm flow, beside the call's others;
        ``session:redirect`` to a mounted flow's path: that flow, the others closed first.
        ``None`` when the app has none (the event then goes to handlers like any other).
        """
        ...


_P = ParamSpec("_P")
_S = TypeVar("_S")
_R = TypeVar("_R")


def _keywords_of(
    builder: Callable[_P, Any],
) -> Callable[[Callable[Concatenate[_S, ...], _R]], Callable[Concatenate[_S, _P], _R]]:
    """Give a ``**properties`` method the signature of ``builder`` (for type checkers only),
    so ``call.gather(inputt=...)`` is caught where it is written."""

    def typed(method: Callable[Concatenate[_S, ...], _R]) -> Callable[Concatenate[_S, _P], _R]:
        return method

    return typed


class Call(CallCommands):
    """One call, as the app sees it.

    - ``info``/``sid``/``path``/``locals``: what the call is, and per-call state of the app;
    - ``start``: the message that began the session (``session:new`` usually);
    - :meth:`run_flow`: drive a flow; :meth:`run`, :meth:`gather`, :meth:`ask`: awaitable
      verbs;
    - :meth:`redirect`, :meth:`send`, :meth:`hangup` and one method per command sub-type;
    - :meth:`on`, :meth:`events`: everything else jambonz sends; :meth:`tool`: LLM tools.
    """

    def __init__(
        self,
        session: CallSession,
        nursery: trio.Nursery,
        hooks: AppHooks | None = None,
        *,
        env_vars: Mapping[str, EnvVar] | None = None,
    ) -> None:
        self.session = session
        self._env_vars = env_vars or {}
        self._env: CallEnv | None = None
        self._nursery = nursery
        self._app = hooks
        handle = session.first_reply
        first = session.first_message
        self.start = Event(first, self, handle if handle and handle.message is first else None)
        self._tools = ToolServer(self, session, nursery, hooks.tools if hooks is not None else {})
        self._flows = FlowRunner(
            session,
            self.start.handle,
            prepare_llm=self._prepare_llm,
            error_verbs=self._error_verbs,
            failed=self._failed,
        )
        # Not InboundRouter[Event](...): calling a subscripted generic stores __orig_class__
        # on the instance, 400 bytes per call for a type checker's sake.
        self._inbound: InboundRouter[Event] = InboundRouter(
            session,
            nursery,
            make_event=lambda message, reply: Event(message, self, reply),
            flows=self._flows,
            tools=self._tools,
            shared=hooks.subscriptions if hooks is not None else (),
            special=self._start_special_flow,
        )
        session.on_unconfirmed = self._flows.unconfirmed
        session.consume(self._inbound.consume, self._inbound.close, self._release)

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
    def env(self) -> CallEnv:
        """The application environment variables jambonz sent (``env_vars``), typed as the
        app declared them (``App(env_vars=...)``), defaults filled in; a required one
        jambonz sent no value for raises :class:`~jbtrio.EnvVarMissing`."""
        if self._env is None:
            self._env = CallEnv(self._env_vars, self.info.env_vars)
        return self._env

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
        return self._flows.completed

    async def wait_ended(self) -> None:
        """Wait until the call is over."""
        await self.session.wait_ended()

    @property
    def rest(self) -> Client:
        """A jambonz REST client for this call's account, for mid-call control of this leg or
        another (``await call.rest.mute(call_sid)``, ``update_call(...)``): the app's
        ``App(rest=jbtrio.rest.ClientPool(api_key, ...))``, at the ``api_base_url`` jambonz
        sent with the call (or the pool's ``base_url``). Raises RuntimeError without one."""
        pool = self._app.rest if self._app is not None else None
        if pool is None:
            raise RuntimeError(
                "call.rest needs the app's REST client pool: "
                "App(rest=jbtrio.rest.ClientPool(api_key, base_url=...))"
            )
        # REST-created calls carry api_base_url in session:new, every call in its hooks.
        return pool.get(
            self._inbound.latest_api_url or self.info.api_base_url, self.info.account_sid
        )

    @property
    def tts(self) -> TtsStream:
        """Stream LLM text into a streaming ``say`` with flow control (:class:`TtsStream`)."""
        return TtsStream(self.session)

    # ------------------------------------------------------------------ flows

    async def run_flow(self, flow: Flow, *, first: ReplyHandle | None = None) -> None:
        """Drive ``flow`` (``async def flow(call) -> Steps``) on this call, to its end.

        Without ``first`` it is the call's main flow, whose first ``yield`` answers the
        session's start (what ``@app.flow`` does); with ``first`` (the handle of an event that
        waits for an ack, such as ``dial:confirm``) it runs beside the main one and its first
        ``yield`` answers that. A hang-up closes the flow (``finally`` blocks run); an
        exception in it ends this call only, after the app's apology verbs, logged with the
        call_sid.
        """
        await self._flows.run(flow, self, first=first)

    def _start_special_flow(self, event: Event) -> bool:
        """Start the flow the app mounts for ``event``, if any, in the call's nursery."""
        found = self._app.flow_for(event) if self._app is not None else None
        if found is None or event.handle is None:
            return False
        flow, takes_over = found
        if takes_over:
            self._flows.stop(f"session:redirect to {event.hook}")
        kind = "flow" if takes_over else "confirm"
        self._nursery.start_soon(
            self._run_beside, flow, event.handle, name=f"call {self.sid} {kind} {event.hook}"
        )
        return True

    async def _run_beside(self, flow: Flow, first: ReplyHandle) -> None:
        await self.run_flow(flow, first=first)

    def _release(self) -> None:
        """The call is over and its tasks are done: ``start`` points back at this call, a
        cycle that would keep the call (and its session) until a full collection; its
        event now refers to the call weakly."""
        start = self.start  # made anew, not attrs.evolve()d: that reads its fields (issue 23)
        self.start = Event(start.message, weakref.proxy(self), start.handle)
        self._inbound.release()
        self._flows.release()
        self._tools.release()

    def _error_verbs(self) -> Iterable[Any]:
        return self._app.error_verbs if self._app is not None else DEFAULT_ERROR_VERBS

    def _failed(self, where: str, exc: Exception) -> bool:
        return self._app is not None and self._app.failed(self, where, exc)

    def _prepare_llm(self, verbs: list[dict[str, Any]]) -> None:
        self._tools.note_llm(verbs, self._inbound.wants)

    # ------------------------------------------------------------------ awaitable verbs

    async def run(self, verbs: Any) -> None:
        """Hand ``verbs`` to jambonz and return when it has finished running them.

        Like a flow's ``yield``, they answer the hook that resumed this code if jambonz still
        waits for it, else they go out as a ``redirect``. Finishing is known from
        ``verb:status`` (verb ids and ``notifyEvents`` are set up automatically).
        """
        await self.step(Step(_tuple(verbs), wait_finished=True))

    @_keywords_of(Gather)
    async def gather(self, **properties: Any) -> GatherResult:
        """Run a ``gather`` with ``properties`` (snake_case, as :class:`~jbtrio.verbs.Gather`)
        and return its typed result."""
        result = await self.step(Gather(**properties))
        assert isinstance(result, GatherResult)
        return result

    @overload
    async def ask(self, verb: Gather) -> GatherResult: ...
    @overload
    async def ask(self, verb: Dial) -> DialResult: ...
    @overload
    async def ask(self, verb: _LlmVerb) -> LlmResult: ...
    @overload
    async def ask(self, verb: Agent) -> AgentResult: ...
    @overload
    async def ask(self, verb: Transfer) -> TransferResult: ...
    @overload
    async def ask(self, verb: Conference | Room) -> ConferenceResult: ...
    @overload
    async def ask(self, verb: Listen | Stream) -> ListenResult: ...
    @overload
    async def ask(self, verb: Enqueue) -> EnqueueResult: ...
    @overload
    async def ask(self, verb: Dequeue) -> DequeueResult: ...
    @overload
    async def ask(self, verb: Message) -> MessageResult: ...
    @overload
    async def ask(self, verb: SipRefer) -> SipReferResult: ...
    @overload
    async def ask(self, verb: SipRequest) -> SipRequestResult: ...
    @overload
    async def ask(self, verb: Transcribe) -> TranscribeResult: ...
    @overload
    async def ask(self, verb: Verb | Mapping[str, Any]) -> Any: ...

    async def ask(self, verb: Verb | Mapping[str, Any]) -> Any:
        """Run one verb that reports back (dial, llm, agent, transfer, listen, ...) and return
        its payload, typed: :class:`~jbtrio.GatherResult`, :class:`~jbtrio.DialResult`,
        :class:`~jbtrio.LlmResult` (``llm`` and its ``*_s2s`` forms),
        :class:`~jbtrio.AgentResult`, :class:`~jbtrio.TransferResult`,
        :class:`~jbtrio.ConferenceResult` (``conference``, ``room``),
        :class:`~jbtrio.ListenResult` (``listen``, ``stream``), ...; the
        :class:`~jbtrio.VerbHook` for ``dialogflow``, ``lex`` and ``rasa``; ``None`` for a verb
        that does not report."""
        return await self.step(verb)

    async def step(self, step: Any) -> Any:
        """Hand one flow step to jambonz and wait as the flow would (see :mod:`jbtrio._flow`).

        Returns the typed payload of the hook that fired, or ``None``.
        """
        return await self._flows.step(step)

    # ------------------------------------------------------------------ inbound

    def on(self, pattern: str, handler: EventHandler, *, hook: str | None = None) -> None:
        """Run ``handler(event)`` for each message whose type matches ``pattern``.

        ``pattern`` is a type (``"call:status"``) or a glob (``"tts:*"``, ``"llm:*"``,
        ``"*"``); ``hook`` narrows it to one hook path. Each handler runs as its own task in
        the call's nursery; an exception in it ends this call only.
        """
        self._inbound.subscribe(Subscription(pattern, hook, handler))

    def events(self) -> EventStream[Event]:
        """The messages nothing else took, in arrival order (one consumer).

        A ``trio.abc.ReceiveChannel``: ``async for event in call.events()`` ends when the call
        does. At most ``ServerConfig.inbox_size`` messages wait in it; past that, a message is
        dropped with an error log (and acked automatically if jambonz waits for an ack). Until
        this is called, messages nobody handles are answered at once (an ack without
        verbs) or dropped, rather than left to wait.
        """
        return self._inbound.events()

    def want_events(self) -> None:
        """Keep unhandled messages for :meth:`events` from now on."""
        self._inbound.want_events()

    # ------------------------------------------------------------------ llm tools

    def tool(self, name: str, tool: Tool) -> None:
        """Serve the LLM tool ``name`` on this call (``async def tool(call, **args)``)."""
        self._tools.add(name, tool)

    async def tool_output(
        self, tool_call_id: str, result: Any, *, name: str | None = None, is_error: bool = False
    ) -> None:
        """Answer a tool call in the shape the running AI verb expects: the ``llm`` vendor's
        own, ``{"result": ...}`` for an ``agent`` (the latest of them the call sent)."""
        await self.send(
            self._tools.result_command(tool_call_id, result, name=name, is_error=is_error)
        )


def _tuple(verbs: Any) -> tuple[Any, ...]:
    if isinstance(verbs, Mapping) or hasattr(verbs, "to_dict"):
        return (verbs,)
    return tuple(verbs)
