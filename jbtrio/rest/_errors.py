"""What a failed REST request raises: one class to catch, with jambonz's own words in it.

jambonz answers errors with a JSON body, usually ``{"msg": "..."}`` (api-server) and sometimes
``{"errors": [...]}`` (the feature server's request validation) or plain text ("Not Found").
:class:`RestError` keeps the status and the decoded body and puts jambonz's message in
``message``, so ``except RestError as exc: log(exc.status, exc.message)`` is enough. A request
that got no answer at all (refused connection, timeout) raises one of the two subclasses, with
``status`` ``None``.
"""

from __future__ import annotations

from .._errors import JbtrioError

__all__ = ["RestConnectionError", "RestError", "RestTimeout"]


class RestError(JbtrioError):
    """A REST request failed.

    - ``status``: the HTTP status jambonz answered with, ``None`` when there was no answer.
    - ``body``: the response body, decoded from JSON when it is JSON (``{"msg": ...}``), else
      the text (bounded, see ``RestConfig.max_response_bytes``), ``None`` when empty.
    - ``message``: jambonz's error message when the body has one, else a description.
    - ``method``/``path``: the request, without the base URL (``PUT
      /Accounts/<sid>/Calls/<sid>``); the API key is never part of an error or a log line.
    """

    def __init__(
        self,
        status: int | None,
        body: object,
        message: str,
        *,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status = status
        self.body = body
        self.message = message
        self.method = method
        self.path = path
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method else ""
        status = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{where}{status}{self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, message={self.message!r}, "
            f"method={self.method!r}, path={self.path!r})"
        )


class RestTimeout(RestError):
    """No complete answer within the configured timeout (``RestConfig.timeout``)."""


class RestConnectionError(RestError):
    """The request could not be exchanged: connection refused or reset, TLS or HTTP failure."""
