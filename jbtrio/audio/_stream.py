"""One audio stream in Trio: :class:`AudioStream` and :func:`run_stream`.

Three named tasks per stream, in the stream's nursery (:func:`run_stream`): the **reader**
feeds the core and never waits on the app (a slow consumer costs old frames, not events or
pings), the **writer** is the only task that writes to the socket (a send is never cancelled
half-way: a stalled one aborts the socket), and the **timer** resolves what jambonz did not
report in time and watches the writer. App tasks talk to the writer over one bounded channel,
so audio, marks and commands reach jambonz in the order they were sent.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import cast

import trio

from ._config import AudioConfig
from ._core import AudioCore, AudioStats, LogLimiter, MarkOutcome, PlayResult
from ._errors import AudioProtocolError, AudioStreamClosed
from ._handles import Mark, Playback, stream_logger
from ._socket import FLUSH, AudioSocket, FastAudioSocket, Flush
from ._wire import CLEAR_MARKS, DISCONNECT, KILL_AUDIO, AudioEvent, AudioMetadata

__all__ = ["AudioHandler", "AudioStream", "run_stream"]

#: Messages the reader handles without blocking before it yields to other tasks.
_READ_BURST = 16
#: Frames a consumer may take without blocking before :meth:`AudioStream.receive` yields.
_TAKE_BURST = 32


class AudioStream:
    """The app's end of one ``listen``/``stream`` audio socket.

    ``async for frame in stream`` yields the caller's audio (L16 PCM ``bytes``, 20 ms a frame
    typically) and ends when the socket closes; ``async for event in stream.events()`` yields
    :class:`Dtmf`, :class:`MarkEvent`, :class:`PlayDone` and :class:`UnknownAudioEvent`.
    Sending: :meth:`send_audio` (bidirectional streaming, paced to real time), :meth:`play`
    (a clip by ``playAudio``), :meth:`mark`, :meth:`kill_audio`, :meth:`clear_marks`,
    :meth:`disconnect`. Sends raise :class:`AudioStreamClosed` once the socket is gone.
    """

    def __init__(
        self,
        socket: AudioSocket,
        metadata: AudioMetadata,
        *,
        path: str = "/",
        config: AudioConfig | None = None,
    ) -> None:
        self.metadata = metadata
        self.path = path
        self.config = config or AudioConfig()
        self.log = stream_logger(metadata.call_sid)
        self.close_code: int | None = None
        """How the socket closed (``None`` while open)."""
        self.close_reason: str | None = None
        self._socket = socket
        self._core = AudioCore(metadata, self.config, trio.current_time())
        self._core.on_room = self._wake_room
        self._frames_lot = trio.lowlevel.ParkingLot()
        self._events_lot = trio.lowlevel.ParkingLot()
        self._room_lot = trio.lowlevel.ParkingLot()
        self._timer_lot = trio.lowlevel.ParkingLot()
        self._out_send, self._out_recv = trio.open_memory_channel[str | bytes | Flush](
            self.config.outbound_queue
        )
        self._fast: FastAudioSocket | None = (
            cast(FastAudioSocket, socket)
            if callable(getattr(socket, "send_nowait", None))
            else None
        )
        self._queued = 0  # messages in the writer's channel
        self._writing = False
        self._mark_lock = trio.Lock()
        self._play_lock = trio.Lock()
        self._limiter = LogLimiter(self.config.log_interval, self.config.log_burst)
        self._gone = trio.Event()
        self._closing = False
        self._close_with: tuple[int, str | None] = (1000, None)
        self._writing_since = math.inf
        self._taken = 0
        self._warned_drop = False
        self.handler_scope = trio.CancelScope()
        """The scope the handler runs in: given a deadline (``close_grace``) when the
        socket closes."""

    # ------------------------------------------------------------------ facts

    @property
    def call_sid(self) -> str:
        """The call this stream belongs to."""
        return self.metadata.call_sid

    @property
    def sample_rate(self) -> int:
        """Sample rate of the caller's audio."""
        return self.metadata.sample_rate

    @property
    def output_sample_rate(self) -> int:
        """Sample rate of the audio the app sends (:meth:`send_audio`, raw clips); the verb's
        ``bidirectionalAudio.sampleRate``. Defaults to :attr:`sample_rate`; set it when the
        verb asked for another rate."""
        return self._core.output_rate

    @output_sample_rate.setter
    def output_sample_rate(self, rate: int) -> None:
        if not isinstance(rate, int) or rate <= 0:
            raise ValueError(f"output_sample_rate must be a positive int, got {rate!r}")
        self._core.output_rate = rate

    @property
    def stats(self) -> AudioStats:
        """Counters: frames in/out/dropped, events, marks, clips, protocol errors."""
        return self._core.stats

    @property
    def closed(self) -> bool:
        """Whether the socket is gone (frames already received can still be read)."""
        return self._gone.is_set()

    @property
    def queued_ahead(self) -> float:
        """Seconds of streamed audio sent and not yet played, by the playout clock."""
        return self._core.queued_ahead(trio.current_time())

    # ------------------------------------------------------------------ receiving

    def __aiter__(self) -> AudioStream:
        return self

    async def __anext__(self) -> bytes:
        frame = await self._next_frame()
        if frame is None:
            raise StopAsyncIteration
        return frame

    async def receive(self) -> bytes:
        """The next frame of the caller's audio; :class:`AudioStreamClosed` after the last."""
        frame = await self._next_frame()
        if frame is None:
            raise AudioStreamClosed(self.close_code, self.close_reason)
        return frame

    async def _next_frame(self) -> bytes | None:
        while True:
            frame = self._core.pop_frame()
            if frame is not None:
                self._taken += 1
                if self._taken >= _TAKE_BURST:
                    self._taken = 0
                    await trio.lowlevel.checkpoint()
                else:
                    await trio.lowlevel.checkpoint_if_cancelled()
                return frame
            if self._gone.is_set():
                await trio.lowlevel.checkpoint()
                return None
            self._taken = 0
            await self._frames_lot.park()

    async def receive_event(self) -> AudioEvent:
        """The next event; :class:`AudioStreamClosed` after the last."""
        while True:
            event = self._core.pop_event()
            if event is not None:
                await trio.lowlevel.checkpoint()
                return event
            if self._gone.is_set():
                await trio.lowlevel.checkpoint()
                raise AudioStreamClosed(self.close_code, self.close_reason)
            await self._events_lot.park()

    def events(self) -> _Events:
        """``async for event in stream.events()``: DTMF, mark, playDone and unknown events,
        in arrival order, until the socket closes."""
        return _Events(self)

    # ------------------------------------------------------------------ sending

    def _check_open(self) -> None:
        if self._gone.is_set() or self._closing:
            raise AudioStreamClosed(self.close_code, self.close_reason)

    async def _put(self, message: str | bytes) -> bool:
        """Hand ``message`` to the writer; True if it was written at once, without waiting."""
        fast = self._fast
        if (
            fast is not None
            and not self._queued
            and not self._writing
            and fast.send_nowait(message)
        ):
            # Written from this task while the writer is idle with nothing queued: in order,
            # and synchronous, so no cancellation can cut it in half.
            if fast.owes:
                await self._enqueue(FLUSH)
                return False
            await trio.lowlevel.checkpoint_if_cancelled()
            return True
        await self._enqueue(message)
        return False

    async def _enqueue(self, message: str | bytes | Flush) -> None:
        self._queued += 1  # before the await: a fast write must not overtake this one
        try:
            await self._out_send.send(message)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            self._queued -= 1
            raise AudioStreamClosed(self.close_code, self.close_reason) from None
        except BaseException:
            self._queued -= 1
            raise

    async def send_audio(self, pcm: bytes | bytearray | memoryview) -> None:
        """Send L16 mono PCM at :attr:`output_sample_rate` to be played to the caller
        (``bidirectionalAudio: {enabled: true, streaming: true}``).

        Waits while more than ``max_ahead_ms`` would be queued ahead of real time, so a fast
        producer is paced; big chunks go out in slices. Cancelling it is safe: a slice is
        either handed to the writer whole or not at all.
        """
        if self._gone.is_set() or self._closing:
            raise AudioStreamClosed(self.close_code, self.close_reason)
        core = self._core
        if type(pcm) is not bytes:
            pcm = bytes(pcm)
        pieces = (pcm,) if len(pcm) <= core.slice_bytes and not len(pcm) & 1 else core.slices(pcm)
        for piece in pieces:
            size = len(piece)
            now = trio.current_time()
            delay = core.send_delay(size, now)
            while delay > 0:
                core.stats.paced_waits += 1
                await trio.sleep(delay)
                self._check_open()
                now = trio.current_time()
                delay = core.send_delay(size, now)
            if not await self._put(piece):
                now = trio.current_time()  # it waited for the writer's channel
            core.audio_sent(size, now)

    async def send_mark(self, name: str) -> Mark:
        """Put a mark after the audio sent so far and return it at once (see :meth:`mark`).

        Waits for room when ``max_pending_marks`` marks are unresolved.
        """
        self._check_open()
        core = self._core
        text = core.prepare_mark(name)
        async with self._mark_lock:
            await self._room_for(core.mark_room)
            await self._put(text)
            ticket = core.commit_mark(name, trio.current_time())
        self._timer_lot.unpark_all()
        return Mark(ticket)

    async def mark(self, name: str) -> MarkOutcome:
        """Put a mark after the audio sent so far and wait until jambonz played that audio
        (``PLAYOUT``) or the mark was cleared (``CLEARED``); ``UNREPORTED``/``LOST`` when
        jambonz stays silent (marks need ``bidirectionalAudio.streaming``) or the stream
        ends."""
        return await (await self.send_mark(name)).wait()

    async def send_play(
        self,
        audio: bytes,
        *,
        sample_rate: int | None = None,
        content_type: str = "raw",
        queue: bool = False,
    ) -> Playback:
        """Send a clip with ``playAudio`` and return at once (see :meth:`play`)."""
        self._check_open()
        core = self._core
        ticket, text = core.prepare_play(
            bytes(audio), content_type=content_type, sample_rate=sample_rate, queue=queue
        )
        async with self._play_lock:
            await self._room_for(lambda: core.play_room(queue))
            await self._put(text)
            core.commit_play(ticket, trio.current_time())
        self._timer_lot.unpark_all()
        return Playback(ticket)

    async def play(
        self,
        audio: bytes,
        *,
        sample_rate: int | None = None,
        content_type: str = "raw",
        queue: bool = False,
    ) -> PlayResult:
        """Play a clip to the caller (non-streaming mode: ``bidirectionalAudio`` enabled,
        ``streaming`` off) and wait for its ``playDone``.

        ``audio`` is raw L16 mono at ``sample_rate`` (default :attr:`output_sample_rate`) or
        a WAV file (``content_type="wav"``), at most ``max_play_bytes``. ``queue=True`` plays
        it after the clips before it (at most ``max_queued_plays`` wait; one more waits for
        room); without, jambonz drops the queued clips it has not started.
        """
        playback = await self.send_play(
            audio, sample_rate=sample_rate, content_type=content_type, queue=queue
        )
        return await playback.wait()

    async def kill_audio(self) -> None:
        """Stop what plays now: jambonz drops the streamed audio it buffered (pending marks
        resolve ``CLEARED``) and cuts the clip playing (its ``playDone`` still comes; queued
        clips then play: send a clip without ``queue`` to drop those)."""
        self._check_open()
        await self._put(KILL_AUDIO)
        self._core.kill_audio(trio.current_time())
        self._timer_lot.unpark_all()

    async def clear_marks(self) -> None:
        """Forget every pending mark (they resolve ``CLEARED`` at once; jambonz itself sends
        nothing for them)."""
        self._check_open()
        await self._put(CLEAR_MARKS)
        self._core.clear_marks()

    async def disconnect(self) -> None:
        """Ask jambonz to end the listen verb (it then closes the socket and runs the verb's
        ``actionHook``)."""
        self._check_open()
        await self._put(DISCONNECT)

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Close from this side once what was sent is written (jambonz then ends the verb)."""
        if not self._closing:
            self._closing = True
            self._close_with = (code, reason)
            await self._out_send.aclose()
        await self._gone.wait()

    async def _room_for(self, has_room: Callable[[], bool]) -> None:
        while not has_room():
            self._check_open()
            await self._room_lot.park()
        self._check_open()

    def _wake_room(self) -> None:
        self._room_lot.unpark_all()

    # ------------------------------------------------------------------ tasks

    async def _read(self) -> None:
        """The reader: socket -> core, never waiting on the app."""
        socket = self._socket
        core = self._core
        frames_lot = self._frames_lot
        burst = 0
        try:
            while True:
                message = await socket.receive()
                try:
                    if isinstance(message, bytes):
                        if core.receive_audio(message) and not self._warned_drop:
                            self._warned_drop = True
                            self.log.warning(
                                "the audio is not read as fast as it comes: the oldest frames "
                                "are dropped (inbound_buffer_ms=%d; counted in "
                                "stats.frames_dropped)",
                                self.config.inbound_buffer_ms,
                            )
                        if frames_lot:
                            frames_lot.unpark_all()
                    else:
                        core.receive_text(message)
                        self._events_lot.unpark_all()
                except AudioProtocolError as exc:
                    self._trouble("protocol", "ignored a malformed frame: %s", exc)
                    if core.stats.protocol_errors >= self.config.max_protocol_errors:
                        self.log.warning(
                            "%d malformed frames: closing the socket (1008)",
                            core.stats.protocol_errors,
                        )
                        self._close_with = (1008, "too many malformed frames")
                        await socket.close(1008, "too many malformed frames")
                burst += 1
                if burst >= _READ_BURST:
                    burst = 0
                    await trio.lowlevel.checkpoint()
        except AudioStreamClosed as closed:
            self._socket_gone(closed.code, closed.reason)
        except Exception as exc:
            self.log.warning("audio socket failed: %r", exc)
            self._socket_gone(1006, repr(exc))

    async def _write(self) -> None:
        """The writer: the one task that writes to the socket."""
        socket = self._socket
        receive = self._out_recv.receive
        try:
            while True:
                try:
                    message = await receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    break
                self._queued -= 1
                self._writing = True
                self._writing_since = trio.current_time()
                if isinstance(message, Flush):
                    assert self._fast is not None
                    await self._fast.flush()
                else:
                    await socket.send(message)
                self._writing_since = math.inf
                self._writing = False
        except AudioStreamClosed:
            return
        finally:
            self._writing_since = math.inf
            self._writing = False
        if not self._gone.is_set():
            code, reason = self._close_with
            await socket.close(code, reason)

    async def _timer(self) -> None:
        """Resolves what jambonz should have reported by now; aborts a stalled writer."""
        core = self._core
        stall = self.config.send_stall_timeout
        while not self._gone.is_set():
            now = trio.current_time()
            core.expire(now)
            if now - self._writing_since >= stall:
                self.log.warning("a write to the audio socket stalled for %g s: aborting", stall)
                await self._socket.abort("send stalled")
                return
            deadline = min(core.next_deadline(), now + stall)
            with trio.move_on_at(deadline):
                await self._timer_lot.park()

    def _socket_gone(self, code: int | None, reason: str | None) -> None:
        if self._gone.is_set():
            return
        self.close_code = code
        self.close_reason = reason
        self._gone.set()
        self._core.close()
        self._out_recv.close()
        for lot in (self._frames_lot, self._events_lot, self._room_lot, self._timer_lot):
            lot.unpark_all()
        self.handler_scope.deadline = min(
            self.handler_scope.deadline, trio.current_time() + self.config.close_grace
        )
        stats = self._core.stats
        if stats.frames_dropped or stats.protocol_errors or stats.events_dropped:
            self.log.info(
                "audio socket closed (%s): %d frames in, %d dropped; %d events dropped; "
                "%d malformed frames",
                code,
                stats.frames_in,
                stats.frames_dropped,
                stats.events_dropped,
                stats.protocol_errors,
            )

    def _trouble(self, kind: str, message: str, *args: object) -> None:
        suppressed = self._limiter.allow(kind, trio.current_time())
        if suppressed is None:
            return
        if suppressed:
            message += f" ({suppressed} similar suppressed)"
        self.log.warning(message, *args)


class _Events:
    """The async iterator of :meth:`AudioStream.events`."""

    def __init__(self, stream: AudioStream) -> None:
        self._stream = stream

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> AudioEvent:
        try:
            return await self._stream.receive_event()
        except AudioStreamClosed:
            raise StopAsyncIteration from None


AudioHandler = Callable[[AudioStream], Awaitable[None]]
"""An ``async def handler(stream)`` serving one audio socket."""


async def run_stream(stream: AudioStream, handler: AudioHandler) -> None:
    """Run ``handler(stream)`` with the stream's reader, writer and timer; close the socket
    when the handler returns (1000) or raises (1011, logged with the call_sid). Never raises
    but for cancellation."""
    sid = stream.call_sid
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream._read, name=f"audio {sid} {stream.path} reader")
        nursery.start_soon(stream._write, name=f"audio {sid} {stream.path} writer")
        nursery.start_soon(stream._timer, name=f"audio {sid} {stream.path} timer")
        code, reason = 1000, None
        try:
            with stream.handler_scope:
                await handler(stream)
            if stream.handler_scope.cancelled_caught:
                stream.log.warning(
                    "the audio handler did not return within %g s of the socket closing: cancelled",
                    stream.config.close_grace,
                )
        except* AudioStreamClosed:
            stream.log.debug("the audio handler stopped: the socket closed")
        except* Exception as group:
            stream.log.error("the audio handler failed", exc_info=group)
            code, reason = 1011, "handler failed"
        with trio.CancelScope(shield=True):
            with trio.move_on_after(stream.config.close_grace):
                await stream.aclose(code, reason)
            if not stream.closed:
                await stream._socket.abort("the close did not complete")
        nursery.cancel_scope.cancel(reason="audio stream over")
