"""jbtrio's 0.9 validator agrees with jambonz 0.9's own on every payload of the recorded corpus.

``tests/data/verb_oracle_corpus.jsonl`` holds the verdicts of the real npm package
``@jambonz/verb-specifications`` 0.1.13 (recorded by ``tools/gen_verb_oracle_corpus.py``), so
this test needs no node. Lines marked ``strict`` are where jbtrio is stricter on purpose (see
the generator's docstring); for top-level components the npm verdict is still checked, against
the component spec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jbtrio import VerbError
from jbtrio.verbs import validate, validate_component

CORPUS = Path(__file__).parent / "data" / "verb_oracle_corpus.jsonl"


def _load() -> list[dict[str, Any]]:
    with CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


ENTRIES = _load()


def _accepts(payload: Any) -> bool:
    try:
        validate(payload, jambonz="0.9")
    except VerbError:
        return False
    return True


def _split(element: dict[str, Any]) -> tuple[str, Any]:
    if "verb" in element:
        name, data = element["verb"], {k: v for k, v in element.items() if k != "verb"}
    else:
        ((name, data),) = element.items()
    while isinstance(name, list):  # JS stringifies ["x"] to "x"
        (name,) = name
    return name, data


def test_corpus_is_substantial() -> None:
    assert len(ENTRIES) >= 3000
    verdicts = {e["ok"] for e in ENTRIES}
    assert verdicts == {True, False}
    assert sum(e["ok"] for e in ENTRIES) >= 500


def test_agrees_with_jambonz_on_every_unmarked_payload() -> None:
    disagreements = [
        (e["payload"], e["ok"], e.get("error"))
        for e in ENTRIES
        if "strict" not in e and _accepts(e["payload"]) != e["ok"]
    ]
    assert disagreements == [], f"{len(disagreements)} disagreements, first: {disagreements[:3]}"


def test_top_level_components_are_rejected_but_their_data_judged_like_jambonz() -> None:
    marked = [e for e in ENTRIES if e.get("strict") == "top_level_component"]
    assert len(marked) >= 100
    for entry in marked:
        (element,) = entry["payload"]
        name, data = _split(element)
        with pytest.raises(VerbError, match="unknown verb") as info:
            validate(entry["payload"], jambonz="0.9")
        assert info.value.index == 0
        try:
            validate_component(name, data, jambonz="0.9")
        except VerbError:
            accepted = False
        else:
            accepted = True
        assert accepted == entry["ok"], entry


def test_proto_key_in_verb_form_is_an_unknown_property() -> None:
    marked = [e for e in ENTRIES if e.get("strict") == "proto_key"]
    assert marked
    for entry in marked:
        with pytest.raises(VerbError, match="unknown property '__proto__'"):
            validate(entry["payload"], jambonz="0.9")
