"""A sans-IO model of the jambonz feature server's TTS token buffer, quirks included.

The fake jambonz in :mod:`jbtrio.testing` has to answer ``tts:tokens``, ``tts:flush`` and
``tts:clear`` the way the real feature server does, because apps are written against that
behaviour: they pause on ``full``, wait for ``stream_resumed`` and must ``tts:flush`` at the end
of a turn or the streaming ``say`` never finishes. Getting the flow control subtly "nicer" than
the real server would let app bugs pass our tests and fail in production, so this model keeps
the server's rough edges on purpose (listed on :class:`TtsStreamBuffer`).

The model is a pure state machine, clean-room from the behaviour documented in the protocol
notes (docs/jambonz.md, Streaming TTS). It does no I/O and reads no clock: every method takes
the current time as a float ``now`` (seconds, any monotonic origin) and returns the list of
:data:`TtsOutput` events it produced, in the order the real server would produce them. A Trio
driver calls :meth:`TtsStreamBuffer.tick` when :meth:`TtsStreamBuffer.next_deadline` is reached.

Lengths are counted the way the server's JavaScript counts them: in UTF-16 code units, so a
character outside the Basic Multilingual Plane (most emoji) counts as 2 towards every
threshold. Cuts never split such a character.
"""

from __future__ import annotations

import enum
import re
from typing import Final, Literal, TypeAlias

import attrs

__all__ = [
    "DEFAULT_HIGH_WATER",
    "DEFAULT_IDLE_CUT",
    "DEFAULT_LOW_WATER",
    "DEFAULT_MAX_CHUNK",
    "REASON_FULL",
    "REASON_MISSING_TOKENS",
    "StreamEmpty",
    "StreamState",
    "StreamingEvent",
    "StreamingEventType",
    "TokensResult",
    "TtsOutput",
    "TtsStreamBuffer",
    "VendorClear",
    "VendorFlush",
    "VendorText",
    "connection_failed_reason",
    "utf16_len",
]

DEFAULT_HIGH_WATER: Final = 1000
DEFAULT_LOW_WATER: Final = 200
DEFAULT_MAX_CHUNK: Final = 1800
DEFAULT_IDLE_CUT: Final = 1.0

REASON_FULL: Final = "full"
REASON_MISSING_TOKENS: Final = "missing tokens"

StreamingEventType: TypeAlias = Literal[
    "stream_open", "stream_paused", "stream_resumed", "stream_closed", "user_interruption"
]


def connection_failed_reason(vendor: str) -> str:
    """The ``reason`` of a ``tts:tokens-result`` after the vendor connection failed."""
    return f"connection to {vendor} failed"


def utf16_len(text: str) -> int:
    """Length of ``text`` as JavaScript's ``String.length`` reports it (UTF-16 code units)."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _prefix_within(text: str, units: int) -> int:
    """Largest index ``i`` such that ``text[:i]`` is at most ``units`` UTF-16 code units."""
    if text.isascii():
        return min(len(text), units)
    used = 0
    for index, ch in enumerate(text):
        width = 2 if ord(ch) > 0xFFFF else 1
        if used + width > units:
            return index
        used += width
    return len(text)


# A sentence ends at ". ! ?", the Arabic question mark or the Urdu full stop, followed by
# whitespace or the end of the buffered text (a period right after a digit does not count:
# "3." may become "3.5"); at the CJK full stop, exclamation and question marks whatever
# follows; or at a blank line. The whitespace right after the mark travels with the sentence
# so the next chunk does not start with it.
_SENTENCE_END: Final = re.compile(
    r"(?P<mark>"
    r"(?<!\d)\.(?=\s|\Z)"
    r"|[!?\u061f\u06d4](?=\s|\Z)"
    r"|[\u3002\uff01\uff1f]"
    r"|\n[^\S\n]*\n"
    r")\s*"
)


@attrs.frozen(slots=True)
class TokensResult:
    """The ``tts:tokens-result`` the server sends for one ``tts:tokens`` command.

    ``id`` is echoed exactly as the app sent it; ``reason`` is set only when ``status`` is
    ``"failed"``.
    """

    id: object
    status: Literal["ok", "failed"]
    reason: str | None = None

    def as_data(self) -> dict[str, object]:
        """The ``data`` object of the ``tts:tokens-result`` message."""
        data: dict[str, object] = {"id": self.id, "status": self.status}
        if self.reason is not None:
            data["reason"] = self.reason
        return data


@attrs.frozen(slots=True)
class StreamingEvent:
    """A ``tts:streaming-event`` notification to the app (never acked)."""

    event_type: StreamingEventType

    def as_data(self) -> dict[str, object]:
        """The ``data`` object of the ``tts:streaming-event`` message."""
        return {"event_type": self.event_type}


@attrs.frozen(slots=True)
class VendorText:
    """A chunk of text handed to the TTS vendor; the concatenation is what gets spoken."""

    text: str


@attrs.frozen(slots=True)
class VendorFlush:
    """The vendor is told to synthesize everything it has been sent (end of a turn)."""


@attrs.frozen(slots=True)
class VendorClear:
    """The vendor is told to stop and drop queued audio (``tts:clear`` or barge-in)."""


@attrs.frozen(slots=True)
class StreamEmpty:
    """The vendor reports the stream empty after a flush: a streaming ``say`` completes now."""


TtsOutput: TypeAlias = (
    TokensResult | StreamingEvent | VendorText | VendorFlush | VendorClear | StreamEmpty
)


class StreamState(enum.Enum):
    """Where the vendor streaming connection is; decides what tokens, flush and clear do."""

    #: No stream: tokens are buffered for the next one, flush is dropped, clear is a no-op.
    CLOSED = "closed"
    #: The vendor connection is being set up: tokens buffered, flush queued, clear a no-op.
    CONNECTING = "connecting"
    #: Text flows to the vendor.
    CONNECTED = "connected"
    #: Setting up the vendor connection failed: tokens are rejected until a new stream.
    FAILED = "failed"


class TtsStreamBuffer:
    """The per-call token buffer between ``tts:*`` commands and the streaming TTS vendor.

    Why a separate object: the buffer's rules (high/low water, sentence chunking, idle cut,
    deferred flush) are intricate and full of observed quirks, so they live here, testable
    without sockets or clocks, and the fake jambonz only routes messages to it.

    Life cycle of the vendor connection: :meth:`start` (connecting) → :meth:`open`
    (``stream_open``, buffered text starts flowing) → :meth:`close` (``stream_closed``) or
    :meth:`connection_failed`. Tokens sent while no stream exists are buffered under the same
    limit and flow when one opens.

    Behaviour decided where the protocol notes are silent (the real server's timing is only
    observed, not specified):

    * Text leaves the buffer on :meth:`tokens`, :meth:`open` and :meth:`tick`. Each feed sends
      the text up to the *last* sentence boundary within the first ``max_chunk`` units as one
      chunk, and repeats. ``stream_resumed`` is checked after each such chunk, idle cuts
      included.
    * The idle cut fires ``idle_cut`` seconds after the last feed that left text waiting (that is,
      after the last accepted tokens, or after :meth:`open`). It sends the text up to and
      including the last whitespace; a trailing word with no whitespace after it waits for more
      tokens or a flush. Text longer than ``max_chunk`` with no whitespace at all is cut hard.
      After an idle cut the timer is disarmed until new tokens arrive.
    * :meth:`flush` with text buffered only records a marker; the text before it is pushed
      (regardless of boundaries, no ``stream_resumed``) and the vendor flushed at the next
      *accepted* :meth:`tokens` call or at the idle deadline, whichever is first: the armed
      idle deadline if there is one, else ``now + idle_cut``. With nothing buffered the vendor
      is flushed at once. Markers queued while connecting are processed when the stream opens.
    * :class:`StreamEmpty` follows a :class:`VendorFlush` that leaves no text and no marker in
      the buffer.
    * :meth:`close` and :meth:`connection_failed` empty the buffer and reset the full flag;
      both emit ``stream_closed``. :meth:`user_interruption` always emits ``user_interruption``
      but, like :meth:`clear`, only touches the buffer while connected.
    * Only ``None`` counts as a missing ``id`` or ``tokens``; ``0`` and ``""`` are values.
    """

    __slots__ = (
        "_deadline",
        "_failed_vendor",
        "_full",
        "_high_water",
        "_idle_cut",
        "_low_water",
        "_marks",
        "_max_chunk",
        "_spoken",
        "_state",
        "_text",
    )

    def __init__(
        self,
        *,
        high_water: int = DEFAULT_HIGH_WATER,
        low_water: int = DEFAULT_LOW_WATER,
        max_chunk: int = DEFAULT_MAX_CHUNK,
        idle_cut: float = DEFAULT_IDLE_CUT,
    ) -> None:
        if high_water < 1:
            raise ValueError(f"high_water must be at least 1, got {high_water}")
        if not 0 <= low_water < high_water:
            raise ValueError(
                f"low_water must be in [0, high_water), got {low_water} (high {high_water})"
            )
        if max_chunk < 2:
            raise ValueError(f"max_chunk must be at least 2, got {max_chunk}")
        if not idle_cut > 0:
            raise ValueError(f"idle_cut must be positive, got {idle_cut}")
        self._high_water = high_water
        self._low_water = low_water
        self._max_chunk = max_chunk
        self._idle_cut = idle_cut
        self._state = StreamState.CLOSED
        self._failed_vendor = ""
        self._text = ""
        # Flush markers as offsets into ``_text``, ascending: everything before the offset is
        # pushed, then the vendor is flushed.
        self._marks: list[int] = []
        self._full = False
        self._deadline: float | None = None
        self._spoken: list[str] = []

    # ----------------------------------------------------------------- read-only state

    @property
    def state(self) -> StreamState:
        """Where the vendor connection is."""
        return self._state

    @property
    def is_connected(self) -> bool:
        """Whether text currently flows to the vendor."""
        return self._state is StreamState.CONNECTED

    @property
    def is_full(self) -> bool:
        """The server's "full" flag: set by the first ``full`` rejection, see ``stream_paused``."""
        return self._full

    @property
    def buffered_text(self) -> str:
        """The text accepted but not yet handed to the vendor."""
        return self._text

    @property
    def buffered_chars(self) -> int:
        """Length of :attr:`buffered_text` in UTF-16 code units (what the limits compare)."""
        return utf16_len(self._text)

    @property
    def pending_flushes(self) -> int:
        """Flush markers recorded but not yet carried out."""
        return len(self._marks)

    @property
    def spoken_text(self) -> str:
        """Everything ever handed to the vendor, concatenated in order."""
        return "".join(self._spoken)

    @property
    def high_water(self) -> int:
        """Rejection threshold: ``buffered + len(tokens)`` above this is ``full``."""
        return self._high_water

    @property
    def low_water(self) -> int:
        """``stream_resumed`` is sent once a full buffer drains to this or less."""
        return self._low_water

    @property
    def max_chunk(self) -> int:
        """Longest chunk handed to the vendor at once."""
        return self._max_chunk

    @property
    def idle_cut(self) -> float:
        """Seconds of lull after which text without a sentence boundary is cut at a word."""
        return self._idle_cut

    def next_deadline(self) -> float | None:
        """When :meth:`tick` has something to do, or None if no timer is armed."""
        return self._deadline

    # ----------------------------------------------------------------- stream life cycle

    def start(self, now: float) -> list[TtsOutput]:
        """The vendor connection starts connecting (a streaming ``say`` or ``ttsStream``)."""
        if self._state in (StreamState.CLOSED, StreamState.FAILED):
            self._state = StreamState.CONNECTING
            self._failed_vendor = ""
        return []

    def open(self, now: float) -> list[TtsOutput]:
        """The vendor connection is up: ``stream_open``, then buffered text starts flowing."""
        if self._state is StreamState.CONNECTED:
            return []
        self._state = StreamState.CONNECTED
        self._failed_vendor = ""
        out: list[TtsOutput] = [StreamingEvent("stream_open")]
        self._feed(out, now, idle=False)
        return out

    def connection_failed(self, now: float, vendor: str) -> list[TtsOutput]:
        """Setting up the vendor connection failed: buffer dropped, later tokens rejected."""
        self._state = StreamState.FAILED
        self._failed_vendor = vendor
        self._discard()
        return [StreamingEvent("stream_closed")]

    def close(self, now: float) -> list[TtsOutput]:
        """The stream is killed (say replaced, session over): buffer dropped, ``stream_closed``.

        Tokens sent afterwards are buffered until a new stream opens.
        """
        self._state = StreamState.CLOSED
        self._failed_vendor = ""
        self._discard()
        return [StreamingEvent("stream_closed")]

    # ----------------------------------------------------------------- app commands

    def tokens(self, id: object, tokens: str | None, now: float) -> list[TtsOutput]:
        """Handle ``tts:tokens`` ``{"id": id, "tokens": tokens}`` (None means the key is absent).

        Returns whatever the feed produced, then the :class:`TokensResult`; on the first
        rejection while not already full, ``stream_paused`` comes *before* the result.
        """
        if id is None:
            return []
        if tokens is None:
            return [TokensResult(id, "failed", REASON_MISSING_TOKENS)]
        if self._state is StreamState.FAILED:
            return [TokensResult(id, "failed", connection_failed_reason(self._failed_vendor))]
        if not self._text and not tokens.strip():
            return [TokensResult(id, "ok")]
        if utf16_len(self._text) + utf16_len(tokens) > self._high_water:
            out: list[TtsOutput] = []
            if not self._full:
                self._full = True
                out.append(StreamingEvent("stream_paused"))
            out.append(TokensResult(id, "failed", REASON_FULL))
            return out
        self._text += tokens
        out = []
        if self._state is StreamState.CONNECTED:
            self._feed(out, now, idle=False)
        out.append(TokensResult(id, "ok"))
        return out

    def flush(self, now: float) -> list[TtsOutput]:
        """Handle ``tts:flush``: push everything buffered so far, then flush the vendor.

        Dropped when there is no stream (closed or failed). See the class docs for when the
        push happens.
        """
        if self._state is StreamState.CONNECTED:
            if not self._text and not self._marks:
                return [VendorFlush(), StreamEmpty()]
            self._marks.append(len(self._text))
            if self._deadline is None:
                self._deadline = now + self._idle_cut
            return []
        if self._state is StreamState.CONNECTING:
            self._marks.append(len(self._text))
        return []

    def clear(self, now: float) -> list[TtsOutput]:
        """Handle ``tts:clear``: only while connected, drop the buffer and the full flag.

        No ``stream_resumed`` is sent: the app has to reset its own paused state.
        """
        if self._state is not StreamState.CONNECTED:
            return []
        self._discard()
        return [VendorClear()]

    def user_interruption(self, now: float) -> list[TtsOutput]:
        """Barge-in killed playback: clear as :meth:`clear` does, then ``user_interruption``."""
        out = self.clear(now)
        out.append(StreamingEvent("user_interruption"))
        return out

    def tick(self, now: float) -> list[TtsOutput]:
        """Run the timer (idle cut and deferred flush push) if :meth:`next_deadline` is due."""
        if self._deadline is None or now < self._deadline:
            return []
        self._deadline = None
        out: list[TtsOutput] = []
        if self._state is StreamState.CONNECTED:
            self._feed(out, now, idle=True)
        return out

    # ----------------------------------------------------------------- internals

    def _discard(self) -> None:
        self._text = ""
        self._marks.clear()
        self._full = False
        self._deadline = None

    def _send(self, out: list[TtsOutput], cut: int) -> None:
        chunk = self._text[:cut]
        self._text = self._text[cut:]
        self._marks = [mark - cut for mark in self._marks]
        self._spoken.append(chunk)
        out.append(VendorText(chunk))

    def _feed(self, out: list[TtsOutput], now: float, *, idle: bool) -> None:
        while True:
            if self._marks and self._marks[0] == 0:
                self._marks.pop(0)
                out.append(VendorFlush())
                if not self._text and not self._marks:
                    out.append(StreamEmpty())
                continue
            if not self._text:
                break
            if self._marks:
                # Pushed because of a flush: boundaries do not matter and, quirk kept on
                # purpose, draining this way never sends stream_resumed nor clears the flag.
                self._send(out, self._forced_cut(self._text[: self._marks[0]]))
                continue
            cut = self._sentence_cut(self._text)
            if cut is None and idle:
                cut = self._word_cut(self._text)
            if cut is None:
                break
            self._send(out, cut)
            if self._full and utf16_len(self._text) <= self._low_water:
                self._full = False
                out.append(StreamingEvent("stream_resumed"))
        if self._text and not idle:
            self._deadline = now + self._idle_cut
        else:
            self._deadline = None

    def _sentence_cut(self, text: str) -> int | None:
        limit = _prefix_within(text, self._max_chunk)
        cut: int | None = None
        for match in _SENTENCE_END.finditer(text):
            if match.end("mark") > limit:
                break
            cut = min(match.end(), limit)
        return cut

    def _word_cut(self, text: str) -> int | None:
        limit = _prefix_within(text, self._max_chunk)
        for index in range(limit - 1, -1, -1):
            if text[index].isspace():
                return index + 1
        return limit if limit < len(text) else None

    def _forced_cut(self, segment: str) -> int:
        limit = _prefix_within(segment, self._max_chunk)
        if limit == len(segment):
            return limit
        cut = self._sentence_cut(segment)
        if cut is None:
            cut = self._word_cut(segment)
        return limit if cut is None else cut
