"""Store contract, the engine's other queries: the next wake-up, retention and the state
flip of a collection's jobs."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jobclock.storage.sql_store import JobRecord, SqlStore
from jobclock.storage.tables import history
from tests.contract.rows import (
    DAY,
    MINUTE,
    T0,
    count_rows,
    history_row,
    new_collection,
    new_job,
    occurrence_row,
)

pytestmark = pytest.mark.anyio


async def test_next_wakeup_is_the_earliest_due_job_or_pending_attempt(store: SqlStore) -> None:
    async with store.transaction() as conn:
        assert await store.next_wakeup(conn) is None
    enabled = await new_collection(store, "on")
    disabled = await new_collection(store, "off", state="Disabled")
    job_id = await new_job(store, enabled, "job", next_execution_time=T0 + 5 * MINUTE)
    await new_job(store, enabled, "paused", state="Disabled", next_execution_time=T0)
    await new_job(store, enabled, "done", state="Completed", next_execution_time=None)
    await new_job(store, disabled, "job", next_execution_time=T0)
    async with store.transaction() as conn:
        assert await store.next_wakeup(conn) == T0 + 5 * MINUTE
        await store.insert_occurrences(
            conn,
            [
                occurrence_row(job_id, T0, due_at=T0 + 3 * MINUTE),
                occurrence_row(job_id, T0 - MINUTE, due_at=T0, status="running"),
            ],
        )
        assert await store.next_wakeup(conn) == T0 + 3 * MINUTE
        await store.update_job(conn, job_id, {"next_execution_time": T0 + MINUTE})
        assert await store.next_wakeup(conn) == T0 + MINUTE


async def test_purge_by_age(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    job_id = await new_job(store, collection_id)
    async with store.transaction() as conn:
        await store.insert_history(
            conn, [history_row(job_id, T0 + offset * DAY) for offset in range(5)]
        )
        purged = await store.purge(conn, T0 + 2 * DAY, 1000, T0)
        left = await store.list_history(conn, job_id, None, None, 0)
    assert purged == (2, 0)
    assert [entry.start_time for entry in left] == [T0 + 4 * DAY, T0 + 3 * DAY, T0 + 2 * DAY]


async def test_purge_keeps_the_newest_entries_of_each_job(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    busy = await new_job(store, collection_id, "busy")
    quiet = await new_job(store, collection_id, "quiet")
    rows = [history_row(busy, T0 + minute * MINUTE, message=str(minute)) for minute in range(6)]
    rows.append(history_row(busy, T0 + 5 * MINUTE, message="5 again"))  # a tie, newer id
    rows += [history_row(quiet, T0 + minute * MINUTE) for minute in range(2)]
    async with store.transaction() as conn:
        await store.insert_history(conn, rows)
        purged = await store.purge(conn, T0, 3, T0)
        kept = await store.list_history(conn, busy, None, None, 0)
        quiet_left = await store.list_history(conn, quiet, None, None, 0)
    assert purged == (4, 0)
    assert [entry.message for entry in kept] == ["5 again", "5", "4"]
    assert len(quiet_left) == 2


async def test_purge_removes_jobs_finished_before_the_cutoff(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    old_done = await new_job(store, collection_id, "old-done", state="Completed", finished_at=T0)
    old_faulted = await new_job(
        store, collection_id, "old-faulted", state="Faulted", finished_at=T0 + 1
    )
    recent = await new_job(
        store, collection_id, "recent", state="Completed", finished_at=T0 + 3 * DAY
    )
    revived = await new_job(store, collection_id, "revived", state="Enabled", finished_at=T0)
    async with store.transaction() as conn:
        for job_id in (old_done, old_faulted, recent, revived):
            await store.insert_history(conn, [history_row(job_id, T0 + 4 * DAY)])
            await store.insert_occurrences(conn, [occurrence_row(job_id)])
        purged = await store.purge(conn, T0, 1000, T0 + 2 * DAY)
    assert purged == (0, 2)
    async with store.transaction() as conn:
        assert await count_rows(conn, old_done) == (0, 0, 0)
        assert await count_rows(conn, old_faulted) == (0, 0, 0)
        assert await count_rows(conn, recent) == (1, 1, 1)
        assert await count_rows(conn, revived) == (1, 1, 1)
        assert len((await conn.execute(select(history.c.id))).all()) == 2


async def test_flip_job_states(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    other = await new_collection(store, "other")
    ids = {
        name: await new_job(store, collection_id, name, state=state, next_execution_time=None)
        for name, state in [("b", "Disabled"), ("a", "Disabled"), ("c", "Completed")]
    }
    untouched = await new_job(store, other, "a", state="Disabled", next_execution_time=None)
    seen: list[str] = []

    def next_time(record: JobRecord) -> int | None:
        seen.append(record.name)
        return None if record.name == "b" else T0 + record.id

    async with store.transaction() as conn:
        await store.flip_job_states(conn, collection_id, "Disabled", "Enabled", next_time)
        found = await store.jobs_by_ids(conn, [*ids.values(), untouched])
    assert sorted(seen) == ["a", "b"]
    states = {
        job_id: (record.state, record.next_execution_time) for job_id, record in found.items()
    }
    assert states == {
        ids["a"]: ("Enabled", T0 + ids["a"]),
        ids["b"]: ("Enabled", None),
        ids["c"]: ("Completed", None),
        untouched: ("Disabled", None),
    }
