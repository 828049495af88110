"""``recurrence.jitter`` (issue 14, item 5): each occurrence runs later than its slot by a
deterministic part of the jitter derived from the job and the slot.

What must hold, for every kind of recurrence: a run lies in [slot, slot + jitter) and before
the next slot; the same job gets the same runs every time, another job other runs; the
series is the slots' series (count, endTime, exdates) moved, in order, each once; and the
next run found from any instant is the series' first run at or after it (so the engine,
which asks from its cursor, and the preview, which iterates, agree).
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobclock.codec.recurrence import recurrence_from_json, recurrence_to_json
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.occurrences import next_occurrence, occurrences
from jobclock.domain.recurrence import Recurrence

START = datetime(2024, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)

BODIES = [
    {"frequency": "Hour", "interval": 1, "jitter": "PT10M"},
    {"frequency": "Minute", "interval": 1, "jitter": "PT5M"},  # longer than the period
    {"frequency": "Second", "interval": 2, "jitter": "PT1S"},
    {"cron": "*/15 9-17 * * MON-FRI", "jitter": "PT20M"},
    {"cron": "0 3 * * *", "timeZone": "Europe/Amsterdam", "jitter": "PT2H"},
    {"rrule": "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=18", "jitter": "P3D"},
    {
        "frequency": "Week",
        "interval": 1,
        "schedule": {"weekDays": ["Monday", "Thursday"], "hours": [6, 22], "minutes": [0]},
        "jitter": "PT90M",
    },
]

# Longer than any jitter plus gap between two slots of BODIES[i]: the series walked from
# this far before an instant holds the run before the instant's next run.
LOOKBACK = [
    timedelta(hours=2),
    timedelta(minutes=6),
    timedelta(seconds=4),
    timedelta(hours=65),
    timedelta(days=2),
    timedelta(days=40),
    timedelta(days=5),
]


def seeded(body: dict[str, object], seed: str = "jc/job") -> Recurrence:
    return recurrence_from_json(body).seeded(seed)


def without_jitter(body: dict[str, object]) -> Recurrence:
    return recurrence_from_json({key: value for key, value in body.items() if key != "jitter"})


@pytest.mark.parametrize("body", BODIES, ids=lambda body: str(body)[:40])
def test_each_run_lies_between_its_slot_and_the_next_slot(body: dict[str, object]) -> None:
    slots = list(islice(occurrences(without_jitter(body), START, START), 300))
    runs = list(islice(occurrences(seeded(body), START, START), 300))
    span = recurrence_from_json(body).jitter
    assert span is not None
    assert len(runs) == len(slots)
    moved = 0
    for slot, run, following in zip(slots, runs, [*slots[1:], None], strict=True):
        assert slot <= run < slot + span.value
        if following is not None:
            assert run < following
        moved += run != slot
    assert moved > len(slots) // 2  # it is not a no-op
    assert runs == sorted(set(runs))


@pytest.mark.parametrize("body", BODIES, ids=lambda body: str(body)[:40])
def test_the_next_run_from_any_instant_is_the_series_first_run_at_or_after_it(
    body: dict[str, object],
) -> None:
    recurrence = seeded(body)
    runs = list(islice(occurrences(recurrence, START, START), 120))
    for index, run in enumerate(runs[:-1]):
        # From the run itself, from just after it, and from the cursor (the last run).
        assert next_occurrence(recurrence, START, run) == run
        assert (
            next_occurrence(recurrence, START, run + timedelta(microseconds=1)) == runs[index + 1]
        )
        assert next_occurrence(recurrence, START, run, run, index + 1) == runs[index + 1]


@settings(max_examples=300, deadline=None)
@given(
    index=st.integers(min_value=0, max_value=len(BODIES) - 1),
    offset=st.integers(min_value=0, max_value=80 * 86400 * 1_000_000),
    seed=st.text(min_size=0, max_size=12),
)
def test_from_a_random_instant_the_next_run_is_the_first_run_at_or_after_it(
    index: int, offset: int, seed: str
) -> None:
    recurrence = seeded(BODIES[index], seed)
    now = START + timedelta(microseconds=offset)
    found = next_occurrence(recurrence, START, now)
    assert found is not None
    assert found >= now
    # The series walked from well before `now` has `found` as its first run at or after
    # `now`, and a run before it (the lookback holds one).
    walked = occurrences(recurrence, START, max(START, now - LOOKBACK[index]))
    earlier: list[datetime] = []
    for run in walked:
        if run >= now:
            assert run == found
            break
        earlier.append(run)
    assert earlier or now - LOOKBACK[index] < START


def test_the_same_job_gets_the_same_runs_and_another_job_others() -> None:
    body = {"frequency": "Hour", "interval": 1, "jitter": "PT30M"}
    first = list(islice(occurrences(seeded(body, "jc/a"), START, START), 50))
    again = list(islice(occurrences(seeded(body, "jc/a"), START, START), 50))
    other = list(islice(occurrences(seeded(body, "jc/b"), START, START), 50))
    assert first == again
    assert first != other
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 40


def test_runs_spread_over_the_jitter_for_many_jobs() -> None:
    body = {"frequency": "Day", "interval": 1, "jitter": "PT1H"}
    offsets = [
        (next_occurrence(seeded(body, f"jc/job-{index}"), START, START) - START).total_seconds()  # type: ignore[operator]
        for index in range(2000)
    ]
    assert min(offsets) >= 0
    assert max(offsets) < 3600
    assert 1700 < statistics.mean(offsets) < 1900  # uniform: 1800 expected, sd ~23
    quarters = [sum(q * 900 <= value < (q + 1) * 900 for value in offsets) for q in range(4)]
    assert all(400 < count < 600 for count in quarters), quarters


def test_a_jitter_of_a_minute_or_more_keeps_runs_on_whole_seconds() -> None:
    runs = list(islice(occurrences(seeded(BODIES[0]), START, START), 200))
    assert all(run.microsecond == 0 for run in runs)
    fine = seeded({"frequency": "Second", "interval": 1, "jitter": "PT0.5S"})
    sub = list(islice(occurrences(fine, START, START), 200))
    assert any(run.microsecond for run in sub)
    assert all(run.microsecond % 1000 == 0 for run in sub)  # milliseconds
    assert all(run - run.replace(microsecond=0) < timedelta(milliseconds=500) for run in sub)


def test_count_end_time_and_exdates_count_slots_not_runs() -> None:
    body = {
        "frequency": "Hour",
        "interval": 1,
        "count": 5,
        "exdates": ["2024-01-01T02:00:00Z"],
        "jitter": "PT59M",
    }
    runs = list(occurrences(seeded(body), START, START))
    assert [run.replace(minute=0, second=0) for run in runs] == [
        START + hours * timedelta(hours=1) for hours in (0, 1, 3, 4, 5)
    ]
    # The last slot before endTime runs even when its jitter takes it past endTime.
    ending = {
        "frequency": "Hour",
        "interval": 1,
        "endTime": "2024-01-01T03:00:00Z",
        "jitter": "PT59M",
    }
    runs = list(occurrences(seeded(ending), START, START))
    assert [run.hour for run in runs] == [0, 1, 2, 3]


def test_no_run_belongs_to_a_slot_before_the_start_time() -> None:
    recurrence = seeded({"frequency": "Minute", "interval": 1, "jitter": "PT50S"})
    start = START + timedelta(minutes=10)
    first = next_occurrence(recurrence, start, start - timedelta(minutes=5))
    assert first is not None
    assert start <= first < start + timedelta(seconds=50)


def test_a_jitter_is_echoed_as_given_and_checked() -> None:
    body = {"frequency": "Hour", "interval": 1, "jitter": "pt10m"}
    assert recurrence_to_json(recurrence_from_json(body))["jitter"] == "PT10M"
    assert recurrence_to_json(recurrence_from_json({"cron": "@daily", "jitter": "PT1H"})) == {
        "cron": "@daily",
        "jitter": "PT1H",
    }
    for bad, message in (
        ("PT0S", "longer than 0"),
        ("P32D", "at most 31 days"),
        ("soon", "not a duration"),
    ):
        with pytest.raises(InvalidDefinition, match=message) as raised:
            recurrence_from_json({"frequency": "Hour", "interval": 1, "jitter": bad})
        assert raised.value.field is not None
        assert "jitter" in raised.value.field
    # The seed is the job's, not the definition's: two jobs with one body compare equal.
    assert seeded(body, "jc/a") == seeded(body, "jc/b")
