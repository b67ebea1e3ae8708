"""A socket's per-message path, compiled in the compiled build: the read poller's watcher
of a raw stream (:class:`StreamEvents`), the read and the handing on of the usual message
from the poller's task (:func:`read_inline`, :func:`read_now`), a read parsed (:func:`feed`)
and a message taken from the queue (:func:`take`).

Plain functions and a small native class, not methods of the stream and the socket, so
that the compiled build compiles them (those classes stay interpreted: the stream is a
``trio.abc.Stream``, the socket's parts are subclassed and have async code), and so that a
message read by the poller costs no interpreted call at all on the socket's side, where the
methods took six (issue 23).
They read and set the stream's and the socket's own slots, and call their methods for
anything but the usual message, so every check, bound and error path stays theirs.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Final, Protocol

from websockets.protocol import State
from websockets.server import ServerProtocol

from ._poller import HANG_UP, OnEvent, ReadPoller
from ._sansio_codec import whole_text_frames
from ._sansio_engine import Engine
from ._transport_api import FEED_SLICE
from ._wakeups import Wakeup

__all__ = [
    "READ_SIZE",
    "YIELD_EVERY",
    "Parser",
    "Reader",
    "Stream",
    "StreamEvents",
    "feed",
    "read_inline",
    "read_now",
    "take",
]

#: Bytes asked of the stream per read: a few jambonz messages, or one large one in pieces.
READ_SIZE: Final = 65536

#: Messages :meth:`~._sansio_reading.Reading.receive` may return from its queue before it
#: yields once: a flood of tiny frames parsed from one slice must not keep every other call
#: waiting (and no more than this many are handed on by :func:`read_inline` in a row).
YIELD_EVERY: Final = 64

_HANG_UP: Final = HANG_UP
_CLOSED: Final = State.CLOSED


# What these functions use of the raw stream and of the socket's reading, as protocols: the
# stream's and the socket's modules import this one (issue 23).


class Stream(Protocol):
    """What is used here of :class:`~._rawstream.RawSocketStream` (its slots)."""

    _hung_up: bool
    _fresh: bool
    _maybe_more: bool

    @property
    def closed(self) -> bool: ...

    @property
    def socket(self) -> socket.socket: ...

    @property
    def inline(self) -> Reader | None: ...

    def wake(self) -> None: ...


class Parser(Protocol):
    """What is used here of :class:`~._sansio_frames.FrameParsing` (its slots, and its
    general parser)."""

    _engine_only: bool

    @property
    def _protocol(self) -> Engine: ...

    @property
    def _rest(self) -> bytearray | None: ...

    @property
    def _fragment_opcode(self) -> int | None: ...

    @property
    def _max_size(self) -> int: ...

    @property
    def _messages(self) -> list[str | bytes]: ...

    def _engine(self) -> ServerProtocol: ...

    def _take_events(self) -> None: ...

    def _parse(self, data: bytes | bytearray) -> None: ...


class Reader(Parser, Protocol):
    """What is used here of :class:`~._sansio_reading.Reading` (its slots) besides its
    frame parsing."""

    _taken: int
    _handed: bytes | None
    _settle_due: bool
    _handed_error: Exception | None

    @property
    def _pumped(self) -> Stream | None: ...

    @property
    def _consumer(self) -> Callable[[str | bytes], None] | None: ...


class StreamEvents(OnEvent):
    """The read poller's watcher of a raw stream (registered by
    :meth:`~._rawstream.RawSocketStream.use_poller`): notes a hang-up, or reads and hands
    on for the reader parked in :meth:`~._rawstream.RawSocketStream.readable`
    (:func:`read_inline`), or wakes the reader. It holds what never changes: the stream,
    its wake-up and the poller it is registered with (the stream's ``_poller``)."""

    __slots__ = ("poller", "readable", "stream")

    def __init__(self, stream: Stream, readable: Wakeup, poller: ReadPoller) -> None:
        self.stream = stream
        self.readable = readable
        self.poller = poller

    def on_event(self, flags: int) -> bool:
        """True when it read something."""
        stream = self.stream
        if flags & _HANG_UP:
            stream._hung_up = True
        else:
            reader = stream.inline
            # Only while the reader is parked in :meth:`readable` (a cancelled wait is not:
            # Trio clears the waiter as it cancels) and the poller works.
            if reader is not None and self.readable.waiting and not self.poller.failed:
                return read_inline(reader)
        self.readable.set()
        return False


def read_now(stream: Stream) -> bytes | None:
    """What has arrived on ``stream``, without waiting (``None``: nothing yet), with a stream
    that broke or was closed read as its end (``b""``), as a read of the socket's reader
    takes it. Not a checkpoint."""
    if stream.closed:
        return b""
    stream._fresh = False
    try:
        data = stream.socket.recv(READ_SIZE)
    except BlockingIOError:
        stream._maybe_more = False
        return None
    except OSError:
        return b""
    stream._maybe_more = len(data) == READ_SIZE
    return data


def read_inline(reader: Reader) -> bool:
    """The read poller's callback while ``reader`` waits in
    :meth:`~._sansio_reading.Reading.receive` (from the poller's task; never raises): read
    what came; hand the messages of a read of whole frames to ``deliver`` from here, or leave
    the reader what else there is to do and wake it. True when something was read."""
    stream = reader._pumped
    deliver = reader._consumer
    if stream is None or deliver is None:  # the pump ended: the reader reads
        return False
    data = read_now(stream)
    if data is None:
        return False  # nothing to read after all (nothing to wake the reader for)
    if not data or len(data) > FEED_SLICE:
        reader._handed = data  # the end of the stream, or a read to parse in slices
        stream.wake()
        return True
    # feed parses the usual read, whole text frames, with one plain function (issue 23)
    if feed(reader, data):
        reader._settle_due = True  # a pong or a close to write, or the connection over
    elif len(messages := reader._messages) <= YIELD_EVERY:
        try:
            while messages:
                deliver(take(reader))
        except Exception as exc:  # the reader raises it, as from its own deliver
            reader._handed_error = exc
        else:
            return True
    # else: more messages than the reader returns in a row: it returns them itself
    stream.wake()
    return True


def feed(parser: Parser, data: bytes | bytearray) -> bool:
    """Parse ``data`` (``b""``: the end of the stream) into ``parser``'s queue; True when
    :meth:`~._sansio_reading.Reading._settle` must run: something to write (a pong, a close)
    or the connection is over. Not a coroutine, so that a message that needs neither costs
    none (issue 23)."""
    if not data:
        # A partial frame of ours is lost as the engine's would be.
        parser._engine().receive_eof()
        parser._take_events()
    elif parser._engine_only or parser._protocol.eof_sent:  # failed, or closed by the peer
        parser._engine_only = True
        parser._engine().receive_data(data)
        parser._take_events()
    elif (
        parser._rest is None
        and parser._fragment_opcode is None
        and type(data) is bytes
        and (whole := whole_text_frames(data, parser._max_size)) is not None
    ):
        # The usual read, whole text frames: one plain function, not the general parser's
        # methods per frame (issue 23).
        parser._messages.extend(whole)
    else:
        parser._parse(data)
    protocol = parser._protocol
    return bool(protocol.writes) or protocol.state is _CLOSED or not data


def take(reader: Reader) -> str | bytes:
    """The next message of ``reader``'s queue (not empty): the list is read from its
    ``_taken`` on, and cleared once read out."""
    messages = reader._messages
    taken = reader._taken
    message = messages[taken]
    taken += 1
    if taken == len(messages):
        messages.clear()
        reader._taken = 0
    else:
        messages[taken - 1] = b""  # not kept until the list is read out
        reader._taken = taken
    return message
