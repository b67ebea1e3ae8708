"""One REST exchange with jambonz: deadline, bounded body, retries, typed errors, a log line.

HTTP itself is httpx's (on Trio through anyio). This module owns the policy around it: each
attempt runs under one deadline (``RestConfig.timeout``) from connecting to the last byte; the
body is read in chunks and refused past ``max_response_bytes``; a failure becomes a
:class:`~jbtrio.rest.RestError` with jambonz's message, is retried only as its
:class:`~jbtrio.rest.Retry` kind allows, and is logged once (``jbtrio.rest``, with the call_sid
when the request is about one call). Cancellation from the caller is never caught.
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Mapping
from typing import Any, Final

import attrs
import orjson
import trio

from ._config import (
    Outcome,
    RestConfig,
    Retry,
    may_retry,
    parse_retry_after,
    retry_delay,
    status_outcome,
)
from ._errors import RestConnectionError, RestError, RestTimeout

try:
    import httpx
except ModuleNotFoundError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        f"jbtrio.rest needs httpx ({exc.name} is missing); it comes with the 'rest' extra: "
        f'pip install "jbtrio[rest]"'
    ) from exc

__all__ = ["HttpSession", "Response", "decode_json"]

log = logging.getLogger("jbtrio.rest")

_MESSAGE_PREVIEW: Final = 300
# Node's http server (jambonz's api-server is Express) closes idle connections after 5 s; a
# pooled connection kept as long races that close, and a request written into it fails in a
# way that cannot be told from "jambonz may have acted". Drop idle ones a little earlier.
_KEEPALIVE_EXPIRY: Final = 4.0


@attrs.frozen
class Response:
    """A completed exchange: status, the (bounded) body and the headers."""

    status: int
    body: bytes
    headers: Mapping[str, str]


class _AttemptFailed(Exception):
    """An attempt that produced no response: the error to raise and what it tells."""

    def __init__(self, error: RestError, outcome: Outcome) -> None:
        super().__init__(str(error))
        self.error = error
        self.outcome = outcome


def decode_body(body: bytes) -> object:
    """An error body as jambonz meant it: JSON when it parses, else text, ``None`` if empty."""
    if not body.strip():
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", errors="replace")


def error_message(status: int, body: object) -> str:
    """jambonz's own error message out of a body, or the reason phrase."""
    if isinstance(body, dict):
        for key in ("msg", "message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return _preview(value)
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = [e.get("msg", e) if isinstance(e, dict) else e for e in errors]
            return _preview("; ".join(str(part) for part in parts))
    if isinstance(body, str) and body.strip():
        return _preview(body.strip())
    return httpx.codes.get_reason_phrase(status) or f"HTTP {status}"


def _preview(text: str) -> str:
    return text if len(text) <= _MESSAGE_PREVIEW else text[:_MESSAGE_PREVIEW] + "..."


def decode_json(response: Response, method: str, path: str) -> Any:
    """The JSON of a successful response; a body that is not JSON is a :class:`RestError`."""
    try:
        return orjson.loads(response.body)
    except orjson.JSONDecodeError:
        body = decode_body(response.body)
        raise RestError(
            response.status, body, "response is not JSON", method=method, path=path
        ) from None


@functools.cache
def _default_tls_context() -> ssl.SSLContext:
    """The verifying TLS context every client shares: building one loads the CA bundle,
    ~50 ms of blocking CPU, too much to pay per client (``Client.for_call`` per call)."""
    return httpx.create_ssl_context()


def _tls(verify: bool | ssl.SSLContext) -> bool | ssl.SSLContext:
    return _default_tls_context() if verify is True else verify


class HttpSession:
    """The connection pool to one jambonz REST API and the request policy around it."""

    def __init__(self, base_url: str, api_key: str, config: RestConfig) -> None:
        self._config = config
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                # A compressed body could inflate past max_response_bytes in one chunk.
                "Accept-Encoding": "identity",
                "User-Agent": config.user_agent,
            },
            timeout=httpx.Timeout(
                config.timeout,
                connect=min(config.connect_timeout, config.timeout),
            ),
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_keepalive_connections,
                keepalive_expiry=_KEEPALIVE_EXPIRY,
            ),
            verify=_tls(config.verify),
            follow_redirects=False,  # never hand the bearer token to another location
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    @property
    def closed(self) -> bool:
        return self._client.is_closed

    async def request(
        self,
        method: str,
        path: str,
        *,
        retry: Retry,
        body: object = None,
        params: Mapping[str, str] | None = None,
        call_sid: str | None = None,
        gone_is_done: bool = False,
    ) -> Response:
        """Send one request, retrying as ``retry`` allows; raise :class:`RestError` on failure.

        ``gone_is_done``: a 404 to a repeat that follows an attempt of unknown outcome means
        the earlier attempt did the job (``DELETE``), and is returned, not raised.
        """
        content = None if body is None else orjson.dumps(body)
        policy = self._config.retry
        sid = call_sid or "-"
        ambiguous_before = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._attempt(method, path, content, params)
            except _AttemptFailed as failed:
                error, outcome, retry_after = failed.error, failed.outcome, None
            else:
                if 200 <= response.status < 300:
                    return response
                if gone_is_done and response.status == 404 and ambiguous_before:
                    log.info(
                        "[%s] jambonz REST %s %s: 404 on a repeat, the earlier attempt did it",
                        sid,
                        method,
                        path,
                        extra={"call_sid": sid},
                    )
                    return response
                decoded = decode_body(response.body)
                error = RestError(
                    response.status,
                    decoded,
                    error_message(response.status, decoded),
                    method=method,
                    path=path,
                )
                outcome = status_outcome(response.status)
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            ambiguous_before = ambiguous_before or outcome is Outcome.AMBIGUOUS
            delay = retry_delay(policy, attempt, retry_after) if may_retry(retry, outcome) else None
            if delay is None:
                log.warning(
                    "[%s] jambonz REST %s %s failed after %d attempt(s): %s",
                    sid,
                    method,
                    path,
                    attempt,
                    _describe(error),
                    extra={"call_sid": sid},
                )
                raise error
            log.info(
                "[%s] jambonz REST %s %s failed (%s); retry %d of %d in %.2f s",
                sid,
                method,
                path,
                _describe(error),
                attempt,
                policy.attempts - 1,
                delay,
                extra={"call_sid": sid},
            )
            await trio.sleep(delay)

    async def _attempt(
        self,
        method: str,
        path: str,
        content: bytes | None,
        params: Mapping[str, str] | None,
    ) -> Response:
        config = self._config
        headers = {"Content-Type": "application/json"} if content is not None else None

        def failed(kind: type[RestError], message: str, outcome: Outcome) -> _AttemptFailed:
            return _AttemptFailed(kind(None, None, message, method=method, path=path), outcome)

        with trio.move_on_after(config.timeout):
            try:
                async with self._client.stream(
                    method, path, content=content, params=params, headers=headers
                ) as reply:
                    body = await self._read_body(reply, method, path)
                    return Response(reply.status_code, body, reply.headers)
            except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                message = f"timed out connecting ({type(exc).__name__})"
                raise failed(RestTimeout, message, Outcome.NOT_SENT) from None
            except httpx.ConnectError as exc:
                message = f"cannot connect ({exc})"
                raise failed(RestConnectionError, message, Outcome.NOT_SENT) from None
            except httpx.TimeoutException as exc:
                message = f"timed out ({type(exc).__name__})"
                raise failed(RestTimeout, message, Outcome.AMBIGUOUS) from None
            except httpx.TransportError as exc:
                message = f"connection failed ({type(exc).__name__}: {exc})"
                raise failed(RestConnectionError, message, Outcome.AMBIGUOUS) from None
        # Only the deadline leaves the block without returning or raising.
        message = f"no complete answer within {config.timeout:g} s"
        raise failed(RestTimeout, message, Outcome.AMBIGUOUS)

    async def _read_body(self, reply: httpx.Response, method: str, path: str) -> bytes:
        limit = self._config.max_response_bytes

        def too_large() -> _AttemptFailed:
            message = f"response body larger than {limit} bytes (RestConfig.max_response_bytes)"
            error = RestError(reply.status_code, None, message, method=method, path=path)
            return _AttemptFailed(error, Outcome.FINAL)

        declared = reply.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large()  # the common case: jambonz's answers have a Content-Length
        # Without one, bytes past the limit are read and dropped rather than the loop left
        # early: leaving httpx's chain of async generators unexhausted makes Trio finalise
        # them at garbage collection with a ResourceWarning. Memory stays bounded, and time
        # is bounded by the attempt's deadline.
        chunks: list[bytes] = []
        size = 0
        async for chunk in reply.aiter_bytes():
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
        if size > limit:
            raise too_large()
        return b"".join(chunks)


def _describe(error: RestError) -> str:
    return f"HTTP {error.status}: {error.message}" if error.status is not None else error.message
