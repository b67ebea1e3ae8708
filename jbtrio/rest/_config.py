"""Settings of :class:`jbtrio.rest.Client`: timeouts, retries, bounds.

The retry rules live here as data and a pure function, so they are tested without a network.
Which requests are retried is decided by what a repeat could do twice (see :class:`Retry`).
"""

from __future__ import annotations

import enum
import random
import ssl
from typing import Any, Final

import attrs

__all__ = ["RestConfig", "Retry", "RetryPolicy", "retry_delay"]

_RETRY_STATUSES_REFUSED: Final = frozenset({429, 503})
_RETRY_STATUSES_AMBIGUOUS: Final = frozenset({500, 502, 504})


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _not_negative(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


class Retry(enum.Enum):
    """How far a request may be repeated after a failure; each API method has one.

    - ``NEVER``: requests that create something (``POST`` a call, a message): a repeat could
      place a second call, so a failure is the caller's to judge.
    - ``IF_NOT_PROCESSED``: mid-call updates (``PUT /Calls/{sid}``): most are not idempotent
      (a whisper or a DTMF digit would happen twice), so they are repeated only when jambonz
      certainly did not act: the connection could not be made, or it answered 429 or 503.
    - ``SAFE``: reads (``GET``) and ``DELETE`` (which removes a record; doing it twice changes
      nothing): repeated also after a timeout, a dropped connection or a 500/502/504.
    """

    NEVER = "never"
    IF_NOT_PROCESSED = "if-not-processed"
    SAFE = "safe"


class Outcome(enum.Enum):
    """What a failed attempt tells about the server's side, for the retry decision."""

    NOT_SENT = "not-sent"  # no connection: jambonz never saw the request
    REFUSED = "refused"  # 429/503: jambonz (or a proxy) said it did not process it
    AMBIGUOUS = "ambiguous"  # timeout, dropped connection, 500/502/504: it may have acted
    FINAL = "final"  # any other error status: repeating gives the same answer


def status_outcome(status: int) -> Outcome:
    """The :class:`Outcome` of an error status."""
    if status in _RETRY_STATUSES_REFUSED:
        return Outcome.REFUSED
    if status in _RETRY_STATUSES_AMBIGUOUS:
        return Outcome.AMBIGUOUS
    return Outcome.FINAL


def may_retry(retry: Retry, outcome: Outcome) -> bool:
    """Whether a request of kind ``retry`` may be repeated after ``outcome``."""
    if retry is Retry.NEVER or outcome is Outcome.FINAL:
        return False
    if retry is Retry.IF_NOT_PROCESSED:
        return outcome is not Outcome.AMBIGUOUS
    return True


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Exponential back-off with jitter for the requests :class:`Retry` allows to repeat.

    - ``attempts``: tries in all, the first included (3; ``1`` turns retries off).
    - ``backoff``: the delay before the first retry in seconds (0.25), doubled each time up
      to ``max_backoff`` (4); with ``jitter`` each delay is drawn from its upper half, so
      clients that failed together do not come back together.
    - A ``Retry-After`` header (seconds) on 429/503 replaces the computed delay; one longer
      than ``max_backoff`` is not waited for: the error is raised instead.
    """

    attempts: int = attrs.field(default=3, validator=_positive)
    backoff: float = attrs.field(default=0.25, validator=_not_negative)
    max_backoff: float = attrs.field(default=4.0, validator=_not_negative)
    jitter: bool = True


def retry_delay(
    policy: RetryPolicy,
    retry_number: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds to wait before retry ``retry_number`` (1 for the first), ``None``: don't retry.

    ``None`` when the policy's attempts are used up or the server asked for a longer wait
    than ``max_backoff``.
    """
    if retry_number >= policy.attempts:
        return None
    if retry_after is not None:
        return retry_after if retry_after <= policy.max_backoff else None
    delay = min(policy.max_backoff, policy.backoff * 2.0 ** (retry_number - 1))
    if policy.jitter and delay > 0:
        draw = rng.random() if rng is not None else random.random()
        delay *= 0.5 + 0.5 * draw
    return delay


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds; an HTTP date or garbage counts as absent."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


@attrs.frozen(kw_only=True)
class RestConfig:
    """Settings of a :class:`~jbtrio.rest.Client`; every bound is here.

    - ``timeout``: seconds one attempt may take in all, from connecting to the last byte of
      the answer (10). A request that is retried gets this much per attempt.
    - ``connect_timeout``: seconds to open the connection (5; capped by ``timeout``).
    - ``retry``: the :class:`RetryPolicy` of the requests that may be repeated.
    - ``max_response_bytes``: the largest response body read (4 MiB, well above the call
      list of a busy account); a bigger one fails the request with :class:`RestError`.
    - ``max_connections``: concurrent connections to jambonz (20); more requests wait for one
      within ``timeout``. ``max_keepalive_connections``: idle ones kept open (10).
    - ``verify``: TLS verification: ``True`` (system/certifi CAs), ``False``, or an
      :class:`ssl.SSLContext` for a private CA.
    - ``user_agent``: the ``User-Agent`` header.
    """

    timeout: float = attrs.field(default=10.0, validator=_positive)
    connect_timeout: float = attrs.field(default=5.0, validator=_positive)
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    max_response_bytes: int = attrs.field(default=4 * 1024 * 1024, validator=_positive)
    max_connections: int = attrs.field(default=20, validator=_positive)
    max_keepalive_connections: int = attrs.field(default=10, validator=_not_negative)
    verify: bool | ssl.SSLContext = True
    user_agent: str = "jbtrio-rest"
