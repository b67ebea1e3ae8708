"""Serving LLM tools on a call: a tool call in, the tool run, ``llm:tool-output`` back.

A tool is registered on the app (``@app.tool(name)``) or on one call (``call.tool(name, fn)``)
and serves both kinds of tool call: ``llm:tool-call`` from an ``llm`` verb (or its ``*_s2s``
forms) and ``agent:tool-call`` from jambonz 10.x/11.x's ``agent`` verb. The answer's shape
depends on who asked: the ``agent`` takes ``{"result": ...}``, an ``llm`` verb its vendor's
own shape, and jambonz does not repeat the vendor in the tool call, so the
:class:`ToolServer` notes it from each ``llm`` verb the call sends. It also gives those verbs
the hooks the call serves: ``toolHook`` when tools exist, ``eventHook`` when someone listens
to their events (``llm:event``, ``agent:event``), which jambonz sends only then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from . import commands
from ._runtime import CallSession, tool_ran
from ._wire import AgentToolCall, Command, LlmToolCall
from .verbs import canonical_verb, verb_body, verb_name

__all__ = ["Tool", "ToolServer"]

Tool = Callable[..., Awaitable[Any]]
"""An LLM tool: ``async def tool(call, **args) -> result``."""

#: Where the ``llm`` verbs of a call with tools send ``llm:tool-call``.
_TOOL_HOOK = "/jbtrio/tools"
#: Where they send ``llm:event`` when the app listens to it.
_EVENT_HOOK = "/jbtrio/llm-events"
#: Where ``agent`` verbs send ``agent:tool-call`` and ``agent:event``.
_AGENT_TOOL_HOOK = "/jbtrio/agent-tools"
_AGENT_EVENT_HOOK = "/jbtrio/agent-events"


class ToolServer:
    """The LLM tools of one call: its own and its app's, and the vendor they answer for.

    ``owner`` is what a tool receives as its first argument (the :class:`~jbtrio.Call`);
    ``shared`` the app's tools, read at each tool call (so a tool registered later serves).
    """

    # Slots: one per call (issue 23: memory per call).
    __slots__ = (
        "_nursery",
        "_owner",
        "_session",
        "_shared",
        "_tools",
        "_vendor",
    )

    def __init__(
        self,
        owner: object,
        session: CallSession,
        nursery: trio.Nursery,
        shared: Mapping[str, Tool],
    ) -> None:
        self._owner = owner
        self._session = session
        self._nursery = nursery
        self._shared = shared
        self._tools: dict[str, Tool] = {}
        self._vendor: str | None = None

    def release(self) -> None:
        """The call is over: let go of the call (its tools are passed it as first argument)."""
        self._owner = None
        self._shared = {}

    def add(self, name: str, tool: Tool) -> None:
        """Serve ``tool`` as ``name`` on this call (before the app's tool of that name)."""
        self._tools[name] = tool

    def note_llm(self, verbs: list[dict[str, Any]], wants: Callable[[str], bool]) -> None:
        """Before ``verbs`` go out: remember the vendor of their ``llm`` verb, and give it (and
        any ``agent`` verb) the hooks this call serves. ``wants(type)`` says whether someone
        listens to ``type``."""
        for verb in verbs:
            name = verb_name(verb)
            canonical = canonical_verb(name)[0] if name is not None else None
            if canonical == "agent":
                self._note_agent(verb_body(verb), wants)
            if name is None or canonical != "llm":
                continue
            body = verb_body(verb)
            vendor = body.get("vendor") or canonical_verb(name)[1]
            if isinstance(vendor, str):
                self._vendor = vendor
            if (self._tools or self._shared) and "toolHook" not in body:
                body["toolHook"] = _TOOL_HOOK
            if "eventHook" not in body and wants("llm:event"):
                body["eventHook"] = _EVENT_HOOK  # jambonz sends llm:event only then

    def _note_agent(self, body: dict[str, Any], wants: Callable[[str], bool]) -> None:
        self._vendor = "agent"  # call.tool_output() answers in the agent's shape from now on
        if (self._tools or self._shared) and "toolHook" not in body:
            body["toolHook"] = _AGENT_TOOL_HOOK
        if "eventHook" not in body and wants("agent:event"):
            body["eventHook"] = _AGENT_EVENT_HOOK  # jambonz sends agent:event only then

    def result_command(
        self, tool_call_id: str, result: Any, *, name: str | None = None, is_error: bool = False
    ) -> Command:
        """``llm:tool-output`` for one tool call, in the running ``llm`` vendor's shape."""
        return commands.tool_result(
            self._vendor or "openai",  # type: ignore[arg-type]
            tool_call_id,
            result,
            name=name,
            is_error=is_error,
        )

    def serve(self, message: LlmToolCall | AgentToolCall) -> bool:
        """Answer ``message`` in a task of the call when one of its tools is served here;
        False (left to the app's handlers) when none is."""
        calls = message.data.calls
        if not calls or not any(self._find(c.name) for c in calls):
            return False
        self._nursery.start_soon(
            self._run, message, name=f"call {self._session.call_sid} tool {calls[0].name}"
        )
        return True

    def _find(self, name: str | None) -> Tool | None:
        if name is None:
            return None
        tool = self._tools.get(name)
        if tool is None:
            tool = self._shared.get(name)
        return tool

    async def _run(self, message: LlmToolCall | AgentToolCall) -> None:
        results: list[tuple[str, Any, bool, str | None]] = []
        for fc in message.data.calls:
            tool = self._find(fc.name)
            if tool is None:
                results.append((fc.id or "", f"unknown tool {fc.name!r}", True, fc.name))
                continue
            args = fc.args if isinstance(fc.args, Mapping) else {}
            started = trio.current_time()
            try:
                result = await tool(self._owner, **args)
                results.append((fc.id or "", result, False, fc.name))
                tool_ran(self._session, fc.name or "", started, None)
            except Exception as exc:  # a failing tool answers with an error, not silence
                self._session.log.warning("tool %s failed: %r", fc.name, exc)
                results.append((fc.id or "", f"error: {exc}", True, fc.name))
                tool_ran(self._session, fc.name or "", started, exc)
        tool_call_id = message.data.tool_call_id or ""
        command: Command
        if isinstance(message, AgentToolCall):
            cid, result, err, name = results[0]
            command = commands.tool_result("agent", tool_call_id or cid, result, is_error=err)
        elif message.data.function_calls is not None or self._vendor == "google":
            command = commands.google_tool_results(
                [(cid, {"error": r} if err else r) for cid, r, err, _ in results],
                tool_call_id=tool_call_id or None,
            )
        else:
            cid, result, err, name = results[0]
            command = self.result_command(tool_call_id or cid, result, name=name, is_error=err)
        await self._session.send(command)
