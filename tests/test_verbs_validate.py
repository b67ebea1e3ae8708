"""``jbtrio.verbs.validate`` for jambonz 0.9: its verdicts, error locations, ``typeof`` corners.

The oracle corpus (test_verbs_oracle.py) proves agreement in bulk; these tests pin down each
rule by name, with the ``index``/``path`` a caller sees, so a regression says what broke.
Every check here targets ``jambonz="0.9"`` (the 10.x/11.x rules: test_verbs_targets.py).
"""

from __future__ import annotations

from collections import OrderedDict
from enum import IntEnum, StrEnum
from typing import Any

import pytest

from jbtrio import VerbError
from jbtrio.verbs import (
    COMPONENT_NAMES,
    EXECUTABLE_VERBS,
    MAX_DEPTH,
    Say,
)
from jbtrio.verbs import validate as validate_for
from jbtrio.verbs import validate_component as validate_component_for
from jbtrio.verbs import validate_verb as validate_verb_for
from jbtrio.verbs._spec09 import ALIASES as VERB_ALIASES
from jbtrio.verbs._validate import load_specs


def validate(payload: object) -> None:
    validate_for(payload, jambonz="0.9")


def validate_verb(name: str, data: object) -> None:
    validate_verb_for(name, data, jambonz="0.9")


def validate_component(name: str, data: object) -> None:
    validate_component_for(name, data, jambonz="0.9")


LLM = {"vendor": "openai", "llmOptions": {}}


class _Text(StrEnum):
    A = "a"


class _Number(IntEnum):
    ONE = 1


def _vals(*values: Any) -> tuple[Any, ...]:
    """A tuple of test values typed loosely, so mypy does not join their types."""
    return values


def reject(payload: object) -> VerbError:
    with pytest.raises(VerbError) as info:
        validate(payload)
    assert type(info.value) is VerbError
    return info.value


def accepts(payload: object) -> bool:
    try:
        validate(payload)
    except VerbError:
        return False
    return True


def prop_ok(verb: str, prop: str, value: object, **extra: object) -> bool:
    return accepts([{"verb": verb, prop: value, **extra}])


# --- error reporting -------------------------------------------------------------------------


def test_typical_list_is_valid() -> None:
    validate(
        [
            {"verb": "say", "text": "hi", "synthesizer": {"vendor": "google", "voice": "x"}},
            {"verb": "gather", "say": {"text": "?"}, "recognizer": {"vendor": "google"}},
            {"verb": "config", "bargeIn": {"enable": True}},
            {"verb": "dial", "target": [{"type": "phone", "number": "+15551234"}]},
            {"verb": "hangup"},
        ]
    )


def test_unknown_verb() -> None:
    err = reject([{"verb": "say"}, {"verb": "sya", "text": "x"}])
    assert (err.reason, err.index, err.path) == ("unknown verb 'sya'", 1, "")
    assert str(err) == "verb #1: unknown verb 'sya'"


def test_unknown_property() -> None:
    err = reject([{"verb": "say", "bogus": 1}])
    assert (err.reason, err.index, err.path) == ("unknown property 'bogus'", 0, "say.bogus")


def test_wrong_type() -> None:
    err = reject([{"verb": "hangup"}, {"verb": "say", "text": 5}])
    assert err.reason == "property 'text' must be string|array, got number"
    assert (err.index, err.path) == (1, "say.text")


def test_bad_enum() -> None:
    err = reject([{"verb": "dial", "target": [], "srtpEncryption": "xyz"}])
    assert err.reason == "'xyz' is not one of ['sdes', 'dtls']"
    assert (err.index, err.path) == (0, "dial.srtpEncryption")


def test_missing_required() -> None:
    err = reject([{"verb": "llm", "llmOptions": {}}])
    assert err.reason == "missing required property 'vendor'"
    assert (err.index, err.path) == (0, "llm.vendor")


def test_nested_path() -> None:
    payload = [{"verb": "gather", "say": {"text": "x", "synthesizer": {"vendor": 5}}}]
    err = reject(payload)
    assert (err.index, err.path) == (0, "gather.say.synthesizer.vendor")
    err = reject([{"verb": "gather", "say": {"synthesizer": {}}}])
    assert err.path == "gather.say.synthesizer.vendor"
    assert err.reason == "missing required property 'vendor'"


def test_list_item_path() -> None:
    err = reject([{"verb": "dial", "target": [{"type": "phone"}, {"type": "fax"}]}])
    assert (err.index, err.path) == (0, "dial.target[1].type")


def test_single_verb_has_no_index() -> None:
    err = reject({"verb": "say", "text": 5})
    assert (err.index, err.path) == (None, "say.text")
    validate({"verb": "say", "text": "x"})
    validate({"say": {"text": "x"}})


def test_validate_verb() -> None:
    validate_verb("say", {"text": "x"})
    validate_verb("openai_s2s", {"llmOptions": {}})
    with pytest.raises(VerbError, match="unknown verb 'synthesizer'"):
        validate_verb("synthesizer", {"vendor": "google"})
    with pytest.raises(VerbError) as info:
        validate_verb("pause", {})
    assert (info.value.index, info.value.path) == (None, "pause.length")


def test_validate_component() -> None:
    validate_component("synthesizer", {"vendor": "google"})
    with pytest.raises(VerbError) as info:
        validate_component("target", {"type": "x"})
    assert info.value.path == "target.type"
    with pytest.raises(VerbError, match="unknown spec entry"):
        validate_component("nope", {})


# --- payload shapes --------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [None, 5, "say", True, 1.5, b"[]", {1, 2}])
def test_not_an_array(payload: object) -> None:
    assert reject(payload).reason == "malformed jambonz payload: must be array"


def test_empty_list_is_valid() -> None:
    validate([])
    validate(())


@pytest.mark.parametrize("element", [None, 5, "say", True, 2.5])
def test_element_not_an_object(element: object) -> None:
    err = reject([element])
    assert err.reason == "malformed jambonz payload: must be array of objects"
    assert err.index == 0


@pytest.mark.parametrize("element", [{}, [], [1, 2], {"say": {}, "play": {"url": "x"}}])
def test_element_without_verb(element: object) -> None:
    assert reject([element]).reason == "malformed jambonz payload: missing verb property"


def test_one_item_list_element_is_verb_zero() -> None:
    assert reject([["say"]]).reason == "unknown verb '0'"


def test_legacy_form() -> None:
    validate([{"say": {"text": "hi"}}, {"pause": {"length": 1}}, {"hangup": {}}])
    err = reject([{"say": {"text": "hi"}}, {"pause": {"length": "1"}}])
    assert (err.index, err.path) == (1, "pause.length")


def test_legacy_form_with_non_object_data() -> None:
    # jambonz walks the data's keys: scalars have none, non-empty strings/lists have "0".
    for data in _vals(None, 5, True, "", [], 0.5):
        validate([{"say": data}])
    for data in _vals("x", [1], ["text"]):
        assert reject([{"say": data}]).reason == "unknown property '0'"
    assert reject([{"pause": None}]).reason == "missing required property 'length'"


def test_verb_key_wins_over_legacy_form() -> None:
    validate([{"verb": "say"}])
    assert reject([{"verb": "say", "say": {}}]).reason == "unknown property 'say'"


def test_verb_name_is_stringified_like_js() -> None:
    validate([{"verb": ["say"], "text": "x"}])
    validate([{"verb": [[["hangup"]]]}])
    for name in _vals(["say", "x"], [], 5, None, True, {"a": 1}, ["stream"]):
        assert reject([{"verb": name}]).reason.startswith("unknown verb")


def test_aliases() -> None:
    validate([{"verb": "stream", "url": "wss://x"}])
    validate([{"stream": {"url": "wss://x"}}])
    validate([{"verb": "s2s", **LLM}])
    assert reject([{"verb": "s2s", "llmOptions": {}}]).path == "s2s.vendor"
    for alias, (target, vendor) in VERB_ALIASES.items():
        assert target in EXECUTABLE_VERBS
        if vendor is not None:
            validate([{"verb": alias, "llmOptions": {}}])
            validate([{alias: {"llmOptions": {}}}])
            validate([{"verb": alias, "vendor": "other", "llmOptions": {}}])
            assert reject([{"verb": alias, "vendor": 5, "llmOptions": {}}]).path.endswith(".vendor")


def test_preset_alias_with_non_object_data() -> None:
    assert reject([{"openai_s2s": None}]).reason == "missing required property 'llmOptions'"
    assert reject([{"openai_s2s": "x"}]).reason == "unknown property '0'"


def test_components_and_pipeline_are_not_top_level_verbs() -> None:
    assert len(EXECUTABLE_VERBS) == 28
    assert len(COMPONENT_NAMES) == 55  # 54 components + pipeline
    for name in COMPONENT_NAMES:
        err = reject([{"verb": name}])
        assert err.reason.startswith(f"unknown verb '{name}'")
        assert reject([{name: {}}]).reason.startswith("unknown verb")


def test_accepts_builders_and_other_mappings() -> None:
    validate([Say(text="x"), OrderedDict(verb="hangup")])
    validate(Say(text="x"))
    validate([{"verb": "gather", "say": Say(text="x")}])
    validate([{"verb": "say", "text": _Text.A}])
    validate([{"verb": "pause", "length": _Number.ONE}])


# --- typeof corners --------------------------------------------------------------------------


def test_number_is_never_bool() -> None:
    assert prop_ok("pause", "length", 0)
    assert prop_ok("pause", "length", 2.5)
    assert not prop_ok("pause", "length", True)
    assert not prop_ok("pause", "length", "1")
    assert not prop_ok("pause", "length", None)


def test_boolean_is_never_number() -> None:
    assert prop_ok("say", "earlyMedia", False)
    assert not prop_ok("say", "earlyMedia", 0)
    assert not prop_ok("say", "earlyMedia", "true")


def test_object_accepts_dict_list_and_null() -> None:
    for value in _vals({}, {"a": 1}, [], [1], None):
        assert prop_ok("tag", "data", value)
    for value in _vals("x", 1, True):
        assert not prop_ok("tag", "data", value)


def test_array_accepts_lists_only() -> None:
    assert prop_ok("gather", "input", [])
    assert prop_ok("gather", "input", ("speech",))
    for value in _vals(None, {}, "speech", 1):
        assert not prop_ok("gather", "input", value)


def test_unions() -> None:
    # "string|array"
    for value in _vals("x", [], ["a", 1]):
        assert prop_ok("say", "text", value)
    for value in _vals(None, {}, 1, False):
        assert not prop_ok("say", "text", value)
    # "object|string": typeof null and arrays are "object"
    for value in _vals("/hook", {}, None, []):
        assert prop_ok("gather", "actionHook", value)
    assert not prop_ok("gather", "actionHook", 1)
    # "number|string"
    for value in _vals(1, "1"):
        assert prop_ok("say", "loop", value)
    for value in _vals(True, None, []):
        assert not prop_ok("say", "loop", value)


def test_spaced_union_boolean_or_number() -> None:
    spec = load_specs()
    name, prop = next(
        (n, p)
        for n, e in spec.items()
        for p, s in e["properties"].items()
        if s == "boolean | number"
    )
    required = {p: "x" for p in spec[name].get("required") or []}
    for value in _vals(True, 1, 0.5):
        validate_component(name, {**required, prop: value})
    for value in _vals("1", None, []):
        with pytest.raises(VerbError):
            validate_component(name, {**required, prop: value})


def test_union_with_reference_accepts_strings_only() -> None:
    # pipeline.noiseIsolation is "string|#noiseIsolationPipeline": no typeof is "#..."
    validate_component("pipeline", {"llm": LLM, "noiseIsolation": "krisp"})
    for value in _vals({}, {"mode": "x"}, None):
        with pytest.raises(VerbError, match="must be string"):
            validate_component("pipeline", {"llm": LLM, "noiseIsolation": value})


def test_reference_walks_keys_of_any_value() -> None:
    # say.synthesizer is "#synthesizer", which requires vendor
    assert prop_ok("say", "synthesizer", {"vendor": "google"})
    for value in _vals("x", ["x"], [{}]):
        err = reject([{"verb": "say", "synthesizer": value}])
        assert (err.reason, err.path) == ("unknown property '0'", "say.synthesizer.0")
    for value in _vals(None, 0, True, "", []):
        err = reject([{"verb": "say", "synthesizer": value}])
        assert err.reason == "missing required property 'vendor'"
    # gather.say is "#say", which requires nothing: keyless values pass
    for value in _vals(None, 0, 1.5, False, "", []):
        assert prop_ok("gather", "say", value)


def test_list_reference_iterates() -> None:
    assert prop_ok("dial", "target", [])
    assert prop_ok("dial", "target", "")  # a string iterates by character: nothing to check
    assert not prop_ok("dial", "target", "x")
    for value in _vals({}, None, 0, True, {"type": "phone"}):
        err = reject([{"verb": "dial", "target": value}])
        assert err.reason.startswith("property 'target' must be an array of target")
    err = reject([{"verb": "dial", "target": [None]}])
    assert (err.reason, err.path) == ("missing required property 'type'", "dial.target[0].type")
    assert prop_ok("dial", "target", [], dub=[{"action": "addTrack", "track": "a"}])


def test_enum_only_for_string_type() -> None:
    for value in _vals("sdes", "dtls"):
        assert prop_ok("dial", "srtpEncryption", value, target=[])
    for value in _vals("SDES", None, 1, ["sdes"]):
        assert not prop_ok("dial", "srtpEncryption", value, target=[])


def _synthetic(type_spec: object, value: object) -> bool:
    """Verdict for one property of a made-up spec entry (forms the real table lacks)."""
    from jbtrio.verbs._spec09 import _compile

    spec = _compile({"x": {"properties": {"p": type_spec}}, "y": {"properties": {}}})["x"]
    try:
        spec.check({"p": value}, "x", 1)
    except VerbError:
        return False
    return True


def test_object_spec_without_string_enum_accepts_anything() -> None:
    for type_spec in (
        {"type": "string"},
        {"type": "number"},
        {"type": "object", "enum": ["a"]},
        {"type": "string", "enum": ""},
    ):
        for value in _vals(1, None, [], {}, "x", True):
            assert _synthetic(type_spec, value), (type_spec, value)


def test_specs_jambonz_cannot_read_reject_any_value() -> None:
    for type_spec in (
        "integer",
        "string ",
        ["string"],
        [],
        {"type": "array"},
        {},
        {"type": "string", "enum": "a"},
        {"type": "string", "enum": []},
    ):
        for value in _vals(1, None, [], {}, "x"):
            assert not _synthetic(type_spec, value), (type_spec, value)


def test_synthetic_enum_members_compare_like_includes() -> None:
    enum = {"type": "string", "enum": ["a", 1, True, None, [1], {}]}
    for value in _vals("a", 1, 1.0, True, None):
        assert _synthetic(enum, value), value
    for value in _vals("1", False, 0, [1], {}, "A"):
        assert not _synthetic(enum, value), value
    assert not _synthetic({"type": "string", "enum": [1]}, True)


def test_synthetic_list_and_union_forms() -> None:
    assert _synthetic(["#y", "ignored"], [{}])
    assert _synthetic("array|number", 1)
    assert _synthetic("array|number", [])
    assert not _synthetic("array|number", {})
    assert _synthetic(" object | string ", None)
    assert not _synthetic("undefined|function", 1)
    assert not _synthetic("#nope", {})
    assert not _synthetic("#nope", None)


def test_unsupported_object_spec_types_reject_any_value() -> None:
    for value in _vals(["music"], [], None, "music", 0):
        with pytest.raises(VerbError, match="can never be valid"):
            validate_component("sm_audioEventsConfig", {"types": value})
        with pytest.raises(VerbError, match="can never be valid"):
            validate_component("noiseIsolationPipeline", {"direction": value})
    validate_component("sm_audioEventsConfig", {})


def test_undefined_reference_root() -> None:
    server = {"url": "https://mcp"}
    for roots in _vals([], ""):
        validate_component("mcpServer", {**server, "roots": roots})
    for roots in _vals([{}], [None], "a"):
        with pytest.raises(VerbError, match="no spec named 'root'"):
            validate_component("mcpServer", {**server, "roots": roots})
    with pytest.raises(VerbError, match="must be an array of root"):
        validate_component("mcpServer", {**server, "roots": {}})


def test_underscore_key() -> None:
    validate([{"verb": "say", "_": {"anything": [1, 2]}}])
    validate([{"verb": "say", "_": 5}])
    validate([{"verb": "enqueue", "name": "q", "_": {}}])  # declared there as "object"
    err = reject([{"verb": "enqueue", "name": "q", "_": 5}])
    assert err.path == "enqueue._"


@pytest.mark.parametrize(
    "key", ["toString", "constructor", "__proto__", "hasOwnProperty", "valueOf"]
)
def test_prototype_keys_are_unknown_properties(key: str) -> None:
    assert reject([{"verb": "say", key: "x"}]).reason == f"unknown property {key!r}"
    assert reject([{"say": {key: {}}}]).reason == f"unknown property {key!r}"
    assert reject([{"verb": key}]).reason == f"unknown verb {key!r}"


def test_non_string_keys_are_unknown() -> None:
    assert reject([{"verb": "say", 1: "x"}]).reason == "unknown property 1"


def test_values_json_cannot_carry() -> None:
    for value in _vals(b"x", {1}, object()):
        err = reject([{"verb": "say", "text": value}])
        assert "cannot be sent to jambonz as JSON" in err.reason
        assert err.path == "say.text"
    err = reject([{"verb": "gather", "say": object()}])
    assert err.path == "gather.say"


# --- depth -----------------------------------------------------------------------------------


def test_deep_free_form_data_is_not_walked() -> None:
    deep: Any = "x"
    for _ in range(100_000):
        deep = {"k": [deep]}
    validate([{"verb": "tag", "data": deep}])


def test_deeply_nested_verb_name() -> None:
    name: Any = "say"
    for _ in range(100_000):
        name = [name]
    validate([{"verb": name}])
    name = [name, 1]
    assert reject([{"verb": name}]).reason.startswith("unknown verb")


def test_depth_limit_raises_verb_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import jbtrio.verbs._spec09 as module

    monkeypatch.setattr(module, "MAX_DEPTH", 2)
    payload = [{"verb": "gather", "say": {"synthesizer": {"vendor": "google"}}}]
    err = reject(payload)
    assert err.reason == "nesting deeper than 2 levels"
    assert err.path == "gather.say.synthesizer"
    assert MAX_DEPTH >= 8  # the real limit is above the spec table's deepest nesting (7)
