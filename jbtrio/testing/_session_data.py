"""The call info jambonz opens a session with: ``session:new`` for an inbound call, and the
child's for a dialed leg promoted to its own session (``session:adulting``).

The shapes (keys, SIP details, the trying/in-progress statuses) are what feature-server 0.9.8
sends; the fake fills them with plausible values a test can override one by one.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any, Literal

from ._config import JambonzConfig

__all__ = ["adulting_data", "session_new_data"]


def _default_sip(from_: str, to: str, call_id: str) -> dict[str, Any]:
    return {
        "headers": {
            "from": f"<sip:{from_}@54.172.60.3:5060>;tag=9mgyBeaUy4H2S",
            "to": f"<sip:{to}@10.0.13.72:5070>",
            "call-id": call_id,
            "X-CID": call_id,
        },
        "method": "INVITE",
        "uri": f"sip:{to}@10.0.13.72:5070",
        "body": "v=0\r\n",
    }


def session_new_data(
    config: JambonzConfig,
    *,
    from_: str,
    to: str,
    direction: Literal["inbound", "outbound"],
    call_sid: str | None,
    sip: dict[str, Any] | None,
    env_vars: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ``data`` of a ``session:new`` (a fresh call_sid unless given)."""
    sid = call_sid or str(uuid.uuid4())
    call_id = str(uuid.uuid4())
    data: dict[str, Any] = {
        "sip": sip if sip is not None else _default_sip(from_, to, call_id),
        "direction": direction,
        "trace_id": secrets.token_hex(16),
        "has_recording": False,
        "caller_name": "",
        "call_sid": sid,
        "account_sid": config.account_sid,
        "application_sid": config.application_sid,
        "from": from_,
        "to": to,
        "call_id": call_id,
        "sip_status": 100,
        "sip_reason": "Trying",
        "call_status": "trying",
        "sbc_callid": call_id,
        "originating_sip_ip": "54.172.60.3",
        "originating_sip_trunk_name": "Twilio",
        "local_sip_address": "10.0.13.72:5070",
        "service_provider_sid": config.service_provider_sid,
        "defaults": config.defaults,
    }
    if env_vars is not None:
        data["env_vars"] = env_vars
    return data


def adulting_data(parent: dict[str, Any]) -> dict[str, Any]:
    """Child call info plus ``parent_call_info``, as doAdulting sends it."""
    parent_info = {k: v for k, v in parent.items() if k not in ("sip", "defaults")}
    parent_info.update(call_status="in-progress", sip_status=200, sip_reason="OK")
    child_id = str(uuid.uuid4())
    return {
        "call_sid": parent["call_sid"],
        "direction": "outbound",
        "from": parent["from"],
        "to": parent["to"],
        "call_id": child_id,
        "sbc_callid": child_id,
        "sip_status": 200,
        "sip_reason": "OK",
        "call_status": "in-progress",
        "account_sid": parent["account_sid"],
        "application_sid": parent["application_sid"],
        "trace_id": parent["trace_id"],
        "parent_call_sid": str(uuid.uuid4()),
        "parent_call_info": parent_info,
    }
