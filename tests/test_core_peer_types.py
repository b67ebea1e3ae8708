"""Values of the wrong JSON type where the core reads a peer's untyped keys (``verb_id`` in a
hook's call info, kept in ``extra`` as sent): the hook is no receipt, and nothing raises.

Pure Python could not fail here; the optional mypyc build checks a variable's declared type
on assignment, and a ``verb_id`` first bound to a ``str`` once raised TypeError for a number
from the peer (issue 23, round 5). Run against the compiled core, this is what catches that.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from jbtrio._core import CallCore, CoreConfig, Received
from jbtrio._wire import CallInfo, SessionNew, VerbHook

SID = "c0ffee00-0000-4000-8000-0000000000dd"
GATHER = {"verb": "gather", "input": ["speech"], "actionHook": "/g"}


def drain(core: CallCore, now: float) -> list[dict[str, Any]]:
    out = []
    while (frame := core.next_frame()) is not None:
        out.append(orjson.loads(frame.text))
        core.sent(frame, now)
    return out


@pytest.mark.parametrize("verb_id", [1, 1.5, True, {}, {"a": 1}, [], ["jb1"], ""])
def test_a_hook_whose_verb_id_is_not_a_string_is_no_receipt(verb_id: Any) -> None:
    core = CallCore(CoreConfig())
    core.attach()
    [event] = core.receive(SessionNew(msgid="n1", call_sid=SID, data=CallInfo(call_sid=SID)), 0.0)
    assert isinstance(event, Received) and event.reply is not None
    core.reply(event.reply, [GATHER], 0.0)
    drain(core, 0.0)
    hook = VerbHook(
        msgid="h1", call_sid=SID, hook="/g", data=CallInfo(call_sid=SID, extra={"verb_id": verb_id})
    )
    [received] = [e for e in core.receive(hook, 1.0) if isinstance(e, Received)]
    assert received.reply is not None
    core.reply(received.reply, [GATHER], 1.0)  # an ack answering that hook is written too
    [ack] = drain(core, 1.0)
    assert ack["type"] == "ack" and ack["msgid"] == "h1"
