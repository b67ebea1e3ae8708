"""The PyPy trial's stand-in for orjson (``bench/pypy_trial.sh``), which has no PyPy build:
the few calls jbtrio makes (``dumps`` to compact UTF-8 bytes with a ``default``, ``loads``
of ``str`` or ``bytes``, ``JSONDecodeError``) on the standard library's ``json``. Only on
the trial's ``sys.path``; never installed, never on CPython."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

JSONDecodeError = json.JSONDecodeError
OPT_INDENT_2 = 1
OPT_SORT_KEYS = 2

_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(
    obj: Any, default: Callable[[Any], Any] | None = None, option: int | None = None
) -> bytes:
    if default is None and not option:
        return _COMPACT.encode(obj).encode()
    text = json.dumps(
        obj,
        separators=(",", ":"),
        ensure_ascii=False,
        default=default,
        indent=2 if option and option & OPT_INDENT_2 else None,
        sort_keys=bool(option and option & OPT_SORT_KEYS),
    )
    return text.encode()


def loads(data: str | bytes | bytearray | memoryview) -> Any:
    return json.loads(bytes(data) if isinstance(data, memoryview) else data)
