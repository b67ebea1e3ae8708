"""An app: request paths mapped to call flows and handlers, served by :func:`jbtrio.serve`.

Routing is by path prefix, longest first, because jambonz connects a dialed leg promoted to
its own session to ``<path>/adulting``: a flow mounted at ``/ivr`` receives it unless an
adulting flow is registered for ``/ivr`` (an existing SDK routes ``/`` exactly and loses
those legs).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import attrs
import trio

from ._call import Call, Event, EventHandler, Flow
from ._env_vars import EnvVar, declare_env_vars
from ._errors import innermost
from ._flow_runner import DEFAULT_ERROR_VERBS
from ._inbound_routing import Subscription
from ._runtime import AppHandler, CallSession
from ._tool_serving import Tool
from ._wire import DialConfirm, SessionAdulting, SessionRedirect
from .audio import AudioConfig, AudioHandler, AudioRoutes
from .verbs import JAMBONZ_VERSIONS, JambonzVersion

if TYPE_CHECKING:
    from .rest import ClientPool

__all__ = ["App", "CallHandler", "FailureListener"]

log = logging.getLogger("jbtrio.app")

CallHandler = Callable[[Call], Awaitable[None]]
"""An ``async def handler(call)`` that drives the call with events and awaitable verbs."""
FailureListener = Callable[[Call, str, BaseException], None]
"""``listener(call, where, exc)``: ``where`` names what failed (``"flow ivr"``)."""

_F = TypeVar("_F", bound=Flow)
_H = TypeVar("_H", bound=CallHandler)

#: How many request paths :meth:`App.resolve` and :meth:`App.mount_of` remember their answer
#: for (both are asked on every call set-up, issue 23); past it the memory starts afresh, so
#: a peer trying endless paths makes it no larger.
_PATHS_REMEMBERED = 256


def _name(target: object) -> str:
    return getattr(target, "__qualname__", None) or repr(target)


def _check_flow(flow: object) -> None:
    """Refuse what cannot be a flow when it is registered, not when the first call comes."""
    method = getattr(type(flow), "__call__", None)  # noqa: B004 - an object's async-gen method
    if inspect.isasyncgenfunction(flow) or inspect.isasyncgenfunction(method):
        return
    if inspect.iscoroutinefunction(flow):
        raise TypeError(
            f"{_name(flow)} is an async def without yield: a flow yields its verbs "
            "(yield Say(...)); for a handler that awaits them, use @app.route(path)"
        )
    raise TypeError(
        f"{_name(flow)} is not an async generator function: a flow is "
        "`async def flow(call): ... yield verbs`"
    )


def _check_handler(handler: object) -> None:
    if not callable(handler):
        raise TypeError(f"{handler!r} is not callable: a handler is `async def handler(call)`")
    if inspect.isasyncgenfunction(handler):
        raise TypeError(f"{_name(handler)} yields: it is a flow, register it with @app.flow(path)")


def _normalise(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"mount paths start with '/', got {path!r}")
    return path.rstrip("/") or "/"


@attrs.frozen
class _Route:
    kind: Literal["flow", "handler"]
    target: Flow | CallHandler
    env_vars: Mapping[str, EnvVar] = attrs.field(factory=dict)


class _Hooks:
    """The app's answers to what its calls ask (:class:`~jbtrio._call.AppHooks`)."""

    def __init__(self, app: App) -> None:
        self._app = app

    @property
    def subscriptions(self) -> Sequence[Subscription[Event]]:
        return self._app._subscriptions

    @property
    def tools(self) -> Mapping[str, Tool]:
        return self._app._tools

    @property
    def error_verbs(self) -> tuple[Any, ...]:
        return self._app.error_verbs

    @property
    def rest(self) -> ClientPool | None:
        return self._app.rest

    def failed(self, call: Call, where: str, exc: BaseException) -> bool:
        listeners = list(self._app._failure_listeners)
        for listener in listeners:
            try:
                listener(call, where, exc)
            except Exception:
                log.exception("[%s] failure listener %r raised", call.sid, listener)
        return bool(listeners)

    def flow_for(self, event: Event) -> tuple[Flow, bool] | None:
        message = event.message
        hook = event.hook
        if isinstance(message, DialConfirm) and hook is not None:
            flow = self._app._confirm_flows.get(hook)
            return (flow, False) if flow is not None else None
        if isinstance(message, SessionRedirect) and hook is not None:
            route = self._app._match(hook)
            if route is None or route.kind != "flow":
                return None
            return (route.target, True)  # type: ignore[return-value]
        return None


class App:
    """A jambonz WebSocket application: call flows and handlers mounted at paths.

    ::

        app = jbtrio.App()

        @app.flow("/support")
        async def support(call):
            answer = yield Gather(input=["speech"], say=Say(text="Sales or support?"))
            if answer.speech_text and "sales" in answer.speech_text:
                yield Dial(target=[Target(type="phone", number="+15551230000")])
            else:
                yield [Say(text="Goodbye"), Hangup()]

    ``error_verbs`` is what a call hears when its flow raises (an apology and a hangup by
    default); the exception is logged with the call_sid and no other call is affected.
    ``rest`` (a :class:`jbtrio.rest.ClientPool`, from the ``rest`` extra) gives every call a
    REST client for mid-call control (:attr:`Call.rest`); close it when the program ends.
    ``audio`` sets the bounds and policies of the app's audio streams (:meth:`audio`).

    ``jambonz`` declares which jambonz the app is written for: ``"11"`` or ``"10"`` (the
    current commercial release lines, with the ``agent``, ``transfer`` and ``room`` verbs) or
    ``"0.9"`` (open-source feature-server 0.9.x). Every verb the app's calls send is
    validated by that jambonz's rules, so a verb newer than the target raises
    :class:`~jbtrio.VerbError` in the app, not a failed call at jambonz. ``None`` (the
    default) leaves it to the server's ``CoreConfig.jambonz``: the current jambonz unless
    configured; ``jbtrio serve --jambonz`` (or ``$JBTRIO_JAMBONZ``) overrides both.
    """

    def __init__(
        self,
        *,
        error_verbs: Iterable[Any] = DEFAULT_ERROR_VERBS,
        rest: ClientPool | None = None,
        audio: AudioConfig | None = None,
        jambonz: JambonzVersion | None = None,
        env_vars: Mapping[str, EnvVar | Mapping[str, Any]] | None = None,
    ) -> None:
        self.error_verbs = tuple(error_verbs)
        self.env_vars = declare_env_vars(env_vars)
        """The application environment variables every route declares (a route may add
        its own): answered to jambonz's ``OPTIONS``, typed in ``call.env``."""
        self.rest = rest
        self.jambonz = jambonz
        self.audio_routes: AudioRoutes | None = (
            AudioRoutes(config=audio) if audio is not None else None
        )
        """The app's audio handlers (``audio.drachtio.org`` sockets, served on the same
        listener as its calls), made by :meth:`audio` or ``audio=``."""
        self._routes: dict[str, _Route] = {}
        self._adulting: dict[str, _Route] = {}
        self._confirm_flows: dict[str, Flow] = {}
        self._subscriptions: list[Subscription[Event]] = []
        self._tools: dict[str, Tool] = {}
        self._failure_listeners: list[FailureListener] = []
        self._hooks = _Hooks(self)
        # What resolve() and mount_of() answered per request path, forgotten whenever
        # something is mounted (see _PATHS_REMEMBERED).
        self._resolved: dict[str, AppHandler | None] = {}
        self._mounts_of: dict[str, str | None] = {}

    @property
    def jambonz(self) -> JambonzVersion | None:
        """The jambonz the app's calls are validated for (``None``: the server's setting)."""
        return self._jambonz

    @jambonz.setter
    def jambonz(self, value: JambonzVersion | None) -> None:
        if value is not None and value not in JAMBONZ_VERSIONS:
            choices = ", ".join(repr(v) for v in JAMBONZ_VERSIONS)
            raise ValueError(f"jambonz must be one of {choices} (or None); got {value!r}")
        self._jambonz = value

    @property
    def paths(self) -> tuple[str, ...]:
        """The mounted paths."""
        return tuple(self._routes)

    # ------------------------------------------------------------------ registration

    def mount(
        self,
        path: str,
        handler: CallHandler,
        *,
        env_vars: Mapping[str, EnvVar | Mapping[str, Any]] | None = None,
    ) -> None:
        """Serve calls whose path is ``path`` or below it with ``handler(call)``;
        ``env_vars``: the variables this route declares beside the app's."""
        _check_handler(handler)
        self._add(self._routes, path, _Route("handler", handler, declare_env_vars(env_vars)))

    def route(
        self, path: str, *, env_vars: Mapping[str, EnvVar | Mapping[str, Any]] | None = None
    ) -> Callable[[_H], _H]:
        """Decorator form of :meth:`mount`: an ``async def handler(call)``."""

        def register(handler: _H) -> _H:
            self.mount(path, handler, env_vars=env_vars)
            return handler

        return register

    def flow(
        self, path: str, *, env_vars: Mapping[str, EnvVar | Mapping[str, Any]] | None = None
    ) -> Callable[[_F], _F]:
        """Decorator: serve calls at ``path`` with an async-generator flow
        (``async def flow(call: Call) -> Steps``; anything else is refused here);
        ``env_vars``: the variables this route declares beside the app's."""

        def register(flow: _F) -> _F:
            _check_flow(flow)
            self._add(self._routes, path, _Route("flow", flow, declare_env_vars(env_vars)))
            return flow

        return register

    def adulting(self, path: str) -> Callable[[_F], _F]:
        """Decorator: the flow for dialed legs promoted to their own session (jambonz connects
        to ``<path>/adulting``). Its first ``yield`` answers ``session:adulting`` (whose verbs
        jambonz ignores: the leg already runs the verbs its parent gave it)."""

        def register(flow: _F) -> _F:
            _check_flow(flow)
            self._add(self._adulting, path, _Route("flow", flow))
            return flow

        return register

    def dial_confirm(self, hook: str) -> Callable[[_F], _F]:
        """Decorator: the flow answering ``dial:confirm`` on ``hook`` (a dial's
        ``confirm_hook``). Its first ``yield`` is played to the callee before bridging; with
        none registered the callee is bridged at once."""

        def register(flow: _F) -> _F:
            _check_flow(flow)
            if hook in self._confirm_flows:
                raise ValueError(f"a confirm flow is already registered for {hook}")
            self._confirm_flows[hook] = flow
            return flow

        return register

    def on(
        self, pattern: str, *, hook: str | None = None
    ) -> Callable[[EventHandler], EventHandler]:
        """Decorator: ``handler(event)`` for matching messages of every call (see
        :meth:`Call.on`); the event's ``call`` says which."""

        def register(handler: EventHandler) -> EventHandler:
            self._subscriptions.append(Subscription(pattern, hook, handler))
            return handler

        return register

    def tool(self, name: str) -> Callable[[Tool], Tool]:
        """Decorator: serve the LLM tool ``name`` (``async def tool(call, **args)``).

        An ``llm:tool-call`` (``llm`` and ``*_s2s`` verbs) or ``agent:tool-call`` (jambonz
        10.x/11.x's ``agent`` verb) for it runs the tool in the call's nursery and answers
        with ``llm:tool-output`` in the shape the asker expects (the ``llm`` vendor's own;
        ``{"result": ...}`` for the agent); a raising tool answers with an error result.
        ``llm`` and ``agent`` verbs get a ``toolHook`` automatically when tools exist.
        """

        def register(tool: Tool) -> Tool:
            self._tools[name] = tool
            return tool

        return register

    def audio(self, path: str) -> Callable[[AudioHandler], AudioHandler]:
        """Decorator: serve jambonz's audio sockets (``listen``/``stream`` verbs) opened on
        ``path`` with ``async def handler(stream)`` (a :class:`jbtrio.audio.AudioStream`).

        They reach the same listener as the calls (told apart by subprotocol); a flow
        points its ``listen`` verb at :meth:`audio_url` and gets its stream with
        ``await app.audio_routes.wait_stream(call.sid)``.
        """
        if self.audio_routes is None:
            self.audio_routes = AudioRoutes()
        return self.audio_routes.audio(path)

    def audio_url(self, path: str, base: str | None = None) -> str:
        """The ``url`` for a ``listen``/``stream`` verb reaching the audio handler at
        ``path`` (relative, so jambonz uses the app's own host and credentials; or
        ``base`` + ``path``); see :meth:`jbtrio.audio.AudioRoutes.audio_url`."""
        if self.audio_routes is None:
            raise ValueError(f"no audio handler is mounted at {path}")
        return self.audio_routes.audio_url(path, base)

    def add_failure_listener(self, listener: FailureListener) -> Callable[[], None]:
        """Call ``listener(call, where, exc)`` whenever a flow or handler of a call raises.

        It runs synchronously in the call's task, after the error is logged and before the
        apology (``error_verbs``) goes out; an exception in it is logged and ignored. Returns
        a function that removes it. :func:`jbtrio.testing.run_app` uses it to fail a test
        with the exception itself; an app may use it to report errors.
        """
        self._failure_listeners.append(listener)

        def remove() -> None:
            if listener in self._failure_listeners:
                self._failure_listeners.remove(listener)

        return remove

    def _add(self, table: dict[str, _Route], path: str, route: _Route) -> None:
        path = _normalise(path)
        if path in table:
            raise ValueError(f"something is already mounted at {path}")
        table[path] = route
        self._resolved.clear()
        self._mounts_of.clear()

    # ------------------------------------------------------------------ routing

    def resolve(self, path: str) -> AppHandler | None:
        """The runtime handler for a request ``path`` (longest matching prefix), or None."""
        try:
            return self._resolved[path]
        except KeyError:
            pass
        handler = self._resolve(path)
        if len(self._resolved) >= _PATHS_REMEMBERED:
            self._resolved.clear()
        self._resolved[path] = handler
        return handler

    def _resolve(self, path: str) -> AppHandler | None:
        route = self._match(path)
        adulting_route = self._match_in(self._adulting, _strip_adulting(path))
        if route is None and adulting_route is None:
            return None

        async def run(session: CallSession) -> None:
            if self._jambonz is not None:
                session.core.target(self._jambonz)
            chosen = route
            if isinstance(session.first_message, SessionAdulting) and adulting_route is not None:
                chosen = adulting_route
            call: Call | None = None
            # The route matched for this path above, not matched again per call (issue 23).
            env_vars = self._env_vars_of(route)
            try:
                async with trio.open_nursery() as nursery:
                    # What the call's end may cancel rather than the call's nursery
                    # (CallSession.end, issue 23): this nursery's scope, when nothing runs
                    # outside it (no wrapper of a router's own around this handler).
                    if session.handler is run:
                        session.app_scope = nursery.cancel_scope
                    call = Call(session, nursery, self._hooks, env_vars=env_vars)
                    # Only declared variables can have problems: no call.env made for
                    # nothing (issue 23).
                    if env_vars:
                        for problem in call.env.problems():
                            call.log.error("%s", problem)
                    if chosen is None:
                        # Only an adulting flow is mounted here, and this is not an adulting leg.
                        call.log.error(
                            "no flow for a %s on %s: hanging up", call.start.type, call.path
                        )
                        await call.start.reply([{"verb": "hangup"}])
                    elif chosen.kind == "flow":
                        await call.run_flow(chosen.target)  # type: ignore[arg-type]
                    else:
                        call.want_events()
                        handler: CallHandler = chosen.target  # type: ignore[assignment]
                        await handler(call)
                    # Handlers registered with call.on() and the app's run until the call ends.
                    # Not awaited once it has: its checkpoint would only raise the call's
                    # cancellation through the nurseries (issue 23: a closed flow returns).
                    if not session.ended:
                        await session.wait_ended()
            except* Exception as group:  # the runtime logs it and hangs up; listeners hear it
                if call is not None:
                    where = "an event handler"
                    if chosen is not None and chosen.kind == "handler":
                        where = f"handler {_name(chosen.target)}"
                    self._hooks.failed(call, where, innermost(group))
                raise
            finally:
                session.app_scope = None

        return run

    def mount_of(self, path: str) -> str | None:
        """The mount serving request ``path`` (``/ivr`` for ``/ivr/adulting``), or
        ``None``: a bounded name for a path (metrics label it by this)."""
        try:
            return self._mounts_of[path]
        except KeyError:
            pass
        mount = self._mount_of(path)
        if len(self._mounts_of) >= _PATHS_REMEMBERED:
            self._mounts_of.clear()
        self._mounts_of[path] = mount
        return mount

    def _mount_of(self, path: str) -> str | None:
        path = path.rstrip("/") or "/"
        for table, probe in ((self._routes, path), (self._adulting, _strip_adulting(path))):
            mounts = [m for m in table if m in ("/", probe) or probe.startswith(m + "/")]
            if mounts:
                return max(mounts, key=len)
        return None

    def env_vars_for(self, path: str) -> dict[str, EnvVar]:
        """The variables a call on ``path`` has: the app's, and its route's."""
        return self._env_vars_of(self._match(path))

    def _env_vars_of(self, route: _Route | None) -> dict[str, EnvVar]:
        return {**self.env_vars, **(route.env_vars if route is not None else {})}

    def env_schema(self, path: str) -> dict[str, Any] | None:
        """What ``OPTIONS path`` answers jambonz: each variable's declaration in its JSON
        shape (``None`` when no app is mounted there)."""
        if self.resolve(path) is None:
            return None
        return {name: var.to_json() for name, var in self.env_vars_for(path).items()}

    def _match(self, path: str) -> _Route | None:
        return self._match_in(self._routes, path)

    @staticmethod
    def _match_in(table: Mapping[str, _Route], path: str) -> _Route | None:
        path = path.rstrip("/") or "/"
        best: str | None = None
        for mount in table:
            matches = mount in ("/", path) or path.startswith(mount + "/")
            if matches and (best is None or len(mount) > len(best)):
                best = mount
        return table[best] if best is not None else None


def _strip_adulting(path: str) -> str:
    path = path.rstrip("/")
    return path[: -len("/adulting")] or "/" if path.endswith("/adulting") else path
