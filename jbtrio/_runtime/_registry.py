"""The call-registry seam: where each call lives, and the calls that live here.

A call's state (its :class:`~._session.CallSession`) lives in one process; every socket of
the call — the first, jambonz's ``session:reconnect`` after a drop, the socket a redirect
verb opens, its audio streams — must reach that process. A :class:`CallRegistry` says where
a call lives (:meth:`~CallRegistry.owner`: here, another process of this host, another
host), hands a socket to its owner (:meth:`~CallRegistry.hand_over`), and keeps the calls
that live here, with the checks and bounds that guard them: a ``session:reconnect`` must
carry the call's identity and find the call's socket dead (no hijack), a second
``session:new`` for a live call is refused, calls (those waiting for their reconnect
included) are bounded by ``max_connections`` and a call's sessions by
``max_sessions_per_call``.

Implementations:

- :class:`LocalCalls` — one process: every call lives here (``jbtrio serve``, and each
  ``--workers`` worker);
- :class:`~._workers.WorkerRouting` — the ``--workers`` acceptor: ``crc32(call_sid) % N``
  owns a call, and a socket goes there with ``SCM_RIGHTS`` (:mod:`._handover`);
- :class:`jbtrio.cluster.ClusterCalls` — a cluster of hosts coordinated through Redis
  (``jbtrio/_cluster``), and its ``--workers`` variant of :class:`~._workers.WorkerRouting`.

How the listener uses it (:class:`~._listener.Listener`, the base of
:class:`~._server.Server` and :class:`~._workers.Acceptor`): the listener's constructor
calls :meth:`~CallRegistry.bind` with itself (a :class:`Serving`), and the listener runs
:meth:`~CallRegistry.run` in its nursery before it listens (the acceptor: before its
workers start). With :attr:`~CallRegistry.routes`
false every socket is served here at once. With it true, each upgraded connection is read up
to its first session message without consuming it (:class:`RouteFinder` over the backend's
:class:`~._transport_api.FramePeek`; an audio socket by its metadata's ``callSid``), then
``await registry.owner(route.key)``: :data:`LOCAL` — the connection is adopted and served
here (:meth:`Serving.serve_here`); anything else — ``await registry.hand_over(upgrade,
route, owner, received)``, and the connection is closed with 1013 if that returns False.
Once served here, the :class:`~._server.Server` calls :meth:`~CallRegistry.find`,
:meth:`~CallRegistry.admit`, :meth:`~CallRegistry.add`,
:meth:`~CallRegistry.check_reconnect`; the session calls :meth:`~CallRegistry.forget` when
it ends; shutdown waits on :attr:`~CallRegistry.calls` and
:meth:`~CallRegistry.wait_changed`.

A registry that needs more than the listener (the cluster's: a Redis lease store, a relay
listener, a renewal task) starts it in :meth:`~CallRegistry.run`, which runs in the
server's nursery and so stops with the server; what reaches it by its own ways (a socket
another host relays here) it gives to the listener it was bound to
(:meth:`Serving.adopt`). So ``Server(app, config, registry=...)`` (or ``jbtrio.serve(app,
registry=...)``) runs any of them, and nothing above the runtime knows which.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

import attrs
import orjson
import trio

from .._core import session_identity
from .._errors import ProtocolError
from .._wire import MAX_ID_CHARS, CallInfo, InboundMessage, SessionRedirect, decode
from ._config import ServerConfig
from ._logging import CallLogger, call_logger
from ._ratelimit import LogBudget
from ._transport_api import (
    AUDIO_SUBPROTOCOL,
    FramePeek,
    Handshake,
    Peeked,
    PeekEnd,
    Upgrade,
    WebSocket,
)

if TYPE_CHECKING:
    from ._session import CallSession

__all__ = [
    "LOCAL",
    "CallRegistry",
    "Host",
    "LocalCalls",
    "Owner",
    "Process",
    "Refusal",
    "Route",
    "RouteFinder",
    "Serving",
]


# ---------------------------------------------------------------------- owners and routes


@attrs.frozen
class Local:
    """The call lives in this process."""


@attrs.frozen
class Process:
    """The call lives in worker process ``index`` of this host."""

    index: int


@attrs.frozen
class Host:
    """The call lives on another host, reached at its relay listener ``address``."""

    address: str


Owner = Local | Process | Host
LOCAL = Local()


@attrs.frozen
class Route:
    """Where a socket goes: the call it belongs to (``key``), or ``None`` when its bytes
    decide nothing (no call_sid, a close, a protocol error): any process can serve it, and
    fails it as it would anyway."""

    key: str | None
    why: str


class RouteFinder:
    """Feed it the bytes read after the upgrade; :meth:`feed` returns the :class:`Route`
    once the first session message (or something that ends the search) is complete.

    A call's socket is routed by its first session message (``session:new``,
    ``session:reconnect``, ...: notifications before it are skipped), an audio socket
    (``audio.drachtio.org``) by the ``callSid`` of its metadata frame. The frames are parsed
    by the backend's ``peek``, which keeps every byte (:attr:`received`) and raises
    :class:`OverflowError` past its bound.
    """

    def __init__(self, peek: FramePeek, subprotocol: str) -> None:
        self._peek = peek
        self._audio = subprotocol == AUDIO_SUBPROTOCOL

    @property
    def received(self) -> bytes | bytearray:
        """Every byte fed so far: what the process serving the socket must read first."""
        return self._peek.received

    def feed(self, data: bytes | bytearray | memoryview) -> Route | None:
        """Add ``data``; the route once it is decided, else ``None`` (read more)."""
        for seen in self._peek.feed(data):
            if isinstance(seen, PeekEnd):
                return Route(None, seen.why)
            route = self._audio_route(seen) if self._audio else self._call_route(seen)
            if route is not None:
                return route
        return None

    @staticmethod
    def _call_route(seen: Peeked) -> Route | None:
        if not seen.text:
            return None  # jambonz sends text only: the serving process logs it
        try:
            message = decode(seen.payload)
        except ProtocolError:
            return None  # the serving process logs it, as a single process does
        if isinstance(message, InboundMessage) and message.STARTS_SESSION:
            return Route(message.sid, message.TYPE)
        return None  # an early notification (call:status): delivered once the call exists

    @staticmethod
    def _audio_route(seen: Peeked) -> Route:
        if not seen.text:
            return Route(None, "binary before the audio metadata")
        try:
            metadata = orjson.loads(seen.payload)
        except orjson.JSONDecodeError:
            return Route(None, "audio metadata that is not JSON")
        sid = metadata.get("callSid") if isinstance(metadata, dict) else None
        if not isinstance(sid, str) or not sid or len(sid) > MAX_ID_CHARS:
            return Route(None, "audio metadata without a callSid")
        return Route(sid, "audio metadata")


# ---------------------------------------------------------------------- the seam


@attrs.frozen
class Refusal:
    """A socket refused the call it claims: closed with ``code`` and ``reason``; ``why``
    is for the log."""

    code: int
    reason: str
    why: str


class Serving(Protocol):
    """What a registry may use of the listener it serves (:meth:`CallRegistry.bind`): a
    :class:`~._server.Server` or an :class:`~._workers.Acceptor`."""

    @property
    def connections(self) -> int:
        """Upgraded connections now (bounded by ``max_connections``)."""
        ...

    async def adopt(
        self, stream: trio.abc.Stream, handshake: Handshake, subprotocol: str, received: bytes
    ) -> None:
        """Serve a connection upgraded elsewhere (e.g. relayed by another host)."""
        ...

    async def serve_here(self, upgrade: Upgrade, received: bytes) -> None:
        """Serve a routed connection here, as if its call lived here (``received``: the
        bytes read after its upgrade)."""
        ...


class CallRegistry(Protocol):
    """Where each call lives, and the calls that live here (see the module)."""

    def bind(self, listener: Serving) -> None:
        """``listener`` (a :class:`~._server.Server` or an :class:`~._workers.Acceptor`)
        is the one this registry serves: called once, by its constructor. A registry that
        adopts sockets arriving by other ways (a cluster's relay) serves them through it."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Set up what the registry needs while the server runs (a store, a relay
        listener, tasks of its own), then ``task_status.started()``; cancelled when the
        server stops."""
        ...

    @property
    def routes(self) -> bool:
        """Whether a call may live elsewhere: the listener then reads up to a socket's
        first session message and asks :meth:`owner` before it serves the socket."""
        ...

    async def owner(self, key: str | None) -> Owner:
        """Where the call ``key`` lives (``None``: the socket named no call)."""
        ...

    async def hand_over(
        self, upgrade: Upgrade, route: Route, owner: Owner, received: bytes | bytearray
    ) -> bool:
        """Give the connection, with every byte read after its upgrade (``received``), to
        ``owner``; False if it was not taken in time (the listener closes it with 1013)."""
        ...

    @property
    def calls(self) -> Mapping[str, CallSession]:
        """The calls living here, by key (usually the call_sid)."""
        ...

    def find(self, key: str) -> CallSession | None:
        """The live call ``key`` here, if any."""
        ...

    def admit(self, message: InboundMessage, remote: str) -> str | Refusal:
        """A new session for ``message`` (``session:new``, a redirect's or an adulting
        leg's, or a reconnect for a call unknown here): its key, or why not."""
        ...

    def add(self, session: CallSession) -> None:
        """Register a session :meth:`admit` let in."""
        ...

    def forget(self, session: CallSession) -> None:
        """The session ended."""
        ...

    async def check_reconnect(
        self, session: CallSession, socket: WebSocket, message: InboundMessage
    ) -> Refusal | None:
        """Whether ``socket`` may take over the live call ``session`` (a
        ``session:reconnect``): ``None`` if so."""
        ...

    async def wait_changed(self) -> None:
        """Wait until a call is added or forgotten."""
        ...


# ---------------------------------------------------------------------- one process


class LocalCalls:
    """The single-process registry: every call lives here (see the module)."""

    routes = False

    def __init__(self, config: ServerConfig, budget: LogBudget | None = None) -> None:
        self.config = config
        self._calls: dict[str, CallSession] = {}
        self._sessions: dict[str, int] = {}  # sessions per call_sid (redirects included)
        self._probing: set[str] = set()  # calls whose socket is being probed for a reconnect
        self._anonymous = 0
        # Made by the first wait_changed() (shutdown's): not two trio.Events per call.
        self._changed: trio.Event | None = None
        self._budget = budget if budget is not None else LogBudget()

    def bind(self, listener: Serving) -> None:
        pass  # every socket comes through the listener itself

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()  # nothing to set up: every call lives in this dict

    async def owner(self, key: str | None) -> Owner:
        return LOCAL

    async def hand_over(
        self, upgrade: Upgrade, route: Route, owner: Owner, received: bytes | bytearray
    ) -> bool:
        return False  # every call lives here: nothing is handed over

    @property
    def calls(self) -> Mapping[str, CallSession]:
        return self._calls

    def find(self, key: str) -> CallSession | None:
        session = self._calls.get(key)
        return session if session is not None and not session.ended else None

    def admit(self, message: InboundMessage, remote: str) -> str | Refusal:
        sid = message.sid or self._anonymous_sid()
        key = sid
        if self.find(sid) is not None:
            if not isinstance(message, SessionRedirect):
                # jambonz starts a call once; after a drop it sends session:reconnect.
                return self._refusal(sid, remote, f"{message.TYPE} for a call in progress")
            # A redirect verb to an absolute ws URL: a second socket for the same call,
            # run by the app at that URL, while the first one stays jambonz's notifier.
            self._anonymous += 1
            key = f"{sid}#redirect-{self._anonymous}"
        if len(self._calls) >= self.config.max_connections and not self._make_room():
            # A call waiting for its reconnect is a call: orphans meet the same bound.
            return Refusal(
                1013,
                "too many calls",
                f"{message.TYPE} from {remote} refused: {len(self._calls)} calls in progress, "
                "those waiting for a reconnect included (max_connections)",
            )
        if self._sessions.get(sid, 0) >= self.config.max_sessions_per_call:
            return Refusal(
                1008,
                "too many sessions for this call",
                f"{message.TYPE} from {remote} refused: {self._sessions[sid]} sessions of this "
                "call already (max_sessions_per_call)",
            )
        return key

    def add(self, session: CallSession) -> None:
        self._calls[session.key] = session
        self._sessions[session.call_sid] = self._sessions.get(session.call_sid, 0) + 1
        self._set_changed()

    def forget(self, session: CallSession) -> None:
        if self._calls.get(session.key) is session:
            del self._calls[session.key]
            left = self._sessions.pop(session.call_sid, 1) - 1
            if left > 0:
                self._sessions[session.call_sid] = left
            self._set_changed()

    async def check_reconnect(
        self, session: CallSession, socket: WebSocket, message: InboundMessage
    ) -> Refusal | None:
        """It must carry the call's session data (its identity digest), and the call's
        socket, if we still hold one, must be dead (it answers no ping)."""
        first = getattr(session.first_message, "data", None)
        data = getattr(message, "data", None)
        if (
            isinstance(first, CallInfo)
            and isinstance(data, CallInfo)
            and session_identity(first) != session_identity(data)
        ):
            return self._refusal(
                session.call_sid, socket.remote, "its session data differ from the call's"
            )
        old = session.socket
        if old is not None and old is not socket and not await self._is_dead(session, old):
            why = f"the call's socket from {old.remote} answers pings"
            return self._refusal(session.call_sid, socket.remote, why)
        return None

    async def wait_changed(self) -> None:
        changed = self._changed
        if changed is None:
            changed = self._changed = trio.Event()
        await changed.wait()

    def _set_changed(self) -> None:
        changed = self._changed
        if changed is not None:
            self._changed = None
            changed.set()

    def _refusal(self, sid: str, remote: str, why: str) -> Refusal:
        """Refused with 1008, logged with both peers' addresses."""
        session = self._calls.get(sid)
        current = session.socket if session is not None else None
        return Refusal(
            1008,
            "refused: not this call's jambonz",
            f"session from {remote} refused: {why} (the call's socket: "
            f"{current.remote if current is not None else 'none, waiting for a reconnect'})",
        )

    def _make_room(self) -> bool:
        """At ``max_connections``: end the call that has waited longest for its reconnect,
        if that is ``orphan_evict_after`` seconds or more (jambonz reconnects within about a
        second of a drop), so that a flood of orphans cannot keep new calls out."""
        now = trio.current_time()
        oldest: CallSession | None = None
        since = now - self.config.orphan_evict_after
        for session in self._calls.values():
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

    async def _is_dead(self, session: CallSession, old: WebSocket) -> bool:
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

    def log_for(self, call_sid: str | None) -> CallLogger:
        """A logger for ``call_sid`` sharing the registry's budget of connection lines."""
        return call_logger("jbtrio.server", call_sid, budget=self._budget)

    def _anonymous_sid(self) -> str:
        self._anonymous += 1
        return f"no-call-sid-{self._anonymous}"
