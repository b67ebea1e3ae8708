"""One call, across any number of sockets: its nursery, its tasks, its protocol core.

A :class:`CallSession` is created by the first socket of a call and registered by call_sid;
it outlives that socket. Its nursery runs the named tasks of the design:

- **writer** — run by the task that hosts the nursery (``call SID``), not a task of its
  own: sends the call's frames, taking them from the core in order, never with a
  timeout around the send (a stalled send is aborted by the timer). While it is idle, a
  task that queues a frame writes it itself if the kernel takes it at once
  (:meth:`CallSession.send_queued`): the writer's own step, minus a task switch; anything
  that would wait is left to the writer, so writes never overlap;
- **timer** — every deadline of the call: the ack tracker (it lets the core ack for a slow
  app), the send-stall watchdog, the socket's keepalive pings and the reconnect supervisor
  (after a drop, the call waits, bounded, for ``session:reconnect`` on a new socket). The
  idle writer serves them (its wait ends at the next one); a task of their own runs only
  while the writer is in a socket operation that may wait (a send the kernel did not take
  at once), and after a send for a second at most. Deadlines are set on a cancel scope, so
  arming one costs no task switch;
- **TTS stream pump** — owns ``tts:*`` commands, fed through a bounded channel; started the
  first time the app streams text;
- **app** — the application's handler for the call.

The writer and the app's outbound calls are in :mod:`._session_writer`, the timer in
:mod:`._session_timer`, what the session does with the core's events in
:mod:`._session_events`: functions of the session, bound as its methods.

The **reader** runs per socket in the server's connection handler: it decodes, feeds the
core and hands messages to the app's consumer (:meth:`CallSession.feed`) without waiting on
the app, so pings and close frames are always answered however slow the app is. When the
call ends, the session cancels the reader, and the connection closes with 1000.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from .._core import (
    CallCore,
    Ended,
    Frame,
    ReplyHandle,
    Unconfirmed,
)
from .._errors import ReplyError, innermost
from .._wire import (
    Command,
    InboundMessage,
    UnknownMessage,
)
from . import _observe, _session_events, _session_feed, _session_timer, _session_writer
from ._config import ServerConfig
from ._logging import call_logger
from ._methods import as_method
from ._observe import CallStats
from ._ratelimit import LogBudget
from ._session_parts import Consumer, Incoming
from ._transport_api import WebSocket
from ._tts_driver import TtsPumpDriver, TtsRequest
from ._wakeups import Broadcast, Wakeup

__all__ = ["AppHandler", "Broadcast", "CallSession", "Consumer", "Incoming", "Wakeup"]

AppHandler = Callable[["CallSession"], Awaitable[None]]

#: A task to start in the call's nursery: its function, arguments and name.
_Spawn = tuple[Callable[..., Awaitable[object]], tuple[object, ...], str]


class CallSession:
    """The runtime state of one call. Created and driven by the server."""

    # Slots: a call server holds thousands of idle sessions, and an instance dict of this
    # many attributes costs ~1.5 KiB each (issue 23).
    __slots__ = (
        "__weakref__",  # the metrics and OpenTelemetry observers key live calls weakly
        "_armed",
        "_backlog",
        "_busy",
        "_consumer",
        "_early",
        "_ended",
        "_ended_event",
        "_first_handle",
        "_force_close",
        "_frames_ready",
        "_handler",
        "_now",
        "_nursery",
        "_on_close",
        "_on_end",
        "_on_release",
        "_partial",
        "_queue_drained",
        "_reader_scope",
        "_reconnect_by",
        "_sending_since",
        "_socket",
        "_socket_changed",
        "_timer_scope",
        "_timer_up",
        "_tts",
        "_tts_send",
        "_tts_started",
        "app_scope",
        "call_sid",
        "config",
        "core",
        "end_reason",
        "first_message",
        "key",
        "locals",
        "log",
        "on_unconfirmed",
        "path",
        "resumed",
        "stats",
    )

    def __init__(
        self,
        *,
        key: str | None = None,
        call_sid: str,
        path: str,
        first_message: InboundMessage | UnknownMessage,
        resumed: bool,
        handler: AppHandler,
        config: ServerConfig,
        on_end: Callable[[CallSession], None],
    ) -> None:
        self.call_sid = call_sid
        self.key = key or call_sid  # the key in the server's registry (usually the call_sid)
        self.path = path
        self.first_message = first_message
        self.resumed = resumed
        self.config = config
        self.log = call_logger("jbtrio.call", call_sid, budget=LogBudget())
        self.core = CallCore(config.core)
        self.locals: dict[str, Any] = {}
        self.end_reason: str | None = None
        self.stats = CallStats()  # what the call did (frames, reconnects, acks for the app, errors)
        self._handler = handler
        self._on_end = on_end
        self._socket: WebSocket | None = None
        self._frames_ready = Wakeup()
        # one level-triggered wake-up for the writer when its socket changes; any number of
        # senders may wait for queue space
        self._socket_changed = Wakeup()
        self._queue_drained = Broadcast()
        self._ended = False
        # Made by the first wait_ended() (most calls have none): a trio.Event is ~270 B
        # per call (issue 23).
        self._ended_event: trio.Event | None = None
        self._sending_since: float | None = None
        # A frame written in part from another task (send_nowait): the writer finishes it.
        self._partial: tuple[Frame, WebSocket] | None = None
        self._reconnect_by = math.inf
        # The scope of whoever waits for the call's deadlines now (the idle writer, the
        # timer task), None while nobody does: then arming a deadline only records it in
        # _armed, for the next wait (setting a Trio deadline costs ~7 µs, issue 23).
        self._timer_scope: trio.CancelScope | None = None
        # The timer scope's deadline, mirrored: re-setting a Trio deadline costs more than a
        # message's routing, and most arm requests (a hook's reply_by, a send's stall limit)
        # are later than what is already armed, so they change nothing.
        self._armed = math.inf
        # trio.current_time() until run() binds the run's clock: the same time, without
        # the three calls of Trio's wrapper on every message (issue 23).
        self._now: Callable[[], float] = trio.current_time
        # The writer is in a socket operation that may wait; the timer task is up (it
        # serves the deadlines meanwhile, see _session_timer).
        self._busy = False
        self._timer_up = False
        self._reader_scope: trio.CancelScope | None = None
        self._consumer: Consumer | None = None
        self._on_close: Callable[[], None] | None = None
        self._on_release: Callable[[], None] | None = None
        # what came before the app's consumer (a list: an empty deque is 600 B more per call)
        self._backlog: list[Incoming] = []
        # The TTS pump (driver, channel, task) exists only once the call streams text or
        # jambonz reports on a TTS stream: most calls never do, and it costs memory.
        self._tts: TtsPumpDriver | None = None
        self._tts_send: trio.MemorySendChannel[TtsRequest] | None = None
        self._tts_started = False
        self._nursery: trio.Nursery | None = None
        # Tasks asked for before run() opened the nursery (the app's, an abort's): run()
        # starts them (see _spawn).
        self._early: list[_Spawn] | None = None
        self._first_handle: ReplyHandle | None = None
        # Set by a ForceReconnect: the writer closes the socket with 1011 once idle.
        self._force_close: str | None = None
        # Told of verbs whose fate after a drop stayed unknown (the app's flows wait on
        # them); set by the app layer.
        self.on_unconfirmed: Callable[[Unconfirmed], None] | None = None
        # The scope all of the app's work runs in (its nursery's), while it runs: set by the
        # app layer, only when its handler is the call's own (nothing of a wrapper around it
        # outside that scope); see end().
        self.app_scope: trio.CancelScope | None = None

    # The parts kept in modules of their own, as methods (functions of the session: no call
    # in between on the per-message path).
    feed = as_method(_session_feed.feed)
    feed_message = as_method(_session_feed.feed_message)
    _handle_core_events = as_method(_session_events.handle_core_events)
    _received = as_method(_session_events.received)
    _deliver = as_method(_session_events.deliver)
    _consume = as_method(_session_events.consume)
    reply = as_method(_session_writer.reply)
    send_queued = as_method(_session_writer.send_queued)
    extend_reply = as_method(_session_writer.extend_reply)
    send = as_method(_session_writer.send)
    _start_send = as_method(_session_writer.start_send)
    _sent = as_method(_session_writer.sent)
    _writer = as_method(_session_writer.writer)
    _finish_partial = as_method(_session_writer.finish_partial)
    _arm = as_method(_session_timer.arm)
    _cover = as_method(_session_timer.cover)
    _uncover = as_method(_session_timer.uncover)
    _serve_deadlines = as_method(_session_timer.serve_deadlines)
    _timer = as_method(_session_timer.timer)

    # ------------------------------------------------------------------ lifecycle

    @property
    def ended(self) -> bool:
        """Whether the call is over."""
        return self._ended

    @property
    def socket(self) -> WebSocket | None:
        """The socket currently bound to the call, if any."""
        return self._socket

    @property
    def waiting_since(self) -> float | None:
        """When the call lost its socket, while it waits for ``session:reconnect`` (else
        ``None``)."""
        if self._socket is not None or self._reconnect_by == math.inf or self.ended:
            return None
        return self._reconnect_by - self.config.reconnect_timeout

    @property
    def handler(self) -> AppHandler:
        """The app's handler the call runs."""
        return self._handler

    @property
    def first_reply(self) -> ReplyHandle | None:
        """The reply handle of the message that started the session."""
        return self._first_handle

    async def wait_ended(self) -> None:
        """Wait until the call is over."""
        if self._ended:
            await trio.lowlevel.checkpoint()
            return
        event = self._ended_event
        if event is None:
            event = self._ended_event = trio.Event()
        await event.wait()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the call's nursery until the call ends. Never raises (the server's fortress).

        The server starts it with ``start_soon`` once the first socket is attached, the
        first message fed and the app asked for (:meth:`start_app`): what needs the
        nursery before it is open waits here for it (:meth:`_spawn`). ``Nursery.start``
        works too (then attach and start the app after it)."""
        try:
            # end() cancels the nursery's own scope (no scope of the session's: each live
            # one costs a call ~600 B, issue 23).
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._now = trio.lowlevel.current_clock().current_time
                if self._ended:
                    nursery.cancel_scope.cancel()
                early, self._early = self._early, None
                if early is not None:
                    for function, args, name in early:
                        nursery.start_soon(function, *args, name=name)
                task_status.started()
                # The status holds the nursery start() made for us (~1 KiB): not for the
                # call's whole life (issue 23).
                del task_status
                # The writer runs in this task, the nursery's own, and serves the call's
                # deadlines while idle: two tasks fewer per call (~2.5-3 KiB each, issue
                # 23); a failure in it fails the nursery as a child's would.
                await self._writer()
        except* Exception as group:
            self.stats.errors += 1
            self.log.error("call runtime failed", exc_info=group)
        finally:
            self._finish("runtime stopped")
            self._release()

    def _release(self) -> None:
        """Break the call's reference cycles once its tasks are done (the app's call object
        and this session point at each other, and so do tasks, scopes and tracebacks), so
        that an ended call is freed at once rather than by a full collection, which a server
        tuned for speed (``jbtrio serve`` raises the GC threshold) runs rarely."""
        if self._on_release is not None:
            self._on_release()
        self._consumer = None
        self._on_close = None
        self._on_release = None
        self.on_unconfirmed = None
        self.app_scope = None
        self._socket = None
        self._nursery = None
        self._reader_scope = None
        self._timer_scope = None
        self._tts = None
        self._tts_send = None
        self._partial = None
        self._backlog.clear()

    @property
    def tts_driver(self) -> TtsPumpDriver:
        """The call's TTS pump driver (made on first use)."""
        driver = self._tts
        if driver is None:
            self._tts_send, receive = trio.open_memory_channel[TtsRequest](
                self.config.tts_queue_size
            )
            driver = self._tts = TtsPumpDriver(self.send, receive, self.log)
            self.stats.tts_started_at = trio.current_time()
            if self.ended:
                self._tts_send.close()
        return driver

    def start_tts(self) -> trio.MemorySendChannel[TtsRequest]:
        """Start the TTS pump task (once; not after the call ended) and return its inbound
        channel."""
        self.tts_driver  # noqa: B018 - made on first use
        assert self._tts_send is not None
        if not self._tts_started and not self.ended:
            self._tts_started = True
            self._spawn(self._tts_pump, name=f"call {self.call_sid} tts-pump")
        return self._tts_send

    def consume(
        self,
        consumer: Consumer,
        on_close: Callable[[], None],
        on_release: Callable[[], None] | None = None,
    ) -> None:
        """Hand every message for the app to ``consumer`` from now on (the ones that came
        before it first); ``on_close`` is called when the call ends, ``on_release`` once
        its tasks are done (to break the consumer's reference cycles)."""
        self._consumer = consumer
        self._on_close = on_close
        self._on_release = on_release
        backlog, self._backlog = self._backlog, []
        for incoming in backlog:
            self._consume(consumer, incoming)
        if self.ended:
            on_close()

    def reading(self, scope: trio.CancelScope) -> None:
        """The reader of the call's current socket runs in ``scope``: cancelled when the
        call ends (at once if it has), so the connection closes then (with 1000)."""
        if self.ended:
            scope.cancel()
        self._reader_scope = scope

    def start_app(self) -> None:
        """Start the app's handler, once the first message has been fed to the core (before
        :meth:`run` is fine: it starts the app when it opens the call's nursery)."""
        # self._now: trio.current_time itself before run(), the clock's method after (the
        # same time without the wrapper's calls, issue 23)
        self.stats.started_at = self._now()
        _observe.call_started(self)
        self._spawn(self._run_app, name=f"call {self.call_sid} app")

    def _spawn(self, function: Callable[..., Awaitable[object]], *args: object, name: str) -> None:
        """Start a task in the call's nursery, or when :meth:`run` opens it (the server
        starts the session without ``Nursery.start``: no nursery and no task switch of its
        own per call, issue 23)."""
        nursery = self._nursery
        if nursery is not None:
            if self._ended:  # end() may have left the nursery uncancelled: not for a new task
                nursery.cancel_scope.cancel()
            nursery.start_soon(function, *args, name=name)
        elif self._early is None:
            self._early = [(function, args, name)]
        else:
            self._early.append((function, args, name))

    def end(self, reason: str) -> None:
        """End the call now: cancel its tasks (``finally`` blocks run) and free its state."""
        if self._ended:
            return
        self._finish(reason)
        self._frames_ready.set()  # the idle writer returns (see _session_writer.writer)
        nursery = self._nursery
        if nursery is None:
            return
        app = self.app_scope
        if (
            app is not None
            and self._timer_scope is not None
            and self._socket is None
            and self._partial is None
            and len(nursery.child_tasks) == 1
        ):
            # The app is the call's only task, and the writer waits idle (its own scope, no
            # timer task) with no socket to touch: woken, it returns. The app's own scope
            # stops the app, and the call's nursery closes when it is done: cancelling that
            # nursery costs Trio a walk of every scope of the call and a Cancelled made for
            # its waiting task (issue 23).
            app.cancel()
        else:
            nursery.cancel_scope.cancel()

    def abort(self, reason: str) -> None:
        """End the call at once because it cannot go on (its peer does not read what it
        must, or the core failed): one log line, the socket torn down (no close handshake
        with a peer that does not read), the call's state freed."""
        if self._ended:
            return
        self.stats.errors += 1
        self.log.error("ending the call: %s", reason)
        socket = self._socket
        if socket is not None:
            self._spawn(socket.abort, reason, name=f"call {self.call_sid} abort")
        self.end(reason)

    def _finish(self, reason: str) -> None:
        if self._ended:
            return
        self.end_reason = reason
        for event in self.core.end(self._now()):
            if isinstance(event, Ended) and event.unsent:
                self.log.warning("%d frame(s) could not be sent before the end", len(event.unsent))
        if self._tts is not None:
            self.stats.tts_requests = self._tts.requests_taken
            self.stats.tts_messages = self._tts.messages_sent
        if self._tts_send is not None:
            self._tts_send.close()
        if self._reader_scope is not None:
            self._reader_scope.cancel()
        if self._on_close is not None:
            self._on_close()
        self._ended = True
        if self._ended_event is not None:
            self._ended_event.set()
        self._on_end(self)
        _observe.call_ended(self)
        self.log.flush()  # the count of rate-limited lines not logged yet

    # ------------------------------------------------------------------ sockets

    def attach(self, socket: WebSocket) -> None:
        """Bind ``socket`` to the call (the first socket, or a reconnect's)."""
        old = self._socket
        if old is not None and old is not socket:
            # jambonz came back before we noticed the old socket die: that one is dead.
            now = trio.current_time()
            self._handle_core_events(self.core.detach(now))
            if self._tts is not None:
                self._tts.detach(now)
        self._socket = socket
        self.core.attach()
        if self._tts is not None:
            self._tts.attach(trio.current_time())
        self._reconnect_by = math.inf
        self._arm(socket.keepalive_at)
        self._socket_changed.set()
        self._frames_ready.set()

    def detach(self, socket: WebSocket, code: int) -> None:
        """``socket`` closed with ``code`` (its reader tells, done reading); if it was the
        call's socket, the call waits."""
        if socket is not self._socket:
            return
        self._socket = None
        # Its reader is done: no scope of it to cancel when the call ends (issue 23).
        self._reader_scope = None
        if code == 1009:
            self.stats.oversized += 1
        if code == 1000 and not socket.closed_by_us:
            # jambonz closes with 1000 when the call is over (docs/jambonz.md, Connection).
            self.end("jambonz closed the socket (1000)")
            return
        now = trio.current_time()
        reason = f": {socket.close_reason}" if socket.close_reason else ""
        self._force_close = None
        self.log.warning("socket dropped (%s%s); waiting for session:reconnect", code, reason)
        self._handle_core_events(self.core.detach(now))
        if self._tts is not None:
            self._tts.detach(now)
        self._socket_changed.set()
        self._reconnect_by = now + self.config.reconnect_timeout
        self._arm(self._reconnect_by)

    # ------------------------------------------------------------------ tasks

    async def _tts_pump(self) -> None:
        # Flow control of tts:tokens lives in the sans-IO TtsPump; the driver feeds it the
        # app's requests from the bounded channel and sends its commands through self.send.
        await self.tts_driver.run()

    async def _run_app(self) -> None:
        """The app's handler; a crash hangs up this call only."""
        try:
            await self._handler(self)
        except* Exception as group:
            late, other = group.split(ReplyError)
            if late is not None and other is None and self.ended:
                # The app lost a race it cannot see: jambonz ended the call (it closed the
                # socket) between the message and the app's reply, which then raises
                # before the app's task is cancelled. Not a crash, and nothing to hang up.
                self.log.info(
                    "app handler stopped: the call ended before its reply (%s)",
                    innermost(late),
                )
            else:
                self.stats.errors += 1
                self.log.error("app handler crashed; hanging up the call", exc_info=group)
                await self._hang_up_after_crash()

    async def _hang_up_after_crash(self) -> None:
        now = trio.current_time()
        for handle in self.core.open_replies:
            # The first message must get verbs (jambonz rejects an empty session:new ack).
            verbs = [{"verb": "hangup"}] if handle is self._first_handle else None
            try:
                self.core.reply(handle, verbs, now)
            except Exception as exc:  # the deadline policy still acks it
                self.log.warning("could not answer %s after the crash: %s", handle, exc)
        try:
            self.core.command(
                Command(command="call:status", data={"call_status": "completed"}),
                trio.current_time(),
            )
        except Exception as exc:
            self.log.error("could not queue the hangup: %s", exc)
        self._frames_ready.set()
        with trio.move_on_after(self.config.crash_hangup_timeout):
            await self.wait_ended()
        self.end("app crashed")
