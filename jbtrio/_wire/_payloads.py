"""Typed views of the results of the verbs apps most often wait for: gather, dial, llm.

jambonz merges a verb's results into the call-info object of its ``verb:hook`` (docs/jambonz.md,
Messages from jambonz),
so :class:`~jbtrio.CallInfo` keeps them verbatim in ``extra``. These classes read them into
typed values (their enumerations are the schema's, from :mod:`._results`, which has the
generated views of the other verbs' payloads). They are views, built on demand, so decoding a
hook never pays for them and a hook of another verb never fails because of them; a malformed
result raises :class:`~jbtrio.ProtocolError` (with the JSON path) only when the view is asked
for.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from ._callinfo import CallInfo
from ._fields import Checker, check_any, check_int, check_number, check_str, slot_setters
from ._results import DialCallStatus, GatherReason, LlmCompletionReason
from ._views import HasCallInfo, SpeechAlternative, SpeechResult, typed_fields

__all__ = ["DialResult", "GatherResult", "LlmResult", "SpeechAlternative", "SpeechResult"]

_GATHER_SPEC: Final[dict[str, tuple[str, Checker]]] = {
    "reason": ("reason", check_str),
    "digits": ("digits", check_str),
    "details": ("details", check_any),
    "verb_id": ("verb_id", check_str),
}


@attrs.frozen(kw_only=True)
class GatherResult:
    """What a ``gather`` (or ``config.bargeIn``) ``actionHook`` reports.

    ``reason`` is one of ``speechDetected``, ``dtmfDetected``, ``timeout``, ``error``,
    ``stt-low-confidence``; ``speech`` is present for speech input, ``digits`` for DTMF input,
    ``details`` (verbatim) when the gather failed, ``verb_id`` when the verb had an ``id``.
    """

    reason: GatherReason | None = None
    speech: SpeechResult | None = None
    digits: str | None = None
    details: Any = None
    verb_id: str | None = None

    @classmethod
    def from_call_info(cls, info: CallInfo) -> GatherResult:
        """Read the gather result out of a call info's ``extra``."""
        extra = info.extra
        get = extra.get
        reason, digits, verb_id = get("reason"), get("digits"), get("verb_id")
        if (
            cls is GatherResult
            and (reason is None or type(reason) is str)
            and (digits is None or type(digits) is str)
            and (verb_id is None or type(verb_id) is str)
        ):
            # What typed_fields() would check (details: anything) and the instance it would
            # give, read in one pass without its keyword dict: every gather hook a flow reads
            # comes here (issue 23). Anything else takes the generic path, for its errors.
            speech = get("speech")
            result = _new(GatherResult)
            _SET_REASON(result, reason)
            _SET_SPEECH(result, None if speech is None else SpeechResult.from_json(speech))
            _SET_DIGITS(result, digits)
            _SET_DETAILS(result, get("details"))
            _SET_VERB_ID(result, verb_id)
            return result
        kwargs = typed_fields(extra, _GATHER_SPEC)
        speech = info.extra.get("speech")
        if speech is not None:
            kwargs["speech"] = SpeechResult.from_json(speech)
        if cls is not GatherResult:  # a subclass may have its own __init__
            return cls(**kwargs)
        # Built without the generated __init__, which only sets the fields: fewer
        # instructions on every gather hook a flow reads (issue 23).
        result = _new(GatherResult)
        get = kwargs.get
        for name, set_field in _GATHER_SETTERS:
            set_field(result, get(name))
        return result

    @classmethod
    def from_hook(cls, hook: HasCallInfo) -> GatherResult:
        """Read the gather result out of a ``verb:hook`` (anything with a ``CallInfo`` data)."""
        return cls.from_call_info(hook.data)

    @property
    def speech_text(self) -> str | None:
        """The best alternative's transcript, or ``None`` when nothing was recognized."""
        if self.speech is None or not self.speech.alternatives:
            return None
        return self.speech.alternatives[0].transcript

    @property
    def confidence(self) -> float | None:
        """The best alternative's confidence, or ``None``."""
        if self.speech is None or not self.speech.alternatives:
            return None
        return self.speech.alternatives[0].confidence


_new: Final = object.__new__
_GATHER_SETTERS: Final = slot_setters(GatherResult)
_SET_REASON, _SET_SPEECH, _SET_DIGITS, _SET_DETAILS, _SET_VERB_ID = (
    setter for _, setter in _GATHER_SETTERS
)
if [name for name, _ in _GATHER_SETTERS] != ["reason", "speech", "digits", "details", "verb_id"]:
    raise TypeError("GatherResult.from_call_info sets its five fields: they changed")


_DIAL_SPEC: Final[dict[str, tuple[str, Checker]]] = {
    "dial_call_status": ("dial_call_status", check_str),
    "dial_sip_status": ("dial_sip_status", check_int),
    "dial_call_sid": ("dial_call_sid", check_str),
    "dial_sbc_callid": ("dial_sbc_callid", check_str),
    "duration": ("duration", check_number),
    "verb_id": ("verb_id", check_str),
}


@attrs.frozen(kw_only=True)
class DialResult:
    """What a ``dial`` ``actionHook`` reports about the outbound leg.

    ``duration`` is the call info's own ``duration`` key, which jambonz fills with the bridged
    time for a dial result.
    """

    dial_call_status: DialCallStatus | None = None
    dial_sip_status: int | None = None
    dial_call_sid: str | None = None
    dial_sbc_callid: str | None = None
    duration: int | float | None = None
    verb_id: str | None = None

    @classmethod
    def from_call_info(cls, info: CallInfo) -> DialResult:
        """Read the dial result from a call info (``duration`` is a typed CallInfo field)."""
        kwargs = typed_fields(info.extra, _DIAL_SPEC)
        if info.duration is not None:
            kwargs["duration"] = info.duration
        return cls(**kwargs)

    @classmethod
    def from_hook(cls, hook: HasCallInfo) -> DialResult:
        """Read the dial result out of a ``verb:hook``."""
        return cls.from_call_info(hook.data)


_LLM_SPEC: Final[dict[str, tuple[str, Checker]]] = {
    "completion_reason": ("completion_reason", check_str),
    "error": ("error", check_any),
    "verb_id": ("verb_id", check_str),
}


@attrs.frozen(kw_only=True)
class LlmResult:
    """What an ``llm`` verb's ``actionHook`` reports when the conversation ends.

    ``completion_reason`` is e.g. ``normal conversation end`` or ``connection failure``;
    ``error`` is whatever the vendor reported, verbatim (string or object).
    """

    completion_reason: LlmCompletionReason | None = None
    error: Any = None
    verb_id: str | None = None

    @classmethod
    def from_call_info(cls, info: CallInfo) -> LlmResult:
        """Read the llm result from a call info's ``extra``."""
        return cls(**typed_fields(info.extra, _LLM_SPEC))

    @classmethod
    def from_hook(cls, hook: HasCallInfo) -> LlmResult:
        """Read the llm result out of a ``verb:hook``."""
        return cls.from_call_info(hook.data)
