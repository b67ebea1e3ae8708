"""A call session's socket in memory, and jambonz frames, for the session-level tests."""

from __future__ import annotations

import math
from typing import Any

import orjson
import trio

from jbtrio._runtime._transport_api import Written

SID = "5e55a1d0-0000-4000-8000-000000000001"


class Socket:
    """What a session needs of a socket; ``nowait`` says whether frames go out at once."""

    keepalive_at = math.inf
    has_pending = False
    closed_by_us = False
    close_reason = None
    pong_timeout = math.inf
    remote = "memory"
    subprotocol = "ws.jambonz.org"

    def __init__(self, *, nowait: bool) -> None:
        self.nowait = nowait
        self.sent: list[dict[str, Any]] = []

    def send_nowait(self, payload: bytes, *, binary: bool = False) -> Written:
        if not self.nowait:
            return Written.NONE
        self.sent.append(orjson.loads(payload))
        return Written.ALL

    async def send(self, payload: bytes) -> None:
        await trio.lowlevel.checkpoint()
        self.sent.append(orjson.loads(payload))

    async def flush(self) -> None:
        await trio.lowlevel.checkpoint()

    def keepalive(self, now: float) -> bool:
        return True

    async def abort(self, reason: str) -> None:
        await trio.lowlevel.checkpoint()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await trio.lowlevel.checkpoint()


def frame(kind: str, msgid: str, **extra: Any) -> str:
    data = {"call_sid": SID, "direction": "inbound", "from": "+1", "to": "+2"}
    return orjson.dumps(
        {"type": kind, "msgid": msgid, "call_sid": SID, "data": data, **extra}
    ).decode()
