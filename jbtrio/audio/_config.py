"""Every bound of an audio stream, explicit, documented and configurable."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["JAMBONZ_MAX_MARKS", "JAMBONZ_MAX_PLAY_QUEUE", "AudioConfig"]

#: mod_audio_fork keeps at most 30 marks (not yet played out) per stream and silently
#: discards any beyond (``MAX_MARKS``, jambonz/freeswitch-modules ``lws_glue.cpp``).
JAMBONZ_MAX_MARKS = 30
#: feature-server's listen task queues ``playAudio`` clips sent with ``queuePlay`` and drops
#: any that arrive when 11 already wait (``MAX_PLAY_AUDIO_QUEUE_SIZE = 10``, ``listen.js``).
JAMBONZ_MAX_PLAY_QUEUE = 10


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _optional_positive(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0 or None, got {value!r}")


@attrs.frozen(kw_only=True)
class AudioConfig:
    """Settings of the audio streams an app serves (``listen``/``stream`` sockets).

    Inbound audio (jambonz -> app):

    - ``inbound_buffer_ms`` / ``inbound_buffer_frames``: audio received and not yet read by
      the app is kept up to this much (2,000 ms, 500 frames). Beyond it the **oldest** frames
      are dropped, counted in ``stream.stats.frames_dropped`` and logged (rate-limited).
      Why drop rather than stop reading the socket: a reader that waits for a slow consumer
      also stops seeing jambonz's ``mark``/``playDone``/``dtmf`` events and answering pings,
      and jambonz's own send buffer (2 s, ``MOD_AUDIO_FORK_BUFFER_SECS``) then overflows and
      drops audio anyway; for live audio the newest frames are worth most, and the latency
      a slow consumer sees stays bounded by the buffer.
    - ``event_buffer``: DTMF, mark and playDone events kept for :meth:`AudioStream.events`
      (256); beyond it the oldest is dropped, counted and logged. Marks and plays are
      resolved whether or not anyone reads the events.

    Outbound audio (app -> jambonz):

    - ``max_ahead_ms``: :meth:`AudioStream.send_audio` never lets more than this much audio
      (500 ms) be queued ahead of real time at jambonz: a producer faster than real time
      (a TTS engine) is paced, and chunks longer than half of it are sent in slices. jambonz
      buffers whatever it gets, without a bound; pacing keeps that buffer, the memory it
      costs the media server and what a barge-in must cut, small.
    - ``outbound_queue``: frames waiting for the stream's writer task (64).
    - ``max_play_bytes``: the largest clip :meth:`AudioStream.play` sends (480,000 bytes:
      base64 in JSON stays under 650 KiB, the most jambonz assembles from a fragmented text
      message).
    - ``max_queued_plays``: clips sent with ``queue=True`` not yet reported done (10,
      jambonz's own queue size); one more waits for room.
    - ``max_pending_marks``: marks not yet reported (30, jambonz's ``MAX_MARKS``; it
      discards marks beyond it without a word); one more waits for room.
    - ``report_grace``: jambonz does not always report a mark or a clip (marks need
      ``bidirectionalAudio.streaming``; clips need it off; some marks are lost after
      ``clearMarks``/``killAudio``). A mark or clip not reported this many seconds (3) after
      the stream's playout clock says it should have played resolves as ``UNREPORTED``, so no
      ``await`` hangs for ever. ``None``: wait until the stream ends.

    Hardening:

    - ``metadata_timeout``: the first frame (the JSON metadata) must arrive within this many
      seconds (10) or the socket is closed.
    - ``max_metadata_bytes`` (256 KiB; it carries the call's SIP headers) and
      ``max_text_bytes`` (64 KiB) bound inbound text frames; a bigger one is a protocol error.
    - ``max_protocol_errors``: malformed frames tolerated per stream (100) before the socket
      is closed with 1008; each is a typed error and a rate-limited log line.
    - ``log_interval`` / ``log_burst``: per stream and kind of trouble, at most ``log_burst``
      warnings per ``log_interval`` seconds; the next one says how many were suppressed.
    - ``send_stall_timeout``: a write to the socket that has not completed after this long
      (15 s) aborts the socket (sends are never cancelled: that corrupts the stream).
    - ``close_grace``: after the socket closed, the handler has this long (10 s) to return
      before it is cancelled.
    """

    inbound_buffer_ms: int = attrs.field(default=2000, validator=_positive)
    inbound_buffer_frames: int = attrs.field(default=500, validator=_positive)
    event_buffer: int = attrs.field(default=256, validator=_positive)
    max_ahead_ms: int = attrs.field(default=500, validator=_positive)
    outbound_queue: int = attrs.field(default=64, validator=_positive)
    max_play_bytes: int = attrs.field(default=480_000, validator=_positive)
    max_queued_plays: int = attrs.field(default=JAMBONZ_MAX_PLAY_QUEUE, validator=_positive)
    max_pending_marks: int = attrs.field(default=JAMBONZ_MAX_MARKS, validator=_positive)
    report_grace: float | None = attrs.field(default=3.0, validator=_optional_positive)
    metadata_timeout: float = attrs.field(default=10.0, validator=_positive)
    max_metadata_bytes: int = attrs.field(default=256 * 1024, validator=_positive)
    max_text_bytes: int = attrs.field(default=64 * 1024, validator=_positive)
    max_protocol_errors: int = attrs.field(default=100, validator=_positive)
    log_interval: float = attrs.field(default=10.0, validator=_positive)
    log_burst: int = attrs.field(default=5, validator=_positive)
    send_stall_timeout: float = attrs.field(default=15.0, validator=_positive)
    close_grace: float = attrs.field(default=10.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.max_ahead_ms < 40:
            raise ValueError(f"max_ahead_ms must be >= 40 (two frames), got {self.max_ahead_ms}")
