"""The fake jambonz asks an app for its environment variables as jambonz does: an HTTP
``OPTIONS`` to the application's URL (the websocket URL's host and path, over plain HTTP),
answered with the JSON object of the variables the app declares; the call then carries their
defaults in ``session:new`` ``env_vars`` unless the test (or ``jbtrio call --env``) gives
values."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
import trio

from ._connect import Connector

__all__ = ["declared_defaults", "discover_env_vars"]

#: Largest answer read to an ``OPTIONS`` request.
MAX_ANSWER = 1 << 20


def declared_defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The ``default`` of each variable that declares one (what jambonz's portal pre-fills)."""
    return {
        name: spec["default"]
        for name, spec in schema.items()
        if isinstance(spec, Mapping) and spec.get("default") is not None
    }


async def discover_env_vars(
    url: str,
    *,
    connector: Connector | None = None,
    username: str | None = None,
    password: str | None = None,
) -> dict[str, Any] | None:
    """Ask the app at ``url`` (``ws://host:port/path``) which variables it declares; ``None``
    when it does not answer with a JSON object (jambonz then goes on without them). The
    caller bounds the wait (``trio.move_on_after``)."""
    parts = urlsplit(url.split("#", 1)[0])
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    lines = [
        f"OPTIONS {parts.path or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Connection: close",
    ]
    if username is not None and password is not None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        lines.append(f"Authorization: Basic {token}")
    try:
        stream = (
            await connector() if connector is not None else await trio.open_tcp_stream(host, port)
        )
    except OSError:
        return None
    answer = bytearray()
    try:
        await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        while len(answer) <= MAX_ANSWER and (chunk := await stream.receive_some(65536)):
            answer += chunk
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return None
    finally:
        await trio.aclose_forcefully(stream)
    head, _, body = bytes(answer).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        return None
    try:
        schema = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return schema if isinstance(schema, dict) else None
