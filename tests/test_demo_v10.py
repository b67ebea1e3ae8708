"""``jbtrio demo``'s jambonz 11 calls (the agent, the transfer), run in-process: each scenario's
call goes as its check expects."""

from __future__ import annotations

import pytest
import trio.testing

from jbtrio._demo import _FAST_MEDIA, SCENARIOS, _import_examples, build_app
from jbtrio.testing import run_app


@pytest.mark.parametrize("path", ["/agent", "/transfer"])
async def test_the_demo_scenario(path: str, autojump_clock: trio.testing.MockClock) -> None:
    _import_examples()
    (scenario,) = [s for s in SCENARIOS if s.path == path]
    app = build_app([scenario])
    call = await run_app(app, path, caller=scenario.caller, config=_FAST_MEDIA)
    assert scenario.expect(call) is None
    if path == "/agent":  # greeting, two caller turns, a generated reply
        ends = [f for f in call.sent("agent:event") if f.payload["type"] == "turn_end"]
        assert [e.payload["transcript"] for e in ends] == [
            "",
            "Where is my order 1234?",
            "",
            "Can someone call me back at five?",
        ]
