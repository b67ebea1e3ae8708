"""Parsing a client's frames for the sans-IO socket (:class:`FrameParsing`, a part of
:class:`~._sansio_socket.Socket`).

websockets parses a frame through a chain of generators, which cost more than the rest of a
round trip's transport work (issue 23): the socket parses well-formed data frames itself
(and the peer's valid close of an open socket, as the engine would), and hands websockets'
engine every other control frame whole, and whatever fails the connection (with the rest of
the stream), so every check, close code and reason stays the engine's. Kept in a module of
its own, as the socket's reading, keepalive, writing and closing are its own; the usual
read (whole text frames) and the server's own frames (:func:`text_frame`,
:func:`binary_frame`) are plain functions of :mod:`._sansio_codec`, and a read is fed to the
parser by one of :mod:`._sansio_inline` (:func:`~._sansio_inline.feed`).
"""

from __future__ import annotations

import math

import trio
from websockets.exceptions import ProtocolError
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from ._sansio_codec import binary_frame, text_frame
from ._sansio_engine import Engine, made

try:
    from websockets.speedups import apply_mask  # C, as the engine's own parser uses
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = ["FrameParsing", "binary_frame", "text_frame"]

_BINARY = 0x2
_CLOSE = 0x8


class FrameParsing:
    """The frame parser of :class:`~._sansio_socket.Socket`: its methods, and the state
    they use as slots of this class (the socket reads and sets some of it too)."""

    __slots__ = (
        "_engine_only",
        "_failed",
        "_fragment_bytes",
        "_fragment_count",
        "_fragment_opcode",
        "_fragments",
        "_max_fragments",
        "_max_size",
        "_messages",
        "_ping_payload",
        "_pong_deadline",
        "_probes",
        "_protocol",
        "_rest",
        "_unparsed",
    )

    _protocol: Engine  # websockets' engine once it is needed (:meth:`_engine`)
    _rest: bytearray | None
    _engine_only: bool
    _max_size: int
    _max_fragments: int
    _fragments: list[bytes]
    _fragment_opcode: int | None
    _fragment_count: int
    _fragment_bytes: int
    _failed: bool
    _unparsed: memoryview
    _messages: list[str | bytes]
    _ping_payload: bytes | None
    _pong_deadline: float
    _probes: dict[bytes, trio.Event] | None

    def _engine(self) -> ServerProtocol:
        """websockets' engine, made now if nothing needed it yet (:mod:`._sansio_engine`)."""
        protocol = self._protocol = made(self._protocol)
        return protocol

    def _parse(self, data: bytes | bytearray) -> None:
        """Parse ``data`` (after what is left of the last read): well-formed data frames
        here, everything else in the engine.

        websockets parses a frame through a chain of generators, which costs more than the
        rest of a round trip's transport work (issue 23). Every check of its parser is kept:
        a data frame is taken here only if it is masked, has no reserved bit, has an opcode
        the message in progress allows and fits ``max_message_bytes``; a control frame goes
        to the engine whole (so its parser is always at a frame boundary, with the size of
        the message in progress: its own checks see the stream as if it parsed all of it);
        any other frame fails the connection, so the engine gets it and the rest of the
        stream, and keeps it from then on (:attr:`_engine_only`).
        """
        rest = self._rest
        if rest is not None:
            rest += data  # a large frame's slices add up without copying it all every time
            buf: bytes | bytearray = rest
        else:
            buf = data
        at, end = 0, len(buf)
        while True:
            if self._engine_only:  # the engine failed or closed the connection
                if at < end:
                    self._engine().receive_data(buf[at:])  # it discards the rest
                    self._take_events()
                self._rest = None
                return
            if end - at < 2:
                break
            first, second = buf[at], buf[at + 1]
            size = second & 0x7F
            head = 6  # two bytes and the mask
            if size >= 126:
                if size == 126:
                    if end - at < 4:
                        break
                    size = (buf[at + 2] << 8) | buf[at + 3]
                    head = 8
                else:
                    if end - at < 10:
                        break
                    size = int.from_bytes(buf[at + 2 : at + 10], "big")
                    head = 14
            opcode = first & 0x0F
            fin = first & 0x80
            fragments = self._fragment_opcode is not None
            if (
                first & 0x70
                or not second & 0x80
                or (opcode == 0) is not fragments
                or opcode > 2
                or size > self._max_size - self._fragment_bytes
            ):
                if not (
                    opcode & 0x08 and size <= 125 and fin and not first & 0x70 and second & 0x80
                ):
                    # A frame that fails the connection: the engine says why (once it has
                    # all of it) and parses the rest of the stream.
                    self._engine_only = True
                    self._to_engine(buf[at:])
                    at = end
                    continue
                # A well-formed control frame (ping, pong, close): the engine's, whole,
                # but for the peer's close of an open socket, taken here if the engine would
                # take it as is (issue 23).
                stop = at + head + size
                if stop > end:
                    break
                if not (
                    opcode == _CLOSE
                    and self._fragment_opcode is None
                    and size <= self._max_size
                    and self._protocol.state is State.OPEN
                    and self._close_received(
                        apply_mask(buf[at + head : stop], buf[at + head - 4 : at + head])
                    )
                ):
                    self._to_engine(buf[at:stop])
                at = stop
                continue
            stop = at + head + size
            if stop > end:
                break
            payload = apply_mask(buf[at + head : stop], buf[at + head - 4 : at + head])
            at = stop
            self._data_frame(opcode, bool(fin), payload)
        if at == end:
            self._rest = None
        elif rest is not None:  # it is ``buf``
            del rest[:at]  # what the next read completes
        else:
            self._rest = bytearray(buf[at:])

    def _close_received(self, payload: bytes) -> bool:
        """The peer's close frame (``payload`` unmasked) on an open socket, no message in
        progress: done as the engine does it (echoed, the engine CLOSING with the end of the
        stream to send, the rest of the stream discarded), if its code and reason are valid;
        else False: the engine fails the connection as it says. Its generators parse a
        frame at ~1.5% of a call set-up (issue 23)."""
        try:
            close = Close.parse(payload)  # the engine's own checks: code, UTF-8 reason
        except (ProtocolError, UnicodeDecodeError):
            return False
        protocol = self._protocol
        protocol.close_rcvd = close
        # RFC 6455 §5.5.1: the payload echoed (an empty one stays empty), unmasked.
        protocol.writes.append(bytes((0x88, len(payload))) + payload)
        protocol.close_sent = close
        protocol.close_rcvd_then_sent = True
        protocol.state = State.CLOSING
        protocol.send_eof()  # a server closes the TCP connection at once
        if isinstance(protocol, ServerProtocol):  # else made so (:func:`~._sansio_engine.made`)
            protocol.current_size = None
            protocol.parser = protocol.discard()  # what comes after is dropped
            next(protocol.parser)
        self._engine_only = True
        return True

    def _to_engine(self, data: bytes | bytearray) -> None:
        """Feed ``data`` (from a frame boundary on) to the engine, telling it the size of the
        message in progress, as if its parser had read the message's frames itself."""
        protocol = self._engine()
        protocol.current_size = self._fragment_bytes if self._fragment_opcode is not None else None
        protocol.receive_data(data)
        self._take_events()
        if protocol.close_rcvd is not None or protocol.eof_sent:
            self._engine_only = True  # the engine discards the rest of the stream

    def _take_events(self) -> None:
        """Act on the frames the engine parsed: pongs (keepalive, probes), and data frames
        when it parses those too (:attr:`_engine_only`)."""
        for frame in self._engine().events_received():
            if not isinstance(frame, Frame):
                continue  # no more HTTP once the socket is open
            opcode = frame.opcode
            if opcode is Opcode.PONG:
                payload = bytes(frame.data)
                if self._ping_payload is not None and payload == self._ping_payload:
                    self._ping_payload = None
                    self._pong_deadline = math.inf
                if self._probes is not None and payload in self._probes:
                    self._probes.pop(payload).set()
            elif opcode is Opcode.TEXT or opcode is Opcode.BINARY or opcode is Opcode.CONT:
                data = bytes(frame.data)
                # The engine's parser keeps the last frame it read until the next one: not
                # its payload, for an idle call (the session:new, ~1.5 KiB; issue 23).
                frame.data = b""
                if not self._data_frame(opcode.value, frame.fin, data):
                    break

    def _data_frame(self, opcode: int, fin: bool, data: bytes) -> bool:
        """A data frame, its order checked; False when it failed the connection."""
        if opcode:  # text or binary
            if fin:
                self._deliver(opcode, data)
            else:
                self._fragment_opcode = opcode
                self._fragments = [data]
                self._fragment_bytes = len(data)
                self._fragment_count = 1
            return True
        if data:
            self._fragments.append(data)
            self._fragment_bytes += len(data)
        self._fragment_count += 1
        if self._fragment_count >= self._max_fragments and not fin:
            self._too_many_fragments()
            return False
        if fin and self._fragment_opcode is not None:
            self._deliver(self._fragment_opcode, b"".join(self._fragments))
            self._fragments = []
            self._fragment_opcode = None
            self._fragment_bytes = self._fragment_count = 0
        return True

    def _too_many_fragments(self) -> None:
        """A message split into more than ``max_fragments`` frames: fail the connection with
        1009, as for a message over the size limit, and keep none of it."""
        self._failed = True
        self._fragments = []
        self._fragment_opcode = None
        self._fragment_bytes = 0
        self._unparsed = memoryview(b"")
        self._engine().fail(1009, f"message in more than {self._max_fragments} fragments")
        self._engine_only = True

    def _deliver(self, opcode: int, data: bytes) -> None:
        if self._failed:
            return  # nothing after a frame that failed the connection is processed
        if opcode == _BINARY:
            self._messages.append(data)
            return
        try:
            self._messages.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            self._failed = True
            self._engine().fail(1007, "invalid UTF-8 in a text frame")
            self._engine_only = True
