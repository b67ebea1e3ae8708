"""A gather-based IVR at ``/ivr``: greet, listen, repeat what was heard, hang up.

Run it with ``python -m jbtrio serve examples.ivr:app`` and point a jambonz application's
websocket URL at ``ws://HOST:3000/ivr`` — or call it with the fake jambonz:
``python -m jbtrio call ws://127.0.0.1:3000/ivr --say "I need help"``.
"""

from __future__ import annotations

import jbtrio
from jbtrio.verbs import Gather, Hangup, Say

app = jbtrio.App()


@app.route("/ivr")
async def ivr(call: jbtrio.Call) -> None:
    """Greet with a say, run a speech gather, answer its hook with "You said: ..."."""
    await call.start.reply(
        [
            Say(text="Hello, and welcome to jbtrio."),
            Gather(
                input=["speech"],
                action_hook="/ivr/heard",
                timeout=10,
                say=Say(text="Tell me what you need, after the tone."),
            ),
        ]
    )
    async for event in call.events():
        if event.hook == "/ivr/heard" and isinstance(event.message, jbtrio.VerbHook):
            result = event.message.gather()
            if result.speech_text:
                answer = [Say(text=f"You said: {result.speech_text}"), Hangup()]
            else:
                answer = [Say(text="Sorry, I did not hear anything. Goodbye."), Hangup()]
            await event.reply(answer)
