"""The policy behind the portal's save and preview (:mod:`jobclock.domain.revision`), as
tables: which timings keep a job's schedule, and which runs the editor shows."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from jobclock.codec.recurrence import recurrence_from_json
from jobclock.domain.job import JobState
from jobclock.domain.planning import Cursor
from jobclock.domain.revision import Scheduled, Timing, keeps_schedule, runs_after_save, upcoming
from tests.system import T0

HOURLY_3 = recurrence_from_json({"frequency": "Hour", "interval": 3})
WEEKLY = recurrence_from_json(
    {"frequency": "Week", "schedule": {"weekDays": ["Thursday", "Monday"]}}
)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("stored", "edited", "kept"),
    [
        pytest.param(Timing(None, HOURLY_3), Timing(None, HOURLY_3), True, id="same"),
        pytest.param(
            Timing(None, WEEKLY),
            Timing(
                None,
                recurrence_from_json(
                    {
                        "frequency": "Week",
                        "interval": 1,
                        "schedule": {"weekDays": ["Monday", "Thursday"]},
                    }
                ),
            ),
            True,
            id="same-schedule-spelled-otherwise",
        ),
        pytest.param(
            Timing(None, HOURLY_3),
            Timing(None, recurrence_from_json({"frequency": "Hour", "interval": 2})),
            False,
            id="interval-changed",
        ),
        pytest.param(Timing(None, HOURLY_3), Timing(T0, HOURLY_3), False, id="start-given"),
        pytest.param(
            Timing(None, HOURLY_3),
            Timing(None, HOURLY_3, JobState.DISABLED),
            False,
            id="state-changed",
        ),
        pytest.param(Timing(None, HOURLY_3), Timing(None, None), False, id="made-one-time"),
    ],
)
def test_which_saves_keep_the_schedule(stored: Timing, edited: Timing, kept: bool) -> None:
    assert keeps_schedule(stored, edited) is kept


def _scheduled(
    timing: Timing, anchor: datetime, next_time: datetime | None, done: int = 1
) -> Scheduled:
    return Scheduled(timing, Cursor(anchor, anchor, done), next_time)


def test_a_chained_job_shows_one_period_after_each_run() -> None:
    created = T0 + 10 * H + timedelta(minutes=17)
    job = _scheduled(Timing(None, HOURLY_3), created, created + 3 * H)
    assert upcoming(job, 3) == [created + 3 * H, created + 6 * H, created + 9 * H]


def test_the_remaining_count_is_shown_not_the_whole_series() -> None:
    counted = recurrence_from_json({"frequency": "Hour", "interval": 3, "count": 4})
    job = _scheduled(Timing(T0, counted), T0, T0 + 6 * H, done=2)
    assert upcoming(job, 10) == [T0 + 6 * H, T0 + 9 * H]


def test_a_changed_schedule_previews_from_now_and_a_kept_one_from_the_cursor() -> None:
    created = T0 + 10 * H + timedelta(minutes=17)
    now = T0 + 11 * H + timedelta(minutes=40)
    job = _scheduled(Timing(None, HOURLY_3), created, created + 3 * H)
    assert runs_after_save(job, Timing(None, HOURLY_3), now, 2) == [
        created + 3 * H,
        created + 6 * H,
    ]
    two = recurrence_from_json({"frequency": "Hour", "interval": 2})
    assert runs_after_save(job, Timing(None, two), now, 2) == [now, now + 2 * H]
    assert runs_after_save(None, Timing(None, HOURLY_3), now, 2) == [now, now + 3 * H]


def test_a_kept_job_that_is_not_scheduled_shows_what_its_schedule_gives() -> None:
    disabled = Timing(T0, HOURLY_3, JobState.DISABLED)
    job = Scheduled(disabled, Cursor(T0, None, 0), None)
    now = T0 + 4 * H
    assert runs_after_save(job, disabled, now, 2) == [T0 + 6 * H, T0 + 9 * H]
    assert upcoming(job, 2) == []
