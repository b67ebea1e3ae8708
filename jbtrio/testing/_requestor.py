"""The socket side of one simulated call: connect, send, ack, queue, reconnect.

This is the fake's counterpart of feature-server's WsRequestor, rebuilt from its observed
behaviour (docs/jambonz.md: Connection, Acks, Reconnects) rather than its code. One
requestor serves one call for its whole life and may open many sockets; each socket's reader
and writer tasks (with the test's fault rules) are :mod:`._socket_io`'s, the call logic —
what is sent when, acks, queueing across reconnects, the drop logic — is here.

Verified against the real source (jambonz-feature-server 0.9.8, lib/utils/ws-requestor.js)
where the published protocol notes are silent or were wrong:

- the "initial msgid" (``_initMsgId``) is set when ``session:new`` is written and cleared by
  *any* ack jambonz reads, even one for an unknown msgid (``_recvAck``); while it is set, a
  drop abandons nothing (``_onSocketClosed`` skips ``_clearPendingMessages``) and the next
  socket re-keys it (``session:reconnect`` sent as a notification, the re-key stall follows);
- the re-key stall (``_reconnectPromise`` left set) holds every later message back until a
  *normal* ``session:reconnect`` is acked: after the app acked the re-keyed one, any drop
  (a close with a code other than 1000) leads to one, and its ack flushes the held messages
  in order;
- a request that fails because the socket closed or the ack timed out is rejected with a
  plain string, so what jambonz reports about it (a gather's ``jambonz:error``, its
  ``call:status``) has no ``details``/``reason`` (see :class:`AckFailed`);
- what the writer had written into a socket before the drop was noticed dies with it (no
  retransmission); what is produced after is queued and sent after the reconnect's ack.

Not modelled: the ``rp`` retry-policy nuances beyond the categories in :mod:`._connect`, and
the timing of Node's event loop (the fake notices a drop when its reader sees it).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal

import trio

from ._acks import AckFailed, AckOk, AckResult, PendingAck
from ._config import JambonzConfig
from ._connect import ConnectError, Target, classify
from ._envelope import (
    AppAck,
    AppCommand,
    InvalidAppMessage,
    parse_app_frame,
)
from ._faults import FaultState
from ._socket_io import Connection, Outgoing, SocketIO
from ._transcript import ConnEvent, Transcript

__all__ = ["Outgoing", "Requestor"]


class Requestor(SocketIO):
    """Everything between the call logic and the wire for one call (its sockets' reader and
    writer are :class:`~jbtrio.testing._socket_io.SocketIO`'s)."""

    def __init__(
        self,
        *,
        config: JambonzConfig,
        target: Target,
        max_reconnects: int,
        retry_policy: tuple[str, ...],
        transcript: Transcript,
        faults: FaultState,
        log: logging.LoggerAdapter[logging.Logger],
        on_command: Callable[[AppCommand], Awaitable[None]],
        on_fault: Callable[[str], None],
        numbers: Iterator[int] | None = None,
    ) -> None:
        self.config = config
        self.target = target
        self.max_reconnects = max_reconnects
        self.retry_policy = retry_policy
        self.transcript = transcript
        self.faults = faults
        self.log = log
        self._on_command = on_command
        self._on_fault = on_fault
        self._numbers = numbers if numbers is not None else itertools.count(1)
        self.nursery: trio.Nursery | None = None
        self.conn: Connection | None = None
        self.connecting = False
        self.connections = 0
        self.backoff = config.initial_backoff
        self.closed_gracefully = False
        self.ended = False
        self.queue: list[Outgoing] = []
        self.triggers: list[Outgoing] = []
        self.in_flight: dict[str, PendingAck] = {}
        self.call_sid: str | None = None
        self.session_data: dict[str, Any] | None = None
        self.init_pending: PendingAck | None = None
        # ``_initMsgId`` in ws-requestor.js: set when session:new is written, cleared by any
        # ack read (see the module doc)
        self.init_msgid_set = False
        self.awaiting_reconnect_ack = False
        self.reconnect_pending: PendingAck | None = None
        self.stalled = False
        self.timer_pending = False
        self.reconnect_error = trio.Event()
        self.connect_failure: ConnectError | None = None

    # ----------------------------------------------------------------- public API

    async def start_session(
        self, data: dict[str, Any], msg_type: str = "session:new", hook: str | None = None
    ) -> AckResult:
        """Send the first message (opening the first socket) and wait for its ack.

        Only ``session:new`` sets the envelope ``call_sid`` and is re-keyed on an early drop
        (§5.4); ``session:adulting`` and ``session:redirect`` sockets carry no top-level
        ``call_sid`` at all. A later ``session:reconnect`` repeats the ``session:new`` or
        ``session:adulting`` data (``{}`` on a redirect socket, which has none stored).
        """
        self.session_data = data if msg_type != "session:redirect" else {}
        if msg_type != "session:new":
            return await self.request(msg_type, data, hook)
        self.call_sid = str(data["call_sid"])
        self.init_pending = PendingAck("session:new")
        await self._submit(Outgoing("session:new", data, pending=self.init_pending))
        result = await self.init_pending.wait()
        self.init_pending = None
        return result

    async def request(self, msg_type: str, data: dict[str, Any], hook: str | None) -> AckResult:
        """Send an ack-awaiting message and wait for its ack (or failure)."""
        pending = PendingAck(msg_type, hook)
        if not await self._submit(Outgoing(msg_type, data, hook, pending)):
            return AckOk()
        return await pending.wait()

    async def notify(self, msg_type: str, data: dict[str, Any], hook: str | None = None) -> None:
        """Send a message that wants no ack."""
        await self._submit(Outgoing(msg_type, data, hook))

    async def close(self, code: int) -> None:
        """End of call: flush what is queued on the live socket, then close with ``code``."""
        self.ended = True
        conn = self.conn
        if conn is None:
            return
        conn.final = True
        # Bounded: a writer stuck behind an app that stopped reading must not hold the call
        # open. Sends are never timed out (a cancelled send tears a frame); the socket is
        # aborted instead, which fails the stuck send cleanly.
        with trio.move_on_after(self.config.close_timeout) as scope:
            try:
                await conn.send_ch.send(Outgoing("close", {}, close_code=code))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            await conn.closed.wait()
        if scope.cancelled_caught:
            self.log.warning("connection %d stuck while closing: aborting it", conn.number)
            await self._abort_conn(conn, None)
            await conn.closed.wait()

    async def abort(self, code: int | None = None) -> None:
        """Drop the live connection as a fault (TCP loss, or a close with ``code``)."""
        conn = self.conn
        if conn is not None:
            await self._abort_conn(conn, code)
            await conn.closed.wait()

    # ----------------------------------------------------------------- sending

    async def _submit(self, item: Outgoing) -> bool:
        """Route a message: discard, queue (and maybe connect), or hand to the writer."""
        if self.closed_gracefully or self.ended:
            self.log.debug("discarding %s: socket closed gracefully or call ended", item.msg_type)
            if item.pending is not None:
                item.pending.resolve(AckOk())
            return False
        conn = self.conn
        if conn is None and not self.connecting:
            # This message starts a connect. jambonz queues it only once the socket is up,
            # i.e. *after* whatever was produced while connecting (ordering is not preserved
            # across a reconnect, docs/jambonz.md, Ordering). ``connecting`` is set before the
            # task runs so that a second message cannot start a second connect.
            self.connecting = True
            self.triggers.append(item)
            self._spawn(self._connect_with_retries, "connect")
            return True
        if conn is None or self.awaiting_reconnect_ack or self.stalled:
            self.queue.append(item)
            return True
        try:
            await conn.send_ch.send(item)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.queue.append(item)
        return True

    def _flush_queue(self, conn: Connection) -> None:
        """Hand everything queued to the writer, in order."""
        items, self.queue = self.queue, []
        for i, item in enumerate(items):
            try:
                conn.send_ch.send_nowait(item)
            except trio.WouldBlock:
                self.queue = items[i:]
                self._spawn(self._drain_queue_into, "drain-queue", conn)
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.queue = items[i:] + self.queue
                return

    async def _drain_queue_into(self, conn: Connection) -> None:
        while self.queue and self.conn is conn:
            item = self.queue.pop(0)
            try:
                await conn.send_ch.send(item)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.queue.insert(0, item)
                return

    def _spawn(self, fn: Callable[..., Awaitable[Any]], name: str, *args: Any) -> None:
        assert self.nursery is not None
        self.nursery.start_soon(fn, *args, name=f"fake-jambonz[{self.call_sid}].{name}")

    # ----------------------------------------------------------------- connecting

    async def _attempt(self) -> Connection | ConnectError:
        """One connection attempt; a live connection is already registered (``_on_open``)
        and runs on in the call nursery."""
        assert self.nursery is not None
        number = next(self._numbers)
        result: Connection | ConnectError | None = None
        try:
            result = await self.nursery.start(
                self._run_connection, number, name=f"fake-jambonz[{self.call_sid}].conn{number}"
            )
        except* Exception as group:
            result = classify(group)
        assert result is not None
        if isinstance(result, ConnectError):
            self.log.info("connect attempt %d failed: %s", number, result.reason)
            self.transcript.add_event(
                ConnEvent(trio.current_time(), number, "connect-failed", detail=result.reason)
            )
        return result

    async def _connect_with_retries(self) -> None:
        """Initial / on-demand connect: 1 + max_reconnects attempts while the policy allows."""
        try:
            for attempt in range(1 + self.max_reconnects):
                if attempt:
                    await trio.sleep(self.backoff)
                    self.backoff = self.config.next_backoff(self.backoff)
                if self.ended or self.closed_gracefully:
                    return
                result = await self._attempt()
                if isinstance(result, Connection):
                    return
                self.connect_failure = result
                if not result.retryable(self.retry_policy):
                    break
            failure = self.connect_failure
            self._fail_queue(
                failure.reason if failure else "no connection",
                failure.message if failure else None,
            )
        finally:
            self.connecting = False

    async def _reconnect_timer(self) -> None:
        """Timer-driven reconnect after a drop: one attempt; a failure schedules the next."""
        delay = self.backoff
        self.backoff = self.config.next_backoff(self.backoff)
        self.log.info("reconnecting in %.1f s", delay)
        await trio.sleep(delay)
        self.timer_pending = False
        if self.ended or self.closed_gracefully or self.conn is not None or self.connecting:
            return
        self.connecting = True
        try:
            result = await self._attempt()
        finally:
            self.connecting = False
        if not isinstance(result, Connection) and not self.ended:
            self.timer_pending = True
            self._spawn(self._reconnect_timer, "reconnect-timer")

    def _take_triggers(self) -> None:
        self.queue.extend(self.triggers)
        self.triggers = []

    def _fail_queue(self, reason: str, message: str | None = None) -> None:
        self._take_triggers()
        items, self.queue = self.queue, []
        for item in items:
            if item.pending is not None:
                item.pending.resolve(AckFailed(reason, message=message))

    def _on_open(self, conn: Connection) -> None:
        """A socket is up: first open flushes the queue, later ones start with a reconnect."""
        self.connections += 1
        self.conn = conn
        self.transcript.add_event(ConnEvent(trio.current_time(), conn.number, "open"))
        self.log.info("connection %d open", conn.number)
        self._take_triggers()
        if self.connections == 1:
            self._flush_queue(conn)
            return
        assert self.session_data is not None
        conn.after_reconnect = True
        if self.init_msgid_set and self.init_pending is not None:
            # §5.4: session:new still un-acked; its pending entry moves to the new msgid and
            # session:reconnect goes out as a plain notification.
            item = Outgoing("session:reconnect", self.session_data, rekey=self.init_pending)
            conn.send_ch.send_nowait(item)
            if self.config.reproduce_rekey_stall:
                self.stalled = True
            else:
                self._flush_queue(conn)
            return
        self.awaiting_reconnect_ack = True
        pending = PendingAck("session:reconnect")
        self.reconnect_pending = pending
        conn.send_ch.send_nowait(Outgoing("session:reconnect", self.session_data, pending=pending))
        self._spawn(self._await_reconnect_ack, "reconnect-ack", pending)

    def _on_reconnect_ack(self) -> None:
        """The ``session:reconnect`` ack arrived: release the queue in the same step, as
        jambonz does in its ack handler (a later step would let a hangup overtake it). A
        normal reconnect's ack also ends a re-key stall (its promise replaced the stuck one)."""
        self.reconnect_pending = None
        self.awaiting_reconnect_ack = False
        self.stalled = False
        if self.conn is not None:
            self._flush_queue(self.conn)

    async def _await_reconnect_ack(self, pending: PendingAck) -> None:
        result = await pending.wait()
        if isinstance(result, AckOk) or pending is not self.reconnect_pending:
            return
        self.reconnect_pending = None
        self.log.warning("session:reconnect failed (%s): hanging up", result.reason)
        self.awaiting_reconnect_ack = False
        self._fail_queue(result.reason, result.message)
        self.reconnect_error.set()

    # ----------------------------------------------------------------- a connection

    async def _on_app_frame(self, text: str) -> None:
        parsed = parse_app_frame(text)
        if isinstance(parsed, InvalidAppMessage):
            self.log.info("invalid app message: %s", parsed.details)
            self._on_fault(f"jambonz:error: InvalidMessage: {parsed.details}")
            await self.notify(
                "jambonz:error",
                {"msg": "InvalidMessage", "details": parsed.details, "content": parsed.content},
            )
        elif isinstance(parsed, AppAck):
            self.init_msgid_set = False  # _recvAck clears it first, whatever the msgid
            pending = self.in_flight.pop(parsed.msgid, None)
            if pending is None or not pending.resolve(AckOk(parsed.data, parsed.has_data)):
                self.log.info("ack to unknown msgid %s, discarding", parsed.msgid)
            elif pending is self.reconnect_pending:
                self._on_reconnect_ack()
        else:
            await self._on_command(parsed)

    def _on_closed(
        self, conn: Connection, code: int, by: Literal["app", "jambonz", "network"]
    ) -> None:
        """The drop logic of §5.2: graceful close, reconnect timer, abandoned acks."""
        self.transcript.add_event(
            ConnEvent(trio.current_time(), conn.number, "close", code=code, by=by)
        )
        self.log.info("connection %d closed %d by %s", conn.number, code, by)
        if self.conn is not conn:
            return
        self.conn = None
        if conn.final or self.ended:
            return
        if by == "app" and code == 1000:
            self.closed_gracefully = True
            return
        # The app is not supposed to close the socket: any other close by its side is a fault
        # worth failing a CLI run for, even though jambonz recovers — except the one recovery
        # an app has from the re-key stall: closing (not with 1000) a socket that opened with
        # session:reconnect on which jambonz then wrote nothing, stalled or not (an app
        # cannot tell a stalled jambonz from an idle one).
        if by == "app" and not (conn.after_reconnect and not conn.jambonz_wrote_after_open):
            self._on_fault(f"app closed the socket with {code}")
        elif by == "app":
            self.log.info("app closed a silent socket after session:reconnect (%d)", code)
        elif by == "network":
            self._on_fault(f"connection lost ({code})")
        # ``stalled`` (§5.4) is kept: only a normal reconnect's ack ends it.
        self.awaiting_reconnect_ack = False
        if self.connections < self.max_reconnects:
            # While the initial msgid is set nothing is abandoned (an unacked session:new
            # is re-keyed on the next socket instead).
            for msgid, pending in list(self.in_flight.items()) if not self.init_msgid_set else ():
                del self.in_flight[msgid]
                # A plain string in jambonz: no err.message, so no details downstream.
                pending.resolve(AckFailed(f"abandoning msgid {msgid} since socket is closed"))
            if not self.timer_pending:
                self.timer_pending = True
                self._spawn(self._reconnect_timer, "reconnect-timer")
