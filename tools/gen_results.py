"""Generate ``jbtrio/_wire/_results.py``: typed views of the hook payloads jambonz documents.

Usage: ``.venv/bin/python tools/gen_results.py`` (writes the file) or ``--check`` (exit 1 when
the committed file differs). The output is deterministic and passed through ``ruff format``;
``tests/test_hook_results.py`` checks byte for byte that the committed file is what this
script makes of the committed schemas.

Source: the ``callbacks/`` of jambonz 10.x/11.x's JSON Schema (``@jambonz/schema`` 0.4.15, in
``jbtrio/verbs/data/jambonz-schema``). Each payload that extends the call info (``allOf:
[base]``) gets a frozen attrs class with one optional attribute per property of its own
(``RESULTS``, ``EVENTS`` below), read from a hook's :class:`~jbtrio.CallInfo`: a property
the call info types itself (``sip_status``, ``duration``) from its field, anything else from
its ``extra``, checked by its schema type. Enumerations become ``Literal`` aliases (named in
``ENUMS``; reused by the hand-written views of ``_payloads.py`` and ``_agent.py``, whose
payloads are nested or carry behaviour: gather, dial, llm, agent events).

A value outside a schema's enumeration is not refused: jambonz adds values over time, and a
flow must not fail on a hook because its jambonz is newer than this schema. The ``Literal``
says what the schema lists, so a type checker catches a comparison with a misspelt value.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _generated_file import ruff_format, write_or_check

ROOT = Path(__file__).resolve().parent.parent
CALLBACKS = ROOT / "jbtrio" / "verbs" / "data" / "jambonz-schema" / "callbacks"
OUTPUT = ROOT / "jbtrio" / "_wire" / "_results.py"
LINE = 96  # docstring width (ruff keeps lines to 100)

#: (schema, property, where the enum sits) -> the name of its ``Literal`` alias.
ENUMS: dict[tuple[str, str], str] = {
    ("gather", "reason"): "GatherReason",
    ("dial", "dial_call_status"): "DialCallStatus",
    ("llm", "completion_reason"): "LlmCompletionReason",
    ("transfer", "transfer_result"): "TransferOutcome",
    ("transfer", "transfer_reason"): "TransferReason",
    ("dequeue", "dequeue_result"): "DequeueOutcome",
    ("enqueue", "queue_result"): "QueueOutcome",
    ("play", "reason"): "PlayReason",
    ("message", "message_status"): "MessageStatus",
    ("sip-request", "result"): "SipRequestOutcome",
    ("amd", "type"): "AmdEventType",
    ("conference-status", "event"): "ConferenceEventType",
    ("verb-status", "event"): "VerbStatusEventType",
    ("base", "call_status"): "CallStatusValue",
}
#: Enumerations inside ``oneOf`` payloads (one ``const`` per branch), by their alias name.
ONE_OF_ENUMS: dict[str, tuple[str, str]] = {
    "AgentEventType": ("agent-turn", "type"),
    "TtsStreamingEventType": ("tts-streaming-event", "event_type"),
}
#: ``agent-turn``'s ``latency.preflight.result``.
NESTED_ENUMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "PreflightResult": (
        "agent-turn",
        ("latency", "properties", "preflight", "properties", "result"),
    ),
}

#: What a flow's ``yield`` of a verb evaluates to: class, schema, the verbs, the docstring's
#: first line (the schema's own description follows it).
RESULTS: list[tuple[str, str, str, str]] = [
    (
        "AgentResult",
        "llm",
        "agent",
        "What an ``agent`` verb's ``actionHook`` reports when it ends.",
    ),
    (
        "TransferResult",
        "transfer",
        "transfer",
        "What a ``transfer`` verb's ``actionHook`` reports.",
    ),
    (
        "ConferenceResult",
        "conference",
        "conference, room",
        "What a ``conference`` (or ``room``) verb's ``actionHook`` reports.",
    ),
    ("DequeueResult", "dequeue", "dequeue", "What a ``dequeue`` verb's ``actionHook`` reports."),
    ("EnqueueResult", "enqueue", "enqueue", "What an ``enqueue`` verb's ``actionHook`` reports."),
    (
        "ListenResult",
        "listen",
        "listen, stream",
        "What a ``listen`` (``stream``) verb's ``actionHook`` reports.",
    ),
    ("PlayResult", "play", "play", "What a ``play`` verb's ``actionHook`` reports."),
    ("MessageResult", "message", "message", "What a ``message`` verb's ``actionHook`` reports."),
    (
        "SipReferResult",
        "sip-refer",
        "sip:refer",
        "What a ``sip:refer`` verb's ``actionHook`` reports.",
    ),
    (
        "SipRequestResult",
        "sip-request",
        "sip:request",
        "What a ``sip:request`` verb's ``actionHook`` reports.",
    ),
    (
        "TranscribeResult",
        "transcribe",
        "transcribe",
        "What a ``transcribe`` verb's ``transcriptionHook`` reports (each transcript).",
    ),
]
#: Payloads of a verb's other hooks (read one with ``VerbHook.result(cls)``).
EVENTS: list[tuple[str, str, str]] = [
    ("AmdEvent", "amd", "What a ``dial``'s (or ``transfer``'s) ``amd.actionHook`` receives."),
    ("DialDtmfEvent", "dial-dtmf", "What a ``dial``'s ``dtmfHook`` receives."),
    ("DialHoldEvent", "dial-hold", "What a ``dial``'s ``onHoldHook`` receives."),
    ("DialReferEvent", "dial-refer", "What a ``dial``'s ``referHook`` receives."),
    (
        "ConferenceStatusEvent",
        "conference-status",
        "What a ``conference``'s ``statusHook`` receives.",
    ),
    ("EnqueueWaitEvent", "enqueue-wait", "What an ``enqueue``'s ``waitHook`` receives."),
    (
        "GatherPartialEvent",
        "gather-partial",
        "What a ``gather``'s ``partialResultHook`` receives (each interim transcript).",
    ),
    (
        "TranscribeTranslationEvent",
        "transcribe-translation",
        "What a ``transcribe``'s ``translationHook`` receives.",
    ),
]
#: Properties read as a hand-written view rather than as the object sent.
NESTED: dict[str, tuple[str, str]] = {"speech": ("SpeechResult", "SpeechResult.from_json")}
#: Call-info keys :class:`~jbtrio.CallInfo` types itself beyond the ``base`` callback's and
#: ``session-new``'s (a test keeps this set equal to CallInfo's fields).
CALL_INFO_EXTRA = {
    "duration",
    "call_termination_by",
    "local_sip_address",
    "public_ip",
    "has_recording",
    "headers",
}
#: Wire key -> CallInfo attribute where they differ.
CALL_INFO_ATTR = {"from": "from_", "customerData": "customer_data"}
#: Envelope keys a payload may list (``gather-partial`` repeats ``b3``): not payload.
ENVELOPE = {"b3"}

SCALARS = {
    "string": ("str", "check_str"),
    "integer": ("int", "check_int"),
    "number": ("int | float", "check_number"),
    "boolean": ("bool", "check_bool"),
    "object": ("Mapping[str, Any]", "check_object"),
}


def load(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((CALLBACKS / f"{name}.schema.json").read_text("utf-8"))
    return result


def call_info_keys() -> set[str]:
    """Keys the call info carries: the ``base`` callback's, ``session-new``'s, and the rest
    of what CallInfo types."""
    keys = set(load("base")["properties"]) | set(load("session-new")["properties"])
    return keys | CALL_INFO_EXTRA


def literal(values: list[Any]) -> str:
    return "Literal[" + ", ".join(json.dumps(v) for v in values) + "]"


def doc(text: str, indent: str, *, width: int = LINE) -> list[str]:
    """A docstring's lines (wrapped, quotes made safe)."""
    text = " ".join(text.replace('"""', "'''").split())
    return textwrap.wrap(text, width=width - len(indent), break_on_hyphens=False) or [""]


def enum_aliases() -> list[str]:
    out: list[str] = []
    for (schema, prop), name in ENUMS.items():
        sub = load(schema)["properties"][prop]
        out.append(f"{name}: TypeAlias = {literal(sub['enum'])}")
        out.append(f'"""``{prop}`` of the ``{schema}`` payload, as the schema lists it."""')
    for name, (schema, prop) in ONE_OF_ENUMS.items():
        values = [b["properties"][prop]["const"] for b in load(schema)["oneOf"]]
        out.append(f"{name}: TypeAlias = {literal(values)}")
        out.append(f'"""``{prop}`` of ``{schema}`` events, as the schema lists it."""')
    for name, (schema, path) in NESTED_ENUMS.items():
        node: Any = load(schema)["oneOf"][0]["properties"]
        for part in path:
            node = node[part]
        out.append(f"{name}: TypeAlias = {literal(node['enum'])}")
        out.append(f'"""``{path[-1]}`` of ``{schema}``\'s ``{".".join(path[::2])}``."""')
    return out


def field(schema: str, prop: str, sub: dict[str, Any]) -> tuple[str, str, str | None]:
    """(annotation, checker expression, description) of one payload property."""
    description = sub.get("description")
    if prop in NESTED:
        cls, parse = NESTED[prop]
        return cls, parse, description
    if (schema, prop) in ENUMS:
        return ENUMS[(schema, prop)], "check_str", description
    kind = sub.get("type")
    if isinstance(kind, str) and kind in SCALARS:
        annotation, check = SCALARS[kind]
        if "enum" in sub:
            annotation = literal(sub["enum"])
        if "const" in sub:
            annotation = literal([sub["const"]])
        return annotation, check, description
    return "Any", "check_any", description


def emit_class(cls: str, schema: str, head: str, verbs: str | None, info_keys: set[str]) -> str:
    data = load(schema)
    props = {k: v for k, v in data.get("properties", {}).items() if k not in ENVELOPE}
    from_info = [k for k in props if k in info_keys and data.get("allOf")]
    lines = [
        "",
        "",
        "@attrs.frozen(kw_only=True)",
        f"class {cls}:",
        f'    """{head}',
        "",
    ]
    lines += ["    " + line for line in doc(data.get("description", ""), "    ")]
    lines += [""]
    note = (
        f"Generated from the schema's ``callbacks/{schema}``"
        + (
            " (jambonz documents no payload of its own for the agent; it reports as ``llm``)"
            if cls == "AgentResult"
            else ""
        )
        + ": every attribute is ``None`` when jambonz did not send it; the hook's call info"
        " (``hook.data``) has the rest."
    )
    lines += ["    " + line for line in doc(note, "    ")]
    if verbs is not None:
        lines += [""]
        named = " or ".join(f"``{v}``" for v in verbs.split(", "))
        lines += [
            "    " + line for line in doc(f"A flow's ``yield`` of {named} evaluates to it.", "    ")
        ]
    lines += ['    """', ""]
    spec: list[str] = []
    for prop, sub in props.items():
        if prop in info_keys and prop not in from_info:
            continue
        attr = prop
        annotation, check, description = field(schema, prop, sub)
        if prop in info_keys:
            attr = CALL_INFO_ATTR.get(prop, prop)
            annotation = {"integer": "int", "number": "int | float", "string": "str"}.get(
                sub.get("type", ""), "Any"
            )
        optional = "" if annotation == "Any" else " | None"
        lines.append(f"    {attr}: {annotation}{optional} = None")
        if description:
            wrapped = doc(description, "    ")
            if len(wrapped) == 1 and len(wrapped[0]) <= LINE - 10:
                lines.append(f'    """{wrapped[0]}"""')
            else:
                lines += [f'    """{wrapped[0]}'] + ["    " + w for w in wrapped[1:]] + ['    """']
        if prop not in info_keys:
            spec.append(f'    "{prop}": ("{attr}", {check}),')
    lines.append("    verb_id: str | None = None")
    lines.append('    """The verb\'s ``id``, when it had one."""')
    spec.append('    "verb_id": ("verb_id", check_str),')
    table = f"_{cls.upper()}"
    lines += [
        "",
        "    @classmethod",
        f"    def from_call_info(cls, info: CallInfo) -> {cls}:",
        '        """Read the payload out of a hook\'s call info (ProtocolError if malformed)."""',
        f"        kwargs = typed_fields(info.extra, {table})",
    ]
    for prop in from_info:
        attr = CALL_INFO_ATTR.get(prop, prop)
        lines += [
            f"        if info.{attr} is not None:",
            f'            kwargs["{attr}"] = info.{attr}',
        ]
    lines += [
        "        return cls(**kwargs)",
        "",
        "    @classmethod",
        f"    def from_hook(cls, hook: HasCallInfo) -> {cls}:",
        '        """Read the payload out of a ``verb:hook``."""',
        "        return cls.from_call_info(hook.data)",
    ]
    head_lines = ["", "", f"{table}: Final[dict[str, tuple[str, Checker]]] = {{", *spec, "}"]
    return "\n".join(head_lines + lines) + "\n"


def used_checkers(classes: list[str]) -> set[str]:
    """The ``check_*`` functions the generated spec tables use."""
    return {
        check
        for check in (
            "check_any",
            "check_bool",
            "check_int",
            "check_number",
            "check_object",
            "check_str",
        )
        if f", {check})" in "".join(classes)
    }


def generate() -> str:
    info_keys = call_info_keys()
    classes = [emit_class(c, schema, head, verbs, info_keys) for c, schema, verbs, head in RESULTS]
    classes += [emit_class(c, schema, head, None, info_keys) for c, schema, head in EVENTS]
    names = [c for c, *_ in RESULTS] + [c for c, *_ in EVENTS]
    aliases = [*ENUMS.values(), *ONE_OF_ENUMS, *NESTED_ENUMS]
    parts = [
        '"""Typed views of the hook payloads jambonz 10.x/11.x documents (its schema\'s '
        "``callbacks/``).\n\n"
        "GENERATED by ``tools/gen_results.py`` from ``@jambonz/schema`` 0.4.15: do not edit; "
        "change the\ngenerator and run it. Like the views of :mod:`._payloads`, each class is "
        "read on demand out of\na hook's call info, so a malformed payload costs nothing "
        "until it is asked for, and then\nraises :class:`~jbtrio.ProtocolError` naming the "
        "JSON path.\n\n"
        "A value outside a schema's enumeration is kept as sent: jambonz adds values over "
        "time and a\nflow must not fail because its jambonz is newer than this schema. The "
        "``Literal`` types say\nwhat the schema lists, so a type checker catches a "
        'comparison with a misspelt value.\n"""\n\n',
        "from __future__ import annotations\n\n",
        "from collections.abc import Mapping\n",
        "from typing import Any, Final, Literal, TypeAlias\n\n",
        "import attrs\n\n",
        "from ._callinfo import CallInfo\n",
        "from ._fields import Checker, " + ", ".join(sorted(used_checkers(classes))) + "\n",
        "from ._views import HasCallInfo, SpeechResult, typed_fields\n\n",
        "__all__ = [\n"
        + "".join(f'    "{n}",\n' for n in ["RESULT_VIEWS", *sorted([*names, *aliases])])
        + "]\n\n",
        "\n".join(enum_aliases()) + "\n",
    ]
    parts += classes
    table = [
        "\n\n#: Canonical verb name -> the view of its ``actionHook`` payload (for the verbs"
        " whose view\n#: is generated; ``gather``, ``dial`` and ``llm`` have hand-written"
        " ones).\nRESULT_VIEWS: Final[Mapping[str, type[Any]]] = {\n"
    ]
    for cls, _, verbs, _ in RESULTS:
        for verb in verbs.split(", "):
            table.append(f'    "{verb}": {cls},\n')
    table.append("}\n")
    parts.append("".join(table))
    return ruff_format("".join(parts), OUTPUT)


def main() -> None:
    write_or_check(generate, OUTPUT, "gen_results.py", __doc__.split("\n")[0])


if __name__ == "__main__":
    main()
