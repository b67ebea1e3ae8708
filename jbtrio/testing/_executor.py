"""The verb executor: runs the acked verb list like a call and obeys the app's commands.

The counterpart of feature-server's CallSession, reduced to what an app can observe over the
websocket: verbs take (virtual) time, hooks are sent and their acks replace or continue the verb
stack, ``verb:status`` is sent once ``config.notifyEvents`` asks for it, commands redirect or
hang up, streaming ``say`` goes through the real TTS buffer model, and an empty stack waits for
commands as the real server does (PEER-BEHAVIOUR.md §4.3, §6, §7; REFERENCE §3, §4).

Media itself is not simulated: a ``say`` lasts ``len(text) * say_seconds_per_char``, a gather
answers with the caller's next scripted turn. Verbs without observable effects on the socket
(``answer``, ``alert``, ``dtmf``, ...) complete at once.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

import trio

from jbtrio import VerbError
from jbtrio.verbs import canonical_verb, validate, verb_body, verb_name

from ._acks import AckFailed, AckOk, AckResult
from ._caller import Caller, CallerTurn, DialOutcome, HangUp, LlmScript, Silence, Turn
from ._config import JambonzConfig
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
    VendorText,
)

__all__ = ["EndOfCall", "VerbExecutor", "normalize_verbs"]

_COMMAND_QUEUE = 64
#: Opens a new socket (a Requestor) to a URL with optional Basic credentials.
OpenSocket = Callable[[str, str | None, str | None], Requestor]
#: session:new / session:adulting data that is not part of CallInfo in hooks and statuses.
_NOT_CALL_INFO = frozenset({"sip", "env_vars", "defaults", "parent_call_info"})
#: Command sub-types feature-server's CallSession._onCommand knows; anything else is only logged.
KNOWN_COMMANDS = frozenset(
    {
        "redirect",
        "call:status",
        "config",
        "dial",
        "dub",
        "record",
        "mute:status",
        "conf:mute-status",
        "conf:hold-status",
        "conf:participant-action",
        "listen:status",
        "stream:status",
        "transcribe:status",
        "whisper",
        "sip:request",
        "dtmf",
        "boostAudioSignal",
        "media:path",
        "llm:tool-output",
        "llm:update",
        "tts:tokens",
        "tts:flush",
        "tts:clear",
    }
)


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


def check_verbs(data: Any) -> str | None:
    """``None`` when ``data`` is a valid verb list, else a one-line reason."""
    try:
        validate(data)
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


class _Running:
    """The verb being executed and the scope that kills it."""

    def __init__(self, verb: dict[str, Any], scope: trio.CancelScope) -> None:
        self.verb = verb
        self.scope = scope
        self.tool_outputs: dict[str, trio.Event] = {}


class VerbExecutor:
    """Executes verbs and commands for one call, talking through a :class:`Requestor`."""

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
    ) -> None:
        self.requestor = requestor
        self.notifier = requestor
        self._open_socket = open_socket
        self.config = config
        self.caller = caller
        self.info = call_info
        self.record = record
        self.log = log
        self.stack: list[dict[str, Any]] = []
        self.current: _Running | None = None
        self.notify_events = False
        self.customer_data: Any = None
        self.turns: deque[CallerTurn] = deque(caller.initial_turns())
        self._dials = caller.dial_outcomes()
        self._llms = caller.llm_scripts()
        self._turn_added = trio.Event()
        self._wake = trio.Event()
        self.end: EndOfCall | None = None
        self.tts = TtsStreamBuffer()
        self._tts_lock = trio.Lock()
        self._tts_changed = trio.Event()
        self._stream_empty = trio.Event()
        self._cmd_send, self._cmd_recv = trio.open_memory_channel[AppCommand](_COMMAND_QUEUE)
        self._nursery: trio.Nursery | None = None

    # ----------------------------------------------------------------- control from outside

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

    async def on_command(self, cmd: AppCommand) -> None:
        """Entry point for the reader: hand the command to the session's command task."""
        await self._cmd_send.send(cmd)

    # ----------------------------------------------------------------- main loop

    async def run(self, verbs: list[dict[str, Any]]) -> EndOfCall:
        """Execute ``verbs`` and whatever follows until the call ends."""
        self.stack = verbs
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            name = f"fake-jambonz[{self.requestor.call_sid}]"
            nursery.start_soon(self._command_loop, name=f"{name}.commands")
            nursery.start_soon(self._tts_timer, name=f"{name}.tts-timer")
            nursery.start_soon(
                self._watch_reconnect, self.requestor, name=f"{name}.reconnect-watch"
            )
            self.info.update(call_status="in-progress", sip_status=200, sip_reason="OK")
            await self.notifier.notify("call:status", self.call_info())
            await self._verb_loop()
            nursery.cancel_scope.cancel(reason="call ended")
        assert self.end is not None
        return self.end

    async def _watch_reconnect(self, requestor: Requestor) -> None:
        await requestor.reconnect_error.wait()
        self.finish("failed", "session:reconnect ack timed out", "jambonz")

    async def _verb_loop(self) -> None:
        while self.end is None:
            if self.stack:
                verb = self.stack.pop(0)
                with trio.CancelScope() as scope:
                    self.current = _Running(verb, scope)
                    try:
                        await self._execute(verb)
                    finally:
                        self.current = None
                continue
            if self.requestor.closed_gracefully:
                self.finish("completed", "app closed the socket (1000)", "app")
                break
            self._wake = trio.Event()
            idle = self.caller.idle_hangup
            with trio.move_on_after(math.inf if idle is None else idle) as idle_scope:
                await self._wake.wait()
            if idle_scope.cancelled_caught and not self.stack:
                self.finish("completed", "caller hung up (app left the call idle)", "caller")

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

    async def _execute(self, verb: dict[str, Any]) -> None:
        name = str(verb["verb"])
        self.record.executed.append(verb)
        self.log.debug("executing %s", name)
        await self._status_event("starting", verb)
        handler = getattr(self, "_verb_" + name.replace(":", "_").replace("-", "_"), None)
        if handler is not None:
            await handler(verb)
        await self._status_event("finished", verb)

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
        problem = check_verbs(data)
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

    # ----------------------------------------------------------------- verbs

    async def _verb_config(self, verb: dict[str, Any]) -> None:
        await self._apply_config(verb)

    async def _apply_config(self, props: dict[str, Any]) -> None:
        if "notifyEvents" in props:
            self.notify_events = props["notifyEvents"] is True
        stream = props.get("ttsStream")
        if isinstance(stream, dict) and "enable" in stream:
            if stream["enable"] is True:
                await self._open_tts_stream()
            elif self.tts.state is not StreamState.CLOSED:
                await self._emit_tts(self.tts.close(trio.current_time()))

    def _say_seconds(self, text: str) -> float:
        return max(self.config.say_min_seconds, len(text) * self.config.say_seconds_per_char)

    @staticmethod
    def _loops(verb: dict[str, Any]) -> int | None:
        loop = verb.get("loop", 1)
        if loop in ("forever", 0, "0"):
            return None
        try:
            return max(1, int(loop))
        except (TypeError, ValueError):
            return 1

    async def _verb_say(self, verb: dict[str, Any]) -> None:
        if verb.get("stream") is True:
            await self._streaming_say()
            return
        text = verb.get("text", "")
        if isinstance(text, list):
            text = text[0] if text else ""
        text = str(text)
        self.record.spoken.append(text)
        loops = self._loops(verb)
        if loops is None:
            await trio.sleep_forever()
        await trio.sleep(self._say_seconds(text) * (loops or 1))

    async def _verb_play(self, verb: dict[str, Any]) -> None:
        urls = verb.get("url", [])
        count = len(urls) if isinstance(urls, list) else 1
        loops = self._loops(verb)
        if loops is None:
            await trio.sleep_forever()
        seconds = self.config.play_seconds * count * (loops or 1)
        await trio.sleep(seconds)
        result = await self._hook(
            verb, "actionHook", reason="playCompleted", playback_seconds=seconds
        )
        await self._after_hook(verb, "actionHook", result)

    async def _verb_pause(self, verb: dict[str, Any]) -> None:
        length = verb.get("length", 1)
        await trio.sleep(float(length) if isinstance(length, int | float) else 1.0)

    async def _verb_hangup(self, verb: dict[str, Any]) -> None:
        self.finish("completed", "app hung up", "app")

    async def _verb_sip_decline(self, verb: dict[str, Any]) -> None:
        self.finish("completed", f"app declined the call ({verb.get('status')})", "app")

    async def _verb_tag(self, verb: dict[str, Any]) -> None:
        self.customer_data = verb.get("data")

    async def _next_turn(self) -> CallerTurn:
        while not self.turns:
            await self._turn_added.wait()
        return self.turns.popleft()

    async def _verb_gather(self, verb: dict[str, Any]) -> None:
        inputs = verb.get("input") or ["digits"]
        for prompt in ("say", "play"):
            nested = verb.get(prompt)
            if isinstance(nested, dict):
                await getattr(self, f"_verb_{prompt}")({"verb": prompt, **nested})
        timeout = verb.get("timeout")
        if not isinstance(timeout, int | float) or timeout <= 0:
            timeout = self.config.gather_timeout
        result: dict[str, Any] = {"reason": "timeout"}
        with trio.move_on_after(timeout):
            turn = await self._next_turn()
            if isinstance(turn, HangUp):
                await trio.sleep(self.caller.response_delay)
                self.finish("completed", "caller hung up", "caller")
                await trio.sleep_forever()  # finish() cancels this verb
            if isinstance(turn, Silence) or turn.kind not in inputs:
                await trio.sleep_forever()
            assert isinstance(turn, Turn)
            await trio.sleep(self.caller.response_delay)
            if turn.kind == "speech":
                if self.tts.is_connected:
                    await self._emit_tts(self.tts.user_interruption(trio.current_time()))
                result = {
                    "speech": {
                        "is_final": True,
                        "alternatives": [{"confidence": turn.confidence, "transcript": turn.value}],
                        "language_code": "en-US",
                    },
                    "reason": "speechDetected",
                }
            else:
                finish = verb.get("finishOnKey")
                digits = (
                    turn.value.split(finish)[0]
                    if isinstance(finish, str) and finish
                    else (turn.value)
                )
                result = {"digits": digits, "reason": "dtmfDetected"}
        await self._after_hook(verb, "actionHook", await self._hook(verb, "actionHook", **result))

    async def _verb_redirect(self, verb: dict[str, Any]) -> None:
        """``session:redirect`` on this socket for a relative hook; for an absolute ws(s) URL a
        new socket opens with ``session:redirect`` as its first message and takes over the
        hooks, while the old one stays open for ``call:status`` (redirect.js, CS:126-135)."""
        action = verb.get("actionHook")
        url = hook_url(action)
        if url is None:
            return
        if url.startswith(("ws://", "wss://")) and self._open_socket is not None:
            creds = action if isinstance(action, dict) else {}
            user, password = creds.get("username"), creds.get("password")
            new = self._open_socket(
                url,
                user if isinstance(user, str) else None,
                password if isinstance(password, str) else None,
            )
            assert self._nursery is not None
            self._nursery.start_soon(
                self._watch_reconnect, new, name=f"fake-jambonz[{self.info.get('call_sid')}].rw"
            )
            result = await new.start_session(self._hook_data(verb), "session:redirect", url)
            if isinstance(result, AckOk):
                self.requestor = new
        else:
            result = await self.requestor.request("session:redirect", self._hook_data(verb), url)
        if isinstance(result, AckOk):
            accepted = self._accept_ack("session:redirect", url, result)
            if isinstance(accepted, list):
                if accepted:
                    self.stack = accepted
                return
            self.record.fault(f"session:redirect {url}: {accepted}")
        elif result.timed_out:
            self.record.fault(f"session:redirect {url} ack timed out")
        else:
            self.log.info("redirect to %s failed: %s", url, result.reason)

    async def _verb_dial(self, verb: dict[str, Any]) -> None:
        outcome: DialOutcome = self._dials.pop(0) if len(self._dials) > 1 else self._dials[0]
        raw_targets = verb.get("target")
        targets: list[Any] = raw_targets if isinstance(raw_targets, list) else []
        first = targets[0] if targets and isinstance(targets[0], dict) else {}
        confirm = hook_url(verb.get("confirmHook")) or next(
            (hook_url(t.get("confirmHook")) for t in targets if isinstance(t, dict)), None
        )
        b_leg: dict[str, Any] = {
            "call_sid": outcome.to_call_sid,
            "direction": "outbound",
            "from": verb.get("callerId", self.info.get("from")),
            "to": first.get("number") or first.get("name") or first.get("sipUri") or "",
            "call_status": "trying",
            "sip_status": 100,
            "parent_call_sid": self.info.get("call_sid"),
            "account_sid": self.info.get("account_sid"),
        }
        await trio.sleep(self.config.dial_answer_seconds)
        answered = outcome.answered
        if answered:
            b_leg.update(call_status="in-progress", sip_status=200)
            await self.notifier.notify("call:status", dict(b_leg))
            if confirm is not None:
                answered = await self._dial_confirm(confirm, b_leg)
        if answered:
            await trio.sleep(outcome.duration)
            duration = round(outcome.duration)
            b_leg.update(call_status="completed", duration=duration)
            status, sip = "completed", 200
        else:
            duration = 0
            status = outcome.call_status if not outcome.answered else "failed"
            sip = outcome.sip_status if not outcome.answered else 603
            b_leg.update(call_status=status, sip_status=sip)
        await self.notifier.notify("call:status", dict(b_leg))
        result = await self._hook(
            verb,
            "actionHook",
            dial_call_status=status,
            dial_sip_status=sip,
            dial_call_sid=outcome.to_call_sid,
            duration=duration,
        )
        await self._after_hook(verb, "actionHook", result)

    async def _dial_confirm(self, hook: str, b_leg: dict[str, Any]) -> bool:
        """``dial:confirm``: an empty ack bridges, verbs run on the B-leg, failure declines."""
        result = await self.requestor.request("dial:confirm", dict(b_leg), hook)
        if isinstance(result, AckFailed):
            if result.timed_out:
                self.record.fault(f"dial:confirm {hook} ack timed out")
            return False
        accepted = self._accept_ack("dial:confirm", hook, result)
        if isinstance(accepted, str):
            self.record.fault(f"dial:confirm {hook}: {accepted}")
            return False
        self.record.confirm_verbs.extend(accepted)
        return True

    async def _verb_llm(self, verb: dict[str, Any]) -> None:
        script: LlmScript = self._llms.pop(0) if len(self._llms) > 1 else self._llms[0]
        event_hook = hook_url(verb.get("eventHook"))
        tool_hook = hook_url(verb.get("toolHook"))
        running = self.current
        assert running is not None
        if event_hook is not None:
            for event in script.events:
                await self.requestor.notify("llm:event", dict(event), event_hook)
        if tool_hook is not None:
            for call in script.tool_calls:
                got = trio.Event()
                running.tool_outputs[call.tool_call_id] = got
                await self.requestor.notify(
                    "llm:tool-call",
                    {"tool_call_id": call.tool_call_id, "name": call.name, "args": call.args},
                    tool_hook,
                )
                with trio.move_on_after(script.tool_output_timeout):
                    await got.wait()
                if not got.is_set():
                    self.record.fault(f"no llm:tool-output for {call.tool_call_id}")
        await trio.sleep(script.duration)
        result = await self._hook(verb, "actionHook", completion_reason=script.completion_reason)
        await self._after_hook(verb, "actionHook", result)

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
                elif isinstance(out, VendorText):
                    self.record.spoken.append(out.text)
                elif isinstance(out, StreamEmpty):
                    self._stream_empty.set()
        self._tts_changed.set()

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

    # ----------------------------------------------------------------- commands

    async def _command_loop(self) -> None:
        async for cmd in self._cmd_recv:
            self.record.commands.append(cmd)
            await self._on_command(cmd)

    def _replace_stack(self, verbs: list[dict[str, Any]], *, append: bool) -> None:
        if append:
            self.stack.extend(verbs)
        else:
            self.stack = verbs
            if self.current is not None:
                self.current.scope.cancel(reason="redirect command")
        self._wake.set()

    async def _on_command(self, cmd: AppCommand) -> None:
        name, data = cmd.command, cmd.data
        now = trio.current_time()
        if name == "redirect":
            if isinstance(data, list):
                problem = check_verbs(data)
                if problem is not None:
                    # An exception in an async handler in jambonz: silently dropped.
                    self.log.info("redirect command with invalid verbs dropped: %s", problem)
                    return
                self._replace_stack(normalize_verbs(data), append=cmd.queue_command)
            elif isinstance(data, dict):
                url = hook_url(data.get("call_hook"))
                if url is not None:
                    assert self._nursery is not None
                    self._nursery.start_soon(
                        self._redirect_to_hook,
                        url,
                        name=f"fake-jambonz[{self.requestor.call_sid}].call-hook",
                    )
        elif name == "call:status":
            if isinstance(data, dict) and data.get("call_status") in ("completed", "no-answer"):
                self.finish("completed", "app hung up (call:status command)", "app")
        elif name == "config":
            if isinstance(data, dict):
                await self._apply_config(data)
        elif name == "tts:tokens":
            if isinstance(data, dict):
                tokens = data.get("tokens")
                await self._emit_tts(
                    self.tts.tokens(data.get("id"), None if tokens is None else str(tokens), now)
                )
        elif name == "tts:flush":
            await self._emit_tts(self.tts.flush(now))
        elif name == "tts:clear":
            await self._emit_tts(self.tts.clear(now))
        elif name == "llm:tool-output":
            running = self.current
            if running is not None and running.verb["verb"] == "llm":
                self.record.tool_outputs.append({"tool_call_id": cmd.tool_call_id, "data": data})
                event = running.tool_outputs.get(str(cmd.tool_call_id))
                if event is not None:
                    event.set()
        elif name not in KNOWN_COMMANDS:
            self.log.info("invalid command %s", name)

    async def _redirect_to_hook(self, url: str) -> None:
        """Command ``redirect`` with ``call_hook``: ``session:redirect`` on this socket; a
        non-empty or empty verb list replaces the stack, an ack without data kills the
        current verb."""
        result = await self.requestor.request("session:redirect", self.call_info(), url)
        if isinstance(result, AckFailed):
            if result.timed_out:
                self.record.fault(f"session:redirect {url} ack timed out")
            return
        accepted = self._accept_ack("session:redirect", url, result)
        if isinstance(accepted, str):
            self.record.fault(f"session:redirect {url}: {accepted}")
            return
        if result.has_data:
            self._replace_stack(accepted, append=False)
        elif self.current is not None:
            self.current.scope.cancel(reason="call_hook redirect")
