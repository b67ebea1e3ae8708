"""The listener: accepts jambonz sockets, routes them to calls, shuts down gracefully.

Each connection is handled in a fortress (``except*``): nothing that happens on one socket
can escape into the listener or another call. A connection's first session message decides
which call it belongs to — a new one (``session:new``, ``session:adulting``,
``session:redirect``) or an existing one (``session:reconnect``, rebinding the call that
outlived its old socket). A socket gets an existing call only if it is that call's jambonz
coming back: the reconnect carries the call's session data (its identity digest), and the
socket the call still has, if any, no longer answers a ping; anything else (a second
``session:new`` for a live call included) is refused with 1008. New calls, those waiting for
their reconnect included, are bounded by ``max_connections``.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import trio
import trio.testing

from .._core import session_identity
from .._errors import ProtocolError
from .._wire import (
    CallInfo,
    InboundMessage,
    SessionReconnect,
    SessionRedirect,
    UnknownMessage,
    decode,
)
from . import _observe
from ._admission import HandshakeGate, PeerFilter, accept_loop
from ._config import ServerConfig
from ._endpoints import Endpoints
from ._logging import CallLogger, call_logger
from ._ratelimit import LogBudget, RateLimitedLogger
from ._session import AppHandler, CallSession
from ._transport import (
    SUBPROTOCOL,
    Answered,
    Handshake,
    HandshakeFailed,
    HandshakeRejected,
    Keepalive,
    Socket,
    SocketClosed,
    adopt_socket,
    basic_auth_header,
    credentials_match,
    open_socket,
)

__all__ = ["Router", "Server", "check_upgrade", "serve"]

log = logging.getLogger("jbtrio.server")

#: Notifications jambonz may send before ``session:new`` (REST outbound ``call:status``)
#: are kept, up to this many, and delivered once the call exists.
_MAX_EARLY_MESSAGES = 32


class Router(Protocol):
    """What the server needs from an app: the handler for a request path, if any."""

    def resolve(self, path: str) -> AppHandler | None:
        """The handler serving ``path`` (prefix routing), or ``None`` for 404."""
        ...


class Server:
    """A jbtrio server: the call registry and the connection handling.

    Use :func:`serve` to run it on TCP; :meth:`handle_stream` serves one connection on any
    Trio stream (tests use in-memory streams with the fake jambonz).
    """

    def __init__(self, router: Router, config: ServerConfig | None = None) -> None:
        self.router = router
        self.config = config or ServerConfig()
        self.calls: dict[str, CallSession] = {}
        """Calls in progress, by call_sid (a socket opened by a redirect verb for a call
        already here is registered as ``<call_sid>#redirect-<n>``)."""
        self.connections = 0
        """Upgraded sockets now (bounded by ``max_connections``; upgrades in progress are
        :attr:`handshakes`)."""
        self.port: int | None = None
        self._auth = (
            basic_auth_header(self.config.username, self.config.password)
            if self.config.username is not None and self.config.password is not None
            else None
        )
        self._keepalive = Keepalive(self.config.ping_interval, self.config.pong_timeout)
        self._nursery: trio.Nursery | None = None
        self._listen_scope = trio.CancelScope()
        self._calls_changed = trio.Event()
        self._stopped = trio.Event()
        self._anonymous = 0
        self._sessions: dict[str, int] = {}  # sessions per call_sid (redirects included)
        self._probing: set[str] = set()  # calls whose socket is being probed for a reconnect
        self._budget = LogBudget()  # lines about connections: a flood must not flood the log
        self._log = RateLimitedLogger(log, budget=self._budget)
        self._peers = PeerFilter(self.config.allowed_peers)
        self._gate = HandshakeGate(self.config.max_handshakes)
        self.endpoints = Endpoints(router)
        """The plain requests answered on the serving port (``/healthz``, ``/readyz``,
        ``/metrics``, ``OPTIONS``): see :mod:`._endpoints`."""

    # ------------------------------------------------------------------ running

    async def run(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``host:port`` until :meth:`shutdown` (or cancellation)."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._listen, listeners, name="jbtrio listener")
            log.info("jbtrio listening on %s:%s", host, self.port)
            task_status.started(self)
            await self._stopped.wait()
            nursery.cancel_scope.cancel()

    async def run_in(
        self, *, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run without a listener (connections come from :meth:`handle_stream`)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started(self)
            await self._stopped.wait()
            nursery.cancel_scope.cancel()

    async def open_memory_stream(self) -> trio.abc.Stream:
        """A client stream connected to this server in memory, no TCP involved.

        The fake jambonz takes this method as its connector, so tests run whole calls
        deterministically under ``trio.testing.MockClock``.
        """
        assert self._nursery is not None, "Server.run()/run_in() is not running"
        client, server_end = trio.testing.memory_stream_pair()
        self._nursery.start_soon(self.handle_stream, server_end, name="in-memory connection")
        return client

    async def _listen(self, listeners: list[trio.SocketListener]) -> None:
        assert self._nursery is not None
        with self._listen_scope:
            await accept_loop(listeners, self.handle_stream, self._nursery)

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop accepting, let calls finish within ``grace``, then close the rest with 1001."""
        grace = self.config.shutdown_grace if grace is None else grace
        # Still listening while calls drain: /readyz answers 503 (a load balancer sends no
        # more), upgrades are refused with 503; then the listener stops.
        self.endpoints.draining = True
        log.info("shutting down: %d call(s) in flight, %g s grace", len(self.calls), grace)
        with trio.move_on_after(grace):
            while self.calls:
                await self._wait_calls_changed()
        self._listen_scope.cancel()
        left = list(self.calls.values())
        # All at once, within one close_timeout: a peer that never answers a close frame
        # must not hold up the others (six of them took 38.6 s one after another).
        with trio.CancelScope(shield=True), trio.move_on_after(self.config.close_timeout):
            async with trio.open_nursery() as nursery:
                for session in left:
                    socket = session.socket
                    if socket is not None:
                        nursery.start_soon(
                            socket.close, 1001, "server shutting down", name="jbtrio close"
                        )
        for session in left:
            socket = session.socket
            if socket is not None:
                # No close frame back within close_timeout: do not wait for one again when
                # its connection handler closes it.
                await socket.abort("server shutting down")
            session.end("server shutdown")
        self._stopped.set()

    async def _wait_calls_changed(self) -> None:
        await self._calls_changed.wait()
        self._calls_changed = trio.Event()

    # ------------------------------------------------------------------ connections

    async def handle_stream(self, stream: trio.abc.Stream) -> None:
        """Serve one connection on ``stream``. Never raises (except cancellation)."""
        refused = self._peers.refuses(stream)
        if refused is not None:
            self._log.warning("connection from %s refused: not in allowed_peers", refused)
            await trio.aclose_forcefully(stream)
            return
        scope, evicted = self._gate.enter()
        if evicted:
            self._log.warning(
                "%d connections in their upgrade (max_handshakes): the oldest cut short",
                self.config.max_handshakes,
            )
        try:
            await self._fortress(
                open_socket(
                    stream,
                    handshake_timeout=self.config.handshake_timeout,
                    max_message_bytes=self.config.max_message_bytes,
                    close_timeout=self.config.close_timeout,
                    keepalive=self._keepalive,
                    check=self._check,
                    max_fragments=self.config.max_fragments,
                    handshake_scope=scope,
                    answer=self.endpoints.answer,
                ),
                handshake_scope=scope,
            )
        finally:
            self._gate.leave(scope)

    @property
    def handshakes(self) -> int:
        """Connections in their upgrade now (bounded by ``max_handshakes``)."""
        return len(self._gate)

    async def adopt(self, stream: trio.abc.Stream, handshake: Handshake, received: bytes) -> None:
        """Serve a connection another process accepted and handed over (``jbtrio serve
        --workers``): its upgrade is done, ``received`` holds the bytes read after it.
        Never raises (except cancellation)."""
        await self._fortress(
            adopt_socket(
                stream,
                handshake,
                received,
                max_message_bytes=self.config.max_message_bytes,
                close_timeout=self.config.close_timeout,
                keepalive=self._keepalive,
                max_fragments=self.config.max_fragments,
            ),
            adopted=True,
        )

    def adopt_soon(self, stream: trio.abc.Stream, handshake: Handshake, received: bytes) -> None:
        """Start :meth:`adopt` in the server's nursery (where listened connections run)."""
        assert self._nursery is not None, "Server.run()/run_in() is not running"
        self._nursery.start_soon(
            self.adopt, stream, handshake, received, name=f"connection from {handshake.remote}"
        )

    async def _fortress(
        self,
        opening: AbstractAsyncContextManager[
            Socket | HandshakeRejected | HandshakeFailed | Answered
        ],
        *,
        adopted: bool = False,
        handshake_scope: trio.CancelScope | None = None,
    ) -> None:
        """One connection, start to end; nothing that happens on it escapes from here."""
        try:
            async with opening as outcome:
                if handshake_scope is not None:
                    self._gate.leave(handshake_scope)
                if isinstance(outcome, Socket):
                    if adopted and self.connections >= self.config.max_connections:
                        self._log.warning(
                            "handed-over connection from %s refused: too many connections "
                            "(max_connections=%d)",
                            outcome.remote,
                            self.config.max_connections,
                        )
                        await outcome.close(1013, "too many connections")
                        return
                    self.connections += 1
                    try:
                        await self._serve_socket(outcome)
                    finally:
                        self.connections -= 1
                elif isinstance(outcome, Answered):
                    log.debug("%s %s answered %d", outcome.method, outcome.path, outcome.status)
                elif isinstance(outcome, HandshakeRejected):
                    _observe.upgrade_refused(outcome.status)
                    self._log.warning("upgrade refused: %s", outcome)
                elif outcome.reason.startswith("connection closed"):
                    self._log.info("no upgrade: %s", outcome.reason)
                else:
                    self._log.warning("no upgrade: %s", outcome.reason)
        except* Exception as group:
            log.error("connection handler failed", exc_info=group)

    def _check(self, handshake: Handshake) -> None:
        if self.endpoints.draining:
            raise HandshakeRejected(503, "shutting down")
        check_upgrade(
            handshake,
            router=self.router,
            auth=self._auth,
            connections=self.connections,
            max_connections=self.config.max_connections,
        )

    async def _serve_socket(self, socket: Socket) -> None:
        handler = self.router.resolve(socket.path)
        assert handler is not None  # _check refused unknown paths
        session = await self._bind(socket, handler)
        if session is None:
            return
        try:
            with session.reader_scope():  # cancelled when the call ends: then we close 1000
                await self._read(socket, session)
        finally:
            if not session.ended and socket.close_code is None:
                # Cancelled while the call goes on (server stopping): 1001 makes jambonz
                # reconnect, ideally to another instance; 1000 would abandon the call.
                with trio.CancelScope(shield=True):
                    await socket.close(1001, "going away")

    async def _read(self, socket: Socket, session: CallSession) -> None:
        """The reader: decode and hand off, never waiting on the app."""
        try:
            while True:
                session.feed(await socket.receive())
        except SocketClosed as closed:
            session.detach(socket, closed.code)

    async def _bind(self, socket: Socket, handler: AppHandler) -> CallSession | None:
        """Read up to the first session message and bind the socket to its call."""
        early: list[InboundMessage | UnknownMessage] = []
        bad_input = call_logger("jbtrio.server", None, budget=LogBudget())
        try:
            with trio.move_on_after(self.config.first_message_timeout) as scope:
                session = await self._first_session(socket, handler, early, bad_input)
        finally:
            bad_input.flush()
        if scope.cancelled_caught:
            log.warning(
                "no session message within %g s on %s; closing",
                self.config.first_message_timeout,
                socket.path,
            )
            await socket.close(1000, "no session")
            return None
        if session is None:
            return None
        session.stats.frames_in += 1 + len(early)  # the session message and those before it
        for early_message in early:
            session.feed_message(early_message)
        return session

    async def _first_session(
        self,
        socket: Socket,
        handler: AppHandler,
        early: list[InboundMessage | UnknownMessage],
        bad_input: CallLogger,
    ) -> CallSession | None:
        """Read frames until the first session message, and start or rebind its call;
        notifications before it are kept in ``early`` (bounded)."""
        while True:
            try:
                text = await socket.receive()
            except SocketClosed:
                return None
            if not isinstance(text, str):
                bad_input.warning(
                    "binary frame skipped before the session started from %s: jambonz "
                    "sends text frames only",
                    socket.handshake.remote,
                )
                continue
            try:
                message = decode(text)
            except ProtocolError as exc:
                bad_input.warning(
                    "malformed frame before the session started from %s: %s",
                    socket.handshake.remote,
                    exc,
                )
                continue
            if isinstance(message, SessionReconnect):
                return await self._reconnect(socket, handler, message)
            if isinstance(message, InboundMessage) and message.STARTS_SESSION:
                return await self._new_session(socket, handler, message, resumed=False)
            if isinstance(message, InboundMessage | UnknownMessage):
                if len(early) < _MAX_EARLY_MESSAGES:
                    early.append(message)
                else:
                    bad_input.warning(
                        "dropping early %s %s: no session yet", message, message.msgid
                    )

    async def _new_session(
        self,
        socket: Socket,
        handler: AppHandler,
        message: InboundMessage,
        *,
        resumed: bool,
    ) -> CallSession | None:
        sid = message.sid or self._anonymous_sid()
        key = sid
        existing = self.calls.get(sid)
        if existing is not None and not existing.ended:
            if not isinstance(message, SessionRedirect):
                # jambonz starts a call once; after a drop it sends session:reconnect.
                await self._refuse(socket, existing, f"{message.TYPE} for a call in progress")
                return None
            # A redirect verb to an absolute ws URL: a second socket for the same call,
            # run by the app at that URL, while the first one stays jambonz's notifier.
            self._anonymous += 1
            key = f"{sid}#redirect-{self._anonymous}"
        if len(self.calls) >= self.config.max_connections and not self._make_room():
            # A call waiting for its reconnect is a call: orphans meet the same bound.
            self._log_for(sid).warning(
                "%s from %s refused: %d calls in progress, those waiting for a reconnect "
                "included (max_connections)",
                message.TYPE,
                socket.remote,
                len(self.calls),
            )
            await socket.close(1013, "too many calls")
            return None
        if self._sessions.get(sid, 0) >= self.config.max_sessions_per_call:
            self._log_for(sid).warning(
                "%s from %s refused: %d sessions of this call already (max_sessions_per_call)",
                message.TYPE,
                socket.remote,
                self._sessions[sid],
            )
            await socket.close(1008, "too many sessions for this call")
            return None
        session = CallSession(
            key=key,
            call_sid=sid,
            path=socket.path,
            first_message=message,
            resumed=resumed,
            handler=handler,
            config=self.config,
            on_end=self._forget,
        )
        self.calls[key] = session
        self._sessions[sid] = self._sessions.get(sid, 0) + 1
        self._calls_changed.set()
        assert self._nursery is not None, "Server.run()/run_in() is not running"
        await self._nursery.start(session.run, name=f"call {sid}")
        session.attach(socket)
        session.feed_message(message)
        session.start_app()
        return session

    def _make_room(self) -> bool:
        """At ``max_connections``: end the call that has waited longest for its reconnect,
        if that is ``orphan_evict_after`` seconds or more (jambonz reconnects within about a
        second of a drop), so that a flood of orphans cannot keep new calls out."""
        now = trio.current_time()
        oldest: CallSession | None = None
        since = now - self.config.orphan_evict_after
        for session in self.calls.values():
            waiting = session.waiting_since
            if waiting is not None and waiting <= since:
                oldest, since = session, waiting
        if oldest is None:
            return False
        oldest.end(
            f"ended after {now - since:.1f} s without its reconnect, to make room for a new "
            "call (max_connections)"
        )
        return True

    async def _reconnect(
        self, socket: Socket, handler: AppHandler, message: SessionReconnect
    ) -> CallSession | None:
        """Bind a ``session:reconnect`` to its call, if it is that call's jambonz: it must
        carry the call's session data, and the call's socket, if we still hold one, must be
        dead (it answers no ping)."""
        sid = message.sid
        session = self.calls.get(sid) if sid is not None else None
        if session is not None and not session.ended:
            first = getattr(session.first_message, "data", None)
            if isinstance(first, CallInfo) and session_identity(first) != session_identity(
                message.data
            ):
                await self._refuse(socket, session, "its session data differ from the call's")
                return None
            old = session.socket
            if old is not None and old is not socket and not await self._is_dead(session, old):
                await self._refuse(
                    socket, session, f"the call's socket from {old.remote} answers pings"
                )
                return None
        if session is None or session.ended:
            call_logger("jbtrio.server", sid).info(
                "session:reconnect for a call this process does not know: resuming it"
            )
            return await self._new_session(socket, handler, message, resumed=True)
        await self._rebind(session, socket, message)
        return session

    async def _is_dead(self, session: CallSession, old: Socket) -> bool:
        """Whether the call's socket ``old`` is gone: it answers no ping in time (one probe
        per call at a time; a reconnect arriving meanwhile is refused)."""
        if session.key in self._probing:
            return False
        self._probing.add(session.key)
        alive = False
        try:
            with trio.move_on_after(self.config.rebind_probe_timeout):
                alive = await old.probe()
        finally:
            self._probing.discard(session.key)
        return not alive or session.socket is not old

    async def _refuse(self, socket: Socket, session: CallSession, why: str) -> None:
        """Refuse ``socket`` a call it claims (1008), logged with both peers' addresses."""
        current = session.socket
        self._log_for(session.call_sid).warning(
            "session from %s refused: %s (the call's socket: %s)",
            socket.remote,
            why,
            current.remote if current is not None else "none, waiting for a reconnect",
        )
        await socket.close(1008, "refused: not this call's jambonz")

    async def _rebind(self, session: CallSession, socket: Socket, message: InboundMessage) -> None:
        old = session.socket
        session.attach(socket)
        if old is not None and old is not socket:
            await old.abort("replaced by a reconnect")
        session.feed_message(message)

    def _forget(self, session: CallSession) -> None:
        if self.calls.get(session.key) is session:
            del self.calls[session.key]
            left = self._sessions.pop(session.call_sid, 1) - 1
            if left > 0:
                self._sessions[session.call_sid] = left
            self._calls_changed.set()

    def _log_for(self, call_sid: str | None) -> CallLogger:
        """A logger for ``call_sid`` sharing the server's budget of connection lines."""
        return call_logger("jbtrio.server", call_sid, budget=self._budget)

    def _anonymous_sid(self) -> str:
        self._anonymous += 1
        return f"no-call-sid-{self._anonymous}"


def check_upgrade(
    handshake: Handshake,
    *,
    router: Router,
    auth: bytes | None,
    connections: int,
    max_connections: int,
) -> None:
    """Refuse an upgrade jbtrio must not accept (raises :class:`HandshakeRejected`): too many
    connections, no ``ws.jambonz.org`` subprotocol, bad credentials, or no app at the path."""
    if connections >= max_connections:
        raise HandshakeRejected(503, f"too many connections (max_connections={max_connections})")
    if SUBPROTOCOL not in handshake.subprotocols:
        offered = ", ".join(handshake.subprotocols) or "none"
        raise HandshakeRejected(
            400,
            f"subprotocol {SUBPROTOCOL} required (offered: {offered}) from {handshake.remote}",
        )
    if auth is not None and not credentials_match(handshake, auth):
        raise HandshakeRejected(401, f"bad or missing credentials from {handshake.remote}")
    if router.resolve(handshake.path) is None:
        raise HandshakeRejected(404, f"no app mounted at {handshake.path}")


async def serve(
    router: Router,
    host: str = "127.0.0.1",
    port: int = 3000,
    *,
    config: ServerConfig | None = None,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``router`` (a :class:`jbtrio.App`) on TCP until cancelled or shut down.

    Use it inside a Trio program with ``server = await nursery.start(jbtrio.serve, app)``;
    ``server.port`` is the bound port and ``await server.shutdown()`` stops it gracefully.
    """
    await Server(router, config).run(host, port, task_status=task_status)
