"""jobclock's retry extensions on a fake clock: Exponential with full jitter, maxAge,
attemptTimeout, and the plan's floor (Unlimited: 1 s)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.history import ActionName, HistoryStatus
from tests.system import T0, System

SECOND = timedelta(seconds=1)


def _action(policy: dict[str, Any], error_action: bool = False) -> dict[str, Any]:
    action: dict[str, Any] = {
        "type": "Http",
        "request": {"uri": "http://127.0.0.1/main", "method": "POST"},
        "retryPolicy": policy,
    }
    if error_action:
        action["errorAction"] = {
            "type": "Http",
            "request": {"uri": "http://127.0.0.1/alt", "method": "GET"},
            "retryPolicy": {"retryType": "None"},
        }
    return action


def _run_for(system: System, seconds: int) -> None:
    for second in range(seconds + 1):
        system.at(T0 + second * SECOND)


def test_exponential_waits_grow_with_jitter_up_to_the_cap(system: System) -> None:
    system.collection()
    system.executor.default = False
    policy = {
        "retryType": "Exponential",
        "retryInterval": "PT10S",
        "maxInterval": "PT40S",
        "retryCount": 6,
    }
    jobs = [
        system.job(f"exp{n}", {"startTime": "2024-01-01T00:00:00Z", "action": _action(policy)})
        for n in range(8)
    ]
    _run_for(system, 300)
    gaps_by_retry: dict[int, set[float]] = {}
    for ref in jobs:
        entries = system.history(ref)
        assert [e.retry_count for e in entries] == list(range(7))
        due = [e.expected_execution_time for e in entries]
        for retry, (before, after) in enumerate(itertools.pairwise(due), start=1):
            gap = (after - before).total_seconds()
            longest = min(40, 10 * 2 ** (retry - 1))
            # Whole seconds: the fake clock steps by one and a retry runs when it comes due.
            assert 10 <= gap <= longest + 1, (retry, gap)
            gaps_by_retry.setdefault(retry, set()).add(gap)
    assert gaps_by_retry[1] == {10.0}  # the first retry waits exactly retryInterval
    # Full jitter: eight jobs failing together do not come back in lockstep.
    assert len(gaps_by_retry[4]) > 1


def test_max_age_gives_up_and_runs_the_error_action(system: System) -> None:
    system.collection()
    system.executor.outcomes = [False, False, False, True]
    policy = {"retryType": "Fixed", "retryInterval": "PT30S", "retryCount": 10, "maxAge": "PT1M"}
    ref = system.job("aged", {"startTime": "2024-01-01T00:00:00Z", "action": _action(policy, True)})
    _run_for(system, 200)
    entries = system.history(ref)
    assert [(e.action_name, e.retry_count) for e in entries] == [
        (ActionName.MAIN_ACTION, 0),
        (ActionName.MAIN_ACTION, 1),
        (ActionName.MAIN_ACTION, 2),
        (ActionName.ERROR_ACTION, 0),
    ]
    assert entries[-1].status is HistoryStatus.COMPLETED
    assert entries[2].expected_execution_time == T0 + 60 * SECOND  # 90 s would be too old


def test_unlimited_plan_retries_a_second_apart(system: System) -> None:
    system.collection()
    system.executor.outcomes = [False, False, True]
    policy = {"retryType": "Fixed", "retryInterval": "PT1S", "retryCount": 3}
    ref = system.job("fast", {"startTime": "2024-01-01T00:00:00Z", "action": _action(policy)})
    _run_for(system, 3)
    assert [e.expected_execution_time - T0 for e in system.history(ref)] == [
        timedelta(0),
        SECOND,
        2 * SECOND,
    ]


def test_standard_plan_keeps_azures_15_second_floor(system: System) -> None:
    system.collection(sku={"name": "Standard"})
    policy = {"retryType": "Exponential", "retryInterval": "PT1S"}
    with pytest.raises(InvalidDefinition, match=r"retryInterval.*minimum.*Standard"):
        system.job("fast", {"action": _action(policy)})


def test_attempt_timeout_reaches_the_executor(system: System) -> None:
    system.collection()
    ref = system.job("slow", {"startTime": "2024-01-01T00:00:00Z", "attemptTimeout": "PT10M"})
    system.at(T0)
    [(_, context)] = system.executor.calls
    assert context.timeout == 600.0
    assert system.status(ref).definition.attempt_timeout.text == "PT10M"


def test_without_attempt_timeout_the_executor_keeps_its_own(system: System) -> None:
    system.collection()
    system.job("plain", {"startTime": "2024-01-01T00:00:00Z"})
    system.at(T0)
    [(_, context)] = system.executor.calls
    assert context.timeout is None
    assert context.seconds(60.0) == 60.0


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        pytest.param(
            {"action": _action({"retryType": "Fixed", "maxInterval": "PT1M"})},
            "maxInterval",
            id="max-interval-needs-exponential",
        ),
        pytest.param(
            {
                "action": _action(
                    {"retryType": "Exponential", "retryInterval": "PT2M", "maxInterval": "PT1M"}
                )
            },
            "maxInterval",
            id="max-interval-below-interval",
        ),
        pytest.param(
            {"action": _action({"retryType": "Exponential", "maxAge": "PT0S"})},
            "maxAge",
            id="max-age-zero",
        ),
        pytest.param({"attemptTimeout": "PT31M"}, "attemptTimeout", id="timeout-over-30-min"),
        pytest.param({"attemptTimeout": "PT0.5S"}, "attemptTimeout", id="timeout-under-1-s"),
        pytest.param({"attemptTimeout": "soon"}, "attemptTimeout", id="timeout-not-a-duration"),
        pytest.param(
            {"action": _action({"retryType": "Backoff"})}, "retryType", id="unknown-retry-type"
        ),
    ],
)
def test_bad_retry_extensions_are_refused_and_nothing_is_stored(
    system: System, properties: dict[str, Any], field: str
) -> None:
    system.collection()
    with pytest.raises(InvalidDefinition) as raised:
        system.job("bad", properties)
    assert field in str(raised.value)
    assert system.run(system.service.list_jobs(system.collection(), None, None, 0)).items == []
