"""A simulated call as a person reads it: one short line per frame, not kilobytes of JSON.

Used by ``jbtrio call`` (by default; ``--json`` prints the frames), by ``jbtrio demo`` and in
the message of :class:`~jbtrio.testing.AppFailed`. jbtrio's own receipt scaffolding (the
``config`` verbs and ``jb<n>`` ids it adds, the ``verb:status`` they earn) is left out, as
:func:`~jbtrio.testing.app_view` leaves it out of verb lists; streamed TTS traffic is folded
into one line per run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._app_view import app_view, is_receipt_id
from ._transcript import TranscriptFrame

__all__ = ["Renderer", "describe", "describe_verbs", "render"]


def _normal(verb: dict[str, Any]) -> dict[str, Any]:
    """``{"say": {...}}`` as ``{"verb": "say", ...}``, tolerating anything (no validation)."""
    if "verb" in verb or len(verb) != 1:
        return verb
    ((name, props),) = verb.items()
    return {"verb": name, **(props if isinstance(props, dict) else {})}


def describe_verbs(verbs: Any) -> str:
    """``say "Hi" · gather(speech) → /hook · hangup``."""
    if not isinstance(verbs, list):
        return "(no verbs)"
    shown = app_view(_normal(v) if isinstance(v, dict) else {"verb": repr(v)} for v in verbs)
    if not shown:
        return "(no verbs)"
    return " · ".join(_describe_verb(v) for v in shown)


def _describe_verb(verb: dict[str, Any]) -> str:
    name = verb.get("verb", "?")
    if name == "say" and verb.get("stream"):
        return "say (streaming: text comes as tts:tokens)"
    if name == "say":
        return f'say "{verb.get("text", "")}"'
    if name == "gather":
        inputs = ",".join(verb.get("input") or ["digits"])
        prompt = (verb.get("say") or {}).get("text")
        head = f"gather({inputs})" + (f' "{prompt}"' if prompt else "")
        return f"{head} → {_hook(verb.get('actionHook'))}"
    if name == "dial":
        targets = [
            t.get("number") or t.get("name") or t.get("sipUri") or t.get("type")
            for t in verb.get("target") or []
            if isinstance(t, dict)
        ]
        return f"dial {','.join(str(t) for t in targets)} → {_hook(verb.get('actionHook'))}"
    if name == "llm":
        return f"llm {verb.get('vendor')} → {_hook(verb.get('actionHook'))}"
    if name == "agent":
        llm = verb.get("llm")
        vendor = llm.get("vendor") if isinstance(llm, dict) else None
        return f"agent {vendor or ''} → {_hook(verb.get('actionHook'))}"
    if name == "transfer":
        targets = [
            t.get("number") or t.get("name") or t.get("sipUri") or t.get("type")
            for t in verb.get("target") or []
            if isinstance(t, dict)
        ]
        mode = verb.get("mode", "")
        return f"transfer {mode} {','.join(map(str, targets))} → {_hook(verb.get('actionHook'))}"
    if name == "tag":
        return f"tag {verb.get('data')}"
    if name == "play":
        return f"play {verb.get('url')}"
    if name == "pause":
        return f"pause {verb.get('length', 1)}s"
    if name == "redirect":
        return f"redirect → {_hook(verb.get('actionHook'))}"
    if name == "config":
        return f"config({','.join(k for k in verb if k not in ('verb', 'id'))})"
    return str(name)


def _hook(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("url"))
    return str(value)


def _hook_detail(payload: dict[str, Any]) -> str:
    speech = payload.get("speech")
    if isinstance(speech, dict) and speech.get("alternatives"):
        return f'caller said "{speech["alternatives"][0].get("transcript")}"'
    if payload.get("digits"):
        return f"caller pressed {payload['digits']}"
    if payload.get("dial_call_status"):
        return f"dial {payload['dial_call_status']}"
    if payload.get("transfer_result"):
        return f"transfer {payload['transfer_result']} ({payload.get('transfer_reason')})"
    if payload.get("completion_reason"):
        return str(payload["completion_reason"])
    if payload.get("reason"):
        return str(payload["reason"])
    return ""


def describe(frame: TranscriptFrame) -> str:
    """One readable line for a frame of the transcript."""
    data = frame.data or {}
    payload = data.get("data")
    kind = frame.type or "(not a jambonz message)"
    info = payload if isinstance(payload, dict) else {}
    if kind == "session:new":
        return f"session:new      from {info.get('from')} to {info.get('to')}"
    if kind == "verb:hook":
        return f"verb:hook {data.get('hook')}  {_hook_detail(info)}".rstrip()
    if kind == "call:status":
        leg = " (dialed leg)" if info.get("direction") == "outbound" else ""
        return f"call:status      {info.get('call_status')}{leg}"
    if kind == "verb:status":
        return f"verb:status      {info.get('name')} {info.get('event')} (id {info.get('id')})"
    if kind == "dial:confirm":
        return f"dial:confirm {data.get('hook')}  callee answered"
    if kind == "llm:tool-call":
        return f"llm:tool-call    {info.get('name')}({info.get('args')})"
    if kind == "agent:tool-call":
        return f"agent:tool-call  {info.get('name')}({info.get('arguments')})"
    if kind == "agent:event":
        return f"agent:event      {_agent_event(info)}"
    if kind == "jambonz:error":
        details = f": {info.get('details')}" if info.get("details") else ""
        return f"jambonz:error    {info.get('msg') or info.get('error')}{details}"
    if kind == "ack":
        return f"ack              {describe_verbs(payload)}"
    if kind == "command":
        return _describe_command(data, payload)
    if kind == "tts:tokens-result":
        return f"tts:tokens-result #{info.get('id')} {info.get('status')}"
    if kind == "tts:streaming-event":
        return f"tts:streaming-event {info.get('event_type')}"
    if kind in ("session:reconnect", "session:redirect"):
        return f"{kind} {data.get('hook') or ''}".rstrip()
    if frame.data is None:
        return f"(not JSON) {frame.text[:60]!r}"
    return kind


def _describe_command(data: dict[str, Any], payload: Any) -> str:
    name = data.get("command")
    if name in ("redirect", "whisper"):
        verbs = payload.get("whisper") if isinstance(payload, dict) else payload
        if isinstance(verbs, dict):
            verbs = [verbs]
        leg = " (to the dialed leg)" if data.get("callSid") else ""
        return f"command {name}{leg}  {describe_verbs(verbs)}"
    if name == "llm:tool-output":
        return f"command llm:tool-output {data.get('tool_call_id')}"
    if name == "agent:update" and isinstance(payload, dict):
        detail = payload.get("user_input") or payload.get("instructions") or ""
        return f"command agent:update {payload.get('type')} {_quote(detail)}".rstrip()
    if name == "room:say" and isinstance(payload, dict):
        return f"command room:say {_quote(payload.get('text'))}"
    if name == "tts:tokens" and isinstance(payload, dict):
        text = str(payload.get("tokens", ""))
        return f'command tts:tokens #{payload.get("id")} ({len(text)} chars) "{text[:40]}…"'
    if name == "call:status" and isinstance(payload, dict):
        return f"command call:status {payload.get('call_status')}"
    return f"command {name}"


def _quote(text: Any, limit: int = 60) -> str:
    if not text:
        return ""
    text = str(text)
    return f'"{text[:limit]}…"' if len(text) > limit else f'"{text}"'


def _agent_event(info: dict[str, Any]) -> str:
    kind = info.get("type")
    if kind == "user_transcript":
        return f"caller said {_quote(info.get('transcript'))}"
    if kind == "llm_response":
        return f"agent answers {_quote(info.get('response'))}"
    if kind == "turn_end":
        latency = info.get("latency")
        figures = latency.items() if isinstance(latency, dict) else ()
        stages = ", ".join(f"{k.removesuffix('_latency')} {v}" for k, v in figures)
        cut = ", interrupted" if info.get("interrupted") else ""
        return f"turn_end ({stages} ms{cut})"
    return str(kind)


def _is_tts_traffic(frame: TranscriptFrame) -> bool:
    data = frame.data or {}
    return frame.type == "tts:tokens-result" or data.get("command") == "tts:tokens"


def _is_scaffolding(frame: TranscriptFrame) -> bool:
    """A ``verb:status`` earned by jbtrio's receipts, not asked for by the app."""
    payload = frame.payload
    return (
        frame.type == "verb:status"
        and isinstance(payload, dict)
        and is_receipt_id(payload.get("id"))
    )


class Renderer:
    """Turns frames into lines as they come (``feed``), folding runs of TTS traffic."""

    def __init__(self, origin: float | None = None) -> None:
        self._origin = origin
        self._run: list[TranscriptFrame] = []

    def feed(self, frame: TranscriptFrame) -> list[str]:
        """The lines ``frame`` completes (none while a TTS run goes on, or for scaffolding)."""
        if self._origin is None:
            self._origin = frame.time
        if _is_tts_traffic(frame):
            self._run.append(frame)
            return []
        lines = self.close()
        if not _is_scaffolding(frame):
            lines.append(self._line(frame, describe(frame)))
        return lines

    def close(self) -> list[str]:
        """The line of a TTS run still open, if any."""
        run, self._run = self._run, []
        if not run:
            return []
        sent = [f for f in run if f.direction == "in"]
        chars = sum(len(str((f.payload or {}).get("tokens", ""))) for f in sent)
        ok = sum(1 for f in run if f.direction == "out" and (f.payload or {}).get("status") == "ok")
        text = (
            f"{len(sent)} tts:tokens, {chars} chars "
            f"(one in flight, deltas coalesced), {ok} answered ok"
        )
        return [self._line(run[0], text, arrow="app ⇄ jambonz")]

    def _line(self, frame: TranscriptFrame, text: str, arrow: str | None = None) -> str:
        if arrow is None:
            arrow = "jambonz → app" if frame.direction == "out" else "app → jambonz"
        socket = f" #{frame.connection}" if frame.connection > 1 else ""
        return f"  {frame.time - (self._origin or 0.0):6.2f}s{socket}  {arrow}  {text}"


def render(frames: Iterable[TranscriptFrame]) -> list[str]:
    """The readable transcript of ``frames``, one line each (TTS runs folded)."""
    renderer = Renderer()
    lines: list[str] = []
    for frame in frames:
        lines.extend(renderer.feed(frame))
    lines.extend(renderer.close())
    return lines
