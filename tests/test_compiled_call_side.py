"""The call side's per-hook functions moved to modules the compiled build compiles (issue 23,
round 10): what they answer is what the methods they back answer, on both builds."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import attrs
import pytest

import jbtrio
from jbtrio import CoreConfig, ProtocolError
from jbtrio._flow import PLANS, hook_url, plan
from jbtrio._runtime import _observe, _observers
from jbtrio._runtime._buckets import Buckets
from jbtrio._wire import Ack, VerbHook, decode, gather_result, result_as
from jbtrio.verbs import CheckedWire, Say, checked_wire


def test_reply_window_is_the_timeout_less_the_margin() -> None:
    config = CoreConfig(ack_timeout=3.0, ack_margin=0.5)
    assert config.reply_window == 2.5
    assert attrs.evolve(config, ack_margin=1.0).reply_window == 2.0
    assert CoreConfig().reply_window == 4.0
    assert "reply" in (type(config).reply_window.__doc__ or "")
    assert "reply_window" not in attrs.fields_dict(CoreConfig)  # not a field: repr, eq as before


def test_checked_dict_and_checked_wire_agree() -> None:
    say = Say(text="hi")
    for wire in (say.checked_dict(), checked_wire(say)):
        assert type(wire) is CheckedWire
        assert wire == say.to_dict() == {"verb": "say", "text": "hi"}
        assert wire._jbtrio_ok == say._jbtrio_ok
    assert checked_wire(say) is not checked_wire(say)  # a new dict each time


def test_hook_url_reads_a_string_or_an_object_with_a_url() -> None:
    assert hook_url("/h") == "/h"
    assert hook_url({"url": "/h", "method": "POST"}) == "/h"
    assert hook_url({"url": 7}) is None
    assert hook_url(None) is None
    assert hook_url(["/h"]) is None


def _hook(data: dict[str, Any]) -> VerbHook:
    message = decode(
        json.dumps(
            {"type": "verb:hook", "msgid": "m7", "call_sid": "c1", "hook": "/g", "data": data}
        )
    )
    assert isinstance(message, VerbHook)
    return message


def test_a_flows_gather_parser_is_what_verbhook_gather_answers() -> None:
    hook = _hook({"reason": "dtmfDetected", "digits": "12"})
    parser = plan("gather")[3]
    assert parser is gather_result
    assert parser(hook) == hook.gather() == hook.result(jbtrio.GatherResult)
    assert PLANS["gather"][3] is gather_result


def test_a_malformed_result_names_its_hook_either_way() -> None:
    hook = _hook({"reason": 7})
    messages = []
    reads = (hook.gather, lambda: gather_result(hook), lambda: result_as(jbtrio.GatherResult, hook))
    for read in reads:
        with pytest.raises(ProtocolError) as caught:
            read()
        messages.append(str(caught.value))
    assert "verb:hook m7 (/g) carries a malformed gather result" in messages[0]
    assert messages[0] == messages[1]
    assert "malformed GatherResult result" in messages[2]


def test_ack_builders_are_class_methods_of_ack() -> None:
    verbs = ({"verb": "say", "text": "hi"},)
    assert Ack.of_wire("m1", verbs) == Ack(msgid="m1", verbs=verbs)
    assert Ack.of_dicts("m1", list(verbs)) == Ack(msgid="m1", verbs=verbs)
    assert Ack.of_dicts("m1", None) == Ack(msgid="m1")
    assert type(Ack.of_wire("m1", verbs)) is Ack


def test_replied_tells_every_observer_and_survives_a_failing_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    told: list[tuple[object, object, float]] = []

    class Failing:
        def replied(self, session: object, handle: object, latency: float) -> None:
            raise RuntimeError("boom")

    class Listening:
        def replied(self, session: object, handle: object, latency: float) -> None:
            told.append((session, handle, latency))

    failing, listening = Failing(), Listening()
    assert _observe.installed is _observers.OBSERVERS
    _observe.add_observer(failing)  # type: ignore[arg-type]
    _observe.add_observer(listening)  # type: ignore[arg-type]
    try:
        with caplog.at_level(logging.ERROR, logger="jbtrio.observe"):
            _observe.replied("session", "handle", 0.25)
    finally:
        _observe.remove_observer(failing)  # type: ignore[arg-type]
        _observe.remove_observer(listening)  # type: ignore[arg-type]
    assert told == [("session", "handle", 0.25)]
    assert any("failed in replied" in r.getMessage() for r in caplog.records)
    assert failing not in _observers.OBSERVERS


def test_buckets_count_the_first_bound_at_or_above_and_skip_nan_for_counts() -> None:
    buckets = Buckets((0.01, 0.1, 1.0))
    for amount in (0.005, 0.01, 0.05, 5.0, 1):
        buckets.observe(amount)
    assert buckets.counts == [2, 1, 1, 1]
    assert buckets.sum == pytest.approx(6.065)
    buckets.observe(math.nan)
    assert buckets.counts == [2, 1, 1, 1]
    assert math.isnan(buckets.sum)
