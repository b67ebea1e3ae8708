"""jbtrio: a Trio-native runtime for jambonz WebSocket-API voice applications.

Layers (imports point one way): the wire model (:func:`decode`, :func:`encode`, the message
classes, :mod:`jbtrio.verbs`, :mod:`jbtrio.commands`) -> the sans-IO call core -> the Trio
runtime (:func:`serve`) -> the app API (:class:`App`, :class:`Call`) -> :mod:`jbtrio.testing`.
"""

from sys import modules as _modules

from . import commands as commands
from . import verbs as verbs
from ._app import App as App
from ._app import CallHandler as CallHandler
from ._app import FailureListener as FailureListener
from ._call import Call as Call
from ._call import Event as Event
from ._call import Flow as Flow
from ._core import CoreConfig as CoreConfig
from ._core import ReplyHandle as ReplyHandle
from ._core import ReplyState as ReplyState
from ._env_vars import CallEnv as CallEnv
from ._env_vars import EnvVar as EnvVar
from ._env_vars import EnvVarError as EnvVarError
from ._env_vars import EnvVarMissing as EnvVarMissing
from ._errors import CallEndedError as CallEndedError
from ._errors import DeliveryUnknown as DeliveryUnknown
from ._errors import HookFailed as HookFailed
from ._errors import JbtrioError as JbtrioError
from ._errors import MessageTooLargeError as MessageTooLargeError
from ._errors import ProtocolError as ProtocolError
from ._errors import QueueFullError as QueueFullError
from ._errors import ReplyError as ReplyError
from ._errors import TtsError as TtsError
from ._errors import TtsInterrupted as TtsInterrupted
from ._errors import VerbError as VerbError
from ._event_stream import EventStream as EventStream
from ._flow import FlowStep as FlowStep
from ._flow import Step as Step
from ._flow import Steps as Steps
from ._flow import until_finished as until_finished
from ._flow_runner import DEFAULT_ERROR_VERBS as DEFAULT_ERROR_VERBS
from ._runtime import Server as Server
from ._runtime import ServerConfig as ServerConfig
from ._runtime import serve as serve
from ._runtime import tune_gc as tune_gc
from ._tool_serving import Tool as Tool
from ._tts import TtsResult as TtsResult
from ._tts import TtsStream as TtsStream
from ._wire import MAX_FRAME_BYTES as MAX_FRAME_BYTES
from ._wire import MAX_ID_CHARS as MAX_ID_CHARS
from ._wire import Ack as Ack
from ._wire import AgentEvent as AgentEvent
from ._wire import AgentEventData as AgentEventData
from ._wire import AgentEventType as AgentEventType
from ._wire import AgentLatency as AgentLatency
from ._wire import AgentPreflight as AgentPreflight
from ._wire import AgentResult as AgentResult
from ._wire import AgentToolCall as AgentToolCall
from ._wire import AgentToolCallData as AgentToolCallData
from ._wire import AmdEvent as AmdEvent
from ._wire import AmdEventType as AmdEventType
from ._wire import CallInfo as CallInfo
from ._wire import CallStatus as CallStatus
from ._wire import CallStatusValue as CallStatusValue
from ._wire import Command as Command
from ._wire import ConferenceEventType as ConferenceEventType
from ._wire import ConferenceResult as ConferenceResult
from ._wire import ConferenceStatusEvent as ConferenceStatusEvent
from ._wire import DequeueOutcome as DequeueOutcome
from ._wire import DequeueResult as DequeueResult
from ._wire import DialCallStatus as DialCallStatus
from ._wire import DialConfirm as DialConfirm
from ._wire import DialDtmfEvent as DialDtmfEvent
from ._wire import DialHoldEvent as DialHoldEvent
from ._wire import DialReferEvent as DialReferEvent
from ._wire import DialResult as DialResult
from ._wire import EnqueueResult as EnqueueResult
from ._wire import EnqueueWaitEvent as EnqueueWaitEvent
from ._wire import ErrorDetails as ErrorDetails
from ._wire import FunctionCall as FunctionCall
from ._wire import GatherPartialEvent as GatherPartialEvent
from ._wire import GatherReason as GatherReason
from ._wire import GatherResult as GatherResult
from ._wire import InboundMessage as InboundMessage
from ._wire import JambonzError as JambonzError
from ._wire import ListenResult as ListenResult
from ._wire import LlmCompletionReason as LlmCompletionReason
from ._wire import LlmEvent as LlmEvent
from ._wire import LlmResult as LlmResult
from ._wire import LlmToolCall as LlmToolCall
from ._wire import Message as Message
from ._wire import MessageResult as MessageResult
from ._wire import MessageStatus as MessageStatus
from ._wire import PlayReason as PlayReason
from ._wire import PlayResult as PlayResult
from ._wire import PreflightResult as PreflightResult
from ._wire import QueueOutcome as QueueOutcome
from ._wire import SessionAdulting as SessionAdulting
from ._wire import SessionNew as SessionNew
from ._wire import SessionReconnect as SessionReconnect
from ._wire import SessionRedirect as SessionRedirect
from ._wire import SipReferResult as SipReferResult
from ._wire import SipRequestOutcome as SipRequestOutcome
from ._wire import SipRequestResult as SipRequestResult
from ._wire import SpeechAlternative as SpeechAlternative
from ._wire import SpeechResult as SpeechResult
from ._wire import StreamingEvent as StreamingEvent
from ._wire import TokensResult as TokensResult
from ._wire import ToolCall as ToolCall
from ._wire import TranscribeResult as TranscribeResult
from ._wire import TranscribeTranslationEvent as TranscribeTranslationEvent
from ._wire import TransferOutcome as TransferOutcome
from ._wire import TransferReason as TransferReason
from ._wire import TransferResult as TransferResult
from ._wire import TtsStreamingEvent as TtsStreamingEvent
from ._wire import TtsStreamingEventType as TtsStreamingEventType
from ._wire import TtsTokensResult as TtsTokensResult
from ._wire import UnknownMessage as UnknownMessage
from ._wire import VerbHook as VerbHook
from ._wire import VerbStatus as VerbStatus
from ._wire import VerbStatusEvent as VerbStatusEvent
from ._wire import VerbStatusEventType as VerbStatusEventType
from ._wire import decode as decode
from ._wire import encode as encode

__version__ = "0.1.0.dev0"

# every compiled module loads the one shared library of the build's mypyc group on import
COMPILED: bool = f"{__name__}._compiled__mypyc" in _modules
"""True when this process runs jbtrio's mypyc-compiled build (the optional platform wheel,
``pip wheel . -C compile=1``; README, The compiled build), False for the pure-Python package.
Read once at import, a dict lookup: the package imports its compiled hot path above."""
