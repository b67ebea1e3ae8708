"""The errors of jbtrio's audio streams, split the h11 way.

:class:`AudioProtocolError` means *jambonz* (or whatever is on the other end of the socket)
sent something that is not valid ``audio.drachtio.org``; the stream logs it (rate-limited, with
the call_sid), counts it and goes on. :class:`AudioLimitError` means *this program* asked for
something over a bound (a clip too big to play, an odd number of PCM bytes). Both are
:class:`ValueError` subclasses. :class:`AudioStreamClosed` is raised by a send on a stream
that is over.
"""

from __future__ import annotations

from .._errors import JbtrioError

__all__ = ["AudioLimitError", "AudioProtocolError", "AudioStreamClosed"]

_PREVIEW = 120


class AudioProtocolError(JbtrioError, ValueError):
    """An inbound frame that is not what jambonz sends: ``reason`` says what is wrong,
    ``raw`` is (a preview of) the frame."""

    def __init__(self, reason: str, raw: str | bytes | None = None) -> None:
        self.reason = reason
        self.raw = raw
        super().__init__(reason)

    def __str__(self) -> str:
        if self.raw is None:
            return self.reason
        preview = self.raw if isinstance(self.raw, str) else repr(self.raw)
        if len(preview) > _PREVIEW:
            preview = preview[:_PREVIEW] + "..."
        return f"{self.reason} (in {preview!r})"


class AudioLimitError(JbtrioError, ValueError):
    """The app asked for more than a configured bound allows (or for malformed PCM)."""


class AudioStreamClosed(JbtrioError):
    """The audio socket is closed: nothing more can be sent on it.

    ``code`` is the websocket close code (1000 normal, 1006 dropped, ...).
    """

    def __init__(self, code: int | None = None, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason
        text = "the audio stream is closed"
        if code is not None:
            text += f" ({code}{', ' + reason if reason else ''})"
        super().__init__(text)
