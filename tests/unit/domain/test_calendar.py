"""Holiday calendars (issue 14, item 4): an occurrence on a holiday is skipped, or rolled to
the next or previous business day at the same wall time, and runs that land on one instant
run once.

The oracle is written the slow, obvious way: list the series' slots without the calendar,
map each one day by day with plain ``datetime`` arithmetic in the calendar's zone, and
de-duplicate. The engine's search (which never lists a series) must give the same runs from
any instant, for every kind of recurrence and in zones with daylight-saving changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobclock.codec.recurrence import recurrence_from_json
from jobclock.domain.calendar import Calendar, CalendarRef, OnHoliday, check_calendar
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.occurrences import latest_at_or_before, next_occurrence, occurrences
from jobclock.domain.recurrence import Recurrence

START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 6, 1, tzinfo=UTC)
MARGIN = timedelta(days=12)  # longer than any stretch of holidays below

# Dutch-style holidays: Easter, King's Day, Ascension, Whit Monday; and a long bridge.
DATES = (
    date(2024, 3, 29),
    date(2024, 3, 31),
    date(2024, 4, 1),
    date(2024, 4, 27),
    date(2024, 5, 9),
    date(2024, 5, 10),
    date(2024, 5, 20),
)
WEEKEND = (5, 6)

BODIES = [
    {"frequency": "Day", "interval": 1, "schedule": {"hours": [9], "minutes": [30]}},
    {"frequency": "Hour", "interval": 5},
    {"cron": "15 2,14 * * *", "timeZone": "Europe/Amsterdam"},  # 02:15 is in the March gap
    {"cron": "0 18 * * FRI", "timeZone": "America/New_York"},
    {"rrule": "FREQ=WEEKLY;BYDAY=SA,MO;BYHOUR=7;BYMINUTE=0", "timeZone": "Australia/Lord_Howe"},
    {"frequency": "Minute", "interval": 97},
    {
        "frequency": "Month",
        "interval": 1,
        "schedule": {"monthDays": [1, -1], "hours": [23], "minutes": [45]},
        "timeZone": "Europe/Amsterdam",
    },
]
CALENDARS = [
    Calendar(DATES, WEEKEND),
    Calendar(DATES, (), "Europe/Amsterdam"),
    Calendar((), (5, 6), "Asia/Tokyo"),  # another zone than the job's
]


def on(body: dict[str, object], calendar: Calendar, policy: OnHoliday) -> Recurrence:
    plain = recurrence_from_json(body)
    return replace(plain, calendar=CalendarRef("holidays", policy)).on_calendar(calendar)


def oracle(
    body: dict[str, object], calendar: Calendar, policy: OnHoliday, end: datetime = END
) -> list[datetime]:
    """The runs in [START, ``end``): every slot, moved day by day, de-duplicated."""
    plain = recurrence_from_json(body)
    zone = ZoneInfo(calendar.time_zone or plain.time_zone)
    runs = set()
    for slot in occurrences(plain, START, START):
        if slot >= end + MARGIN:
            break
        wall = slot.astimezone(zone)
        day = wall.date()
        if not calendar.is_holiday(day):
            runs.add(slot)
            continue
        if policy is OnHoliday.SKIP:
            continue
        step = timedelta(days=1 if policy is OnHoliday.NEXT else -1)
        while calendar.is_holiday(day):
            day += step
        local = datetime.combine(day, time(wall.hour, wall.minute, wall.second), tzinfo=zone)
        runs.add(local.astimezone(UTC))
    return sorted(run for run in runs if START <= run < end)


CASES = [
    (body, calendar, policy) for body in BODIES for calendar in CALENDARS for policy in OnHoliday
]


def case_id(case: tuple[dict[str, object], Calendar, OnHoliday]) -> str:
    body, calendar, policy = case
    kind = str(body.get("cron") or body.get("rrule") or body.get("frequency"))
    return f"{kind[:24]}-{calendar.time_zone or 'own'}-{policy.value}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_series_is_the_slots_moved_day_by_day(
    case: tuple[dict[str, object], Calendar, OnHoliday],
) -> None:
    body, calendar, policy = case
    recurrence = on(body, calendar, policy)
    found = _until(occurrences(recurrence, START, START), END)
    expected = oracle(body, calendar, policy)
    assert found == expected
    assert found == sorted(set(found))
    zone = ZoneInfo(calendar.time_zone or recurrence.time_zone)
    assert not any(calendar.is_holiday(run.astimezone(zone).date()) for run in found)


def _until(runs: Iterator[datetime], end: datetime) -> list[datetime]:
    found = []
    for run in runs:
        if run >= end:
            break
        found.append(run)
    return found


@settings(max_examples=300, deadline=None)
@given(
    case=st.sampled_from(CASES),
    offset=st.integers(min_value=0, max_value=int((END - START - MARGIN).total_seconds())),
)
def test_the_next_run_from_any_instant_is_the_first_run_at_or_after_it(
    case: tuple[dict[str, object], Calendar, OnHoliday], offset: int
) -> None:
    body, calendar, policy = case
    recurrence = on(body, calendar, policy)
    instant = START + timedelta(seconds=offset, microseconds=offset % 7)
    horizon = END + timedelta(days=70)
    runs = oracle(body, calendar, policy, horizon)
    expected = next((run for run in runs if run >= instant), None)
    found = next_occurrence(recurrence, START, instant)
    if expected is None:  # none within the horizon (a Friday evening in New York is
        assert found is None or found >= horizon  # Saturday in Tokyo: skipped, always)
    else:
        assert found == expected
    before = [run for run in runs if run <= instant]
    if before:
        assert latest_at_or_before(recurrence, START, instant) == before[-1]


def test_a_weekend_rolled_to_monday_runs_once_with_mondays_own() -> None:
    daily = {"frequency": "Day", "interval": 1, "schedule": {"hours": [10], "minutes": [0]}}
    recurrence = on(daily, Calendar((), WEEKEND), OnHoliday.NEXT)
    friday = datetime(2024, 3, 8, 10, tzinfo=UTC)
    runs = list(islice(occurrences(recurrence, friday, friday), 3))
    assert runs == [friday, friday + timedelta(days=3), friday + timedelta(days=4)]


def test_previous_rolls_a_weekend_run_back_to_friday() -> None:
    weekly = {"cron": "0 8 * * SAT"}
    recurrence = on(weekly, Calendar((), WEEKEND), OnHoliday.PREVIOUS)
    start = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
    assert list(islice(occurrences(recurrence, start, start), 2)) == [
        datetime(2024, 3, 8, 8, tzinfo=UTC),
        datetime(2024, 3, 15, 8, tzinfo=UTC),
    ]


def test_skip_on_a_calendar_that_covers_every_slot_ends_the_series() -> None:
    weekly = {"cron": "0 8 * * SAT"}
    recurrence = on(weekly, Calendar((), WEEKEND), OnHoliday.SKIP)
    assert next_occurrence(recurrence, START, START) is None


def test_a_calendar_without_its_holidays_attached_changes_nothing() -> None:
    body = BODIES[0]
    plain = recurrence_from_json(body)
    named = replace(plain, calendar=CalendarRef("holidays"))
    assert list(islice(occurrences(named, START, START), 50)) == list(
        islice(occurrences(plain, START, START), 50)
    )


def test_a_calendar_must_leave_a_business_day() -> None:
    with pytest.raises(InvalidDefinition, match="seven"):
        check_calendar(Calendar((), tuple(range(7))))
    check_calendar(Calendar(DATES, tuple(range(6))))
