"""Notifications on a fake clock: which events a collection's endpoints get, as what
CloudEvent, retried when the endpoint fails, and the dead-man's switch."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from jobclock.domain.actions import HttpRequest
from jobclock.domain.errors import InvalidDefinition, NotFound
from jobclock.domain.execution import AttemptContext, Invocation
from jobclock.refs import CollectionRef
from tests.system import T0, System

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOOK = "http://127.0.0.1:9/hook"


def _endpoint(system: System, ref: CollectionRef, name: str = "ops", **properties: Any) -> None:
    body = {"properties": {"uri": HOOK, **properties}}
    system.run(system.service.notifications.put(ref, name, body))


def _failing(retries: int = 0) -> dict[str, Any]:
    policy = (
        {"retryType": "None"}
        if not retries
        else {"retryType": "Fixed", "retryInterval": "PT1S", "retryCount": retries}
    )
    return {
        "type": "Http",
        "request": {"uri": "http://127.0.0.1/target", "method": "POST"},
        "retryPolicy": policy,
    }


def _sent(system: System) -> list[tuple[Invocation, AttemptContext]]:
    return [
        (invocation, context)
        for invocation, context in system.executor.calls
        if isinstance(invocation.payload, HttpRequest) and invocation.payload.uri == HOOK
    ]


def _events(system: System) -> list[dict[str, Any]]:
    found = []
    for invocation, _ in _sent(system):
        assert isinstance(invocation.payload, HttpRequest)
        found.append(json.loads(invocation.payload.body or ""))
    return found


def test_a_failed_occurrence_notifies_after_its_last_retry(system: System) -> None:
    ref = system.collection()
    _endpoint(system, ref, events=["job.failed"])
    system.executor.default = False  # the target fails; so would the hook...
    system.executor.outcomes = [False, False, True]  # ...but the hook answers
    job = system.job("nightly", {"startTime": "2024-01-01T00:00:00Z", "action": _failing(1)})
    system.at(T0)
    assert _events(system) == []  # a retry follows: not failed yet
    system.at(T0 + SECOND)
    [event] = _events(system)
    assert event["specversion"] == "1.0"
    assert event["type"] == "job.failed"
    assert event["subject"] == "nightly"
    assert event["source"] == (
        "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Scheduler/"
        "jobCollections/jc/jobs/nightly"
    )
    assert event["datacontenttype"] == "application/json"
    assert event["data"]["scheduledTime"] == "2024-01-01T00:00:00Z"
    assert event["data"]["retryCount"] == 1
    assert "recorded: failed" in event["data"]["message"]
    [(invocation, context)] = _sent(system)
    assert isinstance(invocation.payload, HttpRequest)
    headers = dict(invocation.payload.headers)
    assert headers["Content-Type"].startswith("application/cloudevents+json")
    assert context.execution_tag == event["id"]  # webhook-id: the event's id
    [notice] = system.run(system.service.notifications.history(ref, "ops"))
    assert (notice.status.value, notice.attempts, notice.event_type) == (
        "delivered",
        1,
        "job.failed",
    )
    assert system.status(job).state.value == "Faulted"  # a one-time job: faulted too


def test_a_faulted_job_sends_job_faulted_to_those_who_asked(system: System) -> None:
    ref = system.collection()
    _endpoint(system, ref, "faults", events=["job.faulted"])
    _endpoint(system, ref, "failures", events=["job.failed"])
    system.executor.outcomes = [False]
    system.job("once", {"startTime": "2024-01-01T00:00:00Z", "action": _failing()})
    system.at(T0)
    kinds = sorted(event["type"] for event in _events(system))
    assert kinds == ["job.failed", "job.faulted"]
    faults = system.run(system.service.notifications.history(ref, "faults"))
    assert [n.event_type for n in faults] == ["job.faulted"]


def test_an_endpoint_that_fails_is_tried_again_with_the_same_id(system: System) -> None:
    ref = system.collection()
    _endpoint(system, ref, events=["job.failed"])
    system.executor.outcomes = [False, False, False, True]  # target, hook, hook, hook
    system.job("once", {"startTime": "2024-01-01T00:00:00Z", "action": _failing()})
    system.at(T0)
    [notice] = system.run(system.service.notifications.history(ref, "ops"))
    assert (notice.status.value, notice.attempts) == ("pending", 1)
    assert notice.due_at == T0 + 10 * SECOND
    system.at(T0 + 10 * SECOND)
    system.at(T0 + 30 * SECOND)
    ids = {context.execution_tag for _, context in _sent(system)}
    assert len(_sent(system)) == 3
    assert len(ids) == 1  # receivers drop repeats by webhook-id
    [notice] = system.run(system.service.notifications.history(ref, "ops"))
    assert (notice.status.value, notice.attempts) == ("delivered", 3)


def test_a_slot_found_too_late_is_missed(system: System) -> None:
    ref = system.collection()
    _endpoint(system, ref, events=["occurrence.missed"])
    system.job("hourly", {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Hour"}})
    system.at(T0 + 10 * MINUTE)  # the service was down: 00:00 is past the misfire grace
    [event] = _events(system)
    assert event["type"] == "occurrence.missed"
    assert event["data"]["scheduledTime"] == "2024-01-01T00:00:00Z"
    assert event["data"]["reason"] == "late"


def test_a_late_start_is_reported_past_the_endpoints_threshold(system: System) -> None:
    ref = system.collection()
    _endpoint(system, ref, "strict", events=["occurrence.late"], lateAfter="PT10S")
    _endpoint(system, ref, "lenient", events=["occurrence.late"], lateAfter="PT50S")
    system.job("once", {"startTime": "2024-01-01T00:00:00Z"})
    system.at(T0 + 30 * SECOND)  # within the misfire grace: runs, 30 s late
    strict = system.run(system.service.notifications.history(ref, "strict"))
    lenient = system.run(system.service.notifications.history(ref, "lenient"))
    assert [n.event_type for n in strict] == ["occurrence.late"]
    assert lenient == []
    [event] = _events(system)
    assert event["data"]["latenessSeconds"] == 30.0


def test_expect_run_within_raises_missed_once_per_window(system: System) -> None:
    ref = system.collection()
    _endpoint(system, ref, events=["occurrence.missed"])
    job = system.job(
        "heartbeat",
        {"startTime": "2025-01-01T00:00:00Z", "expectRunWithin": "PT10M"},  # fed from outside
    )
    system.at(T0 + 9 * MINUTE)
    assert _events(system) == []
    system.at(T0 + 10 * MINUTE)
    [event] = _events(system)
    assert event["type"] == "occurrence.missed"
    assert event["data"]["reason"] == "expectRunWithin"
    system.at(T0 + 15 * MINUTE)
    assert len(_events(system)) == 1  # once per window
    # A successful run from outside (run now) resets the window.
    system.run(system.service.run_job(job))
    system.at(T0 + 16 * MINUTE)
    system.at(T0 + 25 * MINUTE)
    assert len(_events(system)) == 1  # 16 + 10 > 25
    system.at(T0 + 26 * MINUTE)
    assert len(_events(system)) == 2


def test_without_endpoints_nothing_is_sent_or_stored(system: System) -> None:
    ref = system.collection()
    system.executor.outcomes = [False]
    system.job("once", {"startTime": "2024-01-01T00:00:00Z", "action": _failing()})
    system.at(T0)
    assert _sent(system) == []
    assert system.run(system.service.notifications.list_all(ref)) == []


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        pytest.param({"uri": "ftp://x/"}, "uri", id="not-http"),
        pytest.param({"uri": HOOK, "events": ["job.exploded"]}, "events", id="unknown-event"),
        pytest.param({"uri": HOOK, "events": []}, "events", id="no-event"),
        pytest.param({"uri": HOOK, "lateAfter": "P2D"}, "lateAfter", id="late-after-too-long"),
        pytest.param({"uri": HOOK, "signing": {"secret": "nope"}}, "signing", id="bad-key"),
        pytest.param({"url": HOOK}, "url", id="unknown-key"),
        pytest.param({"uri": "https://ops:hunter2@hooks.example/x"}, "uri", id="password-in-uri"),
    ],
)
def test_a_bad_endpoint_is_refused_and_nothing_is_stored(
    system: System, properties: dict[str, Any], field: str
) -> None:
    ref = system.collection()
    with pytest.raises(InvalidDefinition) as raised:
        system.run(system.service.notifications.put(ref, "bad", {"properties": properties}))
    assert field in str(raised.value)
    assert "hunter2" not in str(raised.value)
    with pytest.raises(NotFound):
        system.run(system.service.notifications.get(ref, "bad"))


def test_a_backfill_is_late_by_design_and_raises_no_late_event(system: System) -> None:
    ref = system.collection()
    _endpoint(system, ref, events=["occurrence.late"], lateAfter="PT1S")
    job = system.job(
        "hourly", {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Hour"}}
    )
    system.at(T0 + 30 * SECOND)  # 00:00 runs 30 s late
    late = [e for e in _events(system) if e["type"] == "occurrence.late"]
    assert [e["data"]["scheduledTime"] for e in late] == ["2024-01-01T00:00:00Z"]
    system.at(T0 + 3 * 60 * MINUTE + 10 * SECOND)  # 01:00-03:00 missed: skipped
    body = {"from": "2024-01-01T01:00:00Z", "to": "2024-01-01T02:00:00Z"}
    assert len(system.run(system.service.backfill_job(job, body))) == 2
    system.at(system.clock.now() + 5 * SECOND)
    backfilled = [e for e in system.history(job) if e.message.startswith("Backfill")]
    assert len(backfilled) == 2
    assert len([e for e in _events(system) if e["type"] == "occurrence.late"]) == 1
