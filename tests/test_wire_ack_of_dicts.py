"""``Ack.of_dicts``: the core's fast way to make an ack is the constructor's exact equal."""

from __future__ import annotations

from typing import Any

import pytest

from jbtrio._wire import Ack, encode
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
