"""jambonz's REST API from Trio: place calls, control live calls, send SMS, list queues/rooms.

Needs the ``rest`` extra (``pip install "jbtrio[rest]"``, which brings httpx)::

    from jbtrio import rest
    from jbtrio.verbs import Target

    async with rest.Client("https://jambonz.example.com", ACCOUNT_SID, API_KEY) as client:
        call = await client.create_call(
            rest.CreateCall(
                from_="+15085551212",
                to=Target(type="phone", number="+15085551213"),
                application_sid=APPLICATION_SID,  # its call_hook: your jbtrio app's ws URL
            )
        )
        await client.update_call(call.sid, rest.UpdateCall(tag={"campaign": "spring"}))

Requests are typed, frozen attrs classes checked when built (``ValueError``); field names are
jambonz's on the wire. Failures raise :class:`RestError` with the HTTP status and jambonz's
error body; timeouts, retries and size bounds are set with :class:`RestConfig`.
"""

from __future__ import annotations

from ._calls import ActiveCall as ActiveCall
from ._calls import CallCount as CallCount
from ._calls import CreateCall as CreateCall
from ._calls import CreatedCall as CreatedCall
from ._client import Client as Client
from ._client import ClientPool as ClientPool
from ._client import normalize_base_url as normalize_base_url
from ._config import RestConfig as RestConfig
from ._config import Retry as Retry
from ._config import RetryPolicy as RetryPolicy
from ._errors import RestConnectionError as RestConnectionError
from ._errors import RestError as RestError
from ._errors import RestTimeout as RestTimeout
from ._resources import ConferenceListen as ConferenceListen
from ._resources import QueueInfo as QueueInfo
from ._resources import SendMessage as SendMessage
from ._resources import SentMessage as SentMessage
from ._update import AgentUpdate as AgentUpdate
from ._update import DtmfTone as DtmfTone
from ._update import ParticipantAction as ParticipantAction
from ._update import RecordControl as RecordControl
from ._update import RoomPlay as RoomPlay
from ._update import SipRequest as SipRequest
from ._update import SipResponse as SipResponse
from ._update import UpdateCall as UpdateCall

__all__ = [
    "ActiveCall",
    "AgentUpdate",
    "CallCount",
    "Client",
    "ClientPool",
    "ConferenceListen",
    "CreateCall",
    "CreatedCall",
    "DtmfTone",
    "ParticipantAction",
    "QueueInfo",
    "RecordControl",
    "RestConfig",
    "RestConnectionError",
    "RestError",
    "RestTimeout",
    "Retry",
    "RetryPolicy",
    "RoomPlay",
    "SendMessage",
    "SentMessage",
    "SipRequest",
    "SipResponse",
    "UpdateCall",
    "normalize_base_url",
]
