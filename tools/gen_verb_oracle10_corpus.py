"""Record jambonz 10.x/11.x's verdicts on verb lists in tests/data/verb_oracle10_corpus.jsonl.

Usage (needs node and ``npm install`` in ``tools/verb_oracle10``)::

    .venv/bin/python tools/gen_verb_oracle10_corpus.py [--examples 2500]

Each payload is judged by ``tools/verb_oracle10/oracle.js``, which runs ``validate(logger,
verbs)`` of the real ``@jambonz/schema`` 0.4.15 (normalisation, then Ajv per verb): the check
jambonz 10.x/11.x applies to an app's verbs. ``tests/test_verbs_oracle10.py`` then asserts
that ``jbtrio.verbs.validate(payload, jambonz="11")`` agrees on every line without node.

Payloads come from three sources: hand-written cases for every normalisation rule (both verb
forms, aliases and their vendor presets, non-string names, malformed elements); a systematic
matrix (each verb's minimal valid object and the schema's own examples, then every property
reachable within three levels - through ``$ref``, ``allOf``, ``oneOf`` branches and array
items - set to a pool of JSON values, to each enum member and const, and to a near miss,
plus each required property left out and an unknown key added); and Hypothesis-drawn payloads
shaped by the schema (``fuzz/target_validate_schema.py``).

Each line is ``{"payload": ..., "ok": bool, "error": str|null}`` plus, where jbtrio is
deliberately stricter, a ``"strict"`` marker saying why:

* ``"single_element"``: a bare verb object instead of a list. jambonz requires an array;
  jbtrio's ``validate`` takes one element as a one-element list (as it does for 0.9), so the
  test checks jbtrio's verdict against its own verdict on ``[payload]``.
* ``"fragment_name"``: a verb name with a ``#`` fragment (``"agent#/$defs/llmMessage"``),
  which Ajv's schema lookup resolves to a sub-schema; no server runs such a verb, and jbtrio
  rejects it as an unknown verb.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fuzz.target_validate_schema import (  # noqa: E402
    RESOLVER,
    SCHEMAS,
    VERB_NAMES,
    schema_payloads,
)
from jbtrio.verbs._schema import ALIASES, BASE_URI  # noqa: E402

ORACLE_DIR = ROOT / "tools" / "verb_oracle10"
CORPUS = ROOT / "tests" / "data" / "verb_oracle10_corpus.jsonl"
VERB_URI = BASE_URI + "verbs/"
MAX_DEPTH = 3

VALUE_POOL: tuple[Any, ...] = (None, True, 0, 1.5, "", "x", [], ["x"], {}, {"a": 1})
#: The smaller pool for properties three levels down, where the forms repeat most.
DEEP_POOL: tuple[Any, ...] = (None, "x", {})


def minimal(schema: Any, base: str, depth: int = 0) -> Any:
    """The smallest value that should satisfy ``schema`` (the oracle has the last word)."""
    schema, base = RESOLVER.resolve(schema, base)
    if not isinstance(schema, dict) or depth > 8:
        return {}
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return minimal(schema[key][0], base, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if kind in (None, "object"):
        props, required = RESOLVER.properties(schema, base)
        return {r: minimal(*props[r], depth + 1) for r in required if r in props and r != "verb"}
    if kind == "array":
        count = schema.get("minItems", 0)
        return [minimal(schema.get("items", {}), base, depth + 1) for _ in range(count)]
    low = schema.get("minimum", 1)
    samples = {"string": "x", "integer": int(low), "number": low, "boolean": True, "null": None}
    return samples.get(kind, {})


def paths(schema: Any, base: str, depth: int) -> Iterator[tuple[tuple[str | int, ...], Any, str]]:
    """Every (path, subschema, base) reachable from an object schema within ``depth`` levels."""
    if depth <= 0:
        return
    schema, base = RESOLVER.resolve(schema, base)
    if not isinstance(schema, dict):
        return
    branches = [schema] + [b for k in ("oneOf", "anyOf") for b in schema.get(k, [])]
    for branch in branches:
        props, _ = RESOLVER.properties(branch, base)
        for name, (sub, sub_base) in sorted(props.items()):
            if name == "verb":
                continue
            yield (name,), sub, sub_base
            for rest, inner, inner_base in paths(sub, sub_base, depth - 1):
                yield (name, *rest), inner, inner_base
        resolved, items_base = RESOLVER.resolve(branch, base)
        if isinstance(resolved, dict) and isinstance(resolved.get("items"), dict):
            for rest, inner, inner_base in paths(resolved["items"], items_base, depth - 1):
                yield (0, *rest), inner, inner_base


def set_path(obj: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """A copy of ``obj`` with ``value`` at ``path``, creating dicts and lists on the way."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(obj) if isinstance(obj, list) and obj else [{}]
        items[0] = set_path(items[0], rest, value)
        return items
    holder = dict(obj) if isinstance(obj, dict) else {}
    holder[head] = set_path(holder.get(head, {}), rest, value)
    return holder


def values_for(schema: Any, base: str, pool: tuple[Any, ...] = VALUE_POOL) -> list[Any]:
    """The pool plus what this subschema names: enum members, const, a near miss, minimal."""
    schema, base = RESOLVER.resolve(schema, base)
    extra: list[Any] = []
    if isinstance(schema, dict):
        for member in schema.get("enum", []) or []:
            extra.append(member)
            if isinstance(member, str):
                extra.append(member.upper() + " ")
        if "const" in schema:
            extra.append(schema["const"])
        for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
            extra.append(minimal(branch, base))
        extra.append(minimal(schema, base))
    return [*pool, *extra]


def verb_base(name: str) -> tuple[dict[str, Any], str]:
    """The minimal data of verb ``name`` (without ``verb``) and the schema URI it is checked by."""
    canonical, vendor = ALIASES.get(name, (name, None))
    uri = VERB_URI + canonical
    data = minimal({"$ref": uri}, uri)
    assert isinstance(data, dict)
    if vendor is not None:
        data.pop("vendor", None)
    return data, uri


def matrix() -> Iterator[list[Any]]:
    seen_forms: set[str] = set()
    for name in VERB_NAMES:
        base, uri = verb_base(name)
        yield [{"verb": name, **base}]
        yield [{name: base}]
        yield [{"verb": name}]
        yield [{"verb": name, **base, "bogusProperty": 1}]
        _, required = RESOLVER.properties({"$ref": uri}, uri)
        for prop in required:
            yield [{"verb": name, **{k: v for k, v in base.items() if k != prop}}]
        schema_doc = SCHEMAS.get(VERB_URI + name, {})
        for example in schema_doc.get("examples", []):
            if isinstance(example, dict):
                yield [example]
                yield [{name: {k: v for k, v in example.items() if k != "verb"}}]
        for path, sub, sub_base in paths({"$ref": uri}, uri, MAX_DEPTH):
            # a form seen under another verb is covered there; aliases share their canonical's
            form = json.dumps([path[-1], RESOLVER.resolve(sub, sub_base)[0]], sort_keys=True)
            if form in seen_forms and name in ALIASES:
                continue
            first_time = form not in seen_forms
            seen_forms.add(form)
            values = values_for(sub, sub_base, VALUE_POOL if len(path) < MAX_DEPTH else DEEP_POOL)
            for value in values if first_time else values[-2:]:
                data = set_path(base, path, value)
                yield [{"verb": name, **data}]


def hand_cases() -> Iterator[tuple[Any, str | None]]:
    """Normalisation rules of @jambonz/schema's validate(), one by one."""
    scalars: tuple[Any, ...] = (None, 5, "x", True, "[]")
    for payload in scalars:
        yield payload, None
    singles: tuple[Any, ...] = ({}, {"verb": "say"}, {"verb": "say", "text": 5}, {"hangup": {}})
    for single in singles:
        yield single, "single_element"
    yield [], None
    elements: tuple[Any, ...] = (None, 5, "x", True, [], [1], ["say"], [[]], {}, {"a": {}, "b": {}})
    for element in elements:
        yield [element], None
    for verb in (["say"], [["say"]], [[["hangup"]]], ["stream"], ["say", "x"], [], 5, None):
        yield [{"verb": verb}], None
    yield [{"verb": {"a": 1}}], None
    yield [{"verb": True}], None
    for alias in sorted(ALIASES):
        yield [{"verb": [alias], "llmOptions": {}}], None
        yield [{"verb": [alias], "url": "wss://x"}], None
        yield [{"verb": [alias], "vendor": "x", "llmOptions": {}}], None
    datas: tuple[Any, ...] = (None, 5, 0, "", "x", "ab", [], [1], True, {}, {"text": "hi"})
    for data in datas:
        for name in ("say", "pause", "openai_s2s", "s2s", "hangup", "agent", "gptlive_s2s"):
            yield [{name: data}], None
    for alias in sorted(ALIASES):
        yield [{"verb": alias}], None
        yield [{"verb": alias, "url": "wss://x"}], None
        yield [{"verb": alias, "llmOptions": {}}], None
        yield [{"verb": alias, "vendor": "x", "llmOptions": {}}], None
        yield [{"verb": alias, "vendor": 5, "llmOptions": {}}], None
        yield [{alias: {"llmOptions": {}}}], None
        yield [{alias: {"vendor": "other", "llmOptions": {}}}], None
        yield [{alias: {"url": "wss://x"}}], None
    # a "verb" key inside the legacy form's data overrides the name the schema sees
    yield [{"say": {"verb": "play", "url": "x"}}], None
    yield [{"say": {"verb": "say", "text": "x"}}], None
    yield [{"conference": {"verb": "room", "name": "x"}}], None
    yield [{"room": {"verb": "conference", "name": "x"}}], None
    yield [{"openai_s2s": {"verb": "openai_s2s", "llmOptions": {}}}], None
    yield [{"stream": {"verb": "listen", "url": "wss://x"}}], None
    for key in ("toString", "constructor", "hasOwnProperty", "valueOf", "__proto__"):
        yield [{"verb": "say", key: "x"}], None
        yield [{"say": {key: 1}}], None
        yield [{key: {}}], None
        yield [{"verb": key}], None
        yield [{"verb": "say", "synthesizer": {"vendor": "x", key: 1}}], None
        yield [{"verb": "gather", "recognizer": {"vendor": "x", "awsOptions": {key: 1}}}], None
    protos: tuple[Any, ...] = ({"text": "hi"}, {"bogus": 1}, 5, "x", None, [], {"length": 1})
    for value in protos:
        yield [{"verb": "say", "__proto__": value}], None
        yield [{"verb": "pause", "__proto__": value}], None
    for name in ("./say", "say#", "SAY", "say ", "verbs/say", "../verbs/say", "s%61y"):
        yield [{"verb": name, "text": "x"}], None
    fragments: tuple[tuple[str, dict[str, Any]], ...] = (
        ("agent#/$defs/llmMessage", {"role": "user", "content": 1}),
        ("agent#/properties/llm/properties/auth", {}),
        ("say#/properties/text", {}),
        ("room#", {"name": "x"}),
    )
    for name, data in fragments:
        yield [{"verb": name, **data}], "fragment_name"
    yield [{"verb": "say"}, {"verb": "sya"}, {"verb": "hangup"}], None
    yield [{"verb": "say", "text": "a"}, {"verb": "say", "text": 1}], None
    yield [{"verb": "pipeline", "llm": {"vendor": "v", "llmOptions": {}}}], None
    yield [{"verb": "lex", "botId": "b", "botAlias": "a", "region": "r"}], None
    yield [{"verb": "rasa", "url": "http://x"}], None
    # numbers as JSON carries them: integers, floats with no fraction, big and negative
    numbers: tuple[Any, ...] = (0, 1, 1.0, 2.5, -1, 10**20, 1e20, True)
    for value in numbers:
        yield [{"verb": "pause", "length": value}], None
        yield [{"verb": "agent", "llm": {"llmOptions": {"maxTokens": value}}}], None
    # the transfer/handoff conditionals (voicemail needs voicemailUrl)
    target = [{"type": "phone", "number": "+15550100"}]
    dispositions: tuple[dict[str, Any], ...] = (
        {"onNoAnswer": "voicemail"},
        {"onNoAnswer": "voicemail", "voicemailUrl": "https://x/vm"},
        {"onBusy": "voicemail"},
        {"onDecline": "hangup", "onFailure": "voicemail"},
        {"onFailure": "return"},
        {},
    )
    for disposition in dispositions:
        yield (
            [{"verb": "transfer", "mode": "warm", "target": target, "disposition": disposition}],
            None,
        )
        yield (
            [
                {
                    "verb": "agent",
                    "handoff": {"mode": "blind", "target": target, "disposition": disposition},
                }
            ],
            None,
        )
    fillers: tuple[Any, ...] = (False, True, {"type": "audio"}, {"type": "audio", "url": "u"})
    for filler in fillers:
        yield [{"verb": "agent", "toolFiller": filler}], None
    gptlive = {"auth": {"apiKey": "k"}}
    extras: tuple[dict[str, Any], ...] = (
        {"llmOptions": {"session_update": {}}},
        {"llmOptions": {"session_update": {"model": "m"}}},
        {"llmOptions": {"session_update": {}}, "hangup": {}},
        {
            "llmOptions": {
                "session_update": {"delegation": {"type": "responses", "responses": {"model": "m"}}}
            },
            "hangup": {},
        },
        {"llmOptions": {"session_update": {"delegation": {"type": "responses"}}}},
        {"llmOptions": {"session_update": {"delegation": {"type": "client", "tools": []}}}},
    )
    for extra in extras:
        yield [{"verb": "gptlive_s2s", **gptlive, **extra}], None
        yield [{"verb": ["gptlive_s2s"], **gptlive, **extra}], None


def hypothesis_payloads(count: int) -> list[Any]:
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(schema_payloads(), schema_payloads(), schema_payloads()))
    def collect(payload: Any) -> None:
        drawn.append(payload)

    collect()
    return drawn


def strict_marker(payload: Any) -> str | None:
    if isinstance(payload, dict):
        return "single_element"
    if not isinstance(payload, list):
        return None
    for element in payload:
        name = element.get("verb") if isinstance(element, dict) else None
        if isinstance(name, str) and "#" in name:
            return "fragment_name"
    return None


def run_oracle(payloads: list[Any]) -> list[dict[str, Any]]:
    if not (ORACLE_DIR / "node_modules").is_dir():
        sys.exit(f"run `npm install` in {ORACLE_DIR} first")
    text = "".join(json.dumps(p) + "\n" for p in payloads)
    result = subprocess.run(
        ["node", "oracle.js"],
        cwd=ORACLE_DIR,
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(verdicts) == len(payloads), (len(verdicts), len(payloads))
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=2500, help="Hypothesis examples")
    args = parser.parse_args()

    entries: list[tuple[Any, str | None]] = list(hand_cases())
    entries += [(p, strict_marker(p)) for p in matrix()]
    entries += [(p, strict_marker(p)) for p in hypothesis_payloads(args.examples)]

    unique: dict[str, tuple[Any, str | None]] = {}
    for payload, marker in entries:
        unique.setdefault(json.dumps(payload, sort_keys=True), (copy.deepcopy(payload), marker))
    payloads = [p for p, _ in unique.values()]
    verdicts = run_oracle(payloads)

    CORPUS.parent.mkdir(parents=True, exist_ok=True)
    with CORPUS.open("w", encoding="utf-8") as out:
        for (payload, marker), verdict in zip(unique.values(), verdicts, strict=True):
            line: dict[str, Any] = {"payload": payload, "ok": verdict["ok"]}
            if verdict["error"] is not None:
                line["error"] = verdict["error"][:120]
            if marker is not None:
                line["strict"] = marker
            out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    accepted = sum(v["ok"] for v in verdicts)
    print(f"{len(payloads)} payloads ({accepted} accepted) -> {CORPUS.relative_to(ROOT)}")
    print(f"{CORPUS.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
