"""jbtrio.testing: a faithful fake jambonz for testing websocket apps, and its helpers.

:class:`FakeJambonz` plays the jambonz feature server (0.9.8) towards any app server, one
simulated call per connection, with the real defaults for handshake, retries, acks, reconnects
and TTS flow control, quirks included; ``JambonzConfig(jambonz=...)`` picks the verbs and
commands of 0.9, 10 or 11 (the ``agent``, ``transfer`` and ``room`` verbs). A scripted
:class:`Caller` answers gathers, dials, LLM and agent tool calls and plays audio into
``listen`` sockets; :class:`Faults` drop, delay, reorder or inject frames; every frame both ways is
kept as a timed :class:`TranscriptFrame`. Works over TCP or any Trio stream, and under
``MockClock``::

    async def test_ivr(autojump_clock):         # the app in-process: no sockets, no server
        call = await run_app(app, "/ivr", caller=Caller(speech=["I need help"]))
        assert call.executed_verbs[-2] == {"verb": "say", "text": "You said: I need help"}

    async def test_echo(autojump_clock):        # any app, over TCP
        fake = FakeJambonz()
        call = await fake.place_call("ws://127.0.0.1:3000/", caller=Caller(speech=["hi"]))
        assert call.outcome.ok, call.outcome.summary()
        assert call.acked_verbs[0] == {"verb": "say", "text": "Hello"}
        hook = call.sent("verb:hook")[0]
        assert hook.payload["speech"]["alternatives"][0]["transcript"] == "hi"

    async def test_reconnect(autojump_clock):    # steer a call while it runs, in-process
        async with trio.open_nursery() as nursery:
            server = await nursery.start(jbtrio.Server(app).run_in)
            memory = server.open_memory_stream     # a connector: no sockets
            async with FakeJambonz().call("ws://app/ivr", connector=memory) as call:
                await call.wait_for_type("call:status")
                await call.drop()                  # TCP loss: jambonz reconnects in 0.5 s
                await call.wait_for_type("session:reconnect")
                await call.hangup()
            await server.shutdown(grace=0)

:func:`run_app` raises :class:`AppFailed` when the call's outcome is not ``ok`` — with the
app's own exception when a flow or handler raised. The ``fake_jambonz`` pytest fixture gives a
configured instance (``pip install "jbtrio[testing]"`` brings pytest and pytest-trio);
``python -m jbtrio call URL`` places one call from the command line.
"""

import typing as _typing
import warnings as _warnings

from ._acks import AckFailed as AckFailed
from ._acks import AckOk as AckOk
from ._app_view import app_view as app_view
from ._caller import AgentScript as AgentScript
from ._caller import AgentTurn as AgentTurn
from ._caller import Caller as Caller
from ._caller import CallerTurn as CallerTurn
from ._caller import DialOutcome as DialOutcome
from ._caller import HangUp as HangUp
from ._caller import LlmScript as LlmScript
from ._caller import ScriptedToolCall as ScriptedToolCall
from ._caller import ScriptedTransfer as ScriptedTransfer
from ._caller import Silence as Silence
from ._caller import Turn as Turn
from ._config import JambonzConfig as JambonzConfig
from ._connect import Connector as Connector
from ._envelope import AppCommand as AppCommand
from ._fake_call import FakeCall as FakeCall
from ._fake_jambonz import CallOptions as CallOptions
from ._fake_jambonz import FakeJambonz as FakeJambonz
from ._fake_jambonz import run_app as run_app
from ._faults import At as At
from ._faults import Delay as Delay
from ._faults import Drop as Drop
from ._faults import Faults as Faults
from ._faults import Inject as Inject
from ._faults import PauseReading as PauseReading
from ._faults import Reorder as Reorder
from ._in_process import AppFailed as AppFailed
from ._outcome import AckRecord as AckRecord
from ._outcome import AppError as AppError
from ._outcome import CallOutcome as CallOutcome
from ._transcript import ConnEvent as ConnEvent
from ._transcript import FakeCallEnded as FakeCallEnded
from ._transcript import TranscriptFrame as TranscriptFrame

#: Names of an earlier release, kept one release for code that imports them: each shadowed a
#: name of :mod:`jbtrio` itself (``jbtrio.Call``, ``jbtrio.CallEndedError``,
#: ``jbtrio.ToolCall``) or of the call core (``Frame``).
_RENAMED = {
    "Call": "FakeCall",
    "CallEndedError": "FakeCallEnded",
    "Frame": "TranscriptFrame",
    "ToolCall": "ScriptedToolCall",
}

if _typing.TYPE_CHECKING:
    from ._caller import ScriptedToolCall as ToolCall  # noqa: F401 - deprecated
    from ._fake_call import FakeCall as Call  # noqa: F401 - deprecated
    from ._transcript import FakeCallEnded as CallEndedError  # noqa: F401 - deprecated
    from ._transcript import TranscriptFrame as Frame  # noqa: F401 - deprecated
else:

    def __getattr__(name: str) -> object:
        """The old names, with a :class:`DeprecationWarning` naming the new one."""
        new = _RENAMED.get(name)
        if new is None:
            raise AttributeError(f"module 'jbtrio.testing' has no attribute {name!r}")
        _warnings.warn(
            f"jbtrio.testing.{name} is deprecated and will be removed in the next release: "
            f"use jbtrio.testing.{new}",
            DeprecationWarning,
            stacklevel=2,
        )
        return globals()[new]
