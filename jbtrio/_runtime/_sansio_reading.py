"""Reading for the sans-IO socket (:class:`Reading`, a part of
:class:`~._sansio_socket.Socket`): messages out of the stream, by :meth:`Reading.receive` or
:meth:`Reading.pump`.

The caller of :meth:`Reading.receive` is the reader itself: bytes in, messages out, no task
in between; control frames are answered from there (pongs, the close handshake). Whatever
the peer sends, it yields at a bounded interval: a read is parsed in slices of
:data:`~._transport_api.FEED_SLICE` bytes, and at most :data:`YIELD_EVERY` queued messages
are returned in a row without a checkpoint. With :meth:`Reading.pump`, the usual message (a
read of whole frames, no larger than a slice) is read, parsed and handed on by the read
poller's callback while the reader stays parked (issue 23). Kept apart from the socket's
keepalive, writing and closing (:mod:`._sansio_socket`), as its parsing is
(:mod:`._sansio_frames`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import trio
from websockets.protocol import State

from ._rawstream import RawSocketStream
from ._sansio_frames import FrameParsing
from ._sansio_inline import READ_SIZE, YIELD_EVERY, feed, read_now, take
from ._transport_api import FEED_SLICE, SocketClosed

__all__ = ["YIELD_EVERY", "Reading"]


class Reading(FrameParsing):
    """The reading part of :class:`~._sansio_socket.Socket`: its methods, and the state
    only they use, as slots (the socket's ``__init__`` sets them)."""

    __slots__ = (
        "_consumer",
        "_handed",
        "_handed_error",
        "_pumped",
        "_reading",
        "_settle_due",
        "_since_yield",
        "_taken",
    )

    # The socket's, used here.
    _stream: trio.abc.Stream
    close_code: int | None
    close_reason: str | None
    _since_yield: int
    _taken: int
    _reading: bool
    _pumped: RawSocketStream | None
    _consumer: Callable[[str | bytes], None] | None
    _handed: bytes | None
    _settle_due: bool
    _handed_error: Exception | None

    if TYPE_CHECKING:  # the socket's own (writing and closing)

        async def _flush(self) -> None: ...

        def _note_closed(self) -> None: ...

    async def receive(self) -> str | bytes:
        """The next message; raises :class:`SocketClosed` when the socket is done.

        Text frames come back as ``str``, binary frames as ``bytes``.
        """
        messages = self._messages
        if messages:
            # Queued by an earlier slice: returned without reading, but never more than
            # YIELD_EVERY in a row without a checkpoint, whatever the peer sends.
            self._since_yield += 1
            if self._since_yield >= YIELD_EVERY:
                self._since_yield = 0
                await trio.lowlevel.checkpoint()
            if messages:
                return take(self)
        self._reading = True
        try:
            while not messages:
                if self.close_code is not None:
                    raise SocketClosed(self.close_code, self.close_reason)
                pumped = self._pumped
                data: bytes | bytearray | None
                if self._unparsed:
                    await trio.lowlevel.checkpoint()  # between two slices of one read
                    data = self._take_slice()
                elif pumped is not None and pumped.parks:
                    # Parked here, not in a helper coroutine: an idle call's frames are its
                    # memory (issue 23). The poller's callback reads for us meanwhile.
                    pumped.inline = self
                    try:
                        await pumped.readable()
                    finally:
                        pumped.inline = None
                    data = await self._after_inline(pumped)
                else:
                    # The stream's read inline, not through a helper: a coroutine fewer per
                    # message (issue 23). It is a checkpoint.
                    try:
                        data = await self._stream.receive_some(READ_SIZE)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        data = b""
                    data = self._first_slice(data)
                if data is not None and feed(self, data):
                    await self._settle(not data)
        finally:
            self._reading = False
        self._since_yield = 0
        return take(self)

    async def pump(self, deliver: Callable[[str | bytes], None]) -> NoReturn:
        """Hand every message to ``deliver``, in order, until the socket is done (then
        raise :class:`SocketClosed`): ``while True: deliver(await self.receive())``, with
        a task step fewer per message.

        While the reader waits for bytes, the read poller's callback
        (:func:`~._sansio_inline.read_inline`) reads what came and, when it is whole text (or
        binary) frames in no more than a slice, parses it and hands the messages to
        ``deliver`` itself, from the poller's task: the reader's task is not woken for the
        usual message (a Trio task step is ~7% of a hook round trip, issue 23). Anything else
        (a control frame to answer, the end of the stream, a larger read, more than
        :data:`YIELD_EVERY` messages, an exception from ``deliver``) wakes the reader, which
        goes on as if it had read the bytes itself.
        ``deliver`` must not block; it is called from either task (from the poller's, with
        the context variables of the task that first started the poller).
        """
        stream = self._stream
        if type(stream) is RawSocketStream:
            stream.use_poller()  # its reads park, the callback reading for them (parks)
            self._pumped = stream
            self._consumer = deliver
        try:
            while True:
                deliver(await self.receive())
        finally:
            self._pumped = None
            self._consumer = None

    async def _after_inline(self, stream: RawSocketStream) -> bytes | bytearray | None:
        """The reader woken while :func:`~._sansio_inline.read_inline` read for it: the bytes
        it must parse itself, or None when there are none (look again)."""
        error = self._handed_error
        if error is not None:
            self._handed_error = None
            raise error
        if self._settle_due:
            self._settle_due = False
            await self._settle(False)
            return None
        data = self._handed
        if data is not None:
            self._handed = None
        elif self._messages:
            return None  # more than the callback hands on in a row: the reader returns them
        else:
            # Woken without a read of the callback's (a hang-up, the poller failing, the
            # stream closed, a wake-up left from before): read as the stream would.
            data = read_now(stream)
            if data is None:
                return None
        return self._first_slice(data)

    def _first_slice(self, data: bytes | bytearray) -> bytes | bytearray:
        """``data``, or its first slice when it is larger (the rest is parsed a slice at a
        time, with a checkpoint between two)."""
        if len(data) > FEED_SLICE:
            self._unparsed = memoryview(data)
            return self._take_slice()
        return data

    def _take_slice(self) -> bytes:
        rest = self._unparsed
        data, self._unparsed = bytes(rest[:FEED_SLICE]), rest[FEED_SLICE:]
        return data

    async def _read(self) -> bytes | bytearray:
        try:
            return await self._stream.receive_some(READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""

    async def _settle(self, eof: bool) -> None:
        """After a read: write what the engine answered, and note a close (``eof``: the
        stream ended)."""
        if self._protocol.writes:  # it answered a ping or a close, or failed the socket
            await self._flush()
        if self._protocol.state is State.CLOSED or eof:
            self._note_closed()
