"""The verb executor: runs the acked verb list like a call and obeys the app's commands.

The counterpart of feature-server's CallSession, reduced to what an app can observe over the
websocket: verbs take (virtual) time, hooks are sent and their acks replace or continue the verb
stack, ``verb:status`` is sent once ``config.notifyEvents`` asks for it, commands redirect or
hang up, streaming ``say`` goes through the real TTS buffer model, and an empty stack waits for
commands as the real server does (docs/jambonz.md: Acks, Commands, Verbs, Streaming TTS).

Each verb runs in the module of its kind (:mod:`._exec_media`, :mod:`._exec_calls`,
:mod:`._exec_ai`, :mod:`._exec_agent`, :mod:`._exec_listen`; commands in
:mod:`._exec_commands`) over the shared
state of :mod:`._exec_base`. Verbs without observable effects on the socket (``answer``,
``alert``, ``dtmf``, ...) complete at once.
"""

from __future__ import annotations

import math
from typing import Any

import trio

from ._envelope import AppCommand
from ._exec_agent import AgentVerbs
from ._exec_ai import AiVerbs
from ._exec_base import EndOfCall, ExecutorBase, Running, check_verbs, hook_url, normalize_verbs
from ._exec_calls import CallVerbs
from ._exec_commands import KNOWN_COMMANDS, Commands
from ._exec_listen import ListenVerbs
from ._exec_media import MediaVerbs

__all__ = [
    "KNOWN_COMMANDS",
    "EndOfCall",
    "ExecutorBase",
    "VerbExecutor",
    "check_verbs",
    "hook_url",
    "normalize_verbs",
]


class VerbExecutor(Commands, AgentVerbs, AiVerbs, ListenVerbs, CallVerbs, MediaVerbs):
    """Executes verbs and commands for one call, talking through a :class:`Requestor`."""

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

    async def _verb_loop(self) -> None:
        while self.end is None:
            if self.stack:
                verb = self.stack.pop(0)
                with trio.CancelScope() as scope:
                    self.current = Running(verb, scope)
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

    async def _execute(self, verb: dict[str, Any]) -> None:
        name = str(verb["verb"])
        self.record.executed.append(verb)
        self.log.debug("executing %s", name)
        await self._status_event("starting", verb)
        handler = getattr(self, "_verb_" + name.replace(":", "_").replace("-", "_"), None)
        if handler is not None:
            await handler(verb)
        await self._status_event("finished", verb)
