"""The ordered outbound queue of one call, which outlives any one socket.

Frames are encoded when queued, so an oversized frame fails at the line that produced it, not
later in the writer. The writer takes frames in order and confirms each one after the socket
accepted it (:meth:`Outbox.sent`); a frame whose send did not complete stays at the head and
goes out, once, on the next socket.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

import attrs

from .._wire import Ack, Command, encode_bytes
from ._reply import ReplyHandle

__all__ = ["Frame", "Outbox"]


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


class Outbox:
    """FIFO of frames not yet accepted by a socket.

    ``urgent`` frames (the core's ``session:reconnect`` ack) go before the backlog, because
    jambonz holds everything else back until that ack arrives.
    """

    def __init__(self, max_frame_bytes: int) -> None:
        self._frames: deque[Frame] = deque()
        self._next_seq = 0
        self._max_frame_bytes = max_frame_bytes
        self.commands_queued = 0
        """Number of command frames waiting (the bounded part of the queue)."""

    def __len__(self) -> int:
        return len(self._frames)

    def __iter__(self) -> Iterator[Frame]:
        return iter(self._frames)

    def make(
        self, message: Ack | Command, handle: ReplyHandle | None = None, *, seq: int | None = None
    ) -> Frame:
        """Encode ``message`` into a frame (raises MessageTooLargeError) without queueing it.

        ``seq`` reuses the place of a frame this one rewrites; by default the frame is new.
        """
        data = encode_bytes(message, max_bytes=self._max_frame_bytes)
        if seq is None:
            seq = self._next_seq
            self._next_seq += 1
        return Frame(seq, message, data, handle)

    def push(self, frame: Frame, *, urgent: bool = False) -> None:
        """Queue ``frame`` at the tail, or at the head when ``urgent``."""
        if urgent:
            self._frames.appendleft(frame)
        else:
            self._frames.append(frame)
        if not frame.is_ack:
            self.commands_queued += 1

    def push_before(self, frame: Frame, first: Callable[[Frame], bool]) -> None:
        """Queue ``frame`` just before the first queued frame for which ``first`` is true
        (at the tail if none is)."""
        index = next((i for i, queued in enumerate(self._frames) if first(queued)), None)
        if index is None:
            self._frames.append(frame)
        else:
            self._frames.insert(index, frame)
        if not frame.is_ack:
            self.commands_queued += 1

    def head(self) -> Frame | None:
        """The next frame to send, if any."""
        return self._frames[0] if self._frames else None

    def tail(self) -> Frame | None:
        """The frame queued last, if any."""
        return self._frames[-1] if self._frames else None

    def sent(self, frame: Frame) -> bool:
        """Drop ``frame`` after the socket accepted it; False if it is no longer queued."""
        if self._frames and self._frames[0] is frame:
            self._frames.popleft()
        else:
            try:
                self._frames.remove(frame)
            except ValueError:
                return False
        if not frame.is_ack:
            self.commands_queued -= 1
        return True

    def replace(self, old: Frame, new: Frame | None) -> None:
        """Swap ``old`` for ``new`` in place (keeping its position), or remove it if ``None``."""
        index = self._frames.index(old)
        if new is None:
            del self._frames[index]
        else:
            self._frames[index] = new
            if not new.is_ack:
                self.commands_queued += 1
        if not old.is_ack:
            self.commands_queued -= 1

    def clear(self) -> list[Frame]:
        """Empty the queue, returning what was in it."""
        frames = list(self._frames)
        self._frames.clear()
        self.commands_queued = 0
        return frames
