"""OpenTelemetry spans of jbtrio's calls (``pip install jbtrio[otel]``).

``jbtrio.otel.instrument()`` (in the app's module, after configuring the OpenTelemetry SDK and
its exporter) makes, for every call of the process:

- a ``jbtrio.call`` span from the app's start to the call's end, the child of jambonz's own
  span when the session message carried its ``b3`` trace context (jambonz sends it when its
  tracing is on; all zeros means none); attributes: call_sid, the app's mount, direction,
  why it ended, reconnects, acks sent on the app's behalf, errors;
- a ``jbtrio.hook`` span per hook round trip (a message jambonz waits on, to the app's
  reply), linked to the hook's own ``b3`` context when it has one;
- a ``jbtrio.tool`` span per tool call the app's tools served (an error status when the tool
  raised);
- a ``jbtrio.tts_stream`` span when the call streamed text: from its first chunk to the
  call's end, with the chunks the app streamed and the ``tts:tokens`` messages sent.

Nothing of it is imported, and nothing is paid, unless :func:`instrument` is called: it
installs an observer of the runtime (the spans are made from the moments the runtime
already reports), and :meth:`Instrumentation.uninstall` removes it.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import trio
from opentelemetry import trace
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    Status,
    StatusCode,
    TraceFlags,
)

from ._core import ReplyHandle
from ._runtime import ObservedCall, add_observer, remove_observer

__all__ = ["Instrumentation", "instrument", "parse_b3"]

_TRACER = "jbtrio"


def parse_b3(value: str | None) -> SpanContext | None:
    """The span context of a B3 single-header value (``{traceId}-{spanId}[-{sampled}]``),
    or ``None`` when there is none (absent, malformed, or all zeros)."""
    if not value:
        return None
    parts = value.strip().split("-")
    if len(parts) < 2:
        return None
    try:
        trace_id = int(parts[0], 16)
        span_id = int(parts[1], 16)
    except ValueError:
        return None
    if not trace_id or not span_id or len(parts[0]) not in (16, 32) or len(parts[1]) != 16:
        return None
    sampled = len(parts) < 3 or parts[2] in ("1", "d")
    return SpanContext(
        trace_id,
        span_id,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT),
    )


def _epoch_ns(trio_time: float) -> int:
    """A Trio clock reading as the epoch nanoseconds OpenTelemetry takes."""
    return time.time_ns() - int((trio.current_time() - trio_time) * 1e9)


class Instrumentation:
    """The observer making the spans (see the module's docstring)."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer(_TRACER, tracer_provider=tracer_provider)
        self._calls: weakref.WeakKeyDictionary[ObservedCall, Span] = weakref.WeakKeyDictionary()

    def install(self) -> Instrumentation:
        add_observer(self)
        return self

    def uninstall(self) -> None:
        remove_observer(self)

    # ------------------------------------------------------------------ the observer

    def call_started(self, session: ObservedCall) -> None:
        parent = parse_b3(getattr(session.first_message, "b3", None))
        context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent else None
        data = getattr(session.first_message, "data", None)
        attributes: dict[str, Any] = {
            "jambonz.call_sid": session.call_sid,
            "jambonz.path": session.path,
            "jambonz.resumed": session.resumed,
        }
        direction = getattr(data, "direction", None)
        if isinstance(direction, str):
            attributes["jambonz.direction"] = direction
        start = session.stats.started_at
        span = self._tracer.start_span(
            "jbtrio.call",
            context=context,
            kind=trace.SpanKind.SERVER,
            attributes=attributes,
            start_time=_epoch_ns(start) if start is not None else None,
        )
        self._calls[session] = span

    def call_ended(self, session: ObservedCall) -> None:
        span = self._calls.pop(session, None)
        if span is None:
            return
        stats = session.stats
        if stats.tts_started_at is not None:
            tts = self._tracer.start_span(
                "jbtrio.tts_stream",
                context=trace.set_span_in_context(span),
                start_time=_epoch_ns(stats.tts_started_at),
                attributes={
                    "jbtrio.tts.requests": stats.tts_requests,
                    "jbtrio.tts.messages": stats.tts_messages,
                },
            )
            tts.end()
        span.set_attributes(
            {
                "jbtrio.end_reason": session.end_reason or "",
                "jbtrio.reconnects": stats.reconnects,
                "jbtrio.auto_acks": stats.auto_acks,
                "jbtrio.errors": stats.errors,
            }
        )
        if stats.errors:
            span.set_status(Status(StatusCode.ERROR, session.end_reason or "errors"))
        span.end()

    def replied(self, session: ObservedCall, handle: ReplyHandle, latency: float) -> None:
        parent = self._calls.get(session)
        if parent is None:
            return
        hook_context = parse_b3(handle.message.b3)
        span = self._tracer.start_span(
            "jbtrio.hook",
            context=trace.set_span_in_context(parent),
            start_time=time.time_ns() - int(latency * 1e9),
            links=[Link(hook_context)] if hook_context is not None else None,
            attributes={"jambonz.type": handle.type, "jambonz.msgid": handle.msgid},
        )
        hook = getattr(handle.message, "hook", None)
        if isinstance(hook, str):
            span.set_attribute("jambonz.hook", hook)
        span.end()

    def tool_ran(
        self, session: ObservedCall, name: str, started_at: float, error: BaseException | None
    ) -> None:
        parent = self._calls.get(session)
        if parent is None:
            return
        span = self._tracer.start_span(
            "jbtrio.tool",
            context=trace.set_span_in_context(parent),
            start_time=_epoch_ns(started_at),
            attributes={"jbtrio.tool": name},
        )
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, repr(error)))
        span.end()

    def upgrade_refused(self, status: int) -> None:
        """Not a span: refused upgrades are counted by the metrics."""


def instrument(tracer_provider: trace.TracerProvider | None = None) -> Instrumentation:
    """Make OpenTelemetry spans of this process's calls from now on (with
    ``tracer_provider``, else the global one); ``.uninstall()`` stops."""
    return Instrumentation(tracer_provider).install()
