"""How long ``jbtrio.verbs.validate`` takes for a typical 5-verb list.

Run: ``.venv/bin/python bench/verbs_validate.py``. Prints the median over several ``timeit``
repeats in microseconds per list, for a plain-dict list and for the same list built with the
typed builders (validation of an already-built list only; building them validates too).
Every reply an app sends goes through this check, so it has to stay in the microseconds.
"""

from __future__ import annotations

import statistics
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


def main() -> None:
    validate(PAYLOAD)
    validate(BUILDERS)
    assert [b.to_dict() for b in BUILDERS] == PAYLOAD
    print(
        f"validate(5-verb list of dicts):    {median_us(lambda: validate(PAYLOAD), 20_000):.2f} µs"
    )
    print(
        f"validate(5-verb list of builders): {median_us(lambda: validate(BUILDERS), 5_000):.2f} µs"
    )
    build = lambda: [b.to_dict() for b in BUILDERS]  # noqa: E731
    print(f"to_dict() of the 5 builders:        {median_us(build, 5_000):.2f} µs")


if __name__ == "__main__":
    main()
