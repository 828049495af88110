"""Store contract, occurrences: claiming due attempts, updates and deletes by
(job, scheduled time, kind), the uniqueness of that key, and recovery of running ones."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from jobclock.storage.sql_store import SqlStore
from tests.contract.rows import (
    MINUTE,
    T0,
    new_collection,
    new_job,
    occurrence_row,
    occurrence_table,
)

pytestmark = pytest.mark.anyio

NODE = "node-a"
LEASED = 10**18  # far in the future: leases that do not expire during a test


async def _job(store: SqlStore, name: str = "job") -> int:
    collection_id = await new_collection(store, f"jc-{name}")
    return await new_job(store, collection_id, name)


async def test_due_attempts_are_claimed_once_in_due_order(store: SqlStore) -> None:
    job_id = await _job(store)
    rows = [
        occurrence_row(job_id, T0 + 3 * MINUTE, final=True, repeat_count=3),
        occurrence_row(job_id, T0, due_at=T0 + 2 * MINUTE, phase="error", main_failed=True),
        occurrence_row(job_id, T0 + MINUTE),
        occurrence_row(job_id, T0 + MINUTE, kind="run", due_at=T0 + 9 * MINUTE),
        occurrence_row(job_id, T0 - MINUTE, status="running"),
    ]
    async with store.transaction() as conn:
        await store.insert_occurrences(conn, rows)
        await store.insert_occurrences(conn, [])
    async with store.transaction() as conn:
        first = await store.due_attempts(conn, T0 + 3 * MINUTE, 2, NODE, LEASED)
    async with store.transaction() as conn:
        rest = await store.due_attempts(conn, T0 + 3 * MINUTE, 10, NODE, LEASED)
        again = await store.due_attempts(conn, T0 + 3 * MINUTE, 10, NODE, LEASED)
        table = await occurrence_table(conn)
    assert [item.due_at for item in first] == [T0 + MINUTE, T0 + 2 * MINUTE]
    assert all(item.id is not None for item in first)
    error = first[1]
    assert (error.phase, error.main_failed, error.final, error.scheduled_time) == (
        "error",
        True,
        False,
        T0,
    )
    [last] = rest
    assert (last.scheduled_time, last.final, last.repeat_count) == (T0 + 3 * MINUTE, True, 3)
    assert again == []
    statuses = {(row["scheduled_time"], row["kind"]): row["status"] for row in table}
    assert statuses == {
        (T0 - MINUTE, "scheduled"): "running",
        (T0, "scheduled"): "running",
        (T0 + MINUTE, "scheduled"): "running",
        (T0 + MINUTE, "run"): "pending",  # due later
        (T0 + 3 * MINUTE, "scheduled"): "running",
    }


async def test_the_key_is_unique(store: SqlStore) -> None:
    job_id = await _job(store)
    async with store.transaction() as conn:
        await store.insert_occurrences(conn, [occurrence_row(job_id)])
    with pytest.raises(IntegrityError):
        async with store.transaction() as conn:
            await store.insert_occurrences(conn, [occurrence_row(job_id, due_at=T0 + 1)])
    other = await _job(store, "other")
    async with store.transaction() as conn:  # another kind, time or job is another key
        await store.insert_occurrences(
            conn,
            [
                occurrence_row(job_id, kind="run"),
                occurrence_row(job_id, T0 + 1),
                occurrence_row(other),
            ],
        )
        assert len(await occurrence_table(conn)) == 4


async def test_update_by_key(store: SqlStore) -> None:
    job_id = await _job(store)
    async with store.transaction() as conn:
        await store.insert_occurrences(
            conn,
            [
                occurrence_row(job_id, T0, status="running"),
                occurrence_row(job_id, T0, kind="run", status="running"),
                occurrence_row(job_id, T0 + MINUTE, status="running"),
            ],
        )
    changes = {
        "phase": "error",
        "attempt": 2,
        "due_at": T0 + 5 * MINUTE,
        "status": "pending",
        "main_failed": True,
        "execution_tag": "f" * 32,
    }
    async with store.transaction() as conn:
        await store.update_occurrences(
            conn,
            [
                {"job_id": job_id, "scheduled_time": T0 + MINUTE, "kind": "scheduled"} | changes,
                {"job_id": job_id, "scheduled_time": T0, "kind": "run"}
                | changes
                | {"attempt": 1, "main_failed": False},
            ],
        )
        await store.update_occurrences(conn, [])
        table = await occurrence_table(conn)
    run, untouched, later = table  # in key order: "run" sorts before "scheduled"
    assert (untouched["kind"], untouched["status"], untouched["attempt"]) == (
        "scheduled",
        "running",
        0,
    )
    assert (run["kind"], run["attempt"], run["main_failed"], run["phase"]) == (
        "run",
        1,
        False,
        "error",
    )
    assert {name: later[name] for name in changes} == changes


async def test_delete_by_key(store: SqlStore) -> None:
    job_id = await _job(store)
    async with store.transaction() as conn:
        await store.insert_occurrences(
            conn,
            [
                occurrence_row(job_id, T0),
                occurrence_row(job_id, T0, kind="run"),
                occurrence_row(job_id, T0 + MINUTE),
            ],
        )
    async with store.transaction() as conn:
        await store.delete_occurrences(
            conn, [(job_id, T0, "run"), (job_id, T0 + MINUTE, "scheduled")]
        )
        await store.delete_occurrences(conn, [])
        await store.delete_occurrences(conn, [(job_id + 1, T0, "scheduled")])
        table = await occurrence_table(conn)
    assert [(row["scheduled_time"], row["kind"]) for row in table] == [(T0, "scheduled")]


async def test_reset_running_makes_them_pending_again(store: SqlStore) -> None:
    job_id = await _job(store)
    async with store.transaction() as conn:
        await store.insert_occurrences(
            conn,
            [
                occurrence_row(job_id, T0, status="running", lease_owner=NODE),
                occurrence_row(job_id, T0 + MINUTE, status="running", lease_owner=NODE),
                occurrence_row(job_id, T0 + 2 * MINUTE),
            ],
        )
    async with store.transaction() as conn:
        assert await store.reset_running(conn, NODE, T0 + 5 * MINUTE) == 2
        # The job's occurrence starts again now: slots missed meanwhile are backlog.
        assert (await store.job_by_id(conn, job_id)).busy_since == T0 + 5 * MINUTE  # type: ignore[union-attr]
    async with store.transaction() as conn:
        assert await store.reset_running(conn, NODE, T0 + 6 * MINUTE) == 0
        assert (await store.job_by_id(conn, job_id)).busy_since == T0 + 5 * MINUTE  # type: ignore[union-attr]
        claimed = await store.due_attempts(conn, T0 + 2 * MINUTE, 10, NODE, LEASED)
    assert [item.scheduled_time for item in claimed] == [T0, T0 + MINUTE, T0 + 2 * MINUTE]


async def test_an_expired_lease_is_taken_over_with_the_same_tag(store: SqlStore) -> None:
    job_id = await _job(store)
    tag = "a" * 32
    async with store.transaction() as conn:
        await store.insert_occurrences(
            conn,
            [
                occurrence_row(
                    job_id,
                    T0,
                    status="running",
                    lease_owner="dead",
                    lease_expiry=T0 + MINUTE,
                    execution_tag=tag,
                ),
                occurrence_row(
                    job_id,
                    T0 + MINUTE,
                    status="running",
                    lease_owner="alive",
                    lease_expiry=T0 + 9 * MINUTE,
                ),
            ],
        )
    async with store.transaction() as conn:
        assert (
            await store.due_attempts(conn, T0 + MINUTE, 10, NODE, LEASED) == []
        )  # not yet expired
    async with store.transaction() as conn:
        [taken] = await store.due_attempts(conn, T0 + 2 * MINUTE, 10, NODE, LEASED)
        job = await store.job_by_id(conn, job_id)
    assert (taken.scheduled_time, taken.execution_tag) == (T0, tag)
    assert job is not None
    assert job.busy_since == T0 + 2 * MINUTE  # taken over: it starts again now
    key = (job_id, T0, "scheduled")
    other = (job_id, T0 + MINUTE, "scheduled")
    async with store.transaction() as conn:
        assert await store.still_leased(conn, NODE, [key, other]) == {key}
        assert await store.still_leased(conn, "dead", [key]) == set()
        await store.extend_leases(conn, NODE, [key, other], T0 + 30 * MINUTE)
        table = await occurrence_table(conn)
    leases = {(row["scheduled_time"], row["lease_owner"], row["lease_expiry"]) for row in table}
    assert leases == {(T0, NODE, T0 + 30 * MINUTE), (T0 + MINUTE, "alive", T0 + 9 * MINUTE)}


async def test_nodes_heartbeat_and_list(store: SqlStore) -> None:
    async with store.transaction() as conn:
        await store.heartbeat(conn, "b", T0, T0)
        await store.heartbeat(conn, "a", T0, T0 + MINUTE)
        await store.heartbeat(conn, "a", T0, T0 + 2 * MINUTE)
        assert await store.list_nodes(conn) == [("a", T0, T0 + 2 * MINUTE), ("b", T0, T0)]
