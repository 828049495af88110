"""StoredJob.updated: the engine's copy of a job record (it replaced dataclasses.replace on
the hot path, so it must change exactly the fields it is given)."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobclock.domain.job import JobState, JobStatus
from jobclock.domain.planning import Cursor
from jobclock.domain.records import StoredJob

T = datetime(2024, 1, 1, tzinfo=UTC)
JOB = StoredJob(
    id=7, collection_id=3, collection_name="jc", name="j", definition="{}",
    state=JobState.ENABLED, cursor=Cursor(T, None, 0), status=JobStatus(1, 0, 0, T, T),
    history_seq=4, busy=True, busy_since=T, created_at=T - timedelta(days=1),
    finished_at=T,
)  # fmt: skip

CHANGES: list[dict[str, Any]] = [
    {},
    {"state": JobState.DISABLED},
    {"cursor": Cursor(T, T, 5)},
    {"status": JobStatus(2, 1, 0, None, None)},
    {"history_seq": 0},  # a falsy value is still a change
    {"busy": False},
    {"busy_since": None},
    {"busy_since": T + timedelta(seconds=1)},
    {"finished_at": None},
    {"state": JobState.COMPLETED, "finished_at": T, "busy": False, "busy_since": None},
]


@pytest.mark.parametrize("changes", CHANGES)
def test_updated_changes_exactly_the_fields_given(changes: dict[str, Any]) -> None:
    assert JOB.updated(**changes) == replace(JOB, **changes)


def test_updated_keeps_every_field_it_is_not_given() -> None:
    copy = JOB.updated()
    for item in fields(StoredJob):
        assert getattr(copy, item.name) == getattr(JOB, item.name), item.name
