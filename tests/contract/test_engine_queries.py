"""Store contract, the engine's other queries: the next wake-up, retention and the state
flip of a collection's jobs."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from jobclock.domain.collection import CollectionState
from jobclock.domain.job import JobState
from jobclock.domain.records import EngineWrites, Lease, StoredJob
from jobclock.storage.sql_store import SqlStore
from jobclock.storage.tables import history
from tests.contract.rows import (
    DAY,
    MINUTE,
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

ENABLED, DISABLED = JobState.ENABLED, JobState.DISABLED
COMPLETED, FAULTED = JobState.COMPLETED, JobState.FAULTED


async def test_next_wakeup_is_the_earliest_due_job_or_pending_attempt(store: SqlStore) -> None:
    async with store.transaction() as tx:
        assert await tx.next_wakeup(T0) is None
    enabled = await new_collection(store, "on")
    disabled = await new_collection(store, "off", state=CollectionState.DISABLED)
    job_id = await new_job(store, enabled, "job", next_time=T0 + 5 * MINUTE)
    await new_job(store, enabled, "paused", state=DISABLED, next_time=T0)
    await new_job(store, enabled, "done", state=COMPLETED, next_time=None)
    await new_job(store, disabled, "job", next_time=T0)
    async with store.transaction() as tx:
        assert await tx.next_wakeup(T0) == T0 + 5 * MINUTE
        await tx.insert_occurrences([occurrence(job_id, T0, due_at=T0 + 3 * MINUTE)], None)
        await tx.insert_occurrences(
            [occurrence(job_id, T0 - MINUTE, due_at=T0)], Lease("node-a", T0 + DAY)
        )  # running
        assert await tx.next_wakeup(T0) == T0 + 3 * MINUTE
        await tx.reschedule_job(job_id, schedule(next_time=T0 + MINUTE))
        assert await tx.next_wakeup(T0) == T0 + MINUTE


async def test_purge_by_age(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    job_id = await new_job(store, collection_id)
    async with store.transaction() as tx:
        entries = [history_row(job_id, T0 + offset * DAY) for offset in range(5)]
        await tx.apply(EngineWrites(entries=entries), None)
        purged = await tx.purge(T0 + 2 * DAY, 1000, T0)
        left = await tx.list_history(job_id, None, None, 0)
    assert purged == (2, 0)
    assert [entry.start_time for entry in left] == [T0 + 4 * DAY, T0 + 3 * DAY, T0 + 2 * DAY]


async def test_purge_keeps_the_newest_entries_of_each_job(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    busy = await new_job(store, collection_id, "busy")
    quiet = await new_job(store, collection_id, "quiet")
    rows = [history_row(busy, T0 + minute * MINUTE, message=str(minute)) for minute in range(6)]
    rows.append(history_row(busy, T0 + 5 * MINUTE, message="5 again"))  # a tie, newer id
    rows += [history_row(quiet, T0 + minute * MINUTE) for minute in range(2)]
    async with store.transaction() as tx:
        await tx.apply(EngineWrites(entries=rows), None)
        purged = await tx.purge(T0, 3, T0)
        kept = await tx.list_history(busy, None, None, 0)
        quiet_left = await tx.list_history(quiet, None, None, 0)
    assert purged == (4, 0)
    assert [entry.message for entry in kept] == ["5 again", "5", "4"]
    assert len(quiet_left) == 2


async def test_purge_removes_jobs_finished_before_the_cutoff(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    old_done = await new_job(store, collection_id, "old-done", state=COMPLETED, finished_at=T0)
    old_faulted = await new_job(
        store, collection_id, "old-faulted", state=FAULTED, finished_at=T0 + US
    )
    recent = await new_job(
        store, collection_id, "recent", state=COMPLETED, finished_at=T0 + 3 * DAY
    )
    revived = await new_job(store, collection_id, "revived", state=ENABLED, finished_at=T0)
    async with store.transaction() as tx:
        for job_id in (old_done, old_faulted, recent, revived):
            await tx.apply(EngineWrites(entries=[history_row(job_id, T0 + 4 * DAY)]), None)
            await tx.insert_occurrences([occurrence(job_id)], None)
        purged = await tx.purge(T0, 1000, T0 + 2 * DAY)
    assert purged == (0, 2)
    async with store.reading_connection() as conn:
        assert await count_rows(conn, old_done) == (0, 0, 0)
        assert await count_rows(conn, old_faulted) == (0, 0, 0)
        assert await count_rows(conn, recent) == (1, 1, 1)
        assert await count_rows(conn, revived) == (1, 1, 1)
        assert len((await conn.execute(select(history.c.id))).all()) == 2


async def test_flip_job_states(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    other = await new_collection(store, "other")
    ids = {
        name: await new_job(store, collection_id, name, state=state, next_time=None)
        for name, state in [("b", DISABLED), ("a", DISABLED), ("c", COMPLETED)]
    }
    untouched = await new_job(store, other, "a", state=DISABLED, next_time=None)
    seen: list[str] = []

    def next_time(record: StoredJob) -> datetime | None:
        seen.append(record.name)
        return None if record.name == "b" else T0 + record.id * US

    async with store.transaction() as tx:
        await tx.flip_job_states(collection_id, DISABLED, ENABLED, next_time)
        found = await tx.jobs_by_ids([*ids.values(), untouched])
    assert sorted(seen) == ["a", "b"]
    states = {job_id: (record.state, record.next_time) for job_id, record in found.items()}
    assert states == {
        ids["a"]: (ENABLED, T0 + ids["a"] * US),
        ids["b"]: (ENABLED, None),
        ids["c"]: (COMPLETED, None),
        untouched: (DISABLED, None),
    }
