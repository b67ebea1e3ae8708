"""Audio handlers by path, the live streams by call_sid, and serving one accepted socket.

:class:`AudioRoutes` is what :class:`jbtrio.App` holds for its audio side: ``@routes.audio(
"/path")`` registers a handler, :meth:`AudioRoutes.audio_url` gives the URL a ``listen``
verb points at, :meth:`AudioRoutes.check` is the upgrade check (404/503) and
:meth:`AudioRoutes.serve` runs one socket the listener accepted with subprotocol
``audio.drachtio.org``, start to end, never raising.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import trio

from ._config import AudioConfig
from ._core import LogLimiter
from ._errors import AudioProtocolError, AudioStreamClosed
from ._socket import AudioSocket
from ._stream import AudioHandler, AudioStream, run_stream
from ._wire import parse_metadata

__all__ = ["AudioRoutes"]

log = logging.getLogger("jbtrio.audio")


def _normalise(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"audio paths start with '/', got {path!r}")
    return path.rstrip("/") or "/"


class AudioRoutes:
    """Audio handlers mounted at paths, and the streams they serve.

    Routing is by longest path prefix (``/echo`` serves ``/echo/abc``), as for call flows.
    ``max_streams`` bounds the streams served at once: the upgrade of one more is refused
    with 503 (:meth:`check`). Keep the audio paths apart from the call paths: jambonz tells
    the two sockets apart by subprotocol, but a listener may route by path first.
    """

    def __init__(self, *, config: AudioConfig | None = None, max_streams: int = 10_000) -> None:
        if max_streams <= 0:
            raise ValueError(f"max_streams must be > 0, got {max_streams!r}")
        self.config = config or AudioConfig()
        self.max_streams = max_streams
        self._handlers: dict[str, AudioHandler] = {}
        self._live: dict[str, list[AudioStream]] = {}
        self._active = 0
        self._arrivals = trio.lowlevel.ParkingLot()
        self._limiter = LogLimiter(self.config.log_interval, self.config.log_burst)

    # ------------------------------------------------------------------ registration

    def mount(self, path: str, handler: AudioHandler) -> None:
        """Serve audio sockets opened on ``path`` (or below it) with ``handler(stream)``."""
        path = _normalise(path)
        if path in self._handlers:
            raise ValueError(f"an audio handler is already mounted at {path}")
        self._handlers[path] = handler

    def audio(self, path: str) -> Callable[[AudioHandler], AudioHandler]:
        """Decorator form of :meth:`mount`: ``@routes.audio("/echo")``."""

        def register(handler: AudioHandler) -> AudioHandler:
            self.mount(path, handler)
            return handler

        return register

    @property
    def paths(self) -> tuple[str, ...]:
        """The mounted paths."""
        return tuple(self._handlers)

    def audio_url(self, path: str, base: str | None = None) -> str:
        """The ``url`` for a ``listen``/``stream`` verb that reaches the handler at ``path``.

        Without ``base`` it is the path itself: jambonz makes a relative URL absolute with
        the scheme, host and port of the app's own websocket URL and sends the app's
        credentials with it (feature-server ``CallSession.normalizeUrl``). With ``base``
        (``"wss://audio.example.com"``) it is ``base`` + ``path``.
        """
        normalised = _normalise(path)
        if self._match(normalised) is None:
            raise ValueError(f"no audio handler is mounted at {path}")
        return normalised if base is None else base.rstrip("/") + normalised

    # ------------------------------------------------------------------ routing

    def resolve(self, path: str) -> AudioHandler | None:
        """The handler for a request ``path`` (longest matching prefix), or ``None``."""
        return self._match(path)

    def _match(self, path: str) -> AudioHandler | None:
        path = path.rstrip("/") or "/"
        best: str | None = None
        for mount in self._handlers:
            if (mount in ("/", path) or path.startswith(mount + "/")) and (
                best is None or len(mount) > len(best)
            ):
                best = mount
        return self._handlers[best] if best is not None else None

    def check(self, path: str) -> tuple[int, str] | None:
        """The HTTP status and reason to refuse an upgrade on ``path`` with, or ``None`` to
        accept it: 404 when no handler is mounted there, 503 at ``max_streams``."""
        if self.resolve(path) is None:
            return 404, f"no audio handler mounted at {path}"
        if self._active >= self.max_streams:
            return 503, f"too many audio streams (max_streams={self.max_streams})"
        return None

    # ------------------------------------------------------------------ live streams

    @property
    def active(self) -> int:
        """Streams being served now."""
        return self._active

    def streams(self, call_sid: str) -> tuple[AudioStream, ...]:
        """The live streams of a call (a call can run more than one ``listen``)."""
        return tuple(self._live.get(call_sid, ()))

    async def wait_stream(self, call_sid: str, path: str | None = None) -> AudioStream:
        """The call's live stream (on ``path``, if given), waiting for jambonz to open it.

        This is how a call flow that yielded a ``Listen`` reaches its stream; wrap it in
        ``trio.move_on_after`` (jambonz may fail to connect).
        """
        while True:
            for stream in self._live.get(call_sid, ()):
                if path is None or stream.path == path:
                    await trio.lowlevel.checkpoint()
                    return stream
            await self._arrivals.park()

    @property
    def live(self) -> Mapping[str, tuple[AudioStream, ...]]:
        """Every live stream, by call_sid."""
        return {sid: tuple(streams) for sid, streams in self._live.items()}

    def _register(self, stream: AudioStream) -> None:
        self._live.setdefault(stream.call_sid, []).append(stream)
        self._arrivals.unpark_all()

    def _unregister(self, stream: AudioStream) -> None:
        streams = self._live.get(stream.call_sid)
        if streams is None:
            return
        if stream in streams:
            streams.remove(stream)
        if not streams:
            del self._live[stream.call_sid]

    # ------------------------------------------------------------------ serving

    async def serve(self, socket: AudioSocket, path: str, *, remote: str = "?") -> None:
        """Serve one accepted audio socket on ``path`` until it closes; never raises (but for
        cancellation). The first frame must be the metadata, within ``metadata_timeout``;
        then the handler runs with the stream (see :func:`run_stream`)."""
        self._active += 1
        try:
            handler = self.resolve(path)
            if handler is None or self._active > self.max_streams:
                why = "no handler" if handler is None else "too many audio streams"
                self._warn("refused", "audio socket on %s from %s refused: %s", path, remote, why)
                await socket.close(1008 if handler is None else 1013, why)
                return
            stream = await self._open(socket, path, remote)
            if stream is None:
                return
            self._register(stream)
            try:
                await run_stream(stream, handler)
            finally:
                self._unregister(stream)
        except* Exception as group:
            log.error("audio connection on %s failed", path, exc_info=group)
        finally:
            self._active -= 1

    async def _open(self, socket: AudioSocket, path: str, remote: str) -> AudioStream | None:
        config = self.config
        first: str | bytes | None = None
        with trio.move_on_after(config.metadata_timeout):
            try:
                first = await socket.receive()
            except AudioStreamClosed:
                return None
        try:
            if first is None:
                raise AudioProtocolError(f"no metadata within {config.metadata_timeout:g} s")
            if isinstance(first, bytes):
                raise AudioProtocolError("the first frame is binary, not the JSON metadata")
            metadata = parse_metadata(first, config.max_metadata_bytes)
        except AudioProtocolError as exc:
            self._warn("metadata", "audio socket on %s from %s closed: %s", path, remote, exc)
            await socket.close(1008, "metadata expected")
            return None
        return AudioStream(socket, metadata, path=path, config=config)

    def _warn(self, kind: str, message: str, *args: object) -> None:
        suppressed = self._limiter.allow(kind, trio.current_time())
        if suppressed is None:
            return
        if suppressed:
            message += f" ({suppressed} similar suppressed)"
        log.warning(message, *args)
