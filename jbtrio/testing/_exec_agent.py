"""The fake's ``agent`` verb (jambonz 10.x/11.x): a voice agent jambonz runs itself.

The conversation is the caller's :class:`~jbtrio.testing.AgentScript`. What the app sees is
what jambonz sends an app for it (``docs/jambonz.md``, "jambonz 10.x/11.x"; the schema's
``callbacks/agent-turn``): on the verb's ``eventHook``, ``agent:event`` messages —
``user_transcript`` when the caller's words are final, ``llm_response`` with the agent's
answer, ``user_interruption`` on a barge-in, and ``turn_end`` summing each turn up (what was
said and heard, whether it was cut, and the latency of each stage); on its ``toolHook``,
``agent:tool-call`` ``{tool_call_id, name, arguments}`` for each function the LLM calls, the
turn waiting for the app's ``llm:tool-output``. The app's ``agent:update`` commands land in
:attr:`Running.updates <jbtrio.testing._exec_base.Running.updates>`: a ``generate_reply``
makes the agent speak when it is next idle (cutting its current answer short with
``interrupt``). When the turns are done the verb ends (``actionHook`` with its
``completion_reason``) or the caller hangs up, as the script says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import trio

from ._caller import AgentScript, AgentTurn, ScriptedToolCall
from ._exec_base import ExecutorBase, Running, hook_url
from ._scripts import DEFAULT_LATENCY

__all__ = ["AgentVerbs"]

#: The stages a turn the agent starts itself (greeting, generate_reply) reports.
_OWN_TURN_STAGES = ("model_latency", "voice_latency")


class _Conversation:
    """One run of an ``agent`` verb."""

    def __init__(
        self, ex: ExecutorBase, verb: dict[str, Any], script: AgentScript, running: Running
    ) -> None:
        self.ex = ex
        self.script = script
        self.running = running
        self.event_hook = hook_url(verb.get("eventHook"))
        self.tool_hook = hook_url(verb.get("toolHook"))
        barge_in = verb.get("bargeIn")
        self.barge_in = not (isinstance(barge_in, Mapping) and barge_in.get("enable") is False)
        self.greet = verb.get("greeting") is not False
        self.replies = list(script.replies)

    async def run(self) -> None:
        if self.greet and self.script.greeting:
            await self.turn(None, self.script.greeting)
        for turn in self.script.turns:
            await self.idle(self.script.response_delay)
            await self.turn(turn.says, turn.reply, turn.tool_calls, turn, barge_in=turn.barge_in)
        await self.idle(self.script.linger)

    async def event(self, data: dict[str, Any]) -> None:
        if self.event_hook is not None:
            await self.ex.requestor.notify("agent:event", data, self.event_hook)

    async def idle(self, seconds: float) -> None:
        """Wait ``seconds`` for the caller, answering the app's ``generate_reply`` at once."""
        deadline = trio.current_time() + seconds
        while True:
            await self.generated()
            if trio.current_time() >= deadline:
                return
            updated = self.running.updated
            with trio.move_on_at(deadline):
                await updated.wait()

    async def generated(self) -> None:
        """Speak the replies the app asked for so far, oldest first."""
        while self.running.updates:
            update = self.running.updates.pop(0)
            if update.get("type") != "generate_reply":
                continue  # instructions, context, tools: the scripted LLM needs none
            prompt = update.get("user_input") or update.get("instructions") or ""
            reply = self.replies.pop(0) if len(self.replies) > 1 else None
            if reply is None:
                reply = self.replies[0] if self.replies else f"(a reply to: {prompt})"
            await self.turn(None, reply)

    async def turn(
        self,
        says: str | None,
        reply: str,
        tool_calls: Sequence[ScriptedToolCall] = (),
        scripted: AgentTurn | None = None,
        *,
        barge_in: bool = False,
    ) -> None:
        """One turn: the caller's words (``None`` for a turn the agent starts), the tools,
        the answer spoken (maybe cut), the ``turn_end``."""
        latency = dict(scripted.latency if scripted and scripted.latency else DEFAULT_LATENCY)
        if says is None:
            latency = {k: v for k, v in latency.items() if k in _OWN_TURN_STAGES}
        else:
            await self.event({"type": "user_transcript", "transcript": says})
        for call in tool_calls:
            await self.tool(call)
        await trio.sleep(sum(latency.values()) / 1000)
        await self.event({"type": "llm_response", "response": reply})
        heard, interrupted = await self.speak(reply, barge_in=barge_in and self.barge_in)
        await self.event(
            {
                "type": "turn_end",
                "transcript": says or "",
                "response": heard,
                "interrupted": interrupted,
                "latency": latency,
            }
        )

    async def speak(self, text: str, *, barge_in: bool) -> tuple[str, bool]:
        """Say ``text``; returns what the caller heard, and whether it was cut (by the
        caller halfway, or by an interrupting ``generate_reply``)."""
        seconds = self.ex.say_seconds(text)
        self.running.cut = trio.Event()
        start = trio.current_time()
        with trio.move_on_after(seconds / 2 if barge_in else seconds):
            await self.running.cut.wait()
        cut = self.running.cut.is_set() or barge_in
        heard = text
        if cut:  # the words played so far were heard
            words = text.split()
            played = (trio.current_time() - start) / seconds
            heard = " ".join(words[: int(len(words) * played)])
            if barge_in:
                await self.event({"type": "user_interruption"})
        self.ex.record.spoken.append(heard)
        return heard, cut

    async def tool(self, call: ScriptedToolCall) -> None:
        """Ask the app for one tool result and check it."""
        if self.tool_hook is None:
            self.ex.record.fault(f"agent:tool-call {call.name}: the agent verb has no toolHook")
            return
        got = trio.Event()
        self.running.tool_outputs[call.tool_call_id] = got
        await self.ex.requestor.notify(
            "agent:tool-call",
            {"tool_call_id": call.tool_call_id, "name": call.name, "arguments": call.args},
            self.tool_hook,
        )
        with trio.move_on_after(self.script.tool_output_timeout):
            await got.wait()
        if not got.is_set():
            self.ex.record.fault(f"no llm:tool-output for agent tool {call.tool_call_id}")
            return
        answer = self.running.tool_results.get(call.tool_call_id)
        if call.expect is not None and (
            not isinstance(answer, Mapping) or answer.get("result") != call.expect
        ):
            self.ex.record.fault(
                f"agent tool {call.name} answered {answer!r}, expected "
                f"{{'result': {call.expect!r}}}"
            )


class AgentVerbs(ExecutorBase):
    """``agent``."""

    async def _verb_agent(self, verb: dict[str, Any]) -> None:
        script = self._agents.pop(0) if len(self._agents) > 1 else self._agents[0]
        running = self.current
        assert running is not None
        await _Conversation(self, verb, script, running).run()
        if script.end == "hangup":
            self.finish("completed", "caller hung up", "caller")
            await trio.sleep_forever()  # finish() cancels this verb
        result = await self._hook(verb, "actionHook", completion_reason=script.completion_reason)
        await self._after_hook(verb, "actionHook", result)
