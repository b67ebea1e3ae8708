"""``/dial-confirm``: dial a number, screen the callee with a confirm flow, whisper to them.

The callee hears the confirm flow's verbs before being bridged (``dial:confirm``); once the
legs are connected the app whispers a reminder to the callee (the ``whisper`` command,
targeted at the B-leg by its call_sid).
"""

from __future__ import annotations

import jbtrio
from jbtrio.verbs import Dial, Hangup, Say, Target

app = jbtrio.App()


@app.flow("/dial-confirm")
async def dial_out(call: jbtrio.Call) -> jbtrio.Steps:
    """Dial with a confirm hook; report how the dial ended."""
    call.on("call:status", _whisper_when_answered)
    result: jbtrio.DialResult = yield [
        Say(text="Connecting you now."),
        Dial(
            target=[Target(type="phone", number="+15085551212")],
            confirm_hook="/dial-confirm/screen",
            answer_on_bridge=True,
        ),
    ]
    yield [Say(text=f"The call ended: {result.dial_call_status or 'unknown'}."), Hangup()]


@app.dial_confirm("/dial-confirm/screen")
async def screen(call: jbtrio.Call) -> jbtrio.Steps:
    """Played to the callee only, before the legs are bridged."""
    yield Say(text="You have a call from jbtrio. Connecting.")


async def _whisper_when_answered(event: jbtrio.Event) -> None:
    message = event.message
    if not isinstance(message, jbtrio.CallStatus):
        return
    leg = message.data
    if leg.direction == "outbound" and leg.call_status == "in-progress" and leg.call_sid:
        await event.call.whisper([Say(text="This call is recorded.")], call_sid=leg.call_sid)
