"""The attempt context the action tests send with (the metadata headers and properties of
one main-action attempt, spec §5.2)."""

from __future__ import annotations

from datetime import UTC, datetime

from jobclock.domain.execution import AttemptContext
from jobclock.domain.history import ActionName


def attempt_context(collection: str = "coll1") -> AttemptContext:
    return AttemptContext(
        collection=collection,
        job="job1",
        execution_tag="c3b168c6a2f1f8d4f9b4a3e2c1d0e9f8",
        request_id="2fd3a5a7-31b5-4c2c-9b8e-3d1c6b6d3e7f",
        expected_time=datetime(2015, 9, 10, 0, 0, tzinfo=UTC),
        region="West Europe",
        action_name=ActionName.MAIN_ACTION,
        retry_count=0,
        repeat_count=1,
    )
