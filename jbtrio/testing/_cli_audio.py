"""``python -m jbtrio audio URL``: stream audio to an app's audio socket, as jambonz does.

Plays one ``listen`` verb's socket against a running app (subprotocol
``audio.drachtio.org``): the metadata frame, then ``--seconds`` of a tone (or silence) at the
real 20 ms frame rate, DTMF at given times; what the app sends back is played out as jambonz
would (streamed audio and marks with ``--streaming``, ``playAudio`` clips otherwise). Prints
what crossed the wire and a summary; ``--save FILE.wav`` keeps the audio heard back. Exits 0
when the stream ran and ended without a fault on the app's side.
"""

from __future__ import annotations

import argparse
import sys
import wave
from typing import Any

import orjson
import trio

from ._audio import AudioLegConfig, FakeAudioLeg
from ._audio_spec import AudioScript, ListenSpec, Quiet, Tone
from ._config import JambonzConfig
from ._connect import Connector

__all__ = ["add_arguments", "run", "run_async"]


def _dtmf(value: str) -> tuple[float, str]:
    at, _, digit = value.partition(":")
    try:
        return float(at), digit or "1"
    except ValueError:
        raise argparse.ArgumentTypeError(f"--dtmf wants SECONDS:DIGIT, got {value!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``audio`` subcommand's arguments on ``parser``."""
    parser.add_argument("url", help="the app's audio URL, e.g. ws://127.0.0.1:3000/echo")
    parser.add_argument("--seconds", type=float, default=5.0, help="caller audio (default 5)")
    parser.add_argument(
        "--duration", type=float, help="how long the stream lasts (default: seconds + 2)"
    )
    parser.add_argument("--tone", type=float, default=440.0, help="tone in Hz (default 440)")
    parser.add_argument("--silence", action="store_true", help="send silence, not a tone")
    parser.add_argument("--rate", type=int, default=8000, help="sample rate (default 8000)")
    parser.add_argument("--stereo", action="store_true", help="mixType stereo")
    parser.add_argument(
        "--streaming",
        action="store_true",
        help="bidirectionalAudio streaming: the app sends audio back (else playAudio clips)",
    )
    parser.add_argument("--output-rate", type=int, help="bidirectionalAudio.sampleRate")
    parser.add_argument(
        "--dtmf",
        type=_dtmf,
        action="append",
        default=[],
        metavar="SECONDS:DIGIT",
        help="the caller presses DIGIT at SECONDS (repeatable; sent with passDtmf)",
    )
    parser.add_argument("--metadata", help="the verb's metadata, a JSON object")
    parser.add_argument("--call-sid", default="jbtrio-audio-call", help="the call's call_sid")
    parser.add_argument("--user", help="HTTP Basic user name for the upgrade request")
    parser.add_argument("--password", help="HTTP Basic password for the upgrade request")
    parser.add_argument("--save", metavar="FILE.wav", help="write the audio heard back here")
    parser.add_argument("--quiet", action="store_true", help="print the summary only")


def _spec(args: argparse.Namespace) -> ListenSpec:
    metadata: Any = orjson.loads(args.metadata) if args.metadata else {}
    if not isinstance(metadata, dict):
        raise SystemExit("--metadata must be a JSON object")
    return ListenSpec(
        url=args.url,
        sample_rate=args.rate,
        mix_type="stereo" if args.stereo else "mono",
        metadata=metadata,
        pass_dtmf=bool(args.dtmf),
        streaming=args.streaming,
        output_rate=args.output_rate,
        username=args.user,
        password=args.password,
    )


async def run_async(args: argparse.Namespace, *, connector: Connector | None = None) -> int:
    """Run the stream described by ``args``; returns the process exit code."""
    source = Quiet(args.seconds) if args.silence else Tone(args.tone, seconds=args.seconds)
    duration = args.duration if args.duration is not None else args.seconds + 2.0
    spec = _spec(args)
    leg = FakeAudioLeg(
        spec,
        call_info={"call_sid": args.call_sid, "from": "15083084809", "to": "15083728299"},
        script=AudioScript(source=source, duration=duration, dtmf=args.dtmf),
        connector=connector,
        config=JambonzConfig(),
        leg=AudioLegConfig(),
    )
    outcome = await leg.run()
    start = leg.started_at if leg.started_at is not None else 0.0
    if not args.quiet:
        frames = [(when, "jambonz -> app", data) for when, data in leg.events]
        frames += [(when, "app -> jambonz", data) for when, data in leg.app_messages]
        for when, direction, data in sorted(frames, key=lambda item: item[0]):
            text = orjson.dumps(data).decode()
            sys.stdout.write(f"{when - start:8.3f}s {direction}  {text[:200]}\n")
    rate = spec.output_rate or spec.sample_rate
    heard = len(leg.heard) / (2 * rate)
    lines = [
        f"stream {outcome.reason}{': ' + outcome.detail if outcome.detail else ''} after "
        f"{outcome.seconds:.2f} s",
        f"sent {leg.frames_sent} frames ({leg.frames_dropped} dropped: app not reading)",
        f"received {leg.binary_frames} binary frames ({leg.binary_bytes} bytes), heard "
        f"{heard:.2f} s of streamed audio back"
        + (f" (first after {leg.heard_from - start:.3f} s)" if leg.heard_from else ""),
        "marks: " + (", ".join(f"{r.name} {r.event}" for _, r in leg.marks) or "none"),
        "clips: " + (", ".join(f"{c.id} {c.played:.2f} s" for c in leg.clips) or "none"),
    ]
    lines += [f"fault: {fault}" for fault in leg.faults]
    sys.stderr.write("\n".join(lines) + "\n")
    if args.save and leg.heard:
        await trio.to_thread.run_sync(_save, args.save, bytes(leg.heard), rate)
    return 0 if outcome.reason != "connect_failed" and not leg.faults else 1


def _save(path: str, pcm: bytes, rate: int) -> None:
    with wave.open(path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)


def run(args: argparse.Namespace) -> int:
    """Entry point used by ``python -m jbtrio audio``."""
    return trio.run(run_async, args)
