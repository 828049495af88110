"""What follows an attempt and an occurrence (domain.planning): table tests of the
decisions the engine's recording only writes down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobclock.domain.actions import ActionType, ErrorAction, HttpMethod, HttpRequest, JobAction
from jobclock.domain.durations import parse_duration
from jobclock.domain.job import JobState, JobStatus
from jobclock.domain.planning import (
    Cursor,
    Phase,
    StepKind,
    after_occurrence,
    attempted,
    chained,
)
from jobclock.domain.recurrence import Frequency, Recurrence
from jobclock.domain.retry_policy import RetryPolicy, RetryType

T0 = datetime(2024, 1, 1, tzinfo=UTC)
REQUEST = HttpRequest("http://127.0.0.1/", HttpMethod.GET)
TWO_RETRIES = RetryPolicy(RetryType.FIXED, parse_duration("PT30S", field="i"), 2)
NO_RETRY = RetryPolicy(RetryType.NONE)
ERROR = ErrorAction(ActionType.HTTP, REQUEST, NO_RETRY)


def action(retry: RetryPolicy, error: ErrorAction | None = None) -> JobAction:
    return JobAction(ActionType.HTTP, REQUEST, retry, error)


@pytest.mark.parametrize(
    ("case", "job_action", "phase", "attempt", "succeeded", "main_failed", "expected"),
    [
        # (kind, phase, attempt, due in s, main_failed, +executions, +failures, +faults, first)
        ("first try succeeds", action(TWO_RETRIES), Phase.MAIN, 0, True, False,
         (StepKind.DONE, Phase.MAIN, 0, None, False, 1, 0, 0, True)),
        ("first try fails: retry in 30 s", action(TWO_RETRIES), Phase.MAIN, 0, False, False,
         (StepKind.RETRY, Phase.MAIN, 1, 30, False, 1, 1, 0, True)),
        ("retry succeeds", action(TWO_RETRIES), Phase.MAIN, 1, True, False,
         (StepKind.DONE, Phase.MAIN, 1, None, False, 1, 0, 0, False)),
        ("last retry fails: faulted once", action(TWO_RETRIES), Phase.MAIN, 2, False, False,
         (StepKind.DONE, Phase.MAIN, 2, None, True, 1, 1, 1, False)),
        ("last retry fails: error action now", action(TWO_RETRIES, ERROR), Phase.MAIN, 2,
         False, False, (StepKind.ERROR_ACTION, Phase.ERROR, 0, 0, True, 1, 1, 1, False)),
        ("error action attempts count nothing", action(TWO_RETRIES, ERROR), Phase.ERROR, 0,
         False, True, (StepKind.DONE, Phase.ERROR, 0, None, True, 0, 0, 0, False)),
        ("no retries: one failure faults", action(NO_RETRY), Phase.MAIN, 0, False, False,
         (StepKind.DONE, Phase.MAIN, 0, None, True, 1, 1, 1, True)),
    ],
)  # fmt: skip
def test_what_follows_an_attempt(
    case: str,
    job_action: JobAction,
    phase: Phase,
    attempt: int,
    succeeded: bool,
    main_failed: bool,
    expected: tuple[object, ...],
) -> None:
    before = JobStatus(execution_count=5, failure_count=2, faulted_count=1)
    decision = attempted(job_action, phase, attempt, succeeded, main_failed, T0, before)
    step = decision.step
    due = None if step.due is None else int((step.due - T0).total_seconds())
    status = decision.status
    assert (
        step.kind,
        step.phase,
        step.attempt,
        due,
        step.main_failed,
        status.execution_count - 5,
        status.failure_count - 2,
        status.faulted_count - 1,
        decision.first,
    ) == expected, case


HOURLY = Recurrence(Frequency.HOUR, 1)
DONE_3 = Cursor(T0, T0 + timedelta(hours=2), 3)  # slots 00:00, 01:00, 02:00 claimed


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("case", "state", "final", "main_failed", "waiting", "busy_since", "ended", "expected"),
    [
        ("ran in time: nothing follows", JobState.ENABLED, False, False, at(3), at(2),
         at(2.1), (None, None)),
        ("the last one succeeded: completed", JobState.ENABLED, True, False, None, at(2),
         at(2.1), (JobState.COMPLETED, None)),
        ("the last one failed: faulted", JobState.ENABLED, True, True, None, at(2), at(2.1),
         (JobState.FAULTED, None)),
        ("disabled meanwhile: the user's state is kept", JobState.DISABLED, True, True,
         None, at(2), at(2.1), (None, None)),
        ("one slot waited: postponed, it runs now", JobState.ENABLED, False, False, at(3),
         at(2), at(3.01), (None, ((at(3),), True, 0))),
        ("three slots waited: the latest runs, two are skipped", JobState.ENABLED, False,
         False, at(3), at(2), at(5.01), (None, ((at(3), at(4), at(5)), True, 2))),
        ("the latest is past the grace: all skipped", JobState.ENABLED, False, False, at(3),
         at(2), at(3.5), (None, ((at(3),), False, 1))),
        ("backlog (due before it started): claimed in turn", JobState.ENABLED, False, False,
         at(1.5), at(2), at(5), (None, None)),
    ],
)  # fmt: skip
def test_what_follows_an_occurrence(
    case: str,
    state: JobState,
    final: bool,
    main_failed: bool,
    waiting: datetime | None,
    busy_since: datetime,
    ended: datetime,
    expected: tuple[object, object],
) -> None:
    ending = after_occurrence(
        state=state,
        final=final,
        main_failed=main_failed,
        recurrence=HOURLY,
        cursor=DONE_3,
        waiting=waiting,
        busy_since=busy_since,
        ended=ended,
        chained=False,
    )
    overlap = ending.overlap
    shown = None if overlap is None else (overlap.waited, overlap.resume.run, overlap.skipped)
    assert (ending.state, shown) == expected, case


@pytest.mark.parametrize(
    ("start", "recurrence", "expected"),
    [
        (None, HOURLY, True),
        (T0, HOURLY, False),
        (None, None, False),
    ],
)
def test_a_job_is_chained_without_start_time_and_schedule(
    start: datetime | None, recurrence: Recurrence | None, expected: bool
) -> None:
    assert chained(start, recurrence) is expected
