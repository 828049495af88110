"""Jittered jobs through the service and the engine on a fake clock (issue 14, item 5): the
engine runs each occurrence at the instant the preview shows, which differs from job to
job for one body; history records the moved instant as the expected time."""

from __future__ import annotations

from datetime import timedelta

from jobclock.codec.job import definition_to_json
from jobclock.domain.history import HistoryStatus
from jobclock.refs import JobRef
from tests.system import T0, System

HOUR = timedelta(hours=1)
BODY = {
    "startTime": "2024-01-01T00:00:00Z",
    "recurrence": {"frequency": "Hour", "interval": 1, "jitter": "PT30M"},
}


def previewed(system: System, ref: JobRef, count: int) -> list[object]:
    return list(system.run(system.service.upcoming_runs(ref, count)))


def test_a_jittered_job_runs_when_its_preview_says(system: System) -> None:
    system.collection()
    refs = [system.job(name, BODY) for name in ("alpha", "beta", "gamma")]
    plans = {ref.name: previewed(system, ref, 6) for ref in refs}
    assert len({tuple(plan) for plan in plans.values()}) == 3  # one body, three jitters
    for plan in plans.values():
        for hour, run in enumerate(plan):
            assert T0 + hour * HOUR <= run < T0 + hour * HOUR + 30 * timedelta(minutes=1)  # type: ignore[operator]
    # The engine, ticked second by second through six hours' runs, fires each at its run.
    every = sorted({run for plan in plans.values() for run in plan})
    for run in every:
        system.at(run - timedelta(seconds=1))  # type: ignore[operator]
        system.at(run)  # type: ignore[arg-type]
    for ref in refs:
        entries = system.history(ref)
        assert [entry.status for entry in entries] == [HistoryStatus.COMPLETED] * 6
        assert [entry.expected_execution_time for entry in entries] == plans[ref.name]
    # Microsoft's client sees the body it sent plus jobclock's field, echoed as given.
    recurrence = definition_to_json(system.status(refs[0]).definition)["recurrence"]
    assert recurrence == {"frequency": "Hour", "interval": 1, "jitter": "PT30M"}


def test_the_preview_of_an_unsaved_body_with_the_jobs_name_is_the_saved_jobs(
    system: System,
) -> None:
    collection = system.collection()
    body = {
        "properties": {
            "action": {"type": "Http", "request": {"uri": "http://127.0.0.1/", "method": "GET"}},
            **BODY,
        }
    }
    before = system.run(system.service.preview_new_job(collection, body, 5, None, "delta"))
    nameless = system.run(system.service.preview_new_job(collection, body, 5, None))
    ref = system.job("delta", BODY)
    assert previewed(system, ref, 5) == before
    assert before != nameless


def test_a_job_renamed_in_case_keeps_its_jitter(system: System) -> None:
    system.collection()
    ref = system.job("Mixed", BODY)
    runs = previewed(system, ref, 4)
    again = system.job("MIXED", BODY)  # the same job: names compare without case
    assert previewed(system, again, 4) == runs
