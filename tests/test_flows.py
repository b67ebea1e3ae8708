"""Async-generator flows, awaitable verbs and LLM tools, through the fake jambonz."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import jbtrio
from jbtrio._flow import closes_quietly, until_finished
from jbtrio._runtime import Server, ServerConfig
from jbtrio.testing import (
    At,
    Caller,
    Drop,
    FakeJambonz,
    Faults,
    JambonzConfig,
    LlmScript,
    ScriptedToolCall,
    Silence,
    Turn,
    app_view,
)
from jbtrio.verbs import Gather, Hangup, Llm, Say


@asynccontextmanager
async def serving(app: jbtrio.App, config: ServerConfig | None = None) -> AsyncIterator[Server]:
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app, config).run_in)
        yield server
        await server.shutdown(grace=0)


async def place(app: jbtrio.App, path: str, caller: Caller | None = None, **kw: Any) -> Any:
    async with serving(app) as server:
        return await FakeJambonz().place_call(
            f"ws://jbtrio.test{path}", connector=server.open_memory_stream, caller=caller, **kw
        )


def said(call: Any) -> list[str]:
    return [v["text"] for v in call.executed_verbs if v.get("verb") == "say"]


# ---------------------------------------------------------------------- the examples


async def test_hello(autojump_clock: trio.testing.MockClock) -> None:
    from examples.hello import app

    call = await place(app, "/hello")
    assert call.outcome.ok, call.outcome.summary()
    assert said(call) == ["Hello 15083084809, this is jbtrio."]


async def test_ivr_speech_is_repeated_back(autojump_clock: trio.testing.MockClock) -> None:
    from examples.ivr import app

    call = await place(app, "/ivr", Caller(speech=["I need help"]))
    assert call.outcome.ok, call.outcome.summary()
    assert said(call)[-1] == "You said: I need help"
    assert call.executed_verbs[-1]["verb"] == "hangup"
    # the greeting played before the menu: the second yield was queued, not a replacement
    assert said(call)[0] == "Hello, and welcome to jbtrio."


async def test_ivr_digits_branch(autojump_clock: trio.testing.MockClock) -> None:
    from examples.ivr import app

    call = await place(app, "/ivr", Caller(digits=["2"]))
    assert call.outcome.ok, call.outcome.summary()
    assert "Connecting you to support. Goodbye." in said(call)


async def test_ivr_retries_once_on_silence(autojump_clock: trio.testing.MockClock) -> None:
    from examples.ivr import app

    caller = Caller(turns=[Silence(), Turn("speech", "billing")])
    call = await place(app, "/ivr", caller)
    assert call.outcome.ok, call.outcome.summary()
    assert "Sorry, I did not catch that." in said(call)
    assert said(call)[-1] == "You said: billing"


async def test_slow_backend_still_completes(autojump_clock: trio.testing.MockClock) -> None:
    from examples.slow_backend import app

    call = await place(app, "/slow-backend", Caller(speech=["what is six times seven"]))
    assert call.outcome.ok, call.outcome.summary()
    hook = call.sent("verb:hook")[0]
    ack = next(f for f in call.received("ack") if f.msgid == hook.msgid)
    assert ack.time - hook.time < 5.0  # acked in time, on the flow's behalf
    redirects = [c for c in call.commands if c.command == "redirect"]
    assert redirects, "the late verbs went out as a command"
    assert said(call)[-1].startswith("Thanks for waiting: the answer to 'what is six")


async def test_dial_confirm_screens_and_whispers(autojump_clock: trio.testing.MockClock) -> None:
    from examples.dial_confirm import app

    call = await place(app, "/dial-confirm")
    assert call.outcome.ok, call.outcome.summary()
    assert call.record.confirm_verbs == [
        {"verb": "say", "text": "You have a call from jbtrio. Connecting."}
    ]
    whispers = [c for c in call.commands if c.command == "whisper"]
    assert whispers and whispers[0].data["whisper"][0]["text"] == "This call is recorded."
    assert whispers[0].call_sid == "5d1f0d2e-8b36-4b2c-9c2e-3f1d7c1b9a10"  # the B-leg
    assert said(call)[-1] == "The call ended: completed."


async def test_voice_agent_tools(autojump_clock: trio.testing.MockClock) -> None:
    from examples.voice_agent import app

    script = LlmScript(
        tool_calls=[
            ScriptedToolCall(name="get_weather", args={"city": "Paris"}, tool_call_id="t1"),
            ScriptedToolCall(name="book_table", args={"people": 12}, tool_call_id="t2"),
        ]
    )
    call = await place(app, "/voice-agent", Caller(llm=script))
    assert call.outcome.ok, call.outcome.summary()
    outputs = {o["tool_call_id"]: o["data"] for o in call.record.tool_outputs}
    weather = outputs["t1"]["item"]
    assert weather["type"] == "function_call_output" and weather["call_id"] == "t1"
    assert '"city":"Paris"' in weather["output"]
    assert "error" in outputs["t2"]["item"]["output"]  # a failing tool answers, not silence


# ---------------------------------------------------------------------- flow semantics


async def test_a_crashing_flow_apologises_and_other_calls_go_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App(error_verbs=[Say(text="Oops."), Hangup()])

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        answer: jbtrio.GatherResult = yield Gather(input=["speech"])
        if answer.speech_text == "crash":
            raise RuntimeError("boom")
        yield [Say(text="fine"), Hangup()]

    fake = FakeJambonz()
    async with serving(app) as server, trio.open_nursery() as nursery:
        calls = [
            fake.new_call(
                "ws://jbtrio.test/f",
                connector=server.open_memory_stream,
                caller=Caller(speech=[word]),
            )
            for word in ["crash", "ok", "ok"]
        ]
        for n, call in enumerate(calls):
            nursery.start_soon(call.run, name=f"call {n}")
    assert said(calls[0]) == ["Oops."]
    assert all(c.outcome.ok for c in calls)  # the fake was not told the apology: it cannot know
    assert said(calls[1]) == said(calls[2]) == ["fine"]


async def test_hang_up_closes_the_generator(autojump_clock: trio.testing.MockClock) -> None:
    app = jbtrio.App()
    closed = trio.Event()

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        try:
            yield Gather(input=["speech"], timeout=60)
            yield Say(text="never reached")
        finally:
            closed.set()

    async with serving(app) as server:
        async with FakeJambonz().call(
            "ws://jbtrio.test/f",
            connector=server.open_memory_stream,
            caller=Caller(idle_hangup=None),
        ) as call:
            await call.wait_for_type("ack", "in")
            await call.hangup()
        await closed.wait()


async def test_a_closed_flow_may_await_in_finally_for_five_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A hang-up closes the flow: its ``finally`` blocks run shielded from the call's end,
    and are cut after 5 s (one that would wait longer is cancelled there)."""
    app = jbtrio.App()
    marks: dict[str, float] = {}

    @app.flow("/quick")
    async def quick(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        try:
            yield Gather(input=["speech"], timeout=60)
        finally:
            marks["quick closing"] = trio.current_time()
            await trio.sleep(1)  # the call is over, its scopes cancelled: shielded
            marks["quick closed"] = trio.current_time()

    @app.flow("/stuck")
    async def stuck(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        try:
            yield Gather(input=["speech"], timeout=60)
        finally:
            marks["stuck closing"] = trio.current_time()
            try:
                await trio.sleep_forever()
            finally:
                marks["stuck cut"] = trio.current_time()

    async with serving(app) as server:
        for path in ("/quick", "/stuck"):
            async with FakeJambonz().call(
                f"ws://jbtrio.test{path}",
                connector=server.open_memory_stream,
                caller=Caller(idle_hangup=None),
            ) as call:
                await call.wait_for_type("ack", "in")
                await call.hangup()
        await trio.sleep(10)
    assert marks["quick closed"] - marks["quick closing"] == 1
    assert marks["stuck cut"] - marks["stuck closing"] == 5


async def _plain(x: Any) -> AsyncGenerator[Any, Any]:
    yield 1
    while True:
        x = yield {"verb": "say", "text": f"{x}"}


async def _with_finally() -> AsyncGenerator[Any, Any]:
    try:
        yield 1
    finally:
        pass


async def _with_except() -> AsyncGenerator[Any, Any]:
    try:
        yield 1
    except ValueError:
        return


async def _with_with() -> AsyncGenerator[Any, Any]:
    with trio.CancelScope():
        yield 1


async def _with_async_with(x: Any) -> AsyncGenerator[Any, Any]:
    async with x:
        yield 1


async def _with_async_for(x: Any) -> AsyncGenerator[Any, Any]:
    async for item in x:
        yield item


def test_closes_quietly_only_a_flow_without_handlers() -> None:
    """Closing a flow runs its code only through an exception handler of its own (a
    ``try``, a ``with``, an ``async with`` or ``async for``): without one it needs no scope
    (3.12+'s StopIteration handler around every generator is not the flow's code)."""
    assert closes_quietly(_plain.__code__)
    for flow in (_with_finally, _with_except, _with_with, _with_async_with, _with_async_for):
        assert not closes_quietly(flow.__code__), flow.__name__


class _ScopeSpy:
    """``trio`` as the flow runner sees it, counting the shielded scopes it makes."""

    def __init__(self) -> None:
        self.shielded = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(trio, name)

    def CancelScope(self, **kwargs: Any) -> trio.CancelScope:  # noqa: N802 - trio's name
        if kwargs.get("shield"):
            self.shielded += 1
        return trio.CancelScope(**kwargs)


@pytest.mark.pure_python
async def test_a_flow_with_nothing_to_run_when_closed_is_closed_without_a_scope(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing a flow with no ``try``, ``with`` or ``async for`` runs none of its code: it
    needs no shielded scope (issue 23); one with a ``finally`` still gets it."""
    import jbtrio._flow_runner

    spy = _ScopeSpy()
    monkeypatch.setattr(jbtrio._flow_runner, "trio", spy)
    app = jbtrio.App()
    closed: list[str] = []

    @app.flow("/plain")
    async def plain(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield Gather(input=["speech"], timeout=60)
        closed.append("plain ran on")  # never: the hang-up closes it at its yield

    @app.flow("/guarded")
    async def guarded(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        try:
            yield Gather(input=["speech"], timeout=60)
        finally:
            closed.append("guarded")

    shielded = []
    async with serving(app) as server:
        for path in ("/plain", "/guarded"):
            async with FakeJambonz().call(
                f"ws://jbtrio.test{path}",
                connector=server.open_memory_stream,
                caller=Caller(idle_hangup=None),
            ) as call:
                await call.wait_for_type("ack", "in")
                await call.hangup()
            await trio.sleep(1)
            shielded.append(spy.shielded)
    assert closed == ["guarded"]
    assert shielded == [0, 1]


async def test_a_flow_left_parked_leaves_nothing_behind(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A flow left while parked on its hooks (its handler's timeout) leaves nothing behind:
    a ``session:redirect`` during the next flow's own code still cancels that one at once
    (issue 23's wake-up is for a flow parked on a step only)."""
    app = jbtrio.App()
    marks: dict[str, float] = {}

    async def first(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield Gather(input=["speech"], timeout=60)

    async def second(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        try:
            await call.redirect_to_hook("/b")
            await trio.sleep_forever()
            yield Say(text="never")
        finally:
            marks["second closed"] = trio.current_time()

    @app.route("/h")
    async def handler(call: jbtrio.Call) -> None:
        with trio.move_on_after(1):
            await call.run_flow(first)
        await call.run_flow(second)

    @app.flow("/b")
    async def taking_over(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        marks["b started"] = trio.current_time()
        yield [Say(text="in b"), Hangup()]

    call = await place(app, "/h")
    assert call.outcome.ok, call.outcome.summary()
    assert said(call) == ["in b"]
    # closed by the redirect, not by the call's end (after the say)
    assert marks["second closed"] == marks["b started"]


async def test_a_finished_flow_is_not_closed_again(autojump_clock: trio.testing.MockClock) -> None:
    app = jbtrio.App()
    finished: list[str] = []

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        try:
            yield Hangup()
        finally:
            finished.append("finally")

    call = await place(app, "/f")
    assert call.outcome.ok, call.outcome.summary()
    assert finished == ["finally"]


async def test_until_finished_waits_for_verb_status(autojump_clock: trio.testing.MockClock) -> None:
    app = jbtrio.App()
    marks: list[float] = []

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield until_finished(Say(text="x" * 100))  # 0.05 s per char in the fake: 5 s
        marks.append(trio.current_time())
        yield Hangup()

    call = await place(app, "/f")
    assert call.outcome.ok, call.outcome.summary()
    first_ack = call.received("ack")[0].data
    assert first_ack is not None
    # the flow's own notifyEvents config (the core adds none of its own then)
    assert {**first_ack["data"][0], "id": None} == {
        "verb": "config",
        "notifyEvents": True,
        "id": None,
    }
    assert first_ack["data"][1]["id"] == "jbf1"
    assert marks and marks[0] >= 5.0


async def test_a_reconnect_resumes_the_same_generator(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()
    starts: list[int] = []

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        starts.append(1)
        answer: jbtrio.GatherResult = yield Gather(input=["speech"])
        yield [Say(text=f"got {answer.speech_text}"), Hangup()]

    faults = Faults([Drop(At("out", type="call:status"), "after")])
    async with serving(app) as server:
        call = await FakeJambonz(JambonzConfig()).place_call(
            "ws://jbtrio.test/f",
            connector=server.open_memory_stream,
            caller=Caller(speech=["again"]),
            faults=faults,
        )
    assert call.outcome.ok, call.outcome.summary()
    assert len([e for e in call.events if e.kind == "open"]) == 2
    assert starts == [1]
    assert said(call) == ["got again"]


async def test_awaitable_verbs_in_a_plain_handler(autojump_clock: trio.testing.MockClock) -> None:
    app = jbtrio.App()

    @app.route("/h")
    async def handler(call: jbtrio.Call) -> None:
        await call.run([Say(text="first")])
        result = await call.gather(input=["speech"])
        await call.run([Say(text=f"you said {result.speech_text}")])
        await call.hangup()

    call = await place(app, "/h", Caller(speech=["hi"]))
    assert call.outcome.ok, call.outcome.summary()
    assert said(call) == ["first", "you said hi"]


async def test_events_outside_the_flow_reach_app_handlers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()
    seen: list[str] = []

    @app.on("call:status")
    async def status(event: jbtrio.Event) -> None:
        assert isinstance(event.message, jbtrio.CallStatus)
        seen.append(str(event.message.data.call_status))

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield [Say(text="hi"), Hangup()]

    call = await place(app, "/f")
    assert call.outcome.ok
    assert "in-progress" in seen


async def test_llm_events_reach_handlers_and_ask_jambonz_for_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = jbtrio.App()
    seen: list[str | None] = []

    @app.on("llm:event")
    async def on_llm(event: jbtrio.Event) -> None:
        assert isinstance(event.message, jbtrio.LlmEvent)
        seen.append(event.message.event_type)

    @app.flow("/f")
    async def flow(call: jbtrio.Call) -> AsyncGenerator[Any, Any]:
        yield Llm(vendor="openai", llm_options={})
        yield Hangup()

    script = LlmScript(events=[{"type": "response.done"}, {"type": "session.updated"}])
    call = await place(app, "/f", Caller(llm=script))
    assert call.outcome.ok, call.outcome.summary()
    first_ack = call.received("ack")[0].data
    assert first_ack is not None
    assert app_view(first_ack["data"])[0]["eventHook"] == "/jbtrio/llm-events"
    assert seen == ["response.done", "session.updated"]


async def test_the_next_step_after_a_hook_travels_in_its_ack(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The IVR greets and gathers, then answers a silent gather with a say and gathers again:
    # each time one ack carries both, not an ack and then a redirect (a drop between two
    # frames could lose the redirect unseen: jambonz never acknowledges commands).
    from examples.ivr import app

    call = await place(app, "/ivr", caller=Caller(speech=[]))
    assert call.outcome.ok, call.outcome.summary()
    acks = [app_view(a.data["data"]) for a in call.received("ack") if a.data and a.data.get("data")]
    assert [[v["verb"] for v in verbs] for verbs in acks[:2]] == [["say", "gather"]] * 2
    assert acks[1][0]["text"] == "Sorry, I did not catch that."
    assert not [c for c in call.received("command") if (c.data or {}).get("command") == "redirect"]


async def test_copied_and_unpickled_builders_can_be_yielded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # attrs copies and pickles a builder's fields only: its known-valid mask is not carried,
    # so a copy is known valid for no target and is checked once where it is sent.
    import copy
    import pickle

    template = Gather(input=["speech"], action_hook="/menu", say=Say(text="Say something."))
    app = jbtrio.App()

    def unpickled(verb: Any) -> Any:
        return pickle.loads(pickle.dumps(verb))

    makers: tuple[Callable[[Any], Any], ...] = (copy.copy, copy.deepcopy, unpickled)

    @app.flow("/copies")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        for made in makers:
            say = made(Say(text=f"copy {made is copy.copy}"))
            assert not say.checked_for("10")
            yield [say, made(template)]
        yield Hangup()

    call = await place(app, "/copies", Caller(speech=["one", "two", "three"]))
    assert call.outcome.ok, call.outcome.summary()
    assert said(call)[:1] == ["copy True"]
    assert [v["verb"] for v in call.executed_verbs].count("gather") == 3
