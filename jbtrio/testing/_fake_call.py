"""One simulated call: :class:`FakeCall` lets a test watch and steer it.

One call is one :class:`~jbtrio.testing._requestor.Requestor` (sockets) plus one
:class:`~jbtrio.testing._executor.VerbExecutor` (verbs), run in a nursery owned by the call.
Nothing escapes a call but its :class:`CallOutcome`: connection failures, protocol faults and
timeouts all end as a typed outcome, so a test asserts on data instead of catching exceptions.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, Literal

import attrs
import trio

from jbtrio import DEFAULT_ERROR_VERBS

from ._acks import AckFailed
from ._app_view import app_view
from ._audio import FakeAudioLeg
from ._caller import Caller, Silence, Turn
from ._config import JambonzConfig, parse_hook_url
from ._connect import Connector, make_target
from ._envelope import AppCommand
from ._executor import VerbExecutor, check_verbs, normalize_verbs
from ._faults import Faults, FaultState
from ._outcome import AckRecord, AppError, CallOutcome, CallRecord
from ._render import render
from ._requestor import Requestor
from ._transcript import ConnEvent, Transcript, TranscriptFrame

__all__ = ["FakeCall", "FirstMessage"]

logger = logging.getLogger("jbtrio.testing.fake")

#: The first message on the socket: an inbound call, or a dialed leg promoted to a session.
FirstMessage = Literal["session:new", "session:adulting"]


class _CallLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every record with the call_sid (also available as ``record.call_sid``)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = self.extra or {}
        kwargs.setdefault("extra", {}).update(extra)
        return f"[{extra.get('call_sid')}] {msg}", kwargs


class FakeCall:
    """A running (or finished) simulated call.

    Read ``transcript`` (frames both ways), ``events`` (connection opens/closes),
    ``acked_verbs``, ``commands``, ``spoken`` and, once over, ``outcome``. Steer it with
    :meth:`speak`, :meth:`press`, :meth:`drop` and :meth:`hangup`; synchronise with
    :meth:`wait_for` and :meth:`finished`.
    """

    def __init__(
        self,
        *,
        config: JambonzConfig,
        target: str | Connector,
        connector: Connector | None,
        caller: Caller,
        faults: Faults,
        username: str | None,
        password: str | None,
        session_data: dict[str, Any],
        first_message: FirstMessage = "session:new",
        verbs: Sequence[dict[str, Any]] | None = None,
        error_verbs: Sequence[Any] | None = DEFAULT_ERROR_VERBS,
        audio_connector: Connector | None = None,
    ) -> None:
        url = target if isinstance(target, str) else "ws://localhost/"
        if not isinstance(target, str):
            connector = target
        if first_message == "session:adulting":
            # place-outdial.js connects to `${call_hook.url}/adulting`, a plain concatenation
            # (the fake keeps any #rc=/#rp= options, which jambonz would garble).
            base, sep, fragment = url.partition("#")
            url = base + "/adulting" + sep + fragment
        self.first_message = first_message
        self._adulting_verbs = list(verbs or [])
        self._apology = _wire_verbs(error_verbs or ())
        self.config = config
        self.call_sid: str = session_data["call_sid"]
        self.log = _CallLog(logger, {"call_sid": self.call_sid})
        self.record = CallRecord()
        self._transcript = Transcript()
        self._outcome_value: CallOutcome | None = None
        self._done = trio.Event()
        self._session_data = session_data
        self._connector = connector
        self._faults = FaultState(faults)
        self._numbers = itertools.count(1)
        self._nursery: trio.Nursery | None = None
        #: Every socket-owning requestor of the call; the first is also the notifier.
        self.requestors: list[Requestor] = []
        self.requestor = self._new_requestor(url, username, password)
        self.url = parse_hook_url(url).url
        self.session = VerbExecutor(
            requestor=self.requestor,
            config=config,
            caller=caller,
            call_info=dict(session_data),
            record=self.record,
            log=self.log,
            open_socket=self._open_socket,
            call_url=self.url,
            audio_connector=audio_connector,
        )

    # ----------------------------------------------------------------- observation

    @property
    def transcript(self) -> list[TranscriptFrame]:
        """Every frame so far, both directions, in wire order per direction."""
        return self._transcript.frames

    @property
    def events(self) -> list[ConnEvent]:
        """Connection opens, closes (code and side) and failed attempts."""
        return self._transcript.events

    @property
    def acks(self) -> list[AckRecord]:
        """Every ack the fake accepted with its verbs (``session:new`` first)."""
        return self.record.acks

    @property
    def acked_verbs(self) -> list[dict[str, Any]]:
        """All verbs the app answered in acks, normalised to ``{"verb": ..., ...}``, as the
        app wrote them (jbtrio's receipt ids and ``config`` verbs left out: see
        :func:`app_view`; ``record.acks`` and the transcript have them)."""
        return app_view(v for ack in self.record.acks for v in ack.verbs)

    @property
    def executed_verbs(self) -> list[dict[str, Any]]:
        """The verbs actually run, in order, as the app wrote them (jbtrio's receipt ids
        and ``config`` verbs left out; ``record.executed`` has every verb as run)."""
        return app_view(self.record.executed)

    @property
    def audio_legs(self) -> list[FakeAudioLeg]:
        """The audio sockets of the call's ``listen``/``stream`` verbs, in order: what the
        caller heard back (``heard``), marks, clips, what the app sent (``app_messages``)."""
        return self.record.audio_legs

    @property
    def commands(self) -> list[AppCommand]:
        """Every well-formed command the app sent."""
        return self.record.commands

    @property
    def spoken(self) -> list[str]:
        """What the caller heard: say texts and streamed TTS chunks."""
        return self.record.spoken

    @property
    def faults(self) -> list[str]:
        """App-side faults noted so far (one line each)."""
        return self.record.faults

    def sent(self, msg_type: str | None = None) -> list[TranscriptFrame]:
        """Frames jambonz sent (optionally only of ``msg_type``)."""
        return [f for f in self.transcript if f.direction == "out" and msg_type in (None, f.type)]

    def received(self, msg_type: str | None = None) -> list[TranscriptFrame]:
        """Frames the app sent (optionally only of ``msg_type``: an envelope type such as
        ``"ack"`` or ``"command"``, or a command's name such as ``"tts:tokens"``)."""
        return [
            f
            for f in self.transcript
            if f.direction == "in" and msg_type in (None, f.type, _command_name(f))
        ]

    async def wait_for(
        self, predicate: Callable[[TranscriptFrame], bool], *, start: int = 0
    ) -> TranscriptFrame:
        """The first frame from index ``start`` on matching ``predicate`` (waits for it).

        Raises :class:`FakeCallEnded` if the call ends first.
        """
        return await self._transcript.wait_for(predicate, start=start)

    async def wait_for_type(
        self, msg_type: str, direction: Literal["in", "out"] = "out", *, start: int = 0
    ) -> TranscriptFrame:
        """Shorthand: the first frame of ``msg_type`` in ``direction``."""
        return await self.wait_for(
            lambda f: f.direction == direction and f.type == msg_type, start=start
        )

    async def wait_event(self, predicate: Callable[[ConnEvent], bool]) -> ConnEvent:
        """The first connection event matching ``predicate`` (waits for it)."""
        return await self._transcript.wait_event(predicate)

    def readable(self) -> str:
        """The transcript so far as a person reads it, one short line per frame (what
        ``jbtrio call`` prints): ``print(call.readable())`` when a test puzzles you."""
        return "\n".join(render(self.transcript))

    def on_frame(self, listener: Callable[[TranscriptFrame], None]) -> None:
        """Call ``listener`` synchronously with every frame as it is recorded."""
        self._transcript.listeners.append(listener)

    @property
    def is_finished(self) -> bool:
        """Whether the call is over (``outcome`` is then available)."""
        return self._outcome_value is not None

    @property
    def outcome(self) -> CallOutcome:
        """How the call ended; raises :class:`RuntimeError` while it is still running."""
        if self._outcome_value is None:
            raise RuntimeError("the call is still running: await call.finished() first")
        return self._outcome_value

    async def finished(self) -> CallOutcome:
        """Wait for the end of the call and return its outcome."""
        await self._done.wait()
        return self.outcome

    # ----------------------------------------------------------------- steering

    def speak(self, text: str, confidence: float = 0.92) -> None:
        """The caller says ``text`` at the next (or current) gather."""
        self.session.add_turn(Turn("speech", text, confidence))

    def press(self, digits: str) -> None:
        """The caller presses ``digits`` at the next (or current) gather."""
        self.session.add_turn(Turn("digits", digits))

    def stay_silent(self) -> None:
        """The caller says nothing at the next gather (it times out)."""
        self.session.add_turn(Silence())

    def report_app_error(self, error: AppError) -> None:
        """Note that the app crashed on this call (the outcome is then not ``ok``).

        :func:`run_app` does it with the exception itself when the app runs in-process; a test
        serving its app some other way may do the same from an
        :meth:`~jbtrio.App.add_failure_listener` listener."""
        self.record.app_errors.append(error)
        if self._outcome_value is not None:
            self._outcome_value = attrs.evolve(
                self._outcome_value, app_errors=tuple(self.record.app_errors)
            )

    async def drop(self, code: int | None = None) -> None:
        """Kill the current connection (TCP loss, or close ``code``); jambonz reconnects."""
        await self.requestor.abort(code)

    async def hangup(self) -> CallOutcome:
        """The caller hangs up; returns the outcome once the call is over."""
        self.session.finish("completed", "caller hung up", "caller")
        return await self.finished()

    # ----------------------------------------------------------------- running

    def _new_requestor(self, url: str, username: str | None, password: str | None) -> Requestor:
        hook = parse_hook_url(url)
        requestor = Requestor(
            config=self.config,
            target=make_target(hook.url, self._connector, username, password),
            max_reconnects=hook.max_reconnects or self.config.max_reconnects,
            retry_policy=hook.retry_policy or self.config.retry_policy,
            transcript=self._transcript,
            faults=self._faults,
            log=self.log,
            on_command=self._on_command,
            on_fault=self.record.fault,
            numbers=self._numbers,
        )
        requestor.nursery = self._nursery
        self.requestors.append(requestor)
        return requestor

    def _open_socket(self, url: str, username: str | None, password: str | None) -> Requestor:
        """A new socket for a ``redirect`` verb to an absolute ws URL (with the same
        connector, if one was given), living as long as the call."""
        return self._new_requestor(url, username, password)

    async def _close_all(self, code: int) -> None:
        for requestor in self.requestors:
            await requestor.close(code)

    async def _on_command(self, cmd: AppCommand) -> None:
        await self.session.on_command(cmd)

    async def run(self) -> CallOutcome:
        """Run the call to its end; never raises except for cancellation."""
        outcome: CallOutcome | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self.requestor.nursery = nursery
                limit = self.config.max_duration
                with trio.move_on_after(math.inf if limit is None else limit) as scope:
                    outcome = await self._lifecycle()
                if scope.cancelled_caught:
                    outcome = self._outcome("failed", "max duration reached", "jambonz")
                    await self._close_all(1000)
                nursery.cancel_scope.cancel(reason="call over")
        except* Exception as group:
            self.log.error("fake jambonz crashed: %r", group)
            outcome = self._outcome("failed", f"fake jambonz crashed: {group!r}", "jambonz")
        finally:
            # Also reached on cancellation, so waiters never hang on a call that is gone.
            if outcome is None:
                outcome = self._outcome("failed", "call cancelled", "jambonz")
            self._outcome_value = outcome
            self._transcript.end()
            self._done.set()
        self.log.info("call over: %s", outcome.summary())
        return outcome

    def _outcome(
        self,
        status: Literal["completed", "failed"],
        reason: str,
        by: Literal["app", "caller", "jambonz"],
    ) -> CallOutcome:
        errors = tuple(self.record.app_errors)
        if not errors and self._apologised():
            errors = (AppError(self.call_sid, _APOLOGY_HEARD),)
        return CallOutcome(status, reason, by, tuple(self.record.faults), errors)

    def _apologised(self) -> bool:
        """Whether the last verbs run were the app's apology: what a jbtrio app plays when a
        flow raises (``App(error_verbs=...)``), followed by nothing else. The fake judges
        only from what jambonz ran; it sends nothing jambonz would not."""
        n = len(self._apology)
        return n > 0 and self.executed_verbs[-n:] == self._apology

    async def _fail_session(self, reason: str) -> CallOutcome:
        self.log.info("session:new failed: %s (SIP %d)", reason, self.config.sip_error_status)
        await self.requestor.close(1001)
        return self._outcome("failed", reason, "jambonz")

    async def _lifecycle(self) -> CallOutcome:
        if self.first_message == "session:adulting":
            return await self._adulting_lifecycle()
        result = await self.requestor.start_session(self._session_data)
        if isinstance(result, AckFailed):
            reason = "session:new ack timed out" if result.timed_out else result.reason
            return await self._fail_session(reason)
        verbs = result.data
        if not isinstance(verbs, list):
            return await self._fail_session(
                "invalid verbs: malformed jambonz payload: must be array"
            )
        if not verbs:
            return await self._fail_session("invalid verbs: no application provided")
        problem = check_verbs(verbs, self.config.jambonz)
        if problem is not None:
            return await self._fail_session(f"invalid verbs: {problem}")
        normalized = normalize_verbs(verbs)
        self.record.acks.append(AckRecord("session:new", None, tuple(normalized)))
        return await self._run_session(normalized)

    async def _adulting_lifecycle(self) -> CallOutcome:
        """A dialed leg promoted to its own session: its verbs came from the parent's command,
        so the ``session:adulting`` ack is awaited but its data ignored (place-outdial.js)."""
        result = await self.requestor.start_session(self._session_data, "session:adulting")
        if isinstance(result, AckFailed) and not result.timed_out:
            return await self._fail_session(result.reason)
        problem = check_verbs(self._adulting_verbs, self.config.jambonz)
        if problem is not None:
            return await self._fail_session(f"invalid verbs: {problem}")
        return await self._run_session(normalize_verbs(self._adulting_verbs))

    async def _run_session(self, normalized: list[dict[str, Any]]) -> CallOutcome:
        start = trio.current_time()
        end = await self.session.run(normalized)
        termination = "caller" if end.by == "caller" else "jambonz"
        await self.requestor.notify(
            "call:status",
            self.session.call_info(
                call_status="completed",
                sip_status=200,
                duration=round(trio.current_time() - start),
                call_termination_by=termination,
            ),
        )
        # Sockets opened by a redirect verb are closed too; the first one stays the notifier
        # (it gets this call:status) until the end, as for inbound calls in jambonz.
        await self._close_all(1000)
        return self._outcome(end.status, end.reason, end.by)


_APOLOGY_HEARD = "a flow crashed: its apology (error_verbs) was played"


def _command_name(frame: TranscriptFrame) -> str | None:
    if frame.type != "command" or frame.data is None:
        return None
    name = frame.data.get("command")
    return name if isinstance(name, str) else None


def _wire_verbs(verbs: Sequence[Any]) -> list[dict[str, Any]]:
    """Builders or dicts as the fake records executed verbs (``{"verb": ...}``, no ids)."""
    wire = [v.to_dict() if hasattr(v, "to_dict") else dict(v) for v in verbs]
    return app_view(normalize_verbs(wire))
