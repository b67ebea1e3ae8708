"""Commands for the AI verbs: answers to tool calls, updates of a running ``llm`` or ``agent``.

Part of :mod:`jbtrio.commands` (which re-exports every name here): the LLM and agent
builders live apart because their shapes depend on the vendor, and the module would outgrow
one screen of concepts otherwise. ``choice`` and ``mapping`` are the argument checks every
builder of :mod:`jbtrio.commands` shares.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

from ._wire import Command

__all__ = [
    "AgentUpdateType",
    "ToolVendor",
    "agent_generate_reply",
    "agent_inject_context",
    "agent_update",
    "agent_update_instructions",
    "agent_update_tools",
    "choice",
    "google_tool_results",
    "llm_tool_output",
    "llm_update",
    "mapping",
    "tool_result",
]

ToolVendor = Literal[
    "openai", "microsoft", "ultravox", "elevenlabs", "deepgram", "voiceagent", "google", "agent"
]
AgentUpdateType = Literal["update_instructions", "inject_context", "update_tools", "generate_reply"]


def choice(name: str, value: object, allowed: Any) -> None:
    options = get_args(allowed)
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")


def mapping(name: str, value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a mapping; got {type(value).__name__}")
    return dict(value)


# --------------------------------------------------------------------------- llm


def llm_tool_output(tool_call_id: str, data: Any) -> Command:
    """Answer an ``llm:tool-call`` with vendor-native ``data`` (see :func:`tool_result`)."""
    if not isinstance(tool_call_id, str) or not tool_call_id:
        raise ValueError("tool_call_id must be the non-empty id from the llm:tool-call")
    return Command(command="llm:tool-output", tool_call_id=tool_call_id, data=data)


def llm_update(data: Mapping[str, Any]) -> Command:
    """Send a vendor-native update (instructions, messages) to the running ``llm`` verb."""
    payload = mapping("data", data)
    if not payload:
        raise ValueError("llm_update needs a non-empty vendor update object")
    return Command(command="llm:update", data=payload)


def _as_text(result: Any) -> str:
    return result if isinstance(result, str) else json.dumps(result, separators=(",", ":"))


def tool_result(
    vendor: ToolVendor,
    tool_call_id: str,
    result: Any,
    *,
    name: str | None = None,
    is_error: bool = False,
) -> Command:
    """The ``llm:tool-output`` command for ``result`` in the shape the ``llm`` vendor expects.

    jambonz 0.9.8 forwards ``data`` to the vendor nearly raw (docs/jambonz.md, Commands), so it
    differs per ``llm.vendor``: OpenAI/Microsoft and Ultravox get a string (non-strings are
    JSON-encoded), ElevenLabs gets ``result`` and ``is_error``, Deepgram's voice agent needs the
    function ``name``, Google gets ``{"output": result}`` (``{"error": result}`` when ``is_error``)
    and v10's ``agent`` verb gets ``{"result": result}`` (``{"error": result}``: jambonz hands the
    object to its LLM as the tool's result). ``is_error`` has no field in the other vendors' formats
    and is ignored for them.
    """
    choice("vendor", vendor, ToolVendor)
    data: dict[str, Any]
    if vendor in ("openai", "microsoft"):
        data = {
            "type": "conversation.item.create",
            "item": {
                "type": "function_call_output",
                "call_id": tool_call_id,
                "output": _as_text(result),
            },
        }
    elif vendor == "ultravox":
        data = {
            "type": "client_tool_result",
            "invocation_id": tool_call_id,
            "result": _as_text(result),
        }
    elif vendor == "elevenlabs":
        data = {
            "data": {
                "type": "client_tool_result",
                "tool_call_id": tool_call_id,
                "result": result,
                "is_error": bool(is_error),
            }
        }
    elif vendor in ("deepgram", "voiceagent"):
        if not name:
            raise ValueError("Deepgram's voice agent needs the function name: pass name=")
        data = {
            "data": {
                "type": "FunctionCallResponse",
                "id": tool_call_id,
                "name": name,
                "content": _as_text(result),
            }
        }
    elif vendor == "google":
        key = "error" if is_error else "output"
        data = {
            "toolResponse": {"functionResponses": [{"id": tool_call_id, "response": {key: result}}]}
        }
    else:  # agent (v10): any object is stringified for the LLM; {"result": ...} is canonical
        data = {"error": result} if is_error else {"result": result}
    return llm_tool_output(tool_call_id, data)


def google_tool_results(
    responses: Mapping[str, Any] | Iterable[tuple[str, Any]], *, tool_call_id: str | None = None
) -> Command:
    """Answer several Google function calls (one ``llm:tool-call``) in one ``llm:tool-output``.

    ``responses`` maps each function call's ``id`` to its result (or is a sequence of
    ``(id, result)`` pairs); each result is sent as ``{"output": result}``. ``tool_call_id`` is
    the message's ``data.tool_call_id``; it is sent top level when given.
    """
    pairs = list(responses.items() if isinstance(responses, Mapping) else responses)
    if not pairs:
        raise ValueError("google_tool_results needs at least one (id, result)")
    function_responses = []
    for call_id, result in pairs:
        if not isinstance(call_id, str) or not call_id:
            raise ValueError(f"function call ids must be non-empty strings; got {call_id!r}")
        function_responses.append({"id": call_id, "response": {"output": result}})
    data = {"toolResponse": {"functionResponses": function_responses}}
    return Command(command="llm:tool-output", tool_call_id=tool_call_id, data=data)


# --------------------------------------------------------------------------- jambonz 10.x/11.x


def agent_update(data: Mapping[str, Any]) -> Command:
    """``agent:update``: change the running ``agent`` verb (``data.type`` says how); prefer the
    four builders below, which check their shapes."""
    payload = mapping("data", data)
    choice("data['type']", payload.get("type"), AgentUpdateType)
    return Command(command="agent:update", data=payload)


def agent_update_instructions(instructions: str) -> Command:
    """Replace the agent's system prompt for the rest of the conversation."""
    if not isinstance(instructions, str) or not instructions:
        raise ValueError("instructions must be a non-empty string")
    return agent_update({"type": "update_instructions", "instructions": instructions})


def agent_inject_context(messages: Iterable[Mapping[str, Any]]) -> Command:
    """Append ``messages`` (``{"role", "content"}``, in the LLM's format) to the agent's
    conversation history: CRM data, notes, whatever arrived after the call started."""
    items = [mapping("messages[]", m) for m in messages]
    if not items:
        raise ValueError("inject_context needs at least one message")
    return agent_update({"type": "inject_context", "messages": items})


def agent_update_tools(tools: Iterable[Mapping[str, Any]]) -> Command:
    """Replace the agent's tool set (in the LLM's format); it applies from the next turn.
    An empty list removes every tool."""
    return agent_update({"type": "update_tools", "tools": [mapping("tools[]", t) for t in tools]})


def agent_generate_reply(
    user_input: str | None = None,
    *,
    instructions: str | None = None,
    interrupt: bool | None = None,
) -> Command:
    """Make the agent speak now: prompt its LLM with ``user_input`` (and one-shot
    ``instructions``). An idle agent answers at once, a busy one after its current turn,
    unless ``interrupt`` cuts that turn short."""
    data: dict[str, Any] = {"type": "generate_reply"}
    if user_input is not None:
        data["user_input"] = str(user_input)
    if instructions is not None:
        data["instructions"] = str(instructions)
    if interrupt is not None:
        data["interrupt"] = bool(interrupt)
    if len(data) == 1:
        raise ValueError("generate_reply needs user_input or instructions")
    return agent_update(data)
