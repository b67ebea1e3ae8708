"""The websocket backends by name (``ServerConfig.transport``, ``jbtrio serve --transport``)."""

from __future__ import annotations

from ._transport_api import Transport

__all__ = ["DEFAULT_TRANSPORT", "TRANSPORTS", "transport_named"]

#: The backend a server uses unless told otherwise (see :mod:`._sansio` for why).
DEFAULT_TRANSPORT = "websockets"

#: Every backend's name.
TRANSPORTS = ("websockets", "trio-websocket")


def transport_named(name: str) -> Transport:
    """The backend called ``name`` (one of :data:`TRANSPORTS`)."""
    if name == "websockets":
        from ._sansio import SansIOTransport  # noqa: PLC0415 - loaded when chosen

        return SansIOTransport()
    if name == "trio-websocket":
        from ._tws import TrioWebsocketTransport  # noqa: PLC0415 - loaded when chosen

        return TrioWebsocketTransport()
    raise ValueError(f"unknown transport {name!r}: one of {', '.join(TRANSPORTS)}")
