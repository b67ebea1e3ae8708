"""The listener of a process that serves calls: binds sockets to calls, serves audio
sockets, shuts down gracefully.

Each connection is handled in a fortress (``except*``, :class:`~._listener.Listener`):
nothing that happens on one socket can escape into the listener or another call. A call
socket's first session message decides which call it belongs to — a new one
(``session:new``, ``session:adulting``, ``session:redirect``) or an existing one
(``session:reconnect``, rebinding the call that outlived its old socket). Which socket may
have which call is the call registry's to say (:mod:`._registry`: the identity digest, the
probe of the call's old socket, the bounds on calls and sessions); anything refused is
closed with the registry's code (1008, 1013) and logged with both peers' addresses. An
``audio.drachtio.org`` socket is served by the app's :class:`~jbtrio.audio.AudioRoutes`.
"""

from __future__ import annotations

import logging
import math
from contextlib import suppress

import trio
import trio.testing

from .._errors import ProtocolError
from .._wire import (
    InboundMessage,
    SessionReconnect,
    UnknownMessage,
    decode,
)
from ._audio_socket import AudioSocketAdapter
from ._config import ServerConfig
from ._listener import Listener, Router
from ._logging import CallLogger, call_logger
from ._ratelimit import LogBudget
from ._registry import CallRegistry, LocalCalls, Refusal
from ._session import AppHandler, CallSession
from ._transport_api import AUDIO_SUBPROTOCOL, Handshake, SocketClosed, WebSocket

__all__ = ["Router", "Server", "serve"]

log = logging.getLogger("jbtrio.server")

#: Notifications jambonz may send before ``session:new`` (REST outbound ``call:status``)
#: are kept, up to this many, and delivered once the call exists.
_MAX_EARLY_MESSAGES = 32


class Server(Listener):
    """A jbtrio server: its calls (in a :class:`~._registry.CallRegistry`) and the
    connection handling.

    Use :func:`serve` to run it on TCP; :meth:`handle_stream` serves one connection on any
    Trio stream (tests use in-memory streams with the fake jambonz).
    """

    def __init__(
        self,
        router: Router,
        config: ServerConfig | None = None,
        *,
        registry: CallRegistry | None = None,
    ) -> None:
        config = config or ServerConfig()
        super().__init__(router, config, registry or LocalCalls(config))
        self._nursery: trio.Nursery | None = None
        self._stopped = trio.Event()

    @property
    def calls(self) -> dict[str, CallSession]:
        """Calls in progress here, by call_sid (a socket opened by a redirect verb for a call
        already here is registered as ``<call_sid>#redirect-<n>``)."""
        return dict(self.registry.calls)

    # ------------------------------------------------------------------ running

    async def run(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``host:port`` until :meth:`shutdown` (or cancellation)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.registry.run, name="jbtrio call registry")
            listeners = await self.listen(host, port)
            nursery.start_soon(self.accept, listeners, nursery, name="jbtrio listener")
            log.info("jbtrio listening on %s:%s (%s)", host, self.port, self.transport.name)
            task_status.started(self)
            await self._stopped.wait()
            nursery.cancel_scope.cancel()

    async def run_in(
        self, *, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run without a listener (connections come from :meth:`handle_stream`)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.registry.run, name="jbtrio call registry")
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

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop accepting, let calls finish within ``grace``, then close the rest with 1001."""
        grace = self.config.shutdown_grace if grace is None else grace
        # Still listening while calls drain: /readyz answers 503 (a load balancer sends no
        # more), upgrades are refused with 503; then the listener stops.
        self.endpoints.draining = True
        log.info("shutting down: %d call(s) in flight, %g s grace", len(self.registry.calls), grace)
        with trio.move_on_after(grace):
            while self.registry.calls:
                await self.registry.wait_changed()
        self.stop_listening()
        left = list(self.registry.calls.values())
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

    # ------------------------------------------------------------------ connections

    def adopt_soon(
        self, stream: trio.abc.Stream, handshake: Handshake, subprotocol: str, received: bytes
    ) -> None:
        """Start :meth:`adopt` in the server's nursery (where listened connections run)."""
        assert self._nursery is not None, "Server.run()/run_in() is not running"
        self._nursery.start_soon(
            self.adopt,
            stream,
            handshake,
            subprotocol,
            received,
            name=f"connection from {handshake.remote}",
        )

    async def serve_socket(self, socket: WebSocket) -> None:
        """Serve an accepted socket: an audio stream, or a call's socket.

        A call's socket is served in this frame, the reader included (decode and hand off,
        never waiting on the app): a coroutine per step would be held for the call's whole
        life (~250 B each, issue 23)."""
        if socket.subprotocol == AUDIO_SUBPROTOCOL:
            await self._serve_audio(socket)
            return
        handler = self.router.resolve(socket.path)
        assert handler is not None  # _check refused unknown paths
        # One scope for the connection (issue 23): the first message's deadline while the
        # socket is bound to its call, then the reader's, cancelled when the call ends
        # (then we close 1000).
        scope = trio.CancelScope(deadline=trio.current_time() + self.config.first_message_timeout)
        session: CallSession | None = None
        read = False
        try:
            while True:
                with scope:
                    if session is None:
                        session = await self._bind(socket, handler)
                    if session is not None and not scope.cancel_called:
                        read = True
                        scope.deadline = math.inf
                        session.reading(scope)
                        try:
                            # Messages may be handed to the session from the read poller's
                            # task (Socket.pump): feed never blocks nor raises.
                            await socket.pump(session.feed)
                        except SocketClosed as closed:
                            session.detach(socket, closed.code)
                if read or session is None:
                    break
                # Bound in the very turn its deadline passed (the scope is cancelled, not
                # caught yet): the reader gets a scope of its own.
                scope = trio.CancelScope()
        finally:
            if session is not None and not session.ended and socket.close_code is None:
                # Cancelled while the call goes on (server stopping): 1001 makes jambonz
                # reconnect, ideally to another instance; 1000 would abandon the call.
                with trio.CancelScope(shield=True):
                    await socket.close(1001, "going away")
        if session is None and scope.cancelled_caught:
            log.warning(
                "no session message within %g s on %s; closing",
                self.config.first_message_timeout,
                socket.path,
            )
            await socket.close(1000, "no session")

    async def _serve_audio(self, socket: WebSocket) -> None:
        routes = self.router.audio_routes
        if routes is None:  # the check accepts audio only for an app with audio routes
            await socket.close(1008, "no audio here")
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_keep_alive, socket, name=f"audio keepalive {socket.remote}")
            await routes.serve(AudioSocketAdapter(socket), socket.path, remote=socket.remote)
            nursery.cancel_scope.cancel()

    async def _bind(self, socket: WebSocket, handler: AppHandler) -> CallSession | None:
        """Read up to the first session message and bind the socket to its call (within
        the first message's deadline, on the caller's scope)."""
        early: list[InboundMessage | UnknownMessage] = []
        session = await self._first_session(socket, handler, early)
        if session is None:
            return None
        socket.forget_headers()
        session.stats.frames_in += 1 + len(early)  # the session message and those before it
        for early_message in early:
            session.feed_message(early_message)
        return session

    async def _first_session(
        self,
        socket: WebSocket,
        handler: AppHandler,
        early: list[InboundMessage | UnknownMessage],
    ) -> CallSession | None:
        """Read frames until the first session message, and start or rebind its call;
        notifications before it are kept in ``early`` (bounded)."""
        # Bad frames before the session are logged rate-limited, by a logger made for the
        # first one (jambonz sends none: a logger and a budget fewer per call, issue 23).
        bad_input: CallLogger | None = None
        try:
            while True:
                try:
                    text = await socket.receive()
                except SocketClosed:
                    return None
                if not isinstance(text, str):
                    bad_input = bad_input or _bad_input_log()
                    bad_input.warning(
                        "binary frame skipped before the session started from %s: jambonz "
                        "sends text frames only",
                        socket.handshake.remote,
                    )
                    continue
                try:
                    message = decode(text)
                except ProtocolError as exc:
                    bad_input = bad_input or _bad_input_log()
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
                        bad_input = bad_input or _bad_input_log()
                        bad_input.warning(
                            "dropping early %s %s: no session yet", message, message.msgid
                        )
        finally:
            if bad_input is not None:
                bad_input.flush()

    async def _new_session(
        self,
        socket: WebSocket,
        handler: AppHandler,
        message: InboundMessage,
        *,
        resumed: bool,
    ) -> CallSession | None:
        key = self.registry.admit(message, socket.remote)
        if isinstance(key, Refusal):
            await self._refuse(socket, message.sid, key)
            return None
        sid = message.sid or key
        session = CallSession(
            key=key,
            call_sid=sid,
            path=socket.path,
            first_message=message,
            resumed=resumed,
            handler=handler,
            config=self.config,
            on_end=self.registry.forget,
        )
        self.registry.add(session)
        assert self._nursery is not None, "Server.run()/run_in() is not running"
        session.attach(socket)
        session.feed_message(message)
        session.start_app()
        # Started, not Nursery.start'ed: the session needs nothing of its task before it
        # runs (what it starts meanwhile waits for its nursery), and start() costs a
        # nursery and a task switch per call (issue 23).
        self._nursery.start_soon(session.run, name=f"call {sid}")
        return session

    async def _reconnect(
        self, socket: WebSocket, handler: AppHandler, message: SessionReconnect
    ) -> CallSession | None:
        """Bind a ``session:reconnect`` to its call, if the registry says it is that call's
        jambonz; resume a call this process does not know."""
        sid = message.sid
        session = self.registry.find(sid) if sid is not None else None
        if session is None:
            call_logger("jbtrio.server", sid).info(
                "session:reconnect for a call this process does not know: resuming it"
            )
            return await self._new_session(socket, handler, message, resumed=True)
        refusal = await self.registry.check_reconnect(session, socket, message)
        if refusal is not None:
            await self._refuse(socket, sid, refusal)
            return None
        if session.ended:  # it ended while its old socket was probed
            return await self._new_session(socket, handler, message, resumed=True)
        old = session.socket
        session.attach(socket)
        if old is not None and old is not socket:
            await old.abort("replaced by a reconnect")
        session.feed_message(message)
        return session

    async def _refuse(self, socket: WebSocket, sid: str | None, refusal: Refusal) -> None:
        self._log_for(sid).warning("%s", refusal.why)
        await socket.close(refusal.code, refusal.reason)

    def _log_for(self, call_sid: str | None) -> CallLogger:
        """A logger for ``call_sid`` sharing the server's budget of connection lines."""
        return call_logger("jbtrio.server", call_sid, budget=self._budget)


async def serve(
    router: Router,
    host: str = "127.0.0.1",
    port: int = 3000,
    *,
    config: ServerConfig | None = None,
    registry: CallRegistry | None = None,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``router`` (a :class:`jbtrio.App`) on TCP until cancelled or shut down.

    Use it inside a Trio program with ``server = await nursery.start(jbtrio.serve, app)``;
    ``server.port`` is the bound port and ``await server.shutdown()`` stops it gracefully.
    ``registry`` says where calls live (one process by default); a cluster instance is
    ``registry=jbtrio.cluster.ClusterCalls(config, cluster_config)``: it starts its relay
    listener and lease store with the server and stops them with it.
    """
    await Server(router, config, registry=registry).run(host, port, task_status=task_status)


def _bad_input_log() -> CallLogger:
    """The log of a socket's bad frames before its session message (no call_sid yet), with
    a budget of its own."""
    return call_logger("jbtrio.server", None, budget=LogBudget())


async def _keep_alive(socket: WebSocket) -> None:
    """Keepalive pings for a socket whose owner has no timer of its own (an audio stream):
    a ping when due, the socket aborted when its pong is overdue."""
    while True:
        await trio.sleep_until(socket.keepalive_at)
        if not socket.keepalive(trio.current_time()):
            await socket.abort(f"no pong within {socket.pong_timeout:g} s")
            return
        if socket.has_pending:
            with suppress(SocketClosed):
                await socket.flush()
