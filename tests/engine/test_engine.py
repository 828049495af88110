"""Every execution behaviour of §5 on a fake clock: no sleeps, one ``tick`` at a time."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from jobclock.domain.history import ActionName, HistoryStatus
from jobclock.domain.job import JobState
from jobclock.domain.records import StoredJob
from jobclock.ports import JobReads
from tests.system import T0, System

MINUTE = timedelta(minutes=1)


def test_one_time_job_runs_once_and_completes(system: System) -> None:
    system.collection()
    ref = system.job("once", {"startTime": "2024-01-01T00:05:00Z"})
    assert system.at(T0 + 4 * MINUTE) == 0
    assert system.at(T0 + 5 * MINUTE) == 1
    job = system.status(ref)
    assert job.state is JobState.COMPLETED
    assert job.status.next_execution_time is None
    assert job.status.last_execution_time == T0 + 5 * MINUTE
    assert (job.status.execution_count, job.status.failure_count) == (1, 0)
    [entry] = system.history(ref)
    assert entry.status is HistoryStatus.COMPLETED
    assert entry.expected_execution_time == T0 + 5 * MINUTE
    assert (entry.retry_count, entry.repeat_count) == (0, 1)
    _, context = system.executor.calls[0]
    assert (context.job, context.collection, context.region) == ("once", "jc", "Test Region")
    assert len(context.execution_tag) == 32


def test_count_completes_the_job(system: System) -> None:
    system.collection()
    ref = system.job(
        "three",
        {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Minute", "count": 3}},
    )
    for minute in range(5):
        system.at(T0 + minute * MINUTE)
    job = system.status(ref)
    assert job.state is JobState.COMPLETED
    assert job.status.execution_count == 3
    assert job.status.next_execution_time is None
    assert job.status.last_execution_time == T0 + 2 * MINUTE
    assert [entry.repeat_count for entry in system.history(ref)] == [1, 2, 3]


def test_end_time_completes_the_job(system: System) -> None:
    system.collection()
    ref = system.job(
        "until",
        {
            "startTime": "2024-01-01T00:00:00Z",
            "recurrence": {"frequency": "Minute", "endTime": "2024-01-01T00:01:30Z"},
        },
    )
    for minute in range(4):
        system.at(T0 + minute * MINUTE)
    assert system.status(ref).state is JobState.COMPLETED
    assert len(system.history(ref)) == 2


def test_end_time_in_the_past_completes_at_once(system: System) -> None:
    system.collection()
    ref = system.job(
        "late",
        {
            "startTime": "2023-01-01T00:00:00Z",
            "recurrence": {"frequency": "Day", "endTime": "2023-06-01T00:00:00Z"},
        },
    )
    job = system.status(ref)
    assert job.state is JobState.COMPLETED
    assert job.status.next_execution_time is None
    assert system.at(T0 + timedelta(days=1)) == 0


def test_retries_then_error_action_then_faulted(system: System) -> None:
    system.collection()
    system.executor.outcomes = [False, False, False, True]
    ref = system.job(
        "flaky",
        {
            "startTime": "2024-01-01T00:00:00Z",
            "action": {
                "type": "Http",
                "request": {"uri": "http://127.0.0.1/main", "method": "POST"},
                "retryPolicy": {"retryType": "Fixed", "retryInterval": "PT20S", "retryCount": 2},
                "errorAction": {
                    "type": "Http",
                    "request": {"uri": "http://127.0.0.1/alt", "method": "GET"},
                },
            },
        },
    )
    system.at(T0)
    assert len(system.executor.calls) == 1
    system.at(T0 + timedelta(seconds=19))
    assert len(system.executor.calls) == 1  # the retry is not due yet
    system.at(T0 + timedelta(seconds=20))
    system.at(T0 + timedelta(seconds=40))
    assert len(system.executor.calls) == 4  # 3 main attempts, then the error action at once
    entries = system.history(ref)
    assert [(e.action_name, e.status, e.retry_count) for e in entries] == [
        (ActionName.MAIN_ACTION, HistoryStatus.FAILED, 0),
        (ActionName.MAIN_ACTION, HistoryStatus.FAILED, 1),
        (ActionName.MAIN_ACTION, HistoryStatus.FAILED, 2),
        (ActionName.ERROR_ACTION, HistoryStatus.COMPLETED, 0),
    ]
    assert entries[1].expected_execution_time == T0 + timedelta(seconds=20)
    assert {e.repeat_count for e in entries} == {1}
    uris = [invocation.payload.uri for invocation, _ in system.executor.calls]  # type: ignore[union-attr]
    assert uris[-1] == "http://127.0.0.1/alt"
    tags = {context.execution_tag for _, context in system.executor.calls}
    assert len(tags) == 4  # unique per attempt
    job = system.status(ref)
    assert job.state is JobState.FAULTED  # the main action decides (§11 Q5)
    assert (job.status.execution_count, job.status.failure_count, job.status.faulted_count) == (
        3,
        3,
        1,
    )
    assert job.status.next_execution_time is None


def test_default_retry_policy_gives_five_five_one(system: System) -> None:
    system.collection()
    system.executor.default = False
    ref = system.job(
        "doc", {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Hour"}}
    )
    for seconds in range(0, 121, 30):
        system.at(T0 + timedelta(seconds=seconds))
    job = system.status(ref)
    assert job.state is JobState.ENABLED
    assert (job.status.execution_count, job.status.failure_count, job.status.faulted_count) == (
        5,
        5,
        1,
    )
    assert [e.retry_count for e in system.history(ref)] == [0, 1, 2, 3, 4]
    assert job.status.next_execution_time == T0 + timedelta(hours=1)


def test_overlapping_occurrence_is_postponed_then_runs(system: System) -> None:
    system.collection()
    system.executor.outcomes = [False, False, False]
    ref = system.job(
        "slow",
        {
            "startTime": "2024-01-01T00:00:00Z",
            "recurrence": {"frequency": "Minute"},
            "action": {
                "type": "Http",
                "request": {"uri": "http://127.0.0.1/", "method": "GET"},
                "retryPolicy": {"retryType": "Fixed", "retryInterval": "PT40S", "retryCount": 3},
            },
        },
    )
    system.at(T0)  # attempt 0 fails
    system.at(T0 + timedelta(seconds=40))  # retry 1 fails
    system.at(T0 + MINUTE)  # the 00:01 slot finds the job busy: it waits, nothing written
    assert [e.status for e in system.history(ref)] == [HistoryStatus.FAILED] * 2
    system.at(T0 + timedelta(seconds=80))  # retry 2 fails
    # 00:02: retry 3 succeeds; the two slots that came due meanwhile get one Postponed entry,
    # the latest of them runs at once and the other is skipped.
    system.at(T0 + timedelta(seconds=120))
    entries = system.history(ref)
    assert [(e.expected_execution_time - T0, e.status, e.retry_count) for e in entries] == [
        (timedelta(0), HistoryStatus.FAILED, 0),
        (timedelta(seconds=40), HistoryStatus.FAILED, 1),
        (timedelta(seconds=80), HistoryStatus.FAILED, 2),
        (timedelta(seconds=120), HistoryStatus.COMPLETED, 3),
        (MINUTE, HistoryStatus.POSTPONED, 0),
        (2 * MINUTE, HistoryStatus.COMPLETED, 0),
    ]
    assert entries[4].message == (
        "2 occurrences (2024-01-01T00:01:00.000Z to 2024-01-01T00:02:00.000Z) came due while "
        "the previous occurrence of the job, started at 2024-01-01T00:00:00.000Z, was still "
        "running; the latest, 2024-01-01T00:02:00.000Z, runs now and the other 1 are skipped."
    )
    assert entries[4].repeat_count == entries[5].repeat_count == 2
    job = system.status(ref)
    assert job.state is JobState.ENABLED
    assert job.status.next_execution_time == T0 + 3 * MINUTE
    assert system.at(T0 + 3 * MINUTE) == 1


def test_run_now_leaves_the_schedule_and_count_alone(system: System) -> None:
    system.collection()
    ref = system.job(
        "daily",
        {"startTime": "2024-01-02T06:00:00Z", "recurrence": {"frequency": "Day", "count": 2}},
    )
    before = system.status(ref).status.next_execution_time
    system.run(system.service.run_job(ref))
    assert system.tick() == 1
    job = system.status(ref)
    assert job.status.next_execution_time == before
    assert job.status.execution_count == 1
    system.at(T0 + timedelta(days=1, hours=6))
    system.at(T0 + timedelta(days=2, hours=6))
    assert system.status(ref).state is JobState.COMPLETED
    assert len(system.history(ref)) == 3  # the run and both counted occurrences


def test_disable_and_enable_without_catch_up(system: System) -> None:
    collection = system.collection()
    ref = system.job(
        "minutely", {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Minute"}}
    )
    system.at(T0)
    system.run(system.service.disable_collection(collection))
    assert system.status(ref).state is JobState.DISABLED
    assert system.at(T0 + 5 * MINUTE) == 0
    system.clock.set(T0 + timedelta(minutes=10, seconds=30))
    system.run(system.service.enable_collection(collection))
    job = system.status(ref)
    assert job.state is JobState.ENABLED
    assert job.status.next_execution_time == T0 + 11 * MINUTE
    assert system.at(T0 + timedelta(minutes=10, seconds=31)) == 0
    assert system.at(T0 + 11 * MINUTE) == 1
    assert len(system.history(ref)) == 2


def test_disabled_job_does_not_run_and_re_enable_computes_from_now(system: System) -> None:
    system.collection()
    body = {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Minute"}}
    ref = system.job("j", {**body, "state": "Disabled"})
    assert system.status(ref).status.next_execution_time is None
    assert system.at(T0 + 3 * MINUTE) == 0
    system.job("j", {**body, "state": "Enabled"})
    assert system.status(ref).status.next_execution_time == T0 + 3 * MINUTE


def test_slots_missed_while_down_are_skipped(system: System) -> None:
    system.collection()
    ref = system.job(
        "m", {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Minute"}}
    )
    system.at(T0)
    assert system.at(T0 + timedelta(hours=1, seconds=10)) == 0  # an hour late: skipped
    job = system.status(ref)
    assert job.status.next_execution_time == T0 + timedelta(hours=1, minutes=1)
    assert len(system.history(ref)) == 1


def test_retention_purges_old_history_and_finished_jobs(system: System) -> None:
    system.collection()
    ref = system.job("once", {"startTime": "2024-01-01T00:00:00Z"})
    system.at(T0)
    assert system.status(ref).state is JobState.COMPLETED
    system.at(T0 + timedelta(days=59))
    assert len(system.history(ref)) == 1
    system.at(T0 + timedelta(days=61))
    page = system.run(system.service.list_jobs(ref.collection, None, None, 0))
    assert page.items == []


def test_history_keeps_the_newest_thousand_per_job(system: System) -> None:
    system.collection()
    system.engine.settings = type(system.engine.settings)(
        region="r", history_per_job=3, purge_every=timedelta(0)
    )
    ref = system.job(
        "s", {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Second"}}
    )
    for second in range(6):
        system.at(T0 + timedelta(seconds=second))
    system.at(T0 + timedelta(seconds=6))
    entries = system.history(ref)
    assert len(entries) == 3
    assert entries[-1].expected_execution_time == T0 + timedelta(seconds=6)


def test_a_failed_recording_keeps_the_results_for_the_next_try(system: System) -> None:
    system.collection()
    ref = system.job("once", {"startTime": "2024-01-01T00:00:00Z"})
    store = system.store
    original = store.record
    failures = [RuntimeError("deadlock detected")]

    async def flaky(node: Any, keys: Any, plan: Any) -> None:
        async def failing_write(held: Any, jobs: Any) -> Any:
            writes = await plan(held, jobs)  # decided, then the transaction fails
            if failures:
                raise failures.pop()
            return writes

        await original(node, keys, failing_write)

    store.record = flaky  # type: ignore[method-assign]
    system.clock.set(T0)
    try:
        system.tick()
        raise AssertionError("the recording should have failed")
    except RuntimeError:
        pass
    assert system.history(ref) == []
    system.tick()  # nothing new is due; the queued result is recorded now
    [entry] = system.history(ref)
    assert entry.status is HistoryStatus.COMPLETED
    assert len(system.executor.calls) == 1  # recorded once, sent once
    assert system.status(ref).state is JobState.COMPLETED


def test_a_node_claims_no_more_due_jobs_than_it_has_free_slots(system: System) -> None:
    system.collection()
    refs = [system.job(f"j{i}", {"startTime": "2024-01-01T00:00:00Z"}) for i in range(3)]
    system.clock.set(T0)
    started = system.run(system.engine._schedule(T0, 1))  # one free slot (run_forever's case)
    assert len(started) == 1
    assert system.run(system.engine._schedule(T0, 0)) == []  # none free: nothing claimed
    assert system.run(system.engine.run_until_idle()) == 2  # the other two are still due
    system.run(system.engine.run_until_idle())
    assert all(len(system.history(ref)) <= 1 for ref in refs)
    assert len(system.executor.calls) == 2  # the started one was never run by a tick


def test_slots_overdue_before_a_late_run_started_wait_for_it_unpostponed(
    system: System,
) -> None:
    """A late claim (an overloaded or paused node) leaves the job's overdue slots as backlog:
    they run after the late occurrence, each judged against the misfire grace, and none is
    recorded as Postponed, as an overlap (a slot due after the run started) would be."""
    system.collection()
    ref = system.job(
        "s", {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Second"}}
    )
    system.at(T0)  # slot 0 runs on time: the job's later slots are owed
    late = T0 + timedelta(seconds=3, milliseconds=500)
    system.clock.set(late)
    [first] = system.run(system.engine._schedule(late, 10))  # slot 1 claimed, still running
    assert first.occurrence.slot == T0 + timedelta(seconds=1)
    assert system.run(system.engine._schedule(late, 10)) == []  # slots 2-3 wait: backlog
    system.clock.set(T0 + timedelta(seconds=4, milliseconds=200))
    # Slot 4 is still behind slots 2-3 in the job's cursor: nothing is due or postponed.
    assert system.run(system.engine._schedule(system.clock.now(), 10)) == []
    assert len(system.history(ref)) == 1
    system.run(system.engine._attempt(first))
    system.run(system.engine.run_until_idle())
    entries = system.history(ref)
    assert [e.expected_execution_time - T0 for e in entries] == [
        timedelta(seconds=n) for n in range(5)
    ]
    assert {e.status for e in entries} == {HistoryStatus.COMPLETED}


def test_a_job_that_never_ran_claimed_late_starts_at_its_latest_due_slot(system: System) -> None:
    """§4.2: past slots of a new job are skipped, also when the engine reaches it late (it
    was created while the node was busy): it owes none of them, so it does not replay them."""
    system.collection()
    ref = system.job(
        "s", {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Second"}}
    )
    system.at(T0 + timedelta(seconds=3, milliseconds=500))
    assert [e.expected_execution_time - T0 for e in system.history(ref)] == [timedelta(seconds=3)]
    assert system.status(ref).status.next_execution_time == T0 + timedelta(seconds=4)


def test_an_overlap_is_still_postponed_after_a_late_claim(system: System) -> None:
    system.collection()
    ref = system.job(
        "s", {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Minute"}}
    )
    late = T0 + timedelta(seconds=5)
    system.clock.set(late)
    [first] = system.run(system.engine._schedule(late, 10))  # 00:00 runs 5 s late, for long
    system.clock.set(T0 + MINUTE + timedelta(seconds=1))
    assert system.run(system.engine._schedule(system.clock.now(), 10)) == []  # busy: waits
    assert system.history(ref) == []
    system.run(system.engine._attempt(first))
    system.run(system.engine.run_until_idle())  # 00:00 recorded, then the postponed 00:01 runs
    assert sorted(
        (e.expected_execution_time - T0, e.status.value) for e in system.history(ref)
    ) == [
        (timedelta(0), "Completed"),
        (MINUTE, "Completed"),
        (MINUTE, "Postponed"),
    ]


def test_a_hung_occurrence_writes_one_postponed_entry_not_one_per_slot(system: System) -> None:
    """An every-second job whose target hangs for 30 s: one Postponed entry for the 30 slots
    that waited, the latest runs after the hang, and the real entries are not pushed out."""
    system.collection()
    ref = system.job(
        "s", {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Second"}}
    )
    system.clock.set(T0)
    [first] = system.run(system.engine._schedule(T0, 10))
    for second in range(1, 31):  # the engine steps every second while the attempt hangs
        system.clock.set(T0 + timedelta(seconds=second))
        assert system.run(system.engine._schedule(system.clock.now(), 10)) == []
    system.run(system.engine._attempt(first))
    system.run(system.engine.run_until_idle())
    entries = system.history(ref)
    assert [(e.expected_execution_time - T0, e.status.value) for e in entries] == [
        (timedelta(0), "Completed"),
        (timedelta(seconds=1), "Postponed"),
        (timedelta(seconds=30), "Completed"),
    ]
    assert "30 occurrences" in entries[1].message
    assert "the other 29 are skipped" in entries[1].message
    assert system.status(ref).status.next_execution_time == T0 + timedelta(seconds=31)


def test_a_late_run_does_not_drop_the_slots_behind_it(system: System) -> None:
    system.collection()
    ref = system.job(
        "s", {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Second"}}
    )
    system.at(T0)
    system.at(T0 + timedelta(seconds=3, milliseconds=500))  # e.g. after a database hiccup
    expected = [entry.expected_execution_time - T0 for entry in system.history(ref)]
    assert expected == [timedelta(seconds=n) for n in range(4)]
    assert system.status(ref).status.next_execution_time == T0 + timedelta(seconds=4)


def test_a_job_disabled_while_its_attempt_runs_stays_disabled(system: System) -> None:
    """Recording an attempt never writes back a state read before it: a user's disable
    (of the job or of its collection) in the meantime wins, even over Completed."""
    collection = system.collection()
    every = system.job(
        "every", {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Minute"}}
    )
    once = system.job("once", {"startTime": "2024-01-01T00:00:00Z"})
    system.clock.set(T0)
    running = system.run(system.engine._schedule(T0, 10))
    assert len(running) == 2
    for item in running:
        system.run(system.engine._attempt(item))
    store = system.store
    record = store.record

    disabling: list[asyncio.Task[None]] = []

    async def disable_right_after_the_read(node: Any, keys: Any, plan: Any) -> None:
        async def decide(held: Any, jobs: Any) -> Any:
            # The recording has read the jobs; then the user disables (which waits for the
            # rows or the write lock the recording holds, or commits in between).
            disabling.append(asyncio.create_task(system.service.disable_collection(collection)))
            await asyncio.sleep(0.05)
            return await plan(held, jobs)

        await record(node, keys, decide)

    store.record = disable_right_after_the_read  # type: ignore[method-assign]
    system.run(system.engine._record())
    store.record = record  # type: ignore[method-assign]
    system.run(disabling[0])
    assert system.status(every).state is JobState.DISABLED
    # Disabled when the disable came first; Completed when it waited for the recording's
    # locks (PostgreSQL) and then found the job completed. Never written back as Enabled.
    assert system.status(once).state in (JobState.DISABLED, JobState.COMPLETED)
    assert system.status(once).status.execution_count == 1  # the attempt still counts


def test_a_job_whose_stored_definition_cannot_be_read_is_faulted_alone(system: System) -> None:
    """One job's bad data never stops another job: the engine faults the unreadable job,
    records why in its history, and goes on firing the others."""
    system.collection()
    every = {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Second"}}
    healthy = system.job("healthy", every)
    bad = system.job("bad", every)
    assert system.status(bad).state is JobState.ENABLED  # readable until it is corrupted

    async def corrupt() -> None:  # as an older version could have stored it
        async with system.store.transaction() as tx:
            stored = await _stored_job(tx, "bad")
            broken = stored.definition.replace("2024-01-01T00:00:00Z", "999-01-01T00:00:00Z")
            await tx.replace_definition(stored.id, broken)

    system.run(corrupt())
    system.engine._cache.clear()
    for second in range(5):
        system.at(T0 + timedelta(seconds=second))
    assert len(system.history(healthy)) == 5
    assert {e.status for e in system.history(healthy)} == {HistoryStatus.COMPLETED}

    async def bad_row() -> Any:
        async with system.store.reading() as tx:
            return await _stored_job(tx, "bad")

    row = system.run(bad_row())
    assert (row.state, row.next_time) == (JobState.FAULTED, None)

    async def entries_of(job_id: int) -> Any:
        async with system.store.reading() as tx:
            return await tx.list_history(job_id, None, None, 0)

    [entry] = system.run(entries_of(row.id))
    assert entry.status is HistoryStatus.FAILED
    assert "cannot be read" in entry.message
    assert entry.expected_time == T0


async def _stored_job(tx: JobReads, name: str) -> StoredJob:
    [collection] = await tx.all_collections()
    found = await tx.find_job(collection.id, name)
    assert found is not None
    return found


def test_an_attempt_claimed_ahead_does_not_fire_once_its_job_is_disabled(
    system: System,
) -> None:
    """run_forever claims slots ahead and fires them from timers: a job disabled (or a
    collection disabled, or a job deleted) before the instant does not fire that slot."""
    system.collection()
    every = {"startTime": "2024-01-01T00:00:01Z", "recurrence": {"frequency": "Second"}}
    kept, disabled = system.job("kept", every), system.job("disabled", every)
    engine = system.engine
    # 400 ms before both slots (real time: the timers of slots claimed ahead sleep for
    # real), so that the disable below lands first on a busy machine too.
    system.clock.set(T0 + timedelta(milliseconds=600))

    async def scenario() -> None:
        claimed = await engine._schedule(system.clock.now(), 10, timedelta(milliseconds=500))
        assert len(claimed) == 2
        tasks = [asyncio.create_task(engine._attempt(item, timed=True)) for item in claimed]
        await asyncio.sleep(0)  # both wait for their instant
        await system.service.patch_job(disabled, {"properties": {"state": "Disabled"}})
        engine.changed()
        await engine._drop_disabled()
        await asyncio.gather(*tasks, return_exceptions=True)
        await engine._record()

    system.run(scenario())
    assert [call[1].job for call in system.executor.calls] == ["kept"]
    assert [e.status for e in system.history(kept)] == [HistoryStatus.COMPLETED]
    assert system.history(disabled) == []
    system.clock.set(T0 + timedelta(seconds=1, milliseconds=500))  # past the dropped slot
    system.run(system.service.patch_job(disabled, {"properties": {"state": "Enabled"}}))
    system.at(T0 + timedelta(seconds=2))  # free again: it fires from its next slot on
    assert [e.expected_execution_time for e in system.history(disabled)] == [
        T0 + timedelta(seconds=2)
    ]
