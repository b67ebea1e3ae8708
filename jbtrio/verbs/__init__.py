"""jambonz verbs: validation with the target jambonz's exact rules, and typed builders.

:func:`validate` checks a verb list the way jambonz will, before it is sent, so a mistake
raises :class:`~jbtrio.VerbError` in the app (with the verb's index and the property path)
instead of jambonz dropping the instructions mid-call. jambonz 0.9.x (open source) and
10.x/11.x (current) disagree on verbs, so validation names its target: ``jambonz="11"`` (the
default, :data:`DEFAULT_JAMBONZ`), ``"10"`` or ``"0.9"`` (:data:`JambonzVersion`). 0.9 is
checked with its spec table (``@jambonz/verb-specifications``), 10/11 with jambonz's JSON
Schema (``@jambonz/schema`` 0.4.15); a verb newer than the target (``agent`` for 0.9,
``gptlive_s2s`` for 10) is refused with a message saying so.

The builders (``Say``, ``Gather``, ``Agent``, ``Transfer``, ``Synthesizer``, ...) are
generated from both schemas: typed, snake_case attributes, the union of both servers'
properties, ``to_dict()`` for the wire form. They are shared by all targets: a builder is
validated when constructed against the 10.x/11.x schema, or against 0.9's for what only 0.9
has, and refused only when no jambonz would accept it; it remembers the targets it is known
valid for, so :func:`validate` (and the call core) skip it for those and check it once for
any other::

    from jbtrio.verbs import Gather, Say, validate

    verbs = [Gather(action_hook="/menu", input=["digits"], say=Say(text="Press 1"))]
    validate(verbs)                  # jambonz 11 (current): already checked when built
    validate(verbs, jambonz="0.9")   # checked now against 0.9's rules
"""

from ._base import Component as Component
from ._base import Hook as Hook
from ._base import Verb as Verb
from ._base import WireObject as WireObject
from ._checked_wire import CheckedWire as CheckedWire
from ._forms import canonical_verb as canonical_verb
from ._forms import verb_body as verb_body
from ._forms import verb_name as verb_name
from ._generated import COMPONENT_CLASSES as COMPONENT_CLASSES
from ._generated import VERB_CLASSES as VERB_CLASSES
from ._generated import ActionHookDelayAction as ActionHookDelayAction
from ._generated import Agent as Agent
from ._generated import AgentBargeIn as AgentBargeIn
from ._generated import AgentLlm as AgentLlm
from ._generated import AgentLlmConnectOptions as AgentLlmConnectOptions
from ._generated import AgentLlmOptions as AgentLlmOptions
from ._generated import AgentNoiseIsolation as AgentNoiseIsolation
from ._generated import AgentTurnDetection as AgentTurnDetection
from ._generated import Alert as Alert
from ._generated import Amd as Amd
from ._generated import AmdTimers as AmdTimers
from ._generated import Answer as Answer
from ._generated import AssemblyAiOptions as AssemblyAiOptions
from ._generated import Auth as Auth
from ._generated import AwsOptions as AwsOptions
from ._generated import AzureOptions as AzureOptions
from ._generated import BargeIn as BargeIn
from ._generated import BargeInPipeline as BargeInPipeline
from ._generated import BidirectionalAudio as BidirectionalAudio
from ._generated import CobaltOptions as CobaltOptions
from ._generated import Conference as Conference
from ._generated import Config as Config
from ._generated import CustomOptions as CustomOptions
from ._generated import DeepgramOptions as DeepgramOptions
from ._generated import DeepgramS2s as DeepgramS2s
from ._generated import Dequeue as Dequeue
from ._generated import Dial as Dial
from ._generated import DialFrom as DialFrom
from ._generated import Dialogflow as Dialogflow
from ._generated import Dtmf as Dtmf
from ._generated import Dub as Dub
from ._generated import ElevenlabsOptions as ElevenlabsOptions
from ._generated import ElevenlabsS2s as ElevenlabsS2s
from ._generated import Enqueue as Enqueue
from ._generated import FillerNoise as FillerNoise
from ._generated import Formatting as Formatting
from ._generated import Gather as Gather
from ._generated import GladiaOptions as GladiaOptions
from ._generated import GoogleOptions as GoogleOptions
from ._generated import GoogleS2s as GoogleS2s
from ._generated import GptliveS2s as GptliveS2s
from ._generated import Handoff as Handoff
from ._generated import Hangup as Hangup
from ._generated import HangupTool as HangupTool
from ._generated import HoundifyOptions as HoundifyOptions
from ._generated import IbmOptions as IbmOptions
from ._generated import Leave as Leave
from ._generated import Lex as Lex
from ._generated import LexIntent as LexIntent
from ._generated import Listen as Listen
from ._generated import ListenOptions as ListenOptions
from ._generated import Llm as Llm
from ._generated import LlmMessage as LlmMessage
from ._generated import McpServer as McpServer
from ._generated import Message as Message
from ._generated import MicrosoftS2s as MicrosoftS2s
from ._generated import ModulateOptions as ModulateOptions
from ._generated import NoiseIsolation as NoiseIsolation
from ._generated import NoiseIsolationPipeline as NoiseIsolationPipeline
from ._generated import NuanceOptions as NuanceOptions
from ._generated import NvidiaOptions as NvidiaOptions
from ._generated import OpenaiOptions as OpenaiOptions
from ._generated import OpenaiS2s as OpenaiS2s
from ._generated import Pause as Pause
from ._generated import Play as Play
from ._generated import PromptTemplates as PromptTemplates
from ._generated import QueryInput as QueryInput
from ._generated import QwenS2s as QwenS2s
from ._generated import Rasa as Rasa
from ._generated import Recognizer as Recognizer
from ._generated import RecognizerInteractionType as RecognizerInteractionType
from ._generated import Record as Record
from ._generated import RecordOptions as RecordOptions
from ._generated import RecordOptionsAction as RecordOptionsAction
from ._generated import Redirect as Redirect
from ._generated import Resource as Resource
from ._generated import ResourceReference as ResourceReference
from ._generated import ResourceReferenceType as ResourceReferenceType
from ._generated import ResourceWeightName as ResourceWeightName
from ._generated import RestDial as RestDial
from ._generated import Room as Room
from ._generated import S2s as S2s
from ._generated import Say as Say
from ._generated import SipDecline as SipDecline
from ._generated import SipRefer as SipRefer
from ._generated import SipRequest as SipRequest
from ._generated import SmAudioEventsConfig as SmAudioEventsConfig
from ._generated import SmAudioFilteringConfig as SmAudioFilteringConfig
from ._generated import SmConversationConfig as SmConversationConfig
from ._generated import SmPuctuationOverrides as SmPuctuationOverrides
from ._generated import SmSpeakerDiarizationConfig as SmSpeakerDiarizationConfig
from ._generated import SmTranscriptFilteringConfig as SmTranscriptFilteringConfig
from ._generated import SmTranscriptionConfig as SmTranscriptionConfig
from ._generated import SmTranslationConfig as SmTranslationConfig
from ._generated import SonioxOptions as SonioxOptions
from ._generated import SonioxStorage as SonioxStorage
from ._generated import SpeechmaticsOptions as SpeechmaticsOptions
from ._generated import Stream as Stream
from ._generated import Synthesizer as Synthesizer
from ._generated import Tag as Tag
from ._generated import Target as Target
from ._generated import ToolFiller as ToolFiller
from ._generated import Transcribe as Transcribe
from ._generated import TranscribeOptions as TranscribeOptions
from ._generated import Transfer as Transfer
from ._generated import TransferBrief as TransferBrief
from ._generated import TransferConfirm as TransferConfirm
from ._generated import TransferDisposition as TransferDisposition
from ._generated import TransferOptions as TransferOptions
from ._generated import TtsStream as TtsStream
from ._generated import TurnDetection as TurnDetection
from ._generated import TurnTaking as TurnTaking
from ._generated import UltravoxS2s as UltravoxS2s
from ._generated import Vad as Vad
from ._generated import VerbioOptions as VerbioOptions
from ._generated import VoiceagentS2s as VoiceagentS2s
from ._generated import XaiOptions as XaiOptions
from ._to_checked import checked_wire as checked_wire
from ._validate import COMPONENT_NAMES as COMPONENT_NAMES
from ._validate import DEFAULT_JAMBONZ as DEFAULT_JAMBONZ
from ._validate import EXECUTABLE_VERBS as EXECUTABLE_VERBS
from ._validate import JAMBONZ_VERSIONS as JAMBONZ_VERSIONS
from ._validate import MAX_DEPTH as MAX_DEPTH
from ._validate import VERB_ALIASES as VERB_ALIASES
from ._validate import JambonzVersion as JambonzVersion
from ._validate import known_valid as known_valid
from ._validate import validate as validate
from ._validate import validate_component as validate_component
from ._validate import validate_verb as validate_verb

__all__ = [
    "COMPONENT_CLASSES",
    "COMPONENT_NAMES",
    "DEFAULT_JAMBONZ",
    "EXECUTABLE_VERBS",
    "JAMBONZ_VERSIONS",
    "MAX_DEPTH",
    "VERB_ALIASES",
    "VERB_CLASSES",
    "ActionHookDelayAction",
    "Agent",
    "AgentBargeIn",
    "AgentLlm",
    "AgentLlmConnectOptions",
    "AgentLlmOptions",
    "AgentNoiseIsolation",
    "AgentTurnDetection",
    "Alert",
    "Amd",
    "AmdTimers",
    "Answer",
    "AssemblyAiOptions",
    "Auth",
    "AwsOptions",
    "AzureOptions",
    "BargeIn",
    "BargeInPipeline",
    "BidirectionalAudio",
    "CobaltOptions",
    "Component",
    "Conference",
    "Config",
    "CustomOptions",
    "DeepgramOptions",
    "DeepgramS2s",
    "Dequeue",
    "Dial",
    "DialFrom",
    "Dialogflow",
    "Dtmf",
    "Dub",
    "ElevenlabsOptions",
    "ElevenlabsS2s",
    "Enqueue",
    "FillerNoise",
    "Formatting",
    "Gather",
    "GladiaOptions",
    "GoogleOptions",
    "GoogleS2s",
    "GptliveS2s",
    "Handoff",
    "Hangup",
    "HangupTool",
    "Hook",
    "HoundifyOptions",
    "IbmOptions",
    "JambonzVersion",
    "Leave",
    "Lex",
    "LexIntent",
    "Listen",
    "ListenOptions",
    "Llm",
    "LlmMessage",
    "McpServer",
    "Message",
    "MicrosoftS2s",
    "ModulateOptions",
    "NoiseIsolation",
    "NoiseIsolationPipeline",
    "NuanceOptions",
    "NvidiaOptions",
    "OpenaiOptions",
    "OpenaiS2s",
    "Pause",
    "Play",
    "PromptTemplates",
    "QueryInput",
    "QwenS2s",
    "Rasa",
    "Recognizer",
    "RecognizerInteractionType",
    "Record",
    "RecordOptions",
    "RecordOptionsAction",
    "Redirect",
    "Resource",
    "ResourceReference",
    "ResourceReferenceType",
    "ResourceWeightName",
    "RestDial",
    "Room",
    "S2s",
    "Say",
    "SipDecline",
    "SipRefer",
    "SipRequest",
    "SmAudioEventsConfig",
    "SmAudioFilteringConfig",
    "SmConversationConfig",
    "SmPuctuationOverrides",
    "SmSpeakerDiarizationConfig",
    "SmTranscriptFilteringConfig",
    "SmTranscriptionConfig",
    "SmTranslationConfig",
    "SonioxOptions",
    "SonioxStorage",
    "SpeechmaticsOptions",
    "Stream",
    "Synthesizer",
    "Tag",
    "Target",
    "ToolFiller",
    "Transcribe",
    "TranscribeOptions",
    "Transfer",
    "TransferBrief",
    "TransferConfirm",
    "TransferDisposition",
    "TransferOptions",
    "TtsStream",
    "TurnDetection",
    "TurnTaking",
    "UltravoxS2s",
    "Vad",
    "Verb",
    "VerbioOptions",
    "VoiceagentS2s",
    "WireObject",
    "XaiOptions",
    "canonical_verb",
    "known_valid",
    "validate",
    "validate_component",
    "validate_verb",
    "verb_body",
    "verb_name",
]
