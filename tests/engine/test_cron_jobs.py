"""Cron jobs through the service and the engine on a fake clock (issue 14): stored and
echoed as given, fired at the expression's instants in the job's zone, refused where the
plan or the body's shape does not allow them, and switched to and from Azure's recurrence
by a PATCH."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobclock.codec.job import definition_to_json
from jobclock.domain.errors import InvalidDefinition, QuotaExceeded
from jobclock.domain.history import HistoryStatus
from tests.system import T0, System

HOUR = timedelta(hours=1)


def test_a_cron_job_fires_at_the_expressions_instants_in_its_zone(system: System) -> None:
    system.collection()
    # T0 is Monday 1 January 2024; 09:00 in Amsterdam is 08:00Z in winter.
    ref = system.job(
        "weekdays",
        {
            "startTime": "2024-01-01T00:00:00Z",
            "recurrence": {"cron": "0 9 * * MON-FRI", "timeZone": "Europe/Amsterdam"},
        },
    )
    job = system.status(ref)
    assert job.status.next_execution_time == T0 + 8 * HOUR
    assert system.at(T0 + 8 * HOUR - timedelta(seconds=1)) == 0
    assert system.at(T0 + 8 * HOUR) == 1
    assert system.status(ref).status.next_execution_time == T0 + 32 * HOUR  # Tuesday
    # Friday's run, then Monday's: the weekend has none.
    for day in range(1, 5):
        system.at(T0 + day * 24 * HOUR + 8 * HOUR)
    assert system.status(ref).status.next_execution_time == T0 + 7 * 24 * HOUR + 8 * HOUR
    entries = system.history(ref)
    assert [entry.status for entry in entries] == [HistoryStatus.COMPLETED] * 5
    recurrence = definition_to_json(system.status(ref).definition)["recurrence"]
    assert recurrence == {"cron": "0 9 * * MON-FRI", "timeZone": "Europe/Amsterdam"}


def test_count_ends_a_cron_job(system: System) -> None:
    system.collection()
    ref = system.job(
        "twice",
        {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"cron": "@hourly", "count": 2}},
    )
    for hour in range(4):
        system.at(T0 + hour * HOUR)
    job = system.status(ref)
    assert job.status.execution_count == 2
    assert job.state.value == "Completed"


def test_a_cron_job_without_a_start_time_runs_at_its_next_instant(system: System) -> None:
    system.clock.set(T0 + timedelta(minutes=7))
    system.collection()
    ref = system.job("quarter", {"recurrence": {"cron": "*/15 * * * *"}})
    assert system.status(ref).status.next_execution_time == T0 + timedelta(minutes=15)


def test_cron_excludes_azures_recurrence_fields(system: System) -> None:
    system.collection()
    with pytest.raises(InvalidDefinition, match="replaces 'frequency'"):
        system.job("mixed", {"recurrence": {"cron": "* * * * *", "frequency": "Minute"}})
    with pytest.raises(InvalidDefinition, match="never matches a day"):
        system.job("never", {"recurrence": {"cron": "0 0 30 2 *"}})


def test_the_plan_limits_a_cron_job(system: System) -> None:
    ref = system.collection("std", sku={"name": "Standard"})
    assert ref.name == "std"
    with pytest.raises(QuotaExceeded, match="fires within a minute"):
        system.job("seconds", {"recurrence": {"cron": "0 0 0 * * *"}}, collection="std")
    system.job("minutes", {"recurrence": {"cron": "* * * * *"}}, collection="std")
    system.collection("free", sku={"name": "Free"})  # at most hourly
    with pytest.raises(QuotaExceeded, match="every 30 minutes"):
        system.job("often", {"recurrence": {"cron": "0,30 9 * * *"}}, collection="free")
    system.job("hourly", {"recurrence": {"cron": "0 * * * *"}}, collection="free")


def test_a_patch_switches_between_azures_recurrence_and_cron(system: System) -> None:
    system.collection()
    ref = system.job(
        "switch",
        {
            "startTime": "2024-01-01T00:00:00Z",
            "recurrence": {"frequency": "Hour", "interval": 2, "schedule": {"minutes": [5]}},
        },
    )
    system.run(
        system.service.patch_job(ref, {"properties": {"recurrence": {"cron": "30 * * * *"}}})
    )
    recurrence = definition_to_json(system.status(ref).definition)["recurrence"]
    assert recurrence == {"cron": "30 * * * *"}
    system.run(system.service.patch_job(ref, {"properties": {"recurrence": {"frequency": "Day"}}}))
    recurrence = definition_to_json(system.status(ref).definition)["recurrence"]
    assert recurrence == {"frequency": "Day", "interval": 1}
