"""jambonz 0.9.8 as one call's app sees it, reduced to a model the core's properties run
against (``tests/test_core_properties.py``, ``docs/jambonz.md``, "Reconnects").

No sockets and no clock of its own: the state machine drives it step by step and passes the
time. What it does, in the words of the facts it rests on:

- **Sockets.** jambonz opens every socket; the first carries ``session:new``, each later one
  starts with ``session:reconnect``. It reads the app's frames in order; what is on the wire
  when a socket dies may die with it. What jambonz writes reaches the app in order, and what
  it wrote into a socket that died is lost ("lost receipts"). While no socket is up, while a
  reconnect waits for its ack, and during the re-key stall, what it produces is queued, and
  sent in order when a normal reconnect is acked — except that the first message produced
  after a drop (the one that asks for a connection) goes after those produced while
  connecting. It reconnects after a drop unless ``MAX_RECONNECTS`` sockets were opened.
- **Acks.** A message that wants an ack is in flight from the moment it is written, for
  ``ACK_TIMEOUT`` seconds. An ack for a msgid not in flight is a defect of the app side
  (jambonz would discard it). The "initial msgid" is set when ``session:new`` is written and
  cleared by *any* ack jambonz reads; while it is set a drop abandons nothing and the next
  ``session:reconnect`` is re-keyed: it carries ``session:new``'s request (and its timer), its
  ack starts the call, and from then on jambonz holds back everything it produces until a
  *normal* reconnect's ack (the re-key stall). Otherwise a drop abandons every request in
  flight: an abandoned ``session:reconnect`` makes jambonz hang up the call; an abandoned
  action hook of a ``gather`` is reported after the reconnect with ``jambonz:error``
  ("invalid actionHook response", the gather's ``id``, no ``details``) and a ``call:status``
  carrying the error; the hooked verb then ends and the call goes on.
- **Verbs.** The ``session:new`` ack's verbs, a hook's or ``session:redirect``'s ack with verbs,
  and a ``redirect`` command replace the verb stack (the running verb is killed); a
  ``redirect`` with ``queueCommand`` appends. A ``session:reconnect`` ack's verbs are ignored
  unless it was re-keyed. ``config`` runs at once (``notifyEvents`` turns ``verb:status`` on);
  ``hangup`` ends the call; other verbs run until the machine ends them; a verb with an
  ``actionHook`` then sends ``verb:hook`` (with the verb's ``id`` as ``verb_id``) and waits for
  its answer. With ``notifyEvents`` on, every verb reports ``starting`` and ``finished`` (a
  killed one too), naming its ``id``.

Every verb id that enters the stack is counted: the second time is a duplicate (an
``AssertionError`` at the read that caused it).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import attrs
import orjson

from jbtrio._core import Frame, verb_body
from jbtrio._wire import (
    CallInfo,
    CallStatus,
    DialConfirm,
    ErrorDetails,
    InboundMessage,
    JambonzError,
    SessionAdulting,
    SessionNew,
    SessionReconnect,
    SessionRedirect,
    TokensResult,
    TtsTokensResult,
    UnknownMessage,
    VerbHook,
    VerbStatus,
    VerbStatusEvent,
    VerbStatusEventType,
)

SID = "c0ffee00-0000-4000-8000-0000000000aa"
#: jambonz waits this long for an ack, from the moment it wrote the message.
ACK_TIMEOUT = 5.0
#: jambonz reconnects after a drop only while fewer sockets than this were opened (``rc``).
MAX_RECONNECTS = 5
HOOK_FAILED = "invalid actionHook response"

Message = InboundMessage | UnknownMessage
Role = Literal["start", "reconnect-ack", "hook", "redirect", "other-leg", "ignored", "command"]
Other = Literal[
    "call:status",
    "verb:status",
    "jambonz:error",
    "session:redirect",
    "dial:confirm",
    "session:adulting",
    "agent:future",
    "session:new",
]


def info(**extra: Any) -> CallInfo:
    """Call data as jambonz sends it, with ``extra`` fields (``verb_id``, ``error``)."""
    return CallInfo(
        call_sid=SID, direction="inbound", from_="+15550001", to="+15550002", extra=extra
    )


def is_evidence(message: Message) -> bool:
    """Whether the core reads ``message`` as evidence about the verbs it sent (such
    messages keep their order on the way to the app)."""
    return isinstance(message, VerbStatus | VerbHook | JambonzError)


@attrs.define(eq=False)
class Verb:
    """One verb in jambonz's stack, as the app's frame carried it."""

    body: dict[str, Any]
    hook: Request | None = None
    """Its action hook, once sent."""

    @property
    def name(self) -> str:
        return str(self.body["verb"])

    @property
    def id(self) -> str | None:
        value = self.body.get("id")
        return value if isinstance(value, str) else None


@attrs.define(eq=False)
class Request:
    """A message jambonz waits an ack for; ``deadline`` is set when it is written."""

    kind: str
    message: Message
    verb: Verb | None = None
    deadline: float | None = None


@attrs.frozen
class Read:
    """What jambonz did with one app frame: ``applied`` are the ids of the verbs it put in the
    call's stack (empty when it put none there)."""

    frame: Frame
    role: Role
    applied: tuple[str, ...] = ()


def ids_of(verbs: Any) -> tuple[str, ...]:
    """The ids of a wire verb list, in order."""
    if not isinstance(verbs, list | tuple):
        return ()
    out = []
    for verb in verbs:
        value = verb_body(verb).get("id")
        if isinstance(value, str):
            out.append(value)
    return tuple(out)


class Jambonz:
    """The model (see the module doc). The machine reads ``to_app``, writes to ``wire``, and
    calls the step methods; every protocol breach by the app side is an AssertionError."""

    def __init__(self) -> None:
        self.msgids = 0
        self.connections = 0
        self.socket = False
        self.connecting = False
        self.gone = False
        """Dropped with ``MAX_RECONNECTS`` sockets opened: no reconnect by timer."""
        self.init_set = False
        self.running = False
        self.in_flight: dict[str, Request] = {}
        self.dead: dict[str, str] = {}
        self.acked: set[str] = set()
        self.reconnect_msgid: str | None = None
        self.stalled = False
        self.held: list[tuple[Message, Request | None]] = []
        self.trigger: tuple[Message, Request | None] | None = None
        self.to_app: list[Message] = []
        self.wire: list[Frame] = []
        self.stack: list[Verb] = []
        self.current: Verb | None = None
        self.notify = False
        self.applied: Counter[str] = Counter()
        self.hung_up: str | None = None

    # ------------------------------------------------------------------ state

    @property
    def writable(self) -> bool:
        """Whether what jambonz produces now is written at once (else it is queued)."""
        return self.socket and self.reconnect_msgid is None and not self.stalled

    @property
    def idle(self) -> bool:
        """No verb running or waiting to run."""
        return self.current is None and not self.stack

    @property
    def backlog(self) -> int:
        """Messages produced and not yet written."""
        return len(self.held) + (self.trigger is not None)

    def _msgid(self, prefix: str) -> str:
        self.msgids += 1
        return f"{prefix}{self.msgids}"

    # ------------------------------------------------------------------ writing

    def _emit(self, message: Message, request: Request | None, now: float) -> None:
        if self.hung_up is not None:
            return
        if self.writable:
            self._write(message, request, now)
        elif not self.socket and self.trigger is None and not self.connecting:
            # This one asks for a connection; jambonz queues it once the socket is up,
            # after what was produced while connecting.
            self.trigger = (message, request)
            self.connecting = True
        else:
            self.held.append((message, request))

    def _write(self, message: Message, request: Request | None, now: float) -> None:
        self.to_app.append(message)
        if request is not None:
            request.deadline = now + ACK_TIMEOUT
            self.in_flight[message.msgid or ""] = request

    def _flush(self, now: float) -> None:
        held, self.held = self.held, []
        for message, request in held:
            self._write(message, request, now)

    # ------------------------------------------------------------------ sockets

    def open_call(self, now: float) -> SessionNew:
        """The first socket, and ``session:new`` written on it."""
        self.connections = 1
        self.socket = True
        message = SessionNew(msgid=self._msgid("new"), call_sid=SID, data=info())
        self.in_flight[message.msgid] = Request("session:new", message, deadline=now + ACK_TIMEOUT)
        self.init_set = True
        return message

    def drop(self, now: float) -> list[Frame]:
        """The socket is gone (after jambonz read what it was going to read): returns the app
        frames that died on the wire. What it had written and the app had not read is lost."""
        lost, self.wire = self.wire, []
        self.to_app = []
        self.socket = False
        self.reconnect_msgid = None
        if self.connections >= MAX_RECONNECTS:
            self.gone = True
            return lost
        if not self.init_set:
            for msgid, request in list(self.in_flight.items()):
                del self.in_flight[msgid]
                self.dead[msgid] = request.kind
                if request.kind == "session:reconnect":
                    self.hung_up = "the session:reconnect ack died with its socket"
                elif request.kind == "verb:hook":
                    self._hook_failed(request, now)
        return lost

    def reconnect(self, now: float) -> tuple[SessionReconnect, bool]:
        """A new socket and its ``session:reconnect``; True when it is re-keyed."""
        assert not self.socket and not self.gone
        self.connections += 1
        self.socket = True
        self.connecting = False
        if self.trigger is not None:
            self.held.append(self.trigger)
            self.trigger = None
        message = SessionReconnect(msgid=self._msgid("rc"), call_sid=SID, data=info())
        if self.init_set:
            [(key, request)] = [
                (k, r) for k, r in self.in_flight.items() if r.kind == "session:new"
            ]
            del self.in_flight[key]
            self.in_flight[message.msgid] = request  # same request, same timer
            self.dead[key] = "session:new"
            self.stalled = True
            return message, True
        self.in_flight[message.msgid] = Request(
            "session:reconnect", message, deadline=now + ACK_TIMEOUT
        )
        self.reconnect_msgid = message.msgid
        return message, False

    def overdue(self, until: float) -> list[tuple[str, Request]]:
        """Requests in flight whose timer fires by ``until``."""
        return [
            (msgid, r)
            for msgid, r in self.in_flight.items()
            if r.deadline is not None and r.deadline <= until
        ]

    # ------------------------------------------------------------------ reading

    def read(self, count: int, now: float) -> list[Read]:
        """jambonz reads up to ``count`` frames from the wire, in order, in one go."""
        batch, self.wire = self.wire[:count], self.wire[count:]
        out: list[Read] = []
        started = False
        for frame in batch:
            if self.hung_up is not None:
                break
            msg = orjson.loads(frame.text)
            if msg["type"] == "ack":
                read = self._read_ack(frame, msg, now)
                started |= read.role == "start"
            elif _is_echo(msg):
                # The core's stall check (a tts:tokens without tokens): answered at once, and
                # like everything else held back by a stalled jambonz; dropped when read in
                # the same go as the session:new ack (its session does not exist yet), which
                # the core takes for what it means: jambonz was re-keyed.
                if self.running and not started:
                    self._echo(msg["data"]["id"], now)
                out.append(Read(frame, "command"))
                continue
            else:
                assert self.running, f"a command reached jambonz before its session: {msg}"
                assert not started, (
                    "a command was read in the same go as the session:new ack: jambonz drops "
                    "it, its session does not exist yet"
                )
                read = self._read_command(frame, msg, now)
            out.append(read)
        return out

    def _read_ack(self, frame: Frame, msg: dict[str, Any], now: float) -> Read:
        self.init_set = False  # any ack clears it, whatever its msgid
        msgid = msg["msgid"]
        assert msgid not in self.acked, f"msgid {msgid} acked twice"
        assert msgid not in self.dead, f"ack for {self.dead.get(msgid)} {msgid}, given up"
        request = self.in_flight.pop(msgid, None)
        assert request is not None, f"ack for {msgid}, which jambonz never sent"
        assert request.deadline is not None and now < request.deadline, (
            f"ack for {msgid} after its deadline"
        )
        self.acked.add(msgid)
        verbs = msg.get("data")
        if request.kind == "session:new":
            assert verbs, "session:new acked without verbs: jambonz rejects the call"
            self.running = True
            return Read(frame, "start", self._replace(verbs, now))
        if request.kind == "session:reconnect":
            self.reconnect_msgid = None
            self.stalled = False
            self._flush(now)
            return Read(frame, "reconnect-ack")
        if request.kind == "verb:hook":
            return Read(frame, "hook", self._hook_answered(request, verbs, now))
        if request.kind == "session:redirect" and verbs:
            return Read(frame, "redirect", self._replace(verbs, now))
        if request.kind == "dial:confirm":
            return Read(frame, "other-leg")
        return Read(frame, "ignored")

    def _read_command(self, frame: Frame, msg: dict[str, Any], now: float) -> Read:
        data = msg.get("data")
        if msg["command"] == "redirect" and "callSid" not in msg and isinstance(data, list):
            if msg.get("queueCommand") is True:
                return Read(frame, "command", self._append(data, now))
            return Read(frame, "command", self._replace(data, now))
        return Read(frame, "command")

    # ------------------------------------------------------------------ verbs

    def _take(self, verbs: list[Any]) -> tuple[list[Verb], tuple[str, ...]]:
        out = []
        for verb in verbs:
            assert isinstance(verb, dict) and "verb" in verb, f"not a verb: {verb}"
            assert verb.get("verb") != "say" or isinstance(verb.get("text", ""), str), (
                "an invalid verb reached jambonz"
            )
            out.append(Verb(verb))
        ids = ids_of(verbs)
        for verb_id in ids:
            self.applied[verb_id] += 1
            assert self.applied[verb_id] == 1, f"verb {verb_id} reached jambonz twice"
        return out, ids

    def _replace(self, verbs: list[Any], now: float) -> tuple[str, ...]:
        new, ids = self._take(verbs)
        if self.current is not None:
            killed, self.current = self.current, None
            self._status("finished", killed, now)
        self.stack = new
        self._run(now)
        return ids

    def _append(self, verbs: list[Any], now: float) -> tuple[str, ...]:
        new, ids = self._take(verbs)
        self.stack.extend(new)
        self._run(now)
        return ids

    def _run(self, now: float) -> None:
        while self.current is None and self.stack and self.hung_up is None:
            verb = self.stack.pop(0)
            if verb.name == "config":
                if self.notify:
                    self._status("starting", verb, now)
                    self._status("finished", verb, now)
                if verb.body.get("notifyEvents") is True:
                    self.notify = True
                continue
            if verb.name == "hangup":
                self.hung_up = "a hangup verb ran"
                return
            self.current = verb
            self._status("starting", verb, now)

    def _echo(self, echo_id: Any, now: float) -> None:
        data = TokensResult(id=echo_id, status="failed", reason="missing tokens")
        self._emit(TtsTokensResult(msgid=self._msgid("t"), call_sid=SID, data=data), None, now)

    def _status(self, event: VerbStatusEventType, verb: Verb, now: float) -> None:
        if self.notify:
            data = VerbStatusEvent(event=event, id=verb.id, name=verb.name)
            self._emit(VerbStatus(msgid=self._msgid("vs"), call_sid=SID, data=data), None, now)

    def verb_ends(self, now: float) -> bool:
        """The running verb is done: it sends its action hook and waits, or it finishes and
        the next one starts. False when nothing is running (or it waits for its hook)."""
        verb = self.current
        if verb is None or verb.hook is not None or not self.running:
            return False
        if "actionHook" in verb.body:
            message = VerbHook(
                msgid=self._msgid("h"),
                call_sid=SID,
                hook=str(verb.body["actionHook"]),
                data=info(verb_id=verb.id) if verb.id is not None else info(),
            )
            verb.hook = Request("verb:hook", message, verb)
            self._emit(message, verb.hook, now)
        else:
            self._finish(verb, now)
        return True

    def _finish(self, verb: Verb, now: float) -> None:
        self._status("finished", verb, now)
        if verb is self.current:
            self.current = None
            self._run(now)

    def _hook_answered(
        self, request: Request, verbs: list[Any] | None, now: float
    ) -> tuple[str, ...]:
        verb = request.verb
        assert verb is not None
        if verb is not self.current:
            # killed meanwhile by a redirect: the answer still replaces the stack
            return self._replace(verbs, now) if verbs else ()
        ids: tuple[str, ...] = ()
        if verbs:
            self.stack, ids = self._take(verbs)
        self._finish(verb, now)
        return ids

    def _hook_failed(self, request: Request, now: float) -> None:
        verb = request.verb
        assert verb is not None
        if verb.name == "gather":
            error = ErrorDetails(msg=HOOK_FAILED, verb="gather", id=verb.id)
            self._emit(JambonzError(msgid=self._msgid("e"), call_sid=SID, data=error), None, now)
            status = CallStatus(msgid=self._msgid("cs"), call_sid=SID, data=info(error=HOOK_FAILED))
            self._emit(status, None, now)
        if verb is self.current:
            self._finish(verb, now)

    # ------------------------------------------------------------------ other messages

    def produce(self, kind: Other, now: float) -> Message | None:
        """jambonz sends one message of ``kind`` that no verb of the app asked for."""
        if not self.running or self.hung_up is not None:
            return None
        msgid = self._msgid("m")
        message: Message
        if kind == "session:redirect":
            message = SessionRedirect(msgid=msgid, call_sid=SID, hook="/r", data=info())
        elif kind == "dial:confirm":
            message = DialConfirm(msgid=msgid, call_sid=SID, hook="/c", data=info())
        elif kind == "session:adulting":
            message = SessionAdulting(msgid=msgid, data=info())
        elif kind == "agent:future":
            message = UnknownMessage.from_raw({"type": kind, "msgid": msgid, "call_sid": SID})
        elif kind == "call:status":
            message = CallStatus(msgid=msgid, call_sid=SID, data=info())
        elif kind == "verb:status":
            # an event of the running verb (a receipt as true as any other)
            current = self.current
            data = VerbStatusEvent(
                event="start-playback",
                id=current.id if current is not None else None,
                verb=current.name if current is not None else None,
            )
            message = VerbStatus(msgid=msgid, call_sid=SID, data=data)
        elif kind == "session:new":
            message = SessionNew(msgid=msgid, call_sid=SID, data=info())  # a stray second one
        else:
            message = JambonzError(msgid=msgid, call_sid=SID, data=ErrorDetails(msg="oops"))
        wants_ack = kind not in ("call:status", "verb:status", "jambonz:error", "session:new")
        self._emit(message, Request(kind, message) if wants_ack else None, now)
        return message


def _is_echo(msg: dict[str, Any]) -> bool:
    """A ``tts:tokens`` with an id and no tokens (call-session.js answers it at once)."""
    data = msg.get("data")
    return (
        msg.get("command") == "tts:tokens"
        and isinstance(data, dict)
        and "id" in data
        and "tokens" not in data
    )
