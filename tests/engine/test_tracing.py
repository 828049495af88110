"""OpenTelemetry spans per attempt (the ``otel`` extra): one span per attempt, its trace
id the execution tag, its span id the one the request's ``traceparent`` carries."""

from __future__ import annotations

import pytest

from jobclock.engine.dispatcher import Engine, EngineSettings
from jobclock.tracing import OtelTracing, tracing_from_environment
from tests.system import T0, System

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)


def test_each_attempt_is_a_span_of_its_execution_tags_trace(system: System) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = Engine(
        system.store,
        system.service.codec,
        {kind: system.executor for kind in system.engine._executors},
        system.clock,
        EngineSettings(region="Test Region"),
        tracing=OtelTracing(provider, "node-1"),
    )
    system.collection()
    system.executor.outcomes = [False, True]
    action = {
        "type": "Http",
        "request": {"uri": "http://127.0.0.1/", "method": "GET"},
        "retryPolicy": {"retryType": "Fixed", "retryInterval": "PT1S", "retryCount": 1},
    }
    system.job("traced", {"startTime": "2024-01-01T00:00:00Z", "action": action})
    system.clock.set(T0)
    system.run(engine.run_until_idle())
    system.clock.set(T0.replace(second=1))
    system.run(engine.run_until_idle())
    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    contexts = [context for _, context in system.executor.calls]
    for span, context in zip(spans, contexts, strict=True):
        assert f"{span.context.trace_id:032x}" == context.execution_tag
        assert context.traceparent == f"00-{context.execution_tag}-{span.context.span_id:016x}-01"
        assert span.attributes is not None
        assert span.attributes["jobclock.job"] == "traced"
        assert span.attributes["jobclock.node"] == "node-1"
    assert [span.attributes["jobclock.retry_count"] for span in spans] == [0, 1]  # type: ignore[index]
    assert spans[0].status.status_code.name == "ERROR"
    assert spans[1].status.status_code.name == "UNSET"


def test_a_bad_exporter_setting_names_the_variable() -> None:
    with pytest.raises(ValueError, match="JOBCLOCK_OTEL_EXPORTER"):
        tracing_from_environment({"JOBCLOCK_OTEL_EXPORTER": "zipkin"}, "n")
    assert isinstance(
        tracing_from_environment({"JOBCLOCK_OTEL_EXPORTER": "console"}, "n"), OtelTracing
    )
