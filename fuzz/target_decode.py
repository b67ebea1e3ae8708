"""Fuzz target: ``decode`` takes any bytes or text and gives a message or a ProtocolError.

Inputs are arbitrary bytes and text (lone surrogates included) and, mostly, valid frames of
every type mutated the ways a broken or newer peer could mutate them: a value replaced by one
of another JSON type, a key dropped, the ``type`` swapped for another known type, the text cut
short, odd Unicode, deep nesting, numbers at and past the 64-bit and double ranges.

The check: nothing but :class:`~jbtrio.ProtocolError` escapes ``decode``, and whatever decodes
re-encodes and decodes again to an equal message (``max_bytes=None``: inbound frames have no
size cap).
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st

from fuzz._target import Target
from jbtrio._errors import ProtocolError
from jbtrio._wire import KNOWN_TYPES, decode, encode
from jbtrio.testing import strategies as jst

_ODD_STRINGS = (
    "",
    "\x00",
    "\u2028\u2029",
    "\ufeff",
    "\U0001f600",
    "e\u0301",
    "\uffff",
    "a" * 1000,
    "null",
    "0",
)
_ODD_NUMBERS = (0, -0.0, 2**63 - 1, -(2**63), 2**64 - 1, 1.7976931348623157e308, 5e-324, 1e-7)
_ODD_LITERALS = ("1e400", "-1e400", "18446744073709551616", "1" * 400, "NaN", "Infinity", "-0")


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path inside a decoded JSON value (to a depth of 16)."""
    out: list[tuple[Any, ...]] = []
    if len(prefix) >= 16:
        return out
    if isinstance(value, dict):
        for key, child in value.items():
            out.append((*prefix, key))
            out.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out.append((*prefix, index))
            out.extend(_paths(child, (*prefix, index)))
    return out


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        root = root[step]
    return root


@st.composite
def mutated_frames(draw: st.DrawFn) -> str | bytes:
    """A valid frame of any type with one to three mutations applied."""
    message = draw(jst.messages())
    obj: Any = orjson.loads(encode(message, max_bytes=None))
    # Values JSON text can hold but Python objects cannot (1e400, 1100 levels of nesting) are
    # spliced into the text afterwards, in place of placeholder strings.
    splices: dict[str, str] = {}
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(obj)
        kind = draw(
            st.sampled_from(
                ["retype", "drop", "swap_type", "odd_string", "odd_number", "nest", "literal"]
            )
        )
        if kind == "swap_type" and isinstance(obj, dict):
            obj["type"] = draw(st.sampled_from(sorted(KNOWN_TYPES)))
            continue
        if not paths:
            continue
        path = draw(st.sampled_from(paths))
        parent = _parent(obj, path)
        key = path[-1]
        if kind == "drop":
            del parent[key]
        elif kind == "retype":
            parent[key] = draw(jst.json_values(max_leaves=4))
        elif kind == "odd_string":
            parent[key] = draw(st.sampled_from(_ODD_STRINGS))
        elif kind == "odd_number":
            parent[key] = draw(st.sampled_from(_ODD_NUMBERS))
        else:
            placeholder = f"__SPLICE_{len(splices)}__"
            if kind == "nest":
                depth = draw(st.integers(1, 1100))
                inner = orjson.dumps(parent[key]).decode()
                splices[placeholder] = "[" * depth + inner + "]" * depth
            else:
                splices[placeholder] = draw(st.sampled_from(_ODD_LITERALS))
            parent[key] = placeholder
    text = orjson.dumps(obj).decode()
    for placeholder, replacement in splices.items():
        text = text.replace(f'"{placeholder}"', replacement, 1)
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    if draw(st.booleans()):
        return text.encode("utf-8", "surrogatepass")
    return text


def inputs() -> st.SearchStrategy[str | bytes]:
    """Arbitrary bytes, arbitrary text (lone surrogates too) and mutated valid frames."""
    return st.one_of(
        st.binary(max_size=256),
        st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=128),
        mutated_frames(),
        mutated_frames(),
        mutated_frames(),
    )


def check(data: str | bytes) -> None:
    """Only ProtocolError may escape; anything decoded must survive a round trip."""
    try:
        message = decode(data)
    except ProtocolError as exc:
        assert exc.raw == data, "ProtocolError must carry the raw input"
        return
    text = encode(message, max_bytes=None)
    again = decode(text)
    assert again == message, f"round trip changed {message!r} into {again!r}"
    assert encode(again, max_bytes=None) == text


TARGET = Target(
    name="decode",
    strategy=inputs(),
    check=check,
    description="decode() on arbitrary and mutated frames: a message or a ProtocolError",
)
