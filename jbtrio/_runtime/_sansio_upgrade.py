"""The sans-IO backend's HTTP upgrade (:func:`open_upgrade`): reading the request off the
stream (jambonz's usual one read and answered here, :mod:`._upgrade_head`; any other into
websockets' protocol engine), the check, and how it can end (:class:`Upgraded`,
:class:`HandshakeRejected` with the status sent, :class:`HandshakeFailed`).

:mod:`._sansio_socket` makes the upgraded connection a :class:`~._sansio_socket.Socket`; a
process that routes connections (``--workers``) uses :func:`open_upgrade` alone and hands
the connection on.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import attrs
import trio
from websockets.http11 import Request
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from ._plain_http import (
    UNDECIDED,
    Answered,
    PlainAnswer,
    PlainRequest,
    PlainResponse,
    RequestSniffer,
)
from ._rawstream import READ_SIZE, RawSocketStream, remote_address, take_over
from ._sansio_engine import ENGINE_LOG, Engine, OpenEngine, engine, made
from ._transport_api import (
    Check,
    Handshake,
    HandshakeFailed,
    HandshakeRejected,
)
from ._upgrade_head import FastHead, may_be_head, parse_head, switching

__all__ = ["ENGINE_LOG", "Upgraded", "engine", "handshake", "open_upgrade", "release"]


def _strip_query(target: str) -> str:
    return target.split("?", 1)[0].split("#", 1)[0] or "/"


def handshake_of(request: Request, stream: trio.abc.Stream) -> Handshake:
    headers = tuple(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in request.headers.raw_items()
    )
    offered = tuple(
        token.strip()
        for value in request.headers.get_all("Sec-WebSocket-Protocol")
        for token in value.split(",")
        if token.strip()
    )
    return Handshake(
        path=_strip_query(request.path),
        headers=headers,
        subprotocols=offered,
        remote=remote_address(stream),
    )


async def send_pending(protocol: ServerProtocol, stream: trio.abc.Stream) -> None:
    data = b"".join(protocol.data_to_send())
    if data:
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(data)


async def read_head(
    stream: trio.abc.Stream, first: bytes = b"", ended: bool = False
) -> tuple[FastHead | None, bytes, bool]:
    """Read the upgrade request if it has the usual shape (:mod:`._upgrade_head`): the head,
    or ``None`` with every byte read so far and whether the stream ended, for
    :func:`read_request` to go on with. Waits for more only while the engine would.
    ``first`` is what was read already (then the stream's end, when ``ended``)."""
    if ended:
        return None, first, True
    received = b""
    data = first
    while True:
        if not data:
            try:
                data = bytes(await stream.receive_some(READ_SIZE))  # not a copy: bytes already
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                return None, received, True
        received = received + data if received else data
        data = b""
        end = received.find(b"\r\n\r\n")
        if end >= 0:
            # Bytes after the blank line (frames before the 101): the engine's case.
            head = parse_head(received[:end]) if end + 4 == len(received) else None
            return head, received, False
        if not may_be_head(received):
            return None, received, False


async def read_request(
    protocol: ServerProtocol,
    stream: trio.abc.Stream,
    *,
    plain: bool = False,
    first: bytes = b"",
    ended: bool = False,
) -> tuple[Request, bytes] | PlainRequest | PlainResponse | HandshakeRejected | HandshakeFailed:
    """Feed the stream to the protocol until the upgrade request is parsed; a request that
    is not valid HTTP gets a 400 (the rejection is returned), a stream that ends first is a
    :class:`HandshakeFailed`. ``first`` is what was read from the stream already (then its
    end, when ``ended``), fed before anything more is read.

    Also returns the bytes read after the request's blank line: a client waits for the 101
    before sending frames, so they are nearly always none, but a process handing the socket
    over must pass on every byte it took from the stream.

    With ``plain``, a plain HTTP request (:mod:`._plain_http`) is returned instead of going
    to the engine (or the response to a malformed or oversized one).
    """
    received = bytearray()
    sniffer = RequestSniffer() if plain else None
    pending: bytes | None = first if first or ended else None
    data: bytes | bytearray
    while True:
        if pending is not None:
            data, pending = pending, b"" if ended and pending else None
        else:
            try:
                data = await stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
        if data:
            received += data
            if sniffer is not None:
                verdict = sniffer.feed(bytes(data))
                if verdict is UNDECIDED:
                    continue
                if isinstance(verdict, PlainRequest | PlainResponse):
                    return verdict
                assert isinstance(verdict, bytes)
                data, sniffer = verdict, None
            protocol.receive_data(data)
        else:
            if sniffer is not None:
                protocol.receive_data(sniffer.take())
                sniffer = None
            protocol.receive_eof()
        for event in protocol.events_received():
            if isinstance(event, Request):
                end = received.find(b"\r\n\r\n")
                return event, bytes(received[end + 4 :]) if end >= 0 else b""
        failed = protocol.handshake_exc
        if failed is not None and data:
            # websockets closes without a word; an HTTP client deserves a status.
            cause = failed.__cause__ or failed
            protocol.data_to_send()  # its end-of-stream marker: we answer first
            response = protocol.reject(400, f"Bad Request: {cause}\n")
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(response.serialize())
            return HandshakeRejected(400, f"malformed HTTP request ({cause})")
        if failed is not None or not data:
            await send_pending(protocol, stream)
            return HandshakeFailed(
                "connection closed before the upgrade request"
                if not received
                else "connection closed in the middle of the upgrade request"
            )


@attrs.frozen
class Upgraded:
    """A connection whose upgrade was accepted (the 101 is sent): the stream, what the
    request said, the protocol (now OPEN; an :class:`~._sansio_engine.OpenEngine` after the
    usual request) and the bytes read after the request. The sans-IO backend's
    :class:`~._transport_api.Upgrade`."""

    stream: trio.abc.Stream
    handshake: Handshake
    protocol: Engine
    received: bytes

    @property
    def subprotocol(self) -> str:
        """The subprotocol accepted."""
        return str(self.protocol.subprotocol)

    async def close(self, code: int, reason: str) -> None:
        """Send a close frame from here and let go of the connection."""
        protocol = made(self.protocol)
        protocol.send_close(code, reason)
        data = b"".join(protocol.data_to_send())
        # A close frame and the 101 fit any socket buffer: this send cannot stall, and if it
        # is cancelled the connection is dropped anyway.
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.stream.send_all(data)


@asynccontextmanager
async def open_upgrade(
    stream: trio.abc.Stream,
    *,
    handshake_timeout: float,
    max_message_bytes: int,
    check: Check,
    handshake_scope: trio.CancelScope | None = None,
    answer: PlainAnswer | None = None,
) -> AsyncIterator[Upgraded | HandshakeRejected | HandshakeFailed | Answered]:
    """The handshake alone: yields :class:`Upgraded`, the rejection, or the failure (see
    :meth:`~._transport_api.Transport.open_upgrade`); releases the stream on exit without
    sending anything more.

    The handshake runs in ``handshake_scope`` when one is given (its deadline is set to
    ``handshake_timeout`` from now unless it has one): cancelling it cuts the handshake
    short. A process that hands sockets over to others uses this directly: what it closes on
    exit is its own descriptor, so the connection lives on in the process it went to.
    With ``answer``, plain HTTP requests are answered by it (:class:`Answered`).
    """
    original, stream = stream, take_over(stream)
    try:
        # Not held here for the connection's life (the request's headers, issue 23): the
        # caller keeps what it needs of it.
        box = [
            await handshake(
                stream,
                handshake_scope,
                handshake_timeout=handshake_timeout,
                max_message_bytes=max_message_bytes,
                check=check,
                answer=answer,
            )
        ]
        yield box.pop()
    finally:
        await release(stream, original)


async def handshake(
    stream: trio.abc.Stream,
    handshake_scope: trio.CancelScope | None,
    *,
    handshake_timeout: float,
    max_message_bytes: int,
    check: Check,
    answer: PlainAnswer | None,
) -> Upgraded | HandshakeRejected | HandshakeFailed | Answered:
    """:func:`open_upgrade`'s handshake on ``stream`` (taken over already), within
    ``handshake_scope`` (a scope of its own when ``None``), to be followed by
    :func:`release` whatever happens."""
    scope = trio.CancelScope() if handshake_scope is None else handshake_scope
    first, ended = b"", False
    decided: _Decided | None = None
    if type(stream) is RawSocketStream and not scope.cancel_called:
        # jambonz's request has nearly always arrived when its connection is accepted, and
        # its 101 fits any socket buffer: then the upgrade waits for nothing and needs no
        # cancel scope, nor its deadline (issue 23). Anything else goes on in the scope.
        await trio.lowlevel.checkpoint_if_cancelled()  # as the first read would
        try:
            data = stream.receive_nowait(READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if data is not None:
            first, ended = data, not data
            at_once = _at_once(max_message_bytes, stream, check, first)
            if isinstance(at_once, Upgraded):
                return at_once
            decided = at_once
    if scope.deadline == math.inf:
        # Relative: made absolute as the scope is entered, just below. Setting the deadline
        # of a scope enters a generator context manager of trio's; this does not (issue 23).
        scope.relative_deadline = handshake_timeout
    outcome: Upgraded | HandshakeRejected | HandshakeFailed | Answered | None = None
    with scope:
        if decided is not None:
            outcome = await _answer(max_message_bytes, stream, decided)
        else:
            outcome = await upgrade(
                max_message_bytes, stream, check, answer, first=first, ended=ended
            )
    if outcome is None:  # cancelled: by the deadline, or by the gate (max_handshakes)
        if scope.cancelled_caught and trio.current_time() < scope.deadline:
            return HandshakeFailed("handshake cut short to make room (max_handshakes)")
        return HandshakeFailed(f"handshake not completed within {handshake_timeout:g} s")
    return outcome


#: The usual request, read whole, and the check's decision on it: the bytes of the request,
#: the handshake, the decision, and what is left to send of the 101 (none: the engine answers).
_Decided = tuple[bytes, Handshake, str | HandshakeRejected, bytes]


def _decide(received: bytes, head: FastHead, stream: trio.abc.Stream, check: Check) -> _Decided:
    handshake = Handshake(
        path=_strip_query(head.target),
        headers=head.headers,
        subprotocols=head.offered,
        remote=remote_address(stream),
    )
    try:
        decision: str | HandshakeRejected = check(handshake)
    except HandshakeRejected as rejected:
        decision = rejected
    rest = b""
    if isinstance(decision, str) and decision in head.offered:
        rest = switching(head.key, decision)
    return received, handshake, decision, rest


def _at_once(
    max_message_bytes: int, stream: RawSocketStream, check: Check, received: bytes
) -> Upgraded | _Decided | None:
    """The upgrade of the usual request, whole in ``received``, done without waiting: the
    socket took the whole 101. Else what is left to answer in the scope (:func:`_answer`),
    or ``None``: not the usual request, or not whole (read on from ``received``)."""
    end = received.find(b"\r\n\r\n")
    if end < 0 or end + 4 != len(received):
        return None
    head = parse_head(received[:end])
    if head is None:
        return None
    decided = _decide(received, head, stream, check)
    _, handshake, decision, rest = decided
    if not rest:
        return decided  # refused: the engine answers
    try:
        sent = stream.socket.send(rest)
    except BlockingIOError:
        return decided
    except OSError:
        sent = len(rest)  # broken: as send_all's error, ignored (the reader sees it)
    if sent < len(rest):
        return received, handshake, decision, rest[sent:]
    assert isinstance(decision, str)
    return Upgraded(stream, handshake, OpenEngine(max_message_bytes, decision), b"")


async def release(stream: trio.abc.Stream, original: trio.abc.Stream) -> None:
    """Let go of ``stream`` (``original``, as :func:`~._rawstream.take_over` made it)."""
    if isinstance(stream, RawSocketStream):
        stream.close_now()
    else:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)
    if stream is not original:
        # Its socket was detached by take_over: closing it releases nothing, and needs
        # no cancel scope (issue 23); the schedule points of aclose_forcefully stay.
        assert isinstance(original, trio.SocketStream)
        original.socket.close()
        await trio.lowlevel.cancel_shielded_checkpoint()
        await trio.lowlevel.cancel_shielded_checkpoint()


async def upgrade(
    max_message_bytes: int,
    stream: trio.abc.Stream,
    check: Check,
    answer: PlainAnswer | None = None,
    *,
    first: bytes = b"",
    ended: bool = False,
) -> Upgraded | HandshakeRejected | HandshakeFailed | Answered:
    head, first, ended = await read_head(stream, first, ended)
    if head is not None:
        # The usual request (issue 23): decided and answered without the engine's HTTP.
        return await _answer(max_message_bytes, stream, _decide(first, head, stream, check))
    protocol = engine(max_message_bytes)
    read = await read_request(protocol, stream, plain=answer is not None, first=first, ended=ended)
    if isinstance(read, PlainRequest | PlainResponse):
        assert answer is not None
        return await answer_plain(stream, read, answer)
    if not isinstance(read, tuple):
        return read
    request, received = read
    handshake = handshake_of(request, stream)
    try:
        decision: str | HandshakeRejected = check(handshake)
    except HandshakeRejected as rejected:
        decision = rejected
    return await respond((protocol, request), stream, handshake, decision, received)


async def _answer(
    max_message_bytes: int, stream: trio.abc.Stream, decided: _Decided
) -> Upgraded | HandshakeRejected:
    """Answer the usual request as decided: the rest of the 101, or the engine's answer
    (a refusal, or a subprotocol the request did not offer: its answer, its words)."""
    received, handshake, decision, rest = decided
    if not rest:
        return await respond(_replayed(max_message_bytes, received), stream, handshake, decision)
    assert isinstance(decision, str)
    with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.send_all(rest)
    # No engine made for it (issue 23): the socket makes one if it ever needs it.
    return Upgraded(stream, handshake, OpenEngine(max_message_bytes, decision), b"")


def _replayed(max_message_bytes: int, head: bytes) -> tuple[ServerProtocol, Request]:
    """A new engine that read ``head`` (a whole request, nothing after it), and the request
    it read: for an answer the engine must give."""
    protocol = engine(max_message_bytes)
    protocol.receive_data(head)
    (request,) = protocol.events_received()
    assert isinstance(request, Request)
    return protocol, request


async def respond(
    engine_request: tuple[ServerProtocol, Request],
    stream: trio.abc.Stream,
    handshake: Handshake,
    decision: str | HandshakeRejected,
    received: bytes = b"",
) -> Upgraded | HandshakeRejected:
    """Answer ``request`` through the engine that read it, as the check decided: the
    subprotocol to accept (the engine may still refuse the request), or the rejection."""
    protocol, request = engine_request
    if isinstance(decision, HandshakeRejected):
        response = protocol.reject(decision.status, decision.reason)
        if decision.status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="jbtrio"'
        protocol.send_response(response)
        await send_pending(protocol, stream)
        return decision
    # The check chose among those offered: the engine answers with that one.
    protocol.available_subprotocols = [Subprotocol(decision)]
    response = protocol.accept(request)
    protocol.send_response(response)
    await send_pending(protocol, stream)
    if response.status_code != 101:
        return HandshakeRejected(response.status_code, "not a valid websocket upgrade request")
    if not received:
        _drop_request(protocol)
    return Upgraded(stream, handshake, protocol, received)


def _drop_request(protocol: ServerProtocol) -> None:
    """Restart the engine's frame parser without the upgrade request.

    websockets' server parser parses the request, then frames in the same generator, whose
    frame keeps the request (its headers: ~2.5 KiB) for the socket's whole life (issue 23).
    The base class's parser is that frame loop alone. Only when no byte came after the
    request: the old parser then waits on an empty buffer, so nothing is lost.
    """
    if protocol.state is State.OPEN:
        protocol.parser = Protocol.parse(protocol)
        next(protocol.parser)


async def answer_plain(
    stream: trio.abc.Stream, read: PlainRequest | PlainResponse, answer: PlainAnswer
) -> Answered | HandshakeRejected:
    """Answer a plain request; a malformed or oversized one is refused (and logged) as a
    malformed upgrade request is."""
    response = answer(read) if isinstance(read, PlainRequest) else read
    head_only = isinstance(read, PlainRequest) and read.method == "HEAD"
    with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.send_all(response.serialize(head_only=head_only))
    if isinstance(read, PlainResponse):
        return HandshakeRejected(read.status, f"malformed HTTP request ({read.body.decode()})")
    return Answered(read.method, read.path, response.status)
