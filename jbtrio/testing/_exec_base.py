"""The state of a simulated call's verb execution, and what every verb uses.

:class:`ExecutorBase` holds what the verbs share: the stack, the caller's script, the call
info hooks carry, the hook round trip (send, accept the ack's verbs, or report its failure
the way the verb's jambonz task does), ``verb:status`` events, and the streaming-TTS buffer
(a ``say`` with ``stream: true``, ``config.ttsStream``). The verbs themselves run in the
modules around it (:mod:`._exec_media`, :mod:`._exec_calls`, :mod:`._exec_ai`,
:mod:`._exec_agent`, :mod:`._exec_listen`), the commands in :mod:`._exec_commands`;
:mod:`._executor` puts them together. It also reports what the caller heard of streamed
speech (``tts_spoken``) when ``config.trackTtsPlayout`` asks jambonz 10.x/11.x for it.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

import trio

from jbtrio import VerbError
from jbtrio.verbs import JambonzVersion, canonical_verb, validate, verb_body, verb_name

from ._acks import AckOk, AckResult
from ._caller import Caller, CallerTurn
from ._config import JambonzConfig
from ._connect import Connector, Target
from ._envelope import AppCommand
from ._outcome import AckRecord, CallRecord
from ._requestor import Requestor
from ._tts_buffer import (
    StreamEmpty,
    StreamingEvent,
    StreamState,
    TokensResult,
    TtsOutput,
    TtsStreamBuffer,
    VendorClear,
    VendorFlush,
    VendorText,
)

__all__ = [
    "EndOfCall",
    "ExecutorBase",
    "OpenSocket",
    "Running",
    "check_verbs",
    "hook_url",
    "normalize_verbs",
]

_COMMAND_QUEUE = 64
#: Opens a new socket (a Requestor) to a URL with optional Basic credentials.
OpenSocket = Callable[[str, str | None, str | None], Requestor]
#: session:new / session:adulting data that is not part of CallInfo in hooks and statuses.
_NOT_CALL_INFO = frozenset({"sip", "env_vars", "defaults", "parent_call_info"})


def normalize_verbs(verbs: list[Any]) -> list[dict[str, Any]]:
    """``{"say": {...}}`` and alias forms as ``{"verb": "say", ...}`` (already validated)."""
    out: list[dict[str, Any]] = []
    for v in verbs:
        if not isinstance(v, dict):
            continue
        item = dict(v) if "verb" in v else {"verb": verb_name(v), **verb_body(v)}
        item["verb"], vendor = canonical_verb(str(item["verb"]))
        if vendor is not None:
            item.setdefault("vendor", vendor)
        out.append(item)
    return out


def hook_url(hook: Any) -> str | None:
    """The hook string jambonz puts in the envelope: the string, or a hook object's url."""
    if isinstance(hook, str):
        return hook
    if isinstance(hook, dict) and isinstance(hook.get("url"), str):
        return str(hook["url"])
    return None


def check_verbs(data: Any, jambonz: JambonzVersion) -> str | None:
    """``None`` when ``data`` is a valid verb list for jambonz ``jambonz``, else a one-line
    reason (the validator's: it names the verb, the property and, for a verb newer than the
    target, the release that brought it)."""
    try:
        validate(data, jambonz=jambonz)
    except VerbError as exc:
        return str(exc)
    return None


class EndOfCall:
    """Why the session stopped: outcome status, one-line reason, and who ended it."""

    def __init__(
        self,
        status: Literal["completed", "failed"],
        reason: str,
        by: Literal["app", "caller", "jambonz"],
    ) -> None:
        self.status = status
        self.reason = reason
        self.by = by


class Running:
    """The verb being executed and the scope that kills it.

    An AI verb's tool calls wait in ``tool_outputs`` (set when the app's ``llm:tool-output``
    came, its ``data`` then in ``tool_results``); an ``agent`` takes the app's
    ``agent:update`` commands from ``updates`` (``updated`` is set at each, ``cut`` by a
    ``generate_reply`` that interrupts).
    """

    def __init__(self, verb: dict[str, Any], scope: trio.CancelScope) -> None:
        self.verb = verb
        self.scope = scope
        self.tool_outputs: dict[str, trio.Event] = {}
        self.tool_results: dict[str, Any] = {}
        self.updates: list[dict[str, Any]] = []
        self.updated = trio.Event()
        self.cut = trio.Event()

    def update(self, data: dict[str, Any]) -> None:
        """An ``agent:update`` for this verb."""
        self.updates.append(data)
        if data.get("type") == "generate_reply" and data.get("interrupt") is True:
            self.cut.set()
        self.updated.set()
        self.updated = trio.Event()


class ExecutorBase:
    """What the verbs of one call share (see the module doc)."""

    def __init__(
        self,
        *,
        requestor: Requestor,
        config: JambonzConfig,
        caller: Caller,
        call_info: dict[str, Any],
        record: CallRecord,
        log: logging.LoggerAdapter[logging.Logger],
        open_socket: OpenSocket | None = None,
        call_url: str = "ws://localhost/",
        audio_connector: Connector | None = None,
    ) -> None:
        self.requestor = requestor
        self.call_url = call_url
        """The app's websocket URL (``#`` options removed): relative hooks resolve against it."""
        self.call_target: Target = requestor.target
        self.audio_connector = audio_connector
        self.notifier = requestor
        self._open_socket = open_socket
        self.config = config
        self.caller = caller
        self.info = call_info
        self.record = record
        self.log = log
        self.stack: list[dict[str, Any]] = []
        self.current: Running | None = None
        self.notify_events = False
        self.customer_data: Any = None
        self.turns: deque[CallerTurn] = deque(caller.initial_turns())
        self._dials = caller.dial_outcomes()
        self._llms = caller.llm_scripts()
        self._agents = caller.agent_scripts()
        self._transfers = caller.transfer_outcomes()
        self._turn_added = trio.Event()
        self._wake = trio.Event()
        self.end: EndOfCall | None = None
        self.tts = TtsStreamBuffer()
        self._tts_lock = trio.Lock()
        self._tts_changed = trio.Event()
        self._stream_empty = trio.Event()
        # jambonz 10.x/11.x's config.trackTtsPlayout: tts_spoken reports of the utterance
        self.track_tts_playout = False
        self._utterance: list[str] = []
        self._cleared = ""  # what a clear dropped: a barge-in's report still names it
        self._cmd_send, self._cmd_recv = trio.open_memory_channel[AppCommand](_COMMAND_QUEUE)
        self._nursery: trio.Nursery | None = None

    def add_turn(self, turn: CallerTurn) -> None:
        """Queue what the caller says or presses at the next gather."""
        self.turns.append(turn)
        self._turn_added.set()
        self._turn_added = trio.Event()

    def finish(
        self,
        status: Literal["completed", "failed"],
        reason: str,
        by: Literal["app", "caller", "jambonz"],
    ) -> None:
        """End the call: kill the running verb and stop waiting for commands."""
        if self.end is None:
            self.end = EndOfCall(status, reason, by)
        if self.current is not None:
            self.current.scope.cancel(reason=reason)
        self._wake.set()

    async def _watch_reconnect(self, requestor: Requestor) -> None:
        await requestor.reconnect_error.wait()
        self.finish("failed", "session:reconnect ack timed out", "jambonz")

    def call_info(self, **extra: Any) -> dict[str, Any]:
        """Call info as hooks and call:status carry it, plus ``extra``."""
        info = {k: v for k, v in self.info.items() if k not in _NOT_CALL_INFO}
        if self.config.api_base_url is not None:
            info["api_base_url"] = self.config.api_base_url
        if self.customer_data is not None:
            info["customerData"] = self.customer_data
        info.update(extra)
        return info

    async def _status_event(self, event: str, verb: dict[str, Any]) -> None:
        if not self.notify_events:
            return
        data: dict[str, Any] = {"event": event, "name": verb["verb"]}
        if "id" in verb:
            data["id"] = verb["id"]
        await self.requestor.notify("verb:status", data)

    # ----------------------------------------------------------------- hooks

    def _hook_data(self, verb: dict[str, Any], **extra: Any) -> dict[str, Any]:
        data = self.call_info(**extra)
        if "id" in verb:
            data["verb_id"] = verb["id"]
        return data

    async def _hook(
        self, verb: dict[str, Any], prop: str, msg_type: str = "verb:hook", **extra: Any
    ) -> AckResult | None:
        url = hook_url(verb.get(prop))
        if url is None:
            return None
        return await self.requestor.request(msg_type, self._hook_data(verb, **extra), url)

    def _accept_ack(self, msg_type: str, hook: str | None, result: AckOk) -> list[Any] | str:
        """The ack's verb list (``[]`` when it has none), or a reason it is invalid."""
        data = result.data
        if not isinstance(data, list):
            self.record.acks.append(AckRecord(msg_type, hook, ()))
            return []
        problem = check_verbs(data, self.config.jambonz)
        if problem is not None:
            return f"invalid verbs: {problem}"
        verbs = normalize_verbs(data)
        self.record.acks.append(AckRecord(msg_type, hook, tuple(verbs)))
        return verbs

    async def _after_hook(self, verb: dict[str, Any], prop: str, result: AckResult | None) -> None:
        """Apply a hook's ack: verbs replace the stack, an empty ack continues.

        A gather whose hook failed reports it the way gather.js does (``jambonz:error`` plus a
        ``call:status`` carrying ``error``) and the call moves on; for other verbs the failure
        is logged and the call moves on too. ``details`` (and the status's ``reason``) is
        ``err.message``: present for an Error (a failed connect, verbs the validator refused),
        absent when the request was rejected with a plain string (the ack timed out, or the
        socket closed and jambonz abandoned it) — see :class:`AckFailed`. The text for refused
        verbs is jbtrio's validator's, not jambonz's own wording.
        """
        if result is None:
            return
        url = hook_url(verb.get(prop))
        message: str | None
        if isinstance(result, AckOk):
            accepted = self._accept_ack("verb:hook", url, result)
            if isinstance(accepted, list):
                if accepted:
                    self.stack = accepted
                return
            reason = message = accepted
            self.record.fault(f"verb:hook {url}: {reason}")
        else:
            reason, message = result.reason, result.message
            if result.timed_out:
                self.record.fault(f"verb:hook {url} ack timed out")
        self.log.info("%s %s failed: %s", verb["verb"], prop, reason)
        if verb["verb"] == "gather":
            error: dict[str, Any] = {"msg": "invalid actionHook response"}
            if message is not None:
                error["details"] = message
            error["verb"] = "gather"
            if "id" in verb:
                error["id"] = verb["id"]
            await self.requestor.notify("jambonz:error", error)
            status: dict[str, Any] = {"error": "invalid actionHook response"}
            if message is not None:
                status["reason"] = message
            await self.notifier.notify("call:status", self.call_info(**status))

    async def _apply_config(self, props: dict[str, Any]) -> None:
        if "notifyEvents" in props:
            self.notify_events = props["notifyEvents"] is True
        if "trackTtsPlayout" in props:
            self.track_tts_playout = props["trackTtsPlayout"] is True
        stream = props.get("ttsStream")
        if isinstance(stream, dict) and "enable" in stream:
            if stream["enable"] is True:
                await self._open_tts_stream()
            elif self.tts.state is not StreamState.CLOSED:
                await self._emit_tts(self.tts.close(trio.current_time()))

    def say_seconds(self, text: str) -> float:
        """How long speaking ``text`` takes (``say_seconds_per_char``, at least
        ``say_min_seconds``)."""
        return max(self.config.say_min_seconds, len(text) * self.config.say_seconds_per_char)

    async def _next_turn(self) -> CallerTurn:
        while not self.turns:
            await self._turn_added.wait()
        return self.turns.popleft()

    # ----------------------------------------------------------------- streaming TTS

    async def _open_tts_stream(self) -> None:
        await self._emit_tts(self.tts.start(trio.current_time()))
        await self._emit_tts(self.tts.open(trio.current_time()))

    async def _streaming_say(self) -> None:
        """A ``say`` with ``stream: true`` lasts until the buffer reports the stream empty
        after a flush; killed early, it closes the stream (``stream_closed``)."""
        self._stream_empty = trio.Event()
        done = False
        try:
            await self._open_tts_stream()
            await self._stream_empty.wait()
            done = True
        finally:
            if not done:
                with trio.CancelScope(shield=True):
                    await self._emit_tts(self.tts.close(trio.current_time()))

    async def _emit_tts(self, outputs: list[TtsOutput]) -> None:
        """Send what the buffer produced, in order, under one lock so results never
        interleave with another batch."""
        async with self._tts_lock:
            for out in outputs:
                if isinstance(out, TokensResult):
                    await self.requestor.notify("tts:tokens-result", out.as_data())
                elif isinstance(out, StreamingEvent):
                    await self.requestor.notify("tts:streaming-event", out.as_data())
                    if out.event_type == "user_interruption":
                        await self._tts_spoken(bargein=True)
                elif isinstance(out, VendorText):
                    self.record.spoken.append(out.text)
                    self._utterance.append(out.text)
                elif isinstance(out, VendorFlush):
                    await self._tts_spoken(bargein=False)
                elif isinstance(out, VendorClear):
                    self._cleared, self._utterance = "".join(self._utterance), []
                elif isinstance(out, StreamEmpty):
                    self._stream_empty.set()
        self._tts_changed.set()

    async def _tts_spoken(self, *, bargein: bool) -> None:
        """An utterance ended (played out, or cut by the caller): with ``trackTtsPlayout``,
        jambonz 10.x/11.x reports the text heard. The fake does not time the playout, so
        everything handed to the vendor counts as heard."""
        text = "".join(self._utterance)
        if bargein:
            text = self._cleared + text
        self._utterance, self._cleared = [], ""
        if self.track_tts_playout and (text or bargein):
            event = {"event_type": "tts_spoken", "text": text, "bargein": bargein}
            await self.requestor.notify("tts:streaming-event", event)

    async def _tts_timer(self) -> None:
        """Drive the buffer's idle cut and deferred flush at its deadlines."""
        while True:
            changed = trio.Event()
            self._tts_changed = changed
            deadline = self.tts.next_deadline()
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await changed.wait()
            now = trio.current_time()
            if deadline is not None and now >= deadline:
                await self._emit_tts(self.tts.tick(now))
