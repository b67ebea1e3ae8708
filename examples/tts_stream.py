"""Streaming an LLM's answer into a streaming ``say`` at ``/tts-stream``.

The call is answered with a streaming ``say`` followed by a ``hangup``: jambonz speaks the
tokens as they come and, once the turn is flushed and the speech has finished (the stream is
empty), moves on to the ``hangup``. A fake LLM yields a 1,500-character answer as 300 small
deltas; ``call.tts.stream`` coalesces them (one ``tts:tokens`` in flight, the rest merged),
never sends more than jambonz's buffer accepts, and flushes at the end.

Run it with ``python -m jbtrio serve examples.tts_stream:app`` — or call it with the fake
jambonz: ``python -m jbtrio call ws://127.0.0.1:3000/tts-stream``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import trio

import jbtrio
from jbtrio.verbs import Hangup, Say

__all__ = ["ANSWER", "DELTAS", "app", "fake_llm"]

_SENTENCES = (
    "Thanks for calling the jbtrio weather line.",
    "Today in Boston the sky starts grey, with a light drizzle that should clear by ten.",
    "In the afternoon expect sunshine and a gentle breeze from the south-west.",
    "Temperatures climb to around seventy-two degrees, so a light jacket will do.",
    "Tonight the clouds return and there is a small chance of showers after midnight.",
    "Tomorrow looks brighter: mostly sunny, dry, and a little warmer than today.",
    "The weekend brings a cold front, so pack an umbrella if you are heading out.",
    "Pollen counts are moderate, and the air quality is good across the region.",
    "On the coast, winds pick up in the evening, gusting to twenty-five miles an hour near "
    "the harbour.",
    "Boaters should check the marine forecast before heading out past the breakwater "
    "tomorrow morning.",
    "Inland, the hills may see patchy fog at dawn, lifting quickly once the sun gets to work.",
    "Commuters can expect dry roads for the morning rush, but allow extra time on Friday evening.",
    "Gardeners will be pleased: the soil is moist, the nights are mild, and frost is off the "
    "table.",
    "If you are planning a run, early morning is best, before the humidity builds in the "
    "afternoon.",
    "Stargazers are in luck on Sunday night, when the clouds part and the moon is just a thin "
    "crescent.",
    "Next week starts cool and breezy, then settles into a long stretch of calm, sunny autumn "
    "days.",
    "Farmers markets open as usual on Saturday, and the forecast says they will stay dry all "
    "morning.",
    "That is the forecast; have a wonderful day. Goodbye!",
)
ANSWER = " ".join(_SENTENCES)
"""A 1,500-character answer of several sentences."""

DELTAS = 300
"""How many deltas the fake LLM cuts the answer into."""


async def fake_llm(
    text: str = ANSWER, deltas: int = DELTAS, delay: float = 0.0
) -> AsyncIterator[str]:
    """Yield ``text`` as ``deltas`` pieces, ``delay`` seconds apart, like a streaming LLM."""
    size, extra = divmod(len(text), deltas)
    start = 0
    for index in range(deltas):
        end = start + size + (1 if index < extra else 0)
        yield text[start:end]
        start = end
        await trio.sleep(delay)


app = jbtrio.App()


@app.flow("/tts-stream")
async def tts_stream(call: jbtrio.Call) -> jbtrio.Steps:
    """Open a streaming say, stream the fake LLM's answer into it, flush; jambonz hangs up
    once the speech has finished (the hangup follows the streaming say)."""
    yield [Say(stream=True), Hangup()]
    result = await call.tts.stream(fake_llm())
    call.log.info(
        "answer streamed: %d characters spoken, %d dropped, %d tts:tokens messages",
        len(result.spoken),
        len(result.dropped),
        call.tts.messages_sent,
    )
