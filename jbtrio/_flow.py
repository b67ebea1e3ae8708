"""Call flows written as async generators, and the steps they yield.

A flow is ``async def flow(call): ... result = yield verbs ...``. Each ``yield`` hands verbs
to jambonz — as the ack of the message that resumed the flow when jambonz still waits for it,
else as a ``redirect`` command — and resumes the flow with what the verbs reported:

- a verb that reports back (``gather``, ``dial``, ``llm`` and its ``*_s2s`` forms, ``agent``,
  ``transfer``, ``listen``, ``conference``/``room``, ...) gets an action hook when the author
  gave none; the ``yield`` evaluates to that hook's typed payload
  (:class:`~jbtrio.GatherResult`, :class:`~jbtrio.DialResult`, :class:`~jbtrio.LlmResult`,
  :class:`~jbtrio.AgentResult`, :class:`~jbtrio.TransferResult`, ...; the
  :class:`~jbtrio.VerbHook` itself for ``dialogflow``, ``lex`` and ``rasa``);
- ``yield until_finished(verbs)`` resumes when jambonz reports (``verb:status``) that the last
  of them finished, with verb ids and ``notifyEvents`` turned on automatically;
- any other ``yield`` resumes as soon as the verbs are on their way.

Slow flows need no care: the call core acks in time on their behalf, and their next ``yield``
goes out as a command. Nothing here ever sees a msgid.

Typed flows are annotated ``-> jbtrio.Steps``: a type checker then refuses a ``yield`` of
anything but a verb builder, a sequence of them or a :class:`Step` (``yield 42``, or a dict
with a typo'd verb name). The value a ``yield`` returns is typed where it is received
(``answer: jbtrio.GatherResult = yield Gather(...)``), since it depends on the verb.
"""

from __future__ import annotations

import dis
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from functools import partial
from types import CodeType
from typing import Any, TypeAlias

import attrs

from ._wire import (
    RESULT_VIEWS,
    VerbHook,
    dial_result,
    gather_result,
    hook_url,
    llm_result,
    result_as,
)
from .verbs import Verb, canonical_verb, checked_wire
from .verbs import verb_name as written_name

__all__ = [
    "PLANS",
    "FlowStep",
    "Parser",
    "Plan",
    "Step",
    "Steps",
    "as_tuple",
    "closes_quietly",
    "hook_url",
    "plan",
    "until_finished",
    "verb_name",
    "wire_copy",
    "wire_verbs",
]

#: Verb (canonical name) -> the hook property that fires when it is done, for the verbs whose
#: yield waits for that hook. ``transcribe`` has no action hook; its first transcript resumes.
REPORTING_HOOKS: Mapping[str, str] = {
    "gather": "actionHook",
    "dial": "actionHook",
    "llm": "actionHook",
    "agent": "actionHook",
    "transfer": "actionHook",
    "listen": "actionHook",
    "transcribe": "transcriptionHook",
    "enqueue": "actionHook",
    "dequeue": "actionHook",
    "conference": "actionHook",
    "room": "actionHook",
    "message": "actionHook",
    "sip:refer": "actionHook",
    "sip:request": "actionHook",
    "dialogflow": "actionHook",
    "lex": "actionHook",
    "rasa": "actionHook",
}

Parser = Callable[[VerbHook], Any]


#: Verb (canonical name) -> how its hook is read: the hand-written views of gather, dial and
#: llm, the generated ones of the others (:data:`~jbtrio._wire.RESULT_VIEWS`). What
#: ``VerbHook.gather()`` and the others call, called directly: compiled in the compiled
#: build, where VerbHook's methods are interpreted calls (issue 23).
_PARSERS: Mapping[str, Parser] = {
    "gather": gather_result,
    "dial": dial_result,
    "llm": llm_result,
    **{verb: partial(result_as, view) for verb, view in RESULT_VIEWS.items()},
}


def _identity(hook: VerbHook) -> VerbHook:
    return hook


def as_tuple(verbs: Any) -> tuple[Any, ...]:
    """What a flow yielded (one verb, or an iterable of them) as a tuple of verbs."""
    if type(verbs) is list or type(verbs) is tuple:
        return tuple(verbs)
    if isinstance(verbs, Mapping) or hasattr(verbs, "to_dict"):
        return (verbs,)
    if isinstance(verbs, Iterable) and not isinstance(verbs, str | bytes):
        return tuple(verbs)
    raise TypeError(f"a flow yields a verb, a list of verbs or a Step, not {type(verbs).__name__}")


@attrs.frozen
class Step:
    """Verbs to hand to jambonz, and whether the flow resumes only when they finished.

    ``verbs`` is one verb or a list of them, builders or wire dicts (``Step([{"verb": "say",
    "text": "Hi"}])`` is how a typed flow yields dicts; they are checked when sent).
    """

    verbs: tuple[Any, ...] = attrs.field(converter=as_tuple)
    wait_finished: bool = False


FlowStep: TypeAlias = Verb | Sequence[Verb] | Step
"""What a flow may ``yield``: a verb builder, a sequence of them, or a :class:`Step`."""

Steps: TypeAlias = AsyncGenerator[FlowStep, Any]
"""The return annotation of a flow: ``async def flow(call: Call) -> Steps``."""


def until_finished(verbs: Any) -> Step:
    """``yield until_finished(verbs)``: resume once jambonz has finished running them."""
    return Step(verbs, wait_finished=True)


def verb_name(verb: Mapping[str, Any]) -> str | None:
    """The canonical name of a wire verb (either form; aliases resolved): the verbs a flow
    waits on are known by it, whatever name the author wrote."""
    name = written_name(verb)
    return canonical_verb(name)[0] if name is not None else None


#: Canonical names of the verbs the call completes before they are sent (its tool and event
#: hooks): they are not sent as :class:`~jbtrio.verbs.CheckedWire`, so they are checked whole.
AI_VERBS: frozenset[str] = frozenset({"llm", "agent"})

#: What a step needs to know of a verb, by the name it is written with: its canonical name,
#: whether it is an AI verb, the hook property that resumes the flow and that hook's parser.
#: Looked up once per name, then one dict lookup per verb per ``yield`` (issue 23).
Plan = tuple[str, bool, str | None, Parser]
PLANS: dict[str, Plan] = {}
#: The plan cache is keyed by the verb names the app writes (a builder's ``verb``, a dict's
#: ``verb`` or single key): bounded, so that names made at run time cannot grow it.
_MAX_PLANS = 1024


def plan(written: str) -> Plan:
    """The :data:`Plan` of a verb written ``written`` (see :data:`PLANS`)."""
    found = PLANS.get(written)
    if found is None:
        name = canonical_verb(written)[0]
        prop = REPORTING_HOOKS.get(name)
        found = (name, name in AI_VERBS, prop, _PARSERS.get(name, _identity))
        if len(PLANS) < _MAX_PLANS:
            PLANS[written] = found
    return found


def wire_verbs(verbs: Any) -> tuple[list[dict[str, Any]], bool]:
    """One verb or a list of them (builders or dicts) as wire dicts the caller may add hooks
    to (a dict is copied one level deep; a builder, but an ``llm`` or ``agent`` one, becomes a
    :class:`~jbtrio.verbs.CheckedWire`, not validated again when sent), and whether one of
    them is an ``llm`` (or alias) or ``agent`` verb, which the call completes before sending."""
    out: list[dict[str, Any]] = []
    ai = False
    for verb in as_tuple(verbs):
        if isinstance(verb, Verb):
            if plan(verb.verb)[1]:
                ai = True
                out.append(verb.to_dict())
            else:
                out.append(checked_wire(verb))
            continue
        wire = wire_copy(verb)
        out.append(wire)
        written = written_name(wire)
        if written is not None and plan(written)[1]:
            ai = True
    return out, ai


def wire_copy(verb: Any) -> dict[str, Any]:
    """A verb that is not a builder as a wire dict its hooks and ids may be added to."""
    to_dict = getattr(verb, "to_dict", None)
    if to_dict is not None:
        wire: dict[str, Any] = to_dict()
        return wire
    if isinstance(verb, Mapping):
        # Copy one level deep: hooks and ids are added to the verb's own properties.
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in verb.items()}
    raise TypeError(f"not a verb: {verb!r}")


#: 3.12+ wraps every generator's body in a handler turning a StopIteration into a
#: RuntimeError: ``CALL_INTRINSIC_1`` with ``INTRINSIC_STOPITERATION_ERROR`` (3), then a
#: re-raise. Not code of the flow's (None before 3.12).
_CALL_INTRINSIC_1 = dis.opmap.get("CALL_INTRINSIC_1")
_STOPITERATION_ERROR = 3
#: :func:`closes_quietly`'s answers on 3.12+, by flow code (bounded as :data:`PLANS` is).
_QUIET: dict[CodeType, bool] = {}


def closes_quietly(code: CodeType) -> bool:
    """Whether closing a generator of ``code`` (suspended at a ``yield``) runs none of its
    code, so cannot wait: it has no exception handler (no ``try``, ``with``, ``async with``
    or ``async for``) but the one 3.12+ wraps every generator in. Such a flow is closed
    with no cancel scope around it (a shielded scope with a deadline costs ~3% of a call's
    set-up, issue 23). In doubt (a handler of any other kind), False."""
    table = code.co_exceptiontable
    if not table:
        return True
    quiet = _QUIET.get(code)
    if quiet is None:
        quiet = _only_stop_iteration_handlers(code, table)
        if len(_QUIET) < _MAX_PLANS:
            _QUIET[code] = quiet
    return quiet


def _only_stop_iteration_handlers(code: CodeType, table: bytes) -> bool:
    # Each entry of the exception table is four varints (start, length, target, depth and
    # lasti) of 6-bit chunks, bit 6 saying another chunk follows (CPython's
    # InternalDocs/exception_handling.md); the target counts code units of 2 bytes.
    if _CALL_INTRINSIC_1 is None:
        return False
    raw = code.co_code
    fields: list[int] = []
    value = 0
    for byte in table:
        value = (value << 6) | (byte & 63)
        if byte & 64:
            continue
        fields.append(value)
        value = 0
        if len(fields) == 4:
            at = fields[2] * 2
            if raw[at] != _CALL_INTRINSIC_1 or raw[at + 1] != _STOPITERATION_ERROR:
                return False
            fields.clear()
    return True
