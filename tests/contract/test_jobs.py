"""Store contract, jobs: case-insensitive keys, listing with a state filter and paging,
counts, single and executemany updates, deletes, and the engine's due-jobs query."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from jobclock.storage.sql_store import SqlStore
from tests.contract.rows import (
    MINUTE,
    T0,
    count_rows,
    history_row,
    new_collection,
    new_job,
    occurrence_row,
)

pytestmark = pytest.mark.anyio

FAR = T0 + 200 * 365 * 24 * 60 * MINUTE  # an instant of 2224: far beyond 32 bits


async def test_insert_then_find_by_lower_cased_name(store: SqlStore) -> None:
    collection_id = await new_collection(store, "MyJobs")
    job_id = await new_job(
        store, collection_id, "NightlyRun", busy=True, anchor=FAR, last_occurrence=FAR - 1
    )
    async with store.transaction() as conn:
        found = await store.find_job(conn, collection_id, "nightlyrun")
        by_id = await store.job_by_id(conn, job_id)
        wrong_case = await store.find_job(conn, collection_id, "NightlyRun")
        elsewhere = await store.find_job(conn, collection_id + 1, "nightlyrun")
    assert found is not None
    assert found == by_id
    assert (found.id, found.name, found.collection_name) == (job_id, "NightlyRun", "MyJobs")
    assert found.busy is True
    assert (found.anchor, found.last_occurrence, found.next_execution_time) == (FAR, FAR - 1, T0)
    assert (found.postponed, found.finished_at, found.last_execution_time) == (None, None, None)
    assert (wrong_case, elsewhere) == (None, None)


async def test_names_are_unique_within_a_collection(store: SqlStore) -> None:
    first = await new_collection(store, "first")
    second = await new_collection(store, "second")
    await new_job(store, first, "job")
    await new_job(store, second, "job")
    with pytest.raises(IntegrityError):
        await new_job(store, first, "JOB")
    async with store.transaction() as conn:
        assert await store.count_jobs(conn, first) == 1


async def test_list_in_name_order_with_state_filter_limit_and_offset(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    other = await new_collection(store, "other")
    names = {"b": "Enabled", "A-2": "Disabled", "a_1": "Enabled", "a1": "Enabled", "c": "Faulted"}
    for name, state in names.items():
        await new_job(store, collection_id, name, state=state)
    await new_job(store, other, "a0")
    in_order = sorted(name.lower() for name in names)
    async with store.transaction() as conn:
        listed = await store.list_jobs(conn, collection_id, None, None, 0)
        enabled = await store.list_jobs(conn, collection_id, "Enabled", None, 0)
        page = await store.list_jobs(conn, collection_id, None, 2, 1)
        tail = await store.list_jobs(conn, collection_id, None, None, 3)
        beyond = await store.list_jobs(conn, collection_id, None, 10, 10)
        in_state = await store.jobs_in_state(conn, collection_id, "Disabled")
        count = await store.count_jobs(conn, collection_id)
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
    async with store.transaction() as conn:
        await store.update_job(
            conn,
            job_id,
            {"definition": "{}", "state": "Disabled", "next_execution_time": None, "busy": True},
        )
        found = await store.job_by_id(conn, job_id)
    assert found is not None
    assert (found.definition, found.state, found.next_execution_time) == ("{}", "Disabled", None)
    assert found.busy is True


async def test_update_many_in_one_statement(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    ids = [await new_job(store, collection_id, f"job{index}") for index in range(4)]
    rows = [
        {
            "id": job_id,
            "next_execution_time": None if index == 2 else FAR + index,
            "busy": index % 2 == 1,
            "history_seq": 2**40 + index,
            "state": "Completed" if index == 3 else "Enabled",
        }
        for index, job_id in enumerate(ids)
    ]
    async with store.transaction() as conn:
        await store.update_jobs(conn, list(reversed(rows[1:])))  # any order; job0 untouched
        await store.update_jobs(conn, [])
        found = await store.jobs_by_ids(conn, ids)
    assert found[ids[0]].next_execution_time == T0
    assert found[ids[0]].history_seq == 0
    for index, job_id in enumerate(ids[1:], start=1):
        record = found[job_id]
        expected = rows[index]
        assert record.next_execution_time == expected["next_execution_time"]
        assert record.busy is expected["busy"]
        assert record.history_seq == expected["history_seq"]
        assert record.state == expected["state"]


async def test_jobs_by_ids(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    first = await new_job(store, collection_id, "first")
    second = await new_job(store, collection_id, "second")
    async with store.transaction() as conn:
        found = await store.jobs_by_ids(conn, [first, second, first, second + 100])
        empty = await store.jobs_by_ids(conn, [])
    assert {job_id: record.name for job_id, record in found.items()} == {
        first: "first",
        second: "second",
    }
    assert empty == {}


async def test_delete_takes_its_occurrences_and_history_only(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    doomed = await new_job(store, collection_id, "doomed")
    kept = await new_job(store, collection_id, "kept")
    async with store.transaction() as conn:
        for job_id in (doomed, kept):
            await store.insert_occurrences(conn, [occurrence_row(job_id)])
            await store.insert_history(conn, [history_row(job_id), history_row(job_id, T0 + 1)])
    async with store.transaction() as conn:
        await store.delete_job(conn, doomed)
    async with store.transaction() as conn:
        assert await count_rows(conn, doomed) == (0, 0, 0)
        assert await count_rows(conn, kept) == (1, 1, 2)
        assert await store.job_by_id(conn, doomed) is None


async def test_due_jobs_are_enabled_jobs_of_enabled_collections_in_time_order(
    store: SqlStore,
) -> None:
    enabled = await new_collection(store, "on")
    disabled = await new_collection(store, "off", state="Disabled")
    await new_job(store, enabled, "late", next_execution_time=T0 + 2)
    await new_job(store, enabled, "early", next_execution_time=T0)
    await new_job(store, enabled, "exactly-now", next_execution_time=T0 + 5)
    await new_job(store, enabled, "future", next_execution_time=T0 + 6)
    await new_job(store, enabled, "disabled", state="Disabled", next_execution_time=T0)
    await new_job(store, enabled, "done", state="Completed", next_execution_time=None)
    await new_job(store, enabled, "unscheduled", next_execution_time=None)
    await new_job(store, disabled, "in-a-disabled-collection", next_execution_time=T0)
    async with store.transaction() as conn:
        due = await store.due_jobs(conn, T0 + 5, 10)
        first_two = await store.due_jobs(conn, T0 + 5, 2)
        none = await store.due_jobs(conn, T0 - 1, 10)
    assert [record.name for record in due] == ["early", "late", "exactly-now"]
    assert [record.name for record in first_two] == ["early", "late"]
    assert none == []


async def test_a_busy_job_is_never_due_nor_wakes_the_engine(store: SqlStore) -> None:
    """A busy job's due slots wait for its running occurrence to be recorded (the recording
    decides between backlog and overlap), whatever their age."""
    collection_id = await new_collection(store)
    await new_job(store, collection_id, "free", next_execution_time=T0)
    await new_job(
        store, collection_id, "backlog", next_execution_time=T0, busy=True, busy_since=T0 + 3
    )
    await new_job(
        store, collection_id, "overlap", next_execution_time=T0 + 4, busy=True, busy_since=T0 + 3
    )
    async with store.transaction() as conn:
        soon = await store.due_jobs(conn, T0 + 5, 10)
        much_later = await store.due_jobs(conn, T0 + 3600 * 1_000_000, 10)
        for record in soon:
            await store.update_job(conn, record.id, {"next_execution_time": None})
        wakeup_of_busy_only = await store.next_wakeup(conn, T0 + 5)
        # Every node wakes at a busy job's next slot still ahead, to compete for it.
        wakeup_before_the_overlap = await store.next_wakeup(conn, T0 + 3)
    assert [record.name for record in soon] == ["free"]
    assert [record.name for record in much_later] == ["free"]
    assert wakeup_of_busy_only is None  # the recording of its running occurrence wakes
    assert wakeup_before_the_overlap == T0 + 4


async def test_jobs_by_a_part_of_their_name(store: SqlStore) -> None:
    """Case-insensitive; ``_`` and ``%`` are plain characters, not LIKE wildcards."""
    collection_id = await new_collection(store)
    for name in ("Nightly_Sync", "nightly-report", "NightlyXSync", "weekly"):
        await new_job(store, collection_id, name)
    async with store.transaction() as conn:
        nightly = await store.list_jobs(conn, collection_id, None, None, 0, name_contains="NIGHT")
        underscore = await store.list_jobs(conn, collection_id, None, None, 0, name_contains="y_s")
        percent = await store.list_jobs(conn, collection_id, None, None, 0, name_contains="%")
        paged = await store.list_jobs(conn, collection_id, None, 1, 1, name_contains="nightly")
    assert [job.name for job in nightly] == ["nightly-report", "Nightly_Sync", "NightlyXSync"]
    assert [job.name for job in underscore] == ["Nightly_Sync"]
    assert percent == []
    assert [job.name for job in paged] == ["Nightly_Sync"]
