"""How long ``jbtrio.verbs.validate`` takes for a typical 5-verb list, per target jambonz.

Run: ``.venv/bin/python bench/verbs_validate.py``. Prints, in one run, the median over several
``timeit`` repeats in microseconds per list: the plain-dict list validated for jambonz 0.9
(the spec-table checker) and for 10.x/11.x (``@jambonz/schema`` through jsonschema-rs); the
same list of builders (already checked for the target when built, so skipped); building the
five builders (which validates them); and the one-off cost of loading and compiling the
10.x/11.x schema in a fresh process. Every reply an app sends goes through this check, so it
has to stay in the microseconds.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import timeit
from typing import Any

from jbtrio.verbs import (
    Config,
    Dial,
    Gather,
    Hangup,
    Recognizer,
    Say,
    Synthesizer,
    Target,
    validate,
)

REPEATS = 7

PAYLOAD: list[dict[str, Any]] = [
    {
        "verb": "say",
        "text": "Welcome to the demo line.",
        "synthesizer": {"vendor": "google", "language": "en-US", "voice": "en-US-Wavenet-C"},
    },
    {
        "verb": "gather",
        "actionHook": "/menu",
        "input": ["speech", "digits"],
        "numDigits": 1,
        "timeout": 8,
        "say": {"text": "Press or say one for sales."},
        "recognizer": {"vendor": "google", "language": "en-US", "hints": ["sales", "support"]},
    },
    {"verb": "config", "notifyEvents": True, "bargeIn": {"enable": True, "input": ["speech"]}},
    {
        "verb": "dial",
        "callerId": "+15550001111",
        "actionHook": "/dial-done",
        "target": [{"type": "phone", "number": "+15552223333"}],
    },
    {"verb": "hangup"},
]

BUILDERS = [
    Say(
        text="Welcome to the demo line.",
        synthesizer=Synthesizer(vendor="google", language="en-US", voice="en-US-Wavenet-C"),
    ),
    Gather(
        action_hook="/menu",
        input=["speech", "digits"],
        num_digits=1,
        timeout=8,
        say=Say(text="Press or say one for sales."),
        recognizer=Recognizer(vendor="google", language="en-US", hints=["sales", "support"]),
    ),
    Config(notify_events=True, barge_in={"enable": True, "input": ["speech"]}),
    Dial(
        caller_id="+15550001111",
        action_hook="/dial-done",
        target=[Target(type="phone", number="+15552223333")],
    ),
    Hangup(),
]


def median_us(stmt: Any, number: int) -> float:
    runs = timeit.repeat(stmt, number=number, repeat=REPEATS)
    return statistics.median(runs) / number * 1e6


def build() -> list[Any]:
    return [
        Say(
            text="Welcome to the demo line.",
            synthesizer=Synthesizer(vendor="google", language="en-US", voice="en-US-Wavenet-C"),
        ),
        Gather(
            action_hook="/menu",
            input=["speech", "digits"],
            num_digits=1,
            timeout=8,
            say=Say(text="Press or say one for sales."),
            recognizer=Recognizer(vendor="google", language="en-US", hints=["sales", "support"]),
        ),
        Config(notify_events=True, barge_in={"enable": True, "input": ["speech"]}),
        Dial(
            caller_id="+15550001111",
            action_hook="/dial-done",
            target=[Target(type="phone", number="+15552223333")],
        ),
        Hangup(),
    ]


_FIRST_USE = """
import time
t = time.perf_counter()
from jbtrio.verbs import validate
t1 = time.perf_counter()
validate(PAYLOAD, jambonz="11")
t2 = time.perf_counter()
print(f"{(t1 - t) * 1e3:.1f} {(t2 - t1) * 1e3:.1f}")
"""


def first_use_ms() -> tuple[float, float]:
    """(import jbtrio.verbs, first 10.x/11.x validate) in ms, in a fresh interpreter."""
    code = f"PAYLOAD = {PAYLOAD!r}\n{_FIRST_USE}"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    for jambonz in ("0.9", "11"):
        validate(PAYLOAD, jambonz=jambonz)
        validate(BUILDERS, jambonz=jambonz)
    assert [b.to_dict() for b in BUILDERS] == PAYLOAD
    rows = [
        (
            "validate(5 dicts, jambonz='0.9')",
            median_us(lambda: validate(PAYLOAD, jambonz="0.9"), 20_000),
        ),
        (
            "validate(5 dicts, jambonz='11')",
            median_us(lambda: validate(PAYLOAD, jambonz="11"), 20_000),
        ),
        (
            "validate(5 builders, jambonz='0.9')",
            median_us(lambda: validate(BUILDERS, jambonz="0.9"), 20_000),
        ),
        (
            "validate(5 builders, jambonz='11')",
            median_us(lambda: validate(BUILDERS, jambonz="11"), 20_000),
        ),
        ("build the 5 builders (validates them)", median_us(build, 2_000)),
        ("to_dict() of the 5 builders", median_us(lambda: [b.to_dict() for b in BUILDERS], 5_000)),
    ]
    for label, value in rows:
        print(f"{label:40s} {value:8.2f} µs")
    imported, compiled = first_use_ms()
    print(f"{'import jbtrio.verbs (fresh process)':40s} {imported:8.1f} ms")
    print(f"{'first validate for 11 (load + compile)':40s} {compiled:8.1f} ms")


if __name__ == "__main__":
    main()
