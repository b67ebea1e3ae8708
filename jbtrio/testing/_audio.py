"""The fake jambonz's side of one ``listen``/``stream`` audio socket.

:class:`FakeAudioLeg` connects to the verb's ``url`` with subprotocol ``audio.drachtio.org``
(trio-websocket, like the fake's call sockets), sends the metadata frame, then the caller's
audio at the real frame rate (20 ms frames, on an absolute schedule, so ``MockClock`` runs
it deterministically), DTMF when the verb passes it, and plays back what the app sends
(:mod:`._audio_playout`): streamed audio and marks in streaming mode, ``playAudio`` clips
with ``playDone`` otherwise. The leg ends the way the listen task does: ``maxLength``,
``finishOnKey``, the app's ``disconnect`` or close, or the caller's ``duration`` running
out; then jambonz closes the socket (1000). :func:`run_listen` is the entry point for the
fake's verb executor.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import wave
from collections import deque
from collections.abc import Mapping
from typing import Any, Literal

import attrs
import orjson
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from ._audio_playout import Clip, ClipQueue, MarkReport, StreamPlayout
from ._audio_spec import AudioScript, ListenSpec, listen_metadata
from ._config import JambonzConfig
from ._connect import Connector, classify, handshake, make_target

__all__ = ["AudioLegConfig", "FakeAudioLeg", "ListenOutcome", "run_listen"]

SUBPROTOCOL = "audio.drachtio.org"
#: The text frame the C module uses for mark events (its own spacing).
_MARK = '{{"type": "mark", "data": {{"name":{name}, "event": "{event}"}}}}'

logger = logging.getLogger("jbtrio.testing.audio")

EndReason = Literal[
    "duration", "max_length", "finish_on_key", "disconnect", "app_closed", "connect_failed"
]


@attrs.frozen
class AudioLegConfig:
    """jambonz's media side, as the fake plays it.

    ``frame_ms``: audio per binary frame (20). ``prebuffer_ms``: streamed audio buffered
    before playout starts (80). ``send_buffer_frames``: caller frames that may wait for a
    socket the app does not read before jambonz drops them (100: ``MOD_AUDIO_FORK_BUFFER_SECS``
    of 2 s). ``reproduce_clear_marks_bug``: see :class:`StreamPlayout`. ``max_heard_bytes``
    bounds :attr:`FakeAudioLeg.heard`.
    """

    frame_ms: int = 20
    prebuffer_ms: int = 80
    send_buffer_frames: int = 100
    reproduce_clear_marks_bug: bool = True
    max_heard_bytes: int = 16 * 1024 * 1024


@attrs.frozen
class ListenOutcome:
    """How the listen ended, and what its ``actionHook`` carries."""

    reason: EndReason
    seconds: float
    digits: str | None = None
    detail: str = ""

    def hook_data(self) -> dict[str, Any]:
        """The listen results jambonz adds to the call info in the ``actionHook``: the
        duration once the task was killed (not after a failed connect), the digit that
        ended it on ``finishOnKey``."""
        data: dict[str, Any] = {}
        if self.reason != "connect_failed":
            data["dial_call_duration"] = round(self.seconds)
        if self.digits is not None:
            data["digits"] = self.digits
        return data


class FakeAudioLeg:
    """jambonz's end of one audio socket (see the module docstring).

    Read :attr:`heard` (the streamed audio played to the caller), :attr:`marks` (mark
    events sent, timed), :attr:`clips` (clips played, with ``played`` seconds and ``cut``),
    :attr:`events` (every text frame jambonz sent, timed), :attr:`app_messages` (every text
    frame the app sent, parsed), :attr:`faults`; steer with :meth:`press` and :meth:`stop`.
    """

    def __init__(
        self,
        spec: ListenSpec,
        *,
        call_info: Mapping[str, Any],
        script: AudioScript | None = None,
        connector: Connector | None = None,
        config: JambonzConfig | None = None,
        leg: AudioLegConfig | None = None,
        log: logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self.spec = spec
        self.script = script or AudioScript()
        self.config = config or JambonzConfig()
        self.leg = leg or AudioLegConfig()
        self.metadata = listen_metadata(call_info, spec)
        sid = str(call_info.get("call_sid", "-"))
        self.log = log or logging.LoggerAdapter(logger, {"call_sid": sid})
        self._connector = connector
        rate = spec.output_rate or spec.sample_rate
        self.output_frame_bytes = rate * 2 * self.leg.frame_ms // 1000
        self.playout = StreamPlayout(
            frame_bytes=self.output_frame_bytes,
            prebuffer_bytes=rate * 2 * self.leg.prebuffer_ms // 1000,
            reproduce_clear_marks_bug=self.leg.reproduce_clear_marks_bug,
        )
        self.clip_queue = ClipQueue()
        self.heard = bytearray()
        self.heard_from: float | None = None
        """When the first streamed audio was played to the caller."""
        self.marks: list[tuple[float, MarkReport]] = []
        self.clips: list[Clip] = []
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.app_messages: list[tuple[float, dict[str, Any]]] = []
        self.binary_frames = 0
        self.binary_bytes = 0
        self.ignored_binary = 0
        self.frames_sent = 0
        self.frames_dropped = 0
        self.faults: list[str] = []
        self.close_code: int | None = None
        """The app's close code, when the app closed the socket."""
        self.outcome: ListenOutcome | None = None
        self._pressed: deque[str] = deque()
        self._done = trio.Event()
        self._written = trio.Event()
        self._started: float | None = None
        self._send, self._recv = trio.open_memory_channel[str | bytes](self.leg.send_buffer_frames)

    # ----------------------------------------------------------------- steering

    def press(self, digit: str) -> None:
        """The caller presses ``digit`` now (at the next frame)."""
        self._pressed.append(digit)

    def stop(self) -> None:
        """End the listen now (the caller hung up: the task is killed)."""
        self._finish("duration")

    @property
    def started_at(self) -> float | None:
        """When the socket opened (``None`` before, or if it never did)."""
        return self._started

    async def finished(self) -> ListenOutcome:
        """Wait for the end of the leg."""
        await self._done.wait()
        assert self.outcome is not None
        return self.outcome

    # ----------------------------------------------------------------- running

    async def run(self) -> ListenOutcome:
        """Connect, stream, play back, end; never raises (but for cancellation)."""
        target = make_target(self.spec.url, self._connector, self.spec.username, self.spec.password)
        config = attrs.evolve(
            self.config, subprotocol=SUBPROTOCOL, max_payload=max(self.config.max_payload, 1 << 20)
        )
        try:
            async with trio.open_nursery() as nursery:
                ws, stream = await handshake(nursery, config, target)
                self._started = trio.current_time()
                await ws.send_message(orjson.dumps(self.metadata).decode())
                name = f"fake-jambonz[{self.metadata.get('callSid')}].audio"
                nursery.start_soon(self._writer, ws, name=f"{name}.writer")
                nursery.start_soon(self._reader, ws, name=f"{name}.reader")
                nursery.start_soon(self._media, name=f"{name}.media")
                await self._done.wait()
                if self.close_code is None:
                    # What jambonz queued (a last DTMF, a playDone) goes out before the close.
                    self._send.close()
                    with trio.move_on_after(self.config.close_timeout):
                        await self._written.wait()
                        await ws.aclose(1000)
                await trio.aclose_forcefully(stream)
                nursery.cancel_scope.cancel(reason="listen over")
        except* Exception as group:
            if self.outcome is None:
                failure = classify(group)
                self.log.info("audio socket to %s failed: %s", self.spec.url, failure.reason)
                self._finish("connect_failed", detail=failure.reason)
        if self.outcome is None:  # cancelled from outside
            self._finish("duration", detail="cancelled")
        assert self.outcome is not None
        return self.outcome

    def _finish(self, reason: EndReason, *, digits: str | None = None, detail: str = "") -> None:
        if self.outcome is None:
            seconds = 0.0 if self._started is None else trio.current_time() - self._started
            self.outcome = ListenOutcome(reason, seconds, digits, detail)
        self._done.set()

    async def _writer(self, ws: WebSocketConnection) -> None:
        try:
            async for message in self._recv:
                try:
                    await ws.send_message(message)
                except ConnectionClosed:
                    return
        finally:
            self._written.set()

    def _send_text(self, data: dict[str, Any], text: str | None = None) -> None:
        text = text if text is not None else orjson.dumps(data).decode()
        try:
            self._send.send_nowait(text)
        except trio.WouldBlock:
            # The app stopped reading long ago; jambonz's text goes out after the audio.
            self.faults.append(f"jambonz event not sent (app not reading): {text[:80]}")
            return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        self.events.append((trio.current_time(), data))

    # ----------------------------------------------------------------- the media clock

    async def _media(self) -> None:
        """Every ``frame_ms``: a caller frame, due DTMF, a playout tick, clip progress."""
        spec, script, leg = self.spec, self.script, self.leg
        period = leg.frame_ms / 1000
        samples = spec.sample_rate * leg.frame_ms // 1000
        source = script.source
        limit = None if source.seconds is None else round(source.seconds * spec.sample_rate)
        dtmf = deque(sorted(script.dtmf))
        start = trio.current_time()
        tick = 0
        while not self._done.is_set():
            first = tick * samples
            if limit is not None and first >= limit:
                frame = bytes(2 * spec.channels * samples)
            else:
                frame = source.render(first, samples, spec.sample_rate, spec.channels)
            self._send_audio(frame)
            elapsed = tick * period
            while dtmf and dtmf[0][0] <= elapsed:
                self._dtmf(dtmf.popleft()[1])
            while self._pressed:
                self._dtmf(self._pressed.popleft())
            now = trio.current_time()
            if spec.bidirectional and spec.streaming:
                self._tick_playout(now)
            self._tick_clips(period, now)
            if spec.max_length is not None and elapsed >= spec.max_length:
                self._finish("max_length")
            elif elapsed >= script.duration:
                self._finish("duration")
            tick += 1
            await trio.sleep_until(start + tick * period)

    def _send_audio(self, frame: bytes) -> None:
        try:
            self._send.send_nowait(frame)
        except trio.WouldBlock:
            self.frames_dropped += 1  # jambonz's send buffer is full: it drops packets
            return
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        self.frames_sent += 1

    def _dtmf(self, digit: str) -> None:
        if self.spec.pass_dtmf:
            duration = str(self.script.dtmf_duration)  # drachtio reports it as a string
            self._send_text({"event": "dtmf", "dtmf": digit, "duration": duration})
        if self.spec.finish_on_key is not None and digit == self.spec.finish_on_key:
            self._finish("finish_on_key", digits=digit)

    def _tick_playout(self, now: float) -> None:
        played, reports = self.playout.tick()
        if played:
            if self.heard_from is None:
                self.heard_from = now
            if len(self.heard) + len(played) <= self.leg.max_heard_bytes:
                self.heard += played
        for report in reports:
            self.marks.append((now, report))
            text = _MARK.format(name=orjson.dumps(report.name).decode(), event=report.event)
            self._send_text({"type": "mark", "data": attrs.asdict(report)}, text)

    def _tick_clips(self, period: float, now: float) -> None:
        clip = self.clip_queue.current
        if clip is None:
            return
        if not clip.cut:
            clip.played = min(clip.seconds, clip.played + period)
        if clip.cut or clip.played >= clip.seconds:
            self.clip_queue.finish_current()
            self.clips.append(clip)
            ms = round(clip.played * 1000)
            # drachtio-fsmrf's play result (FreeSWITCH variables, as strings)
            data: dict[str, Any] = {} if clip.id is None else {"id": clip.id}
            data.update(
                playbackSeconds=str(ms // 1000),
                playbackMilliseconds=str(ms),
                playbackLastOffsetPos=str(round(clip.played * self.spec.sample_rate)),
            )
            self._send_text({"type": "playDone", "data": data})

    # ----------------------------------------------------------------- what the app sends

    async def _reader(self, ws: WebSocketConnection) -> None:
        while True:
            try:
                message = await ws.get_message()
            except ConnectionClosed as exc:
                self.close_code = exc.reason.code if exc.reason is not None else 1006
                self._finish("app_closed", detail=f"closed {self.close_code}")
                return
            if isinstance(message, bytes):
                self.binary_frames += 1
                self.binary_bytes += len(message)
                if self.spec.bidirectional and self.spec.streaming:
                    self.playout.receive_audio(message)
                else:
                    self.ignored_binary += 1
                continue
            self._on_text(message)

    def _on_text(self, text: str) -> None:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            self.faults.append(f"could not parse app message: {text[:80]}")
            return
        self.app_messages.append((trio.current_time(), data))
        kind = data.get("type")
        body = data.get("data")
        if kind == "playAudio":
            self._play_audio(body)
        elif kind == "killAudio":
            self.playout.kill()
            current = self.clip_queue.current
            if current is not None:
                current.cut = True
        elif kind == "mark":
            name = body.get("name") if isinstance(body, dict) else None
            if isinstance(name, str):
                self.playout.mark(name)
            else:
                self.faults.append("mark without a name")
        elif kind == "clearMarks":
            self.playout.clear_marks()
        elif kind == "disconnect":
            self._finish("disconnect")
        elif kind not in ("transcription", "transfer", "error", "json"):
            self.faults.append(f"unsupported msg type {kind!r}")

    def _play_audio(self, body: Any) -> None:
        spec = self.spec
        if not spec.bidirectional or spec.streaming:
            self.faults.append("playAudio ignored: needs bidirectionalAudio without streaming")
            return
        if not isinstance(body, dict):
            self.faults.append("playAudio without a data payload")
            return
        content, kind = body.get("audioContent"), body.get("audioContentType")
        seconds: float | None = None
        try:
            audio = base64.b64decode(content, validate=True) if isinstance(content, str) else None
        except (binascii.Error, ValueError):
            audio = None
        if audio is not None and kind == "raw":
            rate = body.get("sampleRate")
            # an unknown or missing rate is played as 16 kHz (the module's default file type)
            rate = rate if rate in (8000, 16000, 24000, 32000, 48000, 64000) else 16000
            seconds = len(audio) / (2 * rate)
        elif audio is not None and kind in ("wav", "wave"):
            try:
                with wave.open(io.BytesIO(audio)) as wav:
                    seconds = wav.getnframes() / wav.getframerate()
            except (wave.Error, EOFError, ZeroDivisionError):
                seconds = None
        if seconds is None:
            # listen.js then plays an undefined file: an error, and no playDone
            self.faults.append(f"playAudio with no playable audio ({kind!r})")
            return
        meta = {k: v for k, v in body.items() if k != "audioContent"}
        clip = Clip(body.get("id"), seconds, meta)
        self.clip_queue.play(clip, queued=bool(body.get("queuePlay")))


async def run_listen(
    verb: Mapping[str, Any],
    *,
    call_info: Mapping[str, Any],
    base_url: str | None = None,
    connector: Connector | None = None,
    username: str | None = None,
    password: str | None = None,
    script: AudioScript | None = None,
    config: JambonzConfig | None = None,
    leg: AudioLegConfig | None = None,
    log: logging.LoggerAdapter[logging.Logger] | None = None,
    started: trio.Event | None = None,
    legs: list[FakeAudioLeg] | None = None,
) -> ListenOutcome:
    """Execute a (normalised) ``listen``/``stream`` verb for the fake's executor.

    ``base_url``, ``connector``, ``username`` and ``password`` are the call's own socket's:
    a relative ``url`` reaches the app there with the call's credentials. The leg is
    appended to ``legs`` (when given) before it starts, for tests to watch. Returns the
    outcome; ``outcome.hook_data()`` is what the verb's ``actionHook`` adds to the call info.
    """
    spec = ListenSpec.from_verb(verb, base_url=base_url, username=username, password=password)
    audio_leg = FakeAudioLeg(
        spec,
        call_info=call_info,
        script=script,
        connector=connector,
        config=config,
        leg=leg,
        log=log,
    )
    if legs is not None:
        legs.append(audio_leg)
    if started is not None:
        started.set()
    return await audio_leg.run()
