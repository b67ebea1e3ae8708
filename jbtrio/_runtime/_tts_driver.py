"""The TTS stream pump task of a call: Trio glue around the sans-IO :class:`TtsPump`.

:class:`TtsPumpDriver` is what the call's session runs as its ``tts-pump`` task: it feeds the
pump with the app's requests (taken from the session's bounded channel) and jambonz's
``tts:tokens-result``/``tts:streaming-event`` messages, sends what the pump says through the
call's ordered outbound queue, and turns the pump's account of the text into per-turn
:class:`TtsResult` values. The app-facing half is :class:`jbtrio._tts.TtsStream`.

Back-pressure: the driver stops taking requests from the channel while the pump holds more
than ``backlog_chars`` unconfirmed characters, so the channel fills and a producer that pushes
faster than jambonz accepts waits in :meth:`TtsStream.push` instead of growing a queue.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeAlias

import attrs
import trio

from .._core import (
    DEFAULT_MAX_CHARS,
    DEFAULT_RESULT_TIMEOUT,
    DEFAULT_RESUME_TIMEOUT,
    Cleared,
    Delivered,
    Dropped,
    Failed,
    FlushDone,
    PumpOutput,
    SendClear,
    SendFlush,
    SendTokens,
    TtsPump,
    TtsResult,
)
from .._errors import CallEndedError, TtsError
from .._wire import Command, TtsStreamingEvent, TtsTokensResult

__all__ = ["FlushWaiter", "TtsFlush", "TtsPumpDriver", "TtsPush", "TtsRequest", "TtsResult"]


class FlushWaiter:
    """A one-shot slot a caller of :meth:`TtsStream.flush` waits on."""

    __slots__ = ("error", "event", "result")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.result: TtsResult | None = None
        self.error: Exception | None = None

    def settle(self, result: TtsResult | None, error: Exception | None = None) -> None:
        if not self.event.is_set():
            self.result, self.error = result, error
            self.event.set()

    async def wait(self) -> TtsResult:
        await self.event.wait()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@attrs.frozen(slots=True, eq=False)
class TtsPush:
    text: str


@attrs.frozen(slots=True, eq=False)
class TtsFlush:
    waiter: FlushWaiter


TtsRequest: TypeAlias = TtsPush | TtsFlush
"""What travels to the pump task through the session's bounded channel
(``CallSession.start_tts()``)."""


class TtsPumpDriver:
    """Runs one call's :class:`TtsPump` under Trio; owned by the call's session."""

    def __init__(
        self,
        send: Callable[[Command], Awaitable[None]],
        receive: trio.MemoryReceiveChannel[TtsRequest],
        log: Any,
        *,
        backlog_chars: int = 2 * DEFAULT_MAX_CHARS,
    ) -> None:
        self.pump = TtsPump()
        self.log = log
        self.backlog_chars = backlog_chars
        self.messages_sent = 0
        """``tts:tokens`` commands handed to the outbound queue (for measurements)."""
        self.requests_taken = 0
        """Requests of the app the pump took (text chunks, flushes, clears): with
        :attr:`messages_sent`, how much it coalesced."""
        self.interruptions = 0
        self._send = send
        self._receive = receive
        self._commands: deque[Command] = deque()
        self._changed = trio.Event()
        self._flush_waiters: dict[int, FlushWaiter] = {}
        self._orphans: list[FlushWaiter] = []
        self._spoken: list[str] = []
        self._dropped: list[str] = []
        self._extra_dropped: list[str] = []
        self._in_transit: deque[TtsRequest] = deque()
        self._voided: set[int] = set()
        self._error: TtsError | None = None
        self._interrupt: TtsResult | None = None
        self._last_cleared = TtsResult()
        self._turn_open = False
        self._producers: set[trio.CancelScope] = set()
        self._interrupted = trio.Event()
        self._closed = False
        # jambonz 10.x/11.x's tts_spoken reports (numbered), and the number the current turn
        # started after: the first report past it is what the caller heard of the turn.
        self._heard: deque[tuple[int, str, bool]] = deque(maxlen=16)
        self._heard_seq = 0
        self._heard_changed = trio.Event()
        self._turn_mark = 0

    # ------------------------------------------------------------------ state for the app

    @property
    def closed(self) -> bool:
        """Whether the call is over (no more text can be streamed)."""
        return self._closed

    def configure(
        self,
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
        resume_timeout: float = DEFAULT_RESUME_TIMEOUT,
        result_timeout: float = DEFAULT_RESULT_TIMEOUT,
    ) -> None:
        """Replace the pump's limits; only while nothing is queued (before the first push)."""
        if not self.pump.idle or self._receive.statistics().current_buffer_used:
            raise RuntimeError("configure the TTS stream before streaming text")
        self.pump = TtsPump(
            max_chars=max_chars, resume_timeout=resume_timeout, result_timeout=result_timeout
        )

    def take_error(self) -> TtsError | None:
        """The failure the producer has not been told of yet (told once)."""
        error, self._error = self._error, None
        return error

    def take_interrupt(self) -> TtsResult | None:
        """The interrupted turn's result, if the producer has not been told of it yet."""
        result, self._interrupt = self._interrupt, None
        return result

    def open_turn(self) -> None:
        """A producer is adding text: a barge-in from now on concerns it."""
        if not self._turn_open:
            self._turn_mark = self._heard_seq
        self._turn_open = True

    @property
    def turn_mark(self) -> int:
        """How many ``tts_spoken`` reports came before the latest turn opened."""
        return self._turn_mark

    def heard_after(self, mark: int) -> tuple[str, bool] | None:
        """The first ``tts_spoken`` report (text heard, barge-in) after ``mark``, if any."""
        return next(((text, b) for seq, text, b in self._heard if seq > mark), None)

    async def wait_heard(self, mark: int) -> tuple[str, bool]:
        """Wait for a ``tts_spoken`` report after ``mark`` (:meth:`heard_after`)."""
        while (found := self.heard_after(mark)) is None:
            await self._heard_changed.wait()
        return found

    def add_producer(self, scope: trio.CancelScope) -> None:
        """Cancel ``scope`` on barge-in (a running :meth:`TtsStream.stream`)."""
        self._producers.add(scope)

    def remove_producer(self, scope: trio.CancelScope) -> None:
        """``scope`` has finished producing."""
        self._producers.discard(scope)

    async def wait_interrupted(self) -> None:
        """Wait for the next ``user_interruption``."""
        await self._interrupted.wait()

    # ------------------------------------------------------------------ inputs

    def feed(self, message: object, now: float) -> None:
        """A message from jambonz; only TTS results and streaming events concern the pump."""
        if isinstance(message, TtsTokensResult):
            data = message.data
            self._apply(self.pump.receive_result(data.id, data.status, data.reason, now))
        elif isinstance(message, TtsStreamingEvent):
            event_type = message.data.event_type
            if event_type == "tts_spoken":
                self._heard_seq += 1
                spoken = message.data
                self._heard.append((self._heard_seq, spoken.text or "", spoken.bargein is True))
                self._heard_changed.set()
                self._heard_changed = trio.Event()
                return
            if event_type == "user_interruption":
                self._drain_channel()
            self._apply(self.pump.receive_event(event_type, now))

    def clear(self, now: float) -> TtsResult:
        """Drop everything queued (channel included) and send ``tts:clear``."""
        self._drain_channel()
        self._apply(self.pump.clear(now))
        result = self._last_cleared
        self._interrupt = None
        return result

    def detach(self, now: float) -> None:
        """The call's socket dropped."""
        self.pump.detach(now)
        self._wake()

    def attach(self, now: float) -> None:
        """The call has a socket again."""
        self._apply(self.pump.attach(now))

    # ------------------------------------------------------------------ the task

    async def run(self) -> None:
        """The ``tts-pump`` task body: take requests, send commands, run deadlines."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._intake, name="tts-pump intake")
                await self._output_loop()
                nursery.cancel_scope.cancel()
        finally:
            self._close()

    async def _intake(self) -> None:
        while True:
            while self.pump.pending_chars >= self.backlog_chars:
                await self._wait_changed()
            try:
                request = await self._receive.receive()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                return
            self._take(request, trio.current_time())

    async def _output_loop(self) -> None:
        while True:
            while self._commands:
                command = self._commands.popleft()
                try:
                    await self._send(command)
                except CallEndedError:
                    return
            deadline = self.pump.next_deadline()
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await self._wait_changed()
                continue
            self._apply(self.pump.tick(trio.current_time()))

    async def _wait_changed(self) -> None:
        await self._changed.wait()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # ------------------------------------------------------------------ internals

    def _take(self, request: TtsRequest, now: float) -> None:
        self.requests_taken += 1
        if self._voided and id(request) in self._voided:
            self._voided.discard(id(request))  # cleared while in transit: accounted for
            return
        if self._in_transit and self._in_transit[0] is request:
            self._in_transit.popleft()
        else:
            with suppress(ValueError):
                self._in_transit.remove(request)
        if isinstance(request, TtsPush):
            self._turn_open = True
            self._apply(self.pump.push(request.text, now))
        else:
            marker, outputs = self.pump.flush(now)
            self._flush_waiters[marker] = request.waiter
            self._apply(outputs)

    async def submit(
        self, request: TtsRequest, channel: trio.MemorySendChannel[TtsRequest]
    ) -> None:
        """Send ``request`` to the pump task through ``channel``, keeping it on the in-transit
        ledger until the pump takes it, so a clear can account for it wherever it is (in the
        channel, or handed to the intake task but not yet taken).

        When nothing is in transit and the pump has room, the request is taken right here:
        the same order and the same flow control, without a task switch per LLM delta.
        """
        if (
            not self._in_transit
            and not self._closed
            and self.pump.pending_chars < self.backlog_chars
        ):
            await trio.lowlevel.checkpoint_if_cancelled()
            self._take(request, trio.current_time())
            return
        self._in_transit.append(request)
        try:
            await channel.send(request)
        except BaseException:
            # Not enqueued (cancelled while the channel was full, or the call ended).
            with suppress(ValueError):
                self._in_transit.remove(request)
            raise

    def _drain_channel(self) -> None:
        """Requests not taken yet are newer than anything the pump holds: drop them."""
        for request in self._in_transit:
            self._voided.add(id(request))
            if isinstance(request, TtsPush):
                self._extra_dropped.append(request.text)
            else:
                self._orphans.append(request.waiter)
        self._in_transit.clear()
        while True:  # free the channel's space for the producers now
            try:
                request = self._receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            self._voided.discard(id(request))

    def _turn_result(self, *, interrupted: bool, flushed: bool) -> TtsResult:
        heard = self.heard_after(self._turn_mark) if self._turn_open else None
        result = TtsResult(
            spoken="".join(self._spoken),
            dropped="".join(self._dropped),
            interrupted=interrupted,
            flushed=flushed,
            heard=heard[0] if heard is not None else None,
        )
        self._spoken.clear()
        self._dropped.clear()
        return result

    def _apply(self, outputs: list[PumpOutput]) -> None:
        unsent: list[FlushWaiter] = []
        for output in outputs:
            if isinstance(output, SendTokens):
                self.messages_sent += 1
                self._commands.append(
                    Command(command="tts:tokens", data={"id": output.id, "tokens": output.text})
                )
            elif isinstance(output, SendFlush):
                self._commands.append(Command(command="tts:flush"))
            elif isinstance(output, SendClear):
                self._commands.append(Command(command="tts:clear"))
            elif isinstance(output, Delivered):
                self._spoken.append(output.text)
            elif isinstance(output, Dropped):
                self._dropped.append(output.text)
            elif isinstance(output, Failed):
                self._dropped.append(output.text)
                self._error = TtsError(output.reason, output.text)
                self.log.warning("tts:tokens refused by jambonz: %s", output.reason)
            elif isinstance(output, FlushDone):
                waiter = self._flush_waiters.pop(output.marker, None)
                if output.sent:
                    result = self._turn_result(interrupted=False, flushed=True)
                    self._turn_open = False
                    if waiter is not None:
                        waiter.settle(result)
                elif waiter is not None:
                    unsent.append(waiter)
            elif isinstance(output, Cleared):
                self._on_cleared(output, unsent)
                unsent = []
        self._wake()

    def _on_cleared(self, output: Cleared, unsent: list[FlushWaiter]) -> None:
        self._dropped.extend(self._extra_dropped)
        self._extra_dropped.clear()
        unsent.extend(self._orphans)
        self._orphans.clear()
        interrupted = output.reason == "interruption"
        had_turn = self._turn_open or bool(unsent)
        result = self._turn_result(interrupted=interrupted, flushed=False)
        self._last_cleared = result
        self._turn_open = False
        error = self._error if output.reason == "failed" else None
        if error is not None:
            self._error = None
        for waiter in unsent:
            # The producer waiting in flush() hears of the interruption or failure there.
            waiter.settle(result, error)
        if interrupted:
            self.interruptions += 1
            self._interrupted.set()
            self._interrupted = trio.Event()
            for scope in self._producers:
                scope.cancel()
            if had_turn and not unsent:
                self._interrupt = result
        elif error is not None and not unsent:
            self._error = error

    def _close(self) -> None:
        self._closed = True
        error = CallEndedError("the call has ended; streamed TTS stopped")
        for waiter in [*self._flush_waiters.values(), *self._orphans]:
            waiter.settle(None, error)
        self._flush_waiters.clear()
        self._orphans.clear()
        self._drain_channel()
        for waiter in self._orphans:
            waiter.settle(None, error)
        self._orphans.clear()
