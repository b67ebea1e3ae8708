"""Generate ``jbtrio/verbs/_generated.py``, the typed verb builders, from the spec table.

Usage: ``.venv/bin/python tools/gen_verbs.py`` (writes the file) or ``--check`` (exit 1 when
the committed file differs). The output is deterministic and already formatted the way
``ruff format`` wants it, so ``tests/test_verbs_builders.py`` can check byte for byte that
the committed file is what this script produces from the committed spec.

One frozen attrs class is produced per executable verb, per alias (``Stream``, ``OpenaiS2s``,
...) and per nested component; ``pipeline`` gets none because feature-server cannot run it.
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "jbtrio" / "verbs" / "data" / "verb-specifications.json"
OUTPUT = ROOT / "jbtrio" / "verbs" / "_generated.py"
LINE_LIMIT = 100

# Repeated from jbtrio/verbs/_validate.py (a test keeps them equal): importing the package
# would import the very module this script regenerates, which may be broken or stale.
EXECUTABLE = [
    "alert",
    "answer",
    "conference",
    "config",
    "dequeue",
    "dial",
    "dialogflow",
    "dtmf",
    "dub",
    "enqueue",
    "gather",
    "hangup",
    "leave",
    "lex",
    "listen",
    "llm",
    "message",
    "pause",
    "play",
    "rasa",
    "redirect",
    "rest:dial",
    "say",
    "sip:decline",
    "sip:refer",
    "sip:request",
    "tag",
    "transcribe",
]
NOT_GENERATED = {"pipeline"}
ALIASES: dict[str, tuple[str, str | None]] = {
    "stream": ("listen", None),
    "s2s": ("llm", None),
    "openai_s2s": ("llm", "openai"),
    "microsoft_s2s": ("llm", "microsoft"),
    "google_s2s": ("llm", "google"),
    "elevenlabs_s2s": ("llm", "elevenlabs"),
    "deepgram_s2s": ("llm", "deepgram"),
    "voiceagent_s2s": ("llm", "voiceagent"),
    "ultravox_s2s": ("llm", "ultravox"),
}
# Attribute names that would shadow what the base classes provide.
RESERVED = {"verb", "spec_name", "to_dict", "hook_properties", "REPORTS_BACK", "WIRE_NAMES"}

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
SIMPLE_TYPES = {
    "string": "str",
    "number": "int | float",
    "boolean": "bool",
    "object": "Mapping[str, Any]",
    "array": "Sequence[Any]",
}


def class_name(spec_name: str) -> str:
    """``sip:decline`` -> ``SipDecline``, ``sm_audioEventsConfig`` -> ``SmAudioEventsConfig``."""
    parts = re.split(r"[:_]", spec_name)
    return "".join(p[:1].upper() + p[1:] for p in parts if p)


def attribute_name(wire: str) -> str:
    """``actionHook`` -> ``action_hook``, ``recordingID`` -> ``recording_id``, ``_`` -> ..."""
    if wire == "_":
        return "passthrough"
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", wire).lower()
    if keyword.iskeyword(snake) or keyword.issoftkeyword(snake):
        snake += "_"
    assert snake.isidentifier() and snake not in RESERVED, wire
    return snake


def is_hook(wire: str) -> bool:
    return wire.endswith(("Hook", "_hook"))


class Emitter:
    """Builds the module text; collects the long enum aliases it had to hoist."""

    def __init__(self, specs: dict[str, Any]) -> None:
        self.specs = specs
        self.aliases: list[str] = []

    def ref_type(self, name: str) -> str:
        if name not in self.specs or name in NOT_GENERATED:
            return "Mapping[str, Any]"
        # A nested verb may be given through an alias class too (dial.listen = Stream(...)).
        aliases = [class_name(a) for a, (target, _) in sorted(ALIASES.items()) if target == name]
        return " | ".join([class_name(name), *aliases, "Mapping[str, Any]"])

    def annotation(self, owner: str, wire: str, type_spec: Any) -> str:
        """The Python type of one property, mirroring what jambonz accepts for it."""
        if isinstance(type_spec, list):
            target = type_spec[0][1:]
            if target not in self.specs:
                return "Sequence[Never]"  # mcpServer.roots: only an empty list validates
            return f"Sequence[{self.ref_type(target)}]"
        if isinstance(type_spec, dict):
            enum = type_spec.get("enum")
            if type_spec.get("type") != "string":
                return "None"  # jambonz rejects any value for this property
            if isinstance(enum, list) and enum:
                return "Literal[" + ", ".join(json.dumps(v) for v in enum) + "]"
            return "str"
        if "|" in type_spec:
            members = [m.strip() for m in type_spec.split("|")]
            # A "#name" member of a union never matches a JS typeof, so it adds nothing.
            kinds = [m for m in members if m in SIMPLE_TYPES]
            if is_hook(wire) and "object" in kinds:
                return "str | Hook | Mapping[str, Any]"
            return " | ".join(SIMPLE_TYPES[k] for k in kinds)
        if type_spec.startswith("#"):
            return self.ref_type(type_spec[1:])
        return SIMPLE_TYPES[type_spec]

    def field_line(self, owner: str, attr: str, annotation: str, required: bool) -> str:
        tail = "" if required else (" = None" if annotation == "None" else " | None = None")
        line = f"    {attr}: {annotation}{tail}"
        if len(line) <= LINE_LIMIT or not annotation.startswith("Literal["):
            assert len(line) <= LINE_LIMIT, line
            return line
        alias = f"{class_name(owner)}{class_name(attr)}"
        members = annotation[len("Literal[") : -1].split(", ")
        self.aliases.append(
            f"{alias} = Literal[\n" + "".join(f"    {m},\n" for m in members) + "]\n"
        )
        return f"    {attr}: {alias}{tail}"

    def class_text(
        self,
        cls: str,
        spec_name: str,
        doc: str,
        *,
        verb: str | None,
        optional: frozenset[str] = frozenset(),
    ) -> str:
        entry = self.specs[spec_name]
        props: dict[str, Any] = entry["properties"]
        required = [p for p in entry.get("required") or () if p not in optional]
        attrs_by_wire = {wire: attribute_name(wire) for wire in props}
        assert len(set(attrs_by_wire.values())) == len(attrs_by_wire), spec_name
        base = "Verb" if verb is not None else "Component"
        lines = ["@attrs.frozen(kw_only=True)", f"class {cls}({base}):", f'    """{doc}"""', ""]
        assert len(lines[2]) <= LINE_LIMIT, lines[2]
        if verb is not None:
            lines.append(f'    verb: ClassVar[str] = "{verb}"')
        else:
            lines.append(f'    spec_name: ClassVar[str] = "{spec_name}"')
        hooks = [w for w in props if is_hook(w)]
        if hooks:
            lines.append(self.tuple_classvar("hook_properties", hooks))
        if verb is not None and "actionHook" in props:
            lines.append("    REPORTS_BACK: ClassVar[bool] = True")
        renamed = {a: w for w, a in attrs_by_wire.items() if a != w}
        if renamed:
            lines.append("    WIRE_NAMES: ClassVar[Mapping[str, str]] = {")
            lines += [f'        "{a}": "{w}",' for a, w in renamed.items()]
            lines.append("    }")
        lines.append("")
        ordered = [w for w in props if w in required] + [w for w in props if w not in required]
        for wire in ordered:
            annotation = self.annotation(spec_name, wire, props[wire])
            lines.append(self.field_line(cls, attrs_by_wire[wire], annotation, wire in required))
        return "\n".join(lines) + "\n"

    @staticmethod
    def tuple_classvar(name: str, items: list[str]) -> str:
        quoted = [f'"{i}"' for i in items]
        inner = ", ".join(quoted) + ("," if len(quoted) == 1 else "")
        line = f"    {name}: ClassVar[tuple[str, ...]] = ({inner})"
        if len(line) <= LINE_LIMIT:
            return line
        body = "".join(f"        {q},\n" for q in quoted)
        return f"    {name}: ClassVar[tuple[str, ...]] = (\n{body}    )"


HEADER = '''\
"""Typed builders for every jambonz verb and nested component.

GENERATED by ``tools/gen_verbs.py`` from ``data/verb-specifications.json``
(``@jambonz/verb-specifications`` 0.1.13, MIT); do not edit by hand, re-run the generator.

Attributes are snake_case and map to the exact wire names; optional properties default to
``None`` and are left out of ``to_dict()``. Every builder validates its wire form when it is
constructed, so an invalid combination raises :class:`~jbtrio.VerbError` right there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, Never

import attrs

from ._base import Component, Hook, Verb

'''


def generate(specs: dict[str, Any]) -> str:
    emitter = Emitter(specs)
    classes: list[tuple[str, str]] = []  # (class name, text)
    for name in sorted(EXECUTABLE, key=class_name):
        classes.append(
            (class_name(name), emitter.class_text(class_name(name), name, DOCS[name], verb=name))
        )
    for alias, (target, vendor) in sorted(ALIASES.items(), key=lambda kv: class_name(kv[0])):
        doc = ALIAS_DOCS.get(alias) or (
            f"Alias of llm with vendor preset to {vendor!r}: a {vendor} speech-to-speech agent."
        )
        optional = frozenset({"vendor"}) if vendor else frozenset()
        cls = class_name(alias)
        classes.append((cls, emitter.class_text(cls, target, doc, verb=alias, optional=optional)))
    components = sorted(
        (n for n in specs if n not in EXECUTABLE and n not in NOT_GENERATED), key=class_name
    )
    for name in components:
        cls = class_name(name)
        classes.append((cls, emitter.class_text(cls, name, DOCS[name], verb=None)))
    names = [cls for cls, _ in classes]
    assert len(set(names)) == len(names), "class name collision"
    assert set(DOCS) == set(specs) - NOT_GENERATED, set(DOCS) ^ (set(specs) - NOT_GENERATED)

    enum_aliases = [a.split(" ", 1)[0] for a in emitter.aliases]
    # isort-style order, as ruff's RUF022 wants: constants first, then classes and aliases.
    exported = ["COMPONENT_CLASSES", "VERB_CLASSES", *sorted([*names, *enum_aliases])]
    all_block = "__all__ = [\n" + "".join(f'    "{n}",\n' for n in exported) + "]\n"
    parts = [HEADER, all_block]
    parts += ["\n" + a for a in emitter.aliases]
    parts += ["\n\n" + text for _, text in classes]
    parts.append(
        "\n\n#: Builder class of every verb name jbtrio accepts at the top level (aliases"
        " included).\nVERB_CLASSES: Mapping[str, type[Verb]] = {\n"
        + "".join(f'    "{n}": {class_name(n)},\n' for n in [*EXECUTABLE, *ALIASES])
        + "}\n"
        "#: Builder class of every nested component spec entry.\n"
        "COMPONENT_CLASSES: Mapping[str, type[Component]] = {\n"
        + "".join(f'    "{n}": {class_name(n)},\n' for n in sorted(components))
        + "}\n"
    )
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare, do not write")
    args = parser.parse_args()
    text = generate(json.loads(SPEC_PATH.read_text("utf-8")))
    if args.check:
        if OUTPUT.read_text("utf-8") != text:
            sys.exit(f"{OUTPUT.relative_to(ROOT)} is out of date: run tools/gen_verbs.py")
        return
    OUTPUT.write_text(text, "utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({text.count(chr(10))} lines)")


if __name__ == "__main__":
    main()
