"""The generated verb builders: construction, wire names, nesting and the generator itself."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
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
    JAMBONZ_VERSIONS,
    VERB_ALIASES,
    VERB_CLASSES,
    Agent,
    Auth,
    Dial,
    Dub,
    Enqueue,
    Gather,
    GptliveS2s,
    Hook,
    Lex,
    Llm,
    OpenaiS2s,
    Play,
    RecordOptions,
    RestDial,
    Room,
    S2s,
    Say,
    SipDecline,
    Stream,
    Synthesizer,
    Target,
    ToolFiller,
    Transcribe,
    Transfer,
    TransferDisposition,
    Verb,
    _generated,
    validate,
    validate_component,
)
from jbtrio.verbs._schema import MIN_VERSIONS
from jbtrio.verbs._spec09 import ALIASES as ALIASES_09
from jbtrio.verbs._validate import load_specs

ROOT = Path(__file__).resolve().parent.parent
SPECS = load_specs()
SCHEMA_VERBS = "https://jambonz.org/schema/verbs/"


def _load_tool(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def _load_generator() -> Any:
    return _load_tool("gen_verbs")


def _minimal09(type_spec: Any) -> Any:
    if isinstance(type_spec, list):
        return []
    if isinstance(type_spec, dict):
        return type_spec["enum"][0]
    if "|" in type_spec:
        return _minimal09(type_spec.split("|")[0].strip())
    if type_spec.startswith("#"):
        entry = SPECS[type_spec[1:]]
        return {p: _minimal09(entry["properties"][p]) for p in entry.get("required") or []}
    return {"string": "x", "number": 1, "boolean": True, "object": {}, "array": []}[type_spec]


def _sources(cls: type[Any]) -> tuple[str | None, str | None]:
    """(0.9 spec entry, 10.x/11.x schema location) a builder class is generated from."""
    if issubclass(cls, Verb):
        canonical = VERB_ALIASES.get(cls.verb, (cls.verb, None))[0]
        known_09 = cls.verb in EXECUTABLE_VERBS or cls.verb in ALIASES_09
        known_new = canonical in MIN_VERSIONS
        return (canonical if known_09 else None), (SCHEMA_VERBS + canonical if known_new else None)
    return cls.spec_name, cls.schema_location


def _schema_props(location: str) -> tuple[dict[str, Any], list[str]]:
    from fuzz.target_validate_schema import RESOLVER

    return RESOLVER.properties({"$ref": location}, location)


def _wire_to_attr(cls: type[Any]) -> dict[str, str]:
    return {cls.WIRE_NAMES.get(f.name, f.name): f.name for f in attrs.fields(cls)}


#: Required values the schema's minimal instance does not satisfy (conditionals).
_EXTRA: dict[type[Any], dict[str, Any]] = {ToolFiller: {"url": "https://x/a.wav"}}


def _required_kwargs(cls: type[Any]) -> dict[str, Any]:
    spec09, location = _sources(cls)
    oracle = _load_tool("gen_verb_oracle10_corpus")
    props = _schema_props(location)[0] if location else {}
    kwargs = {}
    for f in attrs.fields(cls):
        if f.default is attrs.NOTHING:
            wire = cls.WIRE_NAMES.get(f.name, f.name)
            if wire in props:
                kwargs[f.name] = oracle.minimal(*props[wire])
            else:
                assert spec09 is not None
                kwargs[f.name] = _minimal09(SPECS[spec09]["properties"][wire])
    return kwargs | _EXTRA.get(cls, {})


ALL_CLASSES: list[type[Any]] = [*VERB_CLASSES.values(), *COMPONENT_CLASSES.values()]


def test_class_counts() -> None:
    new_verbs = {"agent", "room", "transfer", "qwen_s2s", "gptlive_s2s"}
    assert len(VERB_CLASSES) == 28 + 9 + len(new_verbs)
    assert set(VERB_CLASSES) == EXECUTABLE_VERBS | set(VERB_ALIASES) | new_verbs
    assert set(VERB_CLASSES) == EXECUTABLE_VERBS | set(MIN_VERSIONS) | set(VERB_ALIASES)
    assert len(COMPONENT_CLASSES) == 54 + 17
    assert "pipeline" not in COMPONENT_CLASSES


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_every_builder_constructs_and_round_trips(cls: type[Any]) -> None:
    obj = cls(**_required_kwargs(cls))
    wire = obj.to_dict()
    spec09, location = _sources(cls)
    if issubclass(cls, Verb):
        assert wire["verb"] == cls.verb
        for jambonz in JAMBONZ_VERSIONS:
            if obj.checked_for(jambonz):
                validate([wire], jambonz=jambonz)
                validate([obj], jambonz=jambonz)
        # valid for the newest server that has the verb
        assert obj.checked_for("11" if location else "0.9")
    else:
        assert "verb" not in wire
        prefix = "https://jambonz.org/schema/components/"
        if location is not None and location.startswith(prefix) and "#" not in location:
            validate_component(location[len(prefix) :], wire)
        if spec09 is not None and not location:
            validate_component(spec09, wire, jambonz="0.9")
    assert cls.__doc__ and "\n" not in cls.__doc__.strip()


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_attributes_cover_both_schemas_exactly(cls: type[Any]) -> None:
    spec09, location = _sources(cls)
    wires: set[str] = set()
    required: list[set[str]] = []
    if spec09 is not None:
        wires |= set(SPECS[spec09]["properties"])
        required.append(set(SPECS[spec09].get("required") or []))
    if location is not None:
        props, req = _schema_props(location)
        wires |= set(props) - {"verb"} if issubclass(cls, Verb) else set(props)
        required.append(set(req) - {"verb"})
    assert set(_wire_to_attr(cls)) == wires
    hooks = {p for p in wires if p.endswith(("Hook", "_hook"))}
    assert set(cls.hook_properties) == hooks
    if issubclass(cls, Verb):
        assert ("actionHook" in wires) == cls.REPORTS_BACK
    expected = {_wire_to_attr(cls)[p] for p in set.intersection(*required)}
    if issubclass(cls, Verb) and VERB_ALIASES.get(cls.verb, ("", None))[1] is not None:
        expected.discard("vendor")  # the alias presets it
    assert {f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING} == expected


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_annotations_resolve(cls: type[Any]) -> None:
    # cattrs and friends evaluate the string annotations; no field may shadow a type name.
    hints = typing.get_type_hints(cls)
    assert set(hints) >= {f.name for f in attrs.fields(cls)}


def _attrs_made(cls: type[Any], **kwargs: Any) -> Any:
    """An instance made by attrs' own ``__init__`` (the one the fast one replaced)."""
    obj = object.__new__(cls)
    cls.__init__.__globals__["_jb_attrs_init"](obj, **kwargs)
    return obj


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_fast_init_makes_what_attrs_init_makes(cls: type[Any]) -> None:
    # every builder class has the generated __init__ (issue 23), made on first use and
    # equivalent to attrs'
    kwargs = _required_kwargs(cls)
    fast = cls(**kwargs)
    assert cls.__init__.__code__.co_filename == f"<jbtrio __init__ of {cls.__name__}>"
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
    slow = _attrs_made(cls, **kwargs)
    assert fast == slow and repr(fast) == repr(slow)
    assert fast.to_dict() == slow.to_dict() and list(fast.to_dict()) == list(slow.to_dict())
    assert fast._jbtrio_fields == slow._jbtrio_fields
    if issubclass(cls, Verb):
        assert fast._jbtrio_ok == slow._jbtrio_ok
    assert attrs.asdict(fast, recurse=False) == attrs.asdict(slow, recurse=False)
    attrs_init = cls.__init__.__globals__["_jb_attrs_init"]
    assert inspect.signature(cls.__init__) == inspect.signature(attrs_init)


def test_fast_init_is_made_on_first_use() -> None:
    # a class not used yet still shows attrs' signature
    code = (
        "import inspect, jbtrio.verbs as v\n"
        "before = inspect.signature(v.Hangup)\n"
        "assert v.Hangup.__init__.__code__.co_filename.endswith('_base.py')\n"
        "assert v.Hangup().to_dict() == {'verb': 'hangup'}\n"
        "assert v.Hangup.__init__.__code__.co_filename == '<jbtrio __init__ of Hangup>'\n"
        "assert inspect.signature(v.Hangup) == before, before\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fast_init_leaves_none_unset_and_reads_it_as_none() -> None:
    gather = Gather(input=["digits"], say=Say(text="Press 1"), action_hook=None)
    assert gather.action_hook is None and gather.timeout is None
    assert gather.to_dict() == {"verb": "gather", "input": ["digits"], "say": {"text": "Press 1"}}
    assert attrs.evolve(gather, timeout=5).to_dict()["timeout"] == 5
    with pytest.raises(AttributeError, match="no attribute 'timeot'"):
        gather.timeot  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(TypeError, match=r"Say.__init__\(\) got an unexpected keyword argument"):
        Say(txt="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'status'"):
        SipDecline()  # type: ignore[call-arg]
    with pytest.raises(VerbError, match=r"say\.text"):
        Say(text=5)  # type: ignore[arg-type]
    record = RecordOptions(action="startCallRecording", type=None)  # "type" is an attribute
    assert record.type is None and record.to_dict() == {"action": "startCallRecording"}


def test_subclasses_are_made_by_attrs_init() -> None:
    class Loud(Say):
        def __attrs_post_init__(self) -> None:
            super().__attrs_post_init__()
            object.__setattr__(self, "_jbtrio_fields", {"text": str(self.text).upper()})

    @attrs.frozen(kw_only=True)
    class Tagged(Say):
        tag: str = "t"

    assert Loud(text="hi").to_dict() == {"verb": "say", "text": "HI"}
    assert Loud(text="hi").loop is None  # set by attrs' __init__, not through __getattr__
    assert Tagged(text="hi").to_dict() == {"verb": "say", "text": "hi", "tag": "t"}
    with pytest.raises(VerbError):
        Loud(text=5)  # type: ignore[arg-type]


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
    # refused by every jambonz: the error is the 10.x/11.x schema's, at the property
    with pytest.raises(VerbError) as info:
        Say(text=5)  # type: ignore[arg-type]
    assert (info.value.path, info.value.index) == ("say.text", None)
    with pytest.raises(VerbError) as info:
        Target(type="fax")  # type: ignore[arg-type]
    assert info.value.path == "target.type"
    with pytest.raises(VerbError) as info:
        Dial(target=[{"type": "phone", "number": 1}])
    assert info.value.path == "dial.target[0].number"
    with pytest.raises(VerbError, match="true is not valid"):
        Say(text="x", loop=True)  # bool is an int to mypy, never a number to jambonz
    with pytest.raises(VerbError) as info:
        Transfer(mode="warm", target=[])
    assert info.value.path == "transfer.target"
    # a verb only 0.9 has is judged by 0.9's rules
    with pytest.raises(VerbError, match="must be string, got number") as info:
        Lex(bot_id=5, bot_alias="a", region="r", credentials={})  # type: ignore[arg-type]
    assert info.value.path == "lex.botId"


def test_union_builders_are_valid_for_some_jambonz() -> None:
    # 10.x/11.x allow unknown keys inside a nested say, 0.9 does not: built, refused for 0.9
    gather = Gather(say={"text": "x", "bogus": 1})
    assert gather.checked_for("11") and not gather.checked_for("0.9")
    validate([gather], jambonz="11")
    with pytest.raises(VerbError) as info:
        validate([gather], jambonz="0.9")
    assert (info.value.index, info.value.path) == (0, "gather.say.bogus")
    # a 10.x/11.x-only property
    dial = Dial(target=[Target(type="phone", number="+15550100")], codecs=["PCMU"])
    with pytest.raises(VerbError, match="unknown property 'codecs'"):
        validate([dial], jambonz="0.9")
    # a 0.9-only verb: built, refused by 10.x/11.x (their schema has no lex)
    lex = Lex(bot_id="b", bot_alias="a", region="r", credentials={})
    assert lex.checked_for("0.9") and not lex.checked_for("11")
    validate([lex], jambonz="0.9")
    with pytest.raises(VerbError, match="unknown verb 'lex'"):
        validate([lex], jambonz="11")


def test_a_builder_remembers_a_target_once_checked() -> None:
    say = Say(text="x")
    assert say.checked_for("10") and say.checked_for("11") and not say.checked_for("0.9")
    validate([say], jambonz="0.9")
    assert say.checked_for("0.9")
    with pytest.raises(ValueError, match="jambonz must be one of"):
        say.checked_for("12")  # type: ignore[arg-type]


def test_new_verbs() -> None:
    agent = Agent(
        stt={"vendor": "deepgram", "language": "en-US"},
        tts=Synthesizer(vendor="elevenlabs", voice="Rachel"),
        llm={"vendor": "openai", "model": "gpt-4.1-mini", "llmOptions": {"systemPrompt": "Hi"}},
        action_hook="/agent-done",
        tool_hook="/tool",
        tool_filler=ToolFiller(type="backchannel"),
    )
    assert agent.to_dict()["tts"] == {"vendor": "elevenlabs", "voice": "Rachel"}
    assert agent.to_dict()["toolFiller"] == {"type": "backchannel"}
    assert Agent.REPORTS_BACK and agent.checked_for("10")
    with pytest.raises(VerbError, match="unknown verb 'agent'"):
        validate([agent], jambonz="0.9")
    transfer = Transfer(
        mode="warm",
        target=[Target(type="phone", number="+15550100")],
        disposition=TransferDisposition(on_no_answer="voicemail", voicemail_url="https://x/vm"),
    )
    validate([transfer])
    with pytest.raises(VerbError, match="voicemailUrl"):  # voicemail needs voicemailUrl
        Transfer(mode="blind", target=transfer.target, disposition={"onNoAnswer": "voicemail"})
    assert Room(name="standup").to_dict() == {"verb": "room", "name": "standup"}
    live = GptliveS2s(auth={"apiKey": "k"}, llm_options={"session_update": {}})
    assert live.checked_for("11") and not live.checked_for("10")
    with pytest.raises(VerbError, match=r"needs jambonz 11\.1\.0 or newer"):
        validate([live], jambonz="10")


def test_hook_basic_auth() -> None:
    hook = Hook(url="/h", method="POST", basic_auth=Auth(username="u", password="p"))
    assert hook.to_dict() == {
        "url": "/h",
        "method": "POST",
        "basicAuth": {"username": "u", "password": "p"},
    }
    validate([Gather(action_hook=hook)])
    with pytest.raises(VerbError, match="basic_auth must be an object"):
        Hook(url="/h", basic_auth="u:p")  # type: ignore[arg-type]


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
    assert dict(ALIASES_09) == generator.ALIASES_09


def test_generator_names() -> None:
    generator = _load_generator()
    assert generator.attribute_name("actionHook") == "action_hook"
    assert generator.attribute_name("from") == "from_"
    assert generator.attribute_name("recordingID") == "recording_id"
    assert generator.attribute_name("siprecServerURL") == "siprec_server_url"
    assert generator.attribute_name("forwardPAI") == "forward_pai"
    assert generator.attribute_name("_") == "passthrough"
    assert generator.attribute_name("call_hook") == "call_hook"
    assert generator.attribute_name("baseURL") == "base_url"
    assert generator.class_name("sip:decline") == "SipDecline"
    assert generator.class_name("sm_transcriptionConfig") == "SmTranscriptionConfig"
    assert generator.class_name("gptlive_s2s") == "GptliveS2s"
