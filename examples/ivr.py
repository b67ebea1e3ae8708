"""A speech/DTMF menu at ``/ivr``, written as a flow.

Greets, asks what the caller wants (speech or one digit), branches, retries once on silence,
and repeats a spoken answer back ("You said: ...") before hanging up. Serve it with
``python -m jbtrio serve examples.ivr:app`` and point a jambonz application at
``ws://HOST:3000/ivr``, or call it with the fake jambonz:
``python -m jbtrio call ws://127.0.0.1:3000/ivr --say "I need help"``.
"""

from __future__ import annotations

import jbtrio
from jbtrio.verbs import Gather, Hangup, Say

GREETING = "Hello, and welcome to jbtrio."

app = jbtrio.App(
    env_vars={
        # jambonz's portal shows this field (it asks with OPTIONS /ivr); call.env has it
        "GREETING": jbtrio.EnvVar(description="What callers hear first", default=GREETING)
    }
)

MENU = "Tell me what you need, or press 1 for sales and 2 for support."


@app.flow("/ivr")
async def ivr(call: jbtrio.Call) -> jbtrio.Steps:
    """Each ``yield`` hands verbs to jambonz; a gather's yield returns its typed result."""
    yield Say(text=str(call.env.get("GREETING", GREETING)))  # mounted elsewhere: the default
    for attempt in range(2):
        answer: jbtrio.GatherResult = yield Gather(
            input=["speech", "digits"], num_digits=1, timeout=8, say=Say(text=MENU)
        )
        if answer.digits == "1":
            yield [Say(text="Connecting you to sales. Goodbye."), Hangup()]
            return
        if answer.digits == "2":
            yield [Say(text="Connecting you to support. Goodbye."), Hangup()]
            return
        if answer.speech_text:
            yield [Say(text=f"You said: {answer.speech_text}"), Hangup()]
            return
        if attempt == 0:
            yield Say(text="Sorry, I did not catch that.")
    yield [Say(text="I still did not hear anything. Goodbye."), Hangup()]
