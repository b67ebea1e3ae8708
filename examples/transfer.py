"""``/transfer``: a receptionist that hands the caller to a department with jambonz 11.x's
``transfer`` verb, and takes them back when nobody answers.

``transfer`` packages what an app once wrote around ``dial``: ring the destination, handle
busy, no answer and a declined screening, and give the caller back to the flow when the
transfer does not complete. The flow asks where to go, transfers, and reads the typed
:class:`~jbtrio.TransferResult` its ``yield`` evaluates to: ``bridged`` means the caller
talked to the department (the call is over for us); ``returned`` hands them back with the
reason (``busy``, ``no-answer``, ``declined``), so the flow offers the other department once.

Try it with ``jbtrio serve examples.transfer:app`` and ``jbtrio call
ws://127.0.0.1:3000/transfer --say sales`` (a script file's ``"transfer"`` decides how each
transfer ends).
"""

from __future__ import annotations

import jbtrio
from jbtrio.verbs import Gather, Hangup, Say, Target, Transfer

app = jbtrio.App(jambonz="11")

DEPARTMENTS = {"sales": "+15551230001", "support": "+15551230002"}
WHY = {"busy": "busy", "no-answer": "not answering", "declined": "not available"}


def _department(answer: jbtrio.GatherResult) -> str | None:
    heard = (answer.speech_text or "").lower()
    return next((name for name in DEPARTMENTS if name in heard), None)


@app.flow("/transfer")
async def reception(call: jbtrio.Call) -> jbtrio.Steps:
    """Ask for a department, transfer, and offer the other one if the first does not take it."""
    answer: jbtrio.GatherResult = yield Gather(
        input=["speech"], say=Say(text="Welcome to Acme. Sales or support?"), timeout=8
    )
    department = _department(answer)
    if department is None:
        yield [Say(text="Sorry, I did not catch that. Goodbye."), Hangup()]
        return
    tried: list[str] = []
    while department is not None:
        tried.append(department)
        result: jbtrio.TransferResult = yield [
            Say(text=f"Transferring you to {department}."),
            Transfer(
                mode="blind",
                blind_method="dial",
                target=[Target(type="phone", number=DEPARTMENTS[department])],
                timeout=20,
            ),
        ]
        if result.transfer_result == "bridged":
            yield Hangup()  # they talked to the department; the call is done
            return
        why = WHY.get(result.transfer_reason or "", "not reachable")
        other = next((d for d in DEPARTMENTS if d not in tried), None)
        if other is None:
            break
        offer: jbtrio.GatherResult = yield Gather(
            input=["speech"],
            say=Say(text=f"Sorry, {department} is {why}. Shall I try {other} instead?"),
            timeout=8,
        )
        department = other if "yes" in (offer.speech_text or "").lower() else None
    yield [Say(text="Please call again later. Goodbye."), Hangup()]
