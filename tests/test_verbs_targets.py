"""Validation per target jambonz: "0.9", "10", "11" (the default), and the shipped schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jbtrio import VerbError
from jbtrio.verbs import (
    DEFAULT_JAMBONZ,
    JAMBONZ_VERSIONS,
    VERB_ALIASES,
    Say,
    Synthesizer,
    _schema,
    _spec09,
    validate,
    validate_component,
    validate_verb,
)

SCHEMA_DIR = Path(_schema.__file__).parent / "data" / "jambonz-schema"


def _reject(payload: object, jambonz: Any) -> VerbError:
    with pytest.raises(VerbError) as info:
        validate(payload, jambonz=jambonz)
    return info.value


def test_targets() -> None:
    assert JAMBONZ_VERSIONS == ("0.9", "10", "11")
    assert DEFAULT_JAMBONZ == "11"
    with pytest.raises(ValueError, match=r"jambonz must be one of '0\.9', '10', '11', got '9'"):
        validate([], jambonz="9")  # type: ignore[arg-type]


def test_shipped_schema_matches_the_constants() -> None:
    package = json.loads((SCHEMA_DIR / "package.json").read_text("utf-8"))
    assert (package["name"], package["version"]) == ("@jambonz/schema", _schema.SCHEMA_VERSION)
    assert package["license"] == "MIT"
    assert (SCHEMA_DIR / "LICENSE").is_file()
    found = {}
    for path in (SCHEMA_DIR / "verbs").glob("*.schema.json"):
        schema = json.loads(path.read_text("utf-8"))
        name = schema["$id"].rsplit("/", 1)[-1]
        parts = schema.get("minVersion", "0.0.0").split(".")
        found[name] = (int(parts[0]), int(parts[1]), int(parts[2]))
    assert found == dict(_schema.MIN_VERSIONS)
    assert set(_spec09.ALIASES) < set(VERB_ALIASES)
    assert set(VERB_ALIASES) - set(_spec09.ALIASES) <= _spec09.NEWER_VERBS
    new_names = set(_schema.MIN_VERSIONS) | set(VERB_ALIASES)
    assert new_names - _spec09.EXECUTABLE_VERBS - set(_spec09.ALIASES) == _spec09.NEWER_VERBS


def test_default_target_is_the_current_schema() -> None:
    validate([{"verb": "agent", "llm": {"vendor": "openai"}}])
    validate([{"verb": "say", "text": "hi", "notInTheSchema": 1}])  # 10.x/11.x allow it
    assert _reject([{"verb": "say", "text": "hi", "notInTheSchema": 1}], "0.9").reason == (
        "unknown property 'notInTheSchema'"
    )


def test_newer_verbs_are_refused_with_the_reason() -> None:
    err = _reject([{"verb": "say"}, {"verb": "agent"}], "0.9")
    assert err.index == 1
    assert err.reason == (
        "unknown verb 'agent': jambonz 0.9 does not have it, 10.x/11.x do "
        "(the target is jambonz='0.9')"
    )
    gptlive = {"verb": "gptlive_s2s", "auth": {"apiKey": "k"}, "llmOptions": {"session_update": {}}}
    validate([gptlive], jambonz="11")
    err = _reject([gptlive], "10")
    assert (
        err.reason
        == "verb 'gptlive_s2s' needs jambonz 11.1.0 or newer (the target is jambonz='10')"
    )
    assert _reject([{"gptlive_s2s": gptlive}], "10").reason.startswith("verb 'gptlive_s2s' needs")
    for jambonz in ("10", "11"):
        validate([{"verb": "transfer", "mode": "blind", "target": [{"type": "user", "name": "a"}]}],
                 jambonz=jambonz)  # fmt: skip
    assert _reject([{"verb": "lex"}], "11").reason == "unknown verb 'lex'"
    assert _reject([{"verb": "pipeline"}], "10").reason == "unknown verb 'pipeline'"


def test_normalisation_of_the_current_schema() -> None:
    # aliases: canonical verb, vendor preset that the app's own vendor overrides
    validate([{"verb": "stream", "url": "wss://x"}, {"stream": {"url": "wss://x"}}])
    validate([{"verb": "qwen_s2s", "llmOptions": {}}])
    err = _reject([{"verb": "openai_s2s", "vendor": 5, "llmOptions": {}}], "11")
    assert (err.index, err.path) == (0, "openai_s2s.vendor")
    # a non-string name skips the alias table: openai_s2s's own schema wants vendor "openai"
    validate([{"verb": ["openai_s2s"], "llmOptions": {}}])
    assert _reject([{"verb": ["openai_s2s"], "vendor": "x", "llmOptions": {}}], "11")
    # the legacy form: a string spreads its indices, a "verb" key overrides the name
    validate([{"say": "hello"}, {"hangup": None}])
    assert _reject([{"say": {"verb": "play", "url": "x"}}], "11").path == "say.verb"
    validate([{"conference": {"verb": "room", "name": "x"}}])
    # malformed lists
    assert _reject([["say"]], "11").reason == "unknown verb '0'"
    assert _reject([[]], "11").reason == "malformed jambonz payload: missing verb property"
    assert _reject([5], "11").reason == "malformed jambonz payload: must be array of objects"
    assert _reject(5, "11").reason == "malformed jambonz payload: must be array"
    # a "#" fragment never names a verb here (Ajv's lookup would resolve it)
    assert _reject([{"verb": "agent#/$defs/llmMessage", "role": "user", "content": 1}], "11")


def test_python_values_are_judged_as_their_json() -> None:
    validate([{"verb": "say", "synthesizer": Synthesizer(vendor="google")}])
    validate([{"verb": "dial", "target": ({"type": "phone", "number": "+1"},)}])
    err = _reject([{"verb": "say", "text": {1, 2}}], "11")
    assert err.reason == "value of type set cannot be sent to jambonz as JSON"
    assert err.path == "say"
    err = _reject([{"verb": "say", "text": {1: "x"}}], "11")
    assert err.reason == "object key 1 is not a string"
    # like jambonz, the schema does not look inside free-form objects (the encoder does)
    validate([{"verb": "tag", "data": {"k": {1, 2}}}])
    deep: Any = "x"
    for _ in range(10_000):
        deep = [deep]
    validate([{"verb": "tag", "data": {"deep": deep}}])
    # an error report deeper than jsonschema-rs's recursion limit is still a VerbError
    err = _reject([{"verb": "tag", "data": deep}], "11")
    assert err.reason == "cannot be validated: Recursion limit reached"


def test_validate_verb_and_component_per_target() -> None:
    validate_verb("agent", {})
    with pytest.raises(VerbError, match="unknown verb 'agent'"):
        validate_verb("agent", {}, jambonz="0.9")
    validate_component("recognizer-deepgramOptions", {"model": "nova-3"})
    with pytest.raises(VerbError, match="unknown component schema"):
        validate_component("sm_transcriptionConfig", {})
    validate_component("sm_transcriptionConfig", {}, jambonz="0.9")
    with pytest.raises(VerbError, match='"vendor" is a required property') as info:
        validate_component("synthesizer", {})
    assert info.value.path == "synthesizer"


def test_builders_are_not_checked_again_for_a_known_target() -> None:
    say = Say(text="hi")
    object.__setattr__(say, "_jbtrio_fields", {"text": 5})  # only a re-check would see this
    validate([say, say])
    validate(say, jambonz="10")
    with pytest.raises(VerbError) as info:
        validate([{"verb": "hangup"}, say], jambonz="0.9")
    assert (info.value.index, info.value.path) == (1, "say.text")
