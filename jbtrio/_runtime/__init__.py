"""The Trio runtime: listener, call registry, a nursery per call, the transport seam.

Layer 3 of jbtrio. Thin glue: it feeds each call's sans-IO core (:mod:`jbtrio._core`) and
executes what the core says. Two seams: the websocket backends behind
:mod:`._transport_api` (:mod:`._transports` names them) and the call registry
(:mod:`._registry`).
"""

from __future__ import annotations

from ._config import ServerConfig
from ._endpoints import Endpoints as Endpoints
from ._endpoints import MetricsText as MetricsText
from ._endpoints import enable_metrics as enable_metrics
from ._endpoints import forget_process as forget_process
from ._endpoints import serve_plain as serve_plain
from ._listener import Router
from ._logging import CallLogger as CallLogger
from ._observe import CallStats as CallStats
from ._observe import ObservedCall as ObservedCall
from ._observe import Observer as Observer
from ._observe import Reading as Reading
from ._observe import Readings as Readings
from ._observe import add_observer as add_observer
from ._observe import add_readings as add_readings
from ._observe import remove_observer as remove_observer
from ._observe import remove_readings as remove_readings
from ._observe import tool_ran as tool_ran
from ._registry import LOCAL as LOCAL
from ._registry import CallRegistry as CallRegistry
from ._registry import Host as Host
from ._registry import LocalCalls as LocalCalls
from ._registry import Owner as Owner
from ._registry import Refusal as Refusal
from ._registry import Route as Route
from ._registry import Serving as Serving
from ._server import Server, serve
from ._session import AppHandler, CallSession, Incoming
from ._signals import run_until_signalled as run_until_signalled
from ._transport_api import SUBPROTOCOL, basic_auth_header
from ._transport_api import Handshake as Handshake
from ._transport_api import Upgrade as Upgrade
from ._transports import DEFAULT_TRANSPORT as DEFAULT_TRANSPORT
from ._transports import TRANSPORTS as TRANSPORTS
from ._tts_driver import FlushWaiter as FlushWaiter
from ._tts_driver import TtsFlush as TtsFlush
from ._tts_driver import TtsPumpDriver as TtsPumpDriver
from ._tts_driver import TtsPush as TtsPush
from ._tuning import tune_gc
from ._wakeups import Wakeup as Wakeup
from ._workers import Acceptor as Acceptor
from ._workers import WorkerPool as WorkerPool
from ._workers import WorkerRouting as WorkerRouting
from ._workers import adopt_handovers as adopt_handovers

__all__ = [
    "SUBPROTOCOL",
    "AppHandler",
    "CallSession",
    "Incoming",
    "Router",
    "Server",
    "ServerConfig",
    "basic_auth_header",
    "serve",
    "tune_gc",
]
