"""Tracing of attempts: a W3C ``traceparent`` on every HTTP attempt and, when an exporter is
configured and ``opentelemetry-sdk`` is installed (``pip install jobclock[otel]``), an
OpenTelemetry span per attempt.

``JOBCLOCK_OTEL_EXPORTER``: ``otlp`` (the OTLP exporter, configured by the standard
``OTEL_EXPORTER_OTLP_*`` variables; needs ``opentelemetry-exporter-otlp``) or ``console``;
unset: no spans, only the header. The trace id is the attempt's execution tag.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any

from jobclock.domain.execution import AttemptContext

log = logging.getLogger("jobclock.tracing")
EXPORTER_VARIABLE = "JOBCLOCK_OTEL_EXPORTER"


class _HeaderSpan:
    def __init__(self, tag: str) -> None:
        self.traceparent = f"00-{tag}-{random.getrandbits(64) or 1:016x}-01"

    def end(self, succeeded: bool, message: str) -> None:
        return None


class HeaderTracing:
    """Only the ``traceparent`` header: a span id of its own per attempt."""

    def start(self, context: AttemptContext, action: str) -> _HeaderSpan:
        return _HeaderSpan(context.execution_tag)


class _OtelSpan:
    def __init__(self, span: Any, tag: str) -> None:
        self._span = span
        self.traceparent = f"00-{tag}-{span.get_span_context().span_id:016x}-01"

    def end(self, succeeded: bool, message: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        try:
            self._span.set_attribute("jobclock.succeeded", succeeded)
            if not succeeded:
                self._span.set_status(Status(StatusCode.ERROR, message[:200]))
            self._span.end()
        except Exception:  # a tracing failure never fails an attempt
            log.exception("tracing.failed", extra={"event": "tracing.failed"})


class OtelTracing:
    """A span per attempt through ``provider`` (an OpenTelemetry ``TracerProvider``)."""

    def __init__(self, provider: Any, node: str) -> None:
        self._tracer = provider.get_tracer("jobclock")
        self._node = node

    def start(self, context: AttemptContext, action: str) -> _OtelSpan | _HeaderSpan:
        from opentelemetry import trace

        try:
            parent = trace.NonRecordingSpan(
                trace.SpanContext(
                    trace_id=int(context.execution_tag, 16),
                    span_id=random.getrandbits(64) or 1,
                    is_remote=True,
                    trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
                )
            )
            span = self._tracer.start_span(
                f"jobclock.attempt {action}",
                context=trace.set_span_in_context(parent),
                kind=trace.SpanKind.CLIENT,
                attributes={
                    "jobclock.collection": context.collection,
                    "jobclock.job": context.job,
                    "jobclock.action_type": action,
                    "jobclock.action_name": context.action_name.value,
                    "jobclock.retry_count": context.retry_count,
                    "jobclock.repeat_count": context.repeat_count,
                    "jobclock.node": self._node,
                },
            )
        except Exception:  # a tracing failure never fails an attempt
            log.exception("tracing.failed", extra={"event": "tracing.failed"})
            return _HeaderSpan(context.execution_tag)
        return _OtelSpan(span, context.execution_tag)


def tracing_from_environment(env: Mapping[str, str], node: str) -> HeaderTracing | OtelTracing:
    """The tracing ``JOBCLOCK_OTEL_EXPORTER`` names; a bad value or a missing package raises
    ``ValueError`` naming the variable (at start-up, not at the first attempt)."""
    kind = (env.get(EXPORTER_VARIABLE) or "").strip().lower()
    if not kind:
        return HeaderTracing()
    if kind not in ("otlp", "console"):
        raise ValueError(f"{EXPORTER_VARIABLE} must be 'otlp' or 'console', got {kind!r}.")
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError as error:
        raise ValueError(
            f"{EXPORTER_VARIABLE}={kind} needs opentelemetry-sdk: pip install 'jobclock[otel]'."
        ) from error
    exporter: Any
    if kind == "console":
        exporter = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
        except ImportError as error:
            raise ValueError(
                f"{EXPORTER_VARIABLE}=otlp needs opentelemetry-exporter-otlp-proto-http."
            ) from error
        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "jobclock"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return OtelTracing(provider, node)
