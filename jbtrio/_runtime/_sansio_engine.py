"""websockets' protocol engine for the sans-IO socket, made only when it is needed.

The socket parses data frames and the peer's valid close itself (:mod:`._sansio_frames`),
and jambonz's usual upgrade is answered without the engine (:mod:`._upgrade_head`): most
connections then never need the engine, whose making (a UUID, a stream reader, a parser
generator) was ~47,000 instructions of each call's set-up (issue 23). An upgraded socket
starts with an :class:`OpenEngine`, the few fields of the engine the socket reads, and
:func:`made` turns it into the engine, in the same state, as soon as anything else is needed
(a control frame but the peer's close, a failure, a ping, a close of ours, the end of the
stream): from then on every check, close code and reason is the engine's, as before.
"""

from __future__ import annotations

import logging

from websockets.frames import Close
from websockets.protocol import SEND_EOF, State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from ._transport_api import AUDIO_SUBPROTOCOL, SUBPROTOCOL

__all__ = ["ENGINE_LOG", "Engine", "OpenEngine", "engine", "made"]

# websockets logs every connection at INFO with no call_sid; our own records say what matters.
ENGINE_LOG = logging.getLogger("jbtrio.websocket")
ENGINE_LOG.addHandler(logging.NullHandler())
ENGINE_LOG.propagate = False

#: The subprotocols a server may accept; the check picks one per request.
_OFFERED = [Subprotocol(SUBPROTOCOL), Subprotocol(AUDIO_SUBPROTOCOL)]


def engine(max_message_bytes: int, *, subprotocol: str | None = None) -> ServerProtocol:
    """websockets' server protocol engine, bounded by ``max_message_bytes``: before the
    upgrade (``subprotocol=None``), or already OPEN with ``subprotocol`` accepted."""
    if subprotocol is None:
        return ServerProtocol(
            subprotocols=list(_OFFERED), max_size=max_message_bytes, logger=ENGINE_LOG
        )
    protocol = ServerProtocol(
        subprotocols=[Subprotocol(subprotocol)],
        state=State.OPEN,
        max_size=max_message_bytes,
        logger=ENGINE_LOG,
    )
    protocol.subprotocol = Subprotocol(subprotocol)
    return protocol


class OpenEngine:
    """An open socket's engine before it is made: the fields of websockets'
    ``ServerProtocol`` the socket reads and writes on its own paths (the state, the write
    queue, the close frames, whether the end of the stream was sent), under the same names."""

    __slots__ = (
        "close_rcvd",
        "close_rcvd_then_sent",
        "close_sent",
        "eof_sent",
        "max_message_size",
        "state",
        "subprotocol",
        "writes",
    )

    #: The engine's bound on a frame: none is ever set (``max_message_size`` bounds a message).
    max_fragment_size: None = None

    def __init__(self, max_message_bytes: int, subprotocol: str) -> None:
        self.state = State.OPEN
        self.writes: list[bytes] = []
        self.close_rcvd: Close | None = None
        self.close_sent: Close | None = None
        self.close_rcvd_then_sent: bool | None = None
        self.eof_sent = False
        self.max_message_size = max_message_bytes
        self.subprotocol = Subprotocol(subprotocol)

    def data_to_send(self) -> list[bytes]:
        """What is queued to write, taken (as the engine's own method)."""
        writes, self.writes = self.writes, []
        return writes

    def send_eof(self) -> None:
        """Queue the end of the stream (as the engine's own method)."""
        assert not self.eof_sent
        self.eof_sent = True
        self.writes.append(SEND_EOF)


#: What a socket holds: the engine, or its fields until it is made.
Engine = ServerProtocol | OpenEngine


def made(protocol: Engine) -> ServerProtocol:
    """The engine of ``protocol``: itself, or an engine made now in the state the
    :class:`OpenEngine` holds (after the peer's close, one that discards the rest of the
    stream, as after its own parse of that close)."""
    if isinstance(protocol, ServerProtocol):
        return protocol
    real = engine(protocol.max_message_size, subprotocol=protocol.subprotocol)
    real.writes = protocol.writes  # the same list: a caller may hold it
    real.close_rcvd = protocol.close_rcvd
    real.close_sent = protocol.close_sent
    real.close_rcvd_then_sent = protocol.close_rcvd_then_sent
    real.eof_sent = protocol.eof_sent
    if protocol.state is not State.OPEN:
        # Only the peer's close takes an OpenEngine out of OPEN (:mod:`._sansio_frames`).
        real.state = protocol.state
        real.parser = real.discard()
        next(real.parser)
    return real
