"""What every jbtrio listener does with a connection before a call or a stream has it.

:class:`Listener` is the base of the single-process :class:`~._server.Server` and of the
``--workers`` :class:`~._workers.Acceptor`: the accept loop (up to ``ACCEPT_BATCH``
connections per wake-up), the peer filter (``allowed_peers``), the bound on upgrades in
progress (``max_handshakes``), the upgrade check (:func:`check_upgrade`: connection cap,
subprotocol, Basic auth, a handler at the path; for audio sockets the app's
:class:`~jbtrio.audio.AudioRoutes` decide), the log line for every upgrade that fails, and
the fortress around each connection (nothing escapes it).

Then it goes one of two ways, as the call registry says (:mod:`._registry`): where every
call lives here, the backend's :class:`~._transport_api.WebSocket` is served at once
(:meth:`Listener.serve_socket`); where a call may live elsewhere, the connection is upgraded
alone, read up to its first session message without consuming it, and served here
(adopted) or handed to its owner.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

import trio

from . import _observe
from ._admission import HandshakeGate, PeerFilter, accept_loop
from ._config import ServerConfig
from ._endpoints import Endpoints
from ._plain_http import Answered
from ._ratelimit import LogBudget, RateLimitedLogger
from ._registry import Local, Route, RouteFinder
from ._transport_api import (
    AUDIO_SUBPROTOCOL,
    FEED_SLICE,
    SUBPROTOCOL,
    Handshake,
    HandshakeFailed,
    HandshakeRejected,
    Keepalive,
    SocketOptions,
    Upgrade,
    WebSocket,
    basic_auth_header,
    credentials_match,
)
from ._transports import transport_named

if TYPE_CHECKING:
    from ..audio import AudioRoutes
    from ._registry import CallRegistry
    from ._session import AppHandler

__all__ = ["EARLY_BYTES", "Listener", "Router", "check_upgrade"]

log = logging.getLogger("jbtrio.server")

#: Bytes a routing listener keeps before a session message, beyond ``max_message_bytes``
#: (room for an early ``call:status`` or two); a connection sending more is closed with 1008.
EARLY_BYTES = 64 * 1024

#: Bytes asked of the stream per read while looking for the first session message.
_READ = 65536


class Router(Protocol):
    """What a listener needs from an app: the handler for a request path, and the audio
    routes (``None`` when the app serves no audio)."""

    def resolve(self, path: str) -> AppHandler | None:
        """The handler serving ``path`` (prefix routing), or ``None`` for 404."""
        ...

    @property
    def audio_routes(self) -> AudioRoutes | None:
        """The app's audio handlers (``audio.drachtio.org`` sockets), if it has any."""
        ...


def check_upgrade(
    handshake: Handshake,
    *,
    router: Router,
    auth: bytes | None,
    connections: int,
    max_connections: int,
) -> str:
    """Decide an upgrade: the subprotocol to accept, or :class:`HandshakeRejected` for one
    jbtrio must not accept: too many connections (503), neither ``ws.jambonz.org`` nor (with
    audio routes) ``audio.drachtio.org`` offered (400), bad credentials (401), no handler at
    the path (404), or the audio routes' own refusal (404, 503)."""
    if connections >= max_connections:
        raise HandshakeRejected(503, f"too many connections (max_connections={max_connections})")
    offered = handshake.subprotocols
    audio = router.audio_routes if AUDIO_SUBPROTOCOL in offered else None
    if SUBPROTOCOL not in offered and audio is None:
        raise HandshakeRejected(
            400,
            f"subprotocol {SUBPROTOCOL} required (offered: {', '.join(offered) or 'none'}) "
            f"from {handshake.remote}",
        )
    if auth is not None and not credentials_match(handshake, auth):
        raise HandshakeRejected(401, f"bad or missing credentials from {handshake.remote}")
    if SUBPROTOCOL in offered:
        if router.resolve(handshake.path) is None:
            raise HandshakeRejected(404, f"no app mounted at {handshake.path}")
        return SUBPROTOCOL
    assert audio is not None
    refusal = audio.check(handshake.path)
    if refusal is not None:
        raise HandshakeRejected(*refusal)
    return AUDIO_SUBPROTOCOL


class Listener:
    """Accepts connections and takes each through its upgrade to whoever serves it."""

    def __init__(self, router: Router, config: ServerConfig, registry: CallRegistry) -> None:
        self.router = router
        self.config = config
        self.registry = registry
        self.transport = transport_named(config.transport)
        """The websocket backend (``ServerConfig.transport``)."""
        self.options = SocketOptions(
            handshake_timeout=config.handshake_timeout,
            max_message_bytes=config.max_message_bytes,
            close_timeout=config.close_timeout,
            keepalive=Keepalive(config.ping_interval, config.pong_timeout),
            max_fragments=config.max_fragments,
        )
        self.connections = 0
        """Upgraded connections now (bounded by ``max_connections``; upgrades in progress
        are :attr:`handshakes`)."""
        self.port: int | None = None
        self._auth = (
            basic_auth_header(config.username, config.password)
            if config.username is not None and config.password is not None
            else None
        )
        self._budget = LogBudget()  # lines about connections: a flood must not flood the log
        self._log = RateLimitedLogger(log, budget=self._budget)
        self._peers = PeerFilter(config.allowed_peers)
        self._gate = HandshakeGate(config.max_handshakes)
        self._listen_scope = trio.CancelScope()
        self.endpoints = Endpoints(router)
        """The plain requests answered on the listening port (``/healthz``, ``/readyz``,
        ``/metrics``, ``OPTIONS``; :mod:`._endpoints`): the same for a server and the
        ``--workers`` acceptor. ``endpoints.draining`` is set while it drains."""
        registry.bind(self)  # last: the listener is whole

    @property
    def handshakes(self) -> int:
        """Connections in their upgrade now (bounded by ``max_handshakes``)."""
        return len(self._gate)

    async def listen(self, host: str, port: int) -> list[trio.SocketListener]:
        """Open the listening sockets (:attr:`port` is then the bound port)."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.port = listeners[0].socket.getsockname()[1]
        return listeners

    async def accept(self, listeners: list[trio.SocketListener], nursery: trio.Nursery) -> None:
        """Accept on ``listeners`` until :meth:`stop_listening`, each connection handled in
        ``nursery``."""
        with self._listen_scope:
            await accept_loop(listeners, self.handle_stream, nursery)

    def stop_listening(self) -> None:
        """Accept no more connections."""
        self._listen_scope.cancel()

    # ------------------------------------------------------------------ connections

    def handle_stream(self, stream: trio.abc.Stream) -> Coroutine[Any, Any, None]:
        """Serve one connection on ``stream`` (await the result). Never raises (except
        cancellation).

        Not a coroutine function itself but one that returns the coroutine serving the
        connection: a frame of its own would be held for the connection's whole life
        (~280 B per call, issue 23)."""
        refused = self._peers.refuses(stream)
        if refused is not None:
            self._log.warning("connection from %s refused: not in allowed_peers", refused)
            return trio.aclose_forcefully(stream)  # noqa: ASYNC105 - the caller awaits it
        scope, evicted = self._gate.enter()
        if evicted:
            self._log.warning(
                "%d connections in their upgrade (max_handshakes): the oldest cut short",
                self.config.max_handshakes,
            )
        try:
            opening: AbstractAsyncContextManager[Any]
            serve: Callable[[Any], Awaitable[None]]
            if self.registry.routes:
                opening = self.transport.open_upgrade(
                    stream,
                    self.options,
                    self.check,
                    handshake_scope=scope,
                    answer=self.endpoints.answer,
                )
                serve = self._route
            else:
                opening = self.transport.open_socket(
                    stream,
                    self.options,
                    self.check,
                    handshake_scope=scope,
                    answer=self.endpoints.answer,
                )
                serve = self.serve_socket
        except BaseException:
            self._gate.leave(scope)
            raise
        return self._fortress(opening, serve, handshake_scope=scope)

    async def adopt(
        self, stream: trio.abc.Stream, handshake: Handshake, subprotocol: str, received: bytes
    ) -> None:
        """Serve a connection upgraded elsewhere and handed over (``jbtrio serve --workers``,
        a cluster's relay): ``received`` holds the bytes read after its upgrade. Never
        raises (except cancellation)."""
        opening = self.transport.adopt_socket(
            stream, handshake, subprotocol, received, self.options
        )
        await self._fortress(opening, self._serve_adopted)

    async def serve_here(self, upgrade: Upgrade, received: bytes) -> None:
        """Serve a routed connection here (its call lives here, or its owner is gone):
        ``received`` holds the bytes read after its upgrade."""
        async with self.transport.adopt_socket(
            upgrade.stream, upgrade.handshake, upgrade.subprotocol, received, self.options
        ) as socket:
            await self.serve_socket(socket)

    def check(self, handshake: Handshake) -> str:
        """The upgrade check (:func:`check_upgrade`) against this listener's state (503
        while it drains)."""
        if self.endpoints.draining:
            raise HandshakeRejected(503, "shutting down")
        return check_upgrade(
            handshake,
            router=self.router,
            auth=self._auth,
            connections=self.connections,
            max_connections=self.config.max_connections,
        )

    async def serve_socket(self, socket: WebSocket) -> None:
        """Serve an accepted socket until it is done (the :class:`~._server.Server`'s job)."""
        raise NotImplementedError(f"{type(self).__name__} serves no socket itself")

    async def _fortress(
        self,
        opening: AbstractAsyncContextManager[Any],
        serve: Callable[[Any], Awaitable[None]],
        *,
        handshake_scope: trio.CancelScope | None = None,
    ) -> None:
        """One connection, start to end; nothing that happens on it escapes from here.
        ``handshake_scope`` (the upgrade's, from the gate) leaves the gate once the upgrade
        is over, and at the latest when the connection is."""
        try:
            async with opening as outcome:
                if handshake_scope is not None:
                    self._gate.leave(handshake_scope)
                if isinstance(outcome, Answered):
                    log.debug("%s %s answered %d", outcome.method, outcome.path, outcome.status)
                elif isinstance(outcome, HandshakeRejected):
                    _observe.upgrade_refused(outcome.status)
                    self._log.warning("upgrade refused: %s", outcome)
                elif isinstance(outcome, HandshakeFailed):
                    if outcome.reason.startswith("connection closed"):
                        self._log.info("no upgrade: %s", outcome.reason)
                    else:
                        self._log.warning("no upgrade: %s", outcome.reason)
                else:
                    self.connections += 1
                    try:
                        await serve(outcome)
                    finally:
                        self.connections -= 1
        except* Exception as group:
            log.error("connection handler failed", exc_info=group)
        finally:
            if handshake_scope is not None:
                self._gate.leave(handshake_scope)

    async def _serve_adopted(self, socket: WebSocket) -> None:
        # Counted already: more than max_connections means this one is over the bound.
        if self.connections > self.config.max_connections:
            self._log.warning(
                "handed-over connection from %s refused: too many connections (max_connections=%d)",
                socket.remote,
                self.config.max_connections,
            )
            await socket.close(1013, "too many connections")
            return
        await self.serve_socket(socket)

    # ------------------------------------------------------------------ routing

    async def _route(self, upgrade: Upgrade) -> None:
        """Read up to the connection's first session message; serve it here if its call
        lives here, else hand it to the call's owner."""
        finder = RouteFinder(
            self.transport.peek(self.options, self.config.max_message_bytes + EARLY_BYTES),
            upgrade.subprotocol,
        )
        remote = upgrade.handshake.remote
        route: Route | None = None
        try:
            with trio.move_on_after(self.config.first_message_timeout):
                route = await _feed_in_slices(finder, upgrade.received)
                while route is None:
                    try:
                        data = await upgrade.stream.receive_some(_READ)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        data = b""
                    if not data:
                        self._log.info(
                            "connection from %s closed before its session message", remote
                        )
                        return
                    route = await _feed_in_slices(finder, data)
        except OverflowError as exc:
            self._log.warning("closing a connection from %s: %s", remote, exc)
            await upgrade.close(1008, "too much before the session message")
            return
        if route is None:
            self._log.warning(
                "no session message within %g s on %s; closing",
                self.config.first_message_timeout,
                upgrade.handshake.path,
            )
            await upgrade.close(1000, "no session")
            return
        owner = await self.registry.owner(route.key)
        if isinstance(owner, Local):
            await self.serve_here(upgrade, bytes(finder.received))
            return
        if not await self.registry.hand_over(upgrade, route, owner, finder.received):
            log.error(
                "[%s] %s not taken within %g s; closing with 1013",
                route.key or "-",
                owner,
                self.config.handshake_timeout,
            )
            await upgrade.close(1013, "try again later")


async def _feed_in_slices(finder: RouteFinder, data: bytes | bytearray) -> Route | None:
    """Feed ``data`` to ``finder`` a slice at a time, yielding between slices: one read of
    tiny frames takes tens of milliseconds to parse, and a routing listener serves every
    call's connections."""
    view = memoryview(data)
    route = finder.feed(view[:FEED_SLICE])
    for start in range(FEED_SLICE, len(view), FEED_SLICE):
        if route is not None:
            break
        await trio.lowlevel.checkpoint()
        route = finder.feed(view[start : start + FEED_SLICE])
    return route
