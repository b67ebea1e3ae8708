"""What the parts of a :class:`~._session.CallSession` share: its state and the methods they
call on one another, as a protocol. The parts (:mod:`._session_writer`,
:mod:`._session_timer`, :mod:`._session_events`) are functions of the session bound as its
methods; typing their ``self`` with :class:`SessionParts` keeps them from importing the
session's module (no import circle), and mypy checks that ``CallSession`` is one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import trio

from .._core import CallCore, CoreEvent, Frame, Received, ReplyHandle, Unconfirmed
from ._config import ServerConfig
from ._logging import CallLogger
from ._observe import CallStats
from ._transport_api import WebSocket
from ._tts_driver import TtsPumpDriver
from ._wakeups import Broadcast, Wakeup

__all__ = ["Consumer", "Incoming", "SessionParts"]

Incoming = Received
"""A message for the app with its reply handle (``None`` when jambonz waits for no ack)."""

Consumer = Callable[[Incoming], None]
"""Takes each message for the app, in the reader's task: it must not block."""


class SessionParts(Protocol):
    """A call session, as its parts see it (the attributes are ``CallSession``'s)."""

    call_sid: str
    config: ServerConfig
    core: CallCore
    log: CallLogger
    stats: CallStats
    on_unconfirmed: Callable[[Unconfirmed], None] | None
    _socket: WebSocket | None
    _frames_ready: Wakeup
    _socket_changed: Wakeup
    _queue_drained: Broadcast
    _sending_since: float | None
    _partial: tuple[Frame, WebSocket] | None
    _reconnect_by: float
    _timer_scope: trio.CancelScope | None
    _armed: float
    _now: Callable[[], float]
    _busy: bool
    _timer_up: bool
    _nursery: trio.Nursery | None
    _consumer: Consumer | None
    _backlog: list[Incoming]
    _first_handle: ReplyHandle | None
    _force_close: str | None

    @property
    def ended(self) -> bool: ...

    @property
    def socket(self) -> WebSocket | None: ...

    # what the runtime's observers read (:class:`~._observe.ObservedCall`)
    @property
    def path(self) -> str: ...

    @property
    def resumed(self) -> bool: ...

    @property
    def first_message(self) -> object: ...

    @property
    def end_reason(self) -> str | None: ...

    @property
    def tts_driver(self) -> TtsPumpDriver: ...

    def end(self, reason: str) -> None: ...

    def abort(self, reason: str) -> None: ...

    def send_queued(self, now: float | None = None) -> None: ...

    def reply(
        self,
        handle: ReplyHandle,
        verbs: Iterable[Mapping[str, Any] | Any] | None,
        *,
        now: bool = True,
    ) -> None: ...

    def _handle_core_events(self, events: Iterable[CoreEvent]) -> None: ...

    def _deliver(self, event: Received) -> None: ...

    def _consume(self, consumer: Consumer, event: Received) -> None: ...

    def _arm(self, deadline: float | None) -> None: ...

    def _cover(self) -> None: ...

    def _uncover(self, *, linger: bool = False) -> None: ...

    async def _serve_deadlines(self) -> bool: ...

    async def _timer(self) -> None: ...

    def _start_send(self) -> None: ...

    def _sent(self, frame: Frame, now: float | None = None) -> None: ...

    async def _finish_partial(self, frame: Frame, socket: WebSocket) -> None: ...
