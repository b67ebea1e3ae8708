"""The REST client: jambonz's account API (calls, messages, queues, conferences) for Trio.

One :class:`Client` holds a connection pool to one jambonz API for one account; it is safe to
share between tasks and calls. :class:`ClientPool` hands out one client per API and account,
for apps that take the API URL from each call (``call.rest``).
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Any, Final, Self, TypeVar
from urllib.parse import quote, urlsplit

from ._calls import (
    ActiveCall,
    CallCount,
    CallStatusFilter,
    CreateCall,
    CreatedCall,
    Direction,
    list_calls_query,
)
from ._codec import RequestBody, structure_response, unstructure_request
from ._config import RestConfig, Retry
from ._errors import RestError
from ._http import HttpSession, Response, decode_json
from ._resources import ConferenceListen, QueueInfo, SendMessage, SentMessage
from ._update import MuteStatus, SipResponse, UpdateCall, Whisper
from ._values import HookLike, check_non_empty

__all__ = ["Client", "ClientPool", "normalize_base_url"]

_DEFAULT_POOL_SIZE: Final = 16
_T = TypeVar("_T")


def normalize_base_url(base_url: str) -> str:
    """The API root ending in ``/v1``: ``https://jambonz.example.com`` and
    ``http://10.0.0.5/v1`` (the form ``api_base_url`` takes in call info) both work."""
    check_non_empty("base_url", base_url)
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an http(s):// URL; got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not have a query or fragment; got {base_url!r}")
    return url if parts.path.endswith("/v1") else url + "/v1"


def _segment(name: str, value: str) -> str:
    """One path segment, quoted: a sid or conference name can never reach another path."""
    check_non_empty(name, value)
    return quote(value, safe="")


class Client:
    """jambonz's REST API for one account, async, for Trio.

    ``base_url`` is the API root (``https://api.jambonz.cloud``; ``/v1`` is added unless it is
    there), ``api_key`` an account API key (sent as ``Authorization: Bearer``). Use it as an
    async context manager, or call :meth:`aclose` when done::

        async with rest.Client(url, account_sid, api_key) as client:
            call = await client.create_call(rest.CreateCall(...))

    Every method raises :class:`RestError` (or its subclasses :class:`RestTimeout`,
    :class:`RestConnectionError`) when jambonz does not answer with success; see
    :class:`RestConfig` for timeouts and :class:`Retry` for what is retried.
    """

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        api_key: str,
        *,
        config: RestConfig | None = None,
    ) -> None:
        check_non_empty("api_key", api_key)
        self._base_url = normalize_base_url(base_url)
        self._account_sid = account_sid
        self._account = f"/Accounts/{_segment('account_sid', account_sid)}"
        self._config = config or RestConfig()
        self._http = HttpSession(self._base_url, api_key, self._config)

    @classmethod
    def for_call(
        cls,
        api_base_url: str | None,
        account_sid: str | None,
        api_key: str,
        *,
        default_base_url: str | None = None,
        config: RestConfig | None = None,
    ) -> Client:
        """A client for the account and API a call came from.

        Pass the call info's ``api_base_url`` and ``account_sid`` and your API key.
        jambonz puts ``api_base_url`` in the call info it builds for hooks (``verb:hook``,
        ``call:status``, ``session:redirect``, and ``session:new`` of REST-created calls) when
        its feature server has ``JAMBONES_API_BASE_URL`` set; 0.9.8's inbound ``session:new``
        copies the call's fields without it. ``default_base_url`` is used when the call info
        has none; with neither, ``ValueError``. Each client opens its own connections: for
        many calls, share them with :class:`ClientPool`.
        """
        base = api_base_url or default_base_url
        if not base:
            raise ValueError(
                "jambonz sent no api_base_url for this call (its feature server has no "
                "JAMBONES_API_BASE_URL); configure the API URL (default_base_url)"
            )
        if not account_sid:
            raise ValueError("the call info has no account_sid")
        return cls(base, account_sid, api_key, config=config)

    @property
    def base_url(self) -> str:
        """The API root, ending in ``/v1``."""
        return self._base_url

    @property
    def account_sid(self) -> str:
        return self._account_sid

    @property
    def config(self) -> RestConfig:
        return self._config

    @property
    def closed(self) -> bool:
        return self._http.closed

    def __repr__(self) -> str:
        return f"<jbtrio.rest.Client {self._base_url} account {self._account_sid}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections; the client cannot be used afterwards."""
        await self._http.aclose()

    # ------------------------------------------------------------------ calls

    async def create_call(self, request: CreateCall) -> CreatedCall:
        """Place an outbound call; never retried (a repeat could place a second call)."""
        path = f"{self._account}/Calls"
        response = await self._send("POST", path, Retry.NEVER, body=request)
        return self._typed(response, "POST", path, CreatedCall)

    async def list_calls(
        self,
        *,
        direction: Direction | None = None,
        from_: str | None = None,
        to: str | None = None,
        call_status: CallStatusFilter | None = None,
    ) -> list[ActiveCall]:
        """The account's active calls, optionally filtered as jambonz filters them."""
        path = f"{self._account}/Calls"
        params = list_calls_query(direction, from_, to, call_status)
        response = await self._send("GET", path, Retry.SAFE, params=params)
        return self._typed_list(response, "GET", path, ActiveCall)

    async def get_call(self, call_sid: str) -> ActiveCall:
        """One active call; a call jambonz does not know is ``RestError`` with status 404."""
        path = self._call_path(call_sid)
        response = await self._send("GET", path, Retry.SAFE, call_sid=call_sid)
        return self._typed(response, "GET", path, ActiveCall)

    async def count_calls(self) -> CallCount:
        """How many inbound and outbound calls the account has now."""
        path = f"{self._account}/CallCount"
        response = await self._send("GET", path, Retry.SAFE)
        return self._typed(response, "GET", path, CallCount)

    async def update_call(self, call_sid: str, update: UpdateCall) -> SipResponse | None:
        """Change a live call (redirect, hang up, mute, whisper, ...): one change per update.

        jambonz accepts the change (202) and then acts on it; what happens after is reported
        on the call (its socket, hooks, ``call:status``), not here. For a ``sip_request``
        jambonz waits for the far end and returns its :class:`SipResponse`; otherwise
        ``None``. Retried only when jambonz certainly did not act (see :class:`Retry`).
        """
        path = self._call_path(call_sid)
        response = await self._send(
            "PUT", path, Retry.IF_NOT_PROCESSED, body=update, call_sid=call_sid
        )
        if response.status != 200 or not response.body.strip():
            return None
        data = decode_json(response, "PUT", path)
        if not isinstance(data, dict) or "status" not in data:
            return None
        return self._structure(data, response, "PUT", path, SipResponse)

    async def delete_call(self, call_sid: str) -> None:
        """Remove jambonz's record of a call from the active-call list.

        This deletes the call's entry in jambonz's call registry (for records left behind);
        it does not signal the call: to end a live call, use :meth:`hangup`.
        """
        path = self._call_path(call_sid)
        await self._send("DELETE", path, Retry.SAFE, call_sid=call_sid, gone_is_done=True)

    async def hangup(self, call_sid: str) -> None:
        """End an answered call (``call_status: "completed"``)."""
        await self.update_call(call_sid, UpdateCall(call_status="completed"))

    async def redirect(
        self, call_sid: str, call_hook: HookLike, *, call_status_hook: HookLike | None = None
    ) -> None:
        """Make the call fetch new verbs from ``call_hook`` (a websocket app gets them as
        ``session:redirect`` on a new or the same socket)."""
        update = UpdateCall(call_hook=call_hook, call_status_hook=call_status_hook)
        await self.update_call(call_sid, update)

    async def mute(self, call_sid: str, status: MuteStatus = "mute") -> None:
        """Mute or unmute the call leg (while it is in a dial or conference)."""
        await self.update_call(call_sid, UpdateCall(mute_status=status))

    async def whisper(self, call_sid: str, verbs: Whisper) -> None:
        """Play ``say``/``play`` verbs to this leg of a bridged call only."""
        await self.update_call(call_sid, UpdateCall(whisper=verbs))

    # --------------------------------------------------------- other resources

    async def send_message(self, message: SendMessage) -> SentMessage:
        """Send an SMS/MMS; never retried. A carrier failure is ``RestError`` 480."""
        path = f"{self._account}/Messages"
        response = await self._send("POST", path, Retry.NEVER, body=message)
        return self._typed(response, "POST", path, SentMessage)

    async def list_queues(self, search: str | None = None) -> list[QueueInfo]:
        """Active queues (``enqueue``) with their lengths; ``search`` filters by name."""
        path = f"{self._account}/Queues"
        params = {"search": search} if search else None
        response = await self._send("GET", path, Retry.SAFE, params=params)
        return self._typed_list(response, "GET", path, QueueInfo)

    async def list_conferences(self) -> list[str]:
        """Names of the account's active conferences."""
        path = f"{self._account}/Conferences"
        response = await self._send("GET", path, Retry.SAFE)
        data = decode_json(response, "GET", path)
        if not isinstance(data, list) or not all(isinstance(name, str) for name in data):
            message = "unexpected conference list from jambonz: expected a list of names"
            raise RestError(response.status, data, message, method="GET", path=path)
        return data

    async def start_conference_listen(self, name: str, listen: ConferenceListen) -> None:
        """Stream a conference's mixed audio to a websocket (10.x/11.x, MediaJam rooms)."""
        path = f"{self._account}/Conferences/{_segment('name', name)}/listen"
        await self._send("POST", path, Retry.NEVER, body=listen)

    async def stop_conference_listen(self, name: str) -> None:
        """Stop a conference listen fork."""
        path = f"{self._account}/Conferences/{_segment('name', name)}/listen"
        await self._send("DELETE", path, Retry.SAFE, gone_is_done=True)

    # ---------------------------------------------------------------- helpers

    def _call_path(self, call_sid: str) -> str:
        return f"{self._account}/Calls/{_segment('call_sid', call_sid)}"

    async def _send(
        self,
        method: str,
        path: str,
        retry: Retry,
        *,
        body: RequestBody | None = None,
        params: Mapping[str, str] | None = None,
        call_sid: str | None = None,
        gone_is_done: bool = False,
    ) -> Response:
        if self._http.closed:
            raise RuntimeError("this jbtrio.rest.Client is closed")
        data = None if body is None else unstructure_request(body)
        return await self._http.request(
            method,
            path,
            retry=retry,
            body=data,
            params=params,
            call_sid=call_sid,
            gone_is_done=gone_is_done,
        )

    def _typed(self, response: Response, method: str, path: str, cls: type[_T]) -> _T:
        return self._structure(decode_json(response, method, path), response, method, path, cls)

    def _typed_list(self, response: Response, method: str, path: str, cls: type[_T]) -> list[_T]:
        data = decode_json(response, method, path)
        if not isinstance(data, list):
            message = f"unexpected answer from jambonz: expected a list of {cls.__name__}"
            raise RestError(response.status, data, message, method=method, path=path)
        return [self._structure(item, response, method, path, cls) for item in data]

    @staticmethod
    def _structure(data: Any, response: Response, method: str, path: str, cls: type[_T]) -> _T:
        try:
            return structure_response(data, cls)
        except ValueError as exc:
            raise RestError(response.status, data, str(exc), method=method, path=path) from None


class ClientPool:
    """One :class:`Client` per (API URL, account), made on first use and closed together.

    For apps whose calls may come from different jambonz accounts or clusters: ``get()`` takes
    a call's ``api_base_url`` and ``account_sid`` (falling back to ``base_url`` when the call
    has none) and returns the shared client for them.

    The API key goes to whatever URL the call info names. Unless the app's websocket requires
    authentication (``ServerConfig`` username/password), a forged ``session:new`` could name
    any host: set ``allowed_hosts`` to the hosts your jambonz API may be on, and a call naming
    another raises ``ValueError`` instead of sending the key there. At most ``max_clients``
    distinct clients are made (16); one more raises ``ValueError``.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        allowed_hosts: Iterable[str] | None = None,
        config: RestConfig | None = None,
        max_clients: int = _DEFAULT_POOL_SIZE,
    ) -> None:
        check_non_empty("api_key", api_key)
        self._api_key = api_key
        self._base_url = None if base_url is None else normalize_base_url(base_url)
        self._allowed = (
            None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)
        )
        self._config = config
        self._max = max_clients
        self._clients: dict[tuple[str, str], Client] = {}
        self._closed = False

    def get(self, api_base_url: str | None, account_sid: str | None) -> Client:
        """The client for this API and account (made now if it is the first)."""
        if self._closed:
            raise RuntimeError("this jbtrio.rest.ClientPool is closed")
        chosen = api_base_url or self._base_url
        if not chosen:
            raise ValueError(
                "jambonz sent no api_base_url for this call (its feature server has no "
                "JAMBONES_API_BASE_URL) and no REST base URL is configured"
            )
        if not account_sid:
            raise ValueError("the call info has no account_sid")
        url = normalize_base_url(chosen)
        host = (urlsplit(url).hostname or "").lower()
        if self._allowed is not None and host not in self._allowed:
            raise ValueError(f"REST API host {host!r} is not in allowed_hosts")
        key = (url, account_sid)
        client = self._clients.get(key)
        if client is None:
            if len(self._clients) >= self._max:
                raise ValueError(f"more than {self._max} jambonz REST APIs/accounts in use")
            client = Client(url, account_sid, self._api_key, config=self._config)
            self._clients[key] = client
        return client

    def __len__(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        """Close every client made; the pool cannot be used afterwards."""
        self._closed = True
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
