"""Faults on demand: delays, reordering, injected frames, paused reading, drops."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from _standalone_app import AppConn, StandaloneApp, place

from jbtrio.testing import (
    At,
    Caller,
    Delay,
    Drop,
    FakeJambonz,
    Faults,
    Inject,
    PauseReading,
    Reorder,
)

VERBS: list[dict[str, Any]] = [
    {"verb": "config", "notifyEvents": True},
    {"verb": "say", "id": "a", "text": "hello"},
    {"verb": "hangup"},
]


async def test_delay_holds_a_frame_back(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(initial_verbs=VERBS)
    faults = Faults([Delay(At("out", type="call:status"), 3.0)])
    call = await place(app, faults=faults)
    status = call.sent("call:status")[0]
    assert status.time == pytest.approx(3.0)
    assert call.outcome.ok


async def test_reorder_swaps_with_the_next_frame(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(initial_verbs=VERBS)
    faults = Faults([Reorder(At("out", type="call:status"))])
    await place(app, faults=faults)
    types = [m["type"] for m in app.conns[0].messages]
    assert types[:3] == ["session:new", "verb:status", "call:status"]


async def test_inject_malformed_frame_towards_app(autojump_clock: trio.testing.MockClock) -> None:
    seen: list[str] = []

    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        seen.append(msg.get("type", "?"))
        return False

    app = StandaloneApp(initial_verbs=VERBS, on_message=on_message)
    faults = Faults([Inject(At("out", index=0), '{"type":"mystery"}', when="after")])
    call = await place(app, faults=faults)
    assert seen[:2] == ["session:new", "mystery"]
    assert call.sent()[1].text == '{"type":"mystery"}'


async def test_drop_by_index_with_close_code(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(initial_verbs=[{"verb": "pause", "length": 2}, {"verb": "hangup"}])
    call = await place(app, faults=Faults([Drop(At("out", index=1), code=1011)]))
    assert app.conns[0].close_code == 1011
    assert len(app.conns) == 2
    assert call.outcome.ok


async def test_drop_on_predicate_of_incoming_frame(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(initial_verbs=[{"verb": "pause", "length": 2}, {"verb": "hangup"}])

    def is_ack(frame: Any) -> bool:
        return bool(frame.type == "ack")

    faults = Faults([Drop(At("in", predicate=is_ack), when="after")])
    call = await place(app, faults=faults)
    assert [e.kind for e in call.events][:3] == ["open", "close", "open"]
    assert call.outcome.ok


async def test_pause_reading_delays_processing(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp()
    faults = Faults([PauseReading(At("in", index=0), 4.0)])
    call = await place(app, faults=faults, caller=Caller(speech=["hi"]))
    ack_2 = call.received("ack")[1]
    assert ack_2.time >= 4.0
    assert call.outcome.ok


async def test_drop_and_hangup_from_the_test(autojump_clock: trio.testing.MockClock) -> None:
    app = StandaloneApp(initial_verbs=[{"verb": "pause", "length": 100}])
    async with trio.open_nursery() as nursery:
        async with FakeJambonz().call(app.memory_connector(nursery)) as call:
            await call.wait_for_type("call:status")
            await call.drop()
            frame = await call.wait_for_type("session:reconnect")
            assert frame.connection == 2
            await call.wait_for(lambda f: f.type == "ack" and f.msgid == frame.msgid)
            outcome = await call.hangup()
        nursery.cancel_scope.cancel()
    assert outcome.ok and outcome.ended_by == "caller"
    assert call.sent("call:status")[-1].payload["call_termination_by"] == "caller"


def test_faults_drop_after_helper() -> None:
    faults = Faults.drop_after(3)
    (rule,) = faults.rules
    assert isinstance(rule, Drop)
    assert rule.at == At("out", index=2)


async def test_inject_towards_app_when_an_app_frame_arrives(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: list[str] = []

    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        seen.append(msg.get("type", "?"))
        return False

    app = StandaloneApp(initial_verbs=VERBS, on_message=on_message)
    faults = Faults([Inject(At("in", type="ack"), '{"type":"early"}', when="before")])
    await place(app, faults=faults)
    assert seen[:3] == ["session:new", "early", "call:status"]


async def test_writer_stuck_on_a_non_reading_app_is_aborted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def on_message(conn: AppConn, msg: dict[str, Any]) -> bool:
        if msg["type"] == "call:status":
            await trio.sleep_forever()
        return False

    app = StandaloneApp(
        initial_verbs=[{"verb": "config", "notifyEvents": True}]
        + [{"verb": "say", "text": f"line {i}"} for i in range(50)],
        on_message=on_message,
    )
    async with trio.open_nursery() as nursery:
        connector = app.memory_connector(nursery, lockstep=True)
        async with FakeJambonz().call(connector) as call:
            await trio.sleep(60)
            assert len(call.sent("verb:status")) < 10
            outcome = await call.hangup()
        nursery.cancel_scope.cancel()
    assert outcome.ended_by == "caller"
    close = call.events[-1]
    assert (close.kind, close.code, close.by) == ("close", 1006, "jambonz")
