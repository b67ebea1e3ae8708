"""An app: request paths mapped to call handlers, served by :func:`jbtrio.serve`.

Routing is by path prefix, longest first, because jambonz connects a dialed leg promoted to
its own session to ``<path>/adulting``: a handler mounted at ``/ivr`` must receive it (an
existing SDK routes ``/`` exactly and loses those legs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from ._call import Call
from ._runtime import AppHandler, CallSession

__all__ = ["App", "CallHandler"]

CallHandler = Callable[[Call], Awaitable[None]]


def _normalise(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"mount paths start with '/', got {path!r}")
    return path.rstrip("/") or "/"


class App:
    """A jambonz WebSocket application: call handlers mounted at paths.

    ::

        app = jbtrio.App()

        @app.route("/hello")
        async def hello(call: jbtrio.Call) -> None:
            await call.start.reply([Say(text="Hello"), Hangup()])
    """

    def __init__(self) -> None:
        self._routes: dict[str, CallHandler] = {}

    @property
    def paths(self) -> tuple[str, ...]:
        """The mounted paths."""
        return tuple(self._routes)

    def mount(self, path: str, handler: CallHandler) -> None:
        """Serve calls whose request path is ``path`` or starts with ``path + "/"``."""
        path = _normalise(path)
        if path in self._routes:
            raise ValueError(f"a handler is already mounted at {path}")
        self._routes[path] = handler

    def route(self, path: str) -> Callable[[CallHandler], CallHandler]:
        """Decorator form of :meth:`mount`."""

        def register(handler: CallHandler) -> CallHandler:
            self.mount(path, handler)
            return handler

        return register

    def resolve(self, path: str) -> AppHandler | None:
        """The runtime handler for a request ``path`` (longest matching prefix), or None."""
        handler = self._match(path)
        if handler is None:
            return None

        async def run(session: CallSession) -> None:
            async with trio.open_nursery() as nursery:
                call = Call(session, nursery)
                nursery.start_soon(call._dispatch, name=f"call {session.call_sid} dispatcher")
                await handler(call)

        return run

    def _match(self, path: str) -> CallHandler | None:
        path = path.rstrip("/") or "/"
        best: str | None = None
        for mount in self._routes:
            matches = mount in ("/", path) or path.startswith(mount + "/")
            if matches and (best is None or len(mount) > len(best)):
                best = mount
        return self._routes[best] if best is not None else None
