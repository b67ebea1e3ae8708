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

from collections.abc import AsyncGenerator, Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import attrs

from ._wire import RESULT_VIEWS, VerbHook
from .verbs import Verb, canonical_verb, verb_body
from .verbs import verb_name as written_name

__all__ = ["FlowStep", "Prepared", "Step", "Steps", "prepare", "until_finished", "wire_verbs"]

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


def _view(view: type[Any]) -> Parser:
    def parse(hook: VerbHook) -> Any:
        return hook.result(view)

    return parse


#: Verb (canonical name) -> how its hook is read: the hand-written views of gather, dial and
#: llm, the generated ones of the others (:data:`~jbtrio._wire.RESULT_VIEWS`).
_PARSERS: Mapping[str, Parser] = {
    "gather": VerbHook.gather,
    "dial": VerbHook.dial,
    "llm": VerbHook.llm,
    **{verb: _view(view) for verb, view in RESULT_VIEWS.items()},
}


def _identity(hook: VerbHook) -> VerbHook:
    return hook


def _as_tuple(verbs: Any) -> tuple[Any, ...]:
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

    verbs: tuple[Any, ...] = attrs.field(converter=_as_tuple)
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


def hook_url(value: Any) -> str | None:
    """The path of a hook property value (a string or a ``{url: ...}`` object)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("url"), str):
        url: str = value["url"]
        return url
    return None


class Prepared:
    """A step ready to send: wire verbs, the hooks that resume the flow, and their parsers.

    ``hooks`` are ``(path, parser)`` pairs, the last verb's first when two verbs share a path
    (a tuple, not a dict: a parked step holds it, and a step has one or two).

    ``finished_id`` is the id of the verb whose ``verb:status`` ``finished`` resumes the flow;
    ``hook_ids`` the ids of the verbs whose hooks do (jambonz names that id when it reports
    one of those hooks failed, so a failure is told to the step it concerns, not to another
    step waiting on a verb of the same name). ``names`` are the canonical names of the verbs,
    and ``ai`` says whether one of them is an ``llm`` (or alias) or ``agent`` verb, which the
    call gives its own hooks before they go out.

    A plain slotted class, not attrs: one is made per ``yield`` and read once (issue 23).
    """

    __slots__ = ("ai", "finished_id", "hook_ids", "hooks", "names", "verbs")

    def __init__(
        self,
        verbs: list[dict[str, Any]],
        hooks: tuple[tuple[str, Parser], ...],
        *,
        finished_id: str | None = None,
        hook_ids: Collection[str] = (),
        names: Collection[str] = (),
        ai: bool = False,
    ) -> None:
        self.verbs = verbs
        self.hooks = hooks
        self.finished_id = finished_id
        self.hook_ids = hook_ids
        self.names = names
        self.ai = ai


#: Canonical names of the verbs the call completes before they are sent (its tool and event
#: hooks): they are not sent as :class:`~jbtrio.verbs.CheckedWire`, so they are checked whole.
AI_VERBS: frozenset[str] = frozenset({"llm", "agent"})

#: What ``prepare`` needs to know of a verb, by the name it is written with: its canonical
#: name, whether it is an AI verb, the hook property that resumes the flow and that hook's
#: parser. Looked up once per name, then one dict lookup per verb per ``yield`` (issue 23).
_Plan = tuple[str, bool, str | None, Parser]
_PLANS: dict[str, _Plan] = {}
#: The plan cache is keyed by the verb names the app writes (a builder's ``verb``, a dict's
#: ``verb`` or single key): bounded, so that names made at run time cannot grow it.
_MAX_PLANS = 1024


def _plan(written: str) -> _Plan:
    plan = _PLANS.get(written)
    if plan is None:
        name = canonical_verb(written)[0]
        prop = REPORTING_HOOKS.get(name)
        plan = (name, name in AI_VERBS, prop, _PARSERS.get(name, _identity))
        if len(_PLANS) < _MAX_PLANS:
            _PLANS[written] = plan
    return plan


def prepare(
    step: Any,
    *,
    new_hook: Callable[[str], str],
    new_id: Callable[[], str],
    notify_events_on: bool,
) -> Prepared:
    """Turn what a flow yielded into wire verbs, assigning hooks and ids as needed.

    ``new_hook(verb)`` makes a hook path unique in the call; ``new_id()`` a verb id;
    ``notify_events_on`` says whether ``config.notifyEvents`` was already sent on the call.

    Each verb is walked once, here: a builder becomes a :class:`~jbtrio.verbs.CheckedWire`
    (what it was checked valid for travels with it, so it is not validated again when sent;
    ids and hook paths are all this adds), a dict a copy one level deep.
    """
    if type(step) is Step:
        items, wait_finished = step.verbs, step.wait_finished
    else:
        items, wait_finished = _as_tuple(step), False
    verbs: list[dict[str, Any]] = []
    # Lists, then tuples: a flow step parked on a hook holds them, and a set is 216 B.
    names: list[str] = []
    hooks: list[tuple[str, Parser]] = []
    hook_ids: list[str] = []
    ai = False
    for item in items:
        if isinstance(item, Verb):
            name, is_ai, prop, parser = _plan(item.verb)
            verb: dict[str, Any] = item.to_dict() if is_ai else item.checked_dict()
            body = verb
        else:
            verb = _wire(item)
            written = written_name(verb)
            body = verb_body(verb)
            if written is None:
                verbs.append(verb)
                continue
            name, is_ai, prop, parser = _plan(written)
        verbs.append(verb)
        names.append(name)
        if is_ai:
            ai = True
        if prop is None:
            continue
        url = hook_url(body.get(prop))
        if url is None:
            url = new_hook(name.replace(":", "-"))
            body[prop] = url
        hooks.insert(0, (url, parser))  # the last verb wins a shared path, as a dict's last key
        verb_id = body.get("id")
        if verb_id is None and "id" not in body:
            verb_id = body["id"] = new_id()
        if isinstance(verb_id, str):
            hook_ids.append(verb_id)
    finished_id = None
    if wait_finished and verbs:
        for verb in verbs:
            body = verb_body(verb)
            if "id" not in body:
                body["id"] = new_id()
        finished_id = str(verb_body(verbs[-1])["id"])
        if not notify_events_on:
            verbs.insert(0, {"verb": "config", "notifyEvents": True})
            names.append("config")
    return Prepared(
        verbs,
        tuple(hooks),
        finished_id=finished_id,
        hook_ids=tuple(hook_ids),
        names=tuple(names),
        ai=ai,
    )


def wire_verbs(verbs: Any) -> tuple[list[dict[str, Any]], bool]:
    """One verb or a list of them (builders or dicts) as wire dicts the caller may add hooks
    to (a dict is copied one level deep; a builder, but an ``llm`` or ``agent`` one, becomes a
    :class:`~jbtrio.verbs.CheckedWire`, not validated again when sent), and whether one of
    them is an ``llm`` (or alias) or ``agent`` verb, which the call completes before sending."""
    out: list[dict[str, Any]] = []
    ai = False
    for verb in _as_tuple(verbs):
        if isinstance(verb, Verb):
            if _plan(verb.verb)[1]:
                ai = True
                out.append(verb.to_dict())
            else:
                out.append(verb.checked_dict())
            continue
        wire = _wire(verb)
        out.append(wire)
        written = written_name(wire)
        if written is not None and _plan(written)[1]:
            ai = True
    return out, ai


def _wire(verb: Any) -> dict[str, Any]:
    to_dict = getattr(verb, "to_dict", None)
    if to_dict is not None:
        wire: dict[str, Any] = to_dict()
        return wire
    if isinstance(verb, Mapping):
        # Copy one level deep: hooks and ids are added to the verb's own properties.
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in verb.items()}
    raise TypeError(f"not a verb: {verb!r}")
