"""Prometheus metrics (``prometheus-client``): the engine's :class:`jobclock.ports.Metrics`
over a registry of its own (no global one), served as text by ``GET /metrics``.

Every series carries the ``node`` label, so several nodes scraped into one Prometheus
stay apart.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "PrometheusMetrics"]

# Lateness spans a timer's few milliseconds to a node's takeover and catch-up.
_LATENESS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
_DURATION = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_ATTEMPT = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class PrometheusMetrics:
    """The engine's counters, gauges and histograms, labelled with ``node``."""

    def __init__(self, node: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._node = node
        r = self.registry
        self._fires = Counter(
            "jobclock_fires", "Occurrences started (first attempts).", ["node", "action_type"],
            registry=r,
        )  # fmt: skip
        self._attempts = Counter(
            "jobclock_attempts", "Attempts ended, by outcome.",
            ["node", "action_type", "outcome"], registry=r,
        )  # fmt: skip
        self._retries = Counter(
            "jobclock_retries", "Retry attempts ended.", ["node", "action_type"], registry=r
        )
        self._lateness = Histogram(
            "jobclock_occurrence_lateness_seconds",
            "How long after its scheduled time an occurrence's first attempt started.",
            ["node"], buckets=_LATENESS, registry=r,
        )  # fmt: skip
        self._attempt_seconds = Histogram(
            "jobclock_attempt_duration_seconds", "How long attempts took.",
            ["node", "action_type"], buckets=_ATTEMPT, registry=r,
        )  # fmt: skip
        self._in_flight = Gauge(
            "jobclock_attempts_in_flight", "Attempts running now.", ["node"], registry=r
        )
        self._missed = Counter(
            "jobclock_occurrences_missed", "Slots skipped because they were found too late.",
            ["node"], registry=r,
        )  # fmt: skip
        self._postponed = Counter(
            "jobclock_occurrences_postponed",
            "Slots that came due while their job's occurrence still ran.", ["node"], registry=r,
        )  # fmt: skip
        self._claim = Histogram(
            "jobclock_claim_duration_seconds", "Scheduling and claiming transactions.",
            ["node"], buckets=_DURATION, registry=r,
        )  # fmt: skip
        self._record = Histogram(
            "jobclock_record_duration_seconds", "Recording transactions.", ["node"],
            buckets=_DURATION, registry=r,
        )  # fmt: skip
        self._held_back = Histogram(
            "jobclock_host_wait_seconds", "How long attempts waited for their host's cap.",
            ["node", "action_type"], buckets=_LATENESS, registry=r,
        )  # fmt: skip
        self._leases = Gauge(
            "jobclock_leases_held", "Attempt leases this node holds.", ["node"], registry=r
        )
        self._step = Gauge(
            "jobclock_engine_last_step_timestamp_seconds",
            "When the engine's loop last completed a step (Unix time).", ["node"], registry=r,
        )  # fmt: skip
        for gauge in (self._in_flight, self._leases):
            gauge.labels(node)  # shown as 0 before the first change
        for counter in (self._missed, self._postponed):
            counter.labels(node)

    def fired(self, action: str, lateness: float) -> None:
        self._fires.labels(self._node, action).inc()
        self._lateness.labels(self._node).observe(max(lateness, 0.0))

    def attempted(self, action: str, succeeded: bool, retry: bool, seconds: float) -> None:
        outcome = "succeeded" if succeeded else "failed"
        self._attempts.labels(self._node, action, outcome).inc()
        if retry:
            self._retries.labels(self._node, action).inc()
        self._attempt_seconds.labels(self._node, action).observe(max(seconds, 0.0))

    def in_flight(self, delta: int) -> None:
        self._in_flight.labels(self._node).inc(delta)

    def missed(self, count: int) -> None:
        if count:
            self._missed.labels(self._node).inc(count)

    def postponed(self, count: int) -> None:
        if count:
            self._postponed.labels(self._node).inc(count)

    def claimed(self, seconds: float) -> None:
        self._claim.labels(self._node).observe(max(seconds, 0.0))

    def recorded(self, seconds: float) -> None:
        self._record.labels(self._node).observe(max(seconds, 0.0))

    def held_back(self, action: str, seconds: float) -> None:
        self._held_back.labels(self._node, action).observe(max(seconds, 0.0))

    def leases(self, held: int) -> None:
        self._leases.labels(self._node).set(held)

    def stepped(self, at: datetime) -> None:
        self._step.labels(self._node).set(at.timestamp())

    def text(self) -> bytes:
        """The Prometheus text exposition of every series."""
        return generate_latest(self.registry)
