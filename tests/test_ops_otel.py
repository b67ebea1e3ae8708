"""OpenTelemetry spans with the SDK's in-memory exporter: a call span under jambonz's b3
context, a span per hook round trip and per tool call, the TTS stream's span; nothing when
not instrumented."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import trio
import trio.testing
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import jbtrio
from jbtrio.otel import Instrumentation, instrument, parse_b3
from jbtrio.testing import Caller, LlmScript, ScriptedToolCall, run_app
from jbtrio.verbs import DeepgramS2s, Hangup

B3 = "18228daa536f82e0ec29074e7bf47b89-dd3bdf1f177f2995-1"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentation: Instrumentation = instrument(provider)
    yield exporter
    instrumentation.uninstall()


def make_app() -> jbtrio.App:
    app = jbtrio.App()

    @app.tool("lookup")
    async def lookup(call: jbtrio.Call, key: str = "") -> str:
        await trio.sleep(0.5)
        return key.upper()

    @app.tool("broken")
    async def broken(call: jbtrio.Call) -> str:
        raise RuntimeError("no CRM today")

    @app.flow("/")
    async def flow(call: jbtrio.Call) -> jbtrio.Steps:
        await call.tts.push("Hello ")
        await call.tts.push("there.")
        yield DeepgramS2s(llm_options={"settings": {}})
        yield Hangup()

    return app


async def test_spans_of_a_call(
    spans: InMemorySpanExporter, autojump_clock: trio.testing.MockClock
) -> None:
    script = LlmScript(
        tool_calls=[
            ScriptedToolCall("lookup", {"key": "a"}, "fn-1"),
            ScriptedToolCall("broken", {}, "fn-2"),
        ]
    )
    call = await run_app(make_app(), caller=Caller(llm=script), check=False)
    finished = spans.get_finished_spans()
    by_name: dict[str, list[object]] = {}
    for span in finished:
        by_name.setdefault(span.name, []).append(span)
    (call_span,) = by_name["jbtrio.call"]
    assert call_span.attributes["jambonz.call_sid"] == call.call_sid  # type: ignore[attr-defined]
    hooks = by_name["jbtrio.hook"]
    assert len(hooks) >= 2  # session:new and the llm verb's actionHook at least
    tools = by_name["jbtrio.tool"]
    assert [t.attributes["jbtrio.tool"] for t in tools] == ["lookup", "broken"]  # type: ignore[attr-defined]
    assert tools[1].status.status_code is StatusCode.ERROR  # type: ignore[attr-defined]
    (tts,) = by_name["jbtrio.tts_stream"]
    assert tts.attributes["jbtrio.tts.requests"] >= 2  # type: ignore[attr-defined]
    for child in [*hooks, *tools, tts]:
        assert child.parent.span_id == call_span.context.span_id  # type: ignore[attr-defined]


def test_b3() -> None:
    context = parse_b3(B3)
    assert context is not None
    assert f"{context.trace_id:032x}" == "18228daa536f82e0ec29074e7bf47b89"
    assert f"{context.span_id:016x}" == "dd3bdf1f177f2995"
    assert parse_b3("00000000000000000000000000000000-0000000000000000-0") is None
    assert parse_b3("garbage") is None
    assert parse_b3(None) is None


def test_nothing_is_imported_when_off() -> None:
    code = (
        "import sys, jbtrio, jbtrio.testing; "
        "print(any(m.startswith(('opentelemetry', 'prometheus_client')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
