"""Tunables of the fake jambonz, each defaulting to what feature-server 0.9.8 really does.

Every number here mirrors a constant or environment default of the real server
(docs/jambonz.md: Connection, Acks, Reconnects), so a test that passes against the fake with the
defaults exercises the same timing an app meets in production; a test that wants a harsher peer
changes one field instead of patching the fake.
"""

from __future__ import annotations

import urllib.parse

import attrs

from jbtrio.verbs import DEFAULT_JAMBONZ, JAMBONZ_VERSIONS, JambonzVersion

__all__ = ["HookUrl", "JambonzConfig", "parse_hook_url"]

RETRY_POLICIES = frozenset({"ct", "rt", "4xx", "5xx", "all"})


@attrs.frozen
class JambonzConfig:
    """How the simulated feature server behaves.

    Protocol timing: ``handshake_timeout`` (JAMBONES_WS_HANDSHAKE_TIMEOUT_MS), ``ack_timeout``
    (JAMBONES_WS_API_MSG_RESPONSE_TIMEOUT), ``max_payload`` (JAMBONES_WS_MAX_PAYLOAD, bytes of an
    app frame before the socket is closed with 1009), ``max_reconnects`` (MAX_RECONNECTS, lowered by
    a ``#rc=`` fragment), ``retry_policy`` (the ``#rp=`` default), ``initial_backoff``.

    Media timing (the real server's depends on audio, so the fake makes it explicit):
    ``say_seconds_per_char`` and ``say_min_seconds`` for ``say``, ``play_seconds`` for one
    ``play``, ``gather_timeout`` when the verb gives none, ``dial_answer_seconds`` for a ``dial``.

    ``reproduce_rekey_stall`` keeps 0.9.8's re-key stall (after a drop before the
    ``session:new`` ack, every later message is held back until a normal reconnect;
    ``docs/jambonz.md``, "Reconnects"); switch it off to play a jambonz without it.
    ``api_base_url`` plays a server with ``JAMBONES_API_BASE_URL`` set: it then appears in the
    call info of hooks and ``call:status`` (call-info.js ``toJSON``), not in an inbound
    ``session:new``.
    ``max_duration`` (seconds, ``None`` = unlimited) ends a call as a failure, a safety net for
    scripted runs that would otherwise wait for ever, as the real server would.

    ``jambonz`` is the jambonz played: ``"0.9"`` (feature-server 0.9.8), ``"10"`` or ``"11"``
    (the default, the current release line). It decides which verbs and commands the fake
    accepts, by the same rules :func:`jbtrio.verbs.validate` applies for that target: a 0.9
    fake refuses ``agent`` (the call fails as 0.9.8 fails it), ignores ``agent:update`` and
    the other newer commands, while a 10/11 fake runs the ``agent``, ``transfer`` and
    ``room`` verbs and obeys those commands. Everything else (envelope, acks, reconnects,
    the TTS buffer) is 0.9.8's for every target: jambonz 10.x/11.x kept them.
    """

    subprotocol: str = "ws.jambonz.org"
    user_agent: str = "jambonz"
    handshake_timeout: float = 1.5
    ack_timeout: float = 5.0
    max_payload: int = 24 * 1024
    max_reconnects: int = 5
    retry_policy: tuple[str, ...] = ("ct",)
    initial_backoff: float = 0.5
    close_timeout: float = 5.0
    say_seconds_per_char: float = 0.05
    say_min_seconds: float = 0.5
    play_seconds: float = 2.0
    gather_timeout: float = 15.0
    dial_answer_seconds: float = 2.0
    reproduce_rekey_stall: bool = True
    max_duration: float | None = None
    jambonz: JambonzVersion = attrs.field(
        default=DEFAULT_JAMBONZ, validator=attrs.validators.in_(JAMBONZ_VERSIONS)
    )
    sip_error_status: int = 480
    account_sid: str = "9351f46a-678c-43f5-b8a6-d4eb58d131af"
    api_base_url: str | None = None
    application_sid: str = "7087fe50-8acb-4f3b-b820-97b573723aab"
    service_provider_sid: str = "2708b1b3-2736-40ea-b502-c53d8396247f"
    defaults: dict[str, object] = attrs.field(
        factory=lambda: {
            "synthesizer": {"vendor": "deepgram", "language": "en-US", "voice": "aura-asteria-en"},
            "recognizer": {"vendor": "deepgram", "language": "en-US"},
        }
    )

    def next_backoff(self, backoff: float) -> float:
        """The back-off after ``backoff``: doubles below 2 s, then grows by 2 s (WSR:159-162)."""
        return backoff * 2 if backoff < 2.0 else backoff + 2.0


@attrs.frozen
class HookUrl:
    """A call_hook URL split the way WsRequestor does: fragment options removed and parsed."""

    url: str
    max_reconnects: int | None
    retry_policy: tuple[str, ...] | None


def parse_hook_url(url: str) -> HookUrl:
    """Strip ``#rc=``/``#rp=`` from ``url`` and return them (invalid values are ignored).

    jambonz accepts ``rc`` from 1 to 5 and a comma list of known policies for ``rp``; anything
    else falls back to the defaults, which the caller substitutes for ``None``.
    """
    base, _, fragment = url.partition("#")
    rc: int | None = None
    rp: tuple[str, ...] | None = None
    for key, value in urllib.parse.parse_qsl(fragment, keep_blank_values=True):
        if key == "rc":
            try:
                n = int(value)
            except ValueError:
                continue
            if 1 <= n <= 5:
                rc = n
        elif key == "rp":
            items = tuple(p.strip() for p in value.split(",") if p.strip() in RETRY_POLICIES)
            if items:
                rp = items
    return HookUrl(url=base, max_reconnects=rc, retry_policy=rp)
