"""Streaming TTS for the app: LLM deltas to a streaming ``say`` with honest flow control.

:class:`TtsStream` is what the app holds (``call.tts``); the flow control runs in the call's
``tts-pump`` task (:mod:`jbtrio._runtime._tts_driver`) around the sans-IO pump.

Back-pressure: the pump task stops taking requests from the channel while it holds more than
``backlog_chars`` unconfirmed characters, so the channel fills and a producer that pushes
faster than jambonz accepts waits in :meth:`TtsStream.push` instead of growing a queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import TYPE_CHECKING

import attrs
import trio

from ._core import DEFAULT_MAX_CHARS, DEFAULT_RESULT_TIMEOUT, DEFAULT_RESUME_TIMEOUT, TtsResult
from ._errors import CallEndedError, TtsInterrupted
from ._runtime import FlushWaiter, TtsFlush, TtsPumpDriver, TtsPush

if TYPE_CHECKING:
    from ._runtime import CallSession

__all__ = ["TtsResult", "TtsStream"]


class TtsStream:
    """Stream text into the call's TTS: ``call.tts``.

    Two ways to feed it, both with back-pressure (a producer faster than jambonz waits):

    - ``result = await call.tts.stream(llm_deltas())`` — streams an async iterable, then flushes
      the turn; a barge-in cancels the iteration (the LLM stops) and the result says
      ``interrupted``;
    - ``await call.tts.push(delta)`` for each delta, then ``result = await call.tts.flush()``
      at the end of the turn; after a barge-in the next ``push`` raises
      :class:`~jbtrio.TtsInterrupted` once, so the producer stops.

    Text needs a streaming ``say`` (``Say(stream=True)``) or ``config`` ``ttsStream`` to be
    spoken; jambonz buffers it until one opens. ``await call.tts.clear()`` stops talking now.
    Refusals other than a full buffer raise :class:`~jbtrio.TtsError` to the producer.

    What the caller actually heard (jambonz 10.x/11.x with ``config`` ``trackTtsPlayout``):
    pass ``heard_timeout`` to :meth:`flush` or :meth:`stream` and the result's ``heard`` is
    filled from jambonz's ``tts_spoken`` report, once the speech ended or was cut.
    """

    def __init__(self, session: CallSession) -> None:
        self._session = session

    @property
    def _driver(self) -> TtsPumpDriver:
        return self._session.tts_driver

    @property
    def interruptions(self) -> int:
        """How many ``user_interruption`` events the call has had."""
        return self._driver.interruptions

    @property
    def messages_sent(self) -> int:
        """How many ``tts:tokens`` messages were sent on this call."""
        return self._driver.messages_sent

    def configure(
        self,
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
        resume_timeout: float = DEFAULT_RESUME_TIMEOUT,
        result_timeout: float = DEFAULT_RESULT_TIMEOUT,
    ) -> None:
        """Set the flow-control limits of this call's streaming, before it starts.

        ``max_chars`` caps each ``tts:tokens`` (jambonz's buffer holds 1,000 by default);
        ``resume_timeout`` is how long to wait for ``stream_resumed`` after ``full`` before
        retrying; ``result_timeout`` how long to wait, after a reconnect, for the result of a
        ``tts:tokens`` sent before the drop before sending its text again.
        """
        self._driver.configure(
            max_chars=max_chars, resume_timeout=resume_timeout, result_timeout=result_timeout
        )

    def _check(self) -> None:
        driver = self._driver
        error = driver.take_error()
        if error is not None:
            raise error
        interrupted = driver.take_interrupt()
        if interrupted is not None:
            raise TtsInterrupted(interrupted)

    async def push(self, text: str) -> None:
        """Queue a text delta, waiting while jambonz is behind (back-pressure).

        Raises :class:`~jbtrio.TtsError` if jambonz refused earlier text of the turn,
        :class:`~jbtrio.TtsInterrupted` once after a barge-in of this turn, and
        :class:`~jbtrio.CallEndedError` when the call is over.
        """
        self._check()
        if self._session.ended:
            raise CallEndedError("the call has ended; streamed TTS text not sent")
        self._driver.open_turn()
        try:
            await self._driver.submit(TtsPush(text), self._session.start_tts())
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise CallEndedError("the call has ended; streamed TTS text not sent") from None

    async def flush(self, *, heard_timeout: float | None = None) -> TtsResult:
        """End the turn: ``tts:flush`` after all text queued so far; returns what was spoken.

        Returns when the flush went out (or the turn was cleared or interrupted first). With
        ``heard_timeout``, waits then up to that many seconds for jambonz's report of what the
        caller heard (``TtsResult.heard``; it comes when the speech has played out, or was
        interrupted, which then sets ``interrupted``); ``heard`` stays ``None`` when no report
        comes (jambonz 0.9, or ``trackTtsPlayout`` off). The report taken is the first to
        arrive after the turn's first text: start the next turn once the previous one was
        heard (its report came) when both matter.
        """
        mark = self._driver.turn_mark
        result = await self._flush()
        return await self._with_heard(result, mark, heard_timeout)

    async def _with_heard(self, result: TtsResult, mark: int, wait: float | None) -> TtsResult:
        if wait is None or result.heard is not None:
            return result
        with trio.move_on_after(wait):
            heard, bargein = await self._driver.wait_heard(mark)
            return attrs.evolve(result, heard=heard, interrupted=result.interrupted or bargein)
        return result

    async def _flush(self) -> TtsResult:
        driver = self._driver
        error = driver.take_error()
        if error is not None:
            raise error
        interrupted = driver.take_interrupt()
        if interrupted is not None:
            return interrupted
        if driver.closed or self._session.ended:
            raise CallEndedError("the call has ended; tts:flush not sent")
        waiter = FlushWaiter()
        try:
            await self._driver.submit(TtsFlush(waiter), self._session.start_tts())
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise CallEndedError("the call has ended; tts:flush not sent") from None
        return await waiter.wait()

    async def clear(self) -> TtsResult:
        """Stop talking: drop everything queued and send ``tts:clear``; returns the turn."""
        await trio.lowlevel.checkpoint()
        if self._driver.closed:
            raise CallEndedError("the call has ended; tts:clear not sent")
        return self._driver.clear(trio.current_time())

    async def wait_interrupted(self) -> None:
        """Wait for the caller's next barge-in (``user_interruption``)."""
        await self._driver.wait_interrupted()

    async def stream(
        self,
        deltas: AsyncIterable[str],
        *,
        flush: bool = True,
        heard_timeout: float | None = None,
    ) -> TtsResult:
        """Stream every delta of ``deltas``, then flush the turn (unless ``flush=False``).

        A barge-in stops the iteration (the async generator is closed, so the LLM request
        behind it ends) and the result is returned with ``interrupted`` set.
        ``heard_timeout`` waits for what the caller heard, as in :meth:`flush`.
        """
        result = await self._stream(deltas, flush=flush)
        return await self._with_heard(result, self._driver.turn_mark, heard_timeout)

    async def _stream(self, deltas: AsyncIterable[str], *, flush: bool) -> TtsResult:
        driver = self._driver
        scope = trio.CancelScope()
        driver.add_producer(scope)
        iterator = deltas.__aiter__()
        try:
            with scope:
                try:
                    async for delta in iterator:
                        await self.push(delta)
                except TtsInterrupted as exc:
                    assert isinstance(exc.result, TtsResult)
                    return exc.result
        finally:
            driver.remove_producer(scope)
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                with trio.CancelScope(shield=True):
                    await aclose()
        if scope.cancelled_caught:
            result = driver.take_interrupt()
            return result if result is not None else TtsResult(interrupted=True)
        if not flush:
            return TtsResult()
        return await self._flush()
