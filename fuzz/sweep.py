"""The reconnect sweep: ``python -m fuzz.sweep``.

Cuts the line of one call at every ``--step`` bytes (30 by default) of what the app sends,
and at the exact end of each of its frames, with each of ``--delays``; once per call, and
(``--twice``) twice per call. After the cut byte nothing more gets through in either
direction (a path gone dead) until, ``delay`` seconds later, both ends see the connection
reset. jambonz (the fake, with 0.9.8's re-key stall on) then reconnects as it does.

Three apps, each run clean first to fix what the caller must hear:

- ``hooks``: ``examples/ivr.py`` (every step answers a hook);
- ``commands``: the call is put on hold and, after a backend pause, ``call.redirect`` moves
  it on (an asynchronous command, never acked by jambonz);
- ``late``: ``examples/slow_backend.py`` (the flow thinks past the ack window, so its next
  ``yield`` goes out as a command).

A run is *identical* when the verbs jambonz ran (as the app wrote them) equal the clean run's;
else it *lost* verbs (some missing), *duplicated* verbs (some ran twice), or *stalled* (the
call did not end by itself). Calls jambonz itself ends are counted apart: when the ack of a
``session:reconnect`` dies on the line, jambonz hangs the call up (0.9.8), and no app can
prevent that. Everything runs in memory under a virtual clock, so a sweep of thousands of
calls takes minutes, and the same sweep gives the same result.

Prints one JSON object; exits 1 when anything was lost, duplicated or stalled.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import orjson
import trio
import trio.testing

import jbtrio
from jbtrio._runtime import Server
from jbtrio.testing import Caller, FakeJambonz, JambonzConfig
from jbtrio.verbs import Hangup, Pause, Say

__all__ = ["APPS", "LineCut", "Outcome", "sweep"]


# --------------------------------------------------------------------------- the line


class LineCut:
    """Cuts a call's line at given byte counts of the app's websocket traffic (its frames,
    over all its sockets; the HTTP upgrade response is not counted: a line cut there is a
    failed connect, which jambonz retries or gives up on before any call exists).

    Up to each cut byte, bytes flow both ways; past it, none do; ``delay`` seconds later both
    ends see the connection go (the fake a broken stream, the server the end of it).
    """

    def __init__(self, cuts: tuple[int, ...], delay: float) -> None:
        self._cuts = list(cuts)
        self.delay = delay
        self.app_bytes = 0

    def next_cut(self) -> int | None:
        return self._cuts[0] if self._cuts else None

    def take_cut(self) -> None:
        self._cuts.pop(0)

    def wrap(self, stream: trio.abc.Stream) -> trio.abc.Stream:
        return _CutStream(self, stream)


class _CutStream(trio.abc.Stream):
    """The fake's end of one socket, with the line cut as :class:`LineCut` says."""

    def __init__(self, line: LineCut, inner: trio.abc.Stream) -> None:
        self._line = line
        self._inner = inner
        self._reset_at: float | None = None
        self._head = b""  # the HTTP response, until its blank line
        self._upgraded = False

    async def _reset(self) -> None:
        assert self._reset_at is not None
        await trio.sleep_until(self._reset_at)
        await trio.aclose_forcefully(self._inner)
        raise trio.BrokenResourceError("connection reset")

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._reset_at is not None:
            await self._reset()
        data = bytes(await self._inner.receive_some(max_bytes))
        if not self._upgraded:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return data
            self._upgraded = True
            frames = self._head[end + 4 :]
            head = data[: len(data) - len(frames)]
            return head + await self._frames(frames) if frames else head
        return await self._frames(data)

    async def _frames(self, data: bytes) -> bytes:
        cut = self._line.next_cut()
        if cut is not None and data and self._line.app_bytes + len(data) >= cut:
            data = data[: cut - self._line.app_bytes]
            self._line.take_cut()
            self._reset_at = trio.current_time() + self._line.delay
        self._line.app_bytes += len(data)
        if not data and self._reset_at is not None:
            await self._reset()
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._reset_at is None:
            await self._inner.send_all(data)
        elif trio.current_time() >= self._reset_at:
            raise trio.BrokenResourceError("connection reset")
        else:
            await trio.lowlevel.checkpoint()  # into a dead path: gone

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._inner.aclose()


# --------------------------------------------------------------------------- the apps


def _commands_app() -> jbtrio.App:
    app = jbtrio.App()

    @app.route("/hold")
    async def hold(call: jbtrio.Call) -> None:
        await call.start.reply([Say(text="Please hold."), Pause(length=60)])
        await trio.sleep(3.0)  # a backend, then an asynchronous command moves the call on
        answer = await call.gather(input=["speech"], timeout=10, say=Say(text="Still there?"))
        await call.redirect([Say(text=f"Heard: {answer.speech_text}"), Hangup()])

    return app


def _example(name: str) -> Callable[[], jbtrio.App]:
    def load() -> jbtrio.App:
        module = __import__(f"examples.{name}", fromlist=["app"])
        app: jbtrio.App = module.app
        return app

    return load


#: A caller who waits 30 s in silence before hanging up: long enough for any recovery (a
#: dead line, a reconnect back-off), so a call that still idles that long is stalled.
PATIENCE = 30.0

#: name -> (app factory, path, caller)
APPS: dict[str, tuple[Callable[[], jbtrio.App], str, Callable[[], Caller]]] = {
    "hooks": (
        _example("ivr"),
        "/ivr",
        lambda: Caller(speech=["I need help"], idle_hangup=PATIENCE),
    ),
    "commands": (_commands_app, "/hold", lambda: Caller(speech=["yes"], idle_hangup=PATIENCE)),
    "late": (
        _example("slow_backend"),
        "/slow-backend",
        lambda: Caller(speech=["why"], idle_hangup=PATIENCE),
    ),
}


# --------------------------------------------------------------------------- one call


@attrs.frozen
class Outcome:
    """What one call did: the verbs jambonz ran, how it ended, the app's traffic size and
    the byte offsets at which each of the app's frames ended."""

    verbs: tuple[str, ...]
    reason: str
    ended_by: str
    app_bytes: int
    frame_ends: tuple[int, ...]


async def run_call(app_name: str, cuts: tuple[int, ...] = (), delay: float = 0.0) -> Outcome:
    """One call of ``app_name`` with the line cut at ``cuts`` (app bytes), in memory."""
    make_app, path, caller = APPS[app_name]
    line = LineCut(cuts, delay)
    fake = FakeJambonz(JambonzConfig(max_duration=240))
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(Server(make_app()).run_in)

        async def connector() -> trio.abc.Stream:
            return line.wrap(await server.open_memory_stream())

        call = await fake.place_call(f"ws://app{path}", connector=connector, caller=caller())
        await server.shutdown(grace=0)
    verbs = tuple(_describe(v) for v in call.executed_verbs)
    ends: list[int] = []
    total = 0
    for frame in call.received():
        total += _frame_bytes(frame.text)
        ends.append(total)
    return Outcome(verbs, call.outcome.reason, call.outcome.ended_by, total, tuple(ends))


def _describe(verb: dict[str, Any]) -> str:
    text = verb.get("text") or (verb.get("say") or {}).get("text") or ""
    return f"{verb['verb']}:{text}"


def _frame_bytes(text: str) -> int:
    """Bytes of a server→client text frame carrying ``text`` (unmasked header + payload)."""
    size = len(text.encode())
    return size + (2 if size < 126 else 4 if size < 65536 else 10)


# --------------------------------------------------------------------------- the sweep


@attrs.define
class Tally:
    runs: int = 0
    identical: int = 0
    lost: int = 0
    duplicated: int = 0
    stalled: int = 0
    jambonz_hung_up: int = 0
    failures: list[dict[str, Any]] = attrs.field(factory=list)


def _classify(reference: Outcome, got: Outcome) -> str:
    if got.verbs == reference.verbs:
        return "identical"
    if got.reason in ("max duration reached", "caller hung up (app left the call idle)"):
        return "stalled"
    if got.ended_by == "jambonz" and "session:reconnect" in got.reason:
        return "jambonz_hung_up"
    if any(got.verbs.count(v) > reference.verbs.count(v) for v in set(got.verbs)):
        return "duplicated"
    return "lost"


def cut_plans(
    reference: Outcome, step: int, twice: bool, stride: int = 1
) -> Iterator[tuple[int, ...]]:
    """Where to cut: every ``step`` bytes and at each frame's end (``stride`` keeps every
    n-th point); with ``twice``, each point with a second cut about half a call later."""
    points = sorted(set(range(step, reference.app_bytes, step)) | set(reference.frame_ends))
    points = points[::stride]
    for point in points:
        yield (point,)
    if twice:
        half = max(1, len(points) // 2)
        for i, point in enumerate(points):
            later = points[(i + half) % len(points)]
            if later > point:
                yield (point, later)


async def sweep(
    apps: list[str],
    *,
    step: int = 30,
    delays: tuple[float, ...] = (0.0, 0.3, 1.5),
    twice: bool = False,
    stride: int = 1,
) -> dict[str, Any]:
    """Run the sweep; returns the report (see the module doc)."""
    report: dict[str, Any] = {}
    for name in apps:
        reference = await run_call(name)
        tally = Tally()
        for cuts in cut_plans(reference, step, twice, stride):
            for delay in delays:
                got = await run_call(name, cuts, delay)
                kind = _classify(reference, got)
                tally.runs += 1
                setattr(tally, kind, getattr(tally, kind) + 1)
                if kind not in ("identical", "jambonz_hung_up") and len(tally.failures) < 10:
                    tally.failures.append(
                        {
                            "cuts": cuts,
                            "delay": delay,
                            "kind": kind,
                            "reason": got.reason,
                            "verbs": got.verbs,
                            "expected": reference.verbs,
                        }
                    )
        report[name] = {
            **attrs.asdict(tally),
            "app_bytes": reference.app_bytes,
            "expected_verbs": len(reference.verbs),
        }
    return report


def bad(report: dict[str, Any]) -> int:
    """Runs that lost, duplicated or stalled, over all apps."""
    return sum(r["lost"] + r["duplicated"] + r["stalled"] for r in report.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.sweep", description=__doc__)
    parser.add_argument("--apps", default=",".join(APPS), help="comma list of " + ",".join(APPS))
    parser.add_argument("--step", type=int, default=30, help="bytes between cut points")
    parser.add_argument("--delays", default="0,0.3,1.5", help="seconds from cut to reset")
    parser.add_argument("--twice", action="store_true", help="also cut twice per call")
    parser.add_argument("--stride", type=int, default=1, help="keep every n-th cut point")
    args = parser.parse_args(argv)
    logging.disable(logging.ERROR)  # thousands of calls' warnings; the report says it all
    report = trio.run(
        lambda: sweep(
            args.apps.split(","),
            step=args.step,
            delays=tuple(float(d) for d in args.delays.split(",")),
            twice=args.twice,
            stride=args.stride,
        ),
        clock=trio.testing.MockClock(autojump_threshold=0),
    )
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 1 if bad(report) else 0


if __name__ == "__main__":
    raise SystemExit(main())
