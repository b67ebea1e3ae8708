"""The relay between instances: :func:`relay` on the instance a socket reached, and
:class:`RelayListener` on the instance that owns its call (wire format: :mod:`._relay_wire`).

The relay listener is bounded like the public one: a peer has ``relay_handshake_timeout``
seconds to send its whole header, at most ``relay_max_pending`` connections may be in that
phase (the oldest is cut short for a new one), a header is at most
``relay_max_header_bytes``, and nothing of a call is touched before the header's MAC is
checked. A connection whose header fails any check is reset without an answer, and counted.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from typing import Any

import attrs
import trio

from ._config import split_address
from ._relay_wire import (
    ACK_SIZE,
    NonceCache,
    RelayRejected,
    RelayRequest,
    RequestReader,
    Status,
    decode_ack,
    encode_ack,
    encode_request,
)
from ._splice import CHUNK, LINGER, Spliced, abort_stream, splice, tune_relay_socket

__all__ = ["Outcome", "RelayListener", "RelayResult", "RelayStats", "relay"]

log = logging.getLogger("jbtrio.cluster")

Logger = logging.Logger | logging.LoggerAdapter[Any]


class Outcome(enum.Enum):
    """How a relay attempt ended, seen from the instance that relayed."""

    RELAYED = "relayed"
    """The owner adopted the socket; the splice ran until the connection ended."""
    NOT_HERE = "not here"
    """The owner answered that the call is not there: serve it here."""
    BUSY = "busy"
    """The owner is at its bounds: serve it here."""
    UNREACHABLE = "unreachable"
    """No connection, no answer in time, or not a proper answer: the owner is gone."""


@attrs.frozen
class RelayResult:
    outcome: Outcome
    detail: str = ""
    spliced: Spliced | None = None
    answered_after: float | None = None
    """Seconds from the start of the attempt to the owner's answer (the relay's setup cost)."""


async def relay(
    jambonz: trio.abc.Stream,
    *,
    key: bytes,
    sender: str,
    target: str,
    address: str,
    call_sid: str,
    why: str,
    path: str,
    headers: Sequence[tuple[bytes, bytes]],
    subprotocols: Sequence[str],
    subprotocol: str,
    remote: str,
    received: bytes | bytearray,
    connect_timeout: float,
    handshake_timeout: float,
    user_timeout: float,
    on_adopted: Callable[[], None] = lambda: None,
    on_chunk: Callable[[float], None] | None = None,
    linger: float = LINGER,
) -> RelayResult:
    """Relay the upgraded connection ``jambonz`` to instance ``target`` at ``address``.

    Unless the outcome is :attr:`Outcome.RELAYED`, nothing was read from ``jambonz`` and
    it is left open, to be served here. When the owner adopts it, ``on_adopted`` is called,
    then the bytes are spliced until the connection ends (``jambonz`` is closed on return;
    ``on_chunk``: see :func:`~._splice.splice`).
    """
    started = trio.current_time()
    try:
        host, port = split_address(address)
    except ValueError as exc:
        return RelayResult(Outcome.UNREACHABLE, str(exc))
    conn: trio.SocketStream | None = None
    with trio.move_on_after(connect_timeout):
        try:
            conn = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            return RelayResult(Outcome.UNREACHABLE, f"cannot connect to {address}: {exc}")
    if conn is None:
        return RelayResult(
            Outcome.UNREACHABLE, f"no connection to {address} within {connect_timeout:g} s"
        )
    tune_relay_socket(conn.socket, user_timeout)
    request, nonce = encode_request(
        key,
        sender=sender,
        target=target,
        call_sid=call_sid,
        why=why,
        path=path,
        headers=headers,
        subprotocols=subprotocols,
        subprotocol=subprotocol,
        remote=remote,
        received=received,
        now=time.time(),
    )
    answer = bytearray()
    status: Status | None = None
    detail = f"no answer from {address} within {handshake_timeout:g} s"
    with trio.move_on_after(handshake_timeout):
        try:
            await conn.send_all(request)
            while len(answer) < ACK_SIZE:
                data = await conn.receive_some(CHUNK)
                if not data:
                    break
                answer += data
            status = decode_ack(key, nonce, bytes(answer[:ACK_SIZE]))
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            detail = f"relay connection to {address} failed: {exc or type(exc).__name__}"
        except RelayRejected as exc:
            detail = f"{address} closed or answered wrongly: {exc}"
    answered_after = trio.current_time() - started
    if status is not Status.ADOPTED:
        await abort_stream(conn) if status is None else await trio.aclose_forcefully(conn)
        if status is None:
            return RelayResult(Outcome.UNREACHABLE, detail, answered_after=answered_after)
        outcome = Outcome.NOT_HERE if status is Status.NOT_HERE else Outcome.BUSY
        return RelayResult(outcome, f"{address} answered {status.name}", None, answered_after)
    on_adopted()
    extra = bytes(answer[ACK_SIZE:])
    if extra:  # the owner's first bytes came with its answer: they go first
        try:
            await jambonz.send_all(extra)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await abort_stream(conn)
            await abort_stream(jambonz)
            return RelayResult(Outcome.RELAYED, "jambonz left", Spliced(aborted="jambonz left"))
    spliced = await splice(jambonz, conn, linger=linger, on_chunk=on_chunk)
    spliced.bytes_back += len(extra)
    return RelayResult(Outcome.RELAYED, "", spliced, answered_after)


@attrs.define
class RelayStats:
    """Counters of a relay listener, for a metrics exporter."""

    connections: int = 0
    """Relay connections accepted."""
    adopted: int = 0
    """Sockets adopted from other instances."""
    not_here: int = 0
    """Headers answered NOT_HERE (the call is not here)."""
    busy: int = 0
    """Headers answered BUSY."""
    rejected: int = 0
    """Connections reset for a header that failed a check (MAC, size, age, replay, ...)."""
    timed_out: int = 0
    """Connections that did not send a whole header in time, or were cut short for others."""
    pending: int = 0
    """Connections in their header now (a gauge)."""


class RelayListener:
    """This instance's relay listener (see the module).

    ``decide(request)`` says what to do with an authenticated request (:class:`Status`);
    ``adopt(stream, request)`` serves an adopted connection and returns when it is done
    (the connection is closed after). Neither may raise: a failure in one connection is
    logged and ends that connection only.
    """

    def __init__(
        self,
        *,
        key: bytes,
        instance: str,
        decide: Callable[[RelayRequest], Status],
        adopt: Callable[[trio.abc.Stream, RelayRequest], Awaitable[None]],
        handshake_timeout: float,
        max_pending: int,
        max_header: int,
        max_received: int,
        max_skew: float,
        user_timeout: float,
        logger: Logger = log,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.port: int | None = None
        self.stats = RelayStats()
        self._key = key
        self._instance = instance
        self._decide = decide
        self._adopt = adopt
        self._handshake_timeout = handshake_timeout
        self._max_pending = max_pending
        self._max_header = max_header
        self._max_received = max_received
        self._max_skew = max_skew
        self._user_timeout = user_timeout
        self._log = logger
        self._wall_clock = wall_clock
        self._nonces = NonceCache(max_skew)
        self._pending: dict[trio.CancelScope, None] = {}  # in arrival order

    async def run(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[RelayListener] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``host:port`` until cancelled (``port`` 0: any free one, see
        :attr:`port`)."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.port = listeners[0].socket.getsockname()[1]
        log.info("relay listener on %s:%s (instance %s)", host, self.port, self._instance)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                trio.serve_listeners, self.handle, listeners, name="jbtrio relay accept"
            )
            task_status.started(self)

    async def handle(self, stream: trio.abc.Stream) -> None:
        """One relay connection, start to end. Never raises (except cancellation)."""
        self.stats.connections += 1
        try:
            request = await self._read_request(stream)
            if request is None:
                return
            try:
                status = self._decide(request)
            except Exception:
                log.exception("[%s] relay: deciding failed", request.call_sid)
                status = Status.BUSY
            try:
                await stream.send_all(encode_ack(self._key, request.nonce, status))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if status is not Status.ADOPTED:
                if status is Status.NOT_HERE:
                    self.stats.not_here += 1
                else:
                    self.stats.busy += 1
                return
            self.stats.adopted += 1
            await self._adopt(stream, request)
        except* Exception as group:
            log.error("relay connection handler failed", exc_info=group)
        finally:
            await trio.aclose_forcefully(stream)

    async def _read_request(self, stream: trio.abc.Stream) -> RelayRequest | None:
        peer = _peer(stream)
        sock = getattr(stream, "socket", None)
        if sock is not None:
            tune_relay_socket(sock, self._user_timeout)
        scope = self._enter()
        reader = RequestReader(
            self._key,
            self._instance,
            max_header=self._max_header,
            max_received=self._max_received,
            max_skew=self._max_skew,
            nonces=self._nonces,
        )
        request: RelayRequest | None = None
        try:
            with scope:
                while request is None:
                    try:
                        data = await stream.receive_some(CHUNK)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        data = b""
                    if not data:
                        self._log.info("relay connection from %s closed before its header", peer)
                        return None
                    request = reader.feed(data, self._wall_clock())
        except RelayRejected as exc:
            self.stats.rejected += 1
            self._log.warning("relay connection from %s refused: %s", peer, exc)
            await abort_stream(stream)
            return None
        finally:
            self._leave(scope)
        if request is None:
            self.stats.timed_out += 1
            self._log.warning(
                "relay connection from %s: no whole header within %g s, or cut short for "
                "newer ones (relay_max_pending); closing",
                peer,
                self._handshake_timeout,
            )
            await abort_stream(stream)
        return request

    def _enter(self) -> trio.CancelScope:
        while len(self._pending) >= self._max_pending:
            oldest = next(iter(self._pending))
            del self._pending[oldest]
            oldest.cancel()
        scope = trio.CancelScope(deadline=trio.current_time() + self._handshake_timeout)
        self._pending[scope] = None
        self.stats.pending = len(self._pending)
        return scope

    def _leave(self, scope: trio.CancelScope) -> None:
        self._pending.pop(scope, None)
        self.stats.pending = len(self._pending)


def _peer(stream: trio.abc.Stream) -> str:
    sock = getattr(stream, "socket", None)
    with suppress(OSError, AttributeError):
        peer = sock.getpeername() if sock is not None else None
        if isinstance(peer, tuple) and len(peer) >= 2:
            return f"{peer[0]}:{peer[1]}"
    return "?"
