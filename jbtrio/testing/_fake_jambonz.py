"""The fake jambonz itself: :class:`FakeJambonz` places simulated calls to a websocket app.

Each call it places is a :class:`~jbtrio.testing.FakeCall` (:mod:`._fake_call`) that a test
watches and steers; :meth:`FakeJambonz.run_app` serves an app in the same Trio run
(:mod:`._in_process`).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import trio

from jbtrio import DEFAULT_ERROR_VERBS

from ._caller import Caller
from ._config import JambonzConfig
from ._connect import Connector
from ._fake_call import FakeCall, FirstMessage
from ._faults import Faults
from ._in_process import call_app
from ._session_data import adulting_data, session_new_data

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from jbtrio import App, ServerConfig

__all__ = ["CallOptions", "FakeJambonz", "run_app"]


class _CallContext:
    """``async with fake.call(...) as call``: runs the call in a nursery for the block.

    Leaving the block normally waits for the call to end on its own (use
    :meth:`FakeCall.hangup` to end it early); an exception in the block cancels the call.
    """

    def __init__(self, call: FakeCall) -> None:
        self._call = call
        self._nursery_cm = trio.open_nursery()

    async def __aenter__(self) -> FakeCall:
        nursery = await self._nursery_cm.__aenter__()
        nursery.start_soon(self._call.run, name=f"fake-jambonz[{self._call.call_sid}]")
        return self._call

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        if exc is None:
            await self._call.finished()
        return await self._nursery_cm.__aexit__(exc_type, exc, tb)


class CallOptions(TypedDict, total=False):
    """The keyword options of :meth:`FakeJambonz.new_call` (and ``call``/``place_call``)."""

    connector: Connector | None
    caller: Caller | None
    faults: Faults | None
    username: str | None
    password: str | None
    from_: str
    to: str
    direction: Literal["inbound", "outbound"]
    env_vars: dict[str, Any] | None
    call_sid: str | None
    sip: dict[str, Any] | None
    first_message: FirstMessage
    verbs: Sequence[dict[str, Any]] | None
    error_verbs: Sequence[Any] | None
    audio_connector: Connector | None


class FakeJambonz:
    """A fake jambonz feature server: places simulated calls to a websocket app.

    ``target`` is a ``ws://``/``wss://`` URL (``#rc=``/``#rp=`` honoured and stripped) or a
    connector, an async callable returning a :class:`trio.abc.Stream` (e.g. one end of
    :func:`trio.testing.memory_stream_pair`); pass both to use a connector with a URL's path.
    """

    def __init__(self, config: JambonzConfig | None = None) -> None:
        self.config = config or JambonzConfig()

    def new_call(
        self,
        target: str | Connector,
        *,
        connector: Connector | None = None,
        caller: Caller | None = None,
        faults: Faults | None = None,
        username: str | None = None,
        password: str | None = None,
        from_: str = "15083084809",
        to: str = "15083728299",
        direction: Literal["inbound", "outbound"] = "inbound",
        env_vars: dict[str, Any] | None = None,
        call_sid: str | None = None,
        sip: dict[str, Any] | None = None,
        first_message: FirstMessage = "session:new",
        verbs: Sequence[dict[str, Any]] | None = None,
        error_verbs: Sequence[Any] | None = DEFAULT_ERROR_VERBS,
        audio_connector: Connector | None = None,
    ) -> FakeCall:
        """Build a :class:`FakeCall` without running it (see :meth:`call` and :meth:`place_call`).

        ``error_verbs`` are the app's apology (``App(error_verbs=...)``, jbtrio's default
        unless given; ``None``: none): a call whose last verbs run are exactly those is
        reported as the app's crash in ``outcome.app_errors``.
        ``caller`` scripts the person on the line, ``faults`` the network trouble;
        ``username``/``password`` add HTTP Basic auth to the upgrade (only when both are
        given); ``from_``, ``to``, ``direction``, ``env_vars``, ``call_sid`` and ``sip`` shape
        the ``session:new`` data. ``first_message="session:adulting"`` plays a dialed leg
        promoted to its own session instead: the socket goes to ``<url>/adulting``, carries no
        top-level ``call_sid``, and runs ``verbs`` (the child application the parent supplied).
        ``audio_connector`` opens the audio sockets of ``listen``/``stream`` verbs (default: as
        jambonz does, to the verb's URL — with this call's connector when that is the app's
        own host); ``caller`` scripts what they carry (``Caller(audio=...)``).
        """
        data = session_new_data(
            self.config,
            from_=from_,
            to=to,
            direction=direction,
            call_sid=call_sid,
            sip=sip,
            env_vars=env_vars,
        )
        if first_message == "session:adulting":
            data = adulting_data(data)
        return FakeCall(
            config=self.config,
            target=target,
            connector=connector,
            caller=caller or Caller(),
            faults=faults or Faults(),
            username=username,
            password=password,
            session_data=data,
            first_message=first_message,
            verbs=verbs,
            error_verbs=error_verbs,
            audio_connector=audio_connector,
        )

    def call(self, target: str | Connector, **options: Unpack[CallOptions]) -> _CallContext:
        """``async with fake.call(url, caller=...) as call:`` — a call running for the block.

        ``options`` are those of :meth:`new_call`.
        """
        return _CallContext(self.new_call(target, **options))

    async def place_call(self, target: str | Connector, **options: Unpack[CallOptions]) -> FakeCall:
        """Run one call to its end and return it (``call.outcome`` is set); ``options`` are
        those of :meth:`new_call`."""
        call = self.new_call(target, **options)
        await call.run()
        return call

    async def run_app(
        self,
        app: App,
        path: str = "/",
        *,
        check: bool = True,
        server_config: ServerConfig | None = None,
        **options: Unpack[CallOptions],
    ) -> FakeCall:
        """Serve ``app`` in memory, place one call to ``path`` and run it to its end.

        See :func:`run_app`; this one uses this fake's :class:`JambonzConfig`.
        """
        return await call_app(
            self.new_call, app, path, check=check, server_config=server_config, options=options
        )


async def run_app(
    app: App,
    path: str = "/",
    *,
    config: JambonzConfig | None = None,
    check: bool = True,
    server_config: ServerConfig | None = None,
    **options: Unpack[CallOptions],
) -> FakeCall:
    """Serve ``app`` in memory (no sockets), place one call to ``path``, run it to its end.

    ``await run_app(app, "/ivr", caller=Caller(speech=["I need help"]))`` returns the
    finished :class:`FakeCall` (``executed_verbs``, ``transcript``, ``outcome``, ...). The app
    runs in the same Trio run as the fake, so an exception in one of its flows or handlers is
    seen as it is raised: with ``check`` (the default), a call whose outcome is not ``ok``
    raises :class:`AppFailed`, chained to that exception, with the call_sid in its message.
    Expect a failure with ``pytest.raises(AppFailed)``, or pass ``check=False`` and look at
    ``call.outcome.app_errors``. Deterministic and instant under pytest-trio's
    ``autojump_clock``. ``config`` shapes the fake jambonz (by default it plays the jambonz
    the app declares, ``App(jambonz=...)``, else the current one), ``server_config`` the
    jbtrio server; ``options`` are those of :meth:`FakeJambonz.new_call` (``caller``,
    ``faults``, ``from_``, ``env_vars``, ...).
    """
    if config is None and app.jambonz is not None:
        config = JambonzConfig(jambonz=app.jambonz)
    return await FakeJambonz(config).run_app(
        app, path, check=check, server_config=server_config, **options
    )
