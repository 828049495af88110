"""Holiday calendars through the service and the engine on a fake clock (issue 14, item 4):
jobs skip or roll their holiday occurrences as the calendar says; replacing a calendar moves
the next run of every job that follows it, in one write; and every refused write (an
unknown calendar, a calendar in use, a change that would leave a job no run) stores nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobclock.codec.job import definition_to_json
from jobclock.domain.errors import Conflict, InvalidDefinition, NotFound
from jobclock.domain.history import HistoryStatus
from jobclock.refs import CollectionRef, JobRef
from tests.system import T0, System

DAY = timedelta(days=1)
NINE = timedelta(hours=9)
WEEKEND = {"properties": {"weekDays": ["Saturday", "Sunday"]}}
DAILY = {"frequency": "Day", "interval": 1, "schedule": {"hours": [9], "minutes": [0]}}


def put_calendar(system: System, name: str, body: Any, collection: str = "jc") -> Any:
    ref = CollectionRef("sub", "rg", collection)
    return system.run(system.service.calendars.put(ref, name, body))


def calendar_job(system: System, name: str, on_holiday: str = "skip", **recurrence: Any) -> JobRef:
    body = {**(recurrence or DAILY), "calendar": {"name": "off", "onHoliday": on_holiday}}
    return system.job(name, {"startTime": "2024-01-01T00:00:00Z", "recurrence": body})


def ran(system: System, ref: JobRef) -> list[datetime]:
    return [
        entry.expected_execution_time
        for entry in system.history(ref)
        if entry.status is HistoryStatus.COMPLETED
    ]


def walk(system: System, until: datetime) -> None:
    """Tick the engine at every hour up to ``until``."""
    moment = system.clock.now()
    while moment <= until:
        system.at(moment)
        moment += timedelta(hours=1)


def test_skip_next_and_previous_through_two_weeks(system: System) -> None:
    system.collection()
    # T0 is Monday 2024-01-01; New Year's Day and Friday the 12th are listed too.
    put_calendar(
        system,
        "off",
        {"properties": {"dates": ["2024-01-01", "2024-01-12"], **WEEKEND["properties"]}},
    )
    # Friday and Saturday at 09:00: the Saturdays and the 12th are holidays.
    skip = calendar_job(system, "skip", cron="0 9 * * FRI,SAT")
    forward = calendar_job(system, "forward", "next", cron="0 9 * * FRI,SAT")
    back = calendar_job(system, "back", "previous", cron="0 9 * * FRI,SAT")
    daily = calendar_job(system, "daily", "next")
    walk(system, T0 + 14 * DAY + 10 * timedelta(hours=1))
    days = lambda ref: [(run - T0).days for run in ran(system, ref)]  # noqa: E731
    assert days(skip) == [4]  # Friday the 5th
    # Saturday the 6th rolls to Monday the 8th; the 12th and 13th to Monday the 15th.
    assert days(forward) == [4, 7, 14]
    # The 6th rolls back onto the 5th's own run (once); the 12th and 13th to the 11th.
    assert days(back) == [4, 10]
    # A daily job's rolled runs meet the business days' own: each runs once. The 1st has
    # no business day before it in the job's life, so it rolls to the 2nd.
    assert days(daily) == [1, 2, 3, 4, 7, 8, 9, 10, 14]
    assert all(run.hour == 9 for run in ran(system, forward) + ran(system, back))
    for ref in (skip, forward, back, daily):
        assert len(system.history(ref)) == len(set(ran(system, ref)))


def test_the_wire_shows_the_calendar_by_name_only(system: System) -> None:
    system.collection()
    put_calendar(system, "off", WEEKEND)
    ref = calendar_job(system, "j", "next")
    recurrence = definition_to_json(system.status(ref).definition)["recurrence"]
    assert recurrence["calendar"] == {"name": "off", "onHoliday": "next"}
    assert "$holidays" not in str(definition_to_json(system.status(ref).definition))


def test_replacing_a_calendar_moves_its_jobs_next_runs(system: System) -> None:
    system.collection()
    put_calendar(system, "off", WEEKEND)
    ref = calendar_job(system, "j")
    other = system.job("plain", {"startTime": "2024-01-01T00:00:00Z", "recurrence": DAILY})
    system.at(T0 + NINE)  # Monday's run
    assert system.status(ref).status.next_execution_time == T0 + DAY + NINE
    view, created = put_calendar(
        system, "off", {"properties": {"dates": ["2024-01-02"], "weekDays": ["Saturday"]}}
    )
    assert not created
    assert view.jobs == ("j",)
    # Tuesday is now a holiday: the next run is Wednesday's; the other job did not move.
    assert system.status(ref).status.next_execution_time == T0 + 2 * DAY + NINE
    assert system.status(other).status.next_execution_time == T0 + DAY + NINE
    walk(system, T0 + 7 * DAY)
    assert [(run - T0).days for run in ran(system, ref)] == [0, 2, 3, 4, 6]  # Sunday works


def test_a_job_naming_no_calendar_of_its_collection_is_refused(system: System) -> None:
    system.collection()
    system.collection("other")
    put_calendar(system, "off", WEEKEND, collection="other")
    with pytest.raises(InvalidDefinition, match="has no calendar 'off'") as caught:
        calendar_job(system, "j")
    assert caught.value.field == "recurrence.calendar.name"
    with pytest.raises(NotFound):
        system.status(JobRef(CollectionRef("sub", "rg", "jc"), "j"))


def test_a_job_that_would_never_run_is_refused(system: System) -> None:
    system.collection()
    put_calendar(system, "off", WEEKEND)
    saturday = {"cron": "0 9 * * SAT"}
    with pytest.raises(InvalidDefinition, match="never run"):
        calendar_job(system, "j", "skip", **saturday)
    ref = calendar_job(system, "j", "next", **saturday)  # rolled to Monday, it runs
    assert system.status(ref).status.next_execution_time == T0 + 7 * DAY + NINE


def test_a_calendar_change_that_leaves_a_job_no_run_stores_nothing(system: System) -> None:
    system.collection()
    put_calendar(system, "off", {"properties": {"weekDays": ["Sunday"]}})
    ref = calendar_job(system, "j", "skip", cron="0 9 * * SAT")
    before = system.status(ref).status.next_execution_time
    with pytest.raises(InvalidDefinition, match="'j' would never run again"):
        put_calendar(system, "off", WEEKEND)
    view = system.run(system.service.calendars.get(CollectionRef("sub", "rg", "jc"), "OFF"))
    assert view.calendar.week_days == (6,)
    assert system.status(ref).status.next_execution_time == before


def test_a_calendar_in_use_cannot_be_deleted(system: System) -> None:
    collection = system.collection()
    put_calendar(system, "off", WEEKEND)
    ref = calendar_job(system, "j")
    with pytest.raises(Conflict, match="followed by 1 job"):
        system.run(system.service.calendars.delete(collection, "off"))
    assert [v.name for v in system.run(system.service.calendars.list_all(collection))] == ["off"]
    system.run(system.service.delete_job(ref))
    system.run(system.service.calendars.delete(collection, "off"))
    assert system.run(system.service.calendars.list_all(collection)) == []
    with pytest.raises(NotFound):
        system.run(system.service.calendars.get(collection, "off"))


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"properties": {"weekDays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                      "Saturday", "Sunday"]}}, "seven"),
        ({"properties": {"dates": ["2024-02-30"]}}, r"dates\[0\]"),
        ({"properties": {"dates": ["24-1-1"]}}, r"dates\[0\]"),
        ({"properties": {"dates": [20240101]}}, r"dates\[0\]"),
        ({"properties": {"weekDays": ["Caturday"]}}, "weekDays"),
        ({"properties": {"timeZone": "Mars/Olympus"}}, "timeZone"),
        ({"properties": {"holidays": []}}, "holidays"),
        ({"properties": {"dates": [f"2024-01-{d:02d}" for d in range(1, 32)] * 70}}, None),
        ([], None),
        ({}, "properties"),
    ],
    ids=["all-week", "feb-30", "short", "number", "caturday", "zone", "unknown", "repeats",
         "array", "empty"],
)  # fmt: skip
def test_a_bad_calendar_body_is_a_clear_400_and_stores_nothing(
    system: System, body: Any, match: str | None
) -> None:
    collection = system.collection()
    if match is None and isinstance(body, dict):
        put_calendar(system, "c", body)  # 2,170 dates, 31 of them distinct: fine
        return
    with pytest.raises(InvalidDefinition, match=match):
        put_calendar(system, "c", body)
    assert system.run(system.service.calendars.list_all(collection)) == []


def test_a_calendar_in_its_own_zone(system: System) -> None:
    system.collection()
    # Tokyo's Saturday starts at 15:00 UTC on Friday: a 16:00 UTC Friday run is skipped.
    put_calendar(system, "off", {"properties": {"timeZone": "Asia/Tokyo", **WEEKEND["properties"]}})
    ref = calendar_job(system, "j", cron="0 16 * * *")
    walk(system, T0 + 7 * DAY)
    assert [run.strftime("%a") for run in ran(system, ref)] == ["Mon", "Tue", "Wed", "Thu", "Sun"]
    assert ran(system, ref)[0] == datetime(2024, 1, 1, 16, tzinfo=UTC)


def test_preview_of_an_unsaved_body_follows_the_calendar(system: System) -> None:
    collection = system.collection()
    put_calendar(system, "off", WEEKEND)
    body = {
        "properties": {
            "action": {"type": "Http", "request": {"uri": "http://127.0.0.1/", "method": "GET"}},
            "startTime": "2024-01-05T00:00:00Z",
            "recurrence": {**DAILY, "calendar": {"name": "off", "onHoliday": "next"}},
        }
    }
    runs = system.run(system.service.preview_new_job(collection, body, 3))
    assert [run.strftime("%a %d") for run in runs] == ["Fri 05", "Mon 08", "Tue 09"]


def test_explain_names_the_holiday_and_what_became_of_it(system: System) -> None:
    system.collection()
    put_calendar(system, "off", {"properties": {"dates": ["2024-01-03"], **WEEKEND["properties"]}})
    skip = calendar_job(system, "skip")
    forward = calendar_job(system, "forward", "next", cron="0 9 * * WED")
    wednesday = T0 + 2 * DAY + NINE
    found = system.run(system.service.explain_job(skip, wednesday))
    assert found.outcome == "notScheduled"
    assert "2024-01-03 is a holiday in the calendar 'off' (2024-01-03 is listed in its dates)" in (
        " ".join(found.reasons)
    )
    assert "leaves the occurrence out" in " ".join(found.reasons)
    saturday = T0 + 5 * DAY + NINE
    weekend = " ".join(system.run(system.service.explain_job(skip, saturday)).reasons)
    assert "Saturday is one of its weekDays" in weekend
    moved = " ".join(system.run(system.service.explain_job(forward, wednesday)).reasons)
    assert "runs the occurrence on 2024-01-04 at the same wall time instead" in moved
    # Thursday's run is there only because of the calendar; the explanation says so.
    thursday = system.run(system.service.explain_job(forward, T0 + 3 * DAY + NINE))
    assert (thursday.exact, thursday.outcome) == (True, "upcoming")
    assert "moves the occurrences of holidays to the next business day" in thursday.reasons[0]
