"""The ordered outbound queue of one call, which outlives any one socket.

Frames are encoded when queued, so an oversized frame fails at the line that produced it, not
later in the writer. The writer takes frames in order and confirms each one after the socket
accepted it (:meth:`Outbox.sent`); a frame whose send did not complete stays at the head and
goes out, once, on the next socket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

import attrs

from .._wire import Ack, Command, encode_bytes
from ._reply import ReplyHandle

__all__ = ["Frame", "Outbox"]

#: Encoded frames smaller than this are copied to a block of their own size (see make()).
_COMPACT_BELOW = 2048
#: The joiner of make()'s copy (``bytes(data)`` and ``data[:]`` give ``data`` itself back).
_EMPTY: Final = b""


@attrs.frozen
class Frame:
    """One outbound message, encoded (``data``: the UTF-8 JSON a text frame carries).

    ``seq`` numbers frames in the order the app produced them; ``handle`` is the reply handle
    an ack answers (``None`` for commands and for the core's own acks).
    """

    seq: int
    message: Ack | Command
    data: bytes
    handle: ReplyHandle | None = None

    @property
    def text(self) -> str:
        """The frame's JSON text."""
        return self.data.decode()

    @property
    def is_ack(self) -> bool:
        """Whether this frame is an ``ack``."""
        return isinstance(self.message, Ack)


_new: Final = object.__new__
# The slots' own setters (Frame's __init__ does nothing but set its four fields).
_SET_SEQ, _SET_MESSAGE, _SET_DATA, _SET_HANDLE = (
    getattr(Frame, field.name).__set__ for field in attrs.fields(Frame)
)
if [field.name for field in attrs.fields(Frame)] != ["seq", "message", "data", "handle"]:
    raise TypeError("Outbox.make sets seq, message, data and handle: Frame's fields changed")


class Outbox:
    """FIFO of frames not yet accepted by a socket, bounded in frames and bytes.

    ``urgent`` frames (the core's ``session:reconnect`` ack) go before the backlog, because
    jambonz holds everything else back until that ack arrives.

    The bounds are what a peer that stops reading can make a call hold: acks are never
    refused (that would miss jambonz's deadline), so a push past ``max_frames`` or
    ``max_bytes`` is not queued but noted in :attr:`overflow`, and the call must end.
    Replacing or confirming a frame anywhere in the queue costs O(1) (a removed frame leaves
    a hole that is skipped, and the queue is compacted when holes outnumber frames), so
    rewriting a whole queue after a drop is linear in its length; holes at the head are cut
    off in one slice deletion (a pointer copy of what follows them).
    """

    def __init__(
        self,
        max_frame_bytes: int,
        *,
        max_frames: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        # A list, not a deque: an empty deque holds 600 bytes, for every call, idle or not.
        # Taking the head is then a copy of the pointers behind it (cheap at the queue's
        # bound, and the queue of a call that is keeping up holds a frame or two).
        self._frames: list[Frame | None] = []
        self._base = 0  # the position of _frames[0] since the queue was made
        self._positions: dict[int, int] = {}  # id(frame) -> position, for frames queued
        self._next_seq = 0
        self._max_frame_bytes = max_frame_bytes
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self.commands_queued = 0
        """Number of command frames waiting (the bounded part of the queue)."""
        self.bytes_queued = 0
        """Encoded bytes of the frames waiting."""
        self.overflow: str | None = None
        """Why a push was refused for going over a bound (then nothing more is queued)."""

    def __len__(self) -> int:
        return len(self._positions)

    def __iter__(self) -> Iterator[Frame]:
        return (frame for frame in self._frames if frame is not None)

    def make(
        self, message: Ack | Command, handle: ReplyHandle | None = None, *, seq: int | None = None
    ) -> Frame:
        """Encode ``message`` into a frame (raises MessageTooLargeError) without queueing it.

        ``seq`` reuses the place of a frame this one rewrites; by default the frame is new.
        """
        data = encode_bytes(message, max_bytes=self._max_frame_bytes)
        if len(data) < _COMPACT_BELOW:
            # orjson's output keeps the 4 KiB buffer it was written in: a queued 40-byte ack
            # would hold 4 KiB (2,000 of them, 8 MB). A copy holds what it says: made by a
            # join (one allocation), a third of bytes(memoryview(data))'s cost (issue 23).
            data = _EMPTY.join((data, _EMPTY))
        if seq is None:
            seq = self._next_seq
            self._next_seq += 1
        # Frame(seq, message, data, handle) without the frozen class's generated __init__,
        # which sets each field through object.__setattr__: one frame per reply (issue 23).
        frame = _new(Frame)
        _SET_SEQ(frame, seq)
        _SET_MESSAGE(frame, message)
        _SET_DATA(frame, data)
        _SET_HANDLE(frame, handle)
        return frame

    def push(self, frame: Frame, *, urgent: bool = False) -> bool:
        """Queue ``frame`` at the tail, or at the head when ``urgent``; False (and
        :attr:`overflow` set) when that would take the queue over one of its bounds."""
        if self.overflow is not None:
            return False
        size = len(frame.data)
        positions = self._positions
        if self._max_frames is not None and len(positions) >= self._max_frames:
            self.overflow = f"{len(positions)} frames queued (max_queued_frames)"
            return False
        if self._max_bytes is not None and self.bytes_queued + size > self._max_bytes:
            self.overflow = f"{self.bytes_queued} bytes queued and {size} more (max_queued_bytes)"
            return False
        frames = self._frames
        if urgent:
            frames.insert(0, frame)
            self._base -= 1
            positions[id(frame)] = self._base
        else:
            positions[id(frame)] = self._base + len(frames)
            frames.append(frame)
        if not isinstance(frame.message, Ack):  # self._count(frame, 1), inline (issue 23)
            self.commands_queued += 1
        self.bytes_queued += size
        return True

    def push_before(self, frame: Frame, first: Callable[[Frame], bool]) -> bool:
        """Queue ``frame`` just before the first queued frame for which ``first`` is true
        (at the tail if none is); False, as :meth:`push`, past a bound. O(n): it is rare (a
        re-send after a drop), and the queue is re-indexed around the new frame."""
        frames: list[Frame | None] = [queued for queued in self._frames if queued is not None]
        index = next(
            (i for i, queued in enumerate(frames) if queued is not None and first(queued)),
            len(frames),
        )
        if index == len(frames):
            return self.push(frame)
        if not self.push(frame):  # checks the bounds and counts it; placed right below
            return False
        frames.insert(index, frame)
        self._frames = frames
        self._positions = {id(queued): self._base + i for i, queued in enumerate(frames)}
        return True

    def head(self) -> Frame | None:
        """The next frame to send, if any."""
        frames = self._frames
        if frames and frames[0] is None:
            holes = 1
            while holes < len(frames) and frames[holes] is None:
                holes += 1
            del frames[:holes]
            self._base += holes
        return frames[0] if frames else None

    def tail(self) -> Frame | None:
        """The frame queued last, if any."""
        frames = self._frames
        while frames and frames[-1] is None:
            frames.pop()
        return frames[-1] if frames else None

    def sent(self, frame: Frame) -> bool:
        """Drop ``frame`` after the socket accepted it; False if it is no longer queued."""
        position = self._positions.pop(id(frame), None)
        if position is None:
            return False
        frames = self._frames
        index = position - self._base
        assert frames[index] is frame
        if index == 0:
            # the head, as a rule: dropped at once, not left as a hole (issue 23)
            del frames[0]
            self._base += 1
            if frames and frames[0] is None:
                self.head()  # drop the holes in front
        else:
            frames[index] = None
        if not isinstance(frame.message, Ack):  # self._count(frame, -1), inline (issue 23)
            self.commands_queued -= 1
        self.bytes_queued -= len(frame.data)
        return True

    def replace(self, old: Frame, new: Frame | None) -> None:
        """Swap ``old`` for ``new`` in place (keeping its position), or remove it if ``None``.

        Raises ``ValueError`` when ``old`` is not queued.
        """
        index = self._take(old)
        if index is None:
            raise ValueError("the frame to replace is not queued")
        self._count(old, -1)
        if new is not None:
            self._frames[index] = new
            self._positions[id(new)] = self._base + index
            self._count(new, 1)
        elif len(self._frames) > 2 * len(self._positions) + 64:
            self._compact()

    def clear(self) -> list[Frame]:
        """Empty the queue, returning what was in it."""
        frames = list(self)
        self._frames.clear()
        self._positions.clear()
        self.commands_queued = 0
        self.bytes_queued = 0
        return frames

    def _take(self, frame: Frame) -> int | None:
        """Remove ``frame`` from the index and leave a hole where it was; its index in
        ``_frames`` (``None`` when it is not queued)."""
        position = self._positions.pop(id(frame), None)
        if position is None:
            return None
        index = position - self._base
        assert self._frames[index] is frame
        self._frames[index] = None
        return index

    def _count(self, frame: Frame, sign: int) -> None:
        if not frame.is_ack:
            self.commands_queued += sign
        self.bytes_queued += sign * len(frame.data)

    def _compact(self) -> None:
        frames: list[Frame | None] = [frame for frame in self._frames if frame is not None]
        self._frames = frames
        self._positions = {id(frame): self._base + i for i, frame in enumerate(frames)}
