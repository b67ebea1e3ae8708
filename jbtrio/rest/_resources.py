"""Messages (SMS), queues and conferences: the account's other REST resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from ._codec import RequestBody, ResponseBody
from ._values import check_extra, check_non_empty, extra, optional_mapping

__all__ = ["ConferenceListen", "QueueInfo", "SendMessage", "SentMessage"]


@attrs.frozen(kw_only=True)
class SendMessage(RequestBody):
    """An outbound SMS/MMS (``POST /Accounts/{sid}/Messages``).

    ``from_`` (wire ``from``) and ``to`` are phone numbers; ``text`` or ``media`` (a URL) is
    required; ``provider`` picks the messaging carrier configured in jambonz.
    """

    WIRE_NAMES: ClassVar[Mapping[str, str]] = {"from_": "from"}

    from_: str
    to: str
    text: str | None = None
    media: str | None = None
    provider: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, converter=extra)

    def __attrs_post_init__(self) -> None:
        check_non_empty("from_", self.from_)
        check_non_empty("to", self.to)
        if not self.text and not self.media:
            raise ValueError("SendMessage needs text or media")
        check_extra("SendMessage", self.extra, ("from", "to", "text", "media", "provider"))


@attrs.frozen(kw_only=True)
class SentMessage(ResponseBody):
    """jambonz's answer to a message: its ``sid`` and the carrier's response, if any."""

    WIRE_NAMES: ClassVar[Mapping[str, str]] = {"provider_response": "providerResponse"}

    sid: str
    provider_response: Any = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class QueueInfo(ResponseBody):
    """An active queue (``enqueue`` verb) and how many calls wait in it."""

    name: str
    length: int
    extra: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConferenceListen(RequestBody):
    """A conference listen fork: jambonz streams the room's mixed audio to ``url``.

    Needs a jambonz release with MediaJam conferencing (10.x/11.x); ``metadata`` arrives as the
    fork's first text frame.
    """

    WIRE_NAMES: ClassVar[Mapping[str, str]] = {"sample_rate": "sampleRate"}

    url: str
    sample_rate: int | None = None
    metadata: dict[str, Any] | None = attrs.field(default=None, converter=optional_mapping)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"url must be a ws:// or wss:// URL; got {self.url!r}")
