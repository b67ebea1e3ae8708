"""Every bound of cluster mode, explicit, documented and configurable (``ClusterConfig``)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

import attrs

__all__ = ["MIN_SECRET_BYTES", "ClusterConfig", "split_address"]

#: Shortest shared secret accepted: a short one could be guessed from the relay's MACs.
MIN_SECRET_BYTES = 16


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _redis_url(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise ValueError(f"{attribute.name}: expected redis://HOST:PORT/DB, got {value!r}")


def _secret(_inst: object, attribute: attrs.Attribute[Any], value: bytes) -> None:
    if len(value) < MIN_SECRET_BYTES:
        raise ValueError(
            f"{attribute.name} must be at least {MIN_SECRET_BYTES} bytes, got {len(value)}"
        )


def split_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as a pair; ``ValueError`` if it is not one."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def _address(_inst: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        try:
            split_address(value)
        except ValueError as exc:
            raise ValueError(f"{attribute.name}: {exc}") from None


@attrs.frozen(kw_only=True)
class ClusterConfig:
    """Settings of cluster mode (``jbtrio serve --redis URL``): the instances share call
    ownership through Redis leases, and a socket that reaches an instance not holding its
    call is relayed to the one that does.

    Who is who:

    - ``redis_url``: ``redis://HOST:PORT/DB`` (``rediss://`` for TLS), the Redis every
      instance shares; jambonz's own will do (keys are prefixed with ``key_prefix``).
    - ``secret``: the shared secret the instances authenticate each other's relays with
      (at least :data:`MIN_SECRET_BYTES` bytes; only MACs derived from it travel).
    - ``advertise``: ``HOST:PORT`` other instances reach this one's relay listener at (a pod
      IP in Kubernetes); ``None``: ``relay_host:relay_port``, which must then be reachable.
    - ``relay_host``/``relay_port``: where the relay listener binds (``relay_port=0``: any
      free port, for tests).
    - ``instance_id``: this instance's name in the leases (random unless given).
    - ``key_prefix``: prefix of the lease keys (``<prefix><call_sid>``).

    Leases:

    - ``lease_ttl``: seconds a lease lives unless renewed (15): how long the calls of an
      instance that vanished stay claimed. Another instance that cannot reach the owner's
      relay takes the call over at once, so this matters mostly when Redis is unreachable.
    - ``renew_interval``: seconds between two renewals of every lease held (5; at most half
      the TTL, so one late renewal loses nothing).
    - ``renew_batch``: leases renewed per Redis round trip (1000); more take more trips.
    - ``redis_timeout``: bound on every Redis call, seconds (0.5): a lookup holds up the
      socket that asked, so an unreachable Redis must fail fast.
    - ``redis_connect_timeout``: bound on opening a connection to Redis (0.5).

    The relay:

    - ``relay_connect_timeout``: seconds to connect to an owner's relay listener (1.0);
      past it the owner counts as gone and the call is started here.
    - ``relay_handshake_timeout``: seconds a relay peer has to send its whole header, and
      the owner to answer it (5.0).
    - ``relay_max_header_bytes``: largest relay header (16 KiB: the upgrade's headers).
    - ``relay_max_received_bytes``: largest block of socket bytes relayed with the header
      (what the first instance read up to the session message; 1 MiB + 64 KiB, the
      ``--workers`` acceptor's own bound with the default ``max_message_bytes``).
    - ``relay_max_pending``: relay connections still in their header at once (256); at the
      bound the oldest is cut short, as the public listener does with its upgrades.
    - ``max_clock_skew``: seconds a relay header's timestamp may differ from this host's
      clock (30); its nonce is remembered that long, so a header is never accepted twice.
    - ``relay_user_timeout``: seconds unacknowledged relay data may wait before the
      connection counts as dead (``TCP_USER_TIMEOUT``, 15; keepalive probes find an idle
      dead peer about as fast).
    """

    redis_url: str = attrs.field(validator=_redis_url)
    secret: bytes = attrs.field(repr=False, validator=_secret)
    advertise: str | None = attrs.field(default=None, validator=_address)
    relay_host: str = "127.0.0.1"
    relay_port: int = attrs.field(default=0)
    instance_id: str = attrs.field(factory=lambda: secrets.token_hex(8))
    key_prefix: str = "jbtrio:call:"
    lease_ttl: float = attrs.field(default=15.0, validator=_positive)
    renew_interval: float = attrs.field(default=5.0, validator=_positive)
    renew_batch: int = attrs.field(default=1000, validator=_positive)
    redis_timeout: float = attrs.field(default=0.5, validator=_positive)
    redis_connect_timeout: float = attrs.field(default=0.5, validator=_positive)
    relay_connect_timeout: float = attrs.field(default=1.0, validator=_positive)
    relay_handshake_timeout: float = attrs.field(default=5.0, validator=_positive)
    relay_max_header_bytes: int = attrs.field(default=16 * 1024, validator=_positive)
    relay_max_received_bytes: int = attrs.field(default=(1 << 20) + 64 * 1024, validator=_positive)
    relay_max_pending: int = attrs.field(default=256, validator=_positive)
    max_clock_skew: float = attrs.field(default=30.0, validator=_positive)
    relay_user_timeout: float = attrs.field(default=15.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.relay_port < 65536:
            raise ValueError(f"relay_port must be 0..65535, got {self.relay_port!r}")
        if self.renew_interval * 2 > self.lease_ttl:
            raise ValueError(
                f"renew_interval ({self.renew_interval:g} s) must be at most half of "
                f"lease_ttl ({self.lease_ttl:g} s)"
            )
        if self.advertise is None and self.relay_host in ("", "0.0.0.0", "::"):
            raise ValueError(
                f"relay_host {self.relay_host!r} listens on every interface: set advertise "
                "(--advertise HOST:PORT) to the address other instances reach this one at"
            )
        if not self.instance_id or any(c.isspace() for c in self.instance_id):
            raise ValueError(f"instance_id must be non-empty, without spaces: {self.instance_id!r}")
