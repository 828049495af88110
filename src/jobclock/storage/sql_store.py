"""The SQL store: SQLAlchemy 2 Core, async. Owns every SQL statement of jobclock.

Rows come back as plain records; the services and the engine turn them into domain values.
"Now" is always a bound parameter computed by the caller's clock, never SQL ``NOW()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, event, func, insert, or_, select, text, update
from sqlalchemy.engine import Row, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from jobclock.storage.migrate import upgrade
from jobclock.storage.tables import collections, history, jobs, metadata, nodes, occurrences
from jobclock.storage.writer_gate import WriterGate, gate_for

WAKEUP_CHANNEL = "jobclock_wakeup"


@dataclass(slots=True)
class CollectionRecord:
    id: int
    subscription: str
    resource_group: str
    name: str
    location: str
    sku: str
    state: str
    quota: str | None
    tags: str | None


@dataclass(slots=True)
class JobRecord:
    id: int
    collection_id: int
    collection_name: str
    name: str
    definition: str
    state: str
    anchor: int
    execution_count: int
    failure_count: int
    faulted_count: int
    last_execution_time: int | None
    next_execution_time: int | None
    last_occurrence: int | None
    occurrences_done: int
    history_seq: int
    busy: bool
    postponed: int | None
    created_at: int
    finished_at: int | None
    busy_since: int | None = None


@dataclass(slots=True)
class OccurrenceRecord:
    id: int | None  # None for an occurrence the engine has just written
    job_id: int
    scheduled_time: int
    kind: str
    repeat_count: int
    final: bool
    phase: str
    attempt: int
    due_at: int
    execution_tag: str
    main_failed: bool


@dataclass(slots=True)
class HistoryRecord:
    history_id: str
    start_time: int
    end_time: int
    expected_execution_time: int
    action_name: str
    status: str
    message: str
    retry_count: int
    repeat_count: int


def _collection(row: Row[Any]) -> CollectionRecord:
    return CollectionRecord(
        row.id, row.subscription, row.resource_group, row.name, row.location, row.sku,
        row.state, row.quota, row.tags,
    )  # fmt: skip


_JOB_COLUMNS = [*jobs.c, collections.c.name.label("collection_name")]


def _job(row: Row[Any]) -> JobRecord:
    return JobRecord(
        row.id, row.collection_id, row.collection_name, row.name, row.definition, row.state,
        row.anchor, row.execution_count, row.failure_count, row.faulted_count,
        row.last_execution_time, row.next_execution_time, row.last_occurrence,
        row.occurrences_done, row.history_seq, bool(row.busy), row.postponed, row.created_at,
        row.finished_at, row.busy_since,
    )  # fmt: skip


def _occurrence(row: Row[Any]) -> OccurrenceRecord:
    return OccurrenceRecord(
        row.id, row.job_id, row.scheduled_time, row.kind, row.repeat_count, bool(row.final),
        row.phase, row.attempt, row.due_at, row.execution_tag, bool(row.main_failed),
    )  # fmt: skip


def _history(row: Row[Any]) -> HistoryRecord:
    return HistoryRecord(
        row.history_id, row.start_time, row.end_time, row.expected_execution_time,
        row.action_name, row.status, row.message, row.retry_count, row.repeat_count,
    )  # fmt: skip


def async_url(url: str) -> str:
    """A plain SQLAlchemy URL with the async driver jobclock uses for its dialect."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    if url.startswith(("postgresql:", "postgres:")):
        return "postgresql+asyncpg:" + url.split(":", 1)[1]
    return url


class SqlStore:
    """Persistence for collections, jobs, occurrences and history, on SQLite or PostgreSQL.

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

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that may write: committed at the end, rolled back on an error.

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
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that only reads: one consistent snapshot, no writer's gate or lock
        (on SQLite, readers never wait for the writer). Writing in it is a bug."""
        async with self.engine.begin() as conn:
            if self._gate is not None:
                await conn.exec_driver_sql("BEGIN")
            yield conn

    # -- collections ---------------------------------------------------------------------
    async def find_collection(self, conn: AsyncConnection, key: str) -> CollectionRecord | None:
        row = (await conn.execute(select(collections).where(collections.c.key == key))).first()
        return None if row is None else _collection(row)

    async def list_collections(
        self, conn: AsyncConnection, subscription_key: str, key_prefix: str | None
    ) -> list[CollectionRecord]:
        query = select(collections).where(collections.c.subscription_key == subscription_key)
        if key_prefix is not None:
            query = query.where(collections.c.key.startswith(key_prefix, autoescape=True))
        rows = await conn.execute(query.order_by(self._by_text(collections.c.name)))
        return [_collection(row) for row in rows]

    async def all_collections(self, conn: AsyncConnection) -> list[CollectionRecord]:
        """Every collection, by subscription, resource group and name (the portal)."""
        query = select(collections).order_by(self._by_text(collections.c.key))
        return [_collection(row) for row in await conn.execute(query)]

    async def job_counts(self, conn: AsyncConnection) -> dict[int, int]:
        """How many jobs each collection holds, by collection id."""
        query = select(jobs.c.collection_id, func.count()).group_by(jobs.c.collection_id)
        return {int(row[0]): int(row[1]) for row in await conn.execute(query)}

    async def attempt_counts(
        self,
        conn: AsyncConnection,
        since: int,
        bucket: int,
        *,
        collection_id: int | None = None,
        job_id: int | None = None,
    ) -> list[tuple[int, str, int]]:
        """History entries from ``since`` on, counted per ``bucket`` µs and status:
        (bucket index, status, count); of one job, one collection, or all."""
        index = ((history.c.start_time - since) // bucket).label("bucket")
        query = select(index, history.c.status, func.count()).where(history.c.start_time >= since)
        if job_id is not None:
            query = query.where(history.c.job_id == job_id)
        elif collection_id is not None:
            query = query.where(
                history.c.job_id.in_(select(jobs.c.id).where(jobs.c.collection_id == collection_id))
            )
        query = query.group_by(index, history.c.status)
        return [(int(row[0]), str(row[1]), int(row[2])) for row in await conn.execute(query)]

    async def status_counts(self, conn: AsyncConnection, since: int) -> dict[int, dict[str, int]]:
        """History entries from ``since`` on, per collection id and status."""
        query = (
            select(jobs.c.collection_id, history.c.status, func.count())
            .join(jobs, jobs.c.id == history.c.job_id)
            .where(history.c.start_time >= since)
            .group_by(jobs.c.collection_id, history.c.status)
        )
        counts: dict[int, dict[str, int]] = {}
        for row in await conn.execute(query):
            counts.setdefault(int(row[0]), {})[str(row[1])] = int(row[2])
        return counts

    async def history_entry(
        self, conn: AsyncConnection, job_id: int, history_id: str
    ) -> HistoryRecord | None:
        query = select(history).where(
            history.c.job_id == job_id, history.c.history_id == history_id
        )
        row = (await conn.execute(query)).first()
        return None if row is None else _history(row)

    async def count_collections(
        self, conn: AsyncConnection, subscription_key: str, sku: str
    ) -> tuple[int, int]:
        """(collections with plan ``sku``, all collections) of a subscription."""
        base = select(func.count()).where(collections.c.subscription_key == subscription_key)
        total = (await conn.execute(base)).scalar_one()
        same = (await conn.execute(base.where(collections.c.sku == sku))).scalar_one()
        return int(same), int(total)

    async def insert_collection(self, conn: AsyncConnection, values: dict[str, Any]) -> int:
        result = await conn.execute(insert(collections).values(**values))
        key = result.inserted_primary_key
        assert key is not None  # noqa: S101 - an insert always has a key
        return int(key[0])

    async def update_collection(
        self, conn: AsyncConnection, collection_id: int, values: dict[str, Any]
    ) -> None:
        await conn.execute(
            update(collections).where(collections.c.id == collection_id).values(**values)
        )

    async def delete_collection(self, conn: AsyncConnection, collection_id: int) -> None:
        # Explicit child deletes: SQLite enforces ON DELETE CASCADE only with a pragma.
        job_ids = select(jobs.c.id).where(jobs.c.collection_id == collection_id)
        await conn.execute(delete(history).where(history.c.job_id.in_(job_ids)))
        await conn.execute(delete(occurrences).where(occurrences.c.job_id.in_(job_ids)))
        await conn.execute(delete(jobs).where(jobs.c.collection_id == collection_id))
        await conn.execute(delete(collections).where(collections.c.id == collection_id))

    def _by_text(self, column: Any) -> Any:
        """Code-point order on every backend: SQLite compares text bytewise, PostgreSQL by
        the database's collation (``en_US`` ignores ``-`` and ``_``), which would reorder
        pages of ``$skip``/``$top`` from one backend to the other."""
        return column.collate("C") if self.dialect == "postgresql" else column

    # -- jobs ----------------------------------------------------------------------------
    def _jobs(self) -> Any:
        return select(*_JOB_COLUMNS).join(collections, collections.c.id == jobs.c.collection_id)

    async def find_job(
        self, conn: AsyncConnection, collection_id: int, name_key: str
    ) -> JobRecord | None:
        query = self._jobs().where(
            jobs.c.collection_id == collection_id, jobs.c.name_key == name_key
        )
        row = (await conn.execute(query)).first()
        return None if row is None else _job(row)

    async def job_by_id(self, conn: AsyncConnection, job_id: int) -> JobRecord | None:
        row = (await conn.execute(self._jobs().where(jobs.c.id == job_id))).first()
        return None if row is None else _job(row)

    async def list_jobs(
        self,
        conn: AsyncConnection,
        collection_id: int,
        state: str | None,
        limit: int | None,
        offset: int,
        name_contains: str | None = None,
    ) -> list[JobRecord]:
        query = self._jobs().where(jobs.c.collection_id == collection_id)
        if state is not None:
            query = query.where(jobs.c.state == state)
        if name_contains:
            query = query.where(jobs.c.name_key.contains(name_contains.lower(), autoescape=True))
        query = query.order_by(self._by_text(jobs.c.name_key)).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return [_job(row) for row in await conn.execute(query)]

    async def count_jobs(self, conn: AsyncConnection, collection_id: int) -> int:
        query = select(func.count()).where(jobs.c.collection_id == collection_id)
        return int((await conn.execute(query)).scalar_one())

    async def insert_job(self, conn: AsyncConnection, values: dict[str, Any]) -> int:
        result = await conn.execute(insert(jobs).values(**values))
        key = result.inserted_primary_key
        assert key is not None  # noqa: S101 - an insert always has a key
        return int(key[0])

    async def update_job(self, conn: AsyncConnection, job_id: int, values: dict[str, Any]) -> None:
        await conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))

    async def delete_job(self, conn: AsyncConnection, job_id: int) -> None:
        await conn.execute(delete(history).where(history.c.job_id == job_id))
        await conn.execute(delete(occurrences).where(occurrences.c.job_id == job_id))
        await conn.execute(delete(jobs).where(jobs.c.id == job_id))

    async def jobs_in_state(
        self, conn: AsyncConnection, collection_id: int, state: str
    ) -> list[JobRecord]:
        return await self.list_jobs(conn, collection_id, state, None, 0)

    # -- engine --------------------------------------------------------------------------
    async def due_jobs(self, conn: AsyncConnection, now: int, limit: int) -> list[JobRecord]:
        """Enabled jobs of enabled collections whose next execution time has come, and that
        are not busy: a busy job's due slots wait until its running occurrence is recorded,
        which decides what becomes of them (backlog or overlap: ``planning.after_busy``)."""
        query = (
            self._jobs()
            .where(
                jobs.c.next_execution_time <= now,
                jobs.c.state == "Enabled",
                collections.c.state == "Enabled",
                ~jobs.c.busy,
            )
            .order_by(jobs.c.next_execution_time)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            # Nodes claim disjoint jobs: a job another node is scheduling is skipped, and
            # once that node commits, its cursor has moved past the slot.
            query = query.with_for_update(skip_locked=True, of=jobs)
        return [_job(row) for row in await conn.execute(query)]

    async def insert_occurrences(
        self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Insert occurrences; a row without a lease (a pending one) gets none."""
        if rows:
            unleased = {"lease_owner": None, "lease_expiry": None}
            await _insert_many(conn, occurrences, [unleased | row for row in rows])

    async def update_jobs(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        """Per-job updates in one statement: each dict has ``id`` and the same columns.

        Rows are written in id order, like :meth:`flip_job_states`: two transactions that
        update the same jobs then lock them in the same order, where opposite orders would
        make PostgreSQL abort one of them as a deadlock."""
        await _update_many(conn, jobs, [jobs.c.id], sorted(rows, key=lambda row: row["id"]))

    async def finish_jobs(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        """Jobs whose last occurrence ended: ``state`` (Completed or Faulted) and
        ``finished_at`` for each ``id``, and no next execution; only where the job is still
        Enabled (a job disabled meanwhile keeps the user's state)."""
        if not rows:
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
        await conn.execute(
            statement,
            [
                {"k_id": row["id"], "v_state": row["state"], "v_finished_at": row["finished_at"]}
                for row in sorted(rows, key=lambda row: row["id"])
            ],
        )

    async def due_attempts(
        self, conn: AsyncConnection, now: int, limit: int, node: str, lease_until: int
    ) -> list[OccurrenceRecord]:
        """Attempts whose time has come, or whose lease expired (their node died), leased to
        ``node`` until ``lease_until`` and marked running. A taken-over attempt keeps its
        execution tag, so its target can tell a repeat."""
        query = (
            select(occurrences)
            .where(
                or_(
                    and_(occurrences.c.status == "pending", occurrences.c.due_at <= now),
                    and_(occurrences.c.status == "running", occurrences.c.lease_expiry < now),
                )
            )
            .order_by(occurrences.c.due_at)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(await conn.execute(query))
        found = [_occurrence(row) for row in rows]
        if found:
            await conn.execute(
                update(occurrences)
                .where(occurrences.c.id.in_([item.id for item in found]))
                .values(status="running", lease_owner=node, lease_expiry=lease_until)
            )
            taken = [
                row.job_id for row in rows if row.status == "running" and row.kind == "scheduled"
            ]
            await self._restart_busy(conn, taken, now)
        return found

    async def _restart_busy(self, conn: AsyncConnection, job_ids: Sequence[int], now: int) -> None:
        """These jobs' occurrences start again now (taken over, or reset at a restart): the
        slots that came due before now are backlog, not an overlap, when they end."""
        if job_ids:
            await conn.execute(
                update(jobs).where(jobs.c.id.in_(sorted(set(job_ids)))).values(busy_since=now)
            )

    async def extend_leases(
        self, conn: AsyncConnection, node: str, keys: Sequence[tuple[int, int, str]], until: int
    ) -> None:
        """Push the leases ``node`` holds on these occurrences to ``until``."""
        if not keys:
            return
        statement = (
            update(occurrences)
            .where(
                occurrences.c.job_id == bindparam("k_job_id"),
                occurrences.c.scheduled_time == bindparam("k_scheduled_time"),
                occurrences.c.kind == bindparam("k_kind"),
                occurrences.c.lease_owner == node,
            )
            .values(lease_expiry=until)
        )
        await conn.execute(
            statement,
            [{"k_job_id": j, "k_scheduled_time": t, "k_kind": k} for j, t, k in keys],
        )

    async def still_leased(
        self, conn: AsyncConnection, node: str, keys: Sequence[tuple[int, int, str]]
    ) -> set[tuple[int, int, str]]:
        """Which of these occurrences ``node`` still holds, locked until the transaction
        ends: an attempt whose lease another node took over is not recorded twice."""
        if not keys:
            return set()
        job_ids = sorted({key[0] for key in keys})
        query = select(
            occurrences.c.job_id, occurrences.c.scheduled_time, occurrences.c.kind
        ).where(occurrences.c.job_id.in_(job_ids), occurrences.c.lease_owner == node)
        if self.dialect == "postgresql":
            query = query.with_for_update()
        held = {(row[0], row[1], row[2]) for row in await conn.execute(query)}
        return held & set(keys)

    async def heartbeat(self, conn: AsyncConnection, node: str, started: int, now: int) -> None:
        """Record that ``node`` is alive."""
        result = await conn.execute(
            update(nodes).where(nodes.c.name == node).values(heartbeat_at=now, started_at=started)
        )
        if not result.rowcount:
            await conn.execute(
                insert(nodes).values(name=node, started_at=started, heartbeat_at=now)
            )

    async def list_nodes(self, conn: AsyncConnection) -> list[tuple[str, int, int]]:
        rows = await conn.execute(
            select(nodes.c.name, nodes.c.started_at, nodes.c.heartbeat_at).order_by(nodes.c.name)
        )
        return [(row[0], row[1], row[2]) for row in rows]

    async def notify(self, conn: AsyncConnection) -> None:
        """Wake every node's engine when this transaction commits (PostgreSQL)."""
        if self.dialect == "postgresql":
            await conn.execute(text(f"NOTIFY {WAKEUP_CHANNEL}"))

    async def enabled_jobs(self, conn: AsyncConnection, ids: Iterable[int]) -> set[int]:
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
        return {row[0] for row in await conn.execute(query)}

    async def jobs_by_ids(
        self, conn: AsyncConnection, ids: Iterable[int], *, lock: bool = False
    ) -> dict[int, JobRecord]:
        """These jobs by id; with ``lock``, their rows stay locked (PostgreSQL, in id order)
        until the transaction ends, so what the caller writes back is not a lost update."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        query = self._jobs().where(jobs.c.id.in_(wanted))
        if lock and self.dialect == "postgresql":
            query = query.order_by(jobs.c.id).with_for_update(of=jobs)
        rows = await conn.execute(query)
        return {row.id: _job(row) for row in rows}

    async def update_occurrences(
        self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Updates keyed by (``job_id``, ``scheduled_time``, ``kind``), in one statement."""
        key = [occurrences.c.job_id, occurrences.c.scheduled_time, occurrences.c.kind]
        await _update_many(conn, occurrences, key, rows)

    async def delete_occurrences(
        self, conn: AsyncConnection, keys: Sequence[tuple[int, int, str]]
    ) -> None:
        """Delete occurrences by (``job_id``, ``scheduled_time``, ``kind``)."""
        if not keys:
            return
        if conn.dialect.name == "postgresql":
            names = ["job_id", "scheduled_time", "kind"]
            await conn.execute(
                text(
                    f"DELETE FROM occurrences USING unnest({_arrays(conn, occurrences, names)})"  # noqa: S608
                    " AS k(job_id, scheduled_time, kind) WHERE occurrences.job_id = k.job_id"
                    " AND occurrences.scheduled_time = k.scheduled_time"
                    " AND occurrences.kind = k.kind"
                ),
                {f"a{index}": [key[index] for key in keys] for index in range(3)},
            )
            return
        statement = delete(occurrences).where(
            occurrences.c.job_id == bindparam("k_job_id"),
            occurrences.c.scheduled_time == bindparam("k_scheduled_time"),
            occurrences.c.kind == bindparam("k_kind"),
        )
        await conn.execute(
            statement,
            [{"k_job_id": j, "k_scheduled_time": t, "k_kind": k} for j, t, k in keys],
        )

    async def insert_history(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        """Messages quote what targets answered; a NUL character in them becomes U+FFFD on
        every backend, since PostgreSQL text cannot hold NUL (the whole batch would fail)."""
        if rows:
            clean = [row | {"message": row["message"].replace("\x00", "\ufffd")} for row in rows]
            await _insert_many(conn, history, clean)

    async def next_wakeup(self, conn: AsyncConnection, now: int | None = None) -> int | None:
        """The earliest instant at which the engine has work: a due job or a due attempt.

        A busy job (see :meth:`due_jobs`) counts only with a next slot after ``now``: its
        due slots wait for its recording, but every node wakes at its next slot to compete
        for it (else the node that records a job would be the only one awake to claim it,
        and the jobs of a cluster would gather on one node). Both lookups walk an index in
        order and stop at the first row (no scan of every job; at most the busy ones)."""
        free = ~jobs.c.busy
        if now is not None:
            free = or_(free, jobs.c.next_execution_time > now)
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
        first = (await conn.execute(job_time)).scalar_one_or_none()
        second = (await conn.execute(attempt_time)).scalar_one_or_none()
        times = [value for value in (first, second) if value is not None]
        return min(times) if times else None

    async def reset_running(self, conn: AsyncConnection, node: str, now: int) -> int:
        """Attempts this node left running when it stopped are tried again (at-least-once).

        On SQLite there is one node, so every running attempt is its own; on PostgreSQL only
        those leased to ``node`` (other nodes' expired leases are taken over as they expire).
        Their jobs' occurrences start again ``now``: slots missed while the node was down are
        backlog (each runs if it is within the grace), not an overlap.
        """
        mine = occurrences.c.status == "running"
        if self.dialect != "sqlite":
            mine = and_(mine, occurrences.c.lease_owner == node)
        busy = select(occurrences.c.job_id).where(mine, occurrences.c.kind == "scheduled")
        await self._restart_busy(conn, [row[0] for row in await conn.execute(busy)], now)
        statement = update(occurrences).where(mine)
        result = await conn.execute(statement.values(status="pending", lease_owner=None))
        return int(result.rowcount or 0)

    # -- history -------------------------------------------------------------------------
    async def list_history(
        self,
        conn: AsyncConnection,
        job_id: int,
        status: str | None,
        limit: int | None,
        offset: int,
    ) -> list[HistoryRecord]:
        query = select(history).where(history.c.job_id == job_id)
        if status is not None:
            query = query.where(history.c.status == status)
        query = query.order_by(history.c.start_time.desc(), history.c.id.desc()).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return [_history(row) for row in await conn.execute(query)]

    async def purge(
        self,
        conn: AsyncConnection,
        history_before: int,
        keep_per_job: int,
        finished_before: int,
    ) -> tuple[int, int]:
        """Delete history older than ``history_before`` or beyond the newest ``keep_per_job``
        of each job, and jobs completed or faulted before ``finished_before``."""
        old = await conn.execute(delete(history).where(history.c.start_time < history_before))
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
        extra = await conn.execute(delete(history).where(history.c.id.in_(excess)))
        finished = select(jobs.c.id).where(
            jobs.c.finished_at < finished_before,
            or_(jobs.c.state == "Completed", jobs.c.state == "Faulted"),
        )
        ids = [row[0] for row in await conn.execute(finished)]
        for job_id in ids:
            await self.delete_job(conn, job_id)
        return int((old.rowcount or 0) + (extra.rowcount or 0)), len(ids)

    async def flip_job_states(
        self,
        conn: AsyncConnection,
        collection_id: int,
        from_state: str,
        to_state: str,
        next_time: Callable[[JobRecord], int | None],
    ) -> None:
        """Set every ``from_state`` job of a collection to ``to_state`` with a new next time.

        Jobs are updated in id order, like :meth:`update_jobs`."""
        found = await self.jobs_in_state(conn, collection_id, from_state)
        for record in sorted(found, key=lambda job: job.id):
            await conn.execute(
                update(jobs)
                .where(and_(jobs.c.id == record.id, jobs.c.state == from_state))
                .values(state=to_state, next_execution_time=next_time(record))
            )


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
