"""Tables of ``tools/gen_verbs.py``: which schema parts are which builder, and their docs.

Kept apart so the generator itself stays readable; nothing here is computed.
"""

from __future__ import annotations

#: 10.x/11.x (sub)schemas that are the same component as a 0.9 spec entry: one class for both.
MERGED: dict[str, str] = {
    "components/synthesizer": "synthesizer",
    "components/recognizer": "recognizer",
    "components/target": "target",
    "components/target#/properties/from": "dialFrom",
    "components/auth": "auth",
    "components/vad": "vad",
    "components/amd": "amd",
    "components/amd#/properties/timers": "amdTimers",
    "components/actionHookDelayAction": "actionHookDelayAction",
    "components/fillerNoise": "fillerNoise",
    "components/bidirectionalAudio": "bidirectionalAudio",
    "components/recognizer-assemblyAiOptions": "assemblyAiOptions",
    "components/recognizer-awsOptions": "awsOptions",
    "components/recognizer-azureOptions": "azureOptions",
    "components/recognizer-customOptions": "customOptions",
    "components/recognizer-deepgramOptions": "deepgramOptions",
    "components/recognizer-elevenlabsOptions": "elevenlabsOptions",
    "components/recognizer-googleOptions": "googleOptions",
    "components/recognizer-houndifyOptions": "houndifyOptions",
    "components/recognizer-ibmOptions": "ibmOptions",
    "components/recognizer-nvidiaOptions": "nvidiaOptions",
    "components/recognizer-openaiOptions": "openaiOptions",
    "components/recognizer-openaiOptions#/properties/promptTemplates": "promptTemplates",
    "components/recognizer-openaiOptions#/properties/turn_detection": "turnDetection",
    "components/recognizer-sonioxOptions": "sonioxOptions",
    "components/recognizer-sonioxOptions#/properties/storage": "sonioxStorage",
    "components/recognizer-speechmaticsOptions": "speechmaticsOptions",
    "components/recognizer-speechmaticsOptions#/properties/transcription_config": (
        "sm_transcriptionConfig"
    ),
    "components/recognizer-speechmaticsOptions#/properties/transcription_config/properties/"
    "speaker_diarization_config": "sm_speakerDiarizationConfig",
    "components/recognizer-speechmaticsOptions#/properties/transcription_config/properties/"
    "conversation_config": "sm_conversationConfig",
    "components/recognizer-speechmaticsOptions#/properties/transcription_config/properties/"
    "punctuation_overrides": "sm_puctuationOverrides",
    "components/recognizer-speechmaticsOptions#/properties/transcription_config/properties/"
    "audio_filtering_config": "sm_audioFilteringConfig",
    "components/recognizer-speechmaticsOptions#/properties/transcription_config/properties/"
    "transcript_filtering_config": "sm_transcriptFilteringConfig",
    "components/recognizer-speechmaticsOptions#/properties/translation_config": (
        "sm_translationConfig"
    ),
    "components/recognizer-speechmaticsOptions#/properties/audio_events_config": (
        "sm_audioEventsConfig"
    ),
    "verbs/config#/properties/bargeIn": "bargeIn",
    "verbs/config#/properties/ttsStream": "ttsStream",
    "verbs/config#/properties/noiseIsolation": "noiseIsolation",
    "verbs/config#/properties/turnTaking": "turnTaking",
    "verbs/dialogflow#/properties/queryInput": "queryInput",
    "components/llm-base#/properties/mcpServers/items": "mcpServer",
}

#: 10.x/11.x (sub)schemas only 10.x/11.x have -> (class name, docstring).
NEW_ONLY: dict[str, tuple[str, str]] = {
    "components/recognizer-gladiaOptions": ("GladiaOptions", "Gladia specific options."),
    "components/recognizer-modulateOptions": (
        "ModulateOptions",
        "Modulate specific recognition options.",
    ),
    "components/recognizer-xaiOptions": ("XaiOptions", "xAI specific recognition options."),
    "components/handoff": (
        "Handoff",
        "Transfer-to-human tool of agent and s2s verbs: the transfer, and how it is briefed.",
    ),
    "components/hangup": (
        "HangupTool",
        "Hangup tool of agent and s2s verbs: the model may end the call (X-Reason header).",
    ),
    "components/transferOptions": (
        "TransferOptions",
        "How a transfer is made: blind or warm, targets, confirmation, failure handling.",
    ),
    "components/transferOptions#/properties/confirm": (
        "TransferConfirm",
        "Warm transfer: the prompt the transferee hears and the digit that accepts.",
    ),
    "components/transferOptions#/properties/disposition": (
        "TransferDisposition",
        "What a failed transfer does (return, voicemail or hang up), by failure.",
    ),
    "verbs/transfer#/properties/brief": (
        "TransferBrief",
        "What the transferee is told about the call before it is connected.",
    ),
    "verbs/agent#/properties/llm": (
        "AgentLlm",
        "The LLM an agent verb talks through: vendor, model, credentials and options.",
    ),
    "verbs/agent#/properties/llm/properties/llmOptions": (
        "AgentLlmOptions",
        "The agent's LLM prompt and generation options (system prompt, messages, tools).",
    ),
    "verbs/agent#/properties/llm/properties/connectOptions": (
        "AgentLlmConnectOptions",
        "How the agent connects to its LLM (timeout, retries, endpoint).",
    ),
    "verbs/agent#/properties/bargeIn": (
        "AgentBargeIn",
        "How the caller may interrupt the agent (VAD or interrupt prediction).",
    ),
    "verbs/agent#/properties/turnDetection/oneOf/1": (
        "AgentTurnDetection",
        "Model-based end-of-turn detection of the agent verb.",
    ),
    "verbs/agent#/properties/noiseIsolation/oneOf/1": (
        "AgentNoiseIsolation",
        "Noise isolation of the agent verb's inbound (or outbound) audio.",
    ),
    "verbs/agent#/$defs/llmMessage": (
        "LlmMessage",
        "One message of an LLM conversation history (role and content).",
    ),
    "verbs/agent#/$defs/toolFillerConfig": (
        "ToolFiller",
        "What the caller hears while the agent's tool call runs (audio or backchannel).",
    ),
}

#: Locations whose schema repeats one of the above word for word: typed as that class.
SAME_AS: dict[str, str] = {
    "verbs/agent#/properties/mcpServers/items": "components/llm-base#/properties/mcpServers/items",
}

NEW_DOCS: dict[str, str] = {
    "agent": "Run a complete voice agent (STT, LLM, TTS, turn-taking, tools) inside jambonz.",
    "room": "Join the call to a named room: another name of conference (10.x/11.x).",
    "transfer": "Transfer the caller, blind or warm, with built-in failure handling.",
}
DOCS: dict[str, str] = {
    "alert": "Send a 180 Ringing with an Alert-Info header (a distinctive ring) to the caller.",
    "answer": "Answer the call (200 OK) without doing anything else yet.",
    "conference": "Join the call to a named conference room, creating the room if needed.",
    "config": "Set session-wide defaults (speech vendors, barge-in, recording, events, ...).",
    "dequeue": "Take the next caller (or a given call) out of a queue and bridge it here.",
    "dial": "Place an outbound call to one or more targets and bridge it with this call.",
    "dialogflow": "Hand the conversation to a Google Dialogflow agent.",
    "dtmf": "Play DTMF tones into the call (to an IVR on the other end, say).",
    "dub": "Add, remove or feed an extra audio track mixed into the call.",
    "enqueue": "Put the caller in a named queue, playing waitHook audio until dequeued.",
    "gather": "Collect speech and/or DTMF input, optionally prompting with say or play.",
    "hangup": "End the call, optionally with custom SIP headers on the BYE.",
    "leave": "Leave the conference or queue the call is in and go on with the next verb.",
    "lex": "Hand the conversation to an Amazon Lex V2 bot.",
    "listen": "Stream the call's audio to a WebSocket server (optionally bidirectional).",
    "llm": "Connect the caller to a speech-to-speech LLM agent of a given vendor.",
    "message": "Send an SMS/MMS through a messaging carrier.",
    "pause": "Wait silently for a number of seconds.",
    "play": "Play one or more audio files or URLs to the caller.",
    "rasa": "Hand the conversation to a Rasa assistant over its REST channel.",
    "redirect": "Fetch a new verb list from another hook, replacing the current one.",
    "rest:dial": "Verb form of the REST create-call request: place a new, separate call.",
    "say": "Speak text (or SSML) to the caller with text-to-speech.",
    "sip:decline": "Reject an unanswered incoming call with a SIP status code.",
    "sip:refer": "Transfer the call elsewhere with a SIP REFER.",
    "sip:request": "Send a SIP request (INFO, NOTIFY, ...) within the call's dialog.",
    "tag": "Attach app data to the call; it comes back in later call:status and hooks.",
    "transcribe": "Transcribe the call in the background while other verbs run.",
    "fillerNoise": "Background noise played while the app is busy answering a hook.",
    "listenOptions": "Background audio streaming switched on or off by config.",
    "ttsStream": "Settings for streaming TTS tokens sent by the app (tts:tokens).",
    "bargeIn": "Session-wide barge-in: background speech/DTMF detection while verbs play.",
    "transcribeOptions": "Background transcription switched on or off by config.",
    "queryInput": "The first input sent to a Dialogflow agent (text, intent, event or DTMF).",
    "mcpServer": "An MCP server an llm agent may call tools on.",
    "record": "Where a conference recording is stored.",
    "recordOptions": "Start, stop, pause or resume SIPREC recording of the call.",
    "target": "One destination of dial: a phone number, SIP URI, user, Teams user or app.",
    "dialFrom": "The user and host to put in the From header of an outbound call.",
    "auth": "Username and password for SIP or WebSocket authentication.",
    "synthesizer": "Which TTS vendor, voice and language to speak with (and a fallback).",
    "recognizer": "Which STT vendor and language to recognise with, and how.",
    "customOptions": "Options for a custom (self-hosted) speech vendor.",
    "awsOptions": "Amazon Transcribe specific recognition options.",
    "azureOptions": "Microsoft Azure speech specific recognition options.",
    "googleOptions": "Google speech specific recognition options.",
    "houndifyOptions": "Houndify specific recognition options.",
    "elevenlabsOptions": "ElevenLabs specific recognition options.",
    "cobaltOptions": "Cobalt specific recognition options.",
    "nvidiaOptions": "NVIDIA Riva specific recognition options.",
    "ibmOptions": "IBM Watson specific speech options.",
    "deepgramOptions": "Deepgram specific recognition options.",
    "sonioxOptions": "Soniox specific recognition options.",
    "verbioOptions": "Verbio specific recognition options.",
    "openaiOptions": "OpenAI specific recognition options.",
    "promptTemplates": "Templates OpenAI recognition uses to build its prompt.",
    "turnDetection": "How OpenAI recognition decides that the speaker has finished.",
    "speechmaticsOptions": "Speechmatics specific recognition options.",
    "sm_transcriptionConfig": "Speechmatics transcription_config block.",
    "sm_speakerDiarizationConfig": "Speechmatics speaker diarization settings.",
    "sm_conversationConfig": "Speechmatics end-of-utterance settings.",
    "sm_puctuationOverrides": "Speechmatics punctuation overrides (the spec's spelling).",
    "sm_audioFilteringConfig": "Speechmatics audio filtering settings.",
    "sm_transcriptFilteringConfig": "Speechmatics transcript filtering settings.",
    "sm_translationConfig": "Speechmatics live translation settings.",
    "sm_audioEventsConfig": "Speechmatics audio event detection (its types never validate).",
    "sonioxStorage": "Soniox transcript and audio storage settings.",
    "nuanceOptions": "Nuance specific recognition options.",
    "assemblyAiOptions": "AssemblyAI specific recognition options.",
    "resource": "A Nuance recognition resource (wordset, grammar, builtin, ...).",
    "resourceReference": "A reference to an external Nuance resource.",
    "formatting": "Nuance result formatting settings.",
    "lexIntent": "The intent (and slots) a Lex conversation starts with.",
    "vad": "Voice activity detection used before recognition starts.",
    "amd": "Answering machine detection, reported to actionHook.",
    "amdTimers": "Timeouts of answering machine detection.",
    "actionHookDelayAction": "What to play when an action hook is slow to answer.",
    "bidirectionalAudio": "Whether and how a listen socket may send audio back.",
    "bargeInPipeline": "Barge-in settings of the pipeline entry (not executable by 0.9.8).",
    "noiseIsolationPipeline": "Noise isolation of the pipeline entry (never validates).",
    "noiseIsolation": "Noise isolation applied to the call's audio.",
    "turnTaking": "Turn-taking detection settings.",
}

ALIAS_DOCS: dict[str, str] = {
    "stream": "Alias of listen: stream the call's audio to a WebSocket server.",
    "s2s": "Alias of llm: connect the caller to a speech-to-speech LLM agent.",
}
