"""The generated verb builders: construction, wire names, nesting and the generator itself."""

from __future__ import annotations

import importlib.util
import sys
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest

import jbtrio.verbs
from jbtrio import VerbError
from jbtrio.verbs import (
    COMPONENT_CLASSES,
    EXECUTABLE_VERBS,
    VERB_ALIASES,
    VERB_CLASSES,
    Component,
    Dial,
    Dub,
    Enqueue,
    Gather,
    Hook,
    Llm,
    OpenaiS2s,
    Play,
    RecordOptions,
    RestDial,
    S2s,
    Say,
    Stream,
    Synthesizer,
    Target,
    Transcribe,
    Verb,
    _generated,
    validate,
    validate_component,
)
from jbtrio.verbs._validate import load_specs

ROOT = Path(__file__).resolve().parent.parent
SPECS = load_specs()


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_verbs", ROOT / "tools" / "gen_verbs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_verbs", module)
    spec.loader.exec_module(module)
    return module


def _minimal(type_spec: Any) -> Any:
    if isinstance(type_spec, list):
        return []
    if isinstance(type_spec, dict):
        return type_spec["enum"][0]
    if "|" in type_spec:
        return _minimal(type_spec.split("|")[0].strip())
    if type_spec.startswith("#"):
        entry = SPECS[type_spec[1:]]
        return {p: _minimal(entry["properties"][p]) for p in entry.get("required") or []}
    return {"string": "x", "number": 1, "boolean": True, "object": {}, "array": []}[type_spec]


def _spec_name(cls: type[Verb] | type[Component]) -> str:
    if issubclass(cls, Verb):
        return VERB_ALIASES.get(cls.verb, (cls.verb, None))[0]
    return cls.spec_name


def _wire_to_attr(cls: type[Any]) -> dict[str, str]:
    return {cls.WIRE_NAMES.get(f.name, f.name): f.name for f in attrs.fields(cls)}


def _required_kwargs(cls: type[Any]) -> dict[str, Any]:
    entry = SPECS[_spec_name(cls)]
    to_attr = _wire_to_attr(cls)
    kwargs = {}
    for f in attrs.fields(cls):
        if f.default is attrs.NOTHING:
            wire = cls.WIRE_NAMES.get(f.name, f.name)
            kwargs[f.name] = _minimal(entry["properties"][wire])
    assert set(kwargs) <= set(to_attr.values())
    return kwargs


ALL_CLASSES: list[type[Any]] = [*VERB_CLASSES.values(), *COMPONENT_CLASSES.values()]


def test_class_counts() -> None:
    assert len(VERB_CLASSES) == 28 + 9
    assert set(VERB_CLASSES) == EXECUTABLE_VERBS | set(VERB_ALIASES)
    assert len(COMPONENT_CLASSES) == 54
    assert "pipeline" not in COMPONENT_CLASSES


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_every_builder_constructs_and_round_trips(cls: type[Any]) -> None:
    obj = cls(**_required_kwargs(cls))
    wire = obj.to_dict()
    if issubclass(cls, Verb):
        assert wire["verb"] == cls.verb
        validate([wire])
        validate([obj])
    else:
        assert "verb" not in wire
        validate_component(cls.spec_name, wire)
    assert cls.__doc__ and "\n" not in cls.__doc__.strip()


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_attributes_cover_the_spec_exactly(cls: type[Any]) -> None:
    entry = SPECS[_spec_name(cls)]
    assert set(_wire_to_attr(cls)) == set(entry["properties"])
    hooks = tuple(p for p in entry["properties"] if p.endswith(("Hook", "_hook")))
    assert cls.hook_properties == hooks
    if issubclass(cls, Verb):
        assert ("actionHook" in entry["properties"]) == cls.REPORTS_BACK
    required = {f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING}
    expected = {_wire_to_attr(cls)[p] for p in entry.get("required") or []}
    if issubclass(cls, Verb) and VERB_ALIASES.get(cls.verb, ("", None))[1] is not None:
        expected.discard("vendor")  # the alias presets it
    assert required == expected


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_annotations_resolve(cls: type[Any]) -> None:
    # cattrs and friends evaluate the string annotations; no field may shadow a type name.
    hints = typing.get_type_hints(cls)
    assert set(hints) >= {f.name for f in attrs.fields(cls)}


def test_builders_are_frozen_and_slotted() -> None:
    say = Say(text="x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        say.text = "y"  # type: ignore[misc]
    assert not hasattr(say, "__dict__")
    assert Say(text="x") == say


def test_wire_names() -> None:
    dial = Dial(target=[], action_hook="/done", forward_pai=True, caller_id="+1")
    assert dial.to_dict() == {
        "verb": "dial",
        "target": [],
        "actionHook": "/done",
        "callerId": "+1",
        "forwardPAI": True,
    }
    rest = RestDial(call_hook="/new", from_="+1", to={"type": "phone", "number": "+2"})
    assert rest.to_dict()["from"] == "+1"
    assert rest.to_dict()["call_hook"] == "/new"
    record = RecordOptions(
        action="startCallRecording", recording_id="r1", siprec_server_url="sip:x"
    )
    assert record.to_dict() == {
        "action": "startCallRecording",
        "recordingID": "r1",
        "siprecServerURL": "sip:x",
    }
    assert Enqueue(name="q", passthrough={"a": 1}).to_dict() == {
        "verb": "enqueue",
        "name": "q",
        "_": {"a": 1},
    }


def test_none_is_omitted() -> None:
    assert Say().to_dict() == {"verb": "say"}
    assert Say(text="x", loop=None, id=None).to_dict() == {"verb": "say", "text": "x"}
    assert Synthesizer(vendor="google").to_dict() == {"vendor": "google"}


def test_nested_verbs_lose_the_verb_key() -> None:
    gather = Gather(
        say=Say(text="Press 1", synthesizer=Synthesizer(vendor="google")),
        play=Play(url="https://x/a.wav"),
        input=("digits",),
    )
    assert gather.to_dict() == {
        "verb": "gather",
        "input": ["digits"],
        "play": {"url": "https://x/a.wav"},
        "say": {"text": "Press 1", "synthesizer": {"vendor": "google"}},
    }
    dial = Dial(
        target=[Target(type="phone", number="+1"), {"type": "user", "name": "a@b"}],
        dub=[Dub(action="addTrack", track="music")],
        listen=Stream(url="wss://x"),
        transcribe=Transcribe(transcription_hook="/t"),
    )
    wire = dial.to_dict()
    assert wire["target"] == [{"type": "phone", "number": "+1"}, {"type": "user", "name": "a@b"}]
    assert wire["dub"] == [{"action": "addTrack", "track": "music"}]
    assert wire["listen"] == {"url": "wss://x"}
    assert wire["transcribe"] == {"transcriptionHook": "/t"}
    validate([wire])


def test_hooks() -> None:
    hook = Hook(url="https://x/h", method="GET")
    assert hook.to_dict() == {"url": "https://x/h", "method": "GET"}
    full = Hook(url="/h", method="POST", username="u", password="p")
    assert full.to_dict() == {"url": "/h", "method": "POST", "username": "u", "password": "p"}
    with pytest.raises(VerbError, match="hook url must be a string"):
        Hook(url=5)  # type: ignore[arg-type]
    with pytest.raises(VerbError, match="hook method must be a string"):
        Hook(url="/h", method=1)  # type: ignore[arg-type]
    gather = Gather(action_hook=hook, partial_result_hook={"url": "/p"})
    assert gather.to_dict()["actionHook"] == {"url": "https://x/h", "method": "GET"}
    assert gather.to_dict()["partialResultHook"] == {"url": "/p"}
    assert Gather.hook_properties == ("actionHook", "partialResultHook")
    assert Gather.REPORTS_BACK and not Say.REPORTS_BACK


def test_aliases() -> None:
    assert Stream(url="wss://x").to_dict() == {"verb": "stream", "url": "wss://x"}
    assert OpenaiS2s(llm_options={}).to_dict() == {"verb": "openai_s2s", "llmOptions": {}}
    assert OpenaiS2s(vendor="x", llm_options={}).to_dict()["vendor"] == "x"
    # nested, the alias name is gone, so the preset vendor is written out
    assert OpenaiS2s(llm_options={})._jbtrio_wire_() == {"vendor": "openai", "llmOptions": {}}
    validate([S2s(vendor="v", llm_options={}), Llm(vendor="v", llm_options={})])
    with pytest.raises(TypeError):
        S2s(llm_options={})  # type: ignore[call-arg]


def test_construction_errors_surface_at_once() -> None:
    with pytest.raises(VerbError) as info:
        Say(text=5)  # type: ignore[arg-type]
    assert (info.value.path, info.value.index) == ("say.text", None)
    with pytest.raises(VerbError) as info:
        Target(type="fax")  # type: ignore[arg-type]
    assert info.value.path == "target.type"
    with pytest.raises(VerbError) as info:
        Dial(target=[{"type": "phone", "number": 1}])
    assert info.value.path == "dial.target[0].number"
    with pytest.raises(VerbError) as info:
        Gather(say={"text": "x", "bogus": 1})
    assert info.value.path == "gather.say.bogus"
    with pytest.raises(VerbError, match="got boolean"):
        Say(text="x", loop=True)  # bool is an int to mypy, never a number to jambonz


def test_module_exports_everything_generated() -> None:
    for name in _generated.__all__:
        assert getattr(jbtrio.verbs, name) is getattr(_generated, name)
        assert name in jbtrio.verbs.__all__
    for name in jbtrio.verbs.__all__:
        assert hasattr(jbtrio.verbs, name)


def test_generator_reproduces_committed_file() -> None:
    generator = _load_generator()
    committed = (ROOT / "jbtrio" / "verbs" / "_generated.py").read_text("utf-8")
    assert generator.generate(load_specs()) == committed
    assert set(generator.EXECUTABLE) == EXECUTABLE_VERBS
    assert dict(VERB_ALIASES) == generator.ALIASES


def test_generator_names() -> None:
    generator = _load_generator()
    assert generator.attribute_name("actionHook") == "action_hook"
    assert generator.attribute_name("from") == "from_"
    assert generator.attribute_name("recordingID") == "recording_id"
    assert generator.attribute_name("siprecServerURL") == "siprec_server_url"
    assert generator.attribute_name("forwardPAI") == "forward_pai"
    assert generator.attribute_name("_") == "passthrough"
    assert generator.attribute_name("call_hook") == "call_hook"
    assert generator.class_name("sip:decline") == "SipDecline"
    assert generator.class_name("sm_transcriptionConfig") == "SmTranscriptionConfig"
