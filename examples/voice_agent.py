"""``/voice-agent``: a speech-to-speech LLM agent with two tools served by the app.

The ``llm`` verb talks to the model; when the model calls ``get_weather`` or
``book_table``, jambonz sends ``llm:tool-call`` and jbtrio runs the tool in the call's
nursery and answers with ``llm:tool-output`` in the vendor's shape. A failing tool answers
with an error result, not silence.
"""

from __future__ import annotations

from typing import Any

import jbtrio
from jbtrio.verbs import Hangup, Llm, Say

app = jbtrio.App()

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
    {
        "type": "function",
        "name": "book_table",
        "description": "Book a restaurant table",
        "parameters": {
            "type": "object",
            "properties": {"people": {"type": "integer"}, "time": {"type": "string"}},
        },
    },
]


@app.tool("get_weather")
async def get_weather(call: jbtrio.Call, city: str = "Boston") -> dict[str, Any]:
    """A stand-in for a weather API."""
    return {"city": city, "forecast": "sunny", "celsius": 22}


@app.tool("book_table")
async def book_table(call: jbtrio.Call, people: int = 2, time: str = "19:00") -> str:
    """A stand-in for a booking system; refuses parties over 8."""
    if people > 8:
        raise ValueError("parties over 8 must call the restaurant")
    call.locals.setdefault("bookings", []).append((people, time))
    return f"booked a table for {people} at {time}"


@app.flow("/voice-agent")
async def voice_agent(call: jbtrio.Call) -> jbtrio.Steps:
    """Run the agent until the model ends the conversation, then hang up."""
    result: jbtrio.LlmResult = yield Llm(
        vendor="openai",
        model="gpt-4o-realtime-preview",
        llm_options={
            "response_create": {"modalities": ["text", "audio"]},
            "session_update": {"instructions": "You are a helpful concierge.", "tools": TOOLS},
        },
    )
    yield [Say(text=f"Goodbye ({result.completion_reason or 'done'})."), Hangup()]
