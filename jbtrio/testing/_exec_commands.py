"""The commands a simulated call obeys, as feature-server's ``CallSession._onCommand`` does.

``redirect`` replaces (or, queued, extends) the verb stack, or moves the call to a hook
(``session:redirect``); ``call:status`` hangs up; ``config`` applies at once; ``tts:*`` feed
the streaming-TTS buffer; ``llm:tool-output`` answers the running ``llm`` or ``agent`` verb's
tool call. jambonz 10.x/11.x's commands: ``agent:update`` goes to the running ``agent``
(dropped when none runs), ``room:say`` speaks into a running ``conference``/``room``;
``stt:reconfigure`` and ``noiseIsolation:status`` change nothing the fake models. A sub-type
the played jambonz does not know is only logged, as the real server does.
"""

from __future__ import annotations

from typing import Any

import trio

from ._acks import AckFailed
from ._envelope import AppCommand
from ._exec_base import ExecutorBase, check_verbs, hook_url, normalize_verbs

__all__ = ["KNOWN_COMMANDS", "V10_COMMANDS", "Commands"]

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
#: What jambonz 10.x/11.x adds (``docs/jambonz.md``, "jambonz 10.x/11.x"): the agent's
#: updates, STT and noise-isolation changes mid-call, speech and audio into a room.
V10_COMMANDS = KNOWN_COMMANDS | {
    "agent:update",
    "stt:reconfigure",
    "noiseIsolation:status",
    "room:say",
    "room:play",
}


class Commands(ExecutorBase):
    """The command loop of a call and what each command does."""

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
                problem = check_verbs(data, self.config.jambonz)
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
            if running is not None and running.verb["verb"] in ("llm", "agent"):
                self.record.tool_outputs.append({"tool_call_id": cmd.tool_call_id, "data": data})
                running.tool_results[str(cmd.tool_call_id)] = data
                event = running.tool_outputs.get(str(cmd.tool_call_id))
                if event is not None:
                    event.set()
        elif name not in (KNOWN_COMMANDS if self.config.jambonz == "0.9" else V10_COMMANDS):
            self.log.info("invalid command %s", name)
        else:
            self._v10_command(name, data)

    def _v10_command(self, name: str, data: object) -> None:
        running = self.current
        verb = running.verb["verb"] if running is not None else None
        if name == "agent:update" and isinstance(data, dict):
            if running is None or verb != "agent":
                self.log.info("agent:update with no agent running: dropped")
                return
            self.record.agent_updates.append(data)
            running.update(data)
        elif name == "room:say" and isinstance(data, dict):
            if verb not in ("conference", "room"):
                self.log.info("room:say outside a room: dropped")
                return
            text = data.get("text")
            said = text if isinstance(text, str) else " ".join(map(str, text or ()))
            self.record.spoken.append(said)

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
