"""One call, across any number of sockets: its nursery, its tasks, its protocol core.

A :class:`CallSession` is created by the first socket of a call and registered by call_sid;
it outlives that socket. Its nursery runs the named tasks of the design:

- **writer** — sends the call's frames, taking them from the core in order, never with a
  timeout around the send (a stalled send is aborted by the timer). While it is idle, a
  task that queues a frame writes it itself if the kernel takes it at once
  (:meth:`CallSession.send_queued`): the writer's own step, minus a task switch; anything
  that would wait is left to the writer, so writes never overlap;
- **timer** — one task for every deadline of the call: the ack tracker (it lets the core ack
  for a slow app), the send-stall watchdog, the socket's keepalive pings and the reconnect
  supervisor (after a drop, the call waits, bounded, for ``session:reconnect`` on a new
  socket). Deadlines are set on its cancel scope, so arming one costs no task switch;
- **TTS stream pump** — owns ``tts:*`` commands, fed through a bounded channel; started the
  first time the app streams text;
- **app** — the application's handler for the call.

The **reader** runs per socket in the server's connection handler: it decodes, feeds the
core and hands messages to the app's consumer (:meth:`CallSession.feed`) without waiting on
the app, so pings and close frames are always answered however slow the app is. When the
call ends, the session cancels the reader, and the connection closes with 1000.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import suppress
from typing import Any

import trio

from .._core import (
    Abandoned,
    AutoAcked,
    CallCore,
    Confirmed,
    CoreEvent,
    Duplicate,
    Ended,
    ForceReconnect,
    Frame,
    FrameRewritten,
    Received,
    Refused,
    ReplyHandle,
    Resent,
    Resumed,
    Unconfirmed,
)
from .._errors import CallEndedError, ProtocolError
from .._wire import (
    Command,
    InboundMessage,
    TtsStreamingEvent,
    TtsTokensResult,
    UnknownMessage,
    decode,
)
from ._config import ServerConfig
from ._logging import call_logger
from ._ratelimit import LogBudget
from ._transport_api import SocketClosed, WebSocket, Written
from ._tts_driver import TtsPumpDriver, TtsRequest
from ._wakeups import Broadcast, Wakeup

__all__ = ["AppHandler", "Broadcast", "CallSession", "Consumer", "Incoming", "Wakeup"]

AppHandler = Callable[["CallSession"], Awaitable[None]]


Incoming = Received
"""A message for the app with its reply handle (``None`` when jambonz waits for no ack)."""

Consumer = Callable[[Incoming], None]
"""Takes each message for the app, in the reader's task: it must not block."""


class CallSession:
    """The runtime state of one call. Created and driven by the server."""

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
        self.key = key or call_sid
        """The session's key in the server's registry (usually the call_sid)."""
        self.path = path
        self.first_message = first_message
        self.resumed = resumed
        self.config = config
        self.log = call_logger("jbtrio.call", call_sid, budget=LogBudget())
        self.core = CallCore(config.core)
        self.locals: dict[str, Any] = {}
        self.end_reason: str | None = None
        self._handler = handler
        self._on_end = on_end
        self._socket: WebSocket | None = None
        self._frames_ready = Wakeup()
        # one level-triggered wake-up for the writer when its socket changes; any number of
        # senders may wait for queue space
        self._socket_changed = Wakeup()
        self._queue_drained = Broadcast()
        self._ended = trio.Event()
        self._sending_since: float | None = None
        # A frame written in part from another task (send_nowait): the writer finishes it.
        self._partial: tuple[Frame, WebSocket] | None = None
        self._reconnect_by = math.inf
        self._timer_scope = trio.CancelScope()
        # The timer scope's deadline, mirrored: re-setting a Trio deadline costs more than a
        # message's routing, and most arm requests (a hook's reply_by, a send's stall limit)
        # are later than what is already armed, so they change nothing.
        self._armed = math.inf
        self._reader_scope: trio.CancelScope | None = None
        self._consumer: Consumer | None = None
        self._on_close: Callable[[], None] | None = None
        self._on_release: Callable[[], None] | None = None
        self._backlog: deque[Incoming] = deque()
        # The TTS pump (driver, channel, task) exists only once the call streams text or
        # jambonz reports on a TTS stream: most calls never do, and it costs memory.
        self._tts: TtsPumpDriver | None = None
        self._tts_send: trio.MemorySendChannel[TtsRequest] | None = None
        self._tts_started = False
        self._cancel = trio.CancelScope()
        self._nursery: trio.Nursery | None = None
        self._first_handle: ReplyHandle | None = None
        # Set by a ForceReconnect: the writer closes the socket with 1011 once idle.
        self._force_close: str | None = None
        self.on_unconfirmed: Callable[[Unconfirmed], None] | None = None
        """Told of verbs whose fate after a drop stayed unknown (the app's flows wait on
        them); set by the app layer."""

    # ------------------------------------------------------------------ lifecycle

    @property
    def ended(self) -> bool:
        """Whether the call is over."""
        return self._ended.is_set()

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
    def first_reply(self) -> ReplyHandle | None:
        """The reply handle of the message that started the session."""
        return self._first_handle

    async def wait_ended(self) -> None:
        """Wait until the call is over."""
        await self._ended.wait()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the call's nursery until the call ends. Never raises (the server's fortress)."""
        prefix = f"call {self.call_sid}"
        try:
            with self._cancel:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer, name=f"{prefix} writer")
                    nursery.start_soon(self._timer, name=f"{prefix} timer")
                    self._nursery = nursery
                    task_status.started()
        except* Exception as group:
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
        self._socket = None
        self._nursery = None
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
            if self.ended:
                self._tts_send.close()
        return driver

    @property
    def tts_send(self) -> trio.MemorySendChannel[TtsRequest]:
        """The TTS pump's inbound channel (the pump task starts on first use)."""
        self.tts_driver  # noqa: B018 - made on first use
        assert self._tts_send is not None
        if not self._tts_started and self._nursery is not None and not self.ended:
            self._tts_started = True
            self._nursery.start_soon(self._tts_pump, name=f"call {self.call_sid} tts-pump")
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
        backlog, self._backlog = self._backlog, deque()
        for incoming in backlog:
            self._consume(consumer, incoming)
        if self.ended:
            on_close()

    def reader_scope(self) -> trio.CancelScope:
        """A cancel scope for the reader of the call's current socket: cancelled when the
        call ends, so the connection closes then (with 1000)."""
        scope = trio.CancelScope()
        if self.ended:
            scope.cancel()
        self._reader_scope = scope
        return scope

    def start_app(self) -> None:
        """Start the app's handler, once the first message has been fed to the core."""
        assert self._nursery is not None, "start_app() before run() started"
        self._nursery.start_soon(self._run_app, name=f"call {self.call_sid} app")

    def end(self, reason: str) -> None:
        """End the call now: cancel its tasks (``finally`` blocks run) and free its state."""
        if self._ended.is_set():
            return
        self.log.info("call ended: %s", reason)
        self._finish(reason)
        self._cancel.cancel()

    def abort(self, reason: str) -> None:
        """End the call at once because it cannot go on (its peer does not read what it
        must, or the core failed): one log line, the socket torn down (no close handshake
        with a peer that does not read), the call's state freed."""
        if self._ended.is_set():
            return
        self.log.error("ending the call: %s", reason)
        socket = self._socket
        if socket is not None and self._nursery is not None:
            self._nursery.start_soon(socket.abort, reason, name=f"call {self.call_sid} abort")
        self.end(reason)

    def _finish(self, reason: str) -> None:
        if self._ended.is_set():
            return
        self.end_reason = reason
        for event in self.core.end(trio.current_time()):
            if isinstance(event, Ended) and event.unsent:
                self.log.warning("%d frame(s) could not be sent before the end", len(event.unsent))
        if self._tts_send is not None:
            self._tts_send.close()
        if self._reader_scope is not None:
            self._reader_scope.cancel()
        if self._on_close is not None:
            self._on_close()
        self._ended.set()
        self._on_end(self)
        self.log.flush()  # the count of rate-limited lines not logged yet

    # ------------------------------------------------------------------ sockets

    def attach(self, socket: WebSocket) -> None:
        """Bind ``socket`` to the call (the first socket, or a reconnect's)."""
        old = self._socket
        if old is not None and old is not socket:
            # jambonz came back before we noticed the old socket die: that one is dead.
            now = trio.current_time()
            self._log_events(self.core.detach(now))
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
        """``socket`` closed with ``code``; if it was the call's socket, the call waits."""
        if socket is not self._socket:
            return
        self._socket = None
        if code == 1000 and not socket.closed_by_us:
            # jambonz closes with 1000 when the call is over (PEER-BEHAVIOUR §5.5).
            self.end("jambonz closed the socket (1000)")
            return
        now = trio.current_time()
        reason = f": {socket.close_reason}" if socket.close_reason else ""
        self._force_close = None
        self.log.warning("socket dropped (%s%s); waiting for session:reconnect", code, reason)
        self._log_events(self.core.detach(now))
        if self._tts is not None:
            self._tts.detach(now)
        self._socket_changed.set()
        self._reconnect_by = now + self.config.reconnect_timeout
        self._arm(self._reconnect_by)

    # ------------------------------------------------------------------ inbound

    def feed(self, text: str | bytes) -> None:
        """Decode one inbound frame and hand it to the core and the app; never blocks."""
        if not isinstance(text, str):
            self.log.warning("binary frame skipped: jambonz sends text frames only")
            return
        try:
            message = decode(text)
        except ProtocolError as exc:
            self.log.warning("malformed frame skipped: %s", exc)
            return
        if not isinstance(message, InboundMessage | UnknownMessage):
            self.log.warning("unexpected %s frame from jambonz skipped", message.TYPE)
            return
        self.feed_message(message)

    def feed_message(self, message: InboundMessage | UnknownMessage) -> None:
        """Hand an already-decoded message to the core and the app."""
        core = self.core
        try:
            events = core.receive(message, trio.current_time())
        except Exception as exc:  # a bug: never out of the reader, never for other calls
            self.log.error("protocol core failed on %s: %r", message, exc, exc_info=exc)
            self.abort(f"protocol core failed: {exc!r}")
            return
        if core.abort_reason is not None:
            self.abort(core.abort_reason)
            return
        if len(events) == 1 and isinstance(events[0], Received):
            reply = events[0].reply
            if reply is not None:
                self._arm(reply.reply_by)
        else:
            self._arm(core.next_deadline())
        self._log_events(events)
        if core.next_frame() is not None:
            self._frames_ready.set()

    def _log_events(self, events: Iterable[CoreEvent]) -> None:
        for event in events:
            if isinstance(event, Received):
                if self._first_handle is None and event.reply is not None:
                    self._first_handle = event.reply
                if isinstance(event.message, TtsTokensResult | TtsStreamingEvent):
                    # The pump needs these first; the app still sees them.
                    self.tts_driver.feed(event.message, trio.current_time())
                self._deliver(event)
            elif isinstance(event, AutoAcked):
                self.log.warning(
                    "%s %s not answered in %.1f s: acked automatically%s",
                    event.handle.type,
                    event.handle.msgid,
                    self.core.config.reply_window,
                    " with the fallback verbs" if event.handle.verbs else "",
                )
            elif isinstance(event, Abandoned):
                self.log.warning(
                    "%s %s abandoned by jambonz when the socket dropped",
                    event.handle.type,
                    event.handle.msgid,
                )
            elif isinstance(event, FrameRewritten):
                self.log.warning("queued frame rewritten: %s", event.reason)
            elif isinstance(event, Resumed):
                self.log.info(
                    "call resumed on a new socket%s",
                    " (session:new reply pending)" if event.session_new_pending else "",
                )
            elif isinstance(event, Resent):
                self.log.warning(
                    "%d frame(s) written before the drop never reached jambonz (%s): %s",
                    len(event.lost),
                    event.evidence,
                    "their verbs re-sent as a redirect" if event.frame else "nothing to re-send",
                )
                self._frames_ready.set()
            elif isinstance(event, Confirmed):
                self.log.info(
                    "frames written before the drop did reach jambonz (%s)", event.evidence
                )
                self._frames_ready.set()
            elif isinstance(event, Unconfirmed):
                self.log.error(
                    "%d frame(s) written before the drop: no evidence whether jambonz ran them "
                    "within %g s; not re-sent (it could run them twice)",
                    len(event.frames),
                    self.core.config.doubt_timeout,
                )
                self._frames_ready.set()
                if self.on_unconfirmed is not None:
                    self.on_unconfirmed(event)
            elif isinstance(event, ForceReconnect):
                self.log.warning(
                    "closing the socket with 1011 to make jambonz reconnect: %s", event.reason
                )
                self._force_close = event.reason
                self._frames_ready.set()
            elif isinstance(event, Refused):
                self.log.warning(
                    "%s %s refused: %s",
                    event.message.TYPE if isinstance(event.message, InboundMessage) else "message",
                    event.message.msgid,
                    event.reason,
                )
            elif isinstance(event, Duplicate):
                self.log.info("duplicate msgid %s dropped", event.message.msgid)

    def _deliver(self, event: Received) -> None:
        consumer = self._consumer
        if consumer is not None:
            self._consume(consumer, event)
        elif self.ended:
            return
        elif len(self._backlog) < self.config.inbox_size:
            self._backlog.append(event)
        else:
            self.log.error(
                "app inbox full (inbox_size=%d): %s %s dropped%s",
                self.config.inbox_size,
                event.message.TYPE if isinstance(event.message, InboundMessage) else "message",
                event.message.msgid,
                "; it will be acked automatically" if event.reply is not None else "",
            )

    def _consume(self, consumer: Consumer, event: Received) -> None:
        try:
            consumer(event)
        except Exception:
            # The app's routing failed for this message: log it, keep the call (its ack, if
            # any, is still sent by the deadline policy).
            self.log.exception(
                "routing %s %s to the app failed",
                event.message,
                event.message.msgid,
            )

    # ------------------------------------------------------------------ outbound (app side)

    def reply(
        self,
        handle: ReplyHandle,
        verbs: Iterable[Mapping[str, Any] | Any] | None,
        *,
        now: bool = True,
    ) -> None:
        """Queue the ack of ``handle`` and send it; never blocks (see :meth:`CallCore.reply`
        for the errors it raises).

        The ack is written from the calling task when the writer is idle (see
        :meth:`send_queued`). ``now=False`` leaves it to the writer, which runs after the
        caller's next checkpoint: until then the ack stays queued, so a flow step resumed at
        once may still join it (:meth:`extend_reply`).
        """
        self.core.reply(handle, verbs, trio.current_time())
        if self.core.abort_reason is not None:
            self.abort(self.core.abort_reason)
            return
        if now:
            self.send_queued()
        else:
            self._frames_ready.set()

    def send_queued(self) -> None:
        """Write the queued frames from the calling task if the writer is idle, else wake it.

        A reply written here costs no task switch (the writer's would be the third of a round
        trip, after the reader's and the app's). It is the writer's own work done in its
        absence, one frame at a time and never waiting: anything the kernel does not take at
        once (and every frame after it) is left to the writer.
        """
        socket = self._socket
        if socket is None or self._partial is not None or not self._frames_ready.waiting:
            self._frames_ready.set()
            return
        core = self.core
        while (frame := core.next_frame()) is not None:
            written = socket.send_nowait(frame.data)
            if written is Written.ALL:
                self._sent(frame)
                continue
            if written is Written.PART:
                core.sending(frame)
                self._partial = (frame, socket)
                self._start_send()
            self._frames_ready.set()
            return

    def extend_reply(self, handle: ReplyHandle, verbs: Iterable[Mapping[str, Any] | Any]) -> bool:
        """Append ``verbs`` to ``handle``'s ack if it is still queued (see
        :meth:`CallCore.extend_reply`); False when they must go as a ``redirect``."""
        return self.core.extend_reply(handle, verbs, trio.current_time())

    async def send(self, command: Command) -> None:
        """Queue ``command``, waiting while the call's outbound queue is full."""
        while not self.core.can_queue_command:
            if self.ended:
                break
            await self._queue_drained.wait()
        if self.ended:
            raise CallEndedError(f"call {self.call_sid} has ended; {command.command} not sent")
        await trio.lowlevel.checkpoint()
        self.core.command(command, trio.current_time())
        self.send_queued()

    # ------------------------------------------------------------------ tasks

    def _arm(self, deadline: float | None) -> None:
        """Make the timer wake at ``deadline`` at the latest (no task switch).

        The timer may wake earlier than needed (a deadline armed for an ack that was sent
        since): it then finds nothing due and re-arms for what is next."""
        if deadline is not None and deadline < self._armed:
            self._armed = deadline
            self._timer_scope.deadline = deadline

    def _start_send(self) -> None:
        now = trio.current_time()
        self._sending_since = now
        self._arm(now + self.config.send_stall_timeout)

    def _sent(self, frame: Frame) -> None:
        core = self.core
        core.sent(frame, trio.current_time())
        self._queue_drained.notify()
        if frame.is_ack:
            # an ack may start the command gate's grace, a probe or the re-key stall watch
            self._arm(core.next_deadline())

    async def _writer(self) -> None:
        core = self.core
        while True:
            if self._partial is not None:
                await self._finish_partial(*self._partial)
                continue
            frame = core.next_frame()
            socket = self._socket
            if frame is None or socket is None:
                if socket is not None and socket.has_pending:
                    with suppress(SocketClosed):  # the reader sees the close too
                        await socket.flush()
                    continue
                if socket is not None and self._force_close is not None:
                    # Not 1000 (jambonz would never reconnect): a drop it recovers from.
                    self._force_close = None
                    await socket.close(1011, "jbtrio: reconnect to release held messages")
                    continue
                await self._frames_ready.wait()
                continue
            self._start_send()
            core.sending(frame)
            try:
                await socket.send(frame.data)
            except SocketClosed:
                # The reader sees the close too and detaches; the frame stays queued.
                while self._socket is socket:
                    await self._socket_changed.wait()
                continue
            finally:
                self._sending_since = None
                core.sending(None)
            self._sent(frame)

    async def _finish_partial(self, frame: Frame, socket: WebSocket) -> None:
        """Write the rest of a frame :meth:`send_queued` wrote in part."""
        try:
            if socket is self._socket:
                await socket.flush()
                self._sent(frame)
                return
            # The socket went before its rest did: the frame is still queued, and goes out
            # whole on the next socket.
        except SocketClosed:
            while self._socket is socket:
                await self._socket_changed.wait()
        finally:
            self._partial = None
            self._sending_since = None
            self.core.sending(None)

    async def _timer(self) -> None:
        """Every deadline of the call: acks on the app's behalf, stalled sends, reconnects."""
        stall = self.config.send_stall_timeout
        while True:
            now = trio.current_time()
            deadline = self.core.next_deadline()
            if deadline is not None and deadline <= now:
                self._log_events(self.core.tick(now))
                self._frames_ready.set()
                deadline = self.core.next_deadline()
            since = self._sending_since
            if since is not None and now - since >= stall and self._socket is not None:
                self.log.error("send stalled for %.1f s: aborting the socket", now - since)
                await self._socket.abort("send stalled")
                since = None
            socket = self._socket
            if socket is not None and now >= socket.keepalive_at:
                if socket.keepalive(now):
                    self._frames_ready.set()  # the writer sends the ping
                else:
                    self.log.warning(
                        "no pong within %g s: treating jambonz as gone", socket.pong_timeout
                    )
                    await socket.abort(f"no pong within {socket.pong_timeout:g} s")
            if self._socket is None and now >= self._reconnect_by:
                self.end(
                    f"jambonz did not reconnect within {self.config.reconnect_timeout:g} s "
                    "after the socket dropped"
                )
                return
            wake = min(
                math.inf if deadline is None else deadline,
                math.inf if since is None else since + stall,
                self._reconnect_by,
                math.inf if self._socket is None else self._socket.keepalive_at,
            )
            self._armed = wake
            self._timer_scope = trio.CancelScope(deadline=wake)
            with self._timer_scope:
                await trio.sleep_forever()

    async def _tts_pump(self) -> None:
        # Flow control of tts:tokens lives in the sans-IO TtsPump; the driver feeds it the
        # app's requests from the bounded channel and sends its commands through self.send.
        await self.tts_driver.run()

    async def _run_app(self) -> None:
        """The app's handler; a crash hangs up this call only."""
        try:
            await self._handler(self)
        except* Exception as group:
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
            await self._ended.wait()
        self.end("app crashed")
