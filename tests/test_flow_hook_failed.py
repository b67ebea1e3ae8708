"""Found by the soak: jambonz fails a gather's action hook because the connect it opened for
it timed out (a handshake timeout is not retried: docs/jambonz.md, Connection);
it reports ``jambonz:error`` "invalid actionHook response" on the next socket and idles with
an empty verb stack. The flow waiting at ``yield Gather(...)`` used to wait forever, the
caller in silence; now :class:`jbtrio.HookFailed` is raised at that ``yield`` (the IVR does
not catch it, so the call ends as after any flow crash: the apology, then a hangup)."""

from __future__ import annotations

import trio
import trio.testing

from jbtrio import CoreConfig
from jbtrio._runtime import Server, ServerConfig
from jbtrio.testing import At, Caller, Drop, FakeJambonz, Faults


async def test_a_gather_jambonz_failed_resumes_the_flow(
    autojump_clock: trio.testing.MockClock,
) -> None:
    from examples.ivr import app

    async with trio.open_nursery() as nursery:
        # Without receipts: with notifyEvents on, a verb:status would open (and fail) the
        # next connect before the hook does, and the hook would go out on the one after.
        config = ServerConfig(core=CoreConfig(receipts=False))
        server: Server = await nursery.start(Server(app, config).run_in)
        attempts = 0

        async def connector() -> trio.abc.Stream:
            nonlocal attempts
            attempts += 1
            if attempts == 2:  # the connect jambonz opens for the gather's hook hangs
                await trio.sleep_forever()
            return await server.open_memory_stream()

        # #rc=1: no timer-driven reconnect after the drop, so the hook opens the next socket
        call = await FakeJambonz().place_call(
            "ws://app/ivr#rc=1",
            connector=connector,
            caller=Caller(speech=["I need help"], idle_hangup=30),
            faults=Faults([Drop(At("in", index=0), "after", code=1011)]),  # after the gather
        )
        await server.shutdown(grace=0)
    errors = [frame.payload for frame in call.sent("jambonz:error")]
    # the scenario happened: the ws library's own text for a handshake timeout
    assert errors[0]["details"] == "Opening handshake has timed out"
    assert call.outcome.reason != "caller hung up (app left the call idle)", call.outcome
    assert call.executed_verbs[-1]["verb"] == "hangup"


async def test_a_gather_failure_is_told_only_to_the_step_it_concerns(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # jambonz names the failed gather's id; a later step waiting on another gather (the same
    # verb name) is not told of an earlier gather's failure.
    from test_runtime_smoke import frame, jambonz, receive_json, running

    import jbtrio
    from jbtrio.verbs import Gather

    app = jbtrio.App()
    outcomes: list[str] = []

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        yield Gather(input=["speech"])
        try:
            yield Gather(input=["speech"])
            outcomes.append("second answered")
        except jbtrio.HookFailed:
            outcomes.append("second failed")

    async with running(app) as server, jambonz(server, "/f") as ws:
        await ws.send_message(frame("session:new", "m1"))
        ack = await receive_json(ws)
        first = next(v for v in ack["data"] if v["verb"] == "gather")
        await ws.send_message(
            frame("verb:hook", "m2", hook=first["actionHook"], data={"reason": "timeout"})
        )
        ack = await receive_json(ws)
        second = next(v for v in ack["data"] if v["verb"] == "gather")
        assert first["id"] != second["id"]
        error = {"msg": "invalid actionHook response", "verb": "gather", "id": first["id"]}
        await ws.send_message(frame("jambonz:error", "e1", data=error))
        await trio.testing.wait_all_tasks_blocked()
        assert outcomes == []  # not the second step's gather
        error = {**error, "id": second["id"]}
        await ws.send_message(frame("jambonz:error", "e2", data=error))
        await trio.testing.wait_all_tasks_blocked()
    assert outcomes == ["second failed"]
