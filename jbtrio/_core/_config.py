"""The bounds and timings of one call's protocol core, all explicit and configurable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._errors import MessageTooLargeError
from .._wire import MAX_FRAME_BYTES, MAX_ID_CHARS, Ack, encode_bytes
from ..verbs import DEFAULT_JAMBONZ, JAMBONZ_VERSIONS, JambonzVersion
from . import _windows

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
    - ``receipts``: the evidence policy for verbs that may have died with a socket
      (:mod:`jbtrio._core._receipts`, README "What jbtrio guarantees"). On (the default),
      every verb sent carries an ``id`` (the app's own, else ``jb<n>``) and the first verbs
      of the call turn ``notifyEvents`` on, so jambonz reports each verb's start and end; a
      verb frame written to a socket that dies is then confirmed by those reports, re-sent
      exactly when jambonz shows it was not read (a gather's failed hook), and otherwise
      reported (:class:`~jbtrio._core.Unconfirmed`). Cost on the wire: about 12 bytes per
      verb sent, and two ``verb:status`` messages (about 150 bytes each) per verb jambonz
      runs. Off: only a gather's failed
      hook is recognised (by verb name), and other frames lost with a socket stay lost.
    - ``probe_in_doubt``: after a reconnect with frames in doubt, append one empty ``config``
      verb (with an id) and see whether jambonz runs it before anything in doubt: if it
      does, jambonz runs none of them any more, and whether it never read them or ran them
      to the end (their receipts dying with the socket) cannot be told, so they are
      reported at once (:class:`~jbtrio._core.Unconfirmed`) instead of after
      ``doubt_timeout``, and what waits behind them goes on.
      Turn it off if your jambonz sets ``JAMBONES_INJECT_CONTENT`` (appended verbs then cut
      a running gather short); doubts are then decided only by receipts and hook errors.
    - ``doubt_timeout``: how long frames stay in doubt before the core gives up and reports
      them (:class:`~jbtrio._core.Unconfirmed`); commands that append verbs wait meanwhile.
    - ``max_unconfirmed``: how many written verb frames without a receipt are remembered.
    - ``stall_wait``: after acking a ``session:reconnect`` that may be re-keyed (the
      ``session:new`` ack was written but nothing proves jambonz read it), the core asks
      jambonz for an echo (a ``tts:tokens`` without tokens, answered at once unless jambonz
      holds everything back: the re-key stall) and waits this long for it, or any message,
      before forcing one more reconnect. When the ack surely never reached jambonz, the
      reconnect is forced at once.
    - ``max_stall_recoveries``: forced reconnects per call at most (each uses one of
      jambonz's reconnect attempts, 5 by default).
    - ``jambonz``: the jambonz whose rules verbs are validated by (``"0.9"``, ``"10"`` or
      ``"11"``, the default; see :mod:`jbtrio.verbs`).
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
    receipts: bool = True
    probe_in_doubt: bool = True
    doubt_timeout: float = attrs.field(default=60.0, validator=_positive)
    max_unconfirmed: int = attrs.field(default=64, validator=_positive)
    stall_wait: float = attrs.field(default=1.0, validator=_non_negative)
    max_stall_recoveries: int = attrs.field(default=3, validator=_non_negative)
    jambonz: JambonzVersion = attrs.field(
        default=DEFAULT_JAMBONZ, validator=attrs.validators.in_(JAMBONZ_VERSIONS)
    )

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

    if TYPE_CHECKING:

        @property
        def reply_window(self) -> float:
            """Seconds the app has to reply before the core acks for it."""

    else:
        # Read for every message that waits for an ack: the property's function is compiled
        # in the compiled build (a property calls it as any callable), not an interpreted
        # call per message (issue 23).
        reply_window = property(
            _windows.reply_window,
            # its own text: a compiled function has no docstring
            doc="Seconds the app has to reply before the core acks for it.",
        )
