"""An in-memory :class:`jobclock.ports.JobStore`: the port's contract without a database.

The state is dicts of frozen records. A committed state is never changed in place: a
transaction works on a copy (under one lock) and swaps it in when it commits, so a reader
holds a consistent snapshot for free, and a transaction that raises stores nothing. It is
one node's store: :meth:`MemoryJobStore.recover` resets every running attempt.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, TypeVar

from jobclock.domain.collection import CollectionState, JobCollection, Sku
from jobclock.domain.history import HistoryStatus
from jobclock.domain.host_limits import Admission, HostLimit
from jobclock.domain.job import JobState, JobStatus
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
from jobclock.domain.shares import Share, delay_for

if TYPE_CHECKING:
    from jobclock.ports import JobStore

Status = Literal["pending", "running"]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Held:
    """An occurrence as kept: its next attempt, whether it runs, and its lease."""

    occurrence: Occurrence
    status: Status
    lease: Lease | None


@dataclass(frozen=True, slots=True)
class _Written:
    """A history entry and the order it was written in (ties of ``start_time``)."""

    seq: int
    entry: StoredEntry


@dataclass(frozen=True, slots=True)
class _HeldNotice:
    notice: Notice
    lease: Lease | None = None


@dataclass(slots=True)
class _State:
    collections: dict[int, StoredCollection] = field(default_factory=dict)
    jobs: dict[int, StoredJob] = field(default_factory=dict)
    occurrences: dict[OccurrenceKey, _Held] = field(default_factory=dict)
    history: dict[int, tuple[_Written, ...]] = field(default_factory=dict)
    nodes: dict[str, NodeBeat] = field(default_factory=dict)
    # By (collection id, lower-cased name).
    calendars: dict[tuple[int, str], StoredCalendar] = field(default_factory=dict)
    endpoints: dict[tuple[int, str], StoredEndpoint] = field(default_factory=dict)
    notices: dict[int, _HeldNotice] = field(default_factory=dict)
    expect_by: dict[int, datetime] = field(default_factory=dict)  # by job id
    host_tat: dict[str, datetime] = field(default_factory=dict)
    host_permits: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # token
    last_notice_id: int = 0
    last_collection_id: int = 0
    last_job_id: int = 0
    last_entry_seq: int = 0

    def copy(self) -> _State:
        """Shallow copies are enough: every value is frozen (history as tuples)."""
        return dataclasses.replace(
            self,
            collections=dict(self.collections),
            jobs=dict(self.jobs),
            occurrences=dict(self.occurrences),
            history=dict(self.history),
            nodes=dict(self.nodes),
            calendars=dict(self.calendars),
            endpoints=dict(self.endpoints),
            notices=dict(self.notices),
            expect_by=dict(self.expect_by),
            host_tat=dict(self.host_tat),
            host_permits=dict(self.host_permits),
        )


def _place_key(place: CollectionPlace) -> tuple[str, str, str]:
    return (place.subscription.lower(), place.resource_group.lower(), place.name.lower())


def _entries(state: _State, job_id: int | None = None) -> Iterable[tuple[int, StoredEntry]]:
    """(collection id, entry) of one job's history, or of every job's."""
    for owner, written in state.history.items():
        if job_id is not None and owner != job_id:
            continue
        job = state.jobs.get(owner)
        collection_id = -1 if job is None else job.collection_id
        for item in written:
            yield collection_id, item.entry


def _newest_first(written: Iterable[_Written]) -> list[_Written]:
    return sorted(written, key=lambda item: (item.entry.start_time, item.seq), reverse=True)


def _page(items: list[_T], limit: int | None, offset: int) -> list[_T]:
    rest = items[offset:]
    return rest if limit is None else rest[:limit]


class _Reads:
    """:class:`jobclock.ports.JobReads` over one state."""

    def __init__(self, state: _State) -> None:
        self._state = state

    def _enabled(self, job: StoredJob) -> bool:
        collection = self._state.collections.get(job.collection_id)
        return (
            job.state is JobState.ENABLED
            and collection is not None
            and collection.collection.state is CollectionState.ENABLED
        )

    async def find_collection(self, place: CollectionPlace) -> StoredCollection | None:
        wanted = _place_key(place)
        found = (c for c in self._state.collections.values() if _place_key(c.place) == wanted)
        return next(found, None)

    async def list_collections(
        self, subscription: str, resource_group: str | None
    ) -> list[StoredCollection]:
        found = [
            c
            for c in self._state.collections.values()
            if c.place.subscription.lower() == subscription.lower()
            and (resource_group is None or c.place.resource_group.lower() == resource_group.lower())
        ]
        return sorted(found, key=lambda c: (c.place.name, c.id))

    async def all_collections(self) -> list[StoredCollection]:
        return sorted(self._state.collections.values(), key=lambda c: (_place_key(c.place), c.id))

    async def count_collections(self, subscription: str, sku: Sku) -> tuple[int, int]:
        mine = await self.list_collections(subscription, None)
        return sum(1 for c in mine if c.collection.sku is sku), len(mine)

    async def job_counts(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for job in self._state.jobs.values():
            counts[job.collection_id] = counts.get(job.collection_id, 0) + 1
        return counts

    async def find_job(self, collection_id: int, name: str) -> StoredJob | None:
        found = (
            job
            for job in self._state.jobs.values()
            if job.collection_id == collection_id and job.name.lower() == name.lower()
        )
        return next(found, None)

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
        part = (name_contains or "").lower()
        position = None if after is None else after.lower()
        found = [
            job
            for job in self._state.jobs.values()
            if job.collection_id == collection_id
            and (state is None or job.state is state)
            and part in job.name.lower()
            and (position is None or job.name.lower() > position)
        ]
        found.sort(key=lambda job: (job.name.lower(), job.id))
        return _page(found, limit, offset)

    async def count_jobs(self, collection_id: int) -> int:
        return sum(1 for job in self._state.jobs.values() if job.collection_id == collection_id)

    async def list_history(
        self,
        job_id: int,
        status: HistoryStatus | None,
        limit: int | None,
        offset: int,
        *,
        after: HistoryKey | None = None,
    ) -> list[StoredEntry]:
        written = _newest_first(self._state.history.get(job_id, ()))
        found = [
            w.entry
            for w in written
            if (status is None or w.entry.status is status)
            and (after is None or (w.entry.start_time, w.seq) < (after.start_time, after.written))
        ]
        return _page(found, limit, offset)

    async def history_entry(self, job_id: int, history_id: str) -> StoredEntry | None:
        found = (
            w.entry for w in self._state.history.get(job_id, ()) if w.entry.history_id == history_id
        )
        return next(found, None)

    async def attempt_counts(
        self,
        since: datetime,
        bucket: timedelta,
        *,
        collection_id: int | None = None,
        job_id: int | None = None,
    ) -> list[tuple[int, HistoryStatus, int]]:
        counts: dict[tuple[int, HistoryStatus], int] = {}
        for owner, entry in _entries(self._state, job_id):
            if entry.start_time < since:
                continue
            if job_id is None and collection_id is not None and owner != collection_id:
                continue
            window = (entry.start_time - since) // bucket, entry.status
            counts[window] = counts.get(window, 0) + 1
        ordered = sorted(counts.items(), key=lambda item: (item[0][0], item[0][1].value))
        return [(index, status, count) for (index, status), count in ordered]

    async def status_counts(self, since: datetime) -> dict[int, dict[HistoryStatus, int]]:
        counts: dict[int, dict[HistoryStatus, int]] = {}
        for owner, entry in _entries(self._state):
            if entry.start_time >= since:
                per = counts.setdefault(owner, {})
                per[entry.status] = per.get(entry.status, 0) + 1
        return counts

    async def list_nodes(self) -> list[NodeBeat]:
        return sorted(self._state.nodes.values(), key=lambda node: node.name)

    async def find_calendar(
        self, collection_id: int, name: str, *, lock: bool = False
    ) -> StoredCalendar | None:
        return self._state.calendars.get((collection_id, name.lower()))

    async def find_endpoint(
        self, collection_id: int, name: str, *, lock: bool = False
    ) -> StoredEndpoint | None:
        return self._state.endpoints.get((collection_id, name.lower()))

    async def list_endpoints(self, collection_id: int) -> list[StoredEndpoint]:
        found = [(key, e) for key, e in self._state.endpoints.items() if key[0] == collection_id]
        return [endpoint for _, endpoint in sorted(found, key=lambda item: item[0][1])]

    async def list_notices(self, collection_id: int, endpoint: str, limit: int) -> list[Notice]:
        found = [
            held.notice
            for held in self._state.notices.values()
            if held.notice.collection_id == collection_id
            and held.notice.endpoint == endpoint.lower()
        ]
        return sorted(found, key=lambda notice: notice.id or 0, reverse=True)[:limit]

    async def list_calendars(self, collection_id: int) -> list[StoredCalendar]:
        found = [(key, c) for key, c in self._state.calendars.items() if key[0] == collection_id]
        return [calendar for _, calendar in sorted(found, key=lambda item: item[0][1])]


class _Writes(_Reads):
    """:class:`jobclock.ports.JobWrites` on a transaction's own copy of the state."""

    notified: bool = False

    async def insert_collection(
        self, place: CollectionPlace, collection: JobCollection, created_at: datetime
    ) -> int:
        if await self.find_collection(place) is not None:
            raise ValueError(f"A collection already lives at {place}.")
        state = self._state
        state.last_collection_id += 1
        state.collections[state.last_collection_id] = StoredCollection(
            state.last_collection_id, place, collection
        )
        return state.last_collection_id

    async def update_collection(self, collection_id: int, collection: JobCollection) -> None:
        found = self._state.collections.get(collection_id)
        if found is not None:
            self._state.collections[collection_id] = dataclasses.replace(
                found, collection=collection
            )

    async def set_collection_state(self, collection_id: int, state: CollectionState) -> None:
        found = self._state.collections.get(collection_id)
        if found is not None:
            await self.update_collection(
                collection_id, dataclasses.replace(found.collection, state=state)
            )

    async def delete_collection(self, collection_id: int) -> None:
        for job in list(self._state.jobs.values()):
            if job.collection_id == collection_id:
                await self.delete_job(job.id)
        self._state.collections.pop(collection_id, None)
        for key in [key for key in self._state.calendars if key[0] == collection_id]:
            del self._state.calendars[key]
        for key in [key for key in self._state.endpoints if key[0] == collection_id]:
            del self._state.endpoints[key]
        for notice_id, held in list(self._state.notices.items()):
            if held.notice.collection_id == collection_id:
                del self._state.notices[notice_id]

    async def put_calendar(self, collection_id: int, name: str, body: str) -> bool:
        if collection_id not in self._state.collections:
            raise ValueError(f"No collection has the id {collection_id}.")
        key = (collection_id, name.lower())
        found = self._state.calendars.get(key)
        self._state.calendars[key] = StoredCalendar(
            collection_id, name if found is None else found.name, body
        )
        return found is None

    async def delete_calendar(self, collection_id: int, name: str) -> bool:
        return self._state.calendars.pop((collection_id, name.lower()), None) is not None

    async def put_endpoint(self, collection_id: int, name: str, body: str) -> bool:
        key = (collection_id, name.lower())
        found = self._state.endpoints.get(key)
        self._state.endpoints[key] = StoredEndpoint(
            collection_id, name if found is None else found.name, body
        )
        return found is None

    async def delete_endpoint(self, collection_id: int, name: str) -> bool:
        for notice_id, held in list(self._state.notices.items()):
            if held.notice.collection_id == collection_id and held.notice.endpoint == name.lower():
                del self._state.notices[notice_id]
        return self._state.endpoints.pop((collection_id, name.lower()), None) is not None

    async def insert_job(
        self, collection_id: int, name: str, schedule: Schedule, created_at: datetime
    ) -> int:
        collection = self._state.collections.get(collection_id)
        if collection is None:
            raise ValueError(f"No collection has the id {collection_id}.")
        if await self.find_job(collection_id, name) is not None:
            raise ValueError(f"The collection already has a job named {name!r}.")
        state = self._state
        state.last_job_id += 1
        state.jobs[state.last_job_id] = StoredJob(
            id=state.last_job_id,
            collection_id=collection_id,
            collection_name=collection.place.name,
            name=name,
            definition=schedule.definition,
            state=schedule.state,
            cursor=schedule.cursor,
            status=JobStatus(next_execution_time=schedule.next_time),
            history_seq=0,
            busy=False,
            busy_since=None,
            created_at=created_at,
            finished_at=schedule.finished_at,
        )
        self._expect(state.last_job_id, schedule.expect_by)
        return state.last_job_id

    def _expect(self, job_id: int, expect_by: datetime | None) -> None:
        if expect_by is None:
            self._state.expect_by.pop(job_id, None)
        elif job_id in self._state.jobs:
            self._state.expect_by[job_id] = expect_by

    def _change_job(self, job_id: int, **changes: object) -> None:
        """Replace fields of a job; nothing happens for a job that is gone."""
        found = self._state.jobs.get(job_id)
        if found is not None:
            self._state.jobs[job_id] = dataclasses.replace(found, **changes)  # type: ignore[arg-type]

    def _next_time(self, job_id: int, next_time: datetime | None) -> JobStatus | None:
        found = self._state.jobs.get(job_id)
        if found is None:
            return None
        return dataclasses.replace(found.status, next_execution_time=next_time)

    async def reschedule_job(self, job_id: int, schedule: Schedule) -> None:
        self._change_job(
            job_id,
            definition=schedule.definition,
            state=schedule.state,
            cursor=schedule.cursor,
            status=self._next_time(job_id, schedule.next_time),
            finished_at=schedule.finished_at,
        )
        self._expect(job_id, schedule.expect_by)

    async def replace_definition(self, job_id: int, definition: str) -> None:
        self._change_job(job_id, definition=definition)

    async def lock_jobs(self, ids: Collection[int]) -> dict[int, StoredJob]:
        # One transaction at a time holds the memory store: reading is locking.
        return {job_id: self._state.jobs[job_id] for job_id in ids if job_id in self._state.jobs}

    async def retime_job(self, job_id: int, definition: str, next_time: datetime | None) -> None:
        self._change_job(job_id, definition=definition, status=self._next_time(job_id, next_time))

    async def delete_job(self, job_id: int) -> None:
        state = self._state
        state.jobs.pop(job_id, None)
        state.history.pop(job_id, None)
        state.expect_by.pop(job_id, None)
        for key in [key for key in state.occurrences if key.job_id == job_id]:
            del state.occurrences[key]

    async def flip_job_states(
        self,
        collection_id: int,
        from_state: JobState,
        to_state: JobState,
        next_time: Callable[[StoredJob], datetime | None],
    ) -> None:
        for job in sorted(self._state.jobs.values(), key=lambda job: job.id):
            if job.collection_id == collection_id and job.state is from_state:
                status = dataclasses.replace(job.status, next_execution_time=next_time(job))
                self._state.jobs[job.id] = dataclasses.replace(job, state=to_state, status=status)

    async def add_occurrence(self, occurrence: Occurrence) -> None:
        self._insert(occurrence, "pending", None)

    async def notify(self) -> None:
        self.notified = True  # one process: its engine hears its own changes

    # -- what the engine's transactions share ---------------------------------------------
    def _insert(self, occurrence: Occurrence, status: Status, lease: Lease | None) -> None:
        if occurrence.job_id not in self._state.jobs:
            raise ValueError(f"No job has the id {occurrence.job_id}.")
        if occurrence.key in self._state.occurrences:
            raise ValueError(f"The occurrence {occurrence.key} exists already.")
        self._state.occurrences[occurrence.key] = _Held(occurrence, status, lease)

    def _append(self, entry: StoredEntry) -> None:
        """A NUL in a message becomes U+FFFD, as on PostgreSQL (its text cannot hold NUL)."""
        if entry.job_id not in self._state.jobs:
            raise ValueError(f"No job has the id {entry.job_id}.")
        self._state.last_entry_seq += 1
        clean = dataclasses.replace(
            entry,
            message=entry.message.replace("\x00", "\ufffd"),
            written=self._state.last_entry_seq,
        )
        written = _Written(self._state.last_entry_seq, clean)
        self._state.history[entry.job_id] = (*self._state.history.get(entry.job_id, ()), written)

    def heartbeat(self, node: str, started: datetime, now: datetime) -> None:
        self._state.nodes[node] = NodeBeat(node, started, now)

    def restart_busy(self, job_ids: Iterable[int], now: datetime) -> None:
        """These jobs' occurrences start again ``now`` (taken over, or reset at a restart)."""
        for job_id in sorted(set(job_ids)):
            self._change_job(job_id, busy_since=now)

    def apply(self, writes: EngineWrites, lease: Lease | None = None) -> None:
        """Write an :class:`EngineWrites` in its documented order; ``started`` gets ``lease``."""
        for entry in writes.entries:
            self._append(entry)
        for key in writes.done:
            self._state.occurrences.pop(key, None)
        for occurrence in writes.continued:
            if occurrence.key in self._state.occurrences:
                self._state.occurrences[occurrence.key] = _Held(occurrence, "pending", None)
        if writes.started and lease is None:
            raise ValueError("Occurrences that start need a lease.")
        for occurrence in writes.started:
            self._insert(occurrence, "running", lease)
        for occurrence in writes.follow_ups:
            self._insert(occurrence, "pending", None)
        for job in sorted(writes.progress, key=lambda job: job.id):
            self._progress(job)
        for job in sorted(writes.cursors, key=lambda job: job.id):
            self._cursor(job)
        for end in sorted(writes.ended, key=lambda end: end.job_id):
            self._end(end)
        self._notify(writes)

    def _notify(self, writes: EngineWrites) -> None:
        """The notices and expectations of ``writes`` (the end of :meth:`apply`)."""
        for notice in writes.notices:
            self._state.last_notice_id += 1
            notice_id = self._state.last_notice_id
            stored = dataclasses.replace(
                notice,
                id=notice_id,
                endpoint=notice.endpoint.lower(),
                updated_at=notice.updated_at or notice.created_at,
            )
            self._state.notices[notice_id] = _HeldNotice(stored)
        for expectation in writes.expectations:
            self._expect(expectation.job_id, expectation.expect_by)

    def _progress(self, job: StoredJob) -> None:
        found = self._state.jobs.get(job.id)
        if found is None:
            return
        status = dataclasses.replace(
            job.status, next_execution_time=found.status.next_execution_time
        )
        self._change_job(
            job.id,
            status=status,
            history_seq=job.history_seq,
            busy=job.busy,
            busy_since=job.busy_since,
        )

    def _cursor(self, job: StoredJob) -> None:
        self._change_job(
            job.id,
            cursor=job.cursor,
            status=self._next_time(job.id, job.next_time),
            busy=job.busy,
            busy_since=job.busy_since,
        )

    def _end(self, end: JobEnd) -> None:
        found = self._state.jobs.get(end.job_id)
        if found is not None and found.state is JobState.ENABLED:
            self._change_job(
                end.job_id,
                state=end.state,
                finished_at=end.at,
                status=self._next_time(end.job_id, None),
            )


class MemoryJobStore:
    """:class:`jobclock.ports.JobStore` in memory, for tests and one-process tools."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[_Reads]:
        """The committed state is never changed in place: it is the snapshot."""
        yield _Reads(self._state)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Writes]:
        async with self._lock:
            work = self._state.copy()
            yield _Writes(work)
            self._state = work

    async def close(self) -> None:
        return None

    # -- the engine's transactions -------------------------------------------------------
    async def recover(
        self, node: str, started: datetime, now: datetime, only_own: bool = False
    ) -> int:
        async with self.transaction() as tx:
            state = tx._state
            running = [
                key
                for key, held in state.occurrences.items()
                if held.status == "running"
                and not (only_own and (held.lease is None or held.lease.node != node))
            ]
            for key in running:
                state.occurrences[key] = _Held(state.occurrences[key].occurrence, "pending", None)
            tx.restart_busy(
                (key.job_id for key in running if key.kind is OccurrenceKind.SCHEDULED), now
            )
            tx.heartbeat(node, started, now)
        return len(running)

    async def renew(
        self,
        node: str,
        started: datetime,
        now: datetime,
        held: Collection[OccurrenceKey],
        until: datetime,
    ) -> list[NodeBeat]:
        async with self.transaction() as tx:
            tx.heartbeat(node, started, now)
            occurrences = tx._state.occurrences
            for key in held:
                found = occurrences.get(key)
                if found is not None and found.lease is not None and found.lease.node == node:
                    occurrences[key] = dataclasses.replace(found, lease=Lease(node, until))
            return await tx.list_nodes()

    async def leave(self, node: str) -> None:
        async with self.transaction() as tx:
            tx._state.nodes.pop(node, None)

    async def schedule_due(
        self,
        until: datetime,
        limit: int,
        plan: Callable[[list[StoredJob]], Awaitable[EngineWrites]],
        lease: Lease,
        share: Share | None = None,
    ) -> EngineWrites:
        async with self.transaction() as tx:
            due = sorted(
                (
                    job
                    for job in tx._state.jobs.values()
                    if tx._enabled(job)
                    and not job.busy
                    and job.next_time is not None
                    and job.next_time + delay_for(share, job.id) <= until
                ),
                key=lambda job: (job.next_time, job.id),
            )[: max(limit, 0)]
            if not due:
                return EngineWrites()
            writes = await plan(due)
            tx.apply(writes, lease)
        return writes

    async def claim_attempts(
        self,
        now: datetime,
        limit: int,
        lease: Lease,
        plan: Callable[[list[tuple[Occurrence, StoredJob]]], Awaitable[EngineWrites]],
    ) -> list[tuple[Occurrence, StoredJob]]:
        async with self.transaction() as tx:
            state = tx._state
            due = sorted(
                (held for held in state.occurrences.values() if _claimable(held, now)),
                key=lambda held: _due_order(held.occurrence),
            )
            due = [held for held in due if held.occurrence.job_id in state.jobs][: max(limit, 0)]
            for held in due:
                state.occurrences[held.occurrence.key] = _Held(held.occurrence, "running", lease)
            tx.restart_busy(
                (
                    held.occurrence.job_id
                    for held in due
                    if held.status == "running" and held.occurrence.kind is OccurrenceKind.SCHEDULED
                ),
                now,
            )
            claimed = [(held.occurrence, state.jobs[held.occurrence.job_id]) for held in due]
            tx.apply(await plan(claimed))
        return claimed

    async def record(
        self,
        node: str,
        keys: Sequence[OccurrenceKey],
        plan: Callable[[set[OccurrenceKey], dict[int, StoredJob]], Awaitable[EngineWrites]],
    ) -> None:
        async with self.transaction() as tx:
            state = tx._state
            held = {key for key in keys if _holds(state.occurrences.get(key), node)}
            jobs = {key.job_id: state.jobs[key.job_id] for key in keys if key.job_id in state.jobs}
            tx.apply(await plan(held, jobs))

    async def claim_notices(self, now: datetime, limit: int, lease: Lease) -> list[Notice]:
        async with self.transaction() as tx:
            state = tx._state
            due = sorted(
                (
                    held
                    for held in state.notices.values()
                    if held.notice.status is NoticeStatus.PENDING
                    and held.notice.due_at <= now
                    and (held.lease is None or held.lease.until < now)
                ),
                key=lambda held: (held.notice.due_at, held.notice.id or 0),
            )[:limit]
            for held in due:
                assert held.notice.id is not None  # noqa: S101 - stored notices have one
                state.notices[held.notice.id] = _HeldNotice(held.notice, lease)
            return [held.notice for held in due]

    async def settle_notices(self, node: str, outcomes: Sequence[NoticeOutcome]) -> None:
        async with self.transaction() as tx:
            state = tx._state
            for outcome in outcomes:
                held = state.notices.get(outcome.id)
                if held is None or held.lease is None or held.lease.node != node:
                    continue
                notice = dataclasses.replace(
                    held.notice,
                    status=outcome.status,
                    attempts=outcome.attempts,
                    message=outcome.message,
                    updated_at=outcome.at,
                    due_at=outcome.due_at or held.notice.due_at,
                )
                state.notices[outcome.id] = _HeldNotice(notice)

    async def overdue(
        self,
        now: datetime,
        limit: int,
        plan: Callable[[list[StoredJob]], Awaitable[EngineWrites]],
    ) -> EngineWrites:
        async with self.transaction() as tx:
            state = tx._state
            found = sorted(
                (
                    state.jobs[job_id]
                    for job_id, expect_by in state.expect_by.items()
                    if expect_by <= now and job_id in state.jobs and tx._enabled(state.jobs[job_id])
                ),
                key=lambda job: (state.expect_by[job.id], job.id),
            )[:limit]
            if not found:
                return EngineWrites()
            writes = await plan(found)
            tx.apply(writes)
        return writes

    async def acquire_host(
        self,
        host: str,
        token: str,
        node: str,
        now: datetime,
        until: datetime,
        decide: Callable[[int, datetime | None], Admission],
    ) -> Admission:
        async with self.transaction() as tx:
            state = tx._state
            for held, (owner, expiry) in list(state.host_permits.items()):
                if owner == host and expiry <= now:
                    del state.host_permits[held]
            in_flight = sum(1 for owner, _ in state.host_permits.values() if owner == host)
            admission = decide(in_flight, state.host_tat.get(host))
            if admission.admitted:
                state.host_permits[token] = (host, until)
                if admission.tat is not None:
                    state.host_tat[host] = admission.tat
            return admission

    async def capped_collections(self) -> dict[int, tuple[HostLimit, ...]]:
        async with self.reading() as reads:
            found = reads._state.collections.values()
            return {c.id: c.collection.host_limits for c in found if c.collection.host_limits}

    async def release_host(self, token: str) -> None:
        async with self.transaction() as tx:
            tx._state.host_permits.pop(token, None)

    async def endpoints(self) -> list[StoredEndpoint]:
        async with self.reading() as reads:
            state = reads._state
            found = [
                dataclasses.replace(e, place=state.collections[e.collection_id].place)
                for e in state.endpoints.values()
                if e.collection_id in state.collections
            ]
            return sorted(found, key=lambda e: (e.collection_id, e.name.lower()))

    async def drop_waiting(
        self,
        waiting: dict[OccurrenceKey, int],
        drop: Callable[[list[OccurrenceKey]], list[OccurrenceKey]],
    ) -> list[OccurrenceKey]:
        async with self.transaction() as tx:
            state = tx._state
            stale = [
                key
                for key, job_id in waiting.items()
                if job_id not in state.jobs or not tx._enabled(state.jobs[job_id])
            ]
            if not stale:
                return []
            dropped = drop(stale)
            for key in dropped:
                state.occurrences.pop(key, None)
            freed = {key.job_id for key in dropped if key.kind is OccurrenceKind.SCHEDULED}
            for job_id in sorted(freed):
                tx._change_job(job_id, busy=False, busy_since=None)
        return dropped

    async def next_wakeup(self, after: datetime, share: Share | None = None) -> datetime | None:
        async with self.reading() as reads:
            state = reads._state
            times = [
                job.next_time + delay_for(share, job.id)
                for job in state.jobs.values()
                if job.next_time is not None
                and reads._enabled(job)
                and (not job.busy or job.next_time > after)
            ]
            times += [
                held.occurrence.due_at
                for held in state.occurrences.values()
                if held.status == "pending"
            ]
        return min(times, default=None)

    async def purge(
        self, history_before: datetime, keep_per_job: int, finished_before: datetime
    ) -> tuple[int, int]:
        async with self.transaction() as tx:
            state = tx._state
            entries = 0
            for job_id, written in list(state.history.items()):
                recent = [w for w in _newest_first(written) if w.entry.start_time >= history_before]
                kept = recent[: max(keep_per_job, 0)]
                entries += len(written) - len(kept)
                state.history[job_id] = tuple(sorted(kept, key=lambda w: w.seq))
            finished = sorted(
                job.id
                for job in state.jobs.values()
                if job.state.terminal
                and job.finished_at is not None
                and job.finished_at < finished_before
            )
            for job_id in finished:
                await tx.delete_job(job_id)
            for notice_id, held in list(state.notices.items()):
                notice = held.notice
                settled = notice.status is not NoticeStatus.PENDING
                if settled and (notice.updated_at or notice.created_at) < history_before:
                    del state.notices[notice_id]
        return entries, len(finished)


def _due_order(occurrence: Occurrence) -> tuple[datetime, int, datetime, str]:
    return (occurrence.due_at, occurrence.job_id, occurrence.slot, occurrence.kind.value)


def _claimable(held: _Held, now: datetime) -> bool:
    """Pending and due by ``now``, or running on a lease that expired before ``now``."""
    if held.status == "pending":
        return held.occurrence.due_at <= now
    return held.lease is not None and held.lease.until < now


def _holds(held: _Held | None, node: str) -> bool:
    return held is not None and held.lease is not None and held.lease.node == node


if TYPE_CHECKING:

    def _conforms(store: MemoryJobStore) -> JobStore:
        """mypy checks here that the memory store keeps the port's signatures."""
        return store
