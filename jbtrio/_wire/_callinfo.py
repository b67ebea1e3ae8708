"""The call-info payload jambonz puts in ``data`` of most messages (``_callinfo_decode`` reads it).

jambonz sends ``CallInfo.toJSON()`` (snake-cased) in ``verb:hook``, ``session:redirect``,
``call:status`` and ``dial:confirm``, and a near copy of it in ``session:new``,
``session:reconnect`` and ``session:adulting`` (docs/jambonz.md, Call info). Verb results
(``speech``, ``digits``, ``reason``, ``verb_id``, ...) are merged into the same object, so one class
serves them all: the fields jambonz documents are typed, and every other key is kept verbatim in
``extra`` so nothing the server sends is lost when a message is re-encoded.

Each field is declared once, below; its wire key (``from``, ``customerData``) and its check
(from its annotation) are read from that declaration by :func:`~._fields.spec_of`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from ._fields import check_id, spec_of, validate_extra, wire

__all__ = ["CALL_INFO_FIELDS", "CALL_INFO_SPEC", "CallInfo", "unstructure_call_info"]


@attrs.frozen(kw_only=True, repr=False, slots=False)
class CallInfo:
    """What jambonz says about a call leg, plus any verb results merged into the same object.

    Typed fields are ``None`` when the key is absent (or ``null``). ``from_`` is the wire key
    ``from`` and ``customer_data`` the wire key ``customerData``; ``headers``, ``sip``,
    ``env_vars``, ``defaults`` and ``customer_data`` are kept exactly as sent. ``extra`` holds
    every other key verbatim: the results of the verb that fired the hook (``speech``,
    ``digits``, ``reason``, ``verb_id``, ``dial_call_status``, ...) and anything a newer jambonz
    adds. Use :class:`~jbtrio.GatherResult` and friends for typed views of verb results.
    """

    call_sid: str | None = attrs.field(default=None, metadata=wire(check=check_id))
    direction: str | None = None
    from_: str | None = attrs.field(default=None, metadata=wire("from"))
    to: str | None = None
    call_id: str | None = None
    sbc_callid: str | None = None
    sip_status: int | None = None
    sip_reason: str | None = None
    call_status: str | None = None
    caller_name: str | None = None
    caller_id: str | None = None
    account_sid: str | None = None
    application_sid: str | None = None
    service_provider_sid: str | None = None
    trace_id: str | None = None
    fs_sip_address: str | None = None
    fs_public_ip: str | None = None
    local_sip_address: str | None = None
    public_ip: str | None = None
    originating_sip_ip: str | None = None
    originating_sip_trunk_name: str | None = None
    parent_call_sid: str | None = None
    call_termination_by: str | None = None
    duration: int | float | None = None
    has_recording: bool | None = None
    api_base_url: str | None = None
    headers: Mapping[str, Any] | None = None
    sip: Mapping[str, Any] | None = None
    env_vars: Mapping[str, Any] | None = None
    defaults: Mapping[str, Any] | None = None
    customer_data: Mapping[str, Any] | None = attrs.field(
        default=None, metadata=wire("customerData")
    )
    extra: Mapping[str, Any] = attrs.field(factory=dict, validator=validate_extra)

    def __repr__(self) -> str:
        # Only the fields that are set: a call info has 31 optional fields and a repr listing
        # them all buries the few that matter in logs.
        parts = [
            f"{attr}={getattr(self, attr)!r}"
            for attr, _ in CALL_INFO_FIELDS
            if getattr(self, attr) is not None
        ]
        if self.extra:
            parts.append(f"extra={self.extra!r}")
        return f"CallInfo({', '.join(parts)})"


# wire key -> (attribute, checker), and (attribute, wire key): the order is the encoding order.
CALL_INFO_SPEC: Final = spec_of(CallInfo).checks
CALL_INFO_FIELDS: Final = spec_of(CallInfo).pairs

# Decoding a CallInfo is on the path of every verb:hook. jambonz sends about a dozen of its 31
# typed fields, so a decoded instance keeps only those in its __dict__ and the class answers
# None for the rest (attrs removes field defaults from a dict class; they are put back here).
# That is a fifth of the cost of the generated __init__, which sets all 32 attributes
# (``_callinfo_decode.py`` builds them; this module is not compiled, its class cannot be).
for _attr, _ in CALL_INFO_FIELDS:
    setattr(CallInfo, _attr, None)
del _attr, _

#: The wire object of a :class:`CallInfo` (typed fields first, then ``extra``).
unstructure_call_info: Final[Callable[[CallInfo], dict[str, Any]]] = spec_of(CallInfo).unstructure
