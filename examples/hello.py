"""The smallest app: ``/hello`` says hello and hangs up."""

from __future__ import annotations

import jbtrio
from jbtrio.verbs import Hangup, Say

app = jbtrio.App()


@app.flow("/hello")
async def hello(call: jbtrio.Call) -> jbtrio.Steps:
    """The first (and only) yield answers ``session:new``."""
    yield [Say(text=f"Hello {call.info.from_ or 'there'}, this is jbtrio."), Hangup()]
