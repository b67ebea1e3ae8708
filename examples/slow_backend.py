"""``/slow-backend``: the flow thinks for 8 s after the caller speaks, and nothing breaks.

jambonz waits 5 s for an ack. jbtrio acks the gather's hook in time on the flow's behalf, and
the flow's next ``yield`` — long after — goes out as a ``redirect`` command instead.
"""

from __future__ import annotations

import trio

import jbtrio
from jbtrio.verbs import Gather, Hangup, Say

app = jbtrio.App()

BACKEND_SECONDS = 8.0


async def look_up(question: str) -> str:
    """A slow backend (a database, an LLM, ...)."""
    await trio.sleep(BACKEND_SECONDS)
    return f"the answer to {question!r} is 42"


@app.flow("/slow-backend")
async def slow_backend(call: jbtrio.Call) -> jbtrio.Steps:
    """Gather a question, look it up slowly, say the answer."""
    answer: jbtrio.GatherResult = yield Gather(
        input=["speech"], timeout=10, say=Say(text="Ask me anything.")
    )
    question = answer.speech_text or "nothing"
    result = await look_up(question)
    yield [Say(text=f"Thanks for waiting: {result}."), Hangup()]
