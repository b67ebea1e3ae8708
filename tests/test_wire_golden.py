"""Every JSON message example in the protocol docs decodes to the right class and round-trips.

The examples live in ``tests/data/golden_messages.jsonl``, copied from the project's protocol
notes written from the 0.9.8 feature-server source (each record's ``source`` names the note and
line; what they establish is in docs/jambonz.md). Examples written with placeholders that are not
JSON (``{...}``, ``"msgid":...``) were made valid by substituting concrete values (their ``note``
says so); placeholders that happen to be valid JSON (a ``"..."`` key) are kept, since they show that
unknown keys survive. Vendor ``data`` objects quoted alone (not whole messages) are tested in
``test_commands.py`` instead.

Each record names the expected class and an ``expect`` map of attribute paths to values:
``data.from_`` is an attribute chain, ``gather().speech_text`` calls a method, a number indexes
a sequence and a key of a mapping is looked up, ``has_data`` means "``data`` is not ABSENT".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

import jbtrio._wire as wire
from jbtrio._wire import ABSENT, decode, encode

GOLDEN = Path(__file__).parent / "data" / "golden_messages.jsonl"
RECORDS: list[dict[str, Any]] = [
    json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()
]


def resolve(obj: Any, path: str) -> Any:
    """Follow an ``expect`` path through attributes, method calls, mapping keys and indexes."""
    if path == "has_data":
        return obj.data is not ABSENT
    for part in path.split("."):
        if part.endswith("()"):
            obj = getattr(obj, part[:-2])()
        elif isinstance(obj, Mapping):
            obj = obj[part]
        elif part.isdigit() and isinstance(obj, Sequence):
            obj = obj[int(part)]
        else:
            obj = getattr(obj, part)
    return obj


def _id(record: dict[str, Any]) -> str:
    return f"{record['source']}:{record['class']}"


def test_golden_file_covers_every_class() -> None:
    classes = {record["class"] for record in RECORDS}
    expected = {registration.cls.__name__ for registration in wire.REGISTRY.values()}
    assert classes == expected | {"UnknownMessage"}


@pytest.mark.parametrize("record", RECORDS, ids=_id)
def test_golden_decodes_to_class_with_typed_fields(record: dict[str, Any]) -> None:
    message = decode(record["frame"])
    assert type(message).__name__ == record["class"]
    for path, expected in record["expect"].items():
        actual = resolve(message, path)
        if isinstance(actual, tuple) and isinstance(expected, list):
            actual = list(actual)
        assert actual == expected, path


@pytest.mark.parametrize("record", RECORDS, ids=_id)
def test_golden_round_trips(record: dict[str, Any]) -> None:
    text = record["frame"]
    message = decode(text)
    encoded = encode(message, max_bytes=None)
    assert decode(encoded) == message
    # Nothing is lost or added: the re-encoded frame is the same JSON as the original.
    assert orjson.loads(encoded) == orjson.loads(text)


@pytest.mark.parametrize("record", RECORDS, ids=_id)
def test_golden_decodes_from_bytes_too(record: dict[str, Any]) -> None:
    assert decode(record["frame"].encode()) == decode(record["frame"])


def test_payload_views_from_hook_and_call_info_agree() -> None:
    hooks = [decode(r["frame"]) for r in RECORDS if r["class"] == "VerbHook"]
    assert hooks
    for hook in hooks:
        assert isinstance(hook, wire.VerbHook)
        assert wire.GatherResult.from_hook(hook) == hook.gather()
        assert wire.DialResult.from_hook(hook) == hook.dial()
        assert wire.LlmResult.from_hook(hook) == hook.llm()
        assert wire.GatherResult.from_call_info(hook.data) == hook.gather()
