"""Which call a session message speaks for: a digest of the call's identifying fields.

jambonz's ``session:reconnect`` carries the call's ``session:new`` (or ``session:adulting``)
data again, stale fields and all (docs/jambonz.md, Reconnects). So a socket that claims to resume a
call must present the same identity as the one that started it; a call_sid alone (which
appears in logs, CDRs and the REST API) is not enough to take a call over.
"""

from __future__ import annotations

import hashlib
from typing import Final

import orjson

from .._wire import CallInfo

__all__ = ["IDENTITY_FIELDS", "session_identity"]

#: The call-info fields that identify a call and never change during it (not
#: ``call_status``, ``sip_status`` or the verb results jambonz merges in).
IDENTITY_FIELDS: Final = (
    "call_sid",
    "call_id",
    "sbc_callid",
    "direction",
    "from_",
    "to",
    "caller_name",
    "account_sid",
    "application_sid",
    "service_provider_sid",
    "parent_call_sid",
    "trace_id",
)


def session_identity(info: CallInfo) -> bytes:
    """A 16-byte digest of ``info``'s :data:`IDENTITY_FIELDS` (absent ones included as such)."""
    values = [getattr(info, name) for name in IDENTITY_FIELDS]
    return hashlib.blake2b(orjson.dumps(values), digest_size=16).digest()
