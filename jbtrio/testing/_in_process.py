"""An app served in the same Trio run as the fake: no sockets, and its crashes seen as raised.

Over a socket the fake knows only what jambonz would: a flow that raises plays the app's
apology and hangs up, a call that looks completed. In-process the kit listens to the app
itself (:meth:`jbtrio.App.add_failure_listener`), so the exception reaches the test, chained
to :class:`AppFailed`, and the traceback points at the line of the flow that raised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import trio

from jbtrio import Server

from ._env_discovery import declared_defaults, discover_env_vars
from ._outcome import AppError
from ._render import render

if TYPE_CHECKING:
    from jbtrio import App, ServerConfig
    from jbtrio import Call as AppCall

    from ._fake_call import FakeCall

__all__ = ["AppFailed", "call_app"]

#: Lines of the readable transcript an :class:`AppFailed` message ends with.
_TRANSCRIPT_TAIL = 25


class AppFailed(AssertionError):
    """A call placed by :func:`~jbtrio.testing.run_app` did not end ``ok``.

    ``call`` is the finished fake call (``call.outcome``, ``call.transcript``, ...). When the
    app raised, the exception is this one's ``__cause__`` (pytest shows its traceback) and in
    ``call.outcome.app_errors``. The message ends with the call's readable transcript.
    """

    __module__ = "jbtrio.testing"  # how pytest names it: where users import it from

    def __init__(self, call: FakeCall) -> None:
        self.call = call
        outcome = call.outcome
        head = outcome.summary()
        if not outcome.app_errors:
            head += f" (call_sid {call.call_sid})"
        lines = render(call.transcript)
        if len(lines) > _TRANSCRIPT_TAIL:
            lines = ["  ...", *lines[-_TRANSCRIPT_TAIL:]]
        super().__init__("\n".join([head, "transcript:", *lines]))


async def _declared_env(url: str, server: Server) -> dict[str, Any] | None:
    with trio.move_on_after(5):
        schema = await discover_env_vars(url, connector=server.open_memory_stream)
        return declared_defaults(schema) or None if schema else None
    return None


async def call_app(
    new_call: Callable[..., FakeCall],
    app: App,
    path: str,
    *,
    check: bool,
    server_config: ServerConfig | None,
    options: Mapping[str, Any],
) -> FakeCall:
    """Serve ``app`` in memory, run one call to ``path`` made by ``new_call`` (a fake
    jambonz's :meth:`~jbtrio.testing.FakeJambonz.new_call`); see ``run_app``."""
    if not path.startswith("/"):
        raise ValueError(f"the path starts with '/', got {path!r}")
    options = dict(options)
    options.setdefault("error_verbs", app.error_verbs)
    server = Server(app, server_config)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run_in)
        url = f"ws://jbtrio.test{path}"
        if "env_vars" not in options:
            # as jambonz: ask the app which variables it declares, send their defaults
            options["env_vars"] = await _declared_env(url, server)
        call = new_call(url, connector=server.open_memory_stream, **options)

        def heard(app_call: AppCall, where: str, exc: BaseException) -> None:
            if app_call.sid == call.call_sid:
                call.report_app_error(AppError(call.call_sid, where, exc))

        remove = app.add_failure_listener(heard)
        try:
            await call.run()
            await server.shutdown(grace=0)
        finally:
            remove()
    if check and not call.outcome.ok:
        errors = [e.exception for e in call.outcome.app_errors if e.exception is not None]
        raise AppFailed(call) from (errors[0] if errors else None)
    return call
