"""Who may open a connection, before a byte of it is read: the accept loop, the peer address
filter (``ServerConfig.allowed_peers``) and the bound on connections still in their upgrade
(``ServerConfig.max_handshakes``), shared by the single-process server and the ``--workers``
acceptor."""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress

import trio

from ._ratelimit import LogBudget, RateLimitedLogger
from ._rawstream import RawSocketStream

__all__ = ["ACCEPT_BATCH", "HandshakeGate", "PeerFilter", "accept_loop", "peer_ip"]

log = RateLimitedLogger(logging.getLogger("jbtrio.server"), budget=LogBudget())

#: Connections accepted per wake-up of a listening socket. Trio's ``serve_listeners`` takes
#: one per turn of the scheduler: under a flood of connections, the turns grow long and the
#: kernel's backlog, where jambonz's connection waits its turn, grows without end.
ACCEPT_BATCH = 16

#: accept() errors that say the system is out of something: wait a little and go on.
_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_IGNORED_ERRNOS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR})
#: Linux's bound on unsent bytes a writer may queue (trio.SocketStream sets it; not everywhere).
_NOTSENT_LOWAT: int | None = getattr(socket, "TCP_NOTSENT_LOWAT", None)


async def accept_loop(
    listeners: Sequence[trio.SocketListener],
    handler: Callable[[trio.abc.Stream], Awaitable[object]],
    nursery: trio.Nursery,
) -> None:
    """Accept connections on ``listeners`` until cancelled, up to :data:`ACCEPT_BATCH` per
    wake-up, starting ``handler(stream)`` in ``nursery`` for each (a
    :class:`RawSocketStream`, with the options ``trio.SocketStream`` sets), which must close
    the stream whatever happens (the listener's does: every transport closes it on exit). The
    listeners are closed on exit."""
    sockets = []
    for listener in listeners:
        sock = socket.socket(fileno=listener.socket.detach())
        sock.setblocking(False)
        sockets.append(sock)
    try:
        async with trio.open_nursery() as loops:
            for sock in sockets:
                loops.start_soon(_accept_from, sock, handler, nursery, name="jbtrio accept")
    finally:
        for sock in sockets:
            sock.close()


async def _accept_from(
    sock: socket.socket,
    handler: Callable[[trio.abc.Stream], Awaitable[object]],
    nursery: trio.Nursery,
) -> None:
    while True:
        await trio.lowlevel.wait_readable(sock)
        for _ in range(ACCEPT_BATCH):
            try:
                conn, peer = sock.accept()
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno in _CAPACITY_ERRNOS:
                    log.error("accept failed (%s): retrying in 0.1 s", exc)
                    await trio.sleep(0.1)
                    break
                if exc.errno in _IGNORED_ERRNOS:
                    continue
                raise
            with suppress(OSError):  # as trio.SocketStream sets them
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if _NOTSENT_LOWAT is not None:
                    conn.setsockopt(socket.IPPROTO_TCP, _NOTSENT_LOWAT, 2**14)
            # The handler's coroutine is the task itself, with no wrapper of ours around it:
            # a frame fewer to create and to pass through at every step (issue 23). The
            # peer's address is the accept's, as getpeername() would say it.
            remote = f"{peer[0]}:{peer[1]}" if type(peer) is tuple and len(peer) >= 2 else None
            stream = RawSocketStream(conn, remote=remote)
            nursery.start_soon(handler, stream, name="jbtrio connection")


_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def peer_ip(stream: trio.abc.Stream) -> str | None:
    """The peer's IP address on a TCP stream (``None`` for other streams, or if unknown)."""
    if isinstance(stream, trio.SocketStream | RawSocketStream):
        with suppress(OSError):
            peer = stream.socket.getpeername()
            if isinstance(peer, tuple) and peer:
                return str(peer[0])
    return None


class PeerFilter:
    """The addresses allowed to connect (``None``: all). Streams that are not TCP (in-memory
    ones, in tests) have no address and are allowed."""

    def __init__(self, allowed: Sequence[str] | None) -> None:
        self._networks: tuple[_Network, ...] | None = (
            None
            if allowed is None
            else tuple(ipaddress.ip_network(item, strict=False) for item in allowed)
        )

    def refuses(self, stream: trio.abc.Stream) -> str | None:
        """The peer's address when it is not allowed, else ``None``."""
        if self._networks is None:
            return None
        ip = peer_ip(stream)
        if ip is None:
            return None
        try:
            address = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return ip
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self._networks):
            return None
        return ip


class HandshakeGate:
    """Connections in their upgrade, at most ``limit`` at once, counted apart from the
    upgraded ones (``max_connections``) so that a flood of half-open upgrades cannot lock
    jambonz out: when one more arrives at the limit, the oldest is cut short. jambonz
    completes its upgrade within a round trip, so it is always among the newest; a client
    holding upgrades open (a slowloris) is the oldest, and goes first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._scopes: dict[trio.CancelScope, None] = {}  # in arrival order
        self.cut_short = 0
        """Upgrades cut short so far (for logs and tests)."""

    def __len__(self) -> int:
        return len(self._scopes)

    def enter(self) -> tuple[trio.CancelScope, bool]:
        """The cancel scope for a new connection's upgrade, and whether an older upgrade was
        cut short to make room for it."""
        evicted = False
        while len(self._scopes) >= self.limit:
            oldest = next(iter(self._scopes))
            del self._scopes[oldest]
            oldest.cancel()
            self.cut_short += 1
            evicted = True
        scope = trio.CancelScope()
        self._scopes[scope] = None
        return scope, evicted

    def leave(self, scope: trio.CancelScope) -> None:
        """The upgrade in ``scope`` is over (done, refused or failed)."""
        self._scopes.pop(scope, None)
