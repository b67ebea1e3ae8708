"""Receipts for the verbs the app sends, and what to do when a socket dies before one came.

jambonz never acknowledges what it reads (commands are fire-and-forget, and an ack is an
answer, not a request). A frame written to a socket that then dies may have been read, or
not, and nothing in jambonz 0.9.8 says which (``docs/jambonz.md``, "Reconnects"). Its only
observable traces of having read verbs are what running them produces:

- with ``config.notifyEvents`` on, a ``verb:status`` (``starting``, ``finished``, ...)
  naming the verb's ``id``; and every ``verb:hook`` carries the ``verb_id`` of its verb;
- a gather whose action hook got no answer (the ack died with the socket) reports
  ``jambonz:error {"msg": "invalid actionHook response", "verb": "gather", "id": ...}``
  after the reconnect, *without* ``details``.

So the core gives every verb it sends an ``id`` (the app's own, else ``jb<n>``), turns
``notifyEvents`` on with the first verbs of the call, and keeps the verb frames written to
the current socket until a receipt names one of their ids (or a later frame's: jambonz
reads a socket in order). On a drop, frames without a receipt are *in doubt*; they are
decided by evidence only, never guessed:

- a receipt for one of them (or a later one): it was read;
- a gather's ``jambonz:error`` for the verb whose hook a doubted ack answered: that ack,
  and everything written after it, was lost;
- the *probe*: right after the reconnect, a ``redirect`` appending one empty ``config``
  verb with an id of its own. jambonz runs appended verbs after its current stack, so if
  the probe's ``verb:status`` arrives before any receipt of the doubted frames, jambonz
  runs none of them any more — but whether it never read them, or read and ran them to
  the end while their receipts died in the socket, nothing tells: the doubt is given up
  and reported at once (:class:`~jbtrio._core.Unconfirmed`), never re-sent (a re-send of
  verbs that ran would run them twice).

Lost frames are re-sent as one ``redirect`` in their place (first in the queue), with the
same ids. While frames are in doubt, commands that *append* verbs wait (their meaning
depends on what is before them); acks without verbs do not, and neither does anything
while a frame that replaces jambonz's verb stack is queued (it makes the doubt moot; what
was queued before it goes first). A doubt not decided within ``doubt_timeout`` is given up
and reported (:class:`~jbtrio._core.Unconfirmed`).

This module is pure data: the call core feeds it what was written and read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from .._wire import (
    Ack,
    Command,
    InboundMessage,
    JambonzError,
    SessionNew,
    SessionReconnect,
    SessionRedirect,
    UnknownMessage,
    VerbHook,
    VerbStatus,
    verb_dicts,
)
from ._outbox import Frame
from ._reply import ReplyHandle

__all__ = ["HOOK_FAILED", "Receipts", "Verdict", "replaces_stack", "verb_body"]

#: ``jambonz:error`` ``msg`` when a gather's action hook got no usable answer.
HOOK_FAILED: Final = "invalid actionHook response"
#: Prefix of the ids the core gives verbs (kept short: it travels with every verb).
ID_PREFIX: Final = "jb"
#: The probe's verb, appended after jambonz's current stack; an empty ``config`` does nothing.
_PROBE_VERB: Final = "config"
#: Acks whose verbs run in this call's own verb stack, so they carry ids and get receipts
#: (a ``dial:confirm``'s run on the dialed leg, a ``session:adulting``'s are ignored).
_STACK_ACKS: Final = (SessionNew, SessionReconnect, SessionRedirect, VerbHook)


def verb_body(verb: Mapping[str, Any]) -> Mapping[str, Any]:
    """The properties of a wire verb, in either form (``{"verb": "say", ...}`` or
    ``{"say": {...}}``)."""
    if "verb" in verb or len(verb) != 1:
        return verb
    body = next(iter(verb.values()))
    return body if isinstance(body, Mapping) else verb


_NONE: Final[frozenset[str]] = frozenset()


def _verb_id(verb: Mapping[str, Any]) -> str | None:
    value = verb_body(verb).get("id")
    return value if isinstance(value, str) else None


class _Pending:
    """A frame with verbs, written to a socket, whose receipt has not come yet.

    Only what writing it costs nothing to know is kept (issue 23): the next ack of a hook
    usually makes it moot before anything asks about it. Its verbs, ids and role are read
    from the frame when a receipt or a drop needs them (:func:`_verbs_of`,
    :meth:`Receipts._ids_of`, :func:`_replaces`, :func:`_answers`); ``ids`` is cached.
    A plain slotted class: a native one in the compiled build (one per reply, issue 23).
    """

    __slots__ = ("frame", "ids", "seq")

    def __init__(self, seq: int, frame: Frame, ids: frozenset[str] | None = None) -> None:
        self.seq = seq
        self.frame = frame
        self.ids = ids


def _ids_in(pending: _Pending) -> list[str]:
    """The string ids of a tracked frame's verbs, in order."""
    found: list[str] = []
    for verb in _verbs_of(pending):
        value = verb.get("id") if "verb" in verb else _verb_id(verb)
        if type(value) is str:
            found.append(value)
    return found


def _verbs_of(pending: _Pending) -> tuple[dict[str, Any], ...]:
    """The verbs of a tracked frame: an ack's, or a ``redirect``'s (its list is the core's
    own, made when it was stamped or rewritten: nothing changes it after it is queued)."""
    message = pending.frame.message
    if isinstance(message, Ack):
        return message.verbs or ()
    return tuple(message.data)


def _replaces(pending: _Pending) -> bool:
    """What :func:`replaces_stack` says of a tracked frame (every tracked ack replaces)."""
    message = pending.frame.message
    return isinstance(message, Ack) or not message.queue_command


def _answers(pending: _Pending) -> tuple[bool, str | None]:
    """Whether a tracked frame is the ack of a ``verb:hook``, and the id of the verb whose
    hook it answers (``None`` when that hook named none)."""
    handle = pending.frame.handle
    if handle is None or not isinstance(pending.frame.message, Ack):
        return False, None
    hook = handle.message
    if type(hook) is not VerbHook:
        return False, None
    verb_id = hook.data.extra.get("verb_id")
    return True, (verb_id if isinstance(verb_id, str) else None)


@attrs.frozen
class Verdict:
    """The outcome of a doubt: ``lost`` frames (re-sent as ``resend``), ``undecided`` ones
    (given up: nothing can tell), or neither (read)."""

    lost: tuple[Frame, ...]
    resend: Command | None
    evidence: str
    undecided: tuple[Frame, ...] = ()


class Receipts:
    """Receipts of one call's verb frames (see the module doc).

    ``enabled`` False keeps only the one signal jambonz sends without ``notifyEvents`` and
    ids: a gather's hook failure after a drop, matched by verb name (the ack of a gather's
    hook that died is then re-sent, but an error of *another* gather of those same verbs
    would be taken for it — which is why ids are on by default).
    """

    def __init__(self, *, enabled: bool, probe: bool, doubt_timeout: float, max_tracked: int):
        self.enabled = enabled
        self._probe_enabled = probe and enabled
        self._doubt_timeout = doubt_timeout
        self._max_tracked = max_tracked
        self._ids = 0
        self._events_on = False
        # frames on the live socket without a receipt, oldest first, and where each id is
        # (a receipt names an id; everything up to its frame was read)
        # a list (bounded by max_tracked): an empty deque alone holds 600 bytes per call
        self._written: list[_Pending] = []
        self._where: dict[str, int] = {}
        self._seq = 0
        # _where indexes the frames of _written up to this seq; those after it are indexed
        # when a receipt needs it (see _index)
        self._indexed = 0
        self._doubt: list[_Pending] = []
        self._doubt_until: float | None = None
        self._probe_id: str | None = None

    # ------------------------------------------------------------------ outbound

    @property
    def in_doubt(self) -> bool:
        """Whether frames written to a dead socket still wait for their verdict."""
        return bool(self._doubt)

    def stamps(self, handle: ReplyHandle) -> bool:
        """Whether the verbs answering ``handle`` get ids: they run in this call's stack."""
        return self.enabled and isinstance(handle.message, _STACK_ACKS)

    def stamp(self, verbs: Iterable[Any]) -> tuple[dict[str, Any], ...]:
        """Wire dicts of ``verbs`` (builders or dicts, as :func:`verb_dicts` takes them) with
        an id on each verb that has none, and ``notifyEvents`` turned on in front of the
        first verbs of the call. The app's dicts are copied, never changed; a builder's wire
        dict is made fresh by ``to_dict()``, so it takes its id in place."""
        out: list[dict[str, Any]] = []
        if not self._events_on:
            self._events_on = True
            verbs = verb_dicts(verbs) or ()
            if not any(_turns_events_on(verb) for verb in verbs):
                out.append({"verb": "config", "notifyEvents": True, "id": self._new_id()})
        for verb in verbs:
            if isinstance(verb, dict):
                # a dict (a flow's CheckedWire too) as it is, or a copy with an id; first, as
                # the flow's verbs are dicts, and hasattr() misses cost an exception (issue 23)
                verb_id = verb.get("id") if "verb" in verb else _verb_id(verb)
                out.append(verb if isinstance(verb_id, str) else self._with_id(verb))
                continue
            if hasattr(verb, "_jbtrio_wire_") and callable(getattr(verb, "to_dict", None)):
                wire: dict[str, Any] = verb.to_dict()
                if "id" not in wire:
                    self._ids += 1
                    wire["id"] = f"{ID_PREFIX}{self._ids}"
                out.append(wire)
                continue
            # other mappings as a dict
            (plain,) = verb_dicts((verb,)) or ()
            out.append(plain if _verb_id(plain) is not None else self._with_id(plain))
        return tuple(out)

    def stamp_ack(self, ack: Ack, handle: ReplyHandle) -> Ack:
        """``ack`` with ids on its verbs, if they run in this call's own verb stack."""
        if not ack.verbs or not self.stamps(handle):
            return ack
        return Ack(msgid=ack.msgid, verbs=self.stamp(ack.verbs))

    def stamp_command(self, command: Command) -> Command:
        """``command`` with ids on its verbs, if it is a ``redirect`` for this call's stack."""
        if (
            not self.enabled
            or command.command != "redirect"
            or command.call_sid is not None
            or not isinstance(command.data, list)
        ):
            return command
        return attrs.evolve(command, data=list(self.stamp(command.data)))

    def _new_id(self) -> str:
        self._ids += 1
        return f"{ID_PREFIX}{self._ids}"

    def _with_id(self, verb: dict[str, Any]) -> dict[str, Any]:
        if "verb" in verb or len(verb) != 1:
            self._ids += 1
            return {**verb, "id": f"{ID_PREFIX}{self._ids}"}
        ((name, body),) = verb.items()
        if not isinstance(body, Mapping):
            return verb  # not a verb jambonz would run; validation reports it
        return {name: {**body, "id": self._new_id()}}

    def holds(self, frame: Frame) -> bool:
        """Whether ``frame`` must wait for the doubt to be decided: a command that appends
        verbs (its meaning depends on the stack before it)."""
        if not self._doubt or not self.enabled:
            return False
        message = frame.message
        return (
            isinstance(message, Command)
            and message.command == "redirect"
            and bool(message.queue_command)
            and isinstance(message.data, list)
        )

    def written(self, frame: Frame) -> None:
        """``frame`` reached a socket. A frame that replaces jambonz's stack makes older
        frames (and any doubt) moot: their fate no longer changes what jambonz runs."""
        message = frame.message
        if isinstance(message, Ack):
            handle = frame.handle
            if not message.verbs or handle is None:
                return
            hook = handle.message
            answers_hook = type(hook) is VerbHook
            if not answers_hook and not isinstance(hook, _STACK_ACKS):
                return
            if message.msgid != handle.ack_msgid:
                # The core's repeat of the session:new verbs in a reconnect's ack: jambonz
                # runs it only if it never read the first one (which it then never runs), so
                # it neither replaces what jambonz runs now nor may ever be re-sent.
                return
            replaces = True  # what replaces_stack(frame) says of such an ack
        elif (
            message.command == "redirect"
            and message.call_sid is None
            and isinstance(message.data, list)
        ):
            answers_hook = False
            replaces = not message.queue_command  # replaces_stack(frame), known a redirect
        else:
            return
        if replaces:
            if self._written:
                self._forget_written()
            if self._doubt:
                self._doubt.clear()
                self._doubt_until = None
                self._probe_id = None
        if not self.enabled and not answers_hook:
            return  # without receipts, only a hook's failure can show an ack was lost
        if len(self._written) >= self._max_tracked:
            # Bounded: the oldest unconfirmed frame is forgotten (it can no longer be
            # re-sent, only reported); a healthy call confirms frames long before this.
            self._drop_oldest()
        # Neither its ids nor the index yet: the next ack of a hook replaces it as a rule,
        # so they are made only when a receipt needs them (issue 23; see _confirm).
        seq = self._seq = self._seq + 1
        self._written.append(_Pending(seq, frame))

    def _ids_of(self, pending: _Pending) -> frozenset[str]:
        """The verb ids a tracked frame carries (none without receipts), made once."""
        ids = pending.ids
        if ids is None:
            ids = pending.ids = frozenset(_ids_in(pending)) if self.enabled else _NONE
        return ids

    def _carries(self, pending: _Pending, verb_id: str) -> bool:
        """Whether a tracked frame carries ``verb_id`` (as :meth:`_ids_of` would say). Its
        ids are not made for this: the frame a receipt names is, as a rule, the latest one,
        forgotten at once (issue 23)."""
        ids = pending.ids
        if ids is not None:
            return verb_id in ids
        if not self.enabled:
            return False
        # _ids_in's walk, last verb first, no list of ids made: the id a hook names is, as a rule,
        # its gather's, the frame's last verb (issue 23)
        for verb in _verbs_of(pending)[::-1]:  # not reversed(): mypyc 2.4.1 fails on it
            value = verb.get("id") if "verb" in verb else _verb_id(verb)
            if type(value) is str and value == verb_id:
                return True
        return False

    def _index(self) -> None:
        """Put the frames written since the last call in :attr:`_where` (in order: an id
        written twice names its latest frame). Each frame is indexed once."""
        written = self._written
        start = len(written)
        indexed = self._indexed
        while start and written[start - 1].seq > indexed:
            start -= 1
        where = self._where
        for index in range(start, len(written)):
            pending = written[index]
            for verb_id in self._ids_of(pending):
                where[verb_id] = pending.seq
        self._indexed = self._seq

    def _unindex(self, pending: _Pending) -> None:
        if pending.seq <= self._indexed:
            for verb_id in self._ids_of(pending):
                if self._where.get(verb_id) == pending.seq:
                    del self._where[verb_id]

    def _drop_oldest(self) -> None:
        self._unindex(self._written.pop(0))

    def _forget_written(self) -> None:
        self._written.clear()
        if self._where:
            self._where.clear()

    def forget(self, frame: Frame) -> None:
        """Stop tracking ``frame`` (written or in doubt): its fate is settled otherwise (the
        ``session:new`` ack, whose verbs a reconnect's ack repeats)."""
        for pending in [p for p in self._written if p.frame is frame]:
            self._written.remove(pending)
            self._unindex(pending)
        self._doubt = [p for p in self._doubt if p.frame is not frame]
        if not self._doubt:
            self._doubt_until = None
            self._probe_id = None

    def detach(self, now: float) -> None:
        """The socket died: what it carried without a receipt is in doubt from now on."""
        if not self._written:
            return
        self._doubt.extend(self._written)
        self._forget_written()
        del self._doubt[: max(0, len(self._doubt) - self._max_tracked)]
        # Without receipts nothing would ever confirm them: they wait, silently, for a
        # hook's failure or for a frame that makes them moot.
        self._doubt_until = now + self._doubt_timeout if self.enabled else None
        self._probe_id = None

    def probe(self) -> Command | None:
        """The probe to send first on the new socket (after the reconnect's ack), if a doubt
        needs one; ``None`` otherwise."""
        if not self._doubt or not self._probe_enabled or self._probe_id is not None:
            return None
        self._probe_id = f"{ID_PREFIX}p{self._ids + 1}"
        self._ids += 1
        return Command(
            command="redirect",
            data=[{"verb": _PROBE_VERB, "id": self._probe_id}],
            queue_command=True,
        )

    # ------------------------------------------------------------------ inbound

    def observe(self, message: InboundMessage | UnknownMessage) -> tuple[Verdict | None, bool]:
        """Take the evidence in ``message``; returns the verdict it settles, if any, and
        whether the message was only evidence for the core (a gather's hook failure whose
        ack is being re-sent: the app's flow is not told of a failure that is repaired)."""
        if isinstance(message, VerbStatus):
            verb_id = message.data.id
            if verb_id is None:
                return None, False
            if verb_id == self._probe_id and self._doubt:
                return self._probe_ran_first(verb_id), False
            return self._confirm(verb_id), False
        if isinstance(message, VerbHook):
            return self.observe_hook(message), False
        if isinstance(message, JambonzError) and message.data.msg == HOOK_FAILED:
            # The gather ran (a receipt for its frame); the ack of its hook, if it is in
            # doubt, did not reach jambonz.
            failed_id = message.data.id
            read = self._confirm(failed_id) if failed_id is not None else None
            index = self._failed_hook(message)
            if index is not None:
                return self._lose(
                    index, f"jambonz reported the {message.data.verb} hook failed"
                ), True
            return read, False
        return None, False

    def observe_hook(self, message: VerbHook) -> Verdict | None:
        """:meth:`observe` of a ``verb:hook`` (never only evidence): the receipt its
        ``verb_id`` is, if any (a call of its own: the call core's usual message)."""
        # Not verb_id (a str above): under mypyc, a peer's non-string would fail its check.
        hook_id = message.data.extra.get("verb_id")
        return self._confirm(hook_id) if isinstance(hook_id, str) else None

    def _probe_ran_first(self, probe_id: str) -> Verdict:
        """The probe ran before any verb in doubt: jambonz runs none of them any more. It
        either never read them, or read them and ran them to the end while their receipts
        died in the socket. The latter is impossible when the frame that decides jambonz's
        stack (the last one in doubt that replaces it) holds a verb that cannot end unseen:
        a ``gather`` (its hook, or its failure after the drop, reaches the app before the
        probe runs) or a ``hangup`` (jambonz would have ended the call, not reconnected).
        Then they were lost, and are re-sent; otherwise nothing can tell, and they are
        reported (a re-send of verbs that ran would run them twice)."""
        evidence = f"probe {probe_id} ran before any verb in doubt"
        start = max((i for i, p in enumerate(self._doubt) if _replaces(p)), default=0)
        if any(_leaves_a_trace(verb) for verb in _verbs_of(self._doubt[start])):
            return self._lose(start, evidence + " (its verbs could not have ended unseen)")
        return Verdict((), None, evidence, self._give_up())

    def _confirm(self, verb_id: str) -> Verdict | None:
        """A receipt: the frame carrying ``verb_id`` was read, and every frame written
        before it on the same socket (jambonz reads in order)."""
        for index, pending in enumerate(self._doubt) if self._doubt else ():
            if verb_id in self._ids_of(pending):
                del self._doubt[: index + 1]
                if self._doubt:
                    return None
                self._doubt_until = None
                self._probe_id = None
                return Verdict((), None, f"receipt for verb {verb_id}")
        written = self._written
        if not written:
            return None
        if self._carries(written[-1], verb_id):
            # All of them were read (as a rule: the receipt is the latest frame's), with no
            # index to look it up in (issue 23).
            self._forget_written()
            return None
        self._index()
        seq = self._where.get(verb_id)
        if seq is None:
            return None
        while written[0].seq <= seq:
            self._drop_oldest()
        return None

    def read(self, frame: Frame) -> None:
        """Other evidence shows jambonz read ``frame`` (and what came before it)."""
        if any(pending.frame is frame for pending in self._written):
            while self._written[0].frame is not frame:
                self._drop_oldest()
            self._drop_oldest()

    def _failed_hook(self, error: JambonzError) -> int | None:
        """The index in the doubt of the ack whose hook jambonz reports failed: matched by
        the verb's id when both sides have one, else (no ids) by the verb being a gather."""
        failed_id = error.data.id
        for index, pending in enumerate(self._doubt):
            answers_hook, answers = _answers(pending)
            if not answers_hook:
                continue
            if answers is not None and failed_id is not None:
                if answers == failed_id:
                    return index
            elif error.data.verb == "gather":
                return index
        return None

    def _lose(self, index: int, evidence: str) -> Verdict:
        lost = self._doubt[index:]
        self._doubt.clear()
        self._doubt_until = None
        self._probe_id = None
        return Verdict(tuple(p.frame for p in lost), _resend(lost), evidence)

    # ------------------------------------------------------------------ time

    @property
    def deadline(self) -> float | None:
        """When an undecided doubt is given up."""
        return self._doubt_until

    def tick(self, now: float) -> tuple[Frame, ...]:
        """Give up a doubt past ``doubt_timeout``: the frames it held, for the report."""
        if self._doubt_until is None or now < self._doubt_until:
            return ()
        return self._give_up()

    def _give_up(self) -> tuple[Frame, ...]:
        frames = tuple(p.frame for p in self._doubt)
        self._doubt.clear()
        self._doubt_until = None
        self._probe_id = None
        return frames

    def clear(self) -> None:
        """The call ended."""
        self._forget_written()
        self._doubt.clear()
        self._doubt_until = None
        self._probe_id = None


def replaces_stack(frame: Frame) -> bool:
    """Whether jambonz replaces the call's verb stack with ``frame``'s verbs when it reads
    it: a ``redirect`` that does not append, or an ack with verbs for this call's stack (not
    the core's repeat of the ``session:new`` verbs, which jambonz ignores once it read them)."""
    message = frame.message
    if isinstance(message, Ack):
        handle = frame.handle
        return (
            bool(message.verbs)
            and handle is not None
            and isinstance(handle.message, _STACK_ACKS)
            and message.msgid == handle.ack_msgid
        )
    return (
        message.command == "redirect"
        and message.call_sid is None
        and isinstance(message.data, list)
        and not message.queue_command
    )


def _resend(lost: Iterable[_Pending]) -> Command | None:
    """One ``redirect`` carrying what the lost frames would have done: from the last one
    that replaced the stack (everything before it was moot), the verbs of each in order."""
    pending = list(lost)
    start = max((i for i, p in enumerate(pending) if _replaces(p)), default=0)
    verbs: list[dict[str, Any]] = []
    for item in pending[start:]:
        verbs.extend(_verbs_of(item))
    if not verbs:
        return None
    return Command(command="redirect", data=verbs, queue_command=not _replaces(pending[start]))


#: Verbs that cannot run to their end without jambonz telling the app after a drop, or
#: without ending the call (see Receipts._probe_ran_first).
_TRACED: Final = frozenset({"gather", "hangup", "sip:decline"})


def _leaves_a_trace(verb: Mapping[str, Any]) -> bool:
    name = verb.get("verb") if "verb" in verb else next(iter(verb), None)
    return name in _TRACED


def _turns_events_on(verb: Mapping[str, Any]) -> bool:
    name = verb.get("verb") if "verb" in verb else next(iter(verb), None)
    return name == "config" and verb_body(verb).get("notifyEvents") is True
