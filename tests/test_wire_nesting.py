"""The nesting bound (MAX_DEPTH) on the call-info messages, which check it while they walk
their values instead of decode's scan of the text (issue 23): the same frames refused, with
the same error, as the scan refuses."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import orjson
import pytest
from hypothesis import given, settings

from jbtrio._errors import ProtocolError
from jbtrio._wire import MAX_DEPTH, VerbHook, decode
from jbtrio._wire._registry import NESTING_CHECKED

HOOK: dict[str, Any] = {
    "type": "verb:hook",
    "msgid": "m1",
    "call_sid": "c1",
    "hook": "/gather",
    "data": {"call_sid": "c1", "direction": "inbound", "reason": "speechDetected"},
}


def depth(value: Any) -> int:
    """The exact container nesting of a decoded value (the tests' own count, not jbtrio's)."""
    if isinstance(value, dict):
        value = list(value.values())
    elif not isinstance(value, list):
        return 0
    return 1 + max(map(depth, value), default=0)


DEEP = "@deep@"  # where text_of() puts the nested value (orjson writes only 254 levels)


def nested(levels: int) -> str:
    """The JSON text of a value whose container nesting is ``levels`` (lists and objects)."""
    opening = "".join("[" if level % 2 else '{"k":' for level in range(levels))
    closing = "".join("]" if level % 2 else "}" for level in reversed(range(levels)))
    return opening + "1" + closing


def text_of(frame: dict[str, Any], deep: str) -> str:
    """``frame``'s JSON text with ``deep`` (JSON text) in place of the string DEEP."""
    return orjson.dumps(frame).decode().replace(f'"{DEEP}"', deep, 1)


def reason_of(text: str) -> str | None:
    try:
        decode(text)
    except ProtocolError as exc:
        return exc.reason
    return None


def test_the_call_info_messages_are_the_ones_checked_while_decoded() -> None:
    assert {"verb:hook", "session:new", "session:reconnect", "call:status"} <= NESTING_CHECKED
    assert "llm:event" not in NESTING_CHECKED and "ack" not in NESTING_CHECKED


@pytest.mark.parametrize(
    ("where", "level"),
    [("top", 1), ("data", 2), ("known", 2)],  # "known": a call-info field of its own
)
def test_a_hook_one_level_too_deep_is_refused_wherever_the_nesting_is(
    where: str, level: int
) -> None:
    for levels, refused in ((MAX_DEPTH - level, False), (MAX_DEPTH - level + 1, True)):
        frame = orjson.loads(orjson.dumps(HOOK))
        if where == "top":
            frame["deep"] = DEEP
        elif where == "data":
            frame["data"]["deep"] = DEEP
        else:
            frame["data"]["customerData"] = DEEP
        text = text_of(frame, nested(levels))
        assert depth(orjson.loads(text)) == (MAX_DEPTH + 1 if refused else MAX_DEPTH)
        reason = reason_of(text)
        if refused:
            assert reason is not None and reason.startswith(
                f"nested deeper than {MAX_DEPTH} levels"
            ), reason
        else:
            assert reason is None or not reason.startswith("nested deeper"), reason


def test_too_deep_and_invalid_names_the_nesting_as_the_scan_does() -> None:
    frame = orjson.loads(orjson.dumps(HOOK))
    frame["data"]["call_sid"] = 42  # invalid, and walked before the deep value
    frame["data"]["deep"] = DEEP
    reason = reason_of(text_of(frame, nested(MAX_DEPTH)))
    assert reason is not None and reason.startswith("nested deeper"), reason
    frame["msgid"] = ["not", "a", "string"]
    reason = reason_of(text_of(frame, nested(MAX_DEPTH)))
    assert reason is not None and reason.startswith("nested deeper"), reason
    # and invalid only: the field's own error
    assert reason_of(text_of(frame, nested(3))) == "$.msgid: expected string, got array"


def test_the_error_carries_the_frame_s_text() -> None:
    frame = orjson.loads(orjson.dumps(HOOK))
    frame["data"]["deep"] = DEEP
    text = text_of(frame, nested(MAX_DEPTH))
    with pytest.raises(ProtocolError) as info:
        decode(text)
    assert info.value.raw == text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=2), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    value=json_values,
    levels=st.integers(MAX_DEPTH - 8, MAX_DEPTH + 2),
    where=st.sampled_from(["top", "data", "known", "inner"]),
    kind=st.sampled_from(["verb:hook", "session:new", "call:status"]),
)
def test_a_call_info_message_is_refused_for_its_nesting_exactly_when_the_scan_refuses(
    value: Any, levels: int, where: str, kind: str
) -> None:
    """Whatever the nesting and wherever it is, the frame is refused as too deep exactly when
    its depth is over MAX_DEPTH, as decode's scan of the text decides for other types."""
    frame = orjson.loads(orjson.dumps(HOOK))
    frame["type"] = kind
    if where == "top":
        frame["deep"] = [value, DEEP]
    elif where == "data":
        frame["data"]["deep"] = {"v": value, "d": DEEP}
    elif where == "known":
        frame["data"]["customerData"] = DEEP
        frame["data"]["other"] = value
    else:
        frame["data"]["speech"] = {"alternatives": [{"transcript": "x", "x": DEEP}]}
    text = text_of(frame, nested(levels))
    too_deep = depth(orjson.loads(text)) > MAX_DEPTH
    reason = reason_of(text)
    assert (reason is not None and reason.startswith("nested deeper")) == too_deep, reason
    # the same verdict as for a type whose text is scanned
    assert "llm:event" not in NESTING_CHECKED
    other = reason_of(text.replace(f'"type":"{kind}"', '"type":"llm:event"', 1))
    assert (other is not None and other.startswith("nested deeper")) == too_deep, other


@pytest.mark.pure_python  # a compiled module's globals cannot be patched
def test_a_usual_hook_s_text_is_not_scanned_for_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its nesting is checked as its values are walked (issue 23): a hook of jambonz's usual
    size (~760 characters, over the scan's 2 * MAX_DEPTH shortcut) costs no scan."""
    from jbtrio._wire import _codec

    def scan(text: Any, obj: Any) -> bool:
        raise AssertionError("scanned")

    frame = orjson.loads(orjson.dumps(HOOK))
    frame["data"].update({f"field{n}": "x" * 20 for n in range(30)})
    text = orjson.dumps(frame).decode()
    assert len(text) > 2 * MAX_DEPTH
    monkeypatch.setattr(_codec, "frame_too_deep", scan)
    message = decode(text)
    assert isinstance(message, VerbHook) and message.data.extra["field0"] == "x" * 20
    with pytest.raises(AssertionError, match="scanned"):  # any other type still is
        decode(text.replace('"type":"verb:hook"', '"type":"llm:event"', 1))
