"""Micro-benchmark of the wire codec: microseconds per decode and encode of typical frames.

Run with ``python bench/codec.py``. The frames are wire examples of 0.9.8 (a ``session:new``
with SIP headers, defaults and env vars; a gather ``verb:hook``; a ``tts:tokens-result``) and a
``redirect`` command. Each figure is the best of several repeats, so it reflects the codec, not
noise from the machine.
"""

from __future__ import annotations

import math
import timeit
from collections.abc import Callable

from jbtrio._wire import Ack, Command, decode, encode

SESSION_NEW = (
    '{"type":"session:new","msgid":"auuHioXGktYh2ZFYxf3hAA",'
    '"call_sid":"9fb35c28-9688-4531-943c-e280b04f3adf","data":{"sip":{"headers":'
    '{"from":"<sip:+15083084809@3.212.205.202:5060>;tag=9mgyBeaUy4H2S",'
    '"X-CID":"dae8845526bf7fe640ad0162238473e4@0.0.0.0"},"method":"INVITE",'
    '"uri":"sip:+15083728299@10.0.13.72:5070","body":"v=0\\r\\n..."},"direction":"inbound",'
    '"trace_id":"654c5323d6f907233a1069136b8a330e","has_recording":false,"caller_name":"",'
    '"call_sid":"9fb35c28-9688-4531-943c-e280b04f3adf",'
    '"account_sid":"9351f46a-678c-43f5-b8a6-d4eb58d131af",'
    '"application_sid":"7087fe50-8acb-4f3b-b820-97b573723aab","from":"+15083084809",'
    '"to":"+15083728299","call_id":"d8907723-0bc7-123b-09b5-12e962f3039b","sip_status":100,'
    '"sip_reason":"Trying","call_status":"trying",'
    '"sbc_callid":"dae8845526bf7fe640ad0162238473e4@0.0.0.0","originating_sip_ip":"54.172.60.3",'
    '"originating_sip_trunk_name":"Twilio","local_sip_address":"10.0.13.72:5070",'
    '"service_provider_sid":"2708b1b3-2736-40ea-b502-c53d8396247f",'
    '"defaults":{"synthesizer":{"vendor":"google","language":"en-US","voice":"en-US-Wavenet-C"},'
    '"recognizer":{"vendor":"google","language":"en-US"}},"env_vars":{"GREETING":"Hello!"}}}'
)
VERB_HOOK = (
    '{"type":"verb:hook","msgid":"cvY6kNE8RXdaZdaDcJbViG",'
    '"call_sid":"aad0115d-ec21-40db-aa02-31b7b01540c5","hook":"/echo",'
    '"b3":"18228daa536f82e0ec29074e7bf47b89-dd3bdf1f177f2995-1","data":{"speech":{"is_final":true,'
    '"alternatives":[{"confidence":0.919,"transcript":"I\'d like to book a car"}],'
    '"language_code":"en-US"},"reason":"speechDetected",'
    '"call_sid":"aad0115d-ec21-40db-aa02-31b7b01540c5","direction":"inbound",'
    '"from":"+15083084809","to":"+15083728363","call_id":"fc5f8190-718a-123b-e6ba-023fd61c5256",'
    '"sip_status":200,"sip_reason":"OK","call_status":"in-progress",'
    '"account_sid":"4bfe85c1-96bb-4af7-ac83-68fe7ebd562d",'
    '"trace_id":"18228daa536f82e0ec29074e7bf47b89",'
    '"application_sid":"3badbf0f-e778-44bb-a89a-dc2ca31f2f9c","fs_sip_address":"10.0.150.88:5070"}}'
)
TOKENS_RESULT = (
    '{"type":"tts:tokens-result","msgid":"P9o8I7u6Y5t4R3e2W1qAzX",'
    '"call_sid":"9fb35c28-9688-4531-943c-e280b04f3adf","data":{"id":17,"status":"ok"}}'
)
COMMAND = (
    '{"type":"command","command":"redirect","queueCommand":false,'
    '"data":[{"verb":"say","id":"b5e39996","text":"Hello it\'s me Mario"},{"verb":"hangup"}]}'
)


def per_call_us(fn: Callable[[], object], number: int = 20_000, repeat: int = 7) -> float:
    """Best-of-``repeat`` microseconds per call of ``fn``."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    ack = Ack(msgid="cvY6kNE8RXdaZdaDcJbViG", verbs=[{"verb": "say", "text": "You said it."}])
    rows: list[tuple[str, float, float]] = []
    for name, text in (
        ("session:new", SESSION_NEW),
        ("verb:hook", VERB_HOOK),
        ("tts:tokens-result", TOKENS_RESULT),
        ("command redirect", COMMAND),
    ):
        message = decode(text)
        rows.append(
            (
                name,
                per_call_us(lambda text=text: decode(text)),  # type: ignore[misc]
                per_call_us(lambda message=message: encode(message, max_bytes=None)),  # type: ignore[misc]
            )
        )
    rows.append(("ack (1 verb)", float("nan"), per_call_us(lambda: encode(ack))))
    tokens = Command(command="tts:tokens", data={"id": 17, "tokens": "The weather is "})
    rows.append(("command tts:tokens", float("nan"), per_call_us(lambda: encode(tokens))))
    print(f"{'message':<20} {'decode µs':>10} {'encode µs':>10}")
    for name, dec, enc in rows:
        dec_text = "-" if math.isnan(dec) else f"{dec:.2f}"
        print(f"{name:<20} {dec_text:>10} {enc:>10.2f}")


if __name__ == "__main__":
    main()
