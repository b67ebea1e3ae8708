"""A local HTTP server that plays jambonz's REST API and records what it receives.

Real HTTP on 127.0.0.1 (h11 over Trio sockets, in the test's own Trio run), so the client under
test runs end to end: httpx, its connection pool, our deadlines and retries. Behaviour follows
jambonz's api-server (``lib/routes/api/accounts.js``): Bearer auth, the create-call and
update-call checks and their ``{"msg": ...}`` errors, 201/202/204 and bare 404 answers, queue
lengths as strings. Tests can script one-off replies per path (an error, a hang, a huge body)
ahead of that behaviour, and wait until the server has received N requests.
"""

from __future__ import annotations

import uuid
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs
import h11
import orjson
import trio

NOT_SET: Any = object()
_MAX_REQUEST_BYTES = 1024 * 1024

# api-server's validateUpdateCall: the changes it counts (one per request).
_UPDATE_CHANGES = (
    "call_hook",
    "child_call_hook",
    "call_status",
    "listen_status",
    "transcribe_status",
    "conf_hold_status",
    "conf_mute_status",
    "mute_status",
    "sip_request",
    "record",
    "tag",
    "dtmf",
    "conferenceParticipantAction",
    "dub",
    "boostAudioSignal",
    "media_path",
)


@attrs.define
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@attrs.define
class Reply:
    """A scripted answer: status with a JSON or text body, or a misbehaviour.

    ``hang``: read the request and never answer (until the client goes away);
    ``drop``: close the connection without answering; ``chunked``: send ``body`` without a
    Content-Length, in chunks.
    """

    status: int = 200
    json: Any = NOT_SET
    text: str | None = None
    body: bytes | None = None
    headers: dict[str, str] = attrs.field(factory=dict)
    hang: bool = False
    drop: bool = False
    chunked: bool = False


class FakeJambonzRest:
    """jambonz's REST API for one account, on a random local port."""

    def __init__(self, account_sid: str = "acct-1", api_key: str = "secret-key") -> None:
        self.account_sid = account_sid
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.calls: dict[str, dict[str, Any]] = {}
        self.queues: list[dict[str, Any]] = []
        self.conferences: list[str] = []
        self.port = 0
        self._scripts: dict[tuple[str, str], deque[Reply]] = {}
        self._arrived = trio.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def account_path(self) -> str:
        return f"/v1/Accounts/{self.account_sid}"

    def script(self, method: str, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``path`` (after ``/v1/Accounts/<sid>``) with ``replies``."""
        key = (method, self.account_path + path)
        self._scripts.setdefault(key, deque()).extend(replies)

    def add_call(self, call_sid: str, **fields: Any) -> dict[str, Any]:
        call = {
            "call_sid": call_sid,
            "account_sid": self.account_sid,
            "call_id": f"{call_sid}@sip",
            "call_status": "in-progress",
            "direction": "inbound",
            "from": "+15550001111",
            "to": "+15550002222",
            "sip_status": 200,
            "service_url": "http://10.0.0.9:3000",
            **fields,
        }
        self.calls[call_sid] = call
        return call

    async def wait_for_requests(self, count: int) -> None:
        while len(self.requests) < count:
            await self._arrived.wait()

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self._connection, listeners)
            task_status.started(self.base_url)

    # ------------------------------------------------------------ HTTP plumbing

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_REQUEST_BYTES)
        try:
            while True:
                recorded = await self._read_request(conn, stream)
                if recorded is None:
                    return
                self.requests.append(recorded)
                self._arrived.set()
                self._arrived = trio.Event()
                reply = self._reply_for(recorded)
                if reply.hang:
                    while await stream.receive_some(65536):
                        pass
                    return
                if reply.drop:
                    return
                await self._send(conn, stream, reply)
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return
        finally:
            await stream.aclose()

    async def _read_request(
        self, conn: h11.Connection, stream: trio.SocketStream
    ) -> Recorded | None:
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.ConnectionClosed):
                return None
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                target = urlsplit(request.target.decode())
                return Recorded(
                    method=request.method.decode(),
                    path=unquote(target.path),
                    query=dict(parse_qsl(target.query)),
                    headers={k.decode().lower(): v.decode() for k, v in request.headers},
                    body=bytes(body),
                )

    async def _send(self, conn: h11.Connection, stream: trio.SocketStream, reply: Reply) -> None:
        if reply.json is not NOT_SET:
            payload = orjson.dumps(reply.json)
            content_type = "application/json; charset=utf-8"
        elif reply.text is not None:
            payload = reply.text.encode()
            content_type = "text/plain; charset=utf-8"
        else:
            payload = reply.body or b""
            content_type = "application/octet-stream"
        headers = [("Content-Type", content_type), *reply.headers.items()]
        no_body = reply.status in (204, 304)
        if not no_body and not reply.chunked:
            headers.append(("Content-Length", str(len(payload))))
        if reply.chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        out = conn.send(h11.Response(status_code=reply.status, headers=headers))
        assert out is not None
        await stream.send_all(out)
        if not no_body and payload:
            step = 16384 if reply.chunked else len(payload)
            for start in range(0, len(payload), step):
                data = conn.send(h11.Data(data=payload[start : start + step]))
                assert data is not None
                await stream.send_all(data)
        end = conn.send(h11.EndOfMessage())
        assert end is not None
        await stream.send_all(end)

    # --------------------------------------------------------- jambonz's behaviour

    def _reply_for(self, req: Recorded) -> Reply:
        queue = self._scripts.get((req.method, req.path))
        if queue:
            return queue.popleft()
        if req.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply(401, text="Unauthorized")
        prefix = self.account_path
        if not req.path.startswith(prefix + "/"):
            return Reply(404, text="Not Found")
        route = req.path[len(prefix) :].strip("/").split("/")
        handler = getattr(self, f"_{req.method.lower()}_{route[0].lower()}", None)
        if handler is None:
            return Reply(404, text="Not Found")
        result: Reply = handler(req, route[1:])
        return result

    def _post_calls(self, req: Recorded, rest: list[str]) -> Reply:
        body = req.json
        if not body.get("from"):
            return Reply(400, json={"msg": "missing from parameter"})
        to = body.get("to")
        key = {"phone": "number", "teams": "number", "user": "name", "sip": "sipUri"}
        kind = to.get("type") if isinstance(to, dict) else None
        if kind not in key or not isinstance(to.get(key[kind]), str):
            return Reply(
                400, json={"msg": f"missing or invalid to property: {orjson.dumps(to).decode()}"}
            )
        if not body.get("call_hook") and not body.get("application_sid"):
            return Reply(400, json={"msg": "either call_hook or application_sid required"})
        sid = str(uuid.uuid4())
        self.add_call(
            sid,
            direction="outbound",
            call_status="trying",
            sip_status=100,
            **{"from": body["from"], "to": to.get(key[kind])},
        )
        return Reply(201, json={"sid": sid, "callId": f"{sid}@sip"})

    def _get_calls(self, req: Recorded, rest: list[str]) -> Reply:
        if rest:
            call = self.calls.get(rest[0])
            return Reply(200, json=call) if call else Reply(404, text="Not Found")
        filters = {
            "direction": "direction",
            "from": "from",
            "to": "to",
            "callStatus": "call_status",
        }
        calls = [
            call
            for call in self.calls.values()
            if all(
                call.get(field) == req.query[q] for q, field in filters.items() if q in req.query
            )
        ]
        return Reply(200, json=calls)

    def _put_calls(self, req: Recorded, rest: list[str]) -> Reply:
        body = req.json
        count = sum(1 for name in _UPDATE_CHANGES if body.get(name))
        if count == 0 and not body.get("whisper"):
            return Reply(400, json={"msg": "no valid options supplied to updateCall"})
        if count == 2 and not (body.get("call_hook") and body.get("child_call_hook")):
            return Reply(400, json={"msg": "multiple options are not allowed in updateCall"})
        if count > 2:
            return Reply(400, json={"msg": "multiple options are not allowed in updateCall"})
        call = self.calls.get(rest[0]) if rest else None
        if call is None:
            return Reply(404, text="Not Found")
        if body.get("sip_request"):
            return Reply(200, json={"status": 200, "reason": "OK"})
        if body.get("call_status") == "completed":
            del self.calls[rest[0]]
        if body.get("tag"):
            call["customer_data"] = body["tag"]
        return Reply(202, text="Accepted")

    def _delete_calls(self, req: Recorded, rest: list[str]) -> Reply:
        if rest and self.calls.pop(rest[0], None) is not None:
            return Reply(204)
        return Reply(404, text="Not Found")

    def _get_callcount(self, req: Recorded, rest: list[str]) -> Reply:
        inbound = sum(1 for c in self.calls.values() if c["direction"] == "inbound")
        return Reply(200, json={"inbound": inbound, "outbound": len(self.calls) - inbound})

    def _post_messages(self, req: Recorded, rest: list[str]) -> Reply:
        body = req.json
        if not body.get("from"):
            return Reply(400, json={"msg": "missing from property"})
        if not body.get("to"):
            return Reply(400, json={"msg": "missing to property"})
        if not body.get("text") and not body.get("media"):
            return Reply(400, json={"msg": "either text or media required in outbound message"})
        return Reply(201, json={"sid": str(uuid.uuid4()), "providerResponse": "queued"})

    def _get_queues(self, req: Recorded, rest: list[str]) -> Reply:
        search = req.query.get("search")
        queues = [q for q in self.queues if not search or search in q["name"]]
        return Reply(200, json=queues)

    def _get_conferences(self, req: Recorded, rest: list[str]) -> Reply:
        return Reply(200, json=self.conferences)

    def _post_conferences(self, req: Recorded, rest: list[str]) -> Reply:
        if len(rest) == 2 and rest[1] == "listen" and rest[0] in self.conferences:
            return Reply(200, json={})
        return Reply(404, text="Not Found")

    def _delete_conferences(self, req: Recorded, rest: list[str]) -> Reply:
        if len(rest) == 2 and rest[1] == "listen" and rest[0] in self.conferences:
            return Reply(204)
        return Reply(404, text="Not Found")
