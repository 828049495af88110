"""The SQL store: SQLAlchemy 2 Core, async. Owns every SQL statement of jobclock and the
table layout: :class:`SqlStore` implements :class:`jobclock.ports.JobStore` (and
:class:`SqlTransaction` its transactions), turning rows into the typed records of
:mod:`jobclock.domain.records` and back (instants as microseconds, :mod:`.encoding`).
"Now" is always a bound parameter computed by the caller's clock, never SQL ``NOW()``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    delete,
    event,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from jobclock.codec.collection import collection_from_json, collection_properties_to_json
from jobclock.domain.collection import CollectionState, JobCollection, Sku
from jobclock.domain.history import ActionName, HistoryStatus
from jobclock.domain.host_limits import Admission, HostLimit
from jobclock.domain.job import JobState, JobStatus
from jobclock.domain.planning import Cursor, Phase
from jobclock.domain.records import (
    CollectionPlace,
    EngineWrites,
    HistoryKey,
    JobEnd,
    Lease,
    NodeBeat,
    Notice,
    NoticeOutcome,
    NoticeStatus,
    Occurrence,
    OccurrenceKey,
    OccurrenceKind,
    Schedule,
    StoredCalendar,
    StoredCollection,
    StoredEndpoint,
    StoredEntry,
    StoredJob,
)
from jobclock.domain.shares import Share
from jobclock.storage.encoding import from_us, opt_us, to_us
from jobclock.storage.migrate import upgrade
from jobclock.storage.tables import (
    calendars,
    collections,
    endpoints,
    history,
    host_permits,
    host_slots,
    jobs,
    metadata,
    nodes,
    notices,
    occurrences,
)
from jobclock.storage.writer_gate import WriterGate, gate_for

WAKEUP_CHANNEL = "jobclock_wakeup"

_PHASES = {phase.value: phase for phase in Phase}
_KINDS = {kind.value: kind for kind in OccurrenceKind}
_STATES = {state.value: state for state in JobState}
_STATUSES = {status.value: status for status in HistoryStatus}
_ACTIONS = {name.value: name for name in ActionName}


# -- rows and records ----------------------------------------------------------------------
def _collection(row: Row[Any]) -> StoredCollection:
    body: dict[str, Any] = {
        "location": row.location,
        "properties": {"sku": {"name": row.sku}, "state": row.state},
    }
    if row.quota:
        body["properties"]["quota"] = json.loads(row.quota)
    if row.tags:
        body["tags"] = json.loads(row.tags)
    if row.host_limits:
        body["properties"]["hostLimits"] = json.loads(row.host_limits)
    place = CollectionPlace(row.subscription, row.resource_group, row.name)
    return StoredCollection(row.id, place, collection_from_json(row.name, body))


def _collection_values(collection: JobCollection) -> dict[str, Any]:
    properties = collection_properties_to_json(collection)
    return {
        "location": collection.location,
        "sku": collection.sku.value,
        "state": collection.state.value,
        "quota": json.dumps(properties["quota"]) if "quota" in properties else None,
        "tags": json.dumps(dict(collection.tags)) if collection.tags else None,
        "host_limits": json.dumps(properties["hostLimits"]) if collection.host_limits else None,
    }


def _notice(row: Row[Any]) -> Notice:
    return Notice(
        collection_id=row.collection_id,
        endpoint=row.endpoint,
        event_id=row.event_id,
        event_type=row.event_type,
        job=row.job,
        event=row.event,
        due_at=from_us(row.due_at),
        created_at=from_us(row.created_at),
        status=NoticeStatus(row.status),
        attempts=row.attempts,
        updated_at=from_us(row.updated_at),
        message=row.message,
        id=row.id,
    )


def _notice_values(notice: Notice) -> dict[str, Any]:
    return {
        "collection_id": notice.collection_id,
        "endpoint": notice.endpoint.lower(),
        "event_id": notice.event_id,
        "event_type": notice.event_type,
        "job": notice.job,
        "event": notice.event,
        "status": notice.status.value,
        "attempts": notice.attempts,
        "due_at": to_us(notice.due_at),
        "created_at": to_us(notice.created_at),
        "updated_at": to_us(notice.updated_at or notice.created_at),
        "message": notice.message,
    }


def _place_key(place: CollectionPlace) -> str:
    return f"{place.subscription.lower()}/{place.resource_group.lower()}/{place.name.lower()}"


_JOB_COLUMNS = [*jobs.c, collections.c.name.label("collection_name")]


def _getter(columns: Sequence[Any], names: str) -> Callable[[Row[Any]], tuple[Any, ...]]:
    """Picks these columns of a row by position: a Row's attributes cost about 0.4 us
    each, a C-level ``itemgetter`` over its positions a fraction of that."""
    index = {column.name: position for position, column in enumerate(columns)}
    return itemgetter(*(index[name] for name in names.split()))


_JOB_FIELDS = _getter(
    _JOB_COLUMNS,
    "id collection_id collection_name name definition state anchor last_occurrence"
    " occurrences_done execution_count failure_count faulted_count last_execution_time"
    " next_execution_time history_seq busy busy_since created_at finished_at",
)


# The API's lookups of one collection or job, built once (building a statement costs more
# than running it from SQLAlchemy's compiled cache).
_FIND_COLLECTION = select(collections).where(collections.c.key == bindparam("key"))
_FIND_JOB = (
    select(*_JOB_COLUMNS)
    .join(collections, collections.c.id == jobs.c.collection_id)
    .where(
        jobs.c.collection_id == bindparam("collection_id"),
        jobs.c.name_key == bindparam("name_key"),
    )
)


def _job(row: Row[Any]) -> StoredJob:
    """A job row as a record, built positionally (the engine reads one per fire, twice:
    when it schedules the job and when it records the attempt)."""
    (
        id_, collection_id, collection_name, name, definition, state, anchor, last, done,
        executions, failures, faults, last_run, next_time, history_seq, busy, busy_since,
        created_at, finished,
    ) = _JOB_FIELDS(row)  # fmt: skip
    return StoredJob(
        id_, collection_id, collection_name, name, definition, _STATES[state],
        Cursor(from_us(anchor), None if last is None else from_us(last), done),
        JobStatus(
            executions, failures, faults,
            None if last_run is None else from_us(last_run),
            None if next_time is None else from_us(next_time),
        ),
        history_seq, bool(busy), None if busy_since is None else from_us(busy_since),
        from_us(created_at), None if finished is None else from_us(finished),
    )  # fmt: skip


def _schedule_values(schedule: Schedule) -> dict[str, Any]:
    cursor = schedule.cursor
    return {
        "definition": schedule.definition,
        "state": schedule.state.value,
        "anchor": to_us(cursor.anchor),
        "next_execution_time": opt_us(schedule.next_time),
        "last_occurrence": opt_us(cursor.last),
        "occurrences_done": cursor.done,
        "postponed": None,
        "finished_at": opt_us(schedule.finished_at),
        "expect_by": opt_us(schedule.expect_by),
    }


def _progress_values(job: StoredJob) -> dict[str, Any]:
    """What recording changes in a job. Not its state or next time: a user may have
    disabled the job meanwhile (those change only through ``ended``)."""
    status = job.status
    return {
        "id": job.id,
        "execution_count": status.execution_count,
        "failure_count": status.failure_count,
        "faulted_count": status.faulted_count,
        "last_execution_time": opt_us(status.last_execution_time),
        "history_seq": job.history_seq,
        "busy": job.busy,
        "busy_since": opt_us(job.busy_since),
        "postponed": None,
    }


def _cursor_values(job: StoredJob) -> dict[str, Any]:
    cursor = job.cursor
    return {
        "id": job.id,
        "anchor": to_us(cursor.anchor),
        "last_occurrence": opt_us(cursor.last),
        "occurrences_done": cursor.done,
        "next_execution_time": opt_us(job.status.next_execution_time),
        "busy": job.busy,
        "busy_since": opt_us(job.busy_since),
    }


_OCCURRENCE_FIELDS = _getter(
    list(occurrences.c),
    "job_id scheduled_time kind repeat_count final phase attempt due_at execution_tag main_failed",
)


def _occurrence(row: Row[Any]) -> Occurrence:
    job_id, slot, kind, repeats, final, phase, attempt, due_at, tag, main_failed = (
        _OCCURRENCE_FIELDS(row)
    )
    return Occurrence(
        job_id, from_us(slot), _KINDS[kind], repeats, bool(final), _PHASES[phase], attempt,
        from_us(due_at), tag, bool(main_failed),
    )  # fmt: skip


def _occurrence_values(item: Occurrence, lease: Lease | None) -> dict[str, Any]:
    return {
        "job_id": item.job_id,
        "scheduled_time": to_us(item.slot),
        "kind": item.kind.value,
        "repeat_count": item.repeat_count,
        "final": item.final,
        "phase": item.phase.value,
        "attempt": item.attempt,
        "due_at": to_us(item.due_at),
        "status": "pending" if lease is None else "running",
        "execution_tag": item.execution_tag,
        "main_failed": item.main_failed,
        "lease_owner": None if lease is None else lease.node,
        "lease_expiry": None if lease is None else to_us(lease.until),
    }


_MICROSECOND = timedelta(microseconds=1)


def _owned(share: Share) -> Any:
    """The jobs of ``share``: ``id % count == index``."""
    return (jobs.c.id % share.count) == share.index


def _key_values(key: OccurrenceKey) -> tuple[int, int, str]:
    return key.job_id, to_us(key.slot), key.kind.value


def _key(row: Any) -> OccurrenceKey:
    job_id, slot, kind = row
    return OccurrenceKey(job_id, from_us(slot), _KINDS[kind])


_ENTRY_FIELDS = _getter(
    list(history.c),
    "job_id history_id start_time end_time expected_execution_time action_name status"
    " message retry_count repeat_count id",
)


def _entry(row: Row[Any]) -> StoredEntry:
    """The row's ``id`` is its write order (``written``): the history's tie-break."""
    job_id, history_id, start, end, expected, action, status, message, retries, repeats, id_ = (
        _ENTRY_FIELDS(row)
    )
    return StoredEntry(
        job_id, history_id, from_us(start), from_us(end), from_us(expected), _ACTIONS[action],
        _STATUSES[status], message, retries, repeats, id_,
    )  # fmt: skip


def _entry_values(entry: StoredEntry) -> dict[str, Any]:
    """Messages quote what targets answered; a NUL character in them becomes U+FFFD on
    every backend, since PostgreSQL text cannot hold NUL (the whole batch would fail)."""
    return {
        "job_id": entry.job_id,
        "history_id": entry.history_id,
        "start_time": to_us(entry.start_time),
        "end_time": to_us(entry.end_time),
        "expected_execution_time": to_us(entry.expected_time),
        "action_name": entry.action_name.value,
        "status": entry.status.value,
        "message": entry.message.replace("\x00", "\ufffd"),
        "retry_count": entry.retry_count,
        "repeat_count": entry.repeat_count,
    }


def async_url(url: str) -> str:
    """A plain SQLAlchemy URL with the async driver jobclock uses for its dialect."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    if url.startswith(("postgresql:", "postgres:")):
        return "postgresql+asyncpg:" + url.split(":", 1)[1]
    return url


class SqlStore:
    """Implements :class:`jobclock.ports.JobStore` on SQLite or PostgreSQL.

    ``schema`` (PostgreSQL only) is the schema the tables live in: it becomes the
    connections' ``search_path``, so the tables, the migrations and Alembic's version table
    stay in it (tests give each store a fresh schema). It must exist already.

    ``urgent``: on SQLite, this store's write transactions go ahead of every other store's
    of the process that are waiting for the database's one writer (the engine's store is
    urgent, so API load cannot hold a fire back; see ``writer_gate``).
    """

    def __init__(self, url: str, *, schema: str | None = None, urgent: bool = False) -> None:
        self.url = async_url(url)
        self.schema = schema
        self.urgent = urgent
        options: dict[str, Any] = {}
        if schema is not None:
            if make_url(self.url).drivername != "postgresql+asyncpg":
                raise ValueError(f"A schema ({schema!r}) needs a PostgreSQL database URL.")
            search_path = '"' + schema.replace('"', '""') + '"'
            options["connect_args"] = {"server_settings": {"search_path": search_path}}
        if make_url(self.url).get_backend_name() == "postgresql":
            # A restarted server or a cut connection leaves dead connections in the pool:
            # check each one before use instead of failing the request that draws it.
            options["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        self.dialect = self.engine.dialect.name
        self._gate: WriterGate | None = None
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            self._gate = gate_for(make_url(self.url).database)

    async def create_schema(self) -> None:
        """Create the tables directly (tests); production runs the migrations."""
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def migrate(self) -> None:
        """Run every pending migration (what ``jobclock serve`` does at start)."""
        await upgrade(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()

    # -- connections (this package's own) ------------------------------------------------
    @asynccontextmanager
    async def writing_connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction that may write: committed at the end, rolled
        back on an error.

        On SQLite it holds the process's writer gate and takes the write lock up front
        (``BEGIN IMMEDIATE``), so what it reads stays true until it commits (the driver
        would otherwise start the transaction only at the first write, after the reads).
        Transactions do not nest: a second one opened inside would wait for the first.
        """
        if self._gate is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._gate.held(urgent=self.urgent), self.engine.begin() as conn:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    @asynccontextmanager
    async def reading_connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction that only reads: one consistent snapshot, no
        writer's gate or lock (on SQLite, readers never wait for the writer). On
        PostgreSQL at REPEATABLE READ: at its default, READ COMMITTED, each statement would
        see what committed since the one before."""
        if self._gate is None:
            async with self.engine.connect() as plain:
                conn = await plain.execution_options(isolation_level="REPEATABLE READ")
                async with conn.begin():
                    yield conn
            return
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql("BEGIN")
            yield conn

    # -- the port's transactions ---------------------------------------------------------
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlTransaction]:
        async with self.writing_connection() as conn:
            yield SqlTransaction(self, conn)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[SqlTransaction]:
        async with self.reading_connection() as conn:
            yield SqlTransaction(self, conn)

    # -- the engine's transactions -------------------------------------------------------
    async def recover(
        self, node: str, started: datetime, now: datetime, only_own: bool = False
    ) -> int:
        async with self.writing_connection() as conn:
            tx = SqlTransaction(self, conn)
            count = await tx.reset_running(node, now, only_own)
            await tx.heartbeat(node, started, now)
        return count

    async def renew(
        self,
        node: str,
        started: datetime,
        now: datetime,
        held: Collection[OccurrenceKey],
        until: datetime,
    ) -> list[NodeBeat]:
        async with self.writing_connection() as conn:
            tx = SqlTransaction(self, conn)
            await tx.heartbeat(node, started, now)
            await tx.extend_leases(Lease(node, until), sorted(held, key=_key_values))
            return await tx.list_nodes()

    async def leave(self, node: str) -> None:
        async with self.writing_connection() as conn:
            await conn.execute(delete(nodes).where(nodes.c.name == node))

    async def schedule_due(
        self,
        until: datetime,
        limit: int,
        plan: Callable[[list[StoredJob]], Awaitable[EngineWrites]],
        lease: Lease,
        share: Share | None = None,
    ) -> EngineWrites:
        async with self.writing_connection() as conn:
            tx = SqlTransaction(self, conn)
            due = await tx.due_jobs(until, limit, share)
            if not due:
                return EngineWrites()
            writes = await plan(due)
            await tx.apply(writes, lease)
        return writes

    async def claim_attempts(
        self,
        now: datetime,
        limit: int,
        lease: Lease,
        plan: Callable[[list[tuple[Occurrence, StoredJob]]], Awaitable[EngineWrites]],
    ) -> list[tuple[Occurrence, StoredJob]]:
        async with self.writing_connection() as conn:
            tx = SqlTransaction(self, conn)
            attempts = await tx.due_attempts(now, limit, lease)
            if not attempts:
                return []
            records = await tx.jobs_by_ids(item.job_id for item in attempts)
            found = [(item, records[item.job_id]) for item in attempts if item.job_id in records]
            await tx.apply(await plan(found), lease)
        return found

    async def record(
        self,
        node: str,
        keys: Sequence[OccurrenceKey],
        plan: Callable[[set[OccurrenceKey], dict[int, StoredJob]], Awaitable[EngineWrites]],
    ) -> None:
        async with self.writing_connection() as conn:
            tx = SqlTransaction(self, conn)
            held = await tx.still_leased(node, keys)
            records = await tx.jobs_by_ids((key.job_id for key in keys), lock=True)
            await tx.apply(await plan(held, records), None)

    async def claim_notices(self, now: datetime, limit: int, lease: Lease) -> list[Notice]:
        # Looked at first without the write lock: nearly always, nothing is due.
        due = select(notices.c.id).where(
            notices.c.status == "pending", notices.c.due_at <= to_us(now)
        )
        if not await self._any(due):
            return []
        async with self.writing_connection() as conn:
            return await SqlTransaction(self, conn).due_notices(now, limit, lease)

    async def _any(self, query: Any) -> bool:
        async with self.reading_connection() as conn:
            return (await conn.execute(query.limit(1))).first() is not None

    async def settle_notices(self, node: str, outcomes: Sequence[NoticeOutcome]) -> None:
        if not outcomes:
            return
        async with self.writing_connection() as conn:
            await SqlTransaction(self, conn).settle(node, outcomes)

    async def overdue(
        self,
        now: datetime,
        limit: int,
        plan: Callable[[list[StoredJob]], Awaitable[EngineWrites]],
    ) -> EngineWrites:
        overdue = select(jobs.c.id).where(jobs.c.expect_by <= to_us(now), jobs.c.state == "Enabled")
        if not await self._any(overdue):
            return EngineWrites()  # nearly always: looked at without the write lock
        async with self.writing_connection() as conn:
            tx = SqlTransaction(self, conn)
            found = await tx.overdue_jobs(now, limit)
            if not found:
                return EngineWrites()
            writes = await plan(found)
            await tx.apply(writes, None)
        return writes

    async def endpoints(self) -> list[StoredEndpoint]:
        async with self.reading_connection() as conn:
            return await SqlTransaction(self, conn).all_endpoints()

    async def acquire_host(
        self,
        host: str,
        token: str,
        node: str,
        now: datetime,
        until: datetime,
        decide: Callable[[int, datetime | None], Admission],
    ) -> Admission:
        async with self.writing_connection() as conn:
            tx = SqlTransaction(self, conn)
            return await tx.acquire_host(host, token, node, now, until, decide)

    async def capped_collections(self) -> dict[int, tuple[HostLimit, ...]]:
        async with self.reading_connection() as conn:
            query = select(collections).where(collections.c.host_limits.is_not(None))
            found = [_collection(row) for row in await conn.execute(query)]
        return {record.id: record.collection.host_limits for record in found}

    async def release_host(self, token: str) -> None:
        async with self.writing_connection() as conn:
            await conn.execute(delete(host_permits).where(host_permits.c.token == token))

    async def drop_waiting(
        self,
        waiting: dict[OccurrenceKey, int],
        drop: Callable[[list[OccurrenceKey]], list[OccurrenceKey]],
    ) -> list[OccurrenceKey]:
        if not waiting:
            return []
        # Looked at first without the write lock: nearly always, every job is enabled.
        async with self.reading_connection() as conn:
            enabled = await SqlTransaction(self, conn).enabled_jobs(set(waiting.values()))
        if all(job in enabled for job in waiting.values()):
            return []
        async with self.writing_connection() as conn:
            tx = SqlTransaction(self, conn)
            enabled = await tx.enabled_jobs(set(waiting.values()))
            dropped = drop([key for key, job in waiting.items() if job not in enabled])
            await tx.delete_occurrences(dropped)
            freed = sorted({key.job_id for key in dropped if key.kind is OccurrenceKind.SCHEDULED})
            await tx.update_jobs([{"id": job, "busy": False, "busy_since": None} for job in freed])
        return dropped

    async def next_wakeup(self, after: datetime, share: Share | None = None) -> datetime | None:
        async with self.reading_connection() as conn:
            return await SqlTransaction(self, conn).next_wakeup(after, share)

    async def purge(
        self, history_before: datetime, keep_per_job: int, finished_before: datetime
    ) -> tuple[int, int]:
        async with self.writing_connection() as conn:
            tx = SqlTransaction(self, conn)
            return await tx.purge(history_before, keep_per_job, finished_before)

    async def notify_all(self) -> None:
        """Wake every node's engine (PostgreSQL), outside any other transaction."""
        async with self.writing_connection() as conn:
            await SqlTransaction(self, conn).notify()


class SqlTransaction:
    """Implements :class:`jobclock.ports.JobWrites` on one connection in a transaction of
    :class:`SqlStore` (and the engine transactions' steps)."""

    def __init__(self, store: SqlStore, conn: AsyncConnection) -> None:
        self._store = store
        self.conn = conn
        self._postgres = store.dialect == "postgresql"

    def _by_text(self, column: Any) -> Any:
        """Code-point order on every backend: SQLite compares text bytewise, PostgreSQL by
        the database's collation (``en_US`` ignores ``-`` and ``_``), which would reorder
        pages of ``$skip``/``$top`` from one backend to the other."""
        return column.collate("C") if self._postgres else column

    async def _rows(self, query: Any, params: Any = None) -> Any:
        return await self.conn.execute(query, params)

    # -- collections ---------------------------------------------------------------------
    async def find_collection(self, place: CollectionPlace) -> StoredCollection | None:
        row = (await self._rows(_FIND_COLLECTION, {"key": _place_key(place)})).first()
        return None if row is None else _collection(row)

    async def list_collections(
        self, subscription: str, resource_group: str | None
    ) -> list[StoredCollection]:
        query = select(collections).where(collections.c.subscription_key == subscription.lower())
        if resource_group is not None:
            prefix = f"{subscription.lower()}/{resource_group.lower()}/"
            query = query.where(collections.c.key.startswith(prefix, autoescape=True))
        rows = await self._rows(query.order_by(self._by_text(collections.c.name)))
        return [_collection(row) for row in rows]

    async def all_collections(self) -> list[StoredCollection]:
        query = select(collections).order_by(self._by_text(collections.c.key))
        return [_collection(row) for row in await self._rows(query)]

    async def count_collections(self, subscription: str, sku: Sku) -> tuple[int, int]:
        base = select(func.count()).where(collections.c.subscription_key == subscription.lower())
        total = (await self._rows(base)).scalar_one()
        same = (await self._rows(base.where(collections.c.sku == sku.value))).scalar_one()
        return int(same), int(total)

    async def job_counts(self) -> dict[int, int]:
        query = select(jobs.c.collection_id, func.count()).group_by(jobs.c.collection_id)
        return {int(row[0]): int(row[1]) for row in await self._rows(query)}

    async def insert_collection(
        self, place: CollectionPlace, collection: JobCollection, created_at: datetime
    ) -> int:
        values = _collection_values(collection) | {
            "subscription": place.subscription,
            "resource_group": place.resource_group,
            "name": place.name,
            "key": _place_key(place),
            "subscription_key": place.subscription.lower(),
            "created_at": to_us(created_at),
        }
        result = await self._rows(insert(collections).values(**values))
        key = result.inserted_primary_key
        assert key is not None  # noqa: S101 - an insert always has a key
        return int(key[0])

    async def update_collection(self, collection_id: int, collection: JobCollection) -> None:
        values = _collection_values(collection)
        await self._rows(
            update(collections).where(collections.c.id == collection_id).values(**values)
        )

    async def set_collection_state(self, collection_id: int, state: CollectionState) -> None:
        statement = update(collections).where(collections.c.id == collection_id)
        await self._rows(statement.values(state=state.value))

    async def delete_collection(self, collection_id: int) -> None:
        # Explicit child deletes: SQLite enforces ON DELETE CASCADE only with a pragma.
        job_ids = select(jobs.c.id).where(jobs.c.collection_id == collection_id)
        await self._rows(delete(history).where(history.c.job_id.in_(job_ids)))
        await self._rows(delete(occurrences).where(occurrences.c.job_id.in_(job_ids)))
        await self._rows(delete(jobs).where(jobs.c.collection_id == collection_id))
        await self._rows(delete(calendars).where(calendars.c.collection_id == collection_id))
        await self._rows(delete(endpoints).where(endpoints.c.collection_id == collection_id))
        await self._rows(delete(notices).where(notices.c.collection_id == collection_id))
        await self._rows(delete(collections).where(collections.c.id == collection_id))

    # -- jobs ----------------------------------------------------------------------------
    def _jobs(self) -> Any:
        return select(*_JOB_COLUMNS).join(collections, collections.c.id == jobs.c.collection_id)

    async def find_job(self, collection_id: int, name: str) -> StoredJob | None:
        params = {"collection_id": collection_id, "name_key": name.lower()}
        row = (await self._rows(_FIND_JOB, params)).first()
        return None if row is None else _job(row)

    async def list_jobs(
        self,
        collection_id: int,
        state: JobState | None = None,
        limit: int | None = None,
        offset: int = 0,
        name_contains: str | None = None,
        *,
        after: str | None = None,
    ) -> list[StoredJob]:
        query = self._jobs().where(jobs.c.collection_id == collection_id)
        if state is not None:
            query = query.where(jobs.c.state == state.value)
        if name_contains:
            query = query.where(jobs.c.name_key.contains(name_contains.lower(), autoescape=True))
        if after is not None:
            # A range of the unique (collection, name) index: the column's order is the
            # list's (code-point, ``COLLATE "C"`` on PostgreSQL).
            query = query.where(self._by_text(jobs.c.name_key) > after.lower())
        query = query.order_by(self._by_text(jobs.c.name_key)).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return [_job(row) for row in await self._rows(query)]

    async def count_jobs(self, collection_id: int) -> int:
        query = select(func.count()).where(jobs.c.collection_id == collection_id)
        return int((await self._rows(query)).scalar_one())

    async def insert_job(
        self, collection_id: int, name: str, schedule: Schedule, created_at: datetime
    ) -> int:
        values = _schedule_values(schedule) | {
            "collection_id": collection_id,
            "name": name,
            "name_key": name.lower(),
            "execution_count": 0,
            "failure_count": 0,
            "faulted_count": 0,
            "history_seq": 0,
            "busy": False,
            "created_at": to_us(created_at),
        }
        result = await self._rows(insert(jobs).values(**values))
        key = result.inserted_primary_key
        assert key is not None  # noqa: S101 - an insert always has a key
        return int(key[0])

    async def reschedule_job(self, job_id: int, schedule: Schedule) -> None:
        values = _schedule_values(schedule)
        await self._rows(update(jobs).where(jobs.c.id == job_id).values(**values))

    async def replace_definition(self, job_id: int, definition: str) -> None:
        await self._rows(update(jobs).where(jobs.c.id == job_id).values(definition=definition))

    async def lock_jobs(self, ids: Collection[int]) -> dict[int, StoredJob]:
        return await self.jobs_by_ids(ids, lock=True)

    async def retime_job(self, job_id: int, definition: str, next_time: datetime | None) -> None:
        values = {"definition": definition, "next_execution_time": opt_us(next_time)}
        await self._rows(update(jobs).where(jobs.c.id == job_id).values(**values))

    async def delete_job(self, job_id: int) -> None:
        await self._rows(delete(history).where(history.c.job_id == job_id))
        await self._rows(delete(occurrences).where(occurrences.c.job_id == job_id))
        await self._rows(delete(jobs).where(jobs.c.id == job_id))

    async def flip_job_states(
        self,
        collection_id: int,
        from_state: JobState,
        to_state: JobState,
        next_time: Callable[[StoredJob], datetime | None],
    ) -> None:
        found = await self.list_jobs(collection_id, from_state)
        for record in sorted(found, key=lambda job: job.id):
            await self._rows(
                update(jobs)
                .where(and_(jobs.c.id == record.id, jobs.c.state == from_state.value))
                .values(state=to_state.value, next_execution_time=opt_us(next_time(record)))
            )

    async def add_occurrence(self, occurrence: Occurrence) -> None:
        await _insert_many(self.conn, occurrences, [_occurrence_values(occurrence, None)])

    async def notify(self) -> None:
        if self._postgres:
            await self._rows(text(f"NOTIFY {WAKEUP_CHANNEL}"))

    # -- history and nodes ---------------------------------------------------------------
    async def list_history(
        self,
        job_id: int,
        status: HistoryStatus | None,
        limit: int | None,
        offset: int,
        *,
        after: HistoryKey | None = None,
    ) -> list[StoredEntry]:
        query = select(history).where(history.c.job_id == job_id)
        if status is not None:
            query = query.where(history.c.status == status.value)
        if after is not None:
            # A range of ix_history_job_order (job, start time, id), on both backends.
            position = tuple_(literal(to_us(after.start_time)), literal(after.written))
            query = query.where(tuple_(history.c.start_time, history.c.id) < position)
        query = query.order_by(history.c.start_time.desc(), history.c.id.desc()).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return [_entry(row) for row in await self._rows(query)]

    async def history_entry(self, job_id: int, history_id: str) -> StoredEntry | None:
        query = select(history).where(
            history.c.job_id == job_id, history.c.history_id == history_id
        )
        row = (await self._rows(query)).first()
        return None if row is None else _entry(row)

    async def attempt_counts(
        self,
        since: datetime,
        bucket: timedelta,
        *,
        collection_id: int | None = None,
        job_id: int | None = None,
    ) -> list[tuple[int, HistoryStatus, int]]:
        start, width = to_us(since), bucket // timedelta(microseconds=1)
        index = ((history.c.start_time - start) // width).label("bucket")
        query = select(index, history.c.status, func.count()).where(history.c.start_time >= start)
        if job_id is not None:
            query = query.where(history.c.job_id == job_id)
        elif collection_id is not None:
            query = query.where(
                history.c.job_id.in_(select(jobs.c.id).where(jobs.c.collection_id == collection_id))
            )
        query = query.group_by(index, history.c.status)
        return [
            (int(row[0]), _STATUSES[row[1]], int(row[2]))
            for row in await self._rows(query)
            if row[1] in _STATUSES
        ]

    async def status_counts(self, since: datetime) -> dict[int, dict[HistoryStatus, int]]:
        query = (
            select(jobs.c.collection_id, history.c.status, func.count())
            .join(jobs, jobs.c.id == history.c.job_id)
            .where(history.c.start_time >= to_us(since))
            .group_by(jobs.c.collection_id, history.c.status)
        )
        counts: dict[int, dict[HistoryStatus, int]] = {}
        for row in await self._rows(query):
            if row[1] in _STATUSES:
                counts.setdefault(int(row[0]), {})[_STATUSES[row[1]]] = int(row[2])
        return counts

    async def list_nodes(self) -> list[NodeBeat]:
        rows = await self._rows(
            select(nodes.c.name, nodes.c.started_at, nodes.c.heartbeat_at).order_by(nodes.c.name)
        )
        return [NodeBeat(row[0], from_us(row[1]), from_us(row[2])) for row in rows]

    # -- calendars -----------------------------------------------------------------------
    def _calendars(self, collection_id: int) -> Any:
        return select(calendars.c.collection_id, calendars.c.name, calendars.c.body).where(
            calendars.c.collection_id == collection_id
        )

    async def find_calendar(
        self, collection_id: int, name: str, *, lock: bool = False
    ) -> StoredCalendar | None:
        query = self._calendars(collection_id).where(calendars.c.name_key == name.lower())
        if lock and self._postgres:
            query = query.with_for_update()
        row = (await self._rows(query)).first()
        return None if row is None else StoredCalendar(row[0], row[1], row[2])

    async def list_calendars(self, collection_id: int) -> list[StoredCalendar]:
        query = self._calendars(collection_id).order_by(self._by_text(calendars.c.name_key))
        return [StoredCalendar(row[0], row[1], row[2]) for row in await self._rows(query)]

    async def put_calendar(self, collection_id: int, name: str, body: str) -> bool:
        return await self._put_named(calendars, collection_id, name, body)

    async def _put_named(self, table: Any, collection_id: int, name: str, body: str) -> bool:
        """Replace the body of a collection's named row (a calendar, an endpoint), or
        insert it; True when inserted."""
        where = and_(table.c.collection_id == collection_id, table.c.name_key == name.lower())
        result = await self._rows(update(table).where(where).values(body=body))
        if result.rowcount:
            return False
        values = {"collection_id": collection_id, "name": name, "name_key": name.lower()}
        await self._rows(insert(table).values(body=body, **values))
        return True

    async def delete_calendar(self, collection_id: int, name: str) -> bool:
        where = and_(
            calendars.c.collection_id == collection_id, calendars.c.name_key == name.lower()
        )
        return bool((await self._rows(delete(calendars).where(where))).rowcount)

    # -- notification endpoints and notices ----------------------------------------------
    def _endpoints(self) -> Any:
        return select(endpoints.c.collection_id, endpoints.c.name, endpoints.c.body)

    async def find_endpoint(
        self, collection_id: int, name: str, *, lock: bool = False
    ) -> StoredEndpoint | None:
        query = self._endpoints().where(
            endpoints.c.collection_id == collection_id, endpoints.c.name_key == name.lower()
        )
        if lock and self._postgres:
            query = query.with_for_update()
        row = (await self._rows(query)).first()
        return None if row is None else StoredEndpoint(row[0], row[1], row[2])

    async def list_endpoints(self, collection_id: int) -> list[StoredEndpoint]:
        query = (
            self._endpoints()
            .where(endpoints.c.collection_id == collection_id)
            .order_by(self._by_text(endpoints.c.name_key))
        )
        return [StoredEndpoint(row[0], row[1], row[2]) for row in await self._rows(query)]

    async def all_endpoints(self) -> list[StoredEndpoint]:
        query = (
            select(
                endpoints.c.collection_id, endpoints.c.name, endpoints.c.body,
                collections.c.subscription, collections.c.resource_group, collections.c.name,
            )
            .join(collections, collections.c.id == endpoints.c.collection_id)
            .order_by(endpoints.c.collection_id, endpoints.c.name_key)
        )  # fmt: skip
        return [
            StoredEndpoint(row[0], row[1], row[2], CollectionPlace(row[3], row[4], row[5]))
            for row in await self._rows(query)
        ]

    async def put_endpoint(self, collection_id: int, name: str, body: str) -> bool:
        return await self._put_named(endpoints, collection_id, name, body)

    async def delete_endpoint(self, collection_id: int, name: str) -> bool:
        where = and_(
            endpoints.c.collection_id == collection_id, endpoints.c.name_key == name.lower()
        )
        await self._rows(
            delete(notices).where(
                notices.c.collection_id == collection_id, notices.c.endpoint == name.lower()
            )
        )
        return bool((await self._rows(delete(endpoints).where(where))).rowcount)

    async def list_notices(self, collection_id: int, endpoint: str, limit: int) -> list[Notice]:
        query = (
            select(notices)
            .where(notices.c.collection_id == collection_id, notices.c.endpoint == endpoint.lower())
            .order_by(notices.c.id.desc())
            .limit(limit)
        )
        return [_notice(row) for row in await self._rows(query)]

    async def due_notices(self, now: datetime, limit: int, lease: Lease) -> list[Notice]:
        """Pending notices whose time has come, or whose lease expired, leased to
        ``lease.node``."""
        now_us = to_us(now)
        query = (
            select(notices)
            .where(
                notices.c.status == "pending",
                notices.c.due_at <= now_us,
                or_(notices.c.lease_expiry.is_(None), notices.c.lease_expiry < now_us),
            )
            .order_by(notices.c.due_at)
            .limit(limit)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        rows = list(await self._rows(query))
        if rows:
            await self._rows(
                update(notices)
                .where(notices.c.id.in_([row.id for row in rows]))
                .values(lease_owner=lease.node, lease_expiry=to_us(lease.until))
            )
        return [_notice(row) for row in rows]

    async def settle(self, node: str, outcomes: Sequence[NoticeOutcome]) -> None:
        """Write how these deliveries went, where ``node`` still holds their lease."""
        for outcome in outcomes:
            values: dict[str, Any] = {
                "status": outcome.status.value,
                "attempts": outcome.attempts,
                "message": outcome.message,
                "updated_at": to_us(outcome.at),
                "lease_owner": None,
                "lease_expiry": None,
            }
            if outcome.due_at is not None:
                values["due_at"] = to_us(outcome.due_at)
            await self._rows(
                update(notices)
                .where(notices.c.id == outcome.id, notices.c.lease_owner == node)
                .values(**values)
            )

    async def overdue_jobs(self, now: datetime, limit: int) -> list[StoredJob]:
        """Enabled jobs past their ``expect_by``, locked (PostgreSQL: others skip them)."""
        query = (
            self._jobs()
            .where(
                jobs.c.expect_by <= to_us(now),
                jobs.c.state == "Enabled",
                collections.c.state == "Enabled",
            )
            .order_by(jobs.c.expect_by)
            .limit(limit)
        )
        if self._postgres:
            query = query.with_for_update(of=jobs, skip_locked=True)
        return [_job(row) for row in await self._rows(query)]

    async def acquire_host(
        self,
        host: str,
        token: str,
        node: str,
        now: datetime,
        until: datetime,
        decide: Callable[[int, datetime | None], Admission],
    ) -> Admission:
        """Under the host's row lock: its permits in force and its rate's arrival time go
        to ``decide``; an admission takes a permit (``token``, until ``until``) and moves
        the arrival time."""
        now_us = to_us(now)
        if self._postgres:
            await self._rows(
                pg_insert(host_slots).values(host=host, tat=None).on_conflict_do_nothing()
            )
            row = (
                await self._rows(
                    select(host_slots.c.tat).where(host_slots.c.host == host).with_for_update()
                )
            ).first()
        else:  # one writer at a time: the transaction is the lock
            await self._rows(insert(host_slots).prefix_with("OR IGNORE").values(host=host))
            row = (
                await self._rows(select(host_slots.c.tat).where(host_slots.c.host == host))
            ).first()
        await self._rows(
            delete(host_permits).where(host_permits.c.host == host, host_permits.c.until <= now_us)
        )
        in_flight = (
            await self._rows(select(func.count()).where(host_permits.c.host == host))
        ).scalar_one()
        tat = None if row is None or row[0] is None else from_us(row[0])
        admission = decide(int(in_flight), tat)
        if admission.admitted:
            await self._rows(
                insert(host_permits).values(token=token, host=host, node=node, until=to_us(until))
            )
            await self._rows(
                update(host_slots)
                .where(host_slots.c.host == host)
                .values(tat=opt_us(admission.tat))
            )
        return admission

    async def heartbeat(self, node: str, started: datetime, now: datetime) -> None:
        """Record that ``node`` is alive."""
        values = {"heartbeat_at": to_us(now), "started_at": to_us(started)}
        result = await self._rows(update(nodes).where(nodes.c.name == node).values(**values))
        if not result.rowcount:
            await self._rows(insert(nodes).values(name=node, **values))

    # -- the engine's steps --------------------------------------------------------------
    async def apply(self, writes: EngineWrites, lease: Lease | None) -> None:
        """Write what an engine transaction decided, in the order of :class:`EngineWrites`."""
        if writes.entries:
            await _insert_many(self.conn, history, [_entry_values(e) for e in writes.entries])
        await self.delete_occurrences(writes.done)
        await self.continue_occurrences(writes.continued)
        await self.insert_occurrences(writes.started, lease)
        await self.insert_occurrences(writes.follow_ups, None)
        await self.update_jobs([_progress_values(job) for job in writes.progress])
        await self.update_jobs([_cursor_values(job) for job in writes.cursors])
        await self.finish_jobs(writes.ended)
        if writes.notices:
            await self.conn.execute(insert(notices), [_notice_values(n) for n in writes.notices])
        for expectation in writes.expectations:
            await self._rows(
                update(jobs)
                .where(jobs.c.id == expectation.job_id)
                .values(expect_by=opt_us(expectation.expect_by))
            )

    async def due_jobs(
        self, until: datetime, limit: int, share: Share | None = None
    ) -> list[StoredJob]:
        """Enabled jobs of enabled collections whose next execution time has come, and that
        are not busy: a busy job's due slots wait until its running occurrence is recorded,
        which decides what becomes of them (backlog or overlap: ``planning.after_busy``).
        With a ``share``, a job outside it has come ``share.delay`` after its time."""
        query = (
            self._jobs()
            .where(
                jobs.c.next_execution_time <= to_us(until),
                jobs.c.state == "Enabled",
                collections.c.state == "Enabled",
                ~jobs.c.busy,
            )
            .order_by(jobs.c.next_execution_time)
            .limit(limit)
        )
        if share is not None:
            query = query.where(
                or_(
                    _owned(share),
                    jobs.c.next_execution_time <= to_us(until - share.delay),
                )
            )
        if self._postgres:
            # Nodes claim disjoint jobs: a job another node is scheduling is skipped, and
            # once that node commits, its cursor has moved past the slot.
            query = query.with_for_update(skip_locked=True, of=jobs)
        return [_job(row) for row in await self._rows(query)]

    async def insert_occurrences(self, items: Sequence[Occurrence], lease: Lease | None) -> None:
        """Insert occurrences: leased and running with a lease, else pending."""
        if items:
            await _insert_many(
                self.conn, occurrences, [_occurrence_values(item, lease) for item in items]
            )

    async def continue_occurrences(self, items: Sequence[Occurrence]) -> None:
        """The occurrences' next attempts (a retry or the error action), pending again."""
        rows = [_occurrence_values(item, None) for item in items]
        for row in rows:
            del row["repeat_count"], row["final"]
        key = [occurrences.c.job_id, occurrences.c.scheduled_time, occurrences.c.kind]
        await _update_many(self.conn, occurrences, key, rows)

    async def update_jobs(self, rows: Sequence[dict[str, Any]]) -> None:
        """Per-job updates in one statement: each dict has ``id`` and the same columns.

        Rows are written in id order, like :meth:`flip_job_states`: two transactions that
        update the same jobs then lock them in the same order, where opposite orders would
        make PostgreSQL abort one of them as a deadlock."""
        await _update_many(self.conn, jobs, [jobs.c.id], sorted(rows, key=lambda row: row["id"]))

    async def finish_jobs(self, ended: Sequence[JobEnd]) -> None:
        """Jobs whose last occurrence ended: their state and end, and no next execution;
        only where the job is still Enabled (a job disabled meanwhile keeps the user's)."""
        if not ended:
            return
        statement = (
            update(jobs)
            .where(jobs.c.id == bindparam("k_id"), jobs.c.state == "Enabled")
            .values(
                state=bindparam("v_state"),
                finished_at=bindparam("v_finished_at"),
                next_execution_time=None,
            )
        )
        await self._rows(
            statement,
            [
                {"k_id": end.job_id, "v_state": end.state.value, "v_finished_at": to_us(end.at)}
                for end in sorted(ended, key=lambda end: end.job_id)
            ],
        )

    async def due_attempts(self, now: datetime, limit: int, lease: Lease) -> list[Occurrence]:
        """Attempts whose time has come, or whose lease expired (their node died), leased
        and marked running. A taken-over attempt keeps its execution tag."""
        now_us = to_us(now)
        query = (
            select(occurrences)
            .where(
                or_(
                    and_(occurrences.c.status == "pending", occurrences.c.due_at <= now_us),
                    and_(occurrences.c.status == "running", occurrences.c.lease_expiry < now_us),
                )
            )
            .order_by(occurrences.c.due_at)
            .limit(limit)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        rows = list(await self._rows(query))
        if rows:
            await self._rows(
                update(occurrences)
                .where(occurrences.c.id.in_([row.id for row in rows]))
                .values(status="running", lease_owner=lease.node, lease_expiry=to_us(lease.until))
            )
            taken = [
                row.job_id for row in rows if row.status == "running" and row.kind == "scheduled"
            ]
            await self._restart_busy(taken, now)
        return [_occurrence(row) for row in rows]

    async def _restart_busy(self, job_ids: Sequence[int], now: datetime) -> None:
        """These jobs' occurrences start again now (taken over, or reset at a restart): the
        slots that came due before now are backlog, not an overlap, when they end."""
        if job_ids:
            await self._rows(
                update(jobs)
                .where(jobs.c.id.in_(sorted(set(job_ids))))
                .values(busy_since=to_us(now))
            )

    async def extend_leases(self, lease: Lease, keys: Sequence[OccurrenceKey]) -> None:
        """Push the leases ``lease.node`` holds on these occurrences to ``lease.until``."""
        if not keys:
            return
        statement = (
            update(occurrences)
            .where(
                occurrences.c.job_id == bindparam("k_job_id"),
                occurrences.c.scheduled_time == bindparam("k_scheduled_time"),
                occurrences.c.kind == bindparam("k_kind"),
                occurrences.c.lease_owner == lease.node,
            )
            .values(lease_expiry=to_us(lease.until))
        )
        params = [
            {"k_job_id": j, "k_scheduled_time": t, "k_kind": k}
            for j, t, k in map(_key_values, keys)
        ]
        await self._rows(statement, params)

    async def still_leased(self, node: str, keys: Sequence[OccurrenceKey]) -> set[OccurrenceKey]:
        """Which of these occurrences ``node`` still holds, locked until the transaction
        ends: an attempt whose lease another node took over is not recorded twice."""
        if not keys:
            return set()
        job_ids = sorted({key.job_id for key in keys})
        query = select(
            occurrences.c.job_id, occurrences.c.scheduled_time, occurrences.c.kind
        ).where(occurrences.c.job_id.in_(job_ids), occurrences.c.lease_owner == node)
        if self._postgres:
            query = query.with_for_update()
        held = {_key(row) for row in await self._rows(query)}
        return held & set(keys)

    async def enabled_jobs(self, ids: Iterable[int]) -> set[int]:
        """Which of these jobs exist and are enabled, in an enabled collection."""
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        query = (
            select(jobs.c.id)
            .join(collections, collections.c.id == jobs.c.collection_id)
            .where(
                jobs.c.id.in_(wanted), jobs.c.state == "Enabled", collections.c.state == "Enabled"
            )
        )
        return {row[0] for row in await self._rows(query)}

    async def jobs_by_ids(self, ids: Iterable[int], *, lock: bool = False) -> dict[int, StoredJob]:
        """These jobs by id; with ``lock``, their rows stay locked (PostgreSQL, in id order)
        until the transaction ends, so what the caller writes back is not a lost update."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        query = self._jobs().where(jobs.c.id.in_(wanted))
        if lock and self._postgres:
            query = query.order_by(jobs.c.id).with_for_update(of=jobs)
        rows = await self._rows(query)
        return {job.id: job for job in map(_job, rows)}

    async def delete_occurrences(self, keys: Sequence[OccurrenceKey]) -> None:
        if not keys:
            return
        values = [_key_values(key) for key in keys]
        if self._postgres:
            arrays = _arrays(self.conn, occurrences, ["job_id", "scheduled_time", "kind"])
            await self._rows(
                text(
                    f"DELETE FROM occurrences USING unnest({arrays})"  # noqa: S608
                    " AS k(job_id, scheduled_time, kind) WHERE occurrences.job_id = k.job_id"
                    " AND occurrences.scheduled_time = k.scheduled_time"
                    " AND occurrences.kind = k.kind"
                ),
                {f"a{index}": [value[index] for value in values] for index in range(3)},
            )
            return
        statement = delete(occurrences).where(
            occurrences.c.job_id == bindparam("k_job_id"),
            occurrences.c.scheduled_time == bindparam("k_scheduled_time"),
            occurrences.c.kind == bindparam("k_kind"),
        )
        await self._rows(
            statement, [{"k_job_id": j, "k_scheduled_time": t, "k_kind": k} for j, t, k in values]
        )

    async def next_wakeup(self, after: datetime, share: Share | None = None) -> datetime | None:
        """The earliest instant at which the engine has work: a due job or a due attempt.

        A busy job counts only with a next slot after ``after``: its due slots wait for its
        recording, but every node wakes at its next slot to compete for it (else the node
        that records a job would be the only one awake to claim it, and the jobs of a
        cluster would gather on one node). With a ``share``, a job outside it counts
        ``share.delay`` later. The lookups walk an index in order and stop at the first
        row (no scan of every job; at most the busy ones, or a few outside the share)."""
        free = or_(~jobs.c.busy, jobs.c.next_execution_time > to_us(after))
        job_time = (
            select(jobs.c.next_execution_time)
            .join(collections, collections.c.id == jobs.c.collection_id)
            .where(
                jobs.c.next_execution_time.is_not(None),
                jobs.c.state == "Enabled",
                collections.c.state == "Enabled",
                free,
            )
            .order_by(jobs.c.next_execution_time)
            .limit(1)
        )
        attempt_time = select(func.min(occurrences.c.due_at)).where(
            occurrences.c.status == "pending"
        )
        first = (await self._rows(job_time)).scalar_one_or_none()
        second = (await self._rows(attempt_time)).scalar_one_or_none()
        times = [value for value in (first, second) if value is not None]
        if share is not None and first is not None:
            # The first job overall may be another node's: it counts a delay later, and
            # the first of this node's own counts as it is.
            times.remove(first)
            times.append(first + share.delay // _MICROSECOND)
            own = (await self._rows(job_time.where(_owned(share)))).scalar_one_or_none()
            if own is not None:
                times.append(own)
        return from_us(min(times)) if times else None

    async def reset_running(self, node: str, now: datetime, only_own: bool = False) -> int:
        """Attempts this node left running when it stopped are tried again (at-least-once).

        On SQLite there is one node, so every running attempt is its own (unless
        ``only_own``: worker processes share the file); on PostgreSQL only those leased to
        ``node`` (other nodes' expired leases are taken over as they expire).
        Their jobs' occurrences start again ``now``: slots missed while the node was down are
        backlog (each runs if it is within the grace), not an overlap.
        """
        mine = occurrences.c.status == "running"
        if self._postgres or only_own:
            mine = and_(mine, occurrences.c.lease_owner == node)
        busy = select(occurrences.c.job_id).where(mine, occurrences.c.kind == "scheduled")
        await self._restart_busy([row[0] for row in await self._rows(busy)], now)
        statement = update(occurrences).where(mine)
        result = await self._rows(statement.values(status="pending", lease_owner=None))
        return int(result.rowcount or 0)

    async def purge(
        self, history_before: datetime, keep_per_job: int, finished_before: datetime
    ) -> tuple[int, int]:
        """Delete history older than ``history_before`` or beyond the newest ``keep_per_job``
        of each job, and jobs completed or faulted before ``finished_before``."""
        old = await self._rows(delete(history).where(history.c.start_time < to_us(history_before)))
        ranked = (
            select(
                history.c.id,
                # The order of list_history, ties included, so the entries kept are the
                # ones listed first on every backend.
                func.row_number()
                .over(
                    partition_by=history.c.job_id,
                    order_by=(history.c.start_time.desc(), history.c.id.desc()),
                )
                .label("position"),
            )
        ).subquery()
        excess = select(ranked.c.id).where(ranked.c.position > keep_per_job)
        extra = await self._rows(delete(history).where(history.c.id.in_(excess)))
        finished = select(jobs.c.id).where(
            jobs.c.finished_at < to_us(finished_before),
            or_(jobs.c.state == "Completed", jobs.c.state == "Faulted"),
        )
        ids = [row[0] for row in await self._rows(finished)]
        for job_id in ids:
            await self.delete_job(job_id)
        await self._rows(
            delete(notices).where(
                notices.c.status != "pending", notices.c.updated_at < to_us(history_before)
            )
        )
        return int((old.rowcount or 0) + (extra.rowcount or 0)), len(ids)


def _arrays(conn: AsyncConnection, table: Any, names: Sequence[str]) -> str:
    """``CAST(:a0 AS <type>[]), ...`` for these columns of ``table`` (PostgreSQL): each
    parameter a whole column of values, for ``unnest``. Unknown names raise ``KeyError``,
    so only column names ever reach the SQL text."""
    return ", ".join(
        f"CAST(:a{index} AS {table.c[name].type.compile(dialect=conn.dialect)}[])"
        for index, name in enumerate(names)
    )


async def _insert_many(conn: AsyncConnection, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that have the same keys; on PostgreSQL as one ``INSERT ... SELECT FROM
    unnest(arrays)``, without per-row parameter processing."""
    names = list(rows[0])
    if conn.dialect.name != "postgresql" or any(list(row) != names for row in rows):
        await conn.execute(insert(table), list(rows))
        return
    arrays = _arrays(conn, table, names)
    await conn.execute(
        text(f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays})"),  # noqa: S608 - column names only
        {f"a{index}": [row[name] for row in rows] for index, name in enumerate(names)},
    )


async def _update_many(
    conn: AsyncConnection, table: Any, key: list[Any], rows: Sequence[dict[str, Any]]
) -> None:
    """Per-row updates in one statement; every row carries the key columns and the same
    other columns. On PostgreSQL, one ``UPDATE ... FROM unnest(arrays)``: one execution
    instead of one per row, and no per-row parameter processing; elsewhere executemany."""
    if not rows:
        return
    key_names = [column.name for column in key]
    columns = [name for name in rows[0] if name not in key_names]
    if conn.dialect.name == "postgresql":
        names = key_names + columns
        arrays = _arrays(conn, table, names)
        # Every name is a column of `table` (looked up above), never caller text.
        bulk = text(
            f"UPDATE {table.name} SET "  # noqa: S608
            + ", ".join(f"{name} = v.{name}" for name in columns)
            + f" FROM unnest({arrays}) AS v({', '.join(names)}) WHERE "
            + " AND ".join(f"{table.name}.{name} = v.{name}" for name in key_names)
        )
        await conn.execute(
            bulk,
            {f"a{index}": [row[name] for row in rows] for index, name in enumerate(names)},
        )
        return
    statement = (
        update(table)
        .where(*(column == bindparam(f"k_{column.name}") for column in key))
        .values({name: bindparam(f"v_{name}") for name in columns})
    )
    params = [
        {f"k_{name}": row[name] for name in key_names}
        | {f"v_{name}": row[name] for name in columns}
        for row in rows
    ]
    await conn.execute(statement, params)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")  # writers queue: the API, the engine
    cursor.close()
