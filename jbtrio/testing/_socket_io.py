"""One socket of a simulated call: its reader and writer tasks, with the fault rules.

The counterpart of what ws-requestor.js leaves to its websocket: a :class:`Connection` has one
reader task and one writer task, the writer being the only task that touches
``send_message`` (cancelling a send mid-frame corrupts the stream), and the socket is aborted
rather than a send timed out. :class:`SocketIO` is the part of the
:class:`~jbtrio.testing._requestor.Requestor` that runs them: it writes what the call
produces (registering each ack wait at write time, as jambonz starts its timer then), reads
the app's frames, applies the test's :class:`~jbtrio.testing.Faults` both ways, and hands
what it read and how the socket ended back to the requestor's call logic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from ._acks import PendingAck
from ._config import JambonzConfig
from ._connect import ConnectError, Target, classify, handshake
from ._envelope import build_frame, dumps, loads_or_none, new_msgid
from ._faults import Delay, Drop, FaultState, Inject, PauseReading, Reorder
from ._transcript import Transcript, TranscriptFrame

__all__ = ["Connection", "Outgoing", "SocketIO"]

_CHANNEL_SIZE = 256


class Outgoing:
    """A message jambonz wants to send; the envelope (and msgid) is built when written."""

    def __init__(
        self,
        msg_type: str,
        data: dict[str, Any],
        hook: str | None = None,
        pending: PendingAck | None = None,
        *,
        rekey: PendingAck | None = None,
        raw: str | bytes | None = None,
        close_code: int | None = None,
    ) -> None:
        self.msg_type = msg_type
        self.data = data
        self.hook = hook
        self.pending = pending
        self.rekey = rekey
        self.raw = raw
        self.close_code = close_code


class Connection:
    """One socket: its number in the call, the websocket, the raw stream and the writer inbox."""

    def __init__(self, number: int, ws: WebSocketConnection, stream: trio.abc.Stream) -> None:
        self.number = number
        self.ws = ws
        self.stream = stream
        self.send_ch, self.recv_ch = trio.open_memory_channel[Outgoing](_CHANNEL_SIZE)
        self.closing_code: int | None = None
        self.final = False
        self.closed = trio.Event()
        self.requeue: list[Outgoing] = []
        self.held: tuple[str, Outgoing] | None = None
        # the socket opened with session:reconnect; whether jambonz wrote anything on it
        # after that first frame (see Requestor._on_closed)
        self.after_reconnect = False
        self.jambonz_wrote_after_open = False
        # the item the writer is handling and has not yet put on the wire (a Delay may be
        # holding it): if the socket dies meanwhile it was never sent, so it is re-queued
        self.current: Outgoing | None = None


class SocketIO:
    """The socket half of a requestor: runs each :class:`Connection` (see the module doc).

    The call logic (:class:`~jbtrio.testing._requestor.Requestor`) provides the state below
    and the three reactions: :meth:`_on_open`, :meth:`_on_app_frame`, :meth:`_on_closed`.
    """

    config: JambonzConfig
    target: Target
    transcript: Transcript
    faults: FaultState
    log: logging.LoggerAdapter[logging.Logger]
    call_sid: str | None
    queue: list[Outgoing]
    in_flight: dict[str, PendingAck]
    init_msgid_set: bool
    _on_fault: Callable[[str], None]

    def _on_open(self, conn: Connection) -> None:
        raise NotImplementedError

    async def _on_app_frame(self, text: str) -> None:
        raise NotImplementedError

    def _on_closed(
        self, conn: Connection, code: int, by: Literal["app", "jambonz", "network"]
    ) -> None:
        raise NotImplementedError

    async def _run_connection(
        self, number: int, task_status: trio.TaskStatus[Connection] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Handshake, then run reader and writer until the socket is gone.

        Errors before ``started`` propagate (they are the attempt's failure); after it nothing
        escapes: the close is recorded and handed to :meth:`_on_closed`.
        """
        conn: Connection | None = None
        failure: ConnectError | None = None
        code = 1006
        by: Literal["app", "jambonz", "network"] = "network"
        try:
            async with trio.open_nursery() as nursery:
                ws, stream = await handshake(nursery, self.config, self.target)
                conn = Connection(number, ws, stream)
                # Registered before the reader runs, so even an instant close is seen as the
                # close of the current socket.
                self._on_open(conn)
                task_status.started(conn)
                nursery.start_soon(
                    self._writer, conn, name=f"fake-jambonz[{self.call_sid}].conn{number}.writer"
                )
                code, by = await self._reader(conn)
                nursery.cancel_scope.cancel(reason="connection closed")
        except* Exception as group:
            if conn is None:
                failure = classify(group)
            else:
                self.log.error("connection %d crashed: %r", number, group)
        if failure is not None:
            raise failure
        if conn is None:
            return
        # Whatever the writer had not written yet was never on the wire: jambonz would have
        # queued it for the next socket, so it is re-queued (lost only if nothing reconnects).
        # That includes a frame a Reorder rule held back and one a Delay rule was holding.
        unwritten = [conn.held[1]] if conn.held is not None else []
        if conn.current is not None:
            unwritten.append(conn.current)
        conn.held, conn.current = None, None
        conn.requeue.extend(
            item
            for item in unwritten
            if item.raw is None and item.close_code is None and item.msg_type != "session:reconnect"
        )
        while True:
            try:
                item = conn.recv_ch.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            if (
                item.raw is None
                and item.close_code is None
                and item.msg_type != "session:reconnect"
            ):
                conn.requeue.append(item)
        conn.recv_ch.close()
        conn.send_ch.close()
        self.queue = conn.requeue + self.queue
        await trio.aclose_forcefully(conn.stream)
        self._on_closed(conn, code, by)
        conn.closed.set()

    async def _abort_conn(self, conn: Connection, code: int | None) -> None:
        """Kill a socket: close frame with ``code``, or TCP abort (1006 for the app)."""
        if conn.closing_code is None:
            conn.closing_code = code if code is not None else 1006
        if code is None:
            await trio.aclose_forcefully(conn.stream)
        else:
            with trio.move_on_after(self.config.close_timeout):
                await conn.ws.aclose(code)
            await trio.aclose_forcefully(conn.stream)

    def _record(
        self, conn: Connection, direction: Literal["in", "out"], text: str
    ) -> TranscriptFrame:
        frame = TranscriptFrame(
            direction, trio.current_time(), text, loads_or_none(text), conn.number
        )
        self.transcript.add_frame(frame)
        return frame

    async def _writer(self, conn: Connection) -> None:
        """The only task that sends on ``conn``; stops at the first failed or final write."""
        while True:
            try:
                item = await conn.recv_ch.receive()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                return
            conn.current = item
            if not await self._write_item(conn, item):
                return
            conn.current = None

    async def _write_item(self, conn: Connection, item: Outgoing) -> bool:
        """Write one queued item, applying the outgoing fault rules; False ends the writer."""
        if item.raw is not None:
            return await self._send_raw(conn, item.raw)
        if item.close_code is not None:
            conn.closing_code = item.close_code
            with trio.move_on_after(self.config.close_timeout):
                await conn.ws.aclose(item.close_code)
            await trio.aclose_forcefully(conn.stream)
            return False
        text, frame_data, msgid = self._render(item)
        probe = TranscriptFrame("out", trio.current_time(), text, frame_data, conn.number)
        rules = self.faults.take(
            probe, self.faults.next_index("out"), (Drop, Delay, Reorder, Inject)
        )
        for rule in rules:
            if isinstance(rule, Drop) and rule.when == "before":
                conn.current = None
                conn.requeue.append(item)
                await self._abort_conn(conn, rule.code)
                return False
            if (
                isinstance(rule, Inject)
                and rule.when == "before"
                and not await self._send_raw(conn, rule.text)
            ):
                return False
            if isinstance(rule, Delay):
                await trio.sleep(rule.seconds)
        if any(isinstance(r, Reorder) for r in rules) and conn.held is None:
            conn.held = (msgid, item)
            return True
        if not await self._write(conn, item, text, msgid):
            return False
        if conn.held is not None:
            h_msgid, h_item = conn.held
            conn.held = None
            h_text, _, _ = self._render(h_item, h_msgid)
            if not await self._write(conn, h_item, h_text, h_msgid):
                return False
        for rule in rules:
            if (
                isinstance(rule, Inject)
                and rule.when == "after"
                and not await self._send_raw(conn, rule.text)
            ):
                return False
            if isinstance(rule, Drop) and rule.when == "after":
                await self._abort_conn(conn, rule.code)
                return False
        return True

    def _render(self, item: Outgoing, msgid: str | None = None) -> tuple[str, dict[str, Any], str]:
        msgid = msgid or new_msgid()
        frame = build_frame(
            item.msg_type, item.data, msgid=msgid, call_sid=self.call_sid, hook=item.hook
        )
        return dumps(frame), frame, msgid

    async def _write(self, conn: Connection, item: Outgoing, text: str, msgid: str) -> bool:
        """Send one frame; register its ack wait at write time, as jambonz starts its timer."""
        if conn.current is item:
            conn.current = None  # from here on it counts as written (or lost on the wire)
        if item.pending is not None:
            self.in_flight[msgid] = item.pending
            item.pending.mark_written(msgid, trio.current_time() + self.config.ack_timeout)
            if item.msg_type == "session:new":
                self.init_msgid_set = True
        if item.rekey is not None:
            self.in_flight[msgid] = item.rekey
        if item.msg_type != "session:reconnect":
            conn.jambonz_wrote_after_open = True
        try:
            await conn.ws.send_message(text)
        except ConnectionClosed:
            return False
        self._record(conn, "out", text)
        return True

    async def _send_raw(self, conn: Connection, payload: str | bytes) -> bool:
        try:
            await conn.ws.send_message(payload)
        except ConnectionClosed:
            return False
        text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
        self._record(conn, "out", text)
        return True

    async def _reader(self, conn: Connection) -> tuple[int, Literal["app", "jambonz", "network"]]:
        """Read app frames until the socket closes; then run the drop logic."""
        code = 1006
        while True:
            try:
                message = await conn.ws.get_message()
            except ConnectionClosed as exc:
                code = exc.reason.code if exc.reason is not None else 1006
                break
            # A binary frame is parsed like text (WSR:482-488 reads the wrong flag).
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            if len(text.encode()) > self.config.max_payload:
                # Recorded for the transcript, though the ws library never hands it on.
                self._record(conn, "in", text)
                size = len(text.encode())
                self.log.info("app frame of %d bytes over max payload: closing 1009", size)
                self._on_fault(f"app frame of {size} bytes over {self.config.max_payload}")
                await self._abort_conn(conn, 1009)
                code = 1009
                break
            frame = self._record(conn, "in", text)
            index = self.faults.next_index("in")
            rules = self.faults.take(frame, index, (Drop, PauseReading, Inject))
            if any(isinstance(r, Drop) and r.when == "before" for r in rules):
                drop = next(r for r in rules if isinstance(r, Drop))
                await self._abort_conn(conn, drop.code)
                code = conn.closing_code or 1006
                break
            for rule in rules:
                if isinstance(rule, Inject) and rule.when == "before":
                    await self._inject(conn, rule.text)
            await self._on_app_frame(text)
            for rule in rules:
                if isinstance(rule, Inject) and rule.when == "after":
                    await self._inject(conn, rule.text)
                elif isinstance(rule, PauseReading):
                    await trio.sleep(rule.seconds)
                elif isinstance(rule, Drop):
                    await self._abort_conn(conn, rule.code)
        if conn.closing_code is not None:
            code = conn.closing_code
            by: Literal["app", "jambonz", "network"] = "jambonz"
        else:
            by = "network" if code == 1006 else "app"
        return code, by

    async def _inject(self, conn: Connection, payload: str | bytes) -> None:
        """Queue a raw frame for ``conn``'s writer (dropped if the socket is already gone)."""
        try:
            await conn.send_ch.send(Outgoing("raw", {}, raw=payload))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.log.info("injected frame dropped: connection %d is gone", conn.number)
