"""What a listener answers itself, without a websocket upgrade and without a warning:
``GET /healthz`` (the process is alive), ``GET /readyz`` (it accepts calls; 503 while it
drains on shutdown), ``GET /metrics`` (Prometheus text, when metrics are on) and
``OPTIONS <path>`` (the environment variables the app at ``path`` declares, the JSON object
jambonz asks for when an application's URL is set: docs/jambonz.md).

All are cheap: no call state is read but a flag, and the metrics text is made by the
metrics module (:mod:`jbtrio._metrics`). A second port can answer them alone
(:func:`serve_plain`, ``jbtrio serve --metrics-port``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import trio

from ._plain_http import UNDECIDED, PlainRequest, PlainResponse, RequestSniffer
from ._rawstream import READ_SIZE

__all__ = ["Endpoints", "MetricsText", "enable_metrics", "forget_process", "serve_plain"]

log = logging.getLogger("jbtrio.server")

_ALLOW = (("Allow", "GET, HEAD, OPTIONS"),)

MetricsText = Callable[[], tuple[bytes, str]]
"""Makes the metrics page: its body and content type."""


def enable_metrics(router: object) -> MetricsText:
    """Turn metrics on in this process (:mod:`._metrics`, installed as an observer of its
    calls, labelled by ``router``'s mounts) and return the page's maker: with
    ``PROMETHEUS_MULTIPROC_DIR`` set, every process's values (``--workers``).

    ``prometheus_client`` is imported here, not before: it reads
    ``PROMETHEUS_MULTIPROC_DIR`` once, when first imported."""
    from ._metrics import Metrics, multiprocess_exposition  # noqa: PLC0415 - see above

    routes = getattr(router, "paths", ())
    metrics = Metrics(route_of=getattr(router, "mount_of", None), routes=routes).install()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return multiprocess_exposition
    return metrics.exposition


def forget_process(pid: int) -> None:
    """A ``--workers`` process exited: its live values (calls in progress) leave the page
    (``prometheus_client``'s multiprocess mode keeps them otherwise)."""
    from prometheus_client import multiprocess  # noqa: PLC0415 - see enable_metrics

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class Endpoints:
    """The plain requests of one listener (a :class:`~._server.Server` or the ``--workers``
    acceptor): ``draining`` is set when it stops taking calls, ``metrics`` when metrics are
    on."""

    def __init__(self, router: object) -> None:
        self.router = router
        self.draining = False
        self.metrics: MetricsText | None = None

    def answer(self, request: PlainRequest) -> PlainResponse:
        """The response to ``request``."""
        method, path = request.method, request.path
        if method in ("GET", "HEAD"):
            if path == "/healthz":
                return PlainResponse(200, b"ok\n")
            if path == "/readyz":
                if self.draining:
                    return PlainResponse(503, b"draining: shutting down\n")
                return PlainResponse(200, b"ready\n")
            if path == "/metrics":
                if self.metrics is None:
                    return PlainResponse(404, b"metrics are off\n")
                body, content_type = self.metrics()
                return PlainResponse(200, body, content_type)
            return PlainResponse(404, b"Not Found\n")
        if method == "OPTIONS":
            schema = self.env_schema(path)
            if schema is None:
                return PlainResponse(404, b"no app mounted here\n", headers=_ALLOW)
            return PlainResponse(200, orjson.dumps(schema), "application/json", _ALLOW)
        return PlainResponse(405, b"Method Not Allowed\n", headers=_ALLOW)

    def env_schema(self, path: str) -> Mapping[str, Any] | None:
        """The variables the app at ``path`` declares (``{}`` when none), ``None`` when no
        app is mounted there."""
        resolve = getattr(self.router, "resolve", None)
        if resolve is None or resolve(path) is None:
            return None
        schema = getattr(self.router, "env_schema", None)
        declared: Mapping[str, Any] | None = schema(path) if callable(schema) else None
        return declared or {}


#: Seconds a client of :func:`serve_plain` has to send its request.
PLAIN_READ_TIMEOUT = 10.0


async def answer_plain(stream: trio.abc.Stream, endpoints: Endpoints) -> None:
    """Read one request on ``stream`` and answer it plainly (anything but a plain request
    gets 404); the caller closes the stream."""
    sniffer = RequestSniffer()
    response: PlainResponse | None = None
    request: PlainRequest | None = None
    with trio.move_on_after(PLAIN_READ_TIMEOUT):
        while True:
            try:
                data = await stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            verdict = sniffer.feed(bytes(data))
            if verdict is UNDECIDED:
                continue
            if isinstance(verdict, PlainRequest):
                request = verdict
                response = endpoints.answer(verdict)
            elif isinstance(verdict, PlainResponse):
                response = verdict
            else:
                response = PlainResponse(404, b"Not Found\n")
            break
    if response is None:
        return
    head_only = request is not None and request.method == "HEAD"
    try:
        await stream.send_all(response.serialize(head_only=head_only))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return


async def serve_plain(
    endpoints: Endpoints,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer plain requests (``/metrics``, ``/healthz``, ``/readyz``) on ``host:port``
    until cancelled; ``task_status`` gets the bound port."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound: int = listeners[0].socket.getsockname()[1]
    log.info("metrics on %s:%s", host, bound)

    async def handle(stream: trio.SocketStream) -> None:
        try:
            await answer_plain(stream, endpoints)
        except Exception:
            log.exception("metrics connection failed")
        finally:
            await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        task_status.started(bound)
