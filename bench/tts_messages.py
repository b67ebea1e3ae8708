"""How many ``tts:tokens`` messages the 300-delta example costs, against one per delta.

Runs the sans-IO :class:`~jbtrio._core.TtsPump` against the fake jambonz's buffer model
(:class:`~jbtrio.testing._tts_buffer.TtsStreamBuffer`) in simulated time: the fake LLM of
``examples/tts_stream.py`` yields its 300 deltas ``pace`` seconds apart, and every message
takes ``rtt / 2`` each way. Existing SDKs send one ``tts:tokens`` per delta (300), each after
the previous result. Usage: ``PYTHONPATH=. python bench/tts_messages.py``.
"""

from __future__ import annotations

import heapq
import itertools

from examples.tts_stream import ANSWER, DELTAS
from jbtrio._core._tts_pump import PumpOutput, SendTokens, TtsPump
from jbtrio.testing._tts_buffer import TokensResult, TtsStreamBuffer


def count_messages(pace: float, rtt: float) -> tuple[int, int, bool]:
    """(tts:tokens sent, longest message, all text spoken once in order)."""
    size = len(ANSWER) // DELTAS
    deltas = [ANSWER[i * size : (i + 1) * size] for i in range(DELTAS)]
    pump, buffer = TtsPump(), TtsStreamBuffer()
    buffer.start(0.0)
    buffer.open(0.0)
    order = itertools.count()
    events: list[tuple[float, int, str, object]] = [
        (i * pace, next(order), "delta", d) for i, d in enumerate(deltas)
    ]
    heapq.heapify(events)
    sent = longest = 0
    delivered: list[str] = []

    def emit(now: float, outputs: list[PumpOutput]) -> None:
        nonlocal sent, longest
        for output in outputs:
            if isinstance(output, SendTokens):
                sent += 1
                longest = max(longest, len(output.text))
                heapq.heappush(events, (now + rtt / 2, next(order), "tokens", output))

    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "delta":
            assert isinstance(payload, str)
            emit(now, pump.push(payload, now))
        elif kind == "tokens":
            assert isinstance(payload, SendTokens)
            for out in buffer.tokens(payload.id, payload.text, now):
                if isinstance(out, TokensResult):
                    if out.status == "ok":
                        delivered.append(payload.text)
                    heapq.heappush(events, (now + rtt / 2, next(order), "result", out))
        else:
            assert isinstance(payload, TokensResult)
            emit(now, pump.receive_result(payload.id, payload.status, payload.reason, now))
        if not events and not pump.idle:
            deadline = pump.next_deadline() or now + 1.0
            buffer.tick(deadline)
            emit(deadline, pump.tick(deadline))
    return sent, longest, "".join(delivered) == ANSWER


def main() -> None:
    print(f"{DELTAS} deltas, {len(ANSWER)} characters; existing SDKs: {DELTAS} messages")
    print(f"{'delta pace':>12} {'RTT':>8} {'tts:tokens':>11} {'longest':>8} {'exact':>6}")
    for pace, rtt in [(0.0, 0.05), (0.01, 0.02), (0.01, 0.05), (0.02, 0.1), (0.05, 0.05)]:
        sent, longest, exact = count_messages(pace, rtt)
        print(f"{pace * 1000:>10.0f}ms {rtt * 1000:>6.0f}ms {sent:>11} {longest:>8} {exact!s:>6}")


if __name__ == "__main__":
    main()
