"""The default transport alone, in one process, over real loopback TCP sockets:
``python bench/transport_roundtrip.py``.

What the ``jbtrio_transport`` bench server (``bench/jbtrio_server.py --bare-transport``) runs,
minus its JSON: each server connection is jbtrio's sans-IO socket (upgrade, then ``receive``
and ``send`` of a constant ack), each client is a raw socket in the same Trio run that sends
prebuilt masked frames (the load generator's ``verb:hook``, 758 bytes) and reads the acks.
``--calls`` connections side by side; each round the client sends one hook on every
connection, then waits for every ack. The client's work is a fixed cost per round trip, so a
change of the transport shows whole in the difference of two instruction counts.

Printed: µs per hook round trip (median of ``--rounds``; noisy on a loaded machine), and with
``--setup`` the µs per call set-up instead (connect, upgrade, ``session:new`` -> ack, close
handshake).

``--instructions`` runs it twice under callgrind (``--count`` 20 and 220 round trips per
call, or ``--setups`` 20 and 120 with ``--setup``) and prints the instructions per round trip
(per set-up): the repeatable measure on a shared machine (issue 23).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time

import trio

# Run as a script (its sibling comes from bench/ itself, sys.path[0]).
from _callgrind import per_unit

from jbtrio._runtime._transport_api import (
    HandshakeFailed,
    HandshakeRejected,
    Keepalive,
    SocketClosed,
    SocketOptions,
)
from jbtrio._runtime._transports import transport_named

CALL_SID = "1f9a3c0e-5b7d-4e2a-9c61-0d8e4b2f7a13"
#: The load generator's gather ``verb:hook`` (bench/node/messages.js), 758 bytes.
HOOK = (
    '{"type":"verb:hook","msgid":"4fGh7Kq2Zx9W000000001a","call_sid":"' + CALL_SID + '",'
    '"hook":"/gather","b3":"18228daa536f82e0ec29074e7bf47b89-dd3bdf1f177f2995-1","data":'
    '{"speech":{"is_final":true,"alternatives":[{"confidence":0.919,"transcript":'
    '"I\'d like to book a car"}],"language_code":"en-US"},"reason":"speechDetected",'
    '"call_sid":"' + CALL_SID + '","direction":"inbound","from":"+15083084809","to":'
    '"+15083728299","call_id":"d8907723-0bc7-123b-09b5-12e962f3039b","sip_status":200,'
    '"sip_reason":"OK","call_status":"in-progress","account_sid":'
    '"9351f46a-678c-43f5-b8a6-d4eb58d131af","application_sid":'
    '"7087fe50-8acb-4f3b-b820-97b573723aab","trace_id":"654c5323d6f907233a1069136b8a330e",'
    '"fs_sip_address":"10.0.13.72:5070"}}'
).encode()
#: The canned ack of the bare-transport server (a say and a gather), 247 bytes.
ACK = (
    '{"type":"ack","msgid":"4fGh7Kq2Zx9W000000001a","data":[{"verb":"say","text":'
    '"You said: I would like to book a car."},{"verb":"gather","input":["speech"],'
    '"actionHook":"/gather","timeout":10,"say":{"text":"Tell me what you need, after the '
    'tone."}}]}'
)
#: A session:new is larger (SIP headers, defaults): padded to the load generator's size.
SESSION_NEW = (HOOK[:-1] + b',"pad":"' + b"x" * 700 + b'"}').replace(b"verb:hook", b"session:new")

UPGRADE = (
    b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: ws.jambonz.org\r\n\r\n"
)
OPTIONS = SocketOptions(
    handshake_timeout=10.0,
    max_message_bytes=1 << 20,
    close_timeout=1.0,
    keepalive=Keepalive(None, 10.0),
)


def masked(opcode: int, payload: bytes, mask: bytes = b"\x37\xfa\x21\x3d") -> bytes:
    """One client frame (masked, FIN set)."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65536:
        head = bytes((0x80 | opcode, 0xFE)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0xFF)) + size.to_bytes(8, "big")
    key = (mask * (size // 4 + 1))[:size]
    body = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        size, "little"
    )
    return head + mask + body


HOOK_FRAME = masked(0x1, HOOK)
SESSION_FRAME = masked(0x1, SESSION_NEW)
CLOSE_FRAME = masked(0x8, (1000).to_bytes(2, "big"))
ACK_FRAME_SIZE = len(ACK) + 4  # a 126..65535-byte server frame: 4-byte header


def accept_all(_: object) -> str:
    return "ws.jambonz.org"


async def serve_one(stream: trio.SocketStream) -> None:
    """The bare-transport server's handler, with a constant ack."""
    transport = transport_named("websockets")
    async with transport.open_socket(stream, OPTIONS, accept_all) as ws:
        if isinstance(ws, HandshakeRejected | HandshakeFailed):
            return
        try:
            while True:
                await ws.receive()
                await ws.send(ACK)
        except SocketClosed:
            return


# The client: a plain non-blocking socket, as little work per round trip as can be.


async def recv(sock: socket.socket, size: int) -> bytes:
    while True:
        try:
            chunk = sock.recv(size)
        except BlockingIOError:
            await trio.lowlevel.wait_readable(sock)
            continue
        if not chunk:
            raise RuntimeError("server closed")
        return chunk


async def read_exactly(sock: socket.socket, size: int) -> bytes:
    got = await recv(sock, size)
    while len(got) < size:
        got += await recv(sock, size - len(got))
    return got


async def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    sock.send(UPGRADE)  # a fresh socket's buffer takes it whole
    got = b""
    while b"\r\n\r\n" not in got:
        got += await recv(sock, 4096)
    if not got.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(got.decode(errors="replace"))
    return sock


async def roundtrips(calls: int, count: int, rounds: int) -> list[float]:
    """µs per round trip of each round."""
    results = []
    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        nursery.start_soon(trio.serve_listeners, serve_one, listeners)
        clients = [await connect(port) for _ in range(calls)]
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(count):
                for sock in clients:
                    sock.send(HOOK_FRAME)
                for sock in clients:
                    await read_exactly(sock, ACK_FRAME_SIZE)
            results.append((time.perf_counter() - start) * 1e6 / (count * calls))
        for sock in clients:
            sock.close()
        nursery.cancel_scope.cancel()
    return results


async def setups(count: int, rounds: int) -> list[float]:
    """µs per call set-up of each round."""
    results = []
    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        nursery.start_soon(trio.serve_listeners, serve_one, listeners)
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(count):
                sock = await connect(port)
                sock.send(SESSION_FRAME)
                await read_exactly(sock, ACK_FRAME_SIZE)
                sock.send(CLOSE_FRAME)
                await read_exactly(sock, 4)  # the close frame echoed
                sock.close()
            results.append((time.perf_counter() - start) * 1e6 / count)
        nursery.cancel_scope.cancel()
    return results


def instructions(args: argparse.Namespace) -> float:
    """Instructions per round trip (set-up): two runs under callgrind, the difference divided."""
    low, high = (20, 120) if args.setup else (20, 220)

    def flags(count: int) -> list[str]:
        work = ["--setup", "--setups", str(count)] if args.setup else ["--count", str(count)]
        return ["--calls", str(args.calls), "--rounds", "1", *work]

    per = 1 if args.setup else args.calls
    return per_unit(__file__, flags(low), flags(high), (high - low) * per)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=10, help="connections side by side")
    parser.add_argument("--count", type=int, default=2000, help="round trips per call per round")
    parser.add_argument("--setup", action="store_true", help="measure call set-ups instead")
    parser.add_argument("--setups", type=int, default=1000, help="set-ups per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--instructions", action="store_true", help="instructions per round trip (callgrind)"
    )
    args = parser.parse_args(argv)
    if args.instructions:
        what = "set-up" if args.setup else "round trip"
        print(f"instructions per {what}: {instructions(args):,.0f}")
        return 0
    if args.setup:
        figures = trio.run(setups, args.setups, args.rounds)
        print(f"us per set-up: {statistics.median(figures):.1f} (rounds: {figures})")
    else:
        figures = trio.run(roundtrips, args.calls, args.count, args.rounds)
        print(f"us per round trip: {statistics.median(figures):.1f} (rounds: {figures})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
