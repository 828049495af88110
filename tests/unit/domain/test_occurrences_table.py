"""Table tests of the recurrence engine: every row of §4.5, §4.6 and §4.9, and the edges."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from jobclock.codec.recurrence import recurrence_from_json
from jobclock.domain.occurrences import next_occurrence, occurrences, preview

START_2024 = datetime(2024, 1, 1, 8, 30, tzinfo=UTC)  # a Monday


def utc(text: str) -> datetime:
    """'2024-01-02 05:30' or '2024-01-02 05:30:15' → an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def run(recurrence: dict[str, Any], start: str, now: str | None = None, n: int = 5) -> list[str]:
    parsed = recurrence_from_json(recurrence)
    found = preview(parsed, utc(start), utc(now or start), n)
    return [value.strftime("%Y-%m-%d %H:%M") for value in found]


# §4.5: start = creation = 2024-01-01T08:30:00Z, interval 1; "MM-DD HH:MM" in 2024 unless shown.
SECTION_4_5 = [
    ("01-day-hours-5", "Day", {"hours": [5]}, ["01-02 05:30", "01-03 05:30", "01-04 05:30", "01-05 05:30", "01-06 05:30"]),
    ("02-day-5h15", "Day", {"minutes": [15], "hours": [5]}, ["01-02 05:15", "01-03 05:15", "01-04 05:15", "01-05 05:15", "01-06 05:15"]),
    ("03-day-5h15-17h15", "Day", {"minutes": [15], "hours": [5, 17]}, ["01-01 17:15", "01-02 05:15", "01-02 17:15", "01-03 05:15", "01-03 17:15"]),
    ("04-day-four-slots", "Day", {"minutes": [15, 45], "hours": [5, 17]}, ["01-01 17:15", "01-01 17:45", "01-02 05:15", "01-02 05:45", "01-02 17:15"]),
    ("05-day-every-15-minutes", "Day", {"minutes": [0, 15, 30, 45]}, ["01-01 08:30", "01-01 08:45", "01-01 09:00", "01-01 09:15", "01-01 09:30"]),
    ("06-day-every-hour", "Day", {"hours": list(range(24))}, ["01-01 08:30", "01-01 09:30", "01-01 10:30", "01-01 11:30", "01-01 12:30"]),
    ("07-day-minutes-0-is-hourly", "Day", {"minutes": [0]}, ["01-01 09:00", "01-01 10:00", "01-01 11:00", "01-01 12:00", "01-01 13:00"]),
    ("08-day-minutes-15-is-hourly", "Day", {"minutes": [15]}, ["01-01 09:15", "01-01 10:15", "01-01 11:15", "01-01 12:15", "01-01 13:15"]),
    ("09-week-saturday-17h", "Week", {"hours": [17], "weekDays": ["saturday"]}, ["01-06 17:30", "01-13 17:30", "01-20 17:30", "01-27 17:30", "02-03 17:30"]),
    ("10-week-mwf-17h", "Week", {"hours": [17], "weekDays": ["monday", "wednesday", "friday"]}, ["01-01 17:30", "01-03 17:30", "01-05 17:30", "01-08 17:30", "01-10 17:30"]),
    ("11-week-mwf-17h15-17h45", "Week", {"minutes": [15, 45], "hours": [17], "weekDays": ["monday", "wednesday", "friday"]}, ["01-01 17:15", "01-01 17:45", "01-03 17:15", "01-03 17:45", "01-05 17:15"]),
    ("12-week-mwf-5h-17h", "Week", {"hours": [5, 17], "weekDays": ["monday", "wednesday", "friday"]}, ["01-01 17:30", "01-03 05:30", "01-03 17:30", "01-05 05:30", "01-05 17:30"]),
    ("13-week-mwf-four-slots", "Week", {"minutes": [15, 45], "hours": [5, 17], "weekDays": ["monday", "wednesday", "friday"]}, ["01-01 17:15", "01-01 17:45", "01-03 05:15", "01-03 05:45", "01-03 17:15"]),
    ("14-week-weekdays-every-15", "Week", {"minutes": [0, 15, 30, 45], "weekDays": ["monday", "tuesday", "wednesday", "thursday", "friday"]}, ["01-01 08:30", "01-01 08:45", "01-01 09:00", "01-01 09:15", "01-01 09:30"]),
    ("15-week-weekdays-office-hours", "Week", {"minutes": [0, 15, 30, 45], "hours": [9, 10, 11, 12, 13, 14, 15, 16], "weekDays": ["monday", "tuesday", "wednesday", "thursday", "friday"]}, ["01-01 09:00", "01-01 09:15", "01-01 09:30", "01-01 09:45", "01-01 10:00"]),
    ("16-week-sundays", "Week", {"weekDays": ["sunday"]}, ["01-07 08:30", "01-14 08:30", "01-21 08:30", "01-28 08:30", "02-04 08:30"]),
    ("17-week-tue-thu", "Week", {"weekDays": ["tuesday", "thursday"]}, ["01-02 08:30", "01-04 08:30", "01-09 08:30", "01-11 08:30", "01-16 08:30"]),
    ("18-month-28th-6am", "Month", {"minutes": [0], "hours": [6], "monthDays": [28]}, ["01-28 06:00", "02-28 06:00", "03-28 06:00", "04-28 06:00", "05-28 06:00"]),
    ("19-month-last-day-6am", "Month", {"minutes": [0], "hours": [6], "monthDays": [-1]}, ["01-31 06:00", "02-29 06:00", "03-31 06:00", "04-30 06:00", "05-31 06:00"]),
    ("20-month-first-and-last-6am", "Month", {"minutes": [0], "hours": [6], "monthDays": [1, -1]}, ["01-31 06:00", "02-01 06:00", "02-29 06:00", "03-01 06:00", "03-31 06:00"]),
    ("21-month-first-and-last", "Month", {"monthDays": [1, -1]}, ["01-01 08:30", "01-31 08:30", "02-01 08:30", "02-29 08:30", "03-01 08:30"]),
    ("22-month-1st-and-14th", "Month", {"monthDays": [1, 14]}, ["01-01 08:30", "01-14 08:30", "02-01 08:30", "02-14 08:30", "03-01 08:30"]),
    ("23-month-2nd", "Month", {"monthDays": [2]}, ["01-02 08:30", "02-02 08:30", "03-02 08:30", "04-02 08:30", "05-02 08:30"]),
    ("24-month-first-friday-5am", "Month", {"minutes": [0], "hours": [5], "monthlyOccurrences": [{"day": "friday", "occurrence": 1}]}, ["01-05 05:00", "02-02 05:00", "03-01 05:00", "04-05 05:00", "05-03 05:00"]),
    ("25-month-first-friday", "Month", {"monthlyOccurrences": [{"day": "friday", "occurrence": 1}]}, ["01-05 08:30", "02-02 08:30", "03-01 08:30", "04-05 08:30", "05-03 08:30"]),
    ("26-month-third-friday-from-end", "Month", {"monthlyOccurrences": [{"day": "friday", "occurrence": -3}]}, ["01-12 08:30", "02-09 08:30", "03-15 08:30", "04-12 08:30", "05-17 08:30"]),
    ("27-month-first-and-last-friday-5h15", "Month", {"minutes": [15], "hours": [5], "monthlyOccurrences": [{"day": "friday", "occurrence": 1}, {"day": "friday", "occurrence": -1}]}, ["01-05 05:15", "01-26 05:15", "02-02 05:15", "02-23 05:15", "03-01 05:15"]),
    ("28-month-first-and-last-friday", "Month", {"monthlyOccurrences": [{"day": "friday", "occurrence": 1}, {"day": "friday", "occurrence": -1}]}, ["01-05 08:30", "01-26 08:30", "02-02 08:30", "02-23 08:30", "03-01 08:30"]),
    ("29-month-fifth-friday", "Month", {"monthlyOccurrences": [{"day": "friday", "occurrence": 5}]}, ["03-29 08:30", "05-31 08:30", "08-30 08:30", "11-29 08:30", "2025-01-31 08:30"]),
    ("30-month-last-friday-every-15", "Month", {"minutes": [0, 15, 30, 45], "monthlyOccurrences": [{"day": "friday", "occurrence": -1}]}, ["01-26 00:00", "01-26 00:15", "01-26 00:30", "01-26 00:45", "01-26 01:00"]),
    ("31-month-third-wednesday", "Month", {"minutes": [15, 45], "hours": [5, 17], "monthlyOccurrences": [{"day": "wednesday", "occurrence": 3}]}, ["01-17 05:15", "01-17 05:45", "01-17 17:15", "01-17 17:45", "02-21 05:15"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("frequency", "schedule", "expected"),
    [pytest.param(f, s, e, id=row_id) for row_id, f, s, e in SECTION_4_5],
)
def test_documented_schedule_examples(
    frequency: str, schedule: dict[str, Any], expected: list[str]
) -> None:
    want = [value if value.startswith("20") else f"2024-{value}" for value in expected]
    assert run({"frequency": frequency, "schedule": schedule}, "2024-01-01 08:30") == want


CASES = [
    # §4.6 doc weekly sample: count 10, then the series ends.
    pytest.param(
        {"frequency": "Week", "interval": 1, "count": 10, "schedule": {"weekDays": ["Monday", "Wednesday", "Friday"], "hours": [10, 22]}},
        "2012-08-04 00:00", None, 20,
        ["2012-08-06 10:00", "2012-08-06 22:00", "2012-08-08 10:00", "2012-08-08 22:00", "2012-08-10 10:00", "2012-08-10 22:00", "2012-08-13 10:00", "2012-08-13 22:00", "2012-08-15 10:00", "2012-08-15 22:00"],
        id="4.6-doc-weekly-count-10",
    ),
    pytest.param({"frequency": "Day", "count": 5}, "2024-01-01 09:00", None, 9,
        ["2024-01-01 09:00", "2024-01-02 09:00", "2024-01-03 09:00", "2024-01-04 09:00", "2024-01-05 09:00"],
        id="4.6-daily-count-5-monday-to-friday"),
    pytest.param({"frequency": "Week", "interval": 2, "schedule": {"weekDays": ["monday", "friday"]}}, "2024-01-01 08:30", None, 6,
        ["2024-01-01 08:30", "2024-01-05 08:30", "2024-01-15 08:30", "2024-01-19 08:30", "2024-01-29 08:30", "2024-02-02 08:30"],
        id="4.6-biweekly-monday-friday"),
    pytest.param({"frequency": "Month"}, "2024-01-31 09:00", None, 5,
        ["2024-01-31 09:00", "2024-02-29 09:00", "2024-03-31 09:00", "2024-04-30 09:00", "2024-05-31 09:00"],
        id="4.6-monthly-from-31st-clamped-like-addmonths"),
    pytest.param({"frequency": "Month", "schedule": {"monthDays": [31]}}, "2023-01-31 09:00", None, 4,
        ["2023-01-31 09:00", "2023-03-31 09:00", "2023-05-31 09:00", "2023-07-31 09:00"],
        id="4.6-month-day-31-skips-short-months"),
    # §4.2 doc example: now 2015-04-08 13:00, every 2 days; same grid phase from other starts.
    pytest.param({"frequency": "Day", "interval": 2}, "2015-04-07 14:00", "2015-04-08 13:00", 3,
        ["2015-04-09 14:00", "2015-04-11 14:00", "2015-04-13 14:00"], id="4.2-start-in-past-keeps-grid"),
    pytest.param({"frequency": "Day", "interval": 2}, "2015-04-01 14:00", "2015-04-08 13:00", 2,
        ["2015-04-09 14:00", "2015-04-11 14:00"], id="4.2-start-further-in-past-same-phase"),
    # §4.9 recorded nextExecutionTime data points (created 2016-03-30 ~19:36Z, start Monday 2015-07-13).
    pytest.param({"frequency": "Week"}, "2015-07-13 00:00", "2016-03-30 19:36", 1,
        ["2016-04-04 00:00"], id="4.9-weekly-no-schedule"),
    pytest.param({"frequency": "Day"}, "2015-07-14 00:00", "2016-03-30 19:36", 1,
        ["2016-03-31 00:00"], id="4.9-daily-patched"),
    pytest.param({"frequency": "Day", "schedule": {"hours": [5, 10, 15, 20], "minutes": [0, 10, 20, 30, 40, 50]}},
        "2015-07-13 00:00", "2016-03-30 19:36", 1, ["2016-03-30 20:00"], id="4.9-day-hours-minutes"),
    pytest.param({"frequency": "Month", "schedule": {"monthDays": [15, 30], "hours": [5, 10, 15, 20], "minutes": [0, 10, 20, 30, 40, 50]}},
        "2015-07-13 00:00", "2016-03-30 19:36", 1, ["2016-03-30 20:00"], id="4.9-month-days"),
    pytest.param({"frequency": "Month", "schedule": {"monthlyOccurrences": [{"day": "Monday", "Occurrence": 1}, {"day": "Friday", "Occurrence": 1}], "hours": [5, 10, 15, 20], "minutes": [0, 10, 20, 30, 40, 50]}},
        "2015-07-13 00:00", "2016-03-30 19:36", 1, ["2016-04-01 05:00"], id="4.9-monthly-occurrences"),
    pytest.param({"frequency": "Week", "schedule": {"weekDays": ["monday"], "hours": [5, 10, 15, 20], "minutes": [0, 10, 20, 30, 40, 50]}},
        "2015-07-13 00:00", "2016-03-30 19:36", 1, ["2016-04-04 05:00"], id="4.9-weekly-monday"),
    pytest.param({"frequency": "Minute"}, "2015-05-14 14:10", "2016-03-16 19:04:24", 2,
        ["2016-03-16 19:05", "2016-03-16 19:06"], id="4.9-minute-grid"),
    # Month ends and 29 February.
    pytest.param({"frequency": "Month", "schedule": {"monthDays": [-1], "hours": [0], "minutes": [0]}}, "2023-01-15 00:00", None, 3,
        ["2023-01-31 00:00", "2023-02-28 00:00", "2023-03-31 00:00"], id="last-day-feb-2023-is-28"),
    pytest.param({"frequency": "Month", "schedule": {"monthDays": [-1], "hours": [0], "minutes": [0]}}, "2024-02-01 00:00", None, 1,
        ["2024-02-29 00:00"], id="last-day-feb-2024-is-29"),
    pytest.param({"frequency": "Month", "schedule": {"monthDays": [-1], "hours": [0], "minutes": [0]}}, "2100-02-01 00:00", None, 1,
        ["2100-02-28 00:00"], id="last-day-feb-2100-is-28-not-a-leap-year"),
    pytest.param({"frequency": "Month", "interval": 12, "schedule": {"monthDays": [29]}}, "2024-02-29 10:00", None, 3,
        ["2024-02-29 10:00", "2028-02-29 10:00", "2032-02-29 10:00"], id="feb-29-every-12-months-waits-for-leap-years"),
    pytest.param({"frequency": "Month", "interval": 12, "schedule": {"monthDays": [29]}}, "2096-02-29 10:00", None, 2,
        ["2096-02-29 10:00", "2104-02-29 10:00"], id="feb-29-skips-2100"),
    pytest.param({"frequency": "Month", "interval": 12}, "2024-02-29 10:00", None, 3,
        ["2024-02-29 10:00", "2025-02-28 10:00", "2026-02-28 10:00"], id="yearly-from-feb-29-clamps"),
    pytest.param({"frequency": "Month", "schedule": {"monthDays": [-31]}}, "2024-01-01 00:00", None, 3,
        ["2024-01-01 00:00", "2024-03-01 00:00", "2024-05-01 00:00"], id="month-day-minus-31-only-in-long-months"),
    pytest.param({"frequency": "Month", "schedule": {"monthDays": [30]}}, "2024-01-31 12:00", None, 3,
        ["2024-03-30 12:00", "2024-04-30 12:00", "2024-05-30 12:00"], id="30th-never-in-february"),
    pytest.param({"frequency": "Month", "schedule": {"monthlyOccurrences": [{"day": "Friday", "Occurrence": -1}], "hours": [17], "minutes": [30]}, "count": 10},
        "2024-01-01 00:00", None, 12,
        ["2024-01-26 17:30", "2024-02-23 17:30", "2024-03-29 17:30", "2024-04-26 17:30", "2024-05-31 17:30", "2024-06-28 17:30", "2024-07-26 17:30", "2024-08-30 17:30", "2024-09-27 17:30", "2024-10-25 17:30"],
        id="appendix-a-last-friday-ten-times"),
    pytest.param({"frequency": "Month", "schedule": {"monthlyOccurrences": [{"day": "Friday", "occurrence": -5}]}}, "2024-01-01 08:30", None, 3,
        ["2024-03-01 08:30", "2024-05-03 08:30", "2024-08-02 08:30"], id="fifth-friday-from-the-end"),
    pytest.param({"frequency": "Month", "schedule": {"monthlyOccurrences": [{"day": "Thursday", "occurrence": 5}]}}, "2024-02-01 08:30", None, 2,
        ["2024-02-29 08:30", "2024-05-30 08:30"], id="fifth-thursday-of-leap-february"),
    pytest.param({"frequency": "Month", "schedule": {"monthlyOccurrences": [{"day": "Tuesday"}]}}, "2024-01-01 08:30", None, 6,
        ["2024-01-02 08:30", "2024-01-09 08:30", "2024-01-16 08:30", "2024-01-23 08:30", "2024-01-30 08:30", "2024-02-06 08:30"],
        id="occurrence-omitted-means-every-tuesday"),
    pytest.param({"frequency": "Month", "schedule": {"monthDays": [1], "monthlyOccurrences": [{"day": "Friday", "occurrence": -1}]}}, "2024-01-01 08:30", None, 4,
        ["2024-01-01 08:30", "2024-01-26 08:30", "2024-02-01 08:30", "2024-02-23 08:30"], id="month-days-and-occurrences-union"),
    pytest.param({"frequency": "Month", "interval": 3, "schedule": {"monthDays": [15]}}, "2024-01-20 00:00", None, 3,
        ["2024-04-15 00:00", "2024-07-15 00:00", "2024-10-15 00:00"], id="quarterly-counts-months-from-anchor"),
    # count and endTime.
    pytest.param({"frequency": "Hour", "count": 3}, "2024-01-01 00:00", None, 10,
        ["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 02:00"], id="count-3"),
    pytest.param({"frequency": "Hour", "endTime": "2024-01-01T02:00:00Z"}, "2024-01-01 00:00", None, 10,
        ["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 02:00"], id="end-time-inclusive"),
    pytest.param({"frequency": "Hour", "endTime": "2024-01-01T01:59:59Z", "count": 5}, "2024-01-01 00:00", None, 10,
        ["2024-01-01 00:00", "2024-01-01 01:00"], id="end-time-before-count"),
    pytest.param({"frequency": "Hour", "endTime": "2024-01-01T09:00:00Z", "count": 2}, "2024-01-01 00:00", None, 10,
        ["2024-01-01 00:00", "2024-01-01 01:00"], id="count-before-end-time"),
    pytest.param({"frequency": "Day", "count": 2}, "2020-01-01 06:00", "2024-01-01 12:00", 5,
        ["2024-01-02 06:00", "2024-01-03 06:00"], id="count-starts-with-first-real-run"),
    pytest.param({"frequency": "Day", "endTime": "2023-01-01T00:00:00Z"}, "2020-01-01 06:00", "2024-01-01 12:00", 5,
        [], id="end-time-in-the-past-ends-the-series"),
    # Frequencies and intervals on the elapsed grid.
    pytest.param({"frequency": "Second", "interval": 15}, "2024-01-01 00:00", "2024-01-01 00:00:01", 2,
        ["2024-01-01 00:00", "2024-01-01 00:00"], id="second-interval-15"),
    pytest.param({"frequency": "Minute", "interval": 90}, "2024-01-01 00:00", "2024-01-01 01:00", 2,
        ["2024-01-01 01:30", "2024-01-01 03:00"], id="minute-interval-90"),
    pytest.param({"frequency": "Hour", "interval": 5}, "2024-01-01 22:00", "2024-01-02 00:00", 3,
        ["2024-01-02 03:00", "2024-01-02 08:00", "2024-01-02 13:00"], id="hour-interval-5-crosses-days"),
    pytest.param({"frequency": "Hour", "interval": 2, "schedule": {"minutes": [0, 30]}}, "2024-01-01 09:10", None, 4,
        ["2024-01-01 09:30", "2024-01-01 11:00", "2024-01-01 11:30", "2024-01-01 13:00"], id="hour-with-minutes-every-2-hours"),
    pytest.param({"frequency": "Day", "interval": 3, "schedule": {"hours": [6]}}, "2024-01-01 08:30", None, 3,
        ["2024-01-04 06:30", "2024-01-07 06:30", "2024-01-10 06:30"], id="day-interval-3-with-hours"),
    pytest.param({"frequency": "Week", "interval": 3}, "2024-01-03 12:00", "2024-01-20 00:00", 2,
        ["2024-01-24 12:00", "2024-02-14 12:00"], id="week-interval-3-from-past-start"),
    pytest.param({"frequency": "Week", "schedule": {}}, "2024-01-03 12:00", None, 2,
        ["2024-01-03 12:00", "2024-01-10 12:00"], id="empty-schedule-is-no-schedule"),
    pytest.param({"frequency": "Week", "interval": 2, "schedule": {"weekDays": ["saturday", "sunday"]}}, "2024-01-06 10:00", None, 4,
        ["2024-01-06 10:00", "2024-01-14 10:00", "2024-01-20 10:00", "2024-01-28 10:00"], id="biweekly-weeks-run-sunday-to-saturday"),
    pytest.param({"frequency": "Day", "schedule": {"minutes": [5]}}, "2024-01-01 23:30", None, 2,
        ["2024-01-02 00:05", "2024-01-02 01:05"], id="minutes-only-crosses-midnight"),
    pytest.param({"frequency": "Day"}, "2024-01-01 10:20:30.5", "2024-01-03 00:00", 1,
        ["2024-01-03 10:20"], id="grid-keeps-start-seconds"),
]  # fmt: skip


@pytest.mark.parametrize(("recurrence", "start", "now", "n", "expected"), CASES)
def test_worked_examples(
    recurrence: dict[str, Any], start: str, now: str | None, n: int, expected: list[str]
) -> None:
    assert run(recurrence, start, now, n) == expected


def test_grid_job_keeps_start_seconds_and_schedule_slots_do_not() -> None:
    start = utc("2024-01-01 10:20:30.5")
    grid = recurrence_from_json({"frequency": "Day"})
    slots = recurrence_from_json({"frequency": "Day", "schedule": {"hours": [11]}})
    assert next_occurrence(grid, start, start) == utc("2024-01-01 10:20:30.5")
    assert next_occurrence(slots, start, start) == utc("2024-01-01 11:20:00")


def test_last_occurrence_is_excluded_and_count_uses_done() -> None:
    recurrence = recurrence_from_json({"frequency": "Minute", "count": 3})
    start = utc("2024-01-01 00:00")
    assert next_occurrence(recurrence, start, start, last=start, done=1) == utc("2024-01-01 00:01")
    assert next_occurrence(recurrence, start, start, last=utc("2024-01-01 00:02"), done=3) is None


def test_one_time_job_runs_once_at_start_or_now() -> None:
    start = utc("2024-01-01 00:00")
    later = utc("2024-01-05 00:00")
    assert next_occurrence(None, start, later) == later
    assert next_occurrence(None, later, start) == later
    assert next_occurrence(None, start, later, last=later) is None
    assert list(occurrences(None, start, start)) == [start]


def test_schedule_that_can_never_fire_ends_the_series() -> None:
    # The 30th of every February, every 12 months: no such day, ever.
    recurrence = recurrence_from_json(
        {"frequency": "Month", "interval": 12, "schedule": {"monthDays": [30]}}
    )
    assert next_occurrence(recurrence, utc("2024-02-01 00:00"), utc("2024-02-01 00:00")) is None


def test_naive_datetimes_are_refused() -> None:
    recurrence = recurrence_from_json({"frequency": "Day"})
    with pytest.raises(ValueError, match="timezone-aware"):
        next_occurrence(recurrence, datetime(2024, 1, 1), utc("2024-01-01 00:00"))


# Daylight saving: wall-clock schedules in two zones (and one with a 30-minute shift).
# A wall time in the spring gap is read with the offset before the gap (RFC 5545); a wall time
# in the autumn fold fires once, at its first instance.
DST = [
    pytest.param("Europe/Amsterdam", {"frequency": "Day", "schedule": {"hours": [2], "minutes": [30]}}, "2024-03-29 00:00", 4,
        ["2024-03-29 01:30", "2024-03-30 01:30", "2024-03-31 01:30", "2024-04-01 00:30"], id="amsterdam-gap-0230-is-0130z"),
    pytest.param("Europe/Amsterdam", {"frequency": "Day", "schedule": {"hours": [2], "minutes": [30]}}, "2024-10-25 00:00", 4,
        ["2024-10-25 00:30", "2024-10-26 00:30", "2024-10-27 00:30", "2024-10-28 01:30"], id="amsterdam-fold-0230-fires-once-first"),
    pytest.param("Europe/Amsterdam", {"frequency": "Hour", "schedule": {"minutes": [0, 30]}}, "2024-03-30 23:00", 10,
        ["2024-03-30 23:00", "2024-03-30 23:30", "2024-03-31 00:00", "2024-03-31 00:30", "2024-03-31 01:00", "2024-03-31 01:30", "2024-03-31 02:00", "2024-03-31 02:30", "2024-03-31 03:00", "2024-03-31 03:30"],
        id="amsterdam-gap-hourly-wall-clock-no-duplicates"),
    pytest.param("Europe/Amsterdam", {"frequency": "Hour", "schedule": {"minutes": [0, 30]}}, "2024-10-26 23:00", 8,
        ["2024-10-26 23:00", "2024-10-26 23:30", "2024-10-27 00:00", "2024-10-27 00:30", "2024-10-27 02:00", "2024-10-27 02:30", "2024-10-27 03:00", "2024-10-27 03:30"],
        id="amsterdam-fold-hourly-repeated-hour-once"),
    pytest.param("Europe/Amsterdam", {"frequency": "Day"}, "2024-03-30 08:00", 3,
        ["2024-03-30 08:00", "2024-03-31 07:00", "2024-04-01 07:00"], id="amsterdam-daily-keeps-wall-time"),
    pytest.param("Europe/Amsterdam", {"frequency": "Hour"}, "2024-03-30 22:00", 4,
        ["2024-03-30 22:00", "2024-03-30 23:00", "2024-03-31 00:00", "2024-03-31 01:00"], id="amsterdam-hourly-is-elapsed-time"),
    pytest.param("America/New_York", {"frequency": "Day", "schedule": {"hours": [2], "minutes": [30]}}, "2024-03-09 00:00", 3,
        ["2024-03-09 07:30", "2024-03-10 07:30", "2024-03-11 06:30"], id="new-york-gap-0230-uses-est"),
    pytest.param("America/New_York", {"frequency": "Day", "schedule": {"hours": [1], "minutes": [30]}}, "2024-11-02 12:00", 3,
        ["2024-11-03 05:30", "2024-11-04 06:30", "2024-11-05 06:30"], id="new-york-fold-0130-first-instance-edt"),
    pytest.param("America/New_York", {"frequency": "Week", "schedule": {"weekDays": ["sunday"], "hours": [9], "minutes": [0]}}, "2024-03-01 00:00", 3,
        ["2024-03-03 14:00", "2024-03-10 13:00", "2024-03-17 13:00"], id="new-york-weekly-across-spring-change"),
    pytest.param("America/New_York", {"frequency": "Month", "schedule": {"monthDays": [-1], "hours": [23], "minutes": [0]}}, "2024-01-01 00:00", 4,
        ["2024-01-01 04:00", "2024-02-01 04:00", "2024-03-01 04:00", "2024-04-01 03:00"], id="new-york-last-day-local-is-next-utc-day"),
    pytest.param("America/New_York", {"frequency": "Month"}, "2024-01-31 14:00", 3,
        ["2024-01-31 14:00", "2024-02-29 14:00", "2024-03-31 13:00"], id="new-york-monthly-wall-clock"),
    pytest.param("Australia/Lord_Howe", {"frequency": "Day", "schedule": {"hours": [2], "minutes": [0, 15, 30, 45]}}, "2024-10-05 00:00", 8,
        # 02:00 and 02:15 on 10-06 fall in the 30-minute gap: read at +10:30 they are 15:30Z
        # and 15:45Z, the same instants as 02:30 and 02:45 at +11:00, so each fires once.
        ["2024-10-05 15:30", "2024-10-05 15:45", "2024-10-06 15:00", "2024-10-06 15:15", "2024-10-06 15:30", "2024-10-06 15:45", "2024-10-07 15:00", "2024-10-07 15:15"],
        id="lord-howe-half-hour-gap"),
]  # fmt: skip


@pytest.mark.parametrize(("zone", "recurrence", "start", "n", "expected"), DST)
def test_daylight_saving(
    zone: str, recurrence: dict[str, Any], start: str, n: int, expected: list[str]
) -> None:
    assert run({**recurrence, "timeZone": zone}, start, None, n) == expected
