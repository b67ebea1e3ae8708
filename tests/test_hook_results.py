"""Typed hook payloads generated from the schema's ``callbacks/`` (``tools/gen_results.py``)."""

from __future__ import annotations

import importlib.util
import sys
import typing
from pathlib import Path
from typing import Any

import orjson
import pytest

import jbtrio
from jbtrio import ProtocolError, VerbHook, decode
from jbtrio._flow import _PARSERS, REPORTING_HOOKS
from jbtrio._wire import RESULT_VIEWS, CallInfo, spec_of

ROOT = Path(__file__).resolve().parent.parent


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_results", ROOT / "tools" / "gen_results.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_results", module)
    spec.loader.exec_module(module)
    return module


def _hook(data: dict[str, Any], hook: str = "/h") -> VerbHook:
    frame = {"type": "verb:hook", "msgid": "m1", "call_sid": "c1", "hook": hook, "data": data}
    message = decode(orjson.dumps(frame).decode())
    assert isinstance(message, VerbHook)
    return message


def test_the_committed_module_is_what_the_generator_makes() -> None:
    generated = _generator().generate()
    assert (ROOT / "jbtrio" / "_wire" / "_results.py").read_text("utf-8") == generated


def test_call_info_keys_the_views_read_are_call_info_fields() -> None:
    gen = _generator()
    wire_keys = set(spec_of(CallInfo).nullable)
    listed: set[str] = set()
    for _, schema, *_ in [*gen.RESULTS, *gen.EVENTS]:
        listed |= set(gen.load(schema).get("properties", {}))
    assert (listed & gen.call_info_keys()) - gen.ENVELOPE <= wire_keys


def test_a_transfer_result_reads_its_fields_and_the_call_infos() -> None:
    hook = _hook(
        {
            "call_sid": "c1",
            "sip_status": 486,
            "transfer_result": "returned",
            "transfer_reason": "busy",
            "dial_call_sid": "b1",
            "verb_id": "t1",
        }
    )
    result = hook.result(jbtrio.TransferResult)
    assert result == jbtrio.TransferResult(
        transfer_result="returned",
        transfer_reason="busy",
        dial_call_sid="b1",
        sip_status=486,
        verb_id="t1",
    )


def test_a_value_newer_than_the_schema_is_kept_a_wrong_type_is_not() -> None:
    assert _hook({"transfer_result": "parked"}).result(jbtrio.TransferResult).transfer_result == (
        "parked"  # type: ignore[comparison-overlap]
    )
    with pytest.raises(ProtocolError, match=r"\$\.data\.queue_time: expected integer"):
        _hook({"queue_time": "12"}).result(jbtrio.EnqueueResult)


def test_nested_speech_is_read_as_a_speech_result() -> None:
    speech = {"is_final": True, "alternatives": [{"transcript": "hello", "confidence": 0.9}]}
    result = _hook({"speech": speech, "stt_latency_ms": "120"}).result(jbtrio.TranscribeResult)
    assert result.speech is not None
    assert result.speech.alternatives[0].transcript == "hello"
    assert result.stt_latency_ms == "120"


def test_every_reporting_verb_has_a_typed_result_but_the_bot_platforms() -> None:
    untyped = {verb for verb in REPORTING_HOOKS if verb not in _PARSERS}
    assert untyped == {"dialogflow", "lex", "rasa"}
    assert RESULT_VIEWS["room"] is RESULT_VIEWS["conference"] is jbtrio.ConferenceResult
    assert RESULT_VIEWS["agent"] is jbtrio.AgentResult


# Compiled (mypyc), a class's run-time annotations are coarse (a union reads as ``type``).
@pytest.mark.pure_python
def test_gather_and_dial_enumerations_are_the_schemas() -> None:
    hints = typing.get_type_hints(jbtrio.GatherResult)
    assert typing.get_args(hints["reason"])[0] == jbtrio.GatherReason
    assert "stt-low-confidence" in typing.get_args(jbtrio.GatherReason)
    assert "no-answer" in typing.get_args(jbtrio.DialCallStatus)
    assert "tts_spoken" in typing.get_args(jbtrio.TtsStreamingEventType)
    assert "turn_end" in typing.get_args(jbtrio.AgentEventType)
