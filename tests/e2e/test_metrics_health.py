"""``GET /metrics`` (Prometheus text, read with ``prometheus-client``'s own parser) and
``GET /readyz`` of the real server process, with real jobs firing at a real target."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import Api, Reply, RunningServer, Target, http_action, unique, wait_for


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.close()


def _samples(server: RunningServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(f"{server.base_url}/metrics", timeout=10)  # no token: public
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return sum(
        value
        for (sample, have), value in samples.items()
        if sample == name and set(labels.items()) <= have
    )


def _soon(seconds: float = 1) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_metrics_count_fires_attempts_retries_and_lateness(
    api: Api, server: RunningServer, target: Target
) -> None:
    before = _samples(server)
    collection = unique("metrics")
    api.create_collection(collection)
    target.reply("/fail", Reply(500))
    api.create_job(
        collection, "ok", {"startTime": _soon(), "action": http_action(target.url("/ok"))}
    )
    failing = {
        **http_action(target.url("/fail")),
        "retryPolicy": {"retryType": "Fixed", "retryInterval": "PT1S", "retryCount": 1},
    }
    api.create_job(collection, "bad", {"startTime": _soon(), "action": failing})
    target.wait_for(1, "/ok")
    target.wait_for(2, "/fail")

    def recorded() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        now = _samples(server)
        done = _value(now, "jobclock_attempts_total") - _value(before, "jobclock_attempts_total")
        return now if done >= 3 else None

    after = wait_for(recorded, "three attempts counted")
    # The node's name: JOBCLOCK_NODE, by default host:port.
    node = {"node": f"{socket.gethostname()}:{server.base_url.rsplit(':', 1)[1]}"}

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("jobclock_fires_total", action_type="Http", **node) == 2
    assert grew("jobclock_attempts_total", outcome="succeeded", action_type="Http", **node) == 1
    assert grew("jobclock_attempts_total", outcome="failed", action_type="Http", **node) == 2
    assert grew("jobclock_retries_total", action_type="Http", **node) == 1
    assert grew("jobclock_occurrence_lateness_seconds_count", **node) == 2
    lateness = grew("jobclock_occurrence_lateness_seconds_sum", **node)
    assert 0 <= lateness < 10, lateness  # two fires, each on time within seconds
    assert _value(after, "jobclock_attempts_in_flight", **node) == 0
    assert ("jobclock_leases_held", frozenset(node.items())) in after
    assert grew("jobclock_claim_duration_seconds_count", **node) > 0
    assert grew("jobclock_record_duration_seconds_count", **node) > 0
    last_step = _value(after, "jobclock_engine_last_step_timestamp_seconds", **node)
    assert abs(last_step - time.time()) < 60


def test_readyz_says_ready_without_a_token(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/readyz", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"}
    assert httpx.get(f"{server.base_url}/healthz", timeout=10).json() == {"status": "ok"}


def test_http_attempts_carry_a_w3c_traceparent_of_their_execution_tag(
    api: Api, target: Target
) -> None:
    collection = unique("trace")
    api.create_collection(collection)
    api.create_job(
        collection, "plain", {"startTime": _soon(), "action": http_action(target.url("/t1"))}
    )
    own = http_action(
        target.url("/t2"), headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    )
    api.create_job(collection, "own", {"startTime": _soon(), "action": own})
    [plain] = target.wait_for(1, "/t1")
    [kept] = target.wait_for(1, "/t2")
    match = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", plain.headers["traceparent"])
    assert match is not None, plain.headers["traceparent"]
    assert match[1] == plain.headers["x-ms-execution-tag"]
    assert match[2] != "0" * 16
    assert kept.headers["traceparent"] == "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
