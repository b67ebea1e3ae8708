"""``python -m jbtrio call``: place one simulated jambonz call against a running app.

Prints every frame as it crosses the wire (readable, or one JSON object per line with
``--json``) and exits 0 only when the call completed with no fault on the app's side, so it
can gate a deployment or a CI job. The reason of a failure is one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import trio

from ._caller import Caller, Turn
from ._config import JambonzConfig
from ._connect import Connector
from ._fake import FakeJambonz
from ._faults import Faults
from ._transcript import Frame

__all__ = ["add_arguments", "run", "run_async"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``call`` subcommand's arguments on ``parser``."""
    parser.add_argument("url", help="the app's websocket URL, e.g. ws://127.0.0.1:3000/")
    parser.add_argument("--user", help="HTTP Basic user name for the upgrade request")
    parser.add_argument("--password", help="HTTP Basic password for the upgrade request")
    parser.add_argument(
        "--say",
        action="append",
        default=[],
        metavar="TEXT",
        help="what the caller says at the next gather (repeat for later gathers)",
    )
    parser.add_argument(
        "--digits",
        action="append",
        default=[],
        metavar="D",
        help="DTMF digits the caller presses at a gather after the --say turns (repeatable)",
    )
    parser.add_argument(
        "--drop-after",
        type=int,
        metavar="N",
        help="drop the TCP connection after the N-th frame jambonz sends (tests reconnects)",
    )
    parser.add_argument(
        "--idle-hangup",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="the caller hangs up when the app leaves the call idle this long (default 5)",
    )
    parser.add_argument(
        "--max-duration",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="fail the call if it lasts longer than this (default 300)",
    )
    parser.add_argument("--json", action="store_true", help="print frames as JSON lines")


def _printer(as_json: bool, t0: list[float]) -> Callable[[Frame], None]:
    def show(frame: Frame) -> None:
        if not t0:
            t0.append(frame.time)
        if as_json:
            sys.stdout.write(frame.to_json(t0[0]) + "\n")
        else:
            arrow = "jambonz -> app" if frame.direction == "out" else "app -> jambonz"
            sys.stdout.write(
                f"{frame.time - t0[0]:8.3f}s #{frame.connection} {arrow}  {frame.text}\n"
            )
        sys.stdout.flush()

    return show


async def run_async(args: argparse.Namespace, *, connector: Connector | None = None) -> int:
    """Place the call described by ``args``; returns the process exit code.

    ``connector`` replaces the TCP connection to the URL's host (tests use memory streams).
    """
    caller = Caller(
        turns=[Turn("speech", s) for s in args.say] + [Turn("digits", d) for d in args.digits],
        idle_hangup=args.idle_hangup,
    )
    faults = Faults.drop_after(args.drop_after) if args.drop_after else Faults()
    fake = FakeJambonz(JambonzConfig(max_duration=args.max_duration))
    call = fake.new_call(
        args.url,
        connector=connector,
        caller=caller,
        faults=faults,
        username=args.user,
        password=args.password,
    )
    t0: list[float] = []
    call.on_frame(_printer(args.json, t0))
    outcome = await call.run()
    sys.stderr.write(f"call {outcome.summary()}\n")
    return 0 if outcome.ok else 1


def run(args: argparse.Namespace) -> int:
    """Entry point used by ``python -m jbtrio call``."""
    return trio.run(run_async, args)
