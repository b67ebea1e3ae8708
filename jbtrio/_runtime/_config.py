"""Every bound and timeout of the server, explicit, documented and configurable."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

import attrs

from .._core import CoreConfig
from ._transports import DEFAULT_TRANSPORT, TRANSPORTS

__all__ = ["ServerConfig"]


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _peers(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    return tuple(item.strip() for item in items if item.strip())


def _valid_peers(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    for item in value or ():
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ValueError(f"{attribute.name}: {item!r} is not an address or network") from exc


def _known_transport(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in TRANSPORTS:
        raise ValueError(f"{attribute.name} must be one of {', '.join(TRANSPORTS)}, got {value!r}")


def _optional_positive(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0 or None, got {value!r}")


@attrs.frozen(kw_only=True)
class ServerConfig:
    """Settings of :func:`jbtrio.serve`.

    Transport:

    - ``transport``: the websocket backend, ``"websockets"`` (the default: websockets'
      sans-IO engine driven by jbtrio) or ``"trio-websocket"`` (the README's Hardening
      section says where the two differ, and the benchmark why the default is the default).
    - ``username``/``password``: require HTTP Basic auth on the upgrade (jambonz sends the
      credentials configured on the application); checked in constant time, 401 otherwise.
    - ``allowed_peers``: addresses or networks (CIDR) that may connect, e.g. your jambonz
      feature servers' (a comma-separated string is split); others are closed before the
      upgrade is read. ``None`` (the default): any address.
    - ``handshake_timeout``: seconds a client has to complete the HTTP upgrade (10; the
      library default of 60 lets slow clients hold connections open).
    - ``max_message_bytes``: largest inbound frame (1 MiB; ``session:new`` carries the whole
      SIP INVITE, so be generous); a bigger one closes the socket with 1009.
    - ``max_fragments``: frames one inbound message may be split into (1024; jambonz never
      fragments); more close the socket with 1009 (empty fragments add nothing to the size).
    - ``max_connections``: concurrent websocket connections (upgraded sockets; more are
      refused with 503), and calls in progress, those waiting for their reconnect included
      (a new call past it is closed with 1013, unless a call waiting for its reconnect can
      make room, see ``orphan_evict_after``; a reconnect of a waiting call is never
      refused, so a network blip that drops every socket at once loses no call).
    - ``max_sessions_per_call``: sessions one call_sid may have at once: the call and those
      its redirect verbs open on other sockets (8); more are closed with 1008.
    - ``max_handshakes``: connections still in their HTTP upgrade (1024), counted apart
      from ``max_connections``; at the bound the oldest is cut short, so half-open upgrades
      cannot lock jambonz (whose upgrade takes one round trip) out: under a flood of R new
      connections a second, each has ``max_handshakes / R`` seconds to finish its upgrade.
    - ``first_message_timeout``: an accepted socket that sends no session message within this
      many seconds is closed (jambonz can leave orphan reconnects behind, docs/jambonz.md,
      Reconnects).
    - ``ping_interval``/``pong_timeout``: keepalive pings from our side (jambonz sends none by
      default); a peer that misses a pong is treated as dropped. ``None`` disables pings.
    - ``send_stall_timeout``: a send that has not completed after this long aborts the socket
      (sends are never cancelled: that would corrupt the stream).
    - ``close_timeout``: bound on the close handshake.

    Calls:

    - ``reconnect_timeout``: how long a call waits, after its socket dropped, for jambonz to
      come back with ``session:reconnect`` before the call is ended (jambonz retries with
      growing back-off: 0.5, 1, 2, 4 s ...).
    - ``orphan_evict_after``: at ``max_connections``, a new call ends the call that has
      waited longest for its reconnect, if it has waited this many seconds (5; jambonz
      reconnects within about a second of a drop), so orphans cannot keep new calls out.
    - ``rebind_probe_timeout``: a ``session:reconnect`` for a call whose socket we still hold
      is taken only if that socket does not answer a ping within this many seconds (2; a
      live socket means the newcomer is not jambonz reconnecting). It must leave time to
      ack the reconnect within jambonz's 5 s.
    - ``inbox_size``: messages buffered for the app per call; beyond it a message is logged
      and dropped (its ack, if any, is still sent by the deadline policy).
    - ``tts_queue_size``: bound of the channel feeding the TTS stream pump.
    - ``crash_hangup_timeout``: after an app crash the call is hung up; this bounds how long
      the runtime waits for jambonz to end it before closing the call itself.
    - ``shutdown_grace``: on shutdown, how long calls in flight may finish before their
      sockets are closed with 1001.
    - ``core``: the per-call protocol settings (ack timing, fallback verbs, queue bound).
    """

    transport: str = attrs.field(default=DEFAULT_TRANSPORT, validator=_known_transport)
    username: str | None = None
    password: str | None = None
    handshake_timeout: float = attrs.field(default=10.0, validator=_positive)
    max_message_bytes: int = attrs.field(default=1 << 20, validator=_positive)
    max_fragments: int = attrs.field(default=1024, validator=_positive)
    max_connections: int = attrs.field(default=10_000, validator=_positive)
    max_handshakes: int = attrs.field(default=1024, validator=_positive)
    max_sessions_per_call: int = attrs.field(default=8, validator=_positive)
    first_message_timeout: float = attrs.field(default=10.0, validator=_positive)
    ping_interval: float | None = attrs.field(default=20.0, validator=_optional_positive)
    pong_timeout: float = attrs.field(default=10.0, validator=_positive)
    send_stall_timeout: float = attrs.field(default=15.0, validator=_positive)
    close_timeout: float = attrs.field(default=5.0, validator=_positive)
    reconnect_timeout: float = attrs.field(default=30.0, validator=_positive)
    rebind_probe_timeout: float = attrs.field(default=2.0, validator=_positive)
    orphan_evict_after: float = attrs.field(default=5.0, validator=_positive)
    allowed_peers: tuple[str, ...] | None = attrs.field(
        default=None, converter=_peers, validator=_valid_peers
    )
    inbox_size: int = attrs.field(default=1000, validator=_positive)
    tts_queue_size: int = attrs.field(default=64, validator=_positive)
    crash_hangup_timeout: float = attrs.field(default=5.0, validator=_positive)
    shutdown_grace: float = attrs.field(default=30.0, validator=_positive)
    core: CoreConfig = attrs.field(factory=CoreConfig)

    def __attrs_post_init__(self) -> None:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password for Basic auth, or neither")
