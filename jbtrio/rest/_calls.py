"""Calls: the create-call request and what jambonz answers about calls.

Field names are jambonz's: the create-call body is what api-server's ``POST
/v1/Accounts/{sid}/Calls`` checks and forwards to a feature server, which validates it as its
``rest:dial`` verb (so an unknown key is rejected there, answered as a 500). Attribute names
are snake_case; ``WIRE_NAMES`` gives the few that differ on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import attrs

from ..verbs import Amd, validate_verb
from ._codec import RequestBody, ResponseBody, unstructure_request, wire_dict
from ._values import (
    check_absolute,
    check_choice,
    check_extra,
    check_non_empty,
    extra,
    optional_hook,
    optional_mapping,
    target,
)

__all__ = ["ActiveCall", "CallCount", "CallStatusFilter", "CreateCall", "CreatedCall", "Direction"]

Direction = Literal["inbound", "outbound"]
CallStatusFilter = Literal[
    "trying",
    "ringing",
    "early-media",
    "in-progress",
    "completed",
    "failed",
    "busy",
    "no-answer",
    "queued",
]


def _optional_amd(value: Amd | Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else wire_dict("amd", value)


def _headers(value: Mapping[str, str] | None) -> dict[str, str] | None:
    return optional_mapping(value)


@attrs.frozen(kw_only=True)
class CreateCall(RequestBody):
    """An outbound call (``POST /Accounts/{sid}/Calls``).

    ``from_`` (wire ``from``) is the caller id; ``to`` a :class:`jbtrio.verbs.Target` (or its
    mapping) with ``number`` for phone/teams, ``name`` for user, ``sip_uri`` for sip targets.
    ``call_hook`` is what runs the call once answered: for a jbtrio app, the app's public
    websocket URL and flow path, e.g. ``"wss://app.example.com/outbound"`` (jambonz then opens
    a socket and sends ``session:new``). Leave ``call_status_hook`` unset for a websocket app:
    ``call:status`` then comes over the call's socket.

    Or name an application configured in jambonz with ``application_sid``: api-server then
    takes ``call_hook``, ``call_status_hook`` and the speech defaults from the application,
    replacing any given here. Without one, api-server wants ``call_hook`` and all five
    ``speech_*`` defaults (400 otherwise).

    ``timeout``: seconds to ring (jambonz's default 60); ``time_limit`` (``timeLimit``): the
    longest the call may last, in seconds; ``tag``: customer data the call starts with (every
    later payload carries it as ``customerData``); ``amd``: answering machine detection
    (:class:`jbtrio.verbs.Amd`); ``headers``: SIP headers of the INVITE; ``extra``: more keys
    sent as given (something a newer jambonz reads and this class does not type yet).

    The typed fields are checked as the feature server checks its ``rest:dial`` verb
    (:class:`~jbtrio.VerbError`, a ``ValueError``); ``extra`` is not.
    """

    WIRE_NAMES: ClassVar[Mapping[str, str]] = {
        "from_": "from",
        "caller_name": "callerName",
        "from_host": "fromHost",
        "time_limit": "timeLimit",
        "sip_request_within_dialog_hook": "sipRequestWithinDialogHook",
        "refer_hook": "referHook",
    }

    from_: str
    to: dict[str, Any] = attrs.field(converter=target)
    call_hook: str | dict[str, Any] | None = attrs.field(default=None, converter=optional_hook)
    application_sid: str | None = None
    call_status_hook: str | dict[str, Any] | None = attrs.field(
        default=None, converter=optional_hook
    )
    tag: dict[str, Any] | None = attrs.field(default=None, converter=optional_mapping)
    timeout: float | None = None
    time_limit: float | None = None
    amd: dict[str, Any] | None = attrs.field(default=None, converter=_optional_amd)
    headers: dict[str, str] | None = attrs.field(default=None, converter=_headers)
    caller_name: str | None = None
    from_host: str | None = None
    sip_request_within_dialog_hook: str | None = None
    refer_hook: str | dict[str, Any] | None = attrs.field(default=None, converter=optional_hook)
    dual_streams: bool | None = None
    speech_synthesis_vendor: str | None = None
    speech_synthesis_language: str | None = None
    speech_synthesis_voice: str | None = None
    speech_recognizer_vendor: str | None = None
    speech_recognizer_language: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, converter=extra)

    def __attrs_post_init__(self) -> None:
        check_non_empty("from_", self.from_)
        if self.call_hook is None and self.application_sid is None:
            raise ValueError("CreateCall needs call_hook (a URL) or application_sid")
        check_absolute("call_hook", self.call_hook)
        check_absolute("call_status_hook", self.call_status_hook)
        for name in ("timeout", "time_limit"):
            value = getattr(self, name)
            if value is not None and (type(value) not in (int, float) or value <= 0):
                raise ValueError(f"{name} must be a positive number of seconds; got {value!r}")
        check_extra("CreateCall", self.extra, _create_wire_keys())
        # The feature server validates the body as its rest:dial verb: check the same now
        # (``extra`` aside, the escape hatch). With only application_sid, api-server fills in
        # call_hook from the application before forwarding it.
        body = unstructure_request(self)
        typed = {key: value for key, value in body.items() if key not in self.extra}
        typed.setdefault("call_hook", "https://application.invalid/")
        validate_verb("rest:dial", typed)


def _create_wire_keys() -> list[str]:
    names = CreateCall.WIRE_NAMES
    return [names.get(f.name, f.name) for f in attrs.fields(CreateCall) if f.name != "extra"]


@attrs.frozen(kw_only=True)
class CreatedCall(ResponseBody):
    """jambonz's answer to a create-call: the new call's ``sid`` (and SIP ``call_id``).

    The call is ringing, not answered: it reaches ``call_hook`` when answered, or ends with a
    ``call_status_hook``/``call:status`` report.
    """

    WIRE_NAMES: ClassVar[Mapping[str, str]] = {"call_id": "callId"}

    sid: str
    call_id: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ActiveCall(ResponseBody):
    """A call jambonz is tracking, as ``GET /Accounts/{sid}/Calls[/{call_sid}]`` returns it.

    The documented fields are typed (``from_`` is the wire ``from``); every other key is kept
    verbatim in ``extra``. ``service_url`` is the feature server handling the call.
    """

    WIRE_NAMES: ClassVar[Mapping[str, str]] = {"from_": "from"}

    call_sid: str
    account_sid: str | None = None
    application_sid: str | None = None
    call_id: str | None = None
    call_status: str | None = None
    direction: str | None = None
    from_: str | None = None
    to: str | None = None
    caller_name: str | None = None
    sip_status: int | None = None
    sip_reason: str | None = None
    duration: float | None = None
    parent_call_sid: str | None = None
    originating_sip_trunk_name: str | None = None
    service_url: str | None = None
    trace_id: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class CallCount(ResponseBody):
    """Active calls of the account (``GET /Accounts/{sid}/CallCount``)."""

    inbound: int
    outbound: int


def list_calls_query(
    direction: Direction | None,
    from_: str | None,
    to: str | None,
    call_status: CallStatusFilter | None,
) -> dict[str, str]:
    """The query string of ``GET /Calls``: jambonz's parameter names, unset ones left out."""
    check_choice("direction", direction, Direction)
    check_choice("call_status", call_status, CallStatusFilter)
    query = {"direction": direction, "from": from_, "to": to, "callStatus": call_status}
    return {key: value for key, value in query.items() if value is not None}
