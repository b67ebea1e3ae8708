"""jbtrio: a Trio-native runtime for jambonz WebSocket-API voice applications.

Layers (imports point one way): the wire model (:func:`decode`, :func:`encode`, the message
classes, :mod:`jbtrio.verbs`, :mod:`jbtrio.commands`) -> the sans-IO call core -> the Trio
runtime (:func:`serve`) -> the app API (:class:`App`, :class:`Call`) -> :mod:`jbtrio.testing`.
"""

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
from ._wire import AgentLatency as AgentLatency
from ._wire import AgentPreflight as AgentPreflight
from ._wire import AgentToolCall as AgentToolCall
from ._wire import AgentToolCallData as AgentToolCallData
from ._wire import CallInfo as CallInfo
from ._wire import CallStatus as CallStatus
from ._wire import Command as Command
from ._wire import DialConfirm as DialConfirm
from ._wire import DialResult as DialResult
from ._wire import ErrorDetails as ErrorDetails
from ._wire import FunctionCall as FunctionCall
from ._wire import GatherResult as GatherResult
from ._wire import InboundMessage as InboundMessage
from ._wire import JambonzError as JambonzError
from ._wire import LlmEvent as LlmEvent
from ._wire import LlmResult as LlmResult
from ._wire import LlmToolCall as LlmToolCall
from ._wire import Message as Message
from ._wire import SessionAdulting as SessionAdulting
from ._wire import SessionNew as SessionNew
from ._wire import SessionReconnect as SessionReconnect
from ._wire import SessionRedirect as SessionRedirect
from ._wire import SpeechAlternative as SpeechAlternative
from ._wire import SpeechResult as SpeechResult
from ._wire import StreamingEvent as StreamingEvent
from ._wire import TokensResult as TokensResult
from ._wire import ToolCall as ToolCall
from ._wire import TtsStreamingEvent as TtsStreamingEvent
from ._wire import TtsTokensResult as TtsTokensResult
from ._wire import UnknownMessage as UnknownMessage
from ._wire import VerbHook as VerbHook
from ._wire import VerbStatus as VerbStatus
from ._wire import VerbStatusEvent as VerbStatusEvent
from ._wire import decode as decode
from ._wire import encode as encode

__version__ = "0.1.0.dev0"
