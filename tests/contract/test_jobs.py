"""Store contract, jobs: case-insensitive keys, listing with a state filter and paging,
counts, single and many-row updates, deletes, and the engine's due-jobs query."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from jobclock.domain.collection import CollectionState
from jobclock.domain.job import JobState
from jobclock.domain.planning import Cursor
from jobclock.domain.records import EngineWrites, JobEnd
from jobclock.storage.sql_store import SqlStore
from tests.contract.rows import (
    T0,
    US,
    count_rows,
    history_row,
    new_collection,
    new_job,
    occurrence,
    schedule,
)

pytestmark = pytest.mark.anyio

FAR = T0 + timedelta(days=200 * 365)  # an instant of 2224: far beyond 32 bits (in µs)
ENABLED, DISABLED = JobState.ENABLED, JobState.DISABLED


async def test_insert_then_find_by_lower_cased_name(store: SqlStore) -> None:
    collection_id = await new_collection(store, "MyJobs")
    job_id = await new_job(store, collection_id, "NightlyRun", busy=True, anchor=FAR, last=FAR - US)
    async with store.transaction() as tx:
        found = await tx.find_job(collection_id, "nightlyrun")
        by_id = (await tx.jobs_by_ids([job_id])).get(job_id)
        other_case = await tx.find_job(collection_id, "NIGHTLYRUN")
        elsewhere = await tx.find_job(collection_id + 1, "nightlyrun")
    assert found is not None
    assert found == by_id
    assert (found.id, found.name, found.collection_name) == (job_id, "NightlyRun", "MyJobs")
    assert found.busy is True
    assert (found.cursor, found.next_time) == (Cursor(FAR, FAR - US, 0), T0)
    assert (found.finished_at, found.status.last_execution_time) == (None, None)
    assert (other_case, elsewhere) == (found, None)  # names are compared case-insensitively


async def test_names_are_unique_within_a_collection(store: SqlStore) -> None:
    first = await new_collection(store, "first")
    second = await new_collection(store, "second")
    await new_job(store, first, "job")
    await new_job(store, second, "job")
    with pytest.raises(IntegrityError):
        await new_job(store, first, "JOB")
    async with store.transaction() as tx:
        assert await tx.count_jobs(first) == 1


async def test_list_in_name_order_with_state_filter_limit_and_offset(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    other = await new_collection(store, "other")
    names = {"b": ENABLED, "A-2": DISABLED, "a_1": ENABLED, "a1": ENABLED, "c": JobState.FAULTED}
    for name, state in names.items():
        await new_job(store, collection_id, name, state=state)
    await new_job(store, other, "a0")
    in_order = sorted(name.lower() for name in names)
    async with store.transaction() as tx:
        listed = await tx.list_jobs(collection_id, None, None, 0)
        enabled = await tx.list_jobs(collection_id, ENABLED, None, 0)
        page = await tx.list_jobs(collection_id, None, 2, 1)
        tail = await tx.list_jobs(collection_id, None, None, 3)
        beyond = await tx.list_jobs(collection_id, None, 10, 10)
        in_state = await tx.list_jobs(collection_id, DISABLED)
        count = await tx.count_jobs(collection_id)
    assert [job.name.lower() for job in listed] == in_order
    assert [job.name for job in enabled] == ["a1", "a_1", "b"]
    assert [job.name.lower() for job in page] == in_order[1:3]
    assert [job.name.lower() for job in tail] == in_order[3:]
    assert beyond == []
    assert [job.name for job in in_state] == ["A-2"]
    assert count == 5
    assert {job.collection_name for job in listed} == {"jc"}


async def test_update_one(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    job_id = await new_job(store, collection_id)
    async with store.transaction() as tx:
        await tx.reschedule_job(job_id, schedule(definition="{}", state=DISABLED, next_time=None))
        record = (await tx.jobs_by_ids([job_id]))[job_id]
        await tx.apply(EngineWrites(progress=[dataclasses.replace(record, busy=True)]), None)
        found = (await tx.jobs_by_ids([job_id])).get(job_id)
    assert found is not None
    assert (found.definition, found.state, found.next_time) == ("{}", DISABLED, None)
    assert found.busy is True


async def test_update_many_in_one_statement(store: SqlStore) -> None:
    """Progress and cursors of many jobs, in one statement each; a state through an end
    (which also clears the next time)."""
    collection_id = await new_collection(store)
    ids = [await new_job(store, collection_id, f"job{index}") for index in range(4)]
    async with store.transaction() as tx:
        before = await tx.jobs_by_ids(ids)
    changed = [
        dataclasses.replace(
            before[job_id],
            status=dataclasses.replace(
                before[job_id].status, next_execution_time=None if index == 2 else FAR + index * US
            ),
            busy=index % 2 == 1,
            history_seq=2**40 + index,
        )
        for index, job_id in enumerate(ids)
    ]
    writes = EngineWrites(
        progress=list(reversed(changed[1:])),  # any order; job0 untouched
        cursors=list(reversed(changed[1:])),
        ended=[JobEnd(ids[3], JobState.COMPLETED, FAR)],
    )
    async with store.transaction() as tx:
        await tx.apply(writes, None)
        await tx.apply(EngineWrites(), None)
        found = await tx.jobs_by_ids(ids)
    assert found[ids[0]].next_time == T0
    assert found[ids[0]].history_seq == 0
    for index, job_id in enumerate(ids[1:], start=1):
        record = found[job_id]
        expected = changed[index]
        assert record.next_time == (None if index == 3 else expected.next_time)
        assert record.busy is expected.busy
        assert record.history_seq == expected.history_seq
        assert record.state == (JobState.COMPLETED if index == 3 else ENABLED)


async def test_jobs_by_ids(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    first = await new_job(store, collection_id, "first")
    second = await new_job(store, collection_id, "second")
    async with store.transaction() as tx:
        found = await tx.jobs_by_ids([first, second, first, second + 100])
        empty = await tx.jobs_by_ids([])
    assert {job_id: record.name for job_id, record in found.items()} == {
        first: "first",
        second: "second",
    }
    assert empty == {}


async def test_delete_takes_its_occurrences_and_history_only(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    doomed = await new_job(store, collection_id, "doomed")
    kept = await new_job(store, collection_id, "kept")
    async with store.transaction() as tx:
        for job_id in (doomed, kept):
            await tx.insert_occurrences([occurrence(job_id)], None)
            entries = [history_row(job_id), history_row(job_id, T0 + US)]
            await tx.apply(EngineWrites(entries=entries), None)
    async with store.transaction() as tx:
        await tx.delete_job(doomed)
    async with store.transaction() as tx:
        assert await tx.jobs_by_ids([doomed]) == {}
    async with store.reading_connection() as conn:
        assert await count_rows(conn, doomed) == (0, 0, 0)
        assert await count_rows(conn, kept) == (1, 1, 2)


async def test_due_jobs_are_enabled_jobs_of_enabled_collections_in_time_order(
    store: SqlStore,
) -> None:
    enabled = await new_collection(store, "on")
    disabled = await new_collection(store, "off", state=CollectionState.DISABLED)
    await new_job(store, enabled, "late", next_time=T0 + 2 * US)
    await new_job(store, enabled, "early", next_time=T0)
    await new_job(store, enabled, "exactly-now", next_time=T0 + 5 * US)
    await new_job(store, enabled, "future", next_time=T0 + 6 * US)
    await new_job(store, enabled, "disabled", state=DISABLED, next_time=T0)
    await new_job(store, enabled, "done", state=JobState.COMPLETED, next_time=None)
    await new_job(store, enabled, "unscheduled", next_time=None)
    await new_job(store, disabled, "in-a-disabled-collection", next_time=T0)
    async with store.transaction() as tx:
        due = await tx.due_jobs(T0 + 5 * US, 10)
        first_two = await tx.due_jobs(T0 + 5 * US, 2)
        none = await tx.due_jobs(T0 - US, 10)
    assert [record.name for record in due] == ["early", "late", "exactly-now"]
    assert [record.name for record in first_two] == ["early", "late"]
    assert none == []


async def test_a_busy_job_is_never_due_nor_wakes_the_engine(store: SqlStore) -> None:
    """A busy job's due slots wait for its running occurrence to be recorded (the recording
    decides between backlog and overlap), whatever their age."""
    collection_id = await new_collection(store)
    await new_job(store, collection_id, "free", next_time=T0)
    await new_job(store, collection_id, "backlog", next_time=T0, busy=True, busy_since=T0 + 3 * US)
    await new_job(
        store, collection_id, "overlap", next_time=T0 + 4 * US, busy=True, busy_since=T0 + 3 * US
    )
    async with store.transaction() as tx:
        soon = await tx.due_jobs(T0 + 5 * US, 10)
        much_later = await tx.due_jobs(T0 + timedelta(hours=1), 10)
        for record in soon:
            await tx.reschedule_job(record.id, schedule(next_time=None))
        wakeup_of_busy_only = await tx.next_wakeup(T0 + 5 * US)
        # Every node wakes at a busy job's next slot still ahead, to compete for it.
        wakeup_before_the_overlap = await tx.next_wakeup(T0 + 3 * US)
    assert [record.name for record in soon] == ["free"]
    assert [record.name for record in much_later] == ["free"]
    assert wakeup_of_busy_only is None  # the recording of its running occurrence wakes
    assert wakeup_before_the_overlap == T0 + 4 * US


async def test_jobs_by_a_part_of_their_name(store: SqlStore) -> None:
    """Case-insensitive; ``_`` and ``%`` are plain characters, not LIKE wildcards."""
    collection_id = await new_collection(store)
    for name in ("Nightly_Sync", "nightly-report", "NightlyXSync", "weekly"):
        await new_job(store, collection_id, name)
    async with store.transaction() as tx:
        nightly = await tx.list_jobs(collection_id, None, None, 0, name_contains="NIGHT")
        underscore = await tx.list_jobs(collection_id, None, None, 0, name_contains="y_s")
        percent = await tx.list_jobs(collection_id, None, None, 0, name_contains="%")
        paged = await tx.list_jobs(collection_id, None, 1, 1, name_contains="nightly")
    assert [job.name for job in nightly] == ["nightly-report", "Nightly_Sync", "NightlyXSync"]
    assert [job.name for job in underscore] == ["Nightly_Sync"]
    assert percent == []
    assert [job.name for job in paged] == ["Nightly_Sync"]
