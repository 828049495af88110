"""Store contract, occurrences: claiming due attempts, updates and deletes by
(job, scheduled time, kind), the uniqueness of that key, and recovery of running ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from jobclock.domain.planning import Phase
from jobclock.domain.records import Lease, NodeBeat, OccurrenceKey
from jobclock.storage.encoding import to_us
from jobclock.storage.sql_store import SqlStore
from tests.contract.rows import (
    MINUTE,
    RUN,
    SCHEDULED,
    T0,
    US,
    new_collection,
    new_job,
    occurrence,
    occurrence_table,
)

pytestmark = pytest.mark.anyio

NODE = "node-a"
LEASED = T0 + timedelta(days=3650)  # far in the future: leases that do not expire in a test
LEASE = Lease(NODE, LEASED)


async def _job(store: SqlStore, name: str = "job") -> int:
    collection_id = await new_collection(store, f"jc-{name}")
    return await new_job(store, collection_id, name)


async def test_due_attempts_are_claimed_once_in_due_order(store: SqlStore) -> None:
    job_id = await _job(store)
    pending = [
        occurrence(job_id, T0 + 3 * MINUTE, final=True, repeat_count=3),
        occurrence(job_id, T0, due_at=T0 + 2 * MINUTE, phase=Phase.ERROR, main_failed=True),
        occurrence(job_id, T0 + MINUTE),
        occurrence(job_id, T0 + MINUTE, kind=RUN, due_at=T0 + 9 * MINUTE),
    ]
    async with store.transaction() as tx:
        await tx.insert_occurrences(pending, None)
        await tx.insert_occurrences([occurrence(job_id, T0 - MINUTE)], Lease("other", LEASED))
        await tx.insert_occurrences([], None)
    async with store.transaction() as tx:
        first = await tx.due_attempts(T0 + 3 * MINUTE, 2, LEASE)
    async with store.transaction() as tx:
        rest = await tx.due_attempts(T0 + 3 * MINUTE, 10, LEASE)
        again = await tx.due_attempts(T0 + 3 * MINUTE, 10, LEASE)
    async with store.reading_connection() as conn:
        table = await occurrence_table(conn)
    assert [item.due_at for item in first] == [T0 + MINUTE, T0 + 2 * MINUTE]
    assert [item.key for item in first] == [
        OccurrenceKey(job_id, T0 + MINUTE, SCHEDULED),
        OccurrenceKey(job_id, T0, SCHEDULED),
    ]
    error = first[1]
    assert (error.phase, error.main_failed, error.final, error.slot) == (
        Phase.ERROR,
        True,
        False,
        T0,
    )
    [last] = rest
    assert (last.slot, last.final, last.repeat_count) == (T0 + 3 * MINUTE, True, 3)
    assert again == []
    statuses = {(row["scheduled_time"], row["kind"]): row["status"] for row in table}
    assert statuses == {
        (to_us(T0 - MINUTE), "scheduled"): "running",
        (to_us(T0), "scheduled"): "running",
        (to_us(T0 + MINUTE), "scheduled"): "running",
        (to_us(T0 + MINUTE), "run"): "pending",  # due later
        (to_us(T0 + 3 * MINUTE), "scheduled"): "running",
    }


async def test_the_key_is_unique(store: SqlStore) -> None:
    job_id = await _job(store)
    async with store.transaction() as tx:
        await tx.insert_occurrences([occurrence(job_id)], None)
    with pytest.raises(IntegrityError):
        async with store.transaction() as tx:
            await tx.insert_occurrences([occurrence(job_id, due_at=T0 + US)], None)
    other = await _job(store, "other")
    async with store.transaction() as tx:  # another kind, time or job is another key
        await tx.insert_occurrences(
            [occurrence(job_id, kind=RUN), occurrence(job_id, T0 + US), occurrence(other)], None
        )
    async with store.reading_connection() as conn:
        assert len(await occurrence_table(conn)) == 4


async def test_update_by_key(store: SqlStore) -> None:
    job_id = await _job(store)
    async with store.transaction() as tx:
        await tx.insert_occurrences(
            [
                occurrence(job_id, T0),
                occurrence(job_id, T0, kind=RUN),
                occurrence(job_id, T0 + MINUTE),
            ],
            LEASE,
        )
    changes = {
        "phase": Phase.ERROR,
        "attempt": 2,
        "due_at": T0 + 5 * MINUTE,
        "main_failed": True,
        "execution_tag": "f" * 32,
    }
    async with store.transaction() as tx:
        await tx.continue_occurrences(
            [
                occurrence(job_id, T0 + MINUTE, **changes),
                occurrence(job_id, T0, kind=RUN, **changes | {"attempt": 1, "main_failed": False}),
            ]
        )
        await tx.continue_occurrences([])
    async with store.reading_connection() as conn:
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
    stored = {
        "phase": "error",
        "attempt": 2,
        "due_at": to_us(T0 + 5 * MINUTE),
        "status": "pending",
        "main_failed": True,
        "execution_tag": "f" * 32,
    }
    assert {name: later[name] for name in stored} == stored


async def test_delete_by_key(store: SqlStore) -> None:
    job_id = await _job(store)
    async with store.transaction() as tx:
        await tx.insert_occurrences(
            [
                occurrence(job_id, T0),
                occurrence(job_id, T0, kind=RUN),
                occurrence(job_id, T0 + MINUTE),
            ],
            None,
        )
    async with store.transaction() as tx:
        await tx.delete_occurrences(
            [OccurrenceKey(job_id, T0, RUN), OccurrenceKey(job_id, T0 + MINUTE, SCHEDULED)]
        )
        await tx.delete_occurrences([])
        await tx.delete_occurrences([OccurrenceKey(job_id + 1, T0, SCHEDULED)])
    async with store.reading_connection() as conn:
        table = await occurrence_table(conn)
    assert [(row["scheduled_time"], row["kind"]) for row in table] == [(to_us(T0), "scheduled")]


async def test_reset_running_makes_them_pending_again(store: SqlStore) -> None:
    job_id = await _job(store)
    async with store.transaction() as tx:
        await tx.insert_occurrences(
            [occurrence(job_id, T0), occurrence(job_id, T0 + MINUTE)], Lease(NODE, LEASED)
        )
        await tx.insert_occurrences([occurrence(job_id, T0 + 2 * MINUTE)], None)
    async with store.transaction() as tx:
        assert await tx.reset_running(NODE, T0 + 5 * MINUTE) == 2
        # The job's occurrence starts again now: slots missed meanwhile are backlog.
        assert (await tx.jobs_by_ids([job_id]))[job_id].busy_since == T0 + 5 * MINUTE
    async with store.transaction() as tx:
        assert await tx.reset_running(NODE, T0 + 6 * MINUTE) == 0
        assert (await tx.jobs_by_ids([job_id]))[job_id].busy_since == T0 + 5 * MINUTE
        claimed = await tx.due_attempts(T0 + 2 * MINUTE, 10, LEASE)
    assert [item.slot for item in claimed] == [T0, T0 + MINUTE, T0 + 2 * MINUTE]


async def test_an_expired_lease_is_taken_over_with_the_same_tag(store: SqlStore) -> None:
    job_id = await _job(store)
    tag = "a" * 32
    async with store.transaction() as tx:
        await tx.insert_occurrences(
            [occurrence(job_id, T0, execution_tag=tag)], Lease("dead", T0 + MINUTE)
        )
        await tx.insert_occurrences(
            [occurrence(job_id, T0 + MINUTE)], Lease("alive", T0 + 9 * MINUTE)
        )
    async with store.transaction() as tx:
        assert await tx.due_attempts(T0 + MINUTE, 10, LEASE) == []  # not yet expired
    async with store.transaction() as tx:
        [taken] = await tx.due_attempts(T0 + 2 * MINUTE, 10, LEASE)
        job = (await tx.jobs_by_ids([job_id])).get(job_id)
    assert (taken.slot, taken.execution_tag) == (T0, tag)
    assert job is not None
    assert job.busy_since == T0 + 2 * MINUTE  # taken over: it starts again now
    key = OccurrenceKey(job_id, T0, SCHEDULED)
    other = OccurrenceKey(job_id, T0 + MINUTE, SCHEDULED)
    async with store.transaction() as tx:
        assert await tx.still_leased(NODE, [key, other]) == {key}
        assert await tx.still_leased("dead", [key]) == set()
        await tx.extend_leases(Lease(NODE, T0 + 30 * MINUTE), [key, other])
    async with store.reading_connection() as conn:
        table = await occurrence_table(conn)
    leases = {(row["scheduled_time"], row["lease_owner"], row["lease_expiry"]) for row in table}
    assert leases == {
        (to_us(T0), NODE, to_us(T0 + 30 * MINUTE)),
        (to_us(T0 + MINUTE), "alive", to_us(T0 + 9 * MINUTE)),
    }


async def test_nodes_heartbeat_and_list(store: SqlStore) -> None:
    async with store.transaction() as tx:
        await tx.heartbeat("b", T0, T0)
        await tx.heartbeat("a", T0, T0 + MINUTE)
        await tx.heartbeat("a", T0, T0 + 2 * MINUTE)
        assert await tx.list_nodes() == [
            NodeBeat("a", T0, T0 + 2 * MINUTE),
            NodeBeat("b", T0, T0),
        ]
