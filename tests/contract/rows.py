"""Typed records as the services and the engine write them, with overridable fields, the
helpers that create a collection or a job through the port, and a few reads the store has
no method for (the contract checks what is in the tables, through SQL)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from jobclock.domain.collection import CollectionState, JobCollection, Quota, Sku
from jobclock.domain.history import ActionName, HistoryStatus
from jobclock.domain.job import JobState
from jobclock.domain.planning import Cursor, Phase
from jobclock.domain.records import (
    CollectionPlace,
    EngineWrites,
    Occurrence,
    OccurrenceKind,
    Schedule,
    StoredEntry,
)
from jobclock.storage.encoding import to_us
from jobclock.storage.sql_store import SqlStore
from jobclock.storage.tables import history, jobs, occurrences

T0 = datetime(2024, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
SCHEDULED = OccurrenceKind.SCHEDULED
RUN = OccurrenceKind.RUN
DEFINITION = '{"action":{"type":"Http"}}'


def place(
    name: str = "jc", subscription: str = "Sub", resource_group: str = "RG"
) -> CollectionPlace:
    return CollectionPlace(subscription, resource_group, name)


def collection(
    name: str = "jc",
    *,
    location: str = "West US",
    sku: Sku = Sku.STANDARD,
    state: CollectionState = CollectionState.ENABLED,
    quota: Quota | None = None,
    tags: tuple[tuple[str, str], ...] = (),
) -> JobCollection:
    return JobCollection(name, location, sku, state, quota, tags)


def schedule(
    *,
    definition: str = DEFINITION,
    state: JobState = JobState.ENABLED,
    anchor: datetime = T0,
    last: datetime | None = None,
    done: int = 0,
    next_time: datetime | None = T0,
    finished_at: datetime | None = None,
) -> Schedule:
    return Schedule(definition, state, Cursor(anchor, last, done), next_time, finished_at)


def occurrence(job_id: int, slot: datetime = T0, **fields: Any) -> Occurrence:
    values: dict[str, Any] = {
        "job_id": job_id,
        "slot": slot,
        "kind": SCHEDULED,
        "repeat_count": 1,
        "final": False,
        "phase": Phase.MAIN,
        "attempt": 0,
        "due_at": slot,
        "execution_tag": "0" * 32,
        "main_failed": False,
    }
    return Occurrence(**(values | fields))


def history_row(job_id: int, start_time: datetime = T0, **fields: Any) -> StoredEntry:
    entry = StoredEntry(
        job_id=job_id,
        history_id=f"{to_us(start_time):020d}:{0:020d}",
        start_time=start_time,
        end_time=start_time + US,
        expected_time=start_time,
        action_name=ActionName.MAIN_ACTION,
        status=HistoryStatus.COMPLETED,
        message="ok",
        retry_count=0,
        repeat_count=1,
    )
    return dataclasses.replace(entry, **fields)


async def new_collection(
    store: SqlStore,
    name: str = "jc",
    subscription: str = "Sub",
    resource_group: str = "RG",
    **fields: Any,
) -> int:
    async with store.transaction() as tx:
        return await tx.insert_collection(
            place(name, subscription, resource_group), collection(name, **fields), T0
        )


async def new_job(
    store: SqlStore,
    collection_id: int,
    name: str = "job",
    *,
    busy: bool = False,
    busy_since: datetime | None = None,
    **fields: Any,
) -> int:
    """A job with :func:`schedule`'s ``fields``; a busy one is marked busy as recording
    marks it (its progress)."""
    async with store.transaction() as tx:
        job_id = await tx.insert_job(collection_id, name, schedule(**fields), T0)
        if busy or busy_since is not None:
            record = (await tx.jobs_by_ids([job_id]))[job_id]
            marked = dataclasses.replace(record, busy=busy, busy_since=busy_since)
            await tx.apply(EngineWrites(progress=[marked]), None)
        return job_id


async def occurrence_table(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every occurrence row as stored (instants in µs, kinds as text), in key order."""
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
