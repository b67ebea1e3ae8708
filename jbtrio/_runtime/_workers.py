"""Several processes serving one port, each call always in the same one (``--workers N``).

One Python process runs the app on one core. To use more, :class:`Acceptor` (the parent
process) listens, runs the upgrade (the same checks as :class:`Server`: subprotocol, auth,
path, connection bound), reads up to the connection's first session message with
:class:`SessionFinder`, and hands the socket, with every byte it read, to worker
``crc32(call_sid) % N``. So every socket of a call (``session:reconnect`` after a drop, the
socket a redirect verb opens) reaches the worker holding the call: no call state is shared
between processes, and none is lost. :class:`WorkerPool` starts the workers, each running
a :class:`Server` that adopts the sockets (:func:`adopt_handovers`), and starts a new one
when one exits; jambonz's reconnects then resume that worker's calls on the new one (the
server's "unknown call" path).
"""

from __future__ import annotations

import logging
import socket
import subprocess
import zlib
from collections.abc import Callable, Sequence
from contextlib import suppress

import trio

from . import _observe
from ._admission import HandshakeGate, PeerFilter, accept_loop
from ._config import ServerConfig
from ._endpoints import Endpoints
from ._handover import HandoverError, receive_handover, send_handover
from ._ratelimit import LogBudget, RateLimitedLogger
from ._server import Router, Server, check_upgrade
from ._session_finder import Route, SessionFinder
from ._transport import (
    FEED_SLICE,
    READ_SIZE,
    Answered,
    Handshake,
    HandshakeRejected,
    RawSocketStream,
    Upgraded,
    basic_auth_header,
    open_upgrade,
)

__all__ = ["Acceptor", "WorkerPool", "adopt_handovers"]

log = logging.getLogger("jbtrio.workers")

#: Bytes the acceptor keeps before a session message, beyond ``max_message_bytes`` (room for
#: an early ``call:status`` or two); a connection sending more is closed with 1008.
EARLY_BYTES = 64 * 1024

#: A worker that exits sooner than this after starting is restarted only after this delay,
#: so a worker that cannot start (an import error) does not spin.
RESTART_DELAY = 1.0

#: When the acceptor is stopped at once (cancelled): the gap between the two SIGTERMs it sends
#: each worker (Trio merges a signal repeated before it is read), and how long a worker then
#: has to exit before SIGKILL.
SIGNAL_GAP = 0.2
KILL_AFTER = 5.0

#: ``command(index, fd)``: the argv of worker ``index``, reading handovers from ``fd``.
WorkerCommand = Callable[[int, int], Sequence[str]]


class _Slot:
    """One worker position: its current channel (replaced on restart) and send lock."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.channel: trio.socket.SocketType | None = None
        self.lock = trio.Lock()
        self.replaced = trio.Event()
        self.pid: int | None = None
        self.started = False

    def install(self, channel: trio.socket.SocketType) -> None:
        self.channel = channel
        self.replaced.set()
        self.replaced = trio.Event()


class WorkerPool:
    """``count`` worker processes, restarted when they exit, until :meth:`stop`."""

    def __init__(self, count: int, command: WorkerCommand, *, wait_for_worker: float) -> None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count!r}")
        self.count = count
        self.restarts = 0
        """Workers started again after one exited (for logs and tests)."""
        self.wait_for_worker = wait_for_worker
        """Seconds a handover may wait for a worker being replaced."""
        self._command = command
        self._slots = [_Slot(i) for i in range(count)]
        self._stopping = False
        self._all_started = trio.Event()
        self._nursery: trio.Nursery | None = None

    @property
    def pids(self) -> list[int | None]:
        """The process id of each worker (``None`` while it is being replaced)."""
        return [slot.pid for slot in self._slots]

    def index_for(self, key: str | None, fallback: int) -> int:
        """The worker owning call ``key``; ``fallback`` (taken modulo N) when there is none."""
        if key is None:
            return fallback % self.count
        return zlib.crc32(key.encode()) % self.count

    async def run(
        self, *, task_status: trio.TaskStatus[WorkerPool] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the workers until :meth:`stop` and their exit (cancelled: they are terminated)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for slot in self._slots:
                nursery.start_soon(self._supervise, slot, name=f"jbtrio worker {slot.index}")
            await self._all_started.wait()
            task_status.started(self)

    def stop(self) -> None:
        """Close every channel: each worker then stops gracefully and exits; no restarts."""
        self._stopping = True
        for slot in self._slots:
            if slot.channel is not None:
                slot.channel.close()
            slot.replaced.set()

    async def hand_over(
        self, index: int, fd: int, handshake: Handshake, received: bytes | bytearray
    ) -> bool:
        """Give socket ``fd`` to worker ``index``; False if no worker took it in time.

        A worker that dies after the kernel queued a handover for it never reads it: that
        connection is dropped, and jambonz reconnects it (to the replacement).
        """
        slot = self._slots[index]
        with trio.move_on_after(self.wait_for_worker):
            while not self._stopping:
                channel = slot.channel
                if channel is not None:
                    try:
                        async with slot.lock:
                            with trio.CancelScope(shield=True):  # never half a handover
                                await send_handover(channel, fd, handshake, received)
                        return True
                    except (OSError, trio.ClosedResourceError) as exc:
                        log.warning(
                            "worker %d did not take a connection (%s); waiting for its replacement",
                            index,
                            exc,
                        )
                while slot.channel is channel and not self._stopping:
                    await slot.replaced.wait()
        return False

    async def _supervise(self, slot: _Slot) -> None:
        while not self._stopping:
            process, channel = await self._start(slot)
            started = trio.current_time()
            try:
                await self._until_hung_up(channel)
            except BaseException:
                with trio.CancelScope(shield=True):
                    await _terminate(slot.index, process)
                raise
            if self._stopping:
                await _wait_exit(slot.index, process)
                return
            log.error(
                "worker %d (pid %d) stopped taking connections; starting a new one",
                slot.index,
                process.pid,
            )
            channel.close()
            slot.pid = None
            self.restarts += 1
            assert self._nursery is not None
            # The old process may still be finishing its calls: wait for it aside.
            self._nursery.start_soon(_wait_exit, slot.index, process, name="jbtrio reap worker")
            if trio.current_time() - started < RESTART_DELAY:
                await trio.sleep(RESTART_DELAY)

    async def _start(self, slot: _Slot) -> tuple[trio.Process, trio.socket.SocketType]:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        channel = trio.socket.from_stdlib_socket(parent_end)
        try:
            process = await trio.lowlevel.open_process(
                list(self._command(slot.index, child_end.fileno())),
                pass_fds=(child_end.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            channel.close()
            raise
        finally:
            child_end.close()
        slot.pid = process.pid
        slot.install(channel)
        log.info("worker %d started (pid %d)", slot.index, process.pid)
        if not slot.started:
            slot.started = True
            if all(other.started for other in self._slots):
                self._all_started.set()
        return process, channel

    @staticmethod
    async def _until_hung_up(channel: trio.socket.SocketType) -> None:
        """Return when the worker closes its end (it exited, or stopped taking sockets)."""
        try:
            while await channel.recv(1):
                pass  # workers never write; ignore anything that comes
        except (OSError, trio.ClosedResourceError):
            return


async def _wait_exit(index: int, process: trio.Process) -> None:
    """Wait for a worker to exit; cancelled, terminate it."""
    try:
        code = await process.wait()
    except BaseException:
        with trio.CancelScope(shield=True):
            await _terminate(index, process)
        raise
    log.info("worker %d (pid %d) exited with %s", index, process.pid, code)


async def _terminate(index: int, process: trio.Process) -> None:
    """Stop a worker at once: two SIGTERMs (a worker's second signal means "now": it closes
    its sockets with 1001, as a single server stopped twice does), SIGKILL after
    :data:`KILL_AFTER` seconds."""
    for delay in (SIGNAL_GAP, KILL_AFTER):
        if process.returncode is not None:
            return
        process.terminate()
        with trio.move_on_after(delay):
            await process.wait()
            return
    log.warning(
        "worker %d (pid %d) ignored SIGTERM for %g s: killing it", index, process.pid, KILL_AFTER
    )
    process.kill()
    await process.wait()


class Acceptor:
    """The parent process: listens, upgrades, routes each socket to its call's worker."""

    def __init__(self, router: Router, config: ServerConfig, pool: WorkerPool) -> None:
        self.router = router
        self.config = config
        self.pool = pool
        self.connections = 0
        """Upgraded connections in the acceptor's hands (waiting for a session message, or
        being handed over); upgrades in progress are counted apart (``max_handshakes``)."""
        self.port: int | None = None
        self._auth = (
            basic_auth_header(config.username, config.password)
            if config.username is not None and config.password is not None
            else None
        )
        self._round_robin = 0
        self._peers = PeerFilter(config.allowed_peers)
        self._gate = HandshakeGate(config.max_handshakes)
        self._log = RateLimitedLogger(log, budget=LogBudget())  # a flood is not a log flood
        self._listen_scope = trio.CancelScope()
        self._handlers_scope = trio.CancelScope()
        self.endpoints = Endpoints(router)
        """The plain requests answered on the serving port (the workers' calls are the
        acceptor's to report: ``/readyz`` is 503 from :meth:`shutdown` on)."""

    async def run(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        task_status: trio.TaskStatus[Acceptor] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Start the workers and listen on ``host:port`` until :meth:`shutdown`."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._run_pool)
            listeners = await trio.open_tcp_listeners(port, host=host)
            self.port = listeners[0].socket.getsockname()[1]
            nursery.start_soon(self._listen, listeners, name="jbtrio acceptor")
            log.info("jbtrio acceptor on %s:%s, %d workers", host, self.port, self.pool.count)
            task_status.started(self)

    async def _run_pool(self, task_status: trio.TaskStatus[WorkerPool]) -> None:
        try:
            await self.pool.run(task_status=task_status)
        finally:
            # The workers are gone (their calls drained): stop listening.
            self._listen_scope.cancel()
            self._handlers_scope.cancel()

    async def _listen(self, listeners: list[trio.SocketListener]) -> None:
        with self._handlers_scope:
            async with trio.open_nursery() as handlers:
                with self._listen_scope:
                    await accept_loop(listeners, self.handle_stream, handlers)

    def shutdown(self) -> None:
        """Stop accepting; the workers let their calls finish (their grace) and exit."""
        log.info("acceptor shutting down: stopping %d workers", self.pool.count)
        # Listening goes on while the workers drain: /readyz answers 503, upgrades 503.
        self.endpoints.draining = True
        self.pool.stop()

    async def handle_stream(self, stream: trio.abc.Stream) -> None:
        """Upgrade one connection and hand it over. Never raises (except cancellation)."""
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
            async with open_upgrade(
                stream,
                handshake_timeout=self.config.handshake_timeout,
                max_message_bytes=self.config.max_message_bytes,
                check=self._check,
                handshake_scope=scope,
                answer=self.endpoints.answer,
            ) as upgraded:
                self._gate.leave(scope)
                if isinstance(upgraded, Upgraded):
                    self.connections += 1
                    try:
                        await self._route(upgraded)
                    finally:
                        self.connections -= 1
                elif isinstance(upgraded, Answered):
                    log.debug("%s %s answered %d", upgraded.method, upgraded.path, upgraded.status)
                elif isinstance(upgraded, HandshakeRejected):
                    _observe.upgrade_refused(upgraded.status)
                    self._log.warning("upgrade refused: %s", upgraded)
                elif upgraded.reason.startswith("connection closed"):
                    self._log.info("no upgrade: %s", upgraded.reason)
                else:
                    self._log.warning("no upgrade: %s", upgraded.reason)
        except* Exception as group:
            log.error("acceptor connection handler failed", exc_info=group)
        finally:
            self._gate.leave(scope)

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

    async def _route(self, upgraded: Upgraded) -> None:
        stream = upgraded.stream
        if not isinstance(stream, RawSocketStream):
            raise TypeError(f"only TCP sockets can be handed over, not {type(stream).__name__}")
        finder = SessionFinder(
            self.config.max_message_bytes,
            self.config.max_message_bytes + EARLY_BYTES,
            max_fragments=self.config.max_fragments,
        )
        try:
            with trio.move_on_after(self.config.first_message_timeout):
                route = await _feed_in_slices(finder, upgraded.received)
                while route is None:
                    try:
                        data = await stream.receive_some(READ_SIZE)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        data = b""
                    if not data:
                        self._log.info(
                            "connection from %s closed before its session message",
                            upgraded.handshake.remote,
                        )
                        return
                    route = await _feed_in_slices(finder, data)
        except OverflowError as exc:
            self._log.warning("closing a connection from %s: %s", upgraded.handshake.remote, exc)
            await _close(upgraded, 1008, "too much before the session message")
            return
        if route is None:
            log.warning(
                "no session message within %g s on %s; closing",
                self.config.first_message_timeout,
                upgraded.handshake.path,
            )
            await _close(upgraded, 1000, "no session")
            return
        self._round_robin += 1
        index = self.pool.index_for(route.key, self._round_robin)
        log.debug("[%s] %s: to worker %d", route.key or "-", route.why, index)
        handed = await self.pool.hand_over(
            index, stream.socket.fileno(), upgraded.handshake, finder.received
        )
        if not handed:
            log.error(
                "[%s] no worker %d to take the connection within %g s; closing with 1013",
                route.key or "-",
                index,
                self.pool.wait_for_worker,
            )
            await _close(upgraded, 1013, "try again later")


async def _feed_in_slices(finder: SessionFinder, data: bytes) -> Route | None:
    """Feed ``data`` to ``finder`` a slice at a time, yielding between slices: one read of
    tiny frames takes tens of milliseconds to parse, and the acceptor serves every call's
    connections."""
    view = memoryview(data)
    route = finder.feed(view[:FEED_SLICE])
    for start in range(FEED_SLICE, len(view), FEED_SLICE):
        if route is not None:
            break
        await trio.lowlevel.checkpoint()
        route = finder.feed(view[start : start + FEED_SLICE])
    return route


async def _close(upgraded: Upgraded, code: int, reason: str) -> None:
    """Send a close frame from the acceptor (the socket stays here) and let go of it."""
    protocol = upgraded.protocol
    protocol.send_close(code, reason)
    data = b"".join(protocol.data_to_send())
    # A close frame and the 101 fit any socket buffer: this send cannot stall, and if it is
    # cancelled the connection is dropped anyway.
    with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await upgraded.stream.send_all(data)


async def adopt_handovers(
    server: Server,
    channel: trio.socket.SocketType,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A worker's side: adopt every socket the acceptor sends on ``channel`` into ``server``
    (which must be running), until the acceptor closes the channel."""
    task_status.started()
    while True:
        try:
            handover = await receive_handover(channel)
        except HandoverError as exc:
            log.error("bad handover from the acceptor: %s", exc)
            continue
        except (OSError, trio.ClosedResourceError):
            return
        if handover is None:
            return
        server.adopt_soon(RawSocketStream(handover.sock), handover.handshake, handover.received)
