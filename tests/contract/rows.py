"""Rows as the services and the engine write them, with overridable fields, and a few reads
the store has no method for (the contract checks what is in the tables)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from jobclock.domain.occurrences import to_us
from jobclock.storage.sql_store import SqlStore
from jobclock.storage.tables import history, jobs, occurrences

T0 = to_us(datetime(2024, 1, 1, tzinfo=UTC))
MINUTE = 60 * 1_000_000
DAY = 24 * 60 * MINUTE


def collection_row(
    name: str = "jc", subscription: str = "Sub", resource_group: str = "RG", **fields: Any
) -> dict[str, Any]:
    key = f"{subscription.lower()}/{resource_group.lower()}/{name.lower()}"
    return {
        "subscription": subscription,
        "resource_group": resource_group,
        "name": name,
        "key": key,
        "subscription_key": subscription.lower(),
        "location": "West US",
        "sku": "Standard",
        "state": "Enabled",
        "quota": None,
        "tags": None,
        "created_at": T0,
    } | fields


def job_row(collection_id: int, name: str = "job", **fields: Any) -> dict[str, Any]:
    return {
        "collection_id": collection_id,
        "name": name,
        "name_key": name.lower(),
        "definition": '{"action":{"type":"Http"}}',
        "state": "Enabled",
        "anchor": T0,
        "execution_count": 0,
        "failure_count": 0,
        "faulted_count": 0,
        "last_execution_time": None,
        "next_execution_time": T0,
        "last_occurrence": None,
        "occurrences_done": 0,
        "history_seq": 0,
        "busy": False,
        "postponed": None,
        "created_at": T0,
        "finished_at": None,
    } | fields


def occurrence_row(job_id: int, scheduled_time: int = T0, **fields: Any) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "scheduled_time": scheduled_time,
        "kind": "scheduled",
        "repeat_count": 1,
        "final": False,
        "phase": "main",
        "attempt": 0,
        "due_at": scheduled_time,
        "status": "pending",
        "execution_tag": "0" * 32,
        "main_failed": False,
    } | fields


def history_row(job_id: int, start_time: int = T0, **fields: Any) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "history_id": f"{start_time:020d}:{0:020d}",
        "start_time": start_time,
        "end_time": start_time + 1,
        "expected_execution_time": start_time,
        "action_name": "MainAction",
        "status": "Completed",
        "message": "ok",
        "retry_count": 0,
        "repeat_count": 1,
    } | fields


async def new_collection(store: SqlStore, name: str = "jc", **fields: Any) -> int:
    async with store.transaction() as conn:
        return await store.insert_collection(conn, collection_row(name, **fields))


async def new_job(store: SqlStore, collection_id: int, name: str = "job", **fields: Any) -> int:
    async with store.transaction() as conn:
        return await store.insert_job(conn, job_row(collection_id, name, **fields))


async def occurrence_table(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every occurrence row, in key order."""
    query = select(occurrences).order_by(
        occurrences.c.job_id, occurrences.c.scheduled_time, occurrences.c.kind
    )
    return [dict(row._mapping) for row in await conn.execute(query)]


async def count_rows(conn: AsyncConnection, job_id: int) -> tuple[int, int, int]:
    """(jobs, occurrences, history rows) of one job id."""
    found = []
    for table in (jobs, occurrences, history):
        column = table.c.id if table is jobs else table.c.job_id
        query = select(func.count()).select_from(table).where(column == job_id)
        found.append(int((await conn.execute(query)).scalar_one()))
    return found[0], found[1], found[2]
