"""``explain`` (issue 14, item 8) through the service and the engine on a fake clock: what
became of the occurrence at an instant, or why there was none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobclock.domain.explain import Explanation
from jobclock.refs import JobRef
from tests.system import T0, System

MINUTE = timedelta(minutes=1)


def explain(system: System, ref: JobRef, at: datetime) -> Explanation:
    found: Explanation = system.run(system.service.explain_job(ref, at))
    return found


def job(system: System, name: str, **properties: Any) -> JobRef:
    return system.job(name, {"startTime": "2024-01-01T00:00:00Z", **properties})


def text(found: Explanation) -> str:
    return " ".join(found.reasons)


def test_an_occurrence_that_ran_is_its_history_entry(system: System) -> None:
    system.collection()
    ref = job(system, "m", recurrence={"frequency": "Minute"})
    system.at(T0)
    system.at(T0 + MINUTE)
    found = explain(system, ref, T0 + MINUTE)
    assert (found.outcome, found.exact, found.occurrence) == ("ran", True, T0 + MINUTE)
    assert found.entry is not None
    assert found.entry.expected_execution_time == T0 + MINUTE
    assert "ended Completed" in text(found)
    # Between two slots: none at T; the nearest one is named.
    between = explain(system, ref, T0 + MINUTE + timedelta(seconds=20))
    assert between.outcome == "notScheduled"
    assert between.occurrence == T0 + MINUTE
    assert (between.previous, between.next) == (T0 + MINUTE, T0 + 2 * MINUTE)


def test_a_slot_missed_while_the_service_was_down(system: System) -> None:
    system.collection()
    ref = job(system, "m", recurrence={"frequency": "Minute"})
    system.at(T0)
    system.at(T0 + 10 * MINUTE + timedelta(seconds=30))  # down from 00:00 to 00:10:30
    found = explain(system, ref, T0 + 5 * MINUTE)
    assert (found.outcome, found.exact) == ("missed", True)
    assert "misfire grace" in text(found)


def test_a_slot_that_overlapped_points_at_its_postponed_entry(system: System) -> None:
    system.collection()
    ref = job(system, "m", recurrence={"frequency": "Minute"})
    system.clock.set(T0)
    [first] = system.run(system.engine._schedule(T0, 10))
    system.clock.set(T0 + 3 * MINUTE + timedelta(seconds=5))
    system.run(system.engine._attempt(first))  # 00:00 ran past 00:01, 00:02 and 00:03
    system.run(system.engine.run_until_idle())
    found = explain(system, ref, T0 + 2 * MINUTE)
    assert found.outcome == "overlapped"
    assert "still running" in text(found)
    assert found.entry is not None
    assert found.entry.status.value == "Postponed"
    assert explain(system, ref, T0 + 3 * MINUTE).outcome == "ran"  # the latest ran


def test_upcoming_and_not_run_because_disabled_or_counted(system: System) -> None:
    system.collection()
    ref = job(system, "m", recurrence={"frequency": "Minute", "count": 2})
    assert explain(system, ref, T0).outcome == "due"  # now, not yet claimed
    ahead = explain(system, ref, T0 + MINUTE)
    assert (ahead.outcome, text(ahead)) == (
        "upcoming",
        "It is ahead; the job runs it when it comes due.",
    )
    system.at(T0)
    assert text(explain(system, ref, T0 + MINUTE)) == "It is the job's next run."
    system.at(T0 + MINUTE)
    counted = explain(system, ref, T0 + 5 * MINUTE)
    assert counted.outcome == "notRun"
    assert "count (2) is reached" in text(counted)
    other = job(system, "off", recurrence={"frequency": "Minute"}, state="Disabled")
    off = explain(system, other, T0 + 10 * MINUTE)
    assert off.outcome == "notRun"
    assert "the job is Disabled" in text(off)


@pytest.mark.parametrize(
    ("properties", "at", "expected"),
    [
        (
            {"recurrence": {"frequency": "Day", "schedule": {"hours": [9], "minutes": [0]}}},
            datetime(2024, 1, 3, 10, 0, tzinfo=UTC),
            "'schedule.hours' [9] has no 10",
        ),
        (
            {"recurrence": {"frequency": "Week", "schedule": {"weekDays": ["Monday"]}}},
            datetime(2024, 1, 3, 0, 0, tzinfo=UTC),
            "'schedule.weekDays' ['Monday'] has no Wednesday",
        ),
        (
            {"recurrence": {"cron": "0 9 * * MON-FRI"}},
            datetime(2024, 1, 6, 9, 0, tzinfo=UTC),
            "the day fields leave out day 6 (Saturday)",
        ),
        (
            {"recurrence": {"cron": "0 9 * * MON-FRI"}},
            datetime(2024, 1, 5, 9, 30, tzinfo=UTC),
            "the minute field has no 30",
        ),
        (
            {"recurrence": {"frequency": "Hour", "endTime": "2024-01-01T05:00:00Z"}},
            datetime(2024, 1, 1, 7, 0, tzinfo=UTC),
            "after the recurrence's endTime",
        ),
        (
            {"recurrence": {"frequency": "Hour", "exdates": ["2024-01-01T03:00:00Z"]}},
            datetime(2024, 1, 1, 3, 0, tzinfo=UTC),
            "exdates leave it out",
        ),
        (
            {"recurrence": {"frequency": "Hour"}},
            datetime(2023, 12, 31, 23, 0, tzinfo=UTC),
            "before the job's start",
        ),
        (
            {"recurrence": {"rrule": "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=18"}},
            datetime(2024, 1, 19, 18, 0, tzinfo=UTC),
            "has no occurrence then",
        ),
    ],
    ids=lambda value: str(value)[:30],
)
def test_why_there_was_no_occurrence(
    system: System, properties: dict[str, Any], at: datetime, expected: str
) -> None:
    system.collection()
    ref = job(system, "j", **properties)
    found = explain(system, ref, at)
    assert not found.exact
    assert found.outcome == "notScheduled"
    assert expected in text(found), found.reasons


def test_a_dst_gap_near_the_instant_is_named_with_the_policy(system: System) -> None:
    system.clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    system.collection()
    ref = system.job(
        "gap",
        {
            "startTime": "2026-03-20T00:00:00Z",
            "recurrence": {
                "cron": "30 2 * * *",
                "timeZone": "Europe/Amsterdam",
                "dstPolicy": {"gap": "skip"},
            },
        },
    )
    # 02:30 does not exist in Amsterdam on 29 March 2026; with "skip" that day has none.
    found = explain(system, ref, datetime(2026, 3, 29, 1, 30, tzinfo=UTC))  # 03:30 CEST
    assert not found.exact
    assert "changes its offset near it (UTC+01:00 to UTC+02:00)" in text(found)
    assert "dstPolicy.gap 'skip'" in text(found)
    assert found.previous == datetime(2026, 3, 28, 1, 30, tzinfo=UTC)
    assert found.next == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)
