"""The call core's share of a hook round trip, without sockets: ``python bench/core_roundtrip.py``.

Per round trip: decode a ``verb:hook`` frame, hand it to :class:`~jbtrio._core.CallCore`,
answer it with a ``say`` and a ``gather`` (immutable builders, as the bench app does), take
the ack frame and confirm it sent. Printed as µs per round trip for ``CoreConfig(receipts=
False)`` and ``receipts=True`` (the default: verb ids and receipts bookkeeping), measured
alternately in one run, medians of ``--rounds``. ``--plain-only`` measures only the first, for
a checkout that predates receipts (to compare before and after a change, run the script of
each checkout in the same sitting). On a busy machine, count instructions instead, which the
load does not change: ``valgrind --tool=callgrind python bench/core_roundtrip.py --only on
--rounds 1 --count N`` for two values of N, and divide the difference by the difference of N.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import orjson

from jbtrio import CoreConfig, decode
from jbtrio._core import CallCore
from jbtrio.verbs import Gather, Say

SID = "5e55a1d0-0000-4000-8000-000000000001"
GATHER = Gather(input=["speech"], action_hook="/echo", timeout=10)
SPEECH = {"is_final": True, "alternatives": [{"transcript": "pizza", "confidence": 0.9}]}


def _hook(n: int) -> bytes:
    return orjson.dumps(
        {
            "type": "verb:hook",
            "msgid": f"m{n:020d}",
            "call_sid": SID,
            "hook": "/echo",
            "data": {
                "call_sid": SID,
                "direction": "inbound",
                "from": "+15550001",
                "to": "+15550002",
                "call_status": "in-progress",
                "speech": SPEECH,
                "reason": "speechDetected",
                "verb_id": f"jb{n}",
            },
        }
    )


def _core(config: Any) -> CallCore:
    core = CallCore(config)
    core.attach()
    start = decode(
        orjson.dumps(
            {"type": "session:new", "msgid": "n0", "call_sid": SID, "data": {"call_sid": SID}}
        )
    )
    [event] = core.receive(start, 0.0)
    core.reply(event.reply, [Say(text="hi"), GATHER], 0.0)  # type: ignore[union-attr]
    while (frame := core.next_frame()) is not None:
        core.sent(frame, 0.0)
    return core


def per_round_trip(config: Any, count: int) -> float:
    """µs per hook round trip through the core (decode included)."""
    core = _core(config)
    frames = [_hook(n) for n in range(count)]
    say = Say(text="You said pizza")
    t0 = time.perf_counter()
    for n, text in enumerate(frames):
        events = core.receive(decode(text), 1.0 + n * 1e-6)
        handle = events[-1].reply  # type: ignore[union-attr]
        core.reply(handle, [say, GATHER], 1.0)
        frame = core.next_frame()
        assert frame is not None
        core.sent(frame, 1.0)
    return (time.perf_counter() - t0) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--plain-only", action="store_true")
    parser.add_argument("--only", choices=["off", "on"], help="one configuration (callgrind)")
    args = parser.parse_args()
    configs: dict[str, dict[str, Any]] = {"receipts off": {"receipts": False}, "receipts on": {}}
    if args.plain_only:
        configs = {"plain": {}}
    elif args.only:
        configs = {f"receipts {args.only}": configs[f"receipts {args.only}"]}
    results: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, kwargs in configs.items():
            results[name].append(per_round_trip(CoreConfig(**kwargs), args.count))
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name:14} {median:6.2f} µs per round trip (median of {len(values)})")


if __name__ == "__main__":
    main()
