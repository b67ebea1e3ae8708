"""Where a call's child tasks (event handlers, tools, flows beside the main one) fail.

A child's crash reaches the app as the handler's own would: the handler's body and the
other children are cancelled, all are waited for, and the same exception (group) reaches the
failure listeners and the runtime's "app handler crashed" line, which hangs up the call.
These pin that routing (the app's own nursery per call does it today; any change to how a
call's children are hosted must keep it; issue 23 measured one).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import trio
import trio.testing
from trio_websocket import WebSocketConnection, wrap_client_stream

import jbtrio
from jbtrio._runtime import Router, Server

SID = "0ddba11-0000-4000-8000-0000000000c1"

Shape = tuple[Any, ...]


def shape(exc: BaseException) -> Shape:
    """An exception (group) as comparable data: type, message, members."""
    if isinstance(exc, BaseExceptionGroup):
        return (type(exc).__name__, exc.message, [shape(e) for e in exc.exceptions])
    return (type(exc).__name__, str(exc))


def frame(type_: str, msgid: str, **data: Any) -> str:
    return orjson.dumps(
        {"type": type_, "msgid": msgid, "call_sid": SID, "data": {"call_sid": SID, **data}}
    ).decode()


@asynccontextmanager
async def call_to(app: Router) -> AsyncIterator[WebSocketConnection]:
    """A call's socket to ``app`` (an ``App``, or any router) on a server of its own."""
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(app).run_in)
        async with trio.open_nursery() as client:
            stream = await server.open_memory_stream()
            ws = await wrap_client_stream(
                client,
                stream,  # type: ignore[arg-type]  # any trio Stream works
                "localhost",
                "/h",
                subprotocols=["ws.jambonz.org"],
            )
            try:
                yield ws
            finally:
                await ws.aclose()
        await server.shutdown(grace=0)


async def receive(ws: WebSocketConnection) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(await ws.get_message())
    return parsed


class Record:
    """What the test sees: the order of things, and what the failure listeners heard."""

    def __init__(self) -> None:
        self.trace: list[str] = []
        self.failures: list[tuple[str, Shape, list[str]]] = []
        self.child_up = trio.Event()

    def listen(self, app: jbtrio.App) -> None:
        def failed(call: jbtrio.Call, where: str, exc: BaseException) -> None:
            self.failures.append((where, shape(exc), list(self.trace)))

        app.add_failure_listener(failed)

    async def waits(self, what: str) -> None:
        try:
            await trio.sleep_forever()
        finally:
            self.trace.append(f"{what} cancelled")


def handler_app(
    record: Record,
    body: Callable[[jbtrio.Call], Awaitable[None]],
    on_status: Callable[[jbtrio.Event], Awaitable[None]],
) -> jbtrio.App:
    app = jbtrio.App()
    record.listen(app)

    @app.route("/h")
    async def handler(call: jbtrio.Call) -> None:
        call.on("call:status", on_status)
        await call.start.reply([{"verb": "pause", "length": 30}])
        await body(call)

    return app


def crash_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str, Shape | None]]:
    return [
        (
            r.levelno,
            r.getMessage().removeprefix(f"[{SID}] "),
            shape(r.exc_info[1]) if r.exc_info and r.exc_info[1] else None,
        )
        for r in caplog.records
        if r.name.startswith("jbtrio") and r.levelno >= logging.ERROR
    ]


def crashed(group: Shape) -> tuple[int, str, Shape]:
    """The runtime's line for an app handler that failed with ``group``."""
    return (logging.ERROR, "app handler crashed; hanging up the call", group)


async def expect_hangup(ws: WebSocketConnection) -> None:
    """The runtime hangs the crashed call up: jambonz reports it completed and closes."""
    message = await receive(ws)
    assert message["type"] == "command", message
    assert message["command"] == "call:status", message
    assert message["data"] == {"call_status": "completed"}, message


async def statuses(ws: WebSocketConnection, count: int) -> None:
    await ws.send_message(frame("session:new", "m1"))
    assert (await receive(ws))["type"] == "ack"
    for n in range(count):
        await ws.send_message(frame("call:status", f"s{n}", call_status="in-progress"))


WHERE = "handler handler_app.<locals>.handler"
GROUP = "Exceptions from Trio nursery"


async def test_a_child_crash_cancels_the_body_and_the_other_children(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    record = Record()
    seen = 0

    async def on_status(event: jbtrio.Event) -> None:
        nonlocal seen
        seen += 1
        if seen == 1:
            record.child_up.set()
            await record.waits("child 1")
        else:
            raise ValueError("child 2 failed")

    async def body(call: jbtrio.Call) -> None:
        await record.waits("body")

    async with call_to(handler_app(record, body, on_status)) as ws:
        await statuses(ws, 1)
        await record.child_up.wait()
        await ws.send_message(frame("call:status", "s9", call_status="in-progress"))
        await expect_hangup(ws)
    assert len(record.failures) == 1
    where, exc, trace_then = record.failures[0]
    assert where == WHERE
    assert exc == ("ValueError", "child 2 failed")
    assert sorted(trace_then) == ["body cancelled", "child 1 cancelled"]
    group = ("ExceptionGroup", GROUP, [("ValueError", "child 2 failed")])
    assert crash_lines(caplog) == [crashed(group)]


async def test_a_body_crash_cancels_the_children(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    record = Record()

    async def on_status(event: jbtrio.Event) -> None:
        record.child_up.set()
        await record.waits("child")

    async def body(call: jbtrio.Call) -> None:
        await record.child_up.wait()
        raise KeyError("body failed")

    async with call_to(handler_app(record, body, on_status)) as ws:
        await statuses(ws, 1)
        await expect_hangup(ws)
    assert record.failures == [(WHERE, ("KeyError", "'body failed'"), ["child cancelled"])]
    group = ("ExceptionGroup", GROUP, [("KeyError", "'body failed'")])
    assert crash_lines(caplog) == [crashed(group)]


async def test_a_body_crash_without_children_is_no_group_of_children(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    record = Record()

    async def on_status(event: jbtrio.Event) -> None:
        raise AssertionError("no status is sent")

    async def body(call: jbtrio.Call) -> None:
        raise KeyError("body failed")

    async with call_to(handler_app(record, body, on_status)) as ws:
        await statuses(ws, 0)
        await expect_hangup(ws)
    assert record.failures == [(WHERE, ("KeyError", "'body failed'"), [])]
    group = ("ExceptionGroup", GROUP, [("KeyError", "'body failed'")])
    assert crash_lines(caplog) == [crashed(group)]


async def test_a_child_and_the_body_both_crashing_reach_the_app_in_one_group(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    record = Record()

    async def on_status(event: jbtrio.Event) -> None:
        raise ValueError("child failed")

    async def body(call: jbtrio.Call) -> None:
        try:
            await record.waits("body")
        except trio.Cancelled:
            raise RuntimeError("body failed while cancelled") from None

    async with call_to(handler_app(record, body, on_status)) as ws:
        await statuses(ws, 1)
        await expect_hangup(ws)
    members = [("ValueError", "child failed"), ("RuntimeError", "body failed while cancelled")]
    assert record.failures == [(WHERE, ("ExceptionGroup", GROUP, members), ["body cancelled"])]
    group = ("ExceptionGroup", GROUP, members)
    assert crash_lines(caplog) == [crashed(group)]


async def test_a_child_crashing_in_its_cancellation_after_the_body_crashed(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    record = Record()

    async def on_status(event: jbtrio.Event) -> None:
        try:
            record.child_up.set()
            await record.waits("child")
        except trio.Cancelled:
            raise ValueError("child failed while cancelled") from None

    async def body(call: jbtrio.Call) -> None:
        await record.child_up.wait()
        raise KeyError("body failed")

    async with call_to(handler_app(record, body, on_status)) as ws:
        await statuses(ws, 1)
        await expect_hangup(ws)
    members = [("KeyError", "'body failed'"), ("ValueError", "child failed while cancelled")]
    assert record.failures == [(WHERE, ("ExceptionGroup", GROUP, members), ["child cancelled"])]
    assert crash_lines(caplog) == [crashed(("ExceptionGroup", GROUP, members))]


async def test_a_child_asked_for_after_the_app_finished_is_refused(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """After a crash the runtime hangs up and waits for the end: a message that would start
    a child then is a routing failure (logged), not a task."""
    record = Record()

    async def on_status(event: jbtrio.Event) -> None:
        record.trace.append("child ran")

    async def body(call: jbtrio.Call) -> None:
        raise KeyError("body failed")

    async with call_to(handler_app(record, body, on_status)) as ws:
        await statuses(ws, 0)
        await expect_hangup(ws)
        await ws.send_message(frame("call:status", "late", call_status="completed"))
        await trio.sleep(1)
    assert record.trace == []
    lines = crash_lines(caplog)
    assert lines[0][:2] == (
        logging.ERROR,
        "app handler crashed; hanging up the call",
    )
    assert lines[1][0] == logging.ERROR
    assert lines[1][1].startswith("routing CallStatus(")
    assert lines[1][1].endswith(" late to the app failed")
    assert lines[1][2] == ("RuntimeError", "Nursery is closed to new arrivals")
    assert len(lines) == 2


async def test_children_running_when_the_call_ends_are_cancelled_quietly(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    record = Record()
    ended = trio.Event()

    async def on_status(event: jbtrio.Event) -> None:
        record.child_up.set()
        await record.waits(f"child {event.message.msgid}")

    async def body(call: jbtrio.Call) -> None:
        try:
            await call.wait_ended()
        finally:
            record.trace.append("body returned")
            ended.set()

    async with call_to(handler_app(record, body, on_status)) as ws:
        await statuses(ws, 2)
        await record.child_up.wait()
        await trio.sleep(1)
        await ws.aclose()  # 1000: jambonz ended the call
        await ended.wait()
        await trio.sleep(1)
    assert sorted(record.trace) == ["body returned", "child s0 cancelled", "child s1 cancelled"]
    assert record.failures == []
    assert crash_lines(caplog) == []


async def test_a_flow_call_with_a_crashing_app_handler_hangs_up(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A flow app's event handler (``app.on``): the flow is closed, the crash reported."""
    app = jbtrio.App()
    record = Record()
    record.listen(app)

    @app.on("call:status")
    async def on_status(event: jbtrio.Event) -> None:
        raise ValueError("handler failed")

    @app.flow("/h")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        try:
            yield jbtrio.verbs.Pause(length=30)
            await record.waits("flow")
        finally:
            record.trace.append("flow closed")

    async with call_to(app) as ws:
        await statuses(ws, 1)
        await expect_hangup(ws)
    assert record.failures == [
        ("an event handler", ("ValueError", "handler failed"), ["flow cancelled", "flow closed"])
    ]
    group = ("ExceptionGroup", GROUP, [("ValueError", "handler failed")])
    assert crash_lines(caplog) == [crashed(group)]


async def test_the_calls_end_stops_the_app_by_its_own_scope(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """jambonz closes (1000) while the app waits, its only task: the app's nursery scope is
    cancelled, not the call's (issue 23: no walk of every scope of the call, no Cancelled
    made for its waiting task); the app is cancelled all the same, and the call ends."""
    record = Record()
    seen: list[tuple[bool, bool, bool]] = []

    async def on_status(event: jbtrio.Event) -> None:
        record.child_up.set()
        await record.waits("child")

    async def body(call: jbtrio.Call) -> None:
        session = call.session
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            nursery = session._nursery
            assert nursery is not None and session.app_scope is not None
            seen.append(
                (
                    session.app_scope.cancel_called,
                    nursery.cancel_scope.cancel_called,
                    session.ended,
                )
            )
            raise

    async with call_to(handler_app(record, body, on_status)) as ws:
        await statuses(ws, 1)
        await record.child_up.wait()
        await trio.sleep(2)  # the timer task lingers a second after a send (LINGER)
        await ws.aclose()  # 1000: jambonz ended the call
        await trio.sleep(1)
    assert seen == [(True, False, True)]
    assert record.trace == ["child cancelled"]
    assert record.failures == []
    assert crash_lines(caplog) == []


async def test_a_wrapped_app_handler_has_all_of_its_tasks_cancelled_at_the_end(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A router of the app's own may run an ``App``'s handler inside its own nursery, beside
    tasks of its own: those are outside the app's scope, so the call's end cancels the call's
    nursery for them, as it always did (the app's scope alone would leave them running and
    the call's nursery waiting)."""
    record = Record()

    async def on_status(event: jbtrio.Event) -> None:
        record.child_up.set()
        await record.waits("child")

    async def body(call: jbtrio.Call) -> None:
        await trio.sleep_forever()

    app = handler_app(record, body, on_status)
    side_cancelled = trio.Event()

    async def side_task() -> None:
        try:
            await record.waits("side task")
        finally:
            side_cancelled.set()

    class Wrapping:
        audio_routes = None

        def resolve(self, path: str) -> jbtrio._runtime.AppHandler | None:
            inner = app.resolve(path)
            if inner is None:
                return None
            handler = inner

            async def wrapped(session: jbtrio._runtime.CallSession) -> None:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(side_task)
                    await handler(session)

            return wrapped

    async with call_to(Wrapping()) as ws:
        await statuses(ws, 1)
        await record.child_up.wait()
        await trio.sleep(2)  # the timer task lingers a second after a send (LINGER)
        await ws.aclose()  # 1000: jambonz ended the call
        with trio.fail_after(5):  # not left to the server's shutdown
            await side_cancelled.wait()
        await trio.sleep(1)
        assert sorted(record.trace) == ["child cancelled", "side task cancelled"]
    assert crash_lines(caplog) == []
