"""The relay's header and answer (sans-IO): what an owner accepts, and every way a header
is refused before a byte of the call is touched."""

from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jbtrio._cluster import RelayRejected, RelayRequest, Status, derive_key
from jbtrio._cluster._relay_wire import (
    ACK_SIZE,
    MAGIC,
    NonceCache,
    RequestReader,
    decode_ack,
    encode_ack,
    encode_request,
)

KEY = derive_key(b"0123456789abcdef-test-secret")
NOW = 1_800_000_000.0
RECEIVED = b"\x81\x85abcd" + b"x" * 5  # a masked frame's worth


def request(**overrides: object) -> tuple[bytes, str]:
    fields: dict[str, object] = {
        "sender": "a",
        "target": "b",
        "call_sid": "CA-1",
        "why": "session:reconnect",
        "path": "/ivr",
        "headers": [(b"host", b"x"), (b"authorization", b"Basic c2VjcmV0"), (b"x-a", b"\xe9")],
        "subprotocols": ["ws.jambonz.org"],
        "subprotocol": "ws.jambonz.org",
        "remote": "10.1.2.3:5555",
        "received": RECEIVED,
        "now": NOW,
    }
    fields.update(overrides)
    return encode_request(KEY, **fields)  # type: ignore[arg-type]


def reader(**overrides: object) -> RequestReader:
    settings: dict[str, object] = {
        "max_header": 16384,
        "max_received": 1 << 20,
        "max_skew": 30.0,
        "nonces": NonceCache(30.0),
    }
    settings.update(overrides)
    return RequestReader(KEY, "b", **settings)  # type: ignore[arg-type]


def read_all(data: bytes, r: RequestReader | None = None, now: float = NOW) -> RelayRequest:
    got = (r or reader()).feed(data, now)
    assert got is not None
    return got


def test_a_request_round_trips_without_the_credentials() -> None:
    data, nonce = request()
    got = read_all(data)
    assert (got.sender, got.target, got.call_sid, got.why) == (
        "a",
        "b",
        "CA-1",
        "session:reconnect",
    )
    assert got.path == "/ivr" and got.remote == "10.1.2.3:5555" and got.nonce == nonce
    assert got.headers == ((b"host", b"x"), (b"x-a", b"\xe9"))
    assert got.subprotocols == ("ws.jambonz.org",) and got.subprotocol == "ws.jambonz.org"
    assert got.received == RECEIVED
    assert b"c2VjcmV0" not in data and b"0123456789abcdef" not in data


@given(st.data())
def test_any_split_of_the_bytes_reads_the_same(data: st.DataObject) -> None:
    raw, _ = request(received=bytes(range(256)) * 3)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw) - 1), max_size=12)))
    r = reader()
    got = None
    last = 0
    for cut in [*cuts, len(raw)]:
        assert got is None
        got = r.feed(raw[last:cut], NOW)
        last = cut
    assert got is not None and got.received == bytes(range(256)) * 3


def test_the_answer_round_trips_and_is_bound_to_its_nonce() -> None:
    for status in Status:
        assert decode_ack(KEY, "n" * 32, encode_ack(KEY, "n" * 32, status)) is status
    ack = encode_ack(KEY, "n" * 32, Status.ADOPTED)
    assert len(ack) == ACK_SIZE
    with pytest.raises(RelayRejected, match="bad MAC"):
        decode_ack(KEY, "m" * 32, ack)  # an answer to another header
    with pytest.raises(RelayRejected, match="bad MAC"):
        decode_ack(derive_key(b"another-secret-of-16+"), "n" * 32, ack)
    with pytest.raises(RelayRejected, match="not a relay answer"):
        decode_ack(KEY, "n" * 32, b"HTTP/1.1 400 Bad Request\r\n\r\n0123456789")
    forged = MAGIC + bytes((9,))
    forged += hmac.new(KEY, b"ack" + b"n" * 32 + forged, hashlib.sha256).digest()
    with pytest.raises(RelayRejected, match="unknown relay status"):
        decode_ack(KEY, "n" * 32, forged)


def tamper(data: bytes, at: int) -> bytes:
    return data[:at] + bytes((data[at] ^ 0x01,)) + data[at + 1 :]


def test_a_bad_mac_is_refused_wherever_the_header_was_changed() -> None:
    raw, _ = request()
    size = int.from_bytes(raw[4:8], "big")
    for at in (9, 20, 8 + size - 1, 8 + size, 8 + size + 31):
        with pytest.raises(RelayRejected, match="bad MAC"):
            reader().feed(tamper(raw, at), NOW)
    with pytest.raises(RelayRejected, match="bad MAC"):
        RequestReader(
            derive_key(b"not the cluster's secret!"),
            "b",
            max_header=16384,
            max_received=1 << 20,
            max_skew=30,
            nonces=NonceCache(30),
        ).feed(raw, NOW)


def test_relayed_bytes_must_match_the_digest() -> None:
    raw, _ = request()
    with pytest.raises(RelayRejected, match="digest"):
        reader().feed(tamper(raw, len(raw) - 1), NOW)


def test_oversize_and_garbage_are_refused_before_the_mac_is_read() -> None:
    raw, _ = request()
    with pytest.raises(RelayRejected, match="relay header"):
        reader(max_header=64).feed(raw[:8], NOW)  # the length alone decides
    with pytest.raises(RelayRejected, match="not a relay header"):
        reader().feed(b"GET / HTTP/1.1\r\n", NOW)
    with pytest.raises(RelayRejected, match="not a relay header"):
        reader().feed(b"JX", NOW)
    assert reader().feed(b"JB", NOW) is None  # a prefix of the magic: read on
    huge = MAGIC + (1 << 31).to_bytes(4, "big")
    with pytest.raises(RelayRejected, match="bound"):
        reader().feed(huge, NOW)


def test_a_header_announcing_too_many_relayed_bytes_is_refused() -> None:
    raw, _ = request(received=b"x" * 2000)
    with pytest.raises(RelayRejected, match="relayed bytes"):
        reader(max_received=1000).feed(raw, NOW)


def test_stale_future_replayed_and_misaddressed_headers_are_refused() -> None:
    raw, _ = request()
    with pytest.raises(RelayRejected, match="old"):
        reader().feed(raw, NOW + 31)
    with pytest.raises(RelayRejected, match="old"):
        reader().feed(raw, NOW - 31)
    nonces = NonceCache(30.0)
    read_all(raw, reader(nonces=nonces))
    with pytest.raises(RelayRejected, match="replayed"):
        reader(nonces=nonces).feed(raw, NOW + 1)
    other, _ = request(target="c")
    with pytest.raises(RelayRejected, match="not this one"):
        reader().feed(other, NOW)


def test_bytes_after_the_relayed_ones_are_refused() -> None:
    raw, _ = request()
    with pytest.raises(RelayRejected, match="after the relayed"):
        reader().feed(raw + b"\x81", NOW)


def forge(fields: dict[str, object]) -> bytes:
    """A header with a valid MAC (as a buggy or newer instance would send)."""
    header = orjson.dumps(fields)
    head = MAGIC + len(header).to_bytes(4, "big") + header
    return head + hmac.new(KEY, head, hashlib.sha256).digest()


GOOD = {
    "v": 1,
    "from": "a",
    "to": "b",
    "call": "CA-1",
    "why": "w",
    "path": "/",
    "headers": [],
    "subprotocols": [],
    "subprotocol": "ws.jambonz.org",
    "remote": "r",
    "nonce": "0" * 32,
    "ts": NOW,
    "received": 0,
    "sha256": hashlib.sha256(b"").hexdigest(),
}


def test_the_good_forged_header_passes() -> None:
    assert read_all(forge(GOOD)).received == b""


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"v": 2}, "version"),
        ({"call": ""}, "nonce or call"),
        ({"call": 5}, "'call'"),
        ({"nonce": "short"}, "nonce"),
        ({"path": "x" * 9000}, "'path'"),
        ({"headers": [["a"]]}, "headers"),
        ({"headers": [["a", "b"]] * 101}, "headers"),
        ({"headers": "no"}, "headers"),
        ({"subprotocols": [1]}, "subprotocols"),
        ({"received": -1}, "relayed bytes"),
        ({"received": "0"}, "relayed bytes"),
        ({"sha256": "00"}, "digest"),
        ({"ts": "now"}, "timestamp"),
    ],
)
def test_malformed_but_authentic_headers_are_refused(change: dict[str, object], match: str) -> None:
    with pytest.raises(RelayRejected, match=match):
        reader().feed(forge({**GOOD, **change}), NOW)


def test_a_header_that_is_not_json_is_refused() -> None:
    head = MAGIC + (3).to_bytes(4, "big") + b"{x}"
    with pytest.raises(RelayRejected, match="not JSON"):
        reader().feed(head + hmac.new(KEY, head, hashlib.sha256).digest(), NOW)


def test_the_nonce_cache_forgets_after_the_window_and_stays_bounded() -> None:
    cache = NonceCache(window=10.0, limit=3)
    assert cache.add("a", 0.0) and not cache.add("a", 5.0)
    assert cache.add("a", 10.5)  # out of the window: "a" was forgotten
    for i in range(10):
        cache.add(f"n{i}", 11.0)
    assert len(cache) == 3
