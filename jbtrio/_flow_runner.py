"""Driving flows: each step handed to jambonz, and the code resumed with what it reported.

A :class:`FlowRunner` is the part of a call that knows *who answers what*. A step's verbs
answer the hook that resumed the code while jambonz still waits for that ack, else they go
out as a ``redirect``; the step then waits for the hook or the ``verb:status`` its verbs will
fire. Inbound routing hands those in (:meth:`~FlowRunner.deliver_hook`,
:meth:`~FlowRunner.verb_finished`), and the news that they will never come
(:meth:`~FlowRunner.jambonz_error`, :meth:`~FlowRunner.unconfirmed`), so no step waits forever.

It knows nothing of :class:`~jbtrio.Call` or the app: the call hands in what a crash needs
(the apology, and who to tell) and what an ``llm`` verb needs before it goes out.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from types import AsyncGeneratorType
from typing import Any, Final, TypeVar

import trio

from . import commands
from ._core import ReplyHandle, Unconfirmed
from ._errors import (
    DeliveryUnknown,
    HookFailed,
    MessageTooLargeError,
    ProtocolError,
    ReplyError,
    VerbError,
)
from ._flow import (
    PLANS,
    Parser,
    Step,
    Steps,
    as_tuple,
    closes_quietly,
    hook_url,
    plan,
    verb_name,
    wire_copy,
)
from ._runtime import CallSession
from ._wire import Ack, JambonzError, VerbHook
from .verbs import Verb, checked_wire, verb_body
from .verbs import verb_name as written_name

__all__ = ["DEFAULT_ERROR_VERBS", "FlowRunner"]

#: What a call hears when its flow crashes, unless the app configures otherwise.
DEFAULT_ERROR_VERBS: tuple[Mapping[str, Any], ...] = (
    {"verb": "say", "text": "Sorry, something went wrong. Goodbye."},
    {"verb": "hangup"},
)

#: ``jambonz:error`` ``msg`` when jambonz could not get an answer from a verb's action hook.
_HOOK_FAILED = "invalid actionHook response"

#: How long a flow's ``finally`` blocks may run after a hang-up.
_FLOW_CLOSE_TIMEOUT = 5.0
#: Errors a yield can cause that are thrown back into the flow at that ``yield``.
_STEP_ERRORS = (ProtocolError, VerbError, MessageTooLargeError, TypeError, HookFailed)

_C = TypeVar("_C")

#: A parked flow's waiter failed with this by :meth:`FlowRunner.stop`: never raised, its
#: step returns :data:`_CLOSED` instead.
_CLOSING: Final = HookFailed("flow", "the flow is being closed")
#: What a closed step returns to :meth:`FlowRunner.run`, which then ends the flow.
_CLOSED: Final[Any] = object()


class _HookWaiter:
    """Resolved by the first of a step's hooks to fire, or failed when jambonz reports that
    it could not deliver the hook of one of the step's ``verbs``.

    The step's task parks itself (:attr:`task`) with Trio's low-level parking, and is
    rescheduled by the first of :meth:`deliver`, :meth:`fail` and :meth:`close`: one waiter
    is made per hook round trip, so it is its own wake-up rather than holding a
    :class:`~jbtrio._runtime.Wakeup` or a ``trio.Event``, and the step parks with no
    coroutine of its own between (issue 23).
    """

    __slots__ = ("handle", "ids", "outcome", "task", "verbs")

    def __init__(self, verbs: Collection[str], ids: Collection[str] = ()) -> None:
        self.verbs = verbs
        self.ids = ids
        # The hook that fired, or the failure: one slot for either (a parked call holds
        # one waiter, issue 23: memory per call).
        self.outcome: VerbHook | HookFailed | None = None
        self.handle: ReplyHandle | None = None
        self.task: trio.lowlevel.Task | None = None

    def abort(self, _: Any) -> trio.lowlevel.Abort:
        """The parked task was cancelled: nothing to wake any more."""
        self.task = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _wake(self) -> None:
        task = self.task
        if task is not None:
            self.task = None
            trio.lowlevel.reschedule(task)

    def deliver(self, message: VerbHook, handle: ReplyHandle | None) -> None:
        if self.outcome is None:  # the first of hook and failure wins
            self.outcome = message
            self.handle = handle
            self._wake()

    def fail(self, error: HookFailed) -> None:
        if self.outcome is None:
            self.outcome = error
            self._wake()

    def close(self) -> bool:
        """The flow parked on it is closed (see :meth:`FlowRunner.stop`); False when a hook
        or a failure woke it first."""
        if self.outcome is None:
            self.outcome = _CLOSING
            self._wake()
            return True
        return False


class _Driver:
    """Who is answering what: the reply a flow's next ``yield`` answers, and its scope.

    A call has a main driver (its flow, or the awaitable verbs); a ``dial:confirm`` flow or a
    flow taking over on ``session:redirect`` gets its own, so they never answer each other's
    hooks.
    """

    __slots__ = ("after_hook", "answered", "parked", "pending", "scope", "waiter")

    #: The scope of the flow it runs, made by :meth:`FlowRunner.run` (a scope is entered
    #: once: each flow run needs its own, so none is made here, issue 23).
    scope: trio.CancelScope

    def __init__(self, pending: ReplyHandle | None) -> None:
        self.pending = pending
        self.answered: ReplyHandle | None = None
        """The hook this driver answered last (its ack may still be queued, and the verbs
        of the next steps can then travel in it)."""
        self.parked: _HookWaiter | None = None
        """What its flow's task waits for, while parked on a step's hooks."""
        # The waiter of its flow's own steps, which run one at a time: made by the first,
        # then reused, not one made per hook round trip (issue 23). Nothing else holds it
        # once a step is over (the step unregisters it); a parked call holds one either way.
        self.waiter: _HookWaiter | None = None
        # Whether the code last resumed on a hook: its next verbs replace what jambonz is
        # running (as an ack would). After a yield that resumed at once they are appended,
        # so ``yield Say(...)`` then ``yield Gather(...)`` plays the say, then gathers.
        self.after_hook = True


def _drop_tracebacks(exc: BaseException) -> None:
    """Clear the tracebacks of ``exc`` and of the exceptions chained to it, once logged: a
    traceback's frames refer to the call (and to the exception, through their locals), a
    cycle only a full collection would free. Kept when a failure listener (the testing kit)
    took the exception, to show where the flow raised."""
    stack: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        stack += (current.__context__, current.__cause__)


def _nothing_to_prepare(verbs: list[dict[str, Any]]) -> None:
    pass


def _no_listener(where: str, exc: Exception) -> bool:
    return False


class FlowRunner:
    """The flows and awaitable verbs of one call, and the hooks their steps wait for.

    ``first`` is the reply the main driver's first step answers (the session's start);
    ``prepare_llm(verbs)`` is called on each step's wire verbs before they go out;
    ``error_verbs()`` is the apology a crashed flow plays; ``failed(where, exc)`` hears the
    crash (after it is logged, before the apology).
    """

    # Slots: one per call (issue 23: memory per call).
    __slots__ = (
        "_completed",
        "_drivers",
        "_error_verbs",
        "_failed",
        "_finish_waiters",
        "_hook_waiters",
        "_hooks_made",
        "_ids_made",
        "_main",
        "_notify_events_on",
        "_prepare_llm",
        "_session",
    )

    def __init__(
        self,
        session: CallSession,
        first: ReplyHandle | None,
        *,
        prepare_llm: Callable[[list[dict[str, Any]]], None],
        error_verbs: Callable[[], Iterable[Any]],
        failed: Callable[[str, Exception], bool],
    ) -> None:
        self._session = session
        self._prepare_llm = prepare_llm
        self._error_verbs = error_verbs
        self._failed = failed
        self._main = _Driver(first)
        self._drivers: list[_Driver] = []  # a list: an empty set is 216 B per call
        self._hook_waiters: dict[str, _HookWaiter] = {}
        self._finish_waiters: dict[str, trio.Event] = {}
        self._hooks_made = 0
        self._ids_made = 0
        self._notify_events_on = False
        self._completed = False

    @property
    def completed(self) -> bool:
        """Whether jambonz reported the call completed (:meth:`call_completed`)."""
        return self._completed

    # ------------------------------------------------------------------ steps

    async def step(
        self, step: Any, driver: _Driver | None = None, *, closable: bool = False
    ) -> Any:
        """Hand one flow step to jambonz and wait as the flow would (see :mod:`jbtrio._flow`).

        Returns the typed payload of the hook that fired, or ``None``; ``_CLOSED`` when
        ``closable`` (the driver's own flow task steps) and :meth:`stop` closed the flow.
        """
        driver = driver or self._main
        verbs: list[dict[str, Any]] | None
        verbs, hooks, finished_id, hook_ids, names, ai = self._prepare(step)
        # Neither what the flow yielded nor its wire verbs is held while the flow waits for
        # a hook: they are sent by then (issue 23: memory per parked call). Dropped by
        # assigning None, not ``del``: mypyc cannot delete a compiled coroutine's locals.
        step = None
        if ai:
            self._prepare_llm(verbs)
        waiter: _HookWaiter | None = None
        if hooks:
            if closable and (waiter := driver.waiter) is not None:
                waiter.verbs, waiter.ids = names, hook_ids  # its own flow's (_Driver.waiter)
            else:
                waiter = _HookWaiter(names, hook_ids)
                if closable:
                    driver.waiter = waiter
        finished = trio.Event() if finished_id is not None else None
        for hook, _ in hooks:
            self._hook_waiters[hook] = waiter  # type: ignore[assignment]
        if finished is not None:
            self._finish_waiters[finished_id] = finished  # type: ignore[index]
        try:
            final = waiter is not None or finished is not None
            if not self._answer(verbs, driver, final):  # the usual case, no coroutine
                await self._hand_over(verbs, driver, final=final)
            verbs = None
            if finished_id is not None:
                self._notify_events_on = True
            if waiter is not None:
                if closable:
                    driver.parked = waiter
                if waiter.outcome is None:
                    waiter.task = trio.lowlevel.current_task()
                    # a bound method, not a closure: held while parked (most of a call's life)
                    await trio.lowlevel.wait_task_rescheduled(waiter.abort)
                else:  # resolved already
                    await trio.lowlevel.checkpoint()
                message = waiter.outcome
                if isinstance(message, HookFailed):
                    if message is _CLOSING:
                        return _CLOSED
                    driver.after_hook = True  # jambonz idles with an empty stack
                    raise message
                assert message is not None and message.hook is not None
                driver.pending = waiter.handle
                driver.after_hook = True
                for hook, parse in hooks:  # a loop, not next(genexpr): one or two pairs
                    if hook == message.hook:
                        return parse(message)
                # The waiter is registered under these paths only, so this cannot happen.
                raise RuntimeError(f"no parser for hook {message.hook!r}")
            if finished is not None:
                await finished.wait()
            return None
        finally:
            if closable:
                driver.parked = None  # however the wait ended (a cancellation too)
                if waiter is not None:  # ready for the next step; holds nothing of this one
                    waiter.outcome = waiter.handle = None
            for hook, _ in hooks:
                if self._hook_waiters.get(hook) is waiter:
                    del self._hook_waiters[hook]
            if finished_id is not None:
                self._finish_waiters.pop(finished_id, None)

    def _prepare(
        self, step: Any
    ) -> tuple[
        list[dict[str, Any]],
        tuple[tuple[str, Parser], ...],
        str | None,
        tuple[str, ...],
        tuple[str, ...],
        bool,
    ]:
        """Turn what a flow yielded into wire verbs, assigning hooks and ids as needed.

        Returns (the wire verbs, the hooks that resume the flow as ``(path, parser)`` pairs,
        the last verb's first when two share a path, the id of the verb whose ``verb:status``
        ``finished`` resumes it, the ids of the verbs whose hooks do, the canonical names of
        the verbs, whether one is an ``llm`` (or alias) or ``agent`` verb). jambonz names the
        id when it reports that a hook failed, so a failure is told to the step it concerns;
        the call gives an AI verb its own hooks before it goes out.

        Each verb is walked once, here: a builder becomes a :class:`~jbtrio.verbs.CheckedWire`
        (what it was checked valid for travels with it, so it is not validated again when
        sent; ids and hook paths are all this adds), a dict a copy one level deep. A method
        returning a tuple, not a function making an object: it runs at every ``yield``, and
        hook paths and ids come from the runner's counters (issue 23).
        """
        if type(step) is list:  # what a flow yields most
            items: Any = step
            wait_finished = False
        elif type(step) is Step:
            items, wait_finished = step.verbs, step.wait_finished
        else:
            items, wait_finished = as_tuple(step), False
        verbs: list[dict[str, Any]] = []
        # Lists, then tuples: a flow step parked on a hook holds them, and a set is 216 B.
        names: list[str] = []
        hooks: list[tuple[str, Parser]] = []
        hook_ids: list[str] = []
        ai = False
        for item in items:
            if isinstance(item, Verb):
                name, is_ai, prop, parser = PLANS.get(item.verb) or plan(item.verb)
                verb: dict[str, Any] = item.to_dict() if is_ai else checked_wire(item)
                body = verb
            else:
                verb = wire_copy(item)
                written = written_name(verb)
                body = verb_body(verb)
                if written is None:
                    verbs.append(verb)
                    continue
                name, is_ai, prop, parser = PLANS.get(written) or plan(written)
            verbs.append(verb)
            names.append(name)
            if is_ai:
                ai = True
            if prop is None:
                continue
            url = hook_url(body.get(prop))
            if url is None:
                self._hooks_made += 1
                url = body[prop] = f"/jbtrio/{name.replace(':', '-')}/{self._hooks_made}"
            hooks.insert(0, (url, parser))  # the last verb wins a shared path, as a dict's
            verb_id = body.get("id")
            if verb_id is None and "id" not in body:
                verb_id = body["id"] = self._new_id()
            if isinstance(verb_id, str):
                hook_ids.append(verb_id)
        finished_id = None
        if wait_finished and verbs:
            for verb in verbs:
                body = verb_body(verb)
                if "id" not in body:
                    body["id"] = self._new_id()
            finished_id = str(verb_body(verbs[-1])["id"])
            if not self._notify_events_on:
                verbs.insert(0, {"verb": "config", "notifyEvents": True})
                names.append("config")
        return verbs, tuple(hooks), finished_id, tuple(hook_ids), tuple(names), ai

    def _answer(self, verbs: list[dict[str, Any]], driver: _Driver, final: bool) -> bool:
        """:meth:`_hand_over`'s usual case (the pending hook answered), without a coroutine
        of its own (issue 23). False, the driver left as it was, when jambonz no longer waits
        for that hook: then :meth:`_hand_over` sends the verbs."""
        handle = driver.pending
        if handle is None or not handle.is_open:
            return False
        replace = driver.after_hook
        driver.pending = None
        driver.after_hook = False
        try:
            self._session.reply(handle, verbs, now=final)
        except ReplyError:
            driver.after_hook = replace  # its window closed meanwhile: a command instead
            return False
        except _STEP_ERRORS:
            if handle.is_open:  # refused, nothing went out: the next step answers it
                driver.pending = handle
            driver.after_hook = replace
            raise
        driver.answered = handle
        return True

    async def _hand_over(
        self, verbs: list[dict[str, Any]], driver: _Driver, *, final: bool = True
    ) -> None:
        """Answer the pending hook with ``verbs`` if jambonz still waits, else redirect.

        A redirect replaces jambonz's verb stack when these verbs answer a hook (what the
        ack would have done), and is queued after it otherwise. ``final=False`` (the flow
        resumes at once) leaves the ack queued until the flow's next checkpoint, so that
        the next step may still join it; a final step's ack is written at once.
        """
        if self._answer(verbs, driver, final):
            return
        # jambonz no longer waits for the pending hook, if there was one: a command.
        driver.pending = None
        replace, driver.after_hook = driver.after_hook, False
        try:
            answered, driver.answered = driver.answered, None
            if not replace and answered is not None and self._session.extend_reply(answered, verbs):
                driver.answered = answered  # still queued: later steps may join it too
                await trio.lowlevel.checkpoint()
                return
            await self._session.send(commands.redirect(verbs, queue=not replace))
        except _STEP_ERRORS:
            # Refused (too large, invalid): nothing went out; the next step sends it again.
            driver.after_hook = replace
            raise

    def _new_id(self) -> str:
        self._ids_made += 1
        return f"jbf{self._ids_made}"

    # ------------------------------------------------------------------ flows

    async def run(
        self, flow: Callable[[_C], Steps], call: _C, *, first: ReplyHandle | None = None
    ) -> None:
        """Drive ``flow(call)`` to its end (see :meth:`jbtrio.Call.run_flow`)."""
        driver = self._main if first is None else _Driver(first)
        driver.scope = trio.CancelScope()
        self._drivers.append(driver)
        agen: AsyncGeneratorType[Any, Any] | None = None
        try:
            made: object = flow(call)
            if not inspect.isasyncgen(made):
                if inspect.iscoroutine(made):
                    made.close()  # an ``async def`` without ``yield``: never to be awaited
                raise TypeError(f"{flow!r} is not an async generator function (it must yield)")
            agen = made
            with driver.scope:
                if self._completed:
                    driver.scope.cancel()
                # The flow is driven here, not in a coroutine of its own: one frame fewer
                # resumed and suspended per hook round trip (issue 23). What it resumes
                # with: ``error`` thrown in when set, else ``answer`` sent in.
                answer: Any = None
                error: Exception | None = None
                closed = False
                while True:
                    try:
                        if error is None:
                            yielded = await agen.asend(answer)
                        else:
                            yielded = await agen.athrow(error)
                    except StopAsyncIteration:
                        break
                    stepping = self.step(yielded, driver, closable=True)
                    # not held while the step waits (issue 23); None: mypyc cannot del
                    yielded = None
                    try:
                        answer = await stepping
                        error = None
                    except _STEP_ERRORS as refused:
                        answer, error = None, refused
                    if answer is _CLOSED:
                        closed = True  # stop() closed the flow (closed below)
                        break
                if not closed:
                    handle, driver.pending = driver.pending, None
                    if handle is not None and handle.is_open:
                        self._session.reply(handle, None)  # let jambonz carry on
        except Exception as exc:  # the author's code failed: this call only
            name = getattr(flow, "__name__", repr(flow))
            if isinstance(exc, ProtocolError):  # jambonz's data, not the author's code
                self._session.log.error("flow %s ended by what jambonz sent: %s", name, str(exc))
            else:
                self._session.log.error("flow %s failed: %r", name, exc, exc_info=exc)
            if not self._failed(f"flow {name}", exc):
                _drop_tracebacks(exc)  # their frames hold this call: no cycle outlives it
            await self._apologise(driver)
        finally:
            if driver in self._drivers:
                self._drivers.remove(driver)
            # A finished generator has nothing to close. Else its ``finally`` blocks run
            # shielded from the call's end, bounded by their own deadline: one scope does
            # both (issue 23: a scope costs more than a message's routing). A flow with no
            # ``try``, ``with`` or ``async for`` has no code to run when closed, so nothing
            # that could wait: no scope (issue 23).
            if agen is not None and agen.ag_frame is not None:
                if closes_quietly(agen.ag_code):
                    await agen.aclose()
                else:
                    with trio.CancelScope(
                        shield=True, deadline=trio.current_time() + _FLOW_CLOSE_TIMEOUT
                    ):
                        await agen.aclose()

    async def _apologise(self, driver: _Driver) -> None:
        try:
            await self._hand_over([_wire(v) for v in self._error_verbs()], driver)
        except Exception as exc:
            self._session.log.error("could not send the apology: %r; hanging up", exc)
            await self._session.send(commands.hangup())

    def release(self) -> None:
        """The call is over: let go of the call's callbacks (they refer back to the call)."""
        self._prepare_llm = _nothing_to_prepare
        self._error_verbs = tuple
        self._failed = _no_listener

    def stop(self, reason: str, *, level: int = logging.INFO) -> None:
        """Close every flow running (their ``finally`` blocks run).

        A flow parked on a step's hooks (how every call ends) is woken to end, rather than
        cancelled: a cancellation costs an exception through every frame up to the call's
        nurseries (issue 23); it leaves its scope with no checkpoint between. One that a
        hook resumed first (or that runs its own code) is cancelled.
        """
        log = self._session.log
        for driver in list(self._drivers):
            if log.isEnabledFor(level):  # DEBUG at every call's end: checked once here
                log.log(level, "closing the flow: %s", reason)
            parked = driver.parked
            if parked is None or not parked.close():
                driver.scope.cancel()

    def call_completed(self) -> None:
        """jambonz reported the call completed: close the flows, and any started later.

        Logged at DEBUG: it is how every call ends, and the call's end line says so already.
        """
        self._completed = True
        self.stop("jambonz reported the call completed", level=logging.DEBUG)

    # ------------------------------------------------------------------ what steps wait for

    def deliver_hook(self, message: VerbHook, handle: ReplyHandle | None) -> bool:
        """Resume the step waiting for this hook; False when no step waits for it."""
        hook = message.hook
        waiter = self._hook_waiters.get(hook) if hook is not None else None
        if waiter is None:
            return False
        waiter.deliver(message, handle)
        return True

    def verb_finished(self, verb_id: str) -> None:
        """``verb:status`` ``finished`` for ``verb_id``: resume the step waiting for it."""
        done = self._finish_waiters.get(verb_id)
        if done is not None:
            done.set()

    def jambonz_error(self, message: JambonzError) -> None:
        """When jambonz gave up on a verb's action hook, the steps waiting on it must not wait
        forever (jambonz runs nothing more until it gets new verbs). A failure the core
        repairs (an answer that died with its socket, re-sent) never gets here."""
        verb = message.data.verb
        if message.data.msg != _HOOK_FAILED or verb is None:
            return
        error = HookFailed(verb, _HOOK_FAILED, message.data.details)
        failed_id = message.data.id
        failed = {
            id(w): w
            for w in self._hook_waiters.values()
            if (failed_id in w.ids if failed_id is not None else verb in w.verbs)
        }
        for waiter in failed.values():
            self._session.log.warning("%s; the flow step waiting for it is told", error)
            waiter.fail(error)

    def unconfirmed(self, event: Unconfirmed) -> None:
        """Verbs whose fate after a drop stayed unknown: the steps waiting for their hooks
        are told (:class:`~jbtrio.DeliveryUnknown`) instead of waiting forever."""
        for frame in event.frames:
            message = frame.message
            verbs = message.verbs if isinstance(message, Ack) else message.data
            for verb in verbs or ():
                for value in verb_body(verb).values():
                    waiter = self._hook_waiters.get(hook_url(value) or "")
                    if waiter is not None:
                        waiter.fail(DeliveryUnknown(verb_name(verb) or "verb"))


def _wire(verb: Any) -> dict[str, Any]:
    to_dict = getattr(verb, "to_dict", None)
    wire: dict[str, Any] = to_dict() if to_dict is not None else dict(verb)
    return wire
