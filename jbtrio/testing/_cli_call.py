"""``python -m jbtrio call``: place one simulated jambonz call against a running app.

Prints the call as it happens, one readable line per frame (``--json``: every frame as a JSON
line), and exits 0 only when the call completed with no fault on the app's side and without
the app's apology for a crash, so it can gate a deployment or a CI job. The reason of a
failure is one line on stderr. What the caller does comes from ``--say``/``--digits``/
``--silence``/``--hangup`` (in the order given) or from a ``--script`` file, the same JSON or
TOML a test reads with :meth:`~jbtrio.testing.Caller.from_file`; what the caller sounds like
on a ``listen``/``stream`` audio socket from ``--audio-seconds``/``--audio-tone``/
``--audio-dtmf`` (each such socket is summed up on stderr at the end). ``--jambonz`` picks
the jambonz played (11 by default; 0.9 refuses the verbs it does not have).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import attrs
import orjson
import trio

from jbtrio.verbs import JAMBONZ_VERSIONS

from ._audio import FakeAudioLeg
from ._audio_spec import AudioScript, Quiet, Tone
from ._caller import Caller, CallerTurn, HangUp, Silence, Turn, parse_dtmf
from ._config import JambonzConfig
from ._connect import Connector
from ._fake_jambonz import FakeJambonz
from ._faults import Faults
from ._render import Renderer
from ._transcript import TranscriptFrame

__all__ = ["add_arguments", "run", "run_async"]


def _speech(text: str) -> CallerTurn:
    return Turn("speech", text) if text else Silence()


def _digits(keys: str) -> CallerTurn:
    return Turn("digits", keys)


def _dtmf(value: str) -> tuple[float, str]:
    try:
        return parse_dtmf(value, "--audio-dtmf")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _verbs(text: str) -> list[Any]:
    try:
        verbs = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(verbs, list):
        raise argparse.ArgumentTypeError("expected a JSON list of verbs")
    return verbs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``call`` subcommand's arguments on ``parser``."""
    parser.add_argument("url", help="the app's websocket URL, e.g. ws://127.0.0.1:3000/ivr")
    parser.add_argument("--user", help="HTTP Basic user name for the upgrade request")
    parser.add_argument("--password", help="HTTP Basic password for the upgrade request")
    turns = parser.add_argument_group(
        "the caller's turns, one per gather, in the order given on the command line"
    )
    turns.add_argument(
        "--say",
        dest="turns",
        action="append",
        type=_speech,
        metavar="TEXT",
        help='the caller says TEXT (--say "" is --silence)',
    )
    turns.add_argument(
        "--digits", dest="turns", action="append", type=_digits, metavar="KEYS", help="DTMF keys"
    )
    turns.add_argument(
        "--silence",
        dest="turns",
        action="append_const",
        const=Silence(),
        help="the caller says nothing (the gather times out)",
    )
    turns.add_argument(
        "--hangup",
        dest="turns",
        action="append_const",
        const=HangUp(),
        help="the caller hangs up while the gather listens",
    )
    parser.add_argument(
        "--script",
        metavar="FILE",
        help="the caller's script, JSON or TOML (turns, dial outcomes, LLM tool calls, ...); "
        "turns given as options come after its turns",
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
        default=None,
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
    parser.add_argument(
        "--error-verbs",
        type=_verbs,
        metavar="JSON",
        help="the app's apology for a crash, as in App(error_verbs=...) (default jbtrio's): "
        "a call ending with these verbs fails",
    )
    parser.add_argument("--json", action="store_true", help="print frames as JSON lines")
    parser.add_argument(
        "--jambonz",
        choices=JAMBONZ_VERSIONS,
        default=JambonzConfig().jambonz,
        help="the jambonz to play: its verbs and commands (default %(default)s)",
    )
    audio = parser.add_argument_group(
        "the caller's audio on listen/stream sockets (instead of the script's)"
    )
    audio.add_argument(
        "--audio-seconds",
        type=float,
        metavar="SECONDS",
        help="the caller streams this much audio (5); the verb lasts 2 s more",
    )
    audio.add_argument(
        "--audio-tone", type=float, metavar="HZ", help="a tone of HZ (440); 0 sends silence"
    )
    audio.add_argument(
        "--audio-dtmf",
        type=_dtmf,
        action="append",
        metavar="SECONDS:DIGIT",
        help="the caller presses DIGIT SECONDS into the audio (repeatable)",
    )


def _printer(as_json: bool) -> tuple[Callable[[TranscriptFrame], None], Callable[[], None]]:
    """What to do with each frame, and what to do at the end."""
    renderer = Renderer()
    origin: list[float] = []

    def write(lines: list[str]) -> None:
        if lines:
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()

    def show(frame: TranscriptFrame) -> None:
        if not origin:
            origin.append(frame.time)
        if as_json:
            write([frame.to_json(origin[0])])
        else:
            write(renderer.feed(frame))

    return show, lambda: write(renderer.close())


def _caller(args: argparse.Namespace) -> Caller:
    caller = Caller.from_file(args.script) if args.script else Caller()
    extra = list(args.turns or ())
    changes: dict[str, Any] = {"turns": [*caller.turns, *extra]}
    if args.idle_hangup is not None:
        changes["idle_hangup"] = args.idle_hangup
    if any(x is not None for x in (args.audio_seconds, args.audio_tone, args.audio_dtmf)):
        seconds = 5.0 if args.audio_seconds is None else args.audio_seconds
        hz = 440.0 if args.audio_tone is None else args.audio_tone
        source = Tone(hz, seconds=seconds) if hz > 0 else Quiet(seconds)
        changes["audio"] = AudioScript(
            source=source, duration=seconds + 2.0, dtmf=list(args.audio_dtmf or ())
        )
    return attrs.evolve(caller, **changes)


def _audio_summary(leg: FakeAudioLeg) -> str:
    """One line about an audio socket of the call."""
    outcome = leg.outcome
    how = "never ran" if outcome is None else f"{outcome.reason} after {outcome.seconds:.1f} s"
    rate = leg.spec.output_rate or leg.spec.sample_rate
    heard = len(leg.heard) / (2 * rate)
    marks = ", ".join(f"{r.name} {r.event}" for _, r in leg.marks) or "none"
    return (
        f"audio {leg.spec.url}: {how}; sent {leg.frames_sent} frames, heard {heard:.2f} s "
        f"back, {len(leg.clips)} clip(s), marks: {marks}"
    )


async def run_async(args: argparse.Namespace, *, connector: Connector | None = None) -> int:
    """Place the call described by ``args``; returns the process exit code.

    ``connector`` replaces the TCP connection to the URL's host (tests use memory streams).
    """
    try:
        caller = _caller(args)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"jbtrio call: bad --script: {exc}\n")
        return 2
    faults = Faults.drop_after(args.drop_after) if args.drop_after else Faults()
    fake = FakeJambonz(JambonzConfig(max_duration=args.max_duration, jambonz=args.jambonz))
    options: dict[str, Any] = {}
    if args.error_verbs is not None:
        options["error_verbs"] = args.error_verbs
    call = fake.new_call(
        args.url,
        connector=connector,
        caller=caller,
        faults=faults,
        username=args.user,
        password=args.password,
        **options,
    )
    show, done = _printer(args.json)
    call.on_frame(show)
    outcome = await call.run()
    done()
    for leg in call.audio_legs:
        sys.stderr.write(_audio_summary(leg) + "\n")
    sys.stderr.write(f"call {outcome.summary()}\n")
    return 0 if outcome.ok else 1


def run(args: argparse.Namespace) -> int:
    """Entry point used by ``python -m jbtrio call``."""
    return trio.run(run_async, args)
