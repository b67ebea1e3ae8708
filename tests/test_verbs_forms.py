"""The two wire forms of a verb, read by one helper everywhere (jbtrio.verbs)."""

from typing import Any

import pytest

from jbtrio.verbs import Say, canonical_verb, verb_body, verb_name


@pytest.mark.parametrize(
    ("verb", "name"),
    [
        ({"verb": "say", "text": "hi"}, "say"),
        ({"say": {"text": "hi"}}, "say"),
        ({"openai_s2s": {"model": "x"}}, "openai_s2s"),  # an alias stays as written
        ({"verb": "sip:refer", "referTo": "x"}, "sip:refer"),
        ({"text": "hi", "loop": 2}, None),  # neither form
        ({"verb": 7}, None),
        ({}, None),
    ],
)
def test_verb_name(verb: dict[str, Any], name: str | None) -> None:
    assert verb_name(verb) == name


def test_verb_body_is_the_verbs_own_properties() -> None:
    flat = {"verb": "say", "text": "hi"}
    assert verb_body(flat) is flat
    inner = {"text": "hi"}
    nested = {"say": inner}
    assert verb_body(nested) is inner
    verb_body(nested)["id"] = "v1"  # the same object: what is set travels with the verb
    assert nested == {"say": {"text": "hi", "id": "v1"}}
    built = Say(text="hi").to_dict()
    assert verb_body(built) is built


@pytest.mark.parametrize("verb", [{"say": "hi"}, {"a": {}, "b": {}}, {}])
def test_a_mapping_in_neither_form_is_its_own_body(verb: dict[str, Any]) -> None:
    assert verb_body(verb) is verb


def test_canonical_verb() -> None:
    assert canonical_verb("openai_s2s") == ("llm", "openai")
    assert canonical_verb("s2s") == ("llm", None)
    assert canonical_verb("say") == ("say", None)
    assert canonical_verb("not-a-verb") == ("not-a-verb", None)
