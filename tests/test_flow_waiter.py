"""A flow's own steps wait on one hook waiter, reused step after step (issue 23)."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

import jbtrio
from jbtrio._runtime import Server
from jbtrio.testing import Caller, FakeJambonz
from jbtrio.verbs import Gather, Hangup, Say


async def test_the_flows_steps_reuse_one_waiter_holding_nothing_between(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()
    seen: list[tuple[Any, Any, Any, str | None]] = []

    @app.flow("/reuse")
    async def reuse(call: jbtrio.Call) -> jbtrio.Steps:
        driver = call._flows._main
        for _ in range(2):
            answer: jbtrio.GatherResult = yield Gather(input=["speech"], say=Say(text="Hi?"))
            waiter = driver.waiter
            assert waiter is not None
            seen.append((waiter, waiter.outcome, waiter.handle, answer.speech_text))
        yield [Say(text="Bye."), Hangup()]

    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app).run_in)
        call = await FakeJambonz().place_call(
            "ws://jbtrio.test/reuse",
            connector=server.open_memory_stream,
            caller=Caller(speech=["one", "two"]),
        )
        await server.shutdown(grace=0)
    assert call.outcome.ok, call.outcome.summary()
    assert [text for *_, text in seen] == ["one", "two"]
    first, second = seen
    assert first[0] is second[0]  # one waiter for both steps
    # once a step is over its waiter holds nothing of it (no hook, failure or reply)
    assert all(held is None for entry in seen for held in entry[1:3])
