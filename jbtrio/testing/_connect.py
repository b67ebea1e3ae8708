"""Opening one jambonz-style websocket: transport, upgrade headers, handshake checks.

The outcome of an attempt is classified the way base-requestor's retry policy sees it
(docs/jambonz.md, Connection): refused/reset/timed-out TCP is ``ct``, an HTTP status on the upgrade
is ``4xx``/``5xx``, a handshake that takes longer than the timeout is ``rt``, and a server that does
not select the subprotocol is never retried.
"""

from __future__ import annotations

import base64
import errno
import http
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionRejected, WebSocketConnection, wrap_client_stream

from ._config import JambonzConfig

__all__ = ["ConnectError", "Connector", "Target", "handshake", "make_target"]

#: An async callable returning a fresh transport for each connection attempt.
Connector = Callable[[], Awaitable[trio.abc.Stream]]

_RETRYABLE_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNABORTED}
)


class ConnectError(Exception):
    """A failed connection attempt with the retry-policy class it falls in.

    ``category`` is ``"ct"`` (network error), ``"rt"`` (handshake timeout), ``"4xx"``/``"5xx"``
    (HTTP status on the upgrade, in ``status``), ``"other"`` (retried only under ``all``) or
    ``"fatal"`` (no subprotocol: never retried);
    ``reason`` is the one-line text that ends up in a failed call's outcome.
    """

    def __init__(
        self, category: str, reason: str, status: int | None = None, message: str | None = None
    ) -> None:
        super().__init__(reason)
        self.category = category
        self.reason = reason
        self.status = status
        self.message = message if message is not None else reason
        """The text of the Error jambonz's ws library (or requestor) raises for this
        failure: what ends up as ``err.message``."""

    def retryable(self, policy: tuple[str, ...]) -> bool:
        """Whether base-requestor's policy list lets this failure be retried."""
        if self.category == "fatal":
            return False
        return "all" in policy or self.category in policy


@attrs.frozen
class Target:
    """Where and how to connect: the transport factory plus the upgrade request's parts."""

    connector: Connector
    host: str
    resource: str
    username: str | None = None
    password: str | None = None


def make_target(
    url: str,
    connector: Connector | None,
    username: str | None,
    password: str | None,
) -> Target:
    """Build a :class:`Target` from a fragment-free ws(s) URL and an optional connector.

    With no connector the URL's host and port are dialled over TCP (TLS for ``wss``); with one,
    the URL only supplies the Host header and the request path.
    """
    parts = urllib.parse.urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or "localhost"
    port = parts.port or (443 if secure else 80)
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    if connector is None:

        async def tcp_connector() -> trio.abc.Stream:
            if secure:
                return await trio.open_ssl_over_tcp_stream(
                    host, port, ssl_context=ssl.create_default_context()
                )
            return await trio.open_tcp_stream(host, port)

        connector = tcp_connector
    host_header = host if parts.port is None else f"{host}:{port}"
    return Target(connector, host_header, resource, username, password)


def _errnos(exc: BaseException) -> set[int]:
    """Every errno found in ``exc``, its causes and (nested) exception groups."""
    found: set[int] = set()
    stack: list[BaseException] = [exc]
    seen: set[int] = set()
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno is not None:
            found.add(e.errno)
        if isinstance(e, BaseExceptionGroup):
            stack.extend(e.exceptions)
        if e.__cause__ is not None:
            stack.append(e.__cause__)
        if e.__context__ is not None:
            stack.append(e.__context__)
    return found


def classify(exc: BaseException) -> ConnectError:
    """Map whatever an attempt raised to a :class:`ConnectError`."""
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        leaves = list(_leaves(exc))
        for leaf in leaves:
            if isinstance(leaf, ConnectionRejected | ConnectError | trio.TooSlowError):
                return classify(leaf)
        return classify(leaves[0]) if leaves else ConnectError("other", str(exc))
    if isinstance(exc, ConnectionRejected):
        status = exc.status_code
        category = "4xx" if 400 <= status < 500 else "5xx" if status >= 500 else "other"
        # ws-requestor.js _onUnexpectedResponse: new Error(`${statusCode} ${statusMessage}`)
        return ConnectError(category, f"HTTP {status}", status, f"{status} {_phrase(status)}")
    if isinstance(exc, trio.TooSlowError):
        # the ws library's own text for its handshakeTimeout
        return ConnectError("rt", "handshake timed out", message="Opening handshake has timed out")
    if _errnos(exc) & _RETRYABLE_ERRNOS:
        names = sorted(errno.errorcode.get(n, str(n)) for n in _errnos(exc) & _RETRYABLE_ERRNOS)
        # Node's net error text is "connect ECONNREFUSED <address>:<port>"; the address is
        # not known here (the connector may be in memory), so it is left out.
        return ConnectError(
            "ct", f"connect failed: {'/'.join(names)}", message=f"connect {names[0]}"
        )
    if isinstance(exc, trio.BrokenResourceError | trio.ClosedResourceError | EOFError):
        # Node's http client text for a connection reset during the upgrade
        return ConnectError("ct", "connect failed: ECONNRESET", message="socket hang up")
    return ConnectError("other", f"connect failed: {exc!r}")


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    out: list[BaseException] = []
    for e in group.exceptions:
        if isinstance(e, BaseExceptionGroup):
            out.extend(_leaves(e))
        else:
            out.append(e)
    return out


def upgrade_headers(config: JambonzConfig, target: Target) -> list[tuple[bytes, bytes]]:
    """``user-agent`` always; HTTP Basic only when both credentials are given (WSR:353-357)."""
    headers = [(b"user-agent", config.user_agent.encode())]
    if target.username and target.password:
        token = base64.b64encode(f"{target.username}:{target.password}".encode()).decode()
        headers.append((b"authorization", f"Basic {token}".encode()))
    return headers


async def handshake(
    nursery: trio.Nursery, config: JambonzConfig, target: Target
) -> tuple[WebSocketConnection, trio.abc.Stream]:
    """Open the transport and upgrade it, within the handshake timeout.

    Raises :class:`ConnectError`. trio-websocket runs its reader in ``nursery``; a rejection
    is raised from there, so the caller's nursery must be exited (and its exception classified
    with :func:`classify`) when this does not return.
    """
    stream: trio.abc.Stream | None = None
    try:
        with trio.fail_after(config.handshake_timeout):
            stream = await target.connector()
            ws = await wrap_client_stream(
                nursery,
                stream,  # type: ignore[arg-type]  # any trio Stream works
                target.host,
                target.resource,
                subprotocols=[config.subprotocol],
                extra_headers=upgrade_headers(config, target),
                message_queue_size=4,
                # trio-websocket measures len(str); the byte limit is checked by the caller.
                max_message_size=config.max_payload * 4,
            )
    except BaseException:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        raise
    if ws.subprotocol != config.subprotocol:
        # The ws library aborts the handshake: the app sees the TCP connection go away.
        await trio.aclose_forcefully(stream)
        raise ConnectError("fatal", "no subprotocol", message="Server sent no subprotocol")
    return ws, stream
