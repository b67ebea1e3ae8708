"""The bounds and timings of one call's protocol core, all explicit and configurable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._errors import MessageTooLargeError
from .._wire import MAX_FRAME_BYTES, MAX_ID_CHARS, Ack, encode_bytes

__all__ = ["DEFAULT_FALLBACK_VERBS", "CoreConfig"]

#: Sent in place of the app's ``session:new`` reply when the app misses the deadline: jambonz
#: rejects the call on an empty list, and a short pause keeps it up (jambonz then idles waiting
#: for commands, so the app's late verbs still run, sent as a ``redirect`` command).
DEFAULT_FALLBACK_VERBS: tuple[Mapping[str, Any], ...] = ({"verb": "pause", "length": 1},)


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _non_negative(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _freeze_verbs(verbs: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    frozen = tuple(verbs)
    if not frozen:
        raise ValueError("fallback_verbs must not be empty: jambonz rejects an empty session:new")
    return frozen


@attrs.frozen(kw_only=True)
class CoreConfig:
    """Per-call protocol settings.

    - ``ack_timeout``: how long jambonz waits for an ack (``JAMBONES_WS_API_MSG_RESPONSE_TIMEOUT``,
      5 s by default). Set it to match your jambonz.
    - ``ack_margin``: how long before that deadline the core acks on the app's behalf, leaving
      room for the network and a busy event loop (1 s).
    - ``fallback_verbs``: what that automatic ack carries for ``session:new`` (which may not be
      empty); other messages are acked without verbs.
    - ``max_queued_commands``: bound of the outbound queue for commands. Acks are never
      refused, so a full queue can never make the call miss an ack deadline.
    - ``max_queued_frames`` / ``max_queued_bytes``: bounds of the whole outbound queue (acks
      and commands, 2000 frames / 4 MiB), and of the messages awaiting an ack: what a peer
      that stops reading can make one call hold. Commands wait (or raise
      :class:`~jbtrio.QueueFullError`) once the queue holds half of ``max_queued_bytes``,
      so the other half is the acks'. Past either bound the call is ended (one log line),
      since jambonz is not reading what it must.
    - ``max_frame_bytes``: the largest frame jambonz accepts (``JAMBONES_WS_MAX_PAYLOAD``, 24 KiB).
    - ``remembered_msgids``: how many recent inbound msgids are kept to drop duplicates.
    - ``session_start_grace``: after the ``session:new`` ack, commands wait for the first
      message of the running session, or this many seconds (0.5), because jambonz drops
      commands that arrive before its session exists.
    """

    ack_timeout: float = attrs.field(default=5.0, validator=_positive)
    ack_margin: float = attrs.field(default=1.0, validator=_non_negative)
    fallback_verbs: tuple[Mapping[str, Any], ...] = attrs.field(
        default=DEFAULT_FALLBACK_VERBS, converter=_freeze_verbs
    )
    max_queued_commands: int = attrs.field(default=1000, validator=_positive)
    max_queued_frames: int = attrs.field(default=2000, validator=_positive)
    max_queued_bytes: int = attrs.field(default=4 << 20, validator=_positive)
    max_frame_bytes: int = attrs.field(default=MAX_FRAME_BYTES, validator=_positive)
    remembered_msgids: int = attrs.field(default=1024, validator=_positive)
    session_start_grace: float = attrs.field(default=0.5, validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if self.max_queued_frames <= self.max_queued_commands:
            raise ValueError(
                f"max_queued_frames ({self.max_queued_frames}) must be larger than "
                f"max_queued_commands ({self.max_queued_commands}): acks need room too"
            )
        if self.max_queued_bytes < 4 * self.max_frame_bytes:
            raise ValueError(
                f"max_queued_bytes ({self.max_queued_bytes}) must hold at least four "
                f"frames of max_frame_bytes ({self.max_frame_bytes})"
            )
        try:  # the core's own ack for session:new must always fit (the timer sends it)
            encode_bytes(
                Ack(msgid="m" * MAX_ID_CHARS, verbs=self.fallback_verbs),
                max_bytes=self.max_frame_bytes,
            )
        except MessageTooLargeError as exc:
            raise ValueError(f"fallback_verbs do not fit in an ack: {exc}") from None
        if self.ack_margin >= self.ack_timeout:
            raise ValueError(
                f"ack_margin ({self.ack_margin}) must be smaller than ack_timeout "
                f"({self.ack_timeout}), or every message would be acked on arrival"
            )

    @property
    def reply_window(self) -> float:
        """Seconds the app has to reply before the core acks for it."""
        return self.ack_timeout - self.ack_margin
