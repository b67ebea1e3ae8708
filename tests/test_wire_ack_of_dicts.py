"""``Ack.of_dicts``: the core's fast way to make an ack is the constructor's exact equal."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from jbtrio._wire import Ack, converter, encode
from jbtrio.verbs import Say


@pytest.mark.parametrize(
    "verbs",
    [None, [], [{"verb": "say", "text": "hi"}], ({"verb": "hangup"}, {"verb": "pause"})],
)
def test_of_dicts_equals_the_constructor(verbs: Any) -> None:
    fast = Ack.of_dicts("m1", verbs)
    slow = Ack(msgid="m1", verbs=verbs)
    assert fast == slow
    assert repr(fast) == repr(slow)
    assert encode(fast) == encode(slow)
    assert fast.verbs is None or type(fast.verbs) is tuple
    assert fast.extra == {}


def test_of_dicts_falls_back_to_the_constructor_for_builders() -> None:
    ack = Ack.of_dicts("m1", [Say(text="hi")])
    assert ack.verbs == ({"verb": "say", "text": "hi"},)


@pytest.mark.parametrize("msgid", ["", None, 7])
def test_of_dicts_refuses_what_the_constructor_refuses(msgid: Any) -> None:
    with pytest.raises(ValueError, match="msgid"):
        Ack.of_dicts(msgid, [{"verb": "say", "text": "hi"}])


@pytest.mark.parametrize("verbs", [(), ({"verb": "say", "text": "hi"}, {"verb": "pause"})])
def test_of_wire_equals_the_constructor(verbs: tuple[dict[str, Any], ...]) -> None:
    fast = Ack.of_wire("m1", verbs)
    slow = Ack(msgid="m1", verbs=verbs)
    assert fast == slow
    assert encode(fast) == encode(slow)
    assert fast.verbs is verbs  # the receipts' tuple, kept: no copy
    assert fast.extra == {}


def test_of_wire_takes_the_constructor_for_anything_but_a_tuple() -> None:
    ack = Ack.of_wire("m1", [Say(text="hi")])  # type: ignore[arg-type]
    assert ack.verbs == ({"verb": "say", "text": "hi"},)
    with pytest.raises(ValueError, match="msgid"):
        Ack.of_wire("", ())


@pytest.mark.parametrize(
    "ack",
    [
        Ack(msgid="m1"),
        Ack(msgid="m1", verbs=[]),
        Ack(msgid="m1", verbs=[{"verb": "say", "text": "hi"}, {"say": {"text": "ho"}}]),
        Ack(msgid="m1", verbs=[{"verb": "pause", "length": 1}], extra={"later": 1}),
    ],
)
def test_encoding_an_ack_writes_its_unstructured_object(ack: Ack) -> None:
    # encode_bytes writes an ack without extra keys itself (issue 23): the same bytes as
    # its unstructure hook's object, with the verbs as an array and no data key for None.
    assert encode(ack) == orjson.dumps(converter.unstructure(ack)).decode()
    assert ("data" in orjson.loads(encode(ack))) is (ack.verbs is not None)
