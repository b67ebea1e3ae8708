"""The re-key stall of jambonz 0.9.8, and the one way out of it.

If a socket dies before jambonz read the ``session:new`` ack, jambonz re-keys that request to
the ``session:reconnect`` it sends on the next socket and, from then on, holds every message
it produces back for good (``docs/jambonz.md``, "Reconnects"): no ``verb:hook``, no
``call:status``, while the call runs on. Acking that reconnect clears the re-key; a drop after
that (any close code but 1000) makes jambonz reconnect the normal way, and the ack of *that*
reconnect releases everything held, in order.

The app cannot see from the frame whether a reconnect was re-keyed. It knows jambonz is
stalled for certain when jambonz never had an ack (none was written), and possibly when the
ack was written on the socket that died with nothing since proving it was read. So: certain
— force the reconnect as soon as this reconnect's ack is out; possible — ask jambonz for an
echo and force only if none comes within ``stall_wait``. The echo is a ``tts:tokens``
command with an ``id`` and no ``tokens``: jambonz answers it at once with a
``tts:tokens-result`` (``failed``, ``missing tokens``) and does nothing else
(call-session.js ``_lccTtsTokens``, 0.9.8) — unless it is stalled, when that answer is held
back like everything else. Any other message from jambonz proves the same.
A forced reconnect only on that evidence, ``max_stall_recoveries`` per call.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["StallWatch"]

Suspicion = Literal["certain", "possible"]


class StallWatch:
    """When to ask the runtime for a normal reconnect (pure data, driven by the core)."""

    def __init__(self, *, wait: float, max_recoveries: int) -> None:
        self._wait = wait
        self._max = max_recoveries
        self._suspicion: Suspicion | None = None
        self._force_at: float | None = None
        self.forcing = False
        """A forced reconnect is under way: nothing more goes out on this socket."""
        self.active = False
        """Whether a message from jambonz would change anything (:meth:`heard`)."""
        self.forced = 0
        """Forced reconnects so far."""

    @property
    def deadline(self) -> float | None:
        """When :meth:`due` next may say yes."""
        return self._force_at

    def reconnected(self, suspicion: Suspicion | None) -> None:
        """A ``session:reconnect`` arrived; ``suspicion`` says how likely it is re-keyed.

        After a forced reconnect the ack written before the close frame was most likely read
        (the suspicion is then "possible", and the echo settles it without a second forced
        reconnect); if the line died between the two, jambonz is still stalled, and the
        missing echo says so."""
        self._force_at = None
        self._suspicion = suspicion
        self.active = suspicion is not None

    def acked(self, now: float) -> bool:
        """The reconnect's ack is out: start the watch if jambonz may be stalled. True when
        an echo should go out now (the stall is possible, not certain)."""
        if self._suspicion is None or self.forced >= self._max:
            self._suspicion = None
            self.active = False
            return False
        if self._suspicion == "certain":
            self._force_at = now
            return False
        self._force_at = now + self._wait
        return True

    def heard(self) -> None:
        """jambonz sent something: it is not holding its messages back."""
        self._suspicion = None
        self._force_at = None
        self.active = False

    def detached(self) -> None:
        """The socket is gone (forced or not)."""
        self.forcing = False
        self._force_at = None

    def due(self, now: float) -> str | None:
        """The reason to force a reconnect now, or ``None``."""
        if self._force_at is None or now < self._force_at:
            return None
        why = "never reached" if self._suspicion == "certain" else "may not have reached"
        self._force_at = None
        self._suspicion = None
        self.active = False
        self.forcing = True
        self.forced += 1
        return (
            f"the session:new ack {why} jambonz, which then holds every message back after "
            "its re-keyed session:reconnect; a normal reconnect releases them"
        )
