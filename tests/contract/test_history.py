"""Store contract, history: newest first (ties by insertion), status filter, paging."""

from __future__ import annotations

import pytest

from jobclock.domain.history import ActionName, HistoryStatus
from jobclock.domain.records import EngineWrites
from jobclock.storage.sql_store import SqlStore
from tests.contract.rows import MINUTE, T0, US, history_row, new_collection, new_job

pytestmark = pytest.mark.anyio

FAILED = HistoryStatus.FAILED


async def test_newest_first_with_status_filter_and_paging(store: SqlStore) -> None:
    collection_id = await new_collection(store)
    job_id = await new_job(store, collection_id)
    other = await new_job(store, collection_id, "other")
    rows = [
        history_row(job_id, T0, message="first"),
        history_row(job_id, T0 + 2 * MINUTE, status=FAILED, message="third", retry_count=1),
        history_row(job_id, T0 + MINUTE, status=HistoryStatus.POSTPONED, message="second"),
        history_row(job_id, T0 + 2 * MINUTE, status=FAILED, message="fourth (a tie)"),
        history_row(other, T0 + 9 * MINUTE, message="another job's"),
    ]
    async with store.transaction() as tx:
        await tx.apply(EngineWrites(entries=rows), None)
        await tx.apply(EngineWrites(entries=[]), None)
        listed = await tx.list_history(job_id, None, None, 0)
        failed = await tx.list_history(job_id, FAILED, None, 0)
        page = await tx.list_history(job_id, None, 2, 1)
        tail = await tx.list_history(job_id, None, None, 3)
        beyond = await tx.list_history(job_id, HistoryStatus.COMPLETED, 5, 1)
    assert [entry.message for entry in listed] == ["fourth (a tie)", "third", "second", "first"]
    assert [entry.message for entry in failed] == ["fourth (a tie)", "third"]
    assert [entry.message for entry in page] == ["third", "second"]
    assert [entry.message for entry in tail] == ["first"]
    assert beyond == []
    third = listed[1]
    assert (third.start_time, third.end_time, third.expected_time) == (
        T0 + 2 * MINUTE,
        T0 + 2 * MINUTE + US,
        T0 + 2 * MINUTE,
    )
    assert (third.history_id, third.action_name, third.status) == (
        rows[1].history_id,
        ActionName.MAIN_ACTION,
        FAILED,
    )
    assert (third.retry_count, third.repeat_count) == (1, 1)


async def test_a_nul_in_a_message_is_stored_as_a_replacement_character(store: SqlStore) -> None:
    """A target's body may hold NUL characters; PostgreSQL text cannot."""
    collection_id = await new_collection(store)
    job_id = await new_job(store, collection_id)
    async with store.transaction() as tx:
        await tx.apply(EngineWrites(entries=[history_row(job_id, message="Body: a\x00b ☃")]), None)
        [entry] = await tx.list_history(job_id, None, None, 0)
    assert entry.message == "Body: a\ufffdb ☃"
