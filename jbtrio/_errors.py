"""The exception types jbtrio raises.

Split the h11 way: :class:`ProtocolError` means *the peer* sent something that is not valid
jambonz JSON; :class:`VerbError` and :class:`MessageTooLargeError` mean *this program* tried to
send something jambonz would reject. All of them are :class:`ValueError` subclasses, so code
that only knows the standard library still catches them.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = [
    "CallEndedError",
    "DeliveryUnknown",
    "HookFailed",
    "JbtrioError",
    "MessageTooLargeError",
    "ProtocolError",
    "QueueFullError",
    "ReplyError",
    "TtsError",
    "TtsInterrupted",
    "VerbError",
    "from_none",
    "innermost",
]

_RAW_PREVIEW = 200

_E = TypeVar("_E", bound=BaseException)


def from_none(error: _E) -> _E:
    """``raise from_none(error)`` is ``raise error from None``, also in a module compiled with
    mypyc, which ignores ``from`` (mypy 2.4.1): setting ``__cause__``, even to ``None``, is
    what suppresses the context (the exception being handled) in a traceback."""
    error.__cause__ = None
    return error


def innermost(exc: BaseException) -> BaseException:
    """The one exception inside nested single-member groups (what a log line or a test
    should show); a group of several stays the group."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class JbtrioError(Exception):
    """Base class of every error jbtrio raises on purpose."""


class ProtocolError(JbtrioError, ValueError):
    """Input that is not a valid jambonz WebSocket-API message.

    ``raw`` is the text that was being decoded (``str`` or ``bytes``, as given) and ``reason``
    says what is wrong with it, with a JSON path where one helps (``$.data.call_sid``);
    ``context`` says where it was found, when that is not the whole frame (a verb result in a
    ``verb:hook``, read after the frame was decoded).
    """

    def __init__(
        self, reason: str, raw: str | bytes | None = None, *, context: str | None = None
    ) -> None:
        self.reason = reason
        self.raw = raw
        self.context = context
        super().__init__(reason)

    def __str__(self) -> str:
        text = self.reason if self.context is None else f"{self.context}: {self.reason}"
        if self.raw is None:
            return text
        preview = self.raw if isinstance(self.raw, str) else repr(self.raw)
        if len(preview) > _RAW_PREVIEW:
            preview = preview[:_RAW_PREVIEW] + "..."
        return f"{text} (in {preview!r})"


class VerbError(JbtrioError, ValueError):
    """A verb (or verb list) that jambonz's own validator would reject.

    ``index`` is the position of the offending verb in the list (``None`` when a single verb
    was validated), ``path`` the property path inside it (``"say.synthesizer.vendor"``) and
    ``reason`` what is wrong: unknown verb, unknown property, wrong type, bad enum value or a
    missing required property.
    """

    def __init__(self, reason: str, *, index: int | None = None, path: str = "") -> None:
        self.reason = reason
        self.index = index
        self.path = path
        where = []
        if index is not None:
            where.append(f"verb #{index}")
        if path:
            where.append(path)
        super().__init__(f"{', '.join(where)}: {reason}" if where else reason)


class MessageTooLargeError(JbtrioError, ValueError):
    """An outbound frame larger than jambonz accepts (24 KiB by default).

    jambonz closes the socket with 1009 on such a frame and the message is lost, so jbtrio
    refuses to send it at all. ``size`` and ``limit`` are in bytes of UTF-8.
    """

    def __init__(self, size: int, limit: int, kind: str = "message") -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"{kind} is {size} bytes, over the {limit}-byte frame limit of jambonz "
            f"(it would close the socket with 1009 and lose the message)"
        )


class ReplyError(JbtrioError):
    """A reply that can no longer be an ``ack``: given twice, too late, or after a drop.

    ``state`` names what happened to the reply handle first (``replied``, ``auto_acked``,
    ``abandoned`` or ``ended``). Code that does not care whether its verbs go out as an ack or
    as a later ``redirect`` command should send them with the call's redirect instead.
    """

    def __init__(self, reason: str, *, state: str) -> None:
        self.reason = reason
        self.state = state
        super().__init__(reason)


class QueueFullError(JbtrioError):
    """The call's outbound queue is at its configured bound; wait for the writer to drain it."""


class CallEndedError(JbtrioError):
    """The call is over: nothing more can be sent on it."""


class HookFailed(JbtrioError):
    """jambonz could not deliver the hook a flow step waits for, and said so.

    jambonz reports ``jambonz:error`` ``"invalid actionHook response"`` (with the ``verb``
    and the ``details``, e.g. ``"handshake timed out"`` when the socket it opened for the hook
    did not connect), then idles with an empty verb stack. The ``yield`` (or awaitable verb)
    that waited for that hook raises this, so the flow can go on (retry, apologise) instead
    of leaving the caller in silence; uncaught, the flow ends as after any crash (the
    apology, then a hangup).
    """

    def __init__(self, verb: str, reason: str, details: object = None) -> None:
        self.verb = verb
        self.reason = reason
        self.details = details
        super().__init__(
            f"jambonz failed the {verb} hook: {reason}" + (f" ({details})" if details else "")
        )


class DeliveryUnknown(HookFailed):
    """Verbs written to a socket that died could neither be confirmed as read by jambonz nor
    shown lost within ``CoreConfig.doubt_timeout`` (see README "What jbtrio guarantees").

    jbtrio re-sends lost verbs only on jambonz's own evidence, never on a guess (a guess
    could make the caller hear them twice). A flow step waiting for a hook of those verbs
    raises this, so the flow can decide (re-send them, move on, apologise).
    """

    def __init__(self, verb: str) -> None:
        super().__init__(
            verb, "no evidence whether jambonz ran it after the socket it was sent on died"
        )


class TtsError(JbtrioError):
    """jambonz refused streamed TTS text for a reason other than a full buffer.

    ``reason`` is jambonz's (``"connection to <vendor> failed"``, ``"missing tokens"``, or
    ``"no TTS streaming buffer"`` when the call has no streaming ``say``); ``text`` is what was
    refused. Everything queued behind it was dropped too, so the producer can stop its LLM.
    """

    def __init__(self, reason: str, text: str = "") -> None:
        self.reason = reason
        self.text = text
        super().__init__(f"streamed TTS text refused by jambonz: {reason}")


class TtsInterrupted(TtsError):
    """The caller barged in (``user_interruption``) or the app cleared the stream mid-turn.

    Raised once, to the next ``push`` of the interrupted turn, so a push-style producer stops
    its LLM; ``result`` says what of the turn was spoken and what was dropped.
    """

    def __init__(self, result: object) -> None:
        self.result = result
        self.reason = "interrupted"
        self.text = ""
        JbtrioError.__init__(self, "the TTS turn was interrupted (barge-in or clear)")
