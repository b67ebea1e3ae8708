"""Record jambonz's verdicts on a few thousand verb lists in tests/data/verb_oracle_corpus.jsonl.

Usage (needs node and ``npm install`` in ``tools/verb_oracle``)::

    .venv/bin/python tools/gen_verb_oracle_corpus.py [--examples 2500]

Payloads come from three sources: hand-written edge cases for every rule of jambonz's validator,
a systematic matrix (every distinct property type form of the spec table x a pool of JSON
values, each embedded inside a valid verb along the shortest route from an executable verb,
or sent as a top-level component when no executable verb reaches it), and Hypothesis-generated
verb-like payloads (``fuzz/target_validate.py``). Each one is judged by
``tools/verb_oracle/oracle.js``, which runs the real ``@jambonz/verb-specifications`` 0.1.13.
The test ``tests/test_verbs_oracle.py`` then asserts that jbtrio agrees on every line without
needing node.

Each line is ``{"payload": ..., "ok": bool, "error": str|null}`` plus, where jbtrio is
deliberately stricter than the npm package, a ``"strict"`` marker saying why:

* ``"top_level_component"``: a single element naming a component or ``pipeline``. npm accepts
  the name; feature-server cannot run it and jbtrio rejects it. ``ok`` is npm's verdict on the
  data, which the test checks with ``validate_component``.
* ``"proto_key"``: a ``__proto__`` key in the ``{"verb": ...}`` form, which jambonz assigns as
  the object's prototype instead of a property; jbtrio rejects it as an unknown property.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fuzz.target_validate import (  # noqa: E402
    SPECS,
    component_payloads,
    json_values,
    verb_payloads,
)
from jbtrio.verbs import EXECUTABLE_VERBS  # noqa: E402
from jbtrio.verbs._spec09 import ALIASES as VERB_ALIASES  # noqa: E402

ORACLE_DIR = ROOT / "tools" / "verb_oracle"
CORPUS = ROOT / "tests" / "data" / "verb_oracle_corpus.jsonl"

VALUE_POOL: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    "",
    "x",
    "ab",
    [],
    [1],
    ["x"],
    [{}],
    [None],
    {},
    {"a": 1},
    {"_": 1},
)


def minimal(name: str) -> dict[str, Any]:
    """The smallest dict that should satisfy spec ``name`` (the oracle has the last word)."""
    entry = SPECS[name]
    return {p: minimal_value(entry["properties"][p]) for p in entry.get("required", [])}


def minimal_value(type_spec: Any) -> Any:
    if isinstance(type_spec, list):
        return []
    if isinstance(type_spec, dict):
        enum = type_spec.get("enum")
        return enum[0] if isinstance(enum, list) and enum else "x"
    if "|" in type_spec:
        return minimal_value(type_spec.split("|")[0].strip())
    if type_spec.startswith("#"):
        return minimal(type_spec[1:]) if type_spec[1:] in SPECS else {}
    return {"string": "x", "number": 1, "boolean": True, "object": {}, "array": []}[type_spec]


def routes() -> dict[str, list[tuple[str, str, bool]]]:
    """For each spec entry, a path from an executable verb: [(holder, property, is_list)]."""
    found: dict[str, list[tuple[str, str, bool]]] = {v: [] for v in EXECUTABLE_VERBS}
    queue = deque(sorted(EXECUTABLE_VERBS))
    while queue:
        holder = queue.popleft()
        for prop, type_spec in SPECS[holder]["properties"].items():
            if isinstance(type_spec, list):
                target, is_list = type_spec[0][1:], True
            elif isinstance(type_spec, str) and type_spec.startswith("#"):
                target, is_list = type_spec[1:], False
            else:
                continue
            if target in SPECS and target not in found:
                found[target] = [*found[holder], (holder, prop, is_list)]
                queue.append(target)
    return found


def embed(name: str, obj: dict[str, Any], route: list[tuple[str, str, bool]]) -> list[Any]:
    """Wrap ``obj`` (data for spec ``name``) into a verb list reaching it along ``route``."""
    for holder, prop, is_list in reversed(route):
        obj = {**minimal(holder), prop: [obj] if is_list else obj}
        name = holder
    return [{"verb": name, **obj}]


def matrix() -> Iterator[list[Any]]:
    """Every distinct property type form x every value in the pool, plus per-entry basics."""
    reach = routes()
    seen_forms: set[str] = set()
    for name in sorted(SPECS):
        for prop, type_spec in SPECS[name]["properties"].items():
            form = json.dumps(type_spec)
            if form in seen_forms:
                continue
            seen_forms.add(form)
            for value in VALUE_POOL:
                yield embed(name, {**minimal(name), prop: value}, reach.get(name, []))
            if isinstance(type_spec, dict) and isinstance(type_spec.get("enum"), list):
                for member in type_spec["enum"]:
                    yield embed(name, {**minimal(name), prop: member}, reach.get(name, []))
        # the entry itself: minimal, empty, missing each required property, "_" and unknown keys
        base = minimal(name)
        for data in (base, {}, {**base, "_": {"k": 1}}, {**base, "bogus": 1}):
            yield embed(name, data, reach.get(name, []))
        for required in SPECS[name].get("required", []):
            data = {k: v for k, v in base.items() if k != required}
            yield embed(name, data, reach.get(name, []))


def hand_cases() -> Iterator[tuple[Any, str | None]]:
    """Edge cases of normalisation and typeof, with the strict marker where one applies."""
    scalars: tuple[Any, ...] = (None, 5, "x", True, {}, "[]")
    for payload in scalars:
        yield payload, None
    yield [], None
    elements: tuple[Any, ...] = (None, 5, "x", True, [], [1], ["say"], [[]], {}, {"a": {}, "b": {}})
    for element in elements:
        yield [element], None
    for verb in (["say"], [["say"]], [[["hangup"]]], ["stream"], ["say", "x"], [], 5, None):
        yield [{"verb": verb}], None
    yield [{"verb": {"a": 1}}], None
    yield [{"verb": True}], None
    for data in (None, 5, 0, "", "x", [], [1], True, {}, {"text": "hi"}):
        yield [{"say": data}], None
        yield [{"pause": data}], None
        yield [{"openai_s2s": data}], None
        yield [{"s2s": data}], None
    for alias in VERB_ALIASES:
        yield [{"verb": alias}], None
        yield [{"verb": alias, "url": "wss://x", "llmOptions": {}}], None
        yield [{"verb": alias, "vendor": "x", "llmOptions": {}}], None
        yield [{"verb": alias, "vendor": 5, "llmOptions": {}}], None
        yield [{alias: {"llmOptions": {}}}], None
        yield [{alias: {"url": "wss://x"}}], None
    for key in ("toString", "constructor", "hasOwnProperty", "valueOf", "__defineGetter__"):
        yield [{"verb": "say", key: "x"}], None
        yield [{"say": {key: 1}}], None
        yield [{key: {}}], None
        yield [{"verb": key}], None
    yield [{"say": {"__proto__": {"text": "hi"}}}], None
    yield [{"__proto__": {}}], None
    proto_values: tuple[Any, ...] = ({"text": "hi"}, {"bogus": 1}, 5, "x", None, [])
    for value in proto_values:
        yield [{"verb": "say", "__proto__": value}], "proto_key"
    yield [{"verb": "say", "_": 5}, {"verb": "enqueue", "name": "q", "_": 5}], None
    yield [{"verb": "enqueue", "name": "q", "_": {}}], None
    yield [{"verb": "say", "verb ": "x"}], None
    yield [{"verb": "say"}, {"verb": "sya"}, {"verb": "hangup"}], None
    yield [{"verb": "say", "text": "a"}, {"verb": "say", "text": 1}], None
    roots_values: tuple[Any, ...] = ([], "", "a", [{}], [None], {}, None, 0)
    for roots in roots_values:
        yield (
            [
                {
                    "verb": "llm",
                    "vendor": "v",
                    "llmOptions": {},
                    "mcpServers": [{"url": "u", "roots": roots}],
                }
            ],
            None,
        )
    types_values: tuple[Any, ...] = (None, [], ["music"], "music", 0, {})
    for types in types_values:
        yield (
            [
                {
                    "verb": "transcribe",
                    "recognizer": {
                        "vendor": "speechmatics",
                        "speechmaticsOptions": {"audio_events_config": {"types": types}},
                    },
                }
            ],
            None,
        )
    for name in sorted(set(SPECS) - EXECUTABLE_VERBS):
        yield [{"verb": name}], "top_level_component"
        yield [{name: {}}], "top_level_component"
    for direction in ("read", "write", "x", None, 1):
        yield (
            [
                {
                    "verb": "pipeline",
                    "llm": {"vendor": "v", "llmOptions": {}},
                    "noiseIsolation": {"direction": direction},
                }
            ],
            "top_level_component",
        )
        yield [{"noiseIsolationPipeline": {"direction": direction}}], "top_level_component"


def hypothesis_payloads(count: int) -> list[Any]:
    drawn: list[Any] = []
    strategy = st.one_of(
        verb_payloads(),
        verb_payloads(),
        verb_payloads(),
        component_payloads(),
        st.lists(json_values(6), max_size=2),
    )

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(payload: Any) -> None:
        drawn.append(payload)

    collect()
    return drawn


def _top_level_name(element: Any) -> Any:
    if not isinstance(element, dict):
        return None
    if "verb" in element:
        return element["verb"]
    return next(iter(element)) if len(element) == 1 else None


def _is_component(name: Any) -> bool:
    while isinstance(name, list) and len(name) == 1:  # JS stringifies ["x"] to "x"
        name = name[0]
    return isinstance(name, str) and name in SPECS and name not in EXECUTABLE_VERBS


def strict_marker(payload: Any) -> str | None:
    """Mark a generated payload whose single element names a non-executable spec entry."""
    if (
        isinstance(payload, list)
        and len(payload) == 1
        and _is_component(_top_level_name(payload[0]))
    ):
        return "top_level_component"
    return None


def keep(payload: Any) -> bool:
    """Drop multi-element lists naming a component: jbtrio's verdict there is not comparable."""
    if not isinstance(payload, list) or len(payload) < 2:
        return True
    return not any(_is_component(_top_level_name(e)) for e in payload)


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
        if not keep(payload):
            continue
        unique.setdefault(json.dumps(payload, sort_keys=True), (payload, marker))
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
