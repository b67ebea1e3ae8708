"""Outbox frames hold their own size, not orjson's 4 KiB output buffer (issue 23).

Every hook's ack stays held after it is written (the receipts' ledger, a queue behind a slow
socket), so a parked call's memory depends on the copy ``Outbox.make`` takes of small frames.
"""

from __future__ import annotations

import tracemalloc

from jbtrio._core._outbox import Outbox
from jbtrio._wire import Ack, encode_bytes

FRAMES = 200


def test_small_frames_are_copied_to_blocks_of_their_own_size() -> None:
    outbox = Outbox(24576)
    acks = [Ack(msgid=f"m{n}", verbs=({"verb": "say", "text": "hello"},)) for n in range(FRAMES)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        frames = [outbox.make(ack) for ack in acks]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # orjson's own output would hold 4 KiB a frame (800 KiB here)
    assert held < FRAMES * 512, held
    for frame, ack in zip(frames, acks, strict=True):
        assert type(frame.data) is bytes
        assert frame.data == encode_bytes(ack)
