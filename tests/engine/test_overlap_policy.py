"""``properties.overlapPolicy`` (issue 14, item 6) through the service and the engine on a
fake clock: an every-minute job whose first occurrence hangs for 5 minutes 10 seconds
(five slots come due meanwhile, all but the last past the 60 s misfire grace when it ends),
under each policy; and a run-now asked for while the job's occurrence runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobclock.codec.job import definition_to_json
from jobclock.domain.errors import Conflict, InvalidDefinition
from jobclock.domain.records import OccurrenceKind
from jobclock.refs import JobRef
from tests.system import T0, System

MINUTE = timedelta(minutes=1)
HANG = 5 * MINUTE + timedelta(seconds=10)


def minutely(system: System, policy: str | None) -> JobRef:
    system.collection()
    body: dict[str, object] = {
        "startTime": "2024-01-01T00:00:00Z",
        "recurrence": {"frequency": "Minute", "interval": 1},
    }
    if policy is not None:
        body["overlapPolicy"] = policy
    return system.job("m", body)


def hang_first_occurrence(system: System) -> None:
    """Slot 00:00 starts and its attempt hangs for HANG while the engine steps every 10 s
    (attempts the engine starts meanwhile run at once); then it ends and the engine goes on
    until nothing is due."""
    system.clock.set(T0)
    [first] = system.run(system.engine._schedule(T0, 10))
    step = timedelta(seconds=10)
    moment = T0
    while moment + step <= T0 + HANG:
        moment += step
        system.clock.set(moment)
        for started in system.run(system.engine._schedule(moment, 10)):
            system.run(system.engine._attempt(started))
    system.run(system.engine._attempt(first))
    system.run(system.engine.run_until_idle())


def table(system: System, ref: JobRef) -> list[tuple[timedelta, str]]:
    return [(e.expected_execution_time - T0, e.status.value) for e in system.history(ref)]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (None, [(0 * MINUTE, "Completed"), (MINUTE, "Postponed"), (5 * MINUTE, "Completed")]),
        ("Postpone", [(0 * MINUTE, "Completed"), (MINUTE, "Postponed"), (5 * MINUTE, "Completed")]),
        ("Skip", [(0 * MINUTE, "Completed"), (MINUTE, "Postponed")]),
        ("BufferOne", [(0 * MINUTE, "Completed"), (MINUTE, "Postponed"), (MINUTE, "Completed")]),
        (
            "BufferAll",
            [(0 * MINUTE, "Completed"), (MINUTE, "Postponed")]
            + [(n * MINUTE, "Completed") for n in range(1, 6)],
        ),
        (
            "AllowAll",
            [(n * MINUTE, "Completed") for n in range(1, 6)] + [(0 * MINUTE, "Completed")],
        ),
    ],
)
def test_slots_that_come_due_while_an_occurrence_runs_follow_the_policy(
    system: System, policy: str | None, expected: list[tuple[timedelta, str]]
) -> None:
    ref = minutely(system, policy)
    hang_first_occurrence(system)
    assert table(system, ref) == expected
    # Whatever the policy, the series goes on at its first slot after the hang.
    assert system.status(ref).status.next_execution_time == T0 + 6 * MINUTE
    if policy in ("Skip", "BufferOne", "BufferAll"):
        [postponed] = [e for e in system.history(ref) if e.status.value == "Postponed"]
        assert "5 occurrences" in postponed.message
        assert f"overlapPolicy {policy}" in postponed.message


def test_the_policy_is_echoed_and_checked(system: System) -> None:
    ref = minutely(system, "BufferAll")
    assert definition_to_json(system.status(ref).definition)["overlapPolicy"] == "BufferAll"
    plain = system.job("plain", {"recurrence": {"frequency": "Hour"}})
    assert "overlapPolicy" not in definition_to_json(system.status(plain).definition)
    with pytest.raises(InvalidDefinition, match="overlapPolicy"):
        system.job("bad", {"recurrence": {"frequency": "Hour"}, "overlapPolicy": "Sometimes"})


def run_now_while_busy(system: System, policy: str | None) -> tuple[JobRef, object]:
    ref = minutely(system, policy)
    system.clock.set(T0)
    [first] = system.run(system.engine._schedule(T0, 10))  # 00:00 runs, for long
    system.clock.set(T0 + timedelta(seconds=20))
    return ref, first


def test_a_run_now_while_a_skip_jobs_occurrence_runs_is_refused_and_stores_nothing(
    system: System,
) -> None:
    ref, _ = run_now_while_busy(system, "Skip")
    with pytest.raises(Conflict, match="overlapPolicy is 'Skip'"):
        system.run(system.service.run_job(ref))
    assert runs_claimed(system) == []


def runs_claimed(system: System) -> list[object]:
    """The run-now attempts the engine starts now (this test's hanging attempt is not
    really running, so the engine may take it over as well: it is left out)."""
    claimed = system.run(system.engine._claim_attempts(system.clock.now(), 10))
    return [item for item in claimed if item.occurrence.kind is OccurrenceKind.RUN]


@pytest.mark.parametrize("policy", ["Postpone", "BufferOne", "BufferAll"])
def test_a_run_now_waits_for_the_running_occurrence_when_a_policy_is_set(
    system: System, policy: str
) -> None:
    ref, first = run_now_while_busy(system, policy)
    system.run(system.service.run_job(ref))
    for seconds in (20, 21, 25):  # looked at, and left waiting, while 00:00 runs
        system.clock.set(T0 + timedelta(seconds=seconds))
        assert runs_claimed(system) == []
    system.clock.set(T0 + timedelta(seconds=30))
    system.run(system.engine._attempt(first))  # 00:00 ends
    system.run(system.engine.run_until_idle())
    system.at(T0 + timedelta(seconds=32))
    kinds = [(e.expected_execution_time - T0, e.status.value) for e in system.history(ref)]
    assert kinds == [(timedelta(0), "Completed"), (timedelta(seconds=20), "Completed")]
    assert len(system.executor.calls) == 2


@pytest.mark.parametrize("policy", [None, "AllowAll"])
def test_a_run_now_runs_at_once_beside_it_without_a_policy_or_with_allow_all(
    system: System, policy: str | None
) -> None:
    ref, _ = run_now_while_busy(system, policy)
    system.run(system.service.run_job(ref))
    assert len(runs_claimed(system)) == 1
