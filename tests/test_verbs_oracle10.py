"""jbtrio's validator agrees with jambonz 10.x/11.x's own on every payload of the recorded corpus.

``tests/data/verb_oracle10_corpus.jsonl`` holds the verdicts of ``validate(logger, verbs)`` of
the real npm package ``@jambonz/schema`` 0.4.15 (recorded by
``tools/gen_verb_oracle10_corpus.py``), so this test needs no node. Lines marked ``strict``
are where jbtrio differs on purpose (see the generator's docstring).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from jbtrio import VerbError
from jbtrio.verbs import VERB_ALIASES, validate
from jbtrio.verbs._schema import MIN_VERSIONS

CORPUS = Path(__file__).parent / "data" / "verb_oracle10_corpus.jsonl"


def _load() -> list[dict[str, Any]]:
    with CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


ENTRIES = _load()


def _accepts(payload: Any) -> bool:
    try:
        validate(payload, jambonz="11")
    except VerbError:
        return False
    return True


def _names(entry: dict[str, Any]) -> set[str]:
    payload = entry["payload"]
    elements = payload if isinstance(payload, list) else [payload]
    names = set()
    for element in elements:
        if isinstance(element, dict) and isinstance(element.get("verb"), str):
            names.add(element["verb"])
        elif isinstance(element, dict) and len(element) == 1:
            names.add(next(iter(element)))
    return names


def test_corpus_is_substantial_and_covers_every_verb() -> None:
    assert len(ENTRIES) >= 8000
    assert sum(e["ok"] for e in ENTRIES) >= 1000
    accepted: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for entry in ENTRIES:
        for name in _names(entry):
            (accepted if entry["ok"] else refused)[name] += 1
    every_verb = set(MIN_VERSIONS) | set(VERB_ALIASES)
    assert every_verb <= set(accepted), every_verb - set(accepted)
    assert every_verb <= set(refused), every_verb - set(refused)


def test_agrees_with_jambonz_on_every_unmarked_payload() -> None:
    disagreements = [
        (e["payload"], e["ok"], e.get("error"))
        for e in ENTRIES
        if "strict" not in e and _accepts(e["payload"]) != e["ok"]
    ]
    assert disagreements == [], f"{len(disagreements)} disagreements, first: {disagreements[:3]}"


def test_fragment_names_are_unknown_verbs() -> None:
    marked = [e for e in ENTRIES if e.get("strict") == "fragment_name"]
    assert marked
    assert any(e["ok"] for e in marked)  # jambonz's lookup resolves some of them
    for entry in marked:
        with pytest.raises(VerbError, match="unknown verb"):
            validate(entry["payload"], jambonz="11")


def test_single_element_is_judged_as_a_one_element_list() -> None:
    marked = [e for e in ENTRIES if e.get("strict") == "single_element"]
    assert marked
    for entry in marked:
        assert not entry["ok"]  # jambonz: "must be array"
        assert _accepts(entry["payload"]) == _accepts([entry["payload"]])
