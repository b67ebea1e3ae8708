"""Fuzz target: the jbtrio server fed arbitrary frames over a real loopback socket.

One server (and one Trio loop, in a helper thread) serves the whole run, so the target is
fast and state leaking from one connection into the next has a chance to show. Each example
opens a fresh websocket (the jambonz subprotocol, a real TCP connection), optionally starts
a session with ``session:new``, then sends a few frames drawn from: malformed JSON, binary
frames, frames just under and over the size limit, valid frames of every type with values of
the wrong JSON type in any field (the decode target's mutations), and Unicode edge cases.

Documented outcomes, asserted for every example:

- the server never closes the connection except with 1009 after a frame over
  ``max_message_bytes`` (and 1000 for a call that ended); a malformed frame is skipped;
- when a session was started, its ``session:new`` is acked with verbs, and, if the socket is
  still open after the garbage, a fresh ``verb:hook`` is acked too: the call still works;
- a *canary* call, opened once per run on its own socket, still gets its hooks acked after
  every example: the server keeps serving other calls;
- nothing is logged at ERROR by jbtrio (a handler crash, a runtime failure): malformed
  input is a warning, never an error.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Any

import orjson
import trio
import trio.lowlevel
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket

import jbtrio
from fuzz._live import TrioThread
from fuzz._target import Target
from fuzz.target_decode import mutated_frames
from jbtrio import ReplyError
from jbtrio._runtime import Server, ServerConfig
from jbtrio.verbs import Pause, Say

MAX_MESSAGE_BYTES = 16 * 1024
SUBPROTOCOL = "ws.jambonz.org"
PATH = "/fz"
ALLOWED_CLOSES = frozenset({1000, 1009})
#: Wall-clock bound for one answer over loopback (the machine may be busy; acks are instant).
ANSWER_TIMEOUT = 5.0

app = jbtrio.App()


@app.route(PATH)
async def answer_everything(call: jbtrio.Call) -> None:
    """Start with a long pause, then answer every ack-required message with a say."""
    # Its window may pass, or its socket drop, before the app runs (a frame that fails the
    # connection right behind the session message): the app's to handle, as below.
    with contextlib.suppress(ReplyError):
        await call.start.reply([Say(text="fuzz"), Pause(length=600)])
    async for event in call.events():
        if event.needs_reply:
            with contextlib.suppress(ReplyError):  # its window passed: the core acked it
                await event.reply([Say(text="ok")])


class _ErrorLog(logging.Handler):
    """Collects ERROR records from jbtrio's loggers."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


class _Live:
    """The server, its loop and the canary call, created on first use."""

    def __init__(self) -> None:
        self.errors = _ErrorLog()
        logging.getLogger("jbtrio").addHandler(self.errors)
        self.loop = TrioThread()
        self.server: Server = self.loop.run(self._start)
        self.canary: WebSocketConnection = self.loop.run(self._open_canary)

    async def _start(self) -> Server:
        assert self.loop.nursery is not None
        config = ServerConfig(
            max_message_bytes=MAX_MESSAGE_BYTES,
            ping_interval=None,
            first_message_timeout=30.0,
            reconnect_timeout=5.0,
        )
        server: Server = await self.loop.nursery.start(Server(app, config).run, "127.0.0.1", 0)
        return server

    async def _open_canary(self) -> WebSocketConnection:
        assert self.loop.nursery is not None and self.server.port is not None
        ws: WebSocketConnection = await self.loop.nursery.start(_hold_open, self.server.port)
        await _start_session(ws, f"canary-{uuid.uuid4()}")
        return ws


async def _hold_open(port: int, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    async with open_websocket(
        "127.0.0.1", port, PATH, use_ssl=False, subprotocols=[SUBPROTOCOL]
    ) as ws:
        task_status.started(ws)
        await trio.sleep_forever()


_live: _Live | None = None


def live() -> _Live:
    """The per-run server (started lazily, so importing the module costs nothing)."""
    global _live  # noqa: PLW0603  # one server per process, by design
    if _live is None:
        _live = _Live()
    return _live


def _frame(msg_type: str, msgid: str, sid: str, **extra: Any) -> str:
    return orjson.dumps(
        {"type": msg_type, "msgid": msgid, "call_sid": sid, "data": {"call_sid": sid}, **extra}
    ).decode()


async def _await_ack(ws: WebSocketConnection, msgid: str) -> dict[str, Any]:
    """Read until the ack for ``msgid`` (other frames, acks to fuzz frames, are skipped)."""
    with trio.fail_after(ANSWER_TIMEOUT):
        while True:
            text = await ws.get_message()
            message = orjson.loads(text)
            assert isinstance(message, dict), f"server sent a non-object frame: {text!r}"
            if message.get("type") == "ack" and message.get("msgid") == msgid:
                return message


async def _start_session(ws: WebSocketConnection, sid: str) -> None:
    msgid = f"new-{uuid.uuid4()}"
    await ws.send_message(_frame("session:new", msgid, sid))
    ack = await _await_ack(ws, msgid)
    assert ack.get("data"), f"session:new acked without verbs: {ack}"


async def _probe(ws: WebSocketConnection, sid: str) -> None:
    msgid = f"probe-{uuid.uuid4()}"
    await ws.send_message(_frame("verb:hook", msgid, sid, hook="/probe"))
    await _await_ack(ws, msgid)


async def _run_example(port: int, session: bool, frames: list[str | bytes]) -> int | None:
    """Send ``frames`` on a fresh socket; returns the close code, or None if still open."""
    sid = f"fuzz-{uuid.uuid4()}"
    async with open_websocket(
        "127.0.0.1", port, PATH, use_ssl=False, subprotocols=[SUBPROTOCOL]
    ) as ws:
        try:
            if session:
                await _start_session(ws, sid)
            for frame in frames:
                await ws.send_message(frame)
            if session:
                await _probe(ws, sid)
            else:
                await trio.lowlevel.checkpoint()
        except ConnectionClosed as closed:
            return closed.reason.code if closed.reason is not None else 1006
    return None


def _huge(size: int) -> str:
    return '{"type":"call:status","msgid":"big","pad":"' + "x" * size + '"}'


FRAMES = st.lists(
    st.one_of(
        mutated_frames(),
        st.binary(max_size=64),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=64),
        st.sampled_from(["", "{", "[]", "null", '{"type":1}', '{"type":"verb:hook"}', "\ufeff{}"]),
        st.integers(MAX_MESSAGE_BYTES - 64, MAX_MESSAGE_BYTES + 64).map(_huge),
    ),
    max_size=4,
)


def check(example: tuple[bool, list[str | bytes]]) -> None:
    """One connection's worth of garbage; the documented outcomes only (see module doc)."""
    session, frames = example
    state = live()
    port = state.server.port
    assert port is not None
    errors_before = len(state.errors.records)
    code = state.loop.run(_run_example, port, session, frames)
    too_big = any(len(f.encode() if isinstance(f, str) else f) > MAX_MESSAGE_BYTES for f in frames)
    if code is not None:
        assert code in ALLOWED_CLOSES, f"connection closed with {code}"
        assert code != 1009 or too_big, "1009 without an oversized frame"
    state.loop.run(_probe, state.canary, "canary")
    new_errors = state.errors.records[errors_before:]
    assert not new_errors, f"jbtrio logged errors: {new_errors}"


def load(entry: dict[str, Any]) -> tuple[bool, list[str | bytes]]:
    """A corpus file: ``{"session": bool, "frames": [text, {"hex": "..."} for binary]}``."""
    frames: list[str | bytes] = [
        bytes.fromhex(f["hex"]) if isinstance(f, dict) else f for f in entry["frames"]
    ]
    return bool(entry["session"]), frames


TARGET = Target(
    name="server",
    strategy=st.tuples(st.booleans(), FRAMES),
    check=check,
    load=load,
    description="the server over real TCP fed malformed/huge/binary/mistyped frames",
)
