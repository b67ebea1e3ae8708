"""Several processes serving one port, each call always in the same one (``--workers N``).

One Python process runs the app on one core. To use more, :class:`Acceptor` (the parent
process) listens and runs the upgrade (the :class:`~._listener.Listener` it shares with
:class:`~._server.Server`: subprotocol, auth, path, connection bound); its call registry,
:class:`WorkerRouting`, owns no call: the listener reads up to the connection's first
session message (a call's, or an audio socket's metadata with its ``callSid``) and the
registry hands the socket, with every byte read, to worker ``crc32(call_sid) % N``. So every
socket of a call (``session:reconnect`` after a drop, the socket a redirect verb opens, its
audio streams) reaches the worker holding the call: no call state is shared between
processes, and none is lost. :class:`WorkerPool` starts the workers, each running a
:class:`~._server.Server` that adopts the sockets (:func:`adopt_handovers`), and starts a
new one when one exits; jambonz's reconnects then resume that worker's calls on the new one
(the server's "unknown call" path).
"""

from __future__ import annotations

import logging
import socket
import subprocess
import zlib
from collections.abc import Callable, Sequence

import trio

from ._config import ServerConfig
from ._handover import HandoverError, receive_handover, send_handover
from ._listener import Listener, Router
from ._rawstream import RawSocketStream
from ._registry import LocalCalls, Owner, Process, Route
from ._server import Server
from ._transport_api import Handshake, Upgrade

__all__ = ["Acceptor", "WorkerPool", "WorkerRouting", "adopt_handovers"]

log = logging.getLogger("jbtrio.workers")

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
        self.ready = False  # the current process said it takes sockets

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
        self.on_exit: Callable[[int], None] | None = None
        """Told the pid of each worker that exited (metrics forget its live values)."""
        self.restarts = 0
        """Workers started again after one exited (for logs and tests)."""
        self.wait_for_worker = wait_for_worker
        """Seconds a handover may wait for a worker being replaced."""
        self._command = command
        self._slots = [_Slot(i) for i in range(count)]
        self._stopping = False
        self._all_ready = trio.Event()
        self._nursery: trio.Nursery | None = None

    @property
    def pids(self) -> list[int | None]:
        """The process id of each worker (``None`` while it is being replaced)."""
        return [slot.pid for slot in self._slots]

    async def run(
        self, *, task_status: trio.TaskStatus[WorkerPool] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the workers until :meth:`stop` and their exit (cancelled: they are terminated);
        started once every worker's server runs (it says so on its channel), so that the
        acceptor's first connections do not wait for the workers to import the app."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for slot in self._slots:
                nursery.start_soon(self._supervise, slot, name=f"jbtrio worker {slot.index}")
            await self._all_ready.wait()
            task_status.started(self)

    def stop(self) -> None:
        """Close every channel: each worker then stops gracefully and exits; no restarts."""
        self._stopping = True
        for slot in self._slots:
            if slot.channel is not None:
                slot.channel.close()
            slot.replaced.set()

    async def hand_over(
        self,
        index: int,
        fd: int,
        handshake: Handshake,
        subprotocol: str,
        received: bytes | bytearray,
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
                                await send_handover(channel, fd, handshake, subprotocol, received)
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
                await self._until_hung_up(slot, channel)
            except BaseException:
                with trio.CancelScope(shield=True):
                    await _terminate(slot.index, process)
                raise
            if self._stopping:
                await _wait_exit(slot.index, process, self.on_exit)
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
            self._nursery.start_soon(
                _wait_exit, slot.index, process, self.on_exit, name="jbtrio reap worker"
            )
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
        return process, channel

    async def _until_hung_up(self, slot: _Slot, channel: trio.socket.SocketType) -> None:
        """Return when the worker closes its end (it exited, or stopped taking sockets). A
        worker writes once, when its server runs: :meth:`run` starts once all have."""
        slot.ready = False
        try:
            while await channel.recv(16):
                if not slot.ready:
                    slot.ready = True
                    log.info("worker %d ready", slot.index)
                    if all(other.ready for other in self._slots):
                        self._all_ready.set()
        except (OSError, trio.ClosedResourceError):
            return


async def _wait_exit(
    index: int, process: trio.Process, on_exit: Callable[[int], None] | None = None
) -> None:
    """Wait for a worker to exit; cancelled, terminate it."""
    try:
        code = await process.wait()
    except BaseException:
        with trio.CancelScope(shield=True):
            await _terminate(index, process)
        raise
    log.info("worker %d (pid %d) exited with %s", index, process.pid, code)
    if on_exit is not None:
        on_exit(process.pid)


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


class WorkerRouting(LocalCalls):
    """The acceptor's :class:`~._registry.CallRegistry`: no call lives in the acceptor;
    worker ``crc32(call_sid) % N`` owns each, and gets the socket over its channel
    (``SCM_RIGHTS``). A socket that names no call goes to the workers in turn."""

    routes = True

    def __init__(self, config: ServerConfig, pool: WorkerPool) -> None:
        super().__init__(config)
        self.pool = pool
        self._round_robin = 0

    async def owner(self, key: str | None) -> Owner:
        if key is None:
            self._round_robin += 1
            return Process(self._round_robin % self.pool.count)
        return Process(zlib.crc32(key.encode()) % self.pool.count)

    async def hand_over(
        self, upgrade: Upgrade, route: Route, owner: Owner, received: bytes | bytearray
    ) -> bool:
        stream = upgrade.stream
        if not isinstance(stream, RawSocketStream):
            raise TypeError(f"only TCP sockets can be handed over, not {type(stream).__name__}")
        assert isinstance(owner, Process)
        log.debug("[%s] %s: to worker %d", route.key or "-", route.why, owner.index)
        return await self.pool.hand_over(
            owner.index, stream.socket.fileno(), upgrade.handshake, upgrade.subprotocol, received
        )


class Acceptor(Listener):
    """The parent process: listens, upgrades, routes each socket to its call's worker.

    ``registry`` routes the sockets (:class:`WorkerRouting` over ``pool`` by default; a
    cluster instance's routes other instances' calls to them). It runs before the workers
    start, so that what it sets up (a cluster's relay address) is there for their command.
    """

    def __init__(
        self,
        router: Router,
        config: ServerConfig,
        pool: WorkerPool,
        *,
        registry: WorkerRouting | None = None,
    ) -> None:
        super().__init__(router, config, registry or WorkerRouting(config, pool))
        self.pool = pool
        self._handlers_scope = trio.CancelScope()
        self._registry_scope = trio.CancelScope()

    async def run(
        self,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        task_status: trio.TaskStatus[Acceptor] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Start the workers and listen on ``host:port`` until :meth:`shutdown`."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self._run_registry, name="jbtrio call registry")
            await nursery.start(self._run_pool)
            listeners = await self.listen(host, port)
            nursery.start_soon(self._accept, listeners, name="jbtrio acceptor")
            log.info(
                "jbtrio acceptor on %s:%s, %d workers (%s)",
                host,
                self.port,
                self.pool.count,
                self.transport.name,
            )
            task_status.started(self)

    async def _run_pool(self, task_status: trio.TaskStatus[WorkerPool]) -> None:
        try:
            await self.pool.run(task_status=task_status)
        finally:
            # The workers are gone (their calls drained): stop listening, and routing.
            self.stop_listening()
            self._handlers_scope.cancel()
            self._registry_scope.cancel()

    async def _run_registry(self, *, task_status: trio.TaskStatus[None]) -> None:
        with self._registry_scope:  # no routing once shut down
            await self.registry.run(task_status=task_status)

    async def _accept(self, listeners: list[trio.SocketListener]) -> None:
        with self._handlers_scope:
            async with trio.open_nursery() as handlers:
                await self.accept(listeners, handlers)

    def shutdown(self) -> None:
        """Stop accepting; the workers let their calls finish (their grace) and exit."""
        log.info("acceptor shutting down: stopping %d workers", self.pool.count)
        # Listening goes on while the workers drain: /readyz answers 503, upgrades 503;
        # it stops when they are gone (_run_pool).
        self.endpoints.draining = True
        self.pool.stop()


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
        server.adopt_soon(
            RawSocketStream(handover.sock),
            handover.handshake,
            handover.subprotocol,
            handover.received,
        )
