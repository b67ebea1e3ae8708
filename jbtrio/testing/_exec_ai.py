"""The fake's AI verbs: ``llm`` (and its ``*_s2s`` aliases, normalised to it).

The vendor is the caller's scripted :class:`~jbtrio.testing.LlmScript`: its events go to the
verb's ``eventHook`` as ``llm:event``, its tool calls to the ``toolHook`` as
``llm:tool-call`` (each waiting for the app's ``llm:tool-output``), then the conversation
ends and the ``actionHook`` reports its ``completion_reason``.
"""

from __future__ import annotations

from typing import Any

import trio

from ._caller import LlmScript
from ._exec_base import ExecutorBase, hook_url

__all__ = ["AiVerbs"]


class AiVerbs(ExecutorBase):
    """``llm``."""

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
