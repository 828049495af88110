"""Use cases shared by api/, web/ and cli/: the only door to the store.

Every method takes Azure-shaped JSON already decoded (``object``), reads it with
:mod:`jobclock.codec`, checks it with :mod:`jobclock.domain.limits`, and raises leaves of
the error tree; the edges map those to HTTP statuses or exit codes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from jobclock.calendars import CalendarService, check_runs_on_calendar, with_holidays
from jobclock.codec.collection import collection_from_json, collection_properties_to_json
from jobclock.codec.fields import Fields, check_text
from jobclock.codec.job import definition_to_json, job_definition_from_json
from jobclock.codec.stored import StoredDefinitions
from jobclock.domain.collection import (
    CollectionState,
    JobCollection,
    Sku,
    check_job_name,
)
from jobclock.domain.errors import (
    CollectionNotFound,
    Conflict,
    InvalidDefinition,
    NotFound,
    SchedulerError,
    UnreadableJob,
)
from jobclock.domain.explain import Explanation, JobFacts, explain
from jobclock.domain.history import HistoryEntry, HistoryStatus
from jobclock.domain.instants import format_instant
from jobclock.domain.job import Job, JobDefinition, JobState
from jobclock.domain.limits import (
    check_collection_capacity,
    check_job,
    check_job_capacity,
    check_plan_change,
)
from jobclock.domain.occurrences import preview
from jobclock.domain.outbound import OutboundPolicy
from jobclock.domain.outbound import check_definition as check_outbound
from jobclock.domain.planning import (
    DEFAULT_BACKFILL_PACE,
    Cursor,
    backfill_slots,
    first_time,
    resumed_time,
    run_now_refused,
)
from jobclock.domain.records import (
    CollectionPlace,
    HistoryKey,
    Occurrence,
    OccurrenceKind,
    Schedule,
    StoredCollection,
    StoredEntry,
    StoredJob,
)
from jobclock.domain.revision import (
    Scheduled,
    keeps_schedule,
    timing_of,
    upcoming,
    upcoming_from,
)
from jobclock.notifications import NotificationService
from jobclock.ports import Clock, JobReads, JobStore, SecretBox
from jobclock.refs import (
    AttemptBucket,
    CollectionRef,
    CollectionSummary,
    CollectionView,
    HistoryFilter,
    HistoryView,
    JobFilter,
    JobRef,
    JobView,
    NodeView,
    Page,
    UnreadableJobView,
)
from jobclock.tags import new_execution_tag

# History entries an explanation reads at most (newest first).
EXPLAIN_HISTORY = 5000

__all__ = [
    "AttemptBucket",
    "CollectionRef",
    "CollectionSummary",
    "CollectionView",
    "HistoryFilter",
    "HistoryView",
    "JobFilter",
    "JobRef",
    "JobView",
    "NodeView",
    "Page",
    "SchedulerService",
    "UnreadableJobView",
    "deep_merge",
]

NODE_TIMEOUT = timedelta(seconds=30)
# How long GET /readyz waits for the database to answer a read.
READY_TIMEOUT = 5.0

_log = logging.getLogger(__name__)


class SchedulerService:
    """The use cases. Build with :func:`jobclock.bootstrap.build`; all methods are async.

    Errors: ``CollectionNotFound`` (404 ``ResourceNotFound``) for a missing collection,
    ``NotFound`` (404) for a missing job, ``InvalidDefinition``/``MalformedJob`` (400) for bad
    bodies, ``QuotaExceeded`` (409) for plan and quota limits, ``UnreadableJob`` (409) for a
    stored job that cannot be read back.

    Every write checks everything, the stored form included, before it writes, and reads
    its answer back in the same transaction: a write that raises has stored nothing.
    """

    def __init__(
        self,
        store: JobStore,
        box: SecretBox,
        clock: Clock,
        *,
        wake: Callable[[], None] = lambda: None,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self._store = store
        # Refuses, at PUT, an HTTP action whose URI names a forbidden address (issue 11).
        self._outbound = outbound or OutboundPolicy()
        self._box = box
        self._clock = clock
        self._wake = wake
        self.codec = StoredDefinitions(box)
        # A collection's holiday calendars (issue 14, item 4).
        self.calendars = CalendarService(store, self.codec, clock, self._collection, wake)
        # A collection's notification endpoints (issue 15, item 5).
        self.notifications = NotificationService(store, self.codec, self._collection, wake)

    # -- collections ---------------------------------------------------------------------
    async def put_collection(
        self, ref: CollectionRef, body: object, *, azure_client: bool = False
    ) -> tuple[CollectionView, bool]:
        """Create or replace (PUT); returns the view and True when it was created.
        ``azure_client``: from Microsoft's SDK, whose model cannot carry ``hostLimits``: a
        body without them keeps the stored ones."""
        check_text(body)
        collection = collection_from_json(ref.name, body)
        async with self._store.transaction() as tx:
            existing = await tx.find_collection(_place(ref))
            if azure_client and existing is not None and not _sends_host_limits(body):
                collection = replace(collection, host_limits=existing.collection.host_limits)
            if existing is None:
                same, total = await tx.count_collections(ref.subscription, collection.sku)
                check_collection_capacity(collection.sku, same, total)
                await tx.insert_collection(_place(ref), collection, self._clock.now())
                created = True
            else:
                await self._check_plan(tx, ref, existing, collection)
                await tx.update_collection(existing.id, collection)
                created = False
            view = _collection_view(await self._collection(tx, ref))
            await tx.notify()
        self._wake()
        return view, created

    async def _check_plan(
        self, tx: JobReads, ref: CollectionRef, old: StoredCollection, new: JobCollection
    ) -> None:
        # A job that cannot be read cannot run either: it does not hold the plan back.
        definitions = [
            definition
            for record in await tx.list_jobs(old.id)
            if (definition := self._readable_definition(record)) is not None
        ]
        other_free = 0
        if new.sku is Sku.FREE:
            same, _ = await tx.count_collections(ref.subscription, Sku.FREE)
            other_free = same - (1 if old.collection.sku is Sku.FREE else 0)
        check_plan_change(new, definitions, other_free)

    async def patch_collection(self, ref: CollectionRef, body: object) -> CollectionView:
        """Deep-merge ``body`` into the stored collection (PATCH)."""
        current = await self.get_collection(ref)
        stored = {
            "location": current.collection.location,
            "tags": dict(current.collection.tags),
            "properties": collection_properties_to_json(current.collection),
        }
        view, _ = await self.put_collection(ref, deep_merge(stored, body))
        return view

    async def get_collection(self, ref: CollectionRef) -> CollectionView:
        async with self._store.reading() as tx:
            record = await self._collection(tx, ref)
        return _collection_view(record)

    async def list_collections(
        self, subscription: str, resource_group: str | None
    ) -> list[CollectionView]:
        """All collections of a subscription (or of one resource group), by name."""
        async with self._store.reading() as tx:
            records = await tx.list_collections(subscription, resource_group)
        return [_collection_view(record) for record in records]

    async def delete_collection(self, ref: CollectionRef) -> None:
        """Delete the collection, its jobs and their history."""
        async with self._store.transaction() as tx:
            record = await self._collection(tx, ref)
            await tx.delete_collection(record.id)

    async def enable_collection(self, ref: CollectionRef) -> None:
        await self._set_collection_state(ref, CollectionState.ENABLED)

    async def disable_collection(self, ref: CollectionRef) -> None:
        await self._set_collection_state(ref, CollectionState.DISABLED)

    async def _set_collection_state(self, ref: CollectionRef, state: CollectionState) -> None:
        """Enable or disable the collection and flip its Disabled/Enabled jobs (§1.2)."""
        now = self._clock.now()
        async with self._store.transaction() as tx:
            record = await self._collection(tx, ref)
            await tx.set_collection_state(record.id, state)
            if state is CollectionState.ENABLED:
                await tx.flip_job_states(
                    record.id,
                    JobState.DISABLED,
                    JobState.ENABLED,
                    lambda job: self._resume(job, now),
                )
            else:
                await tx.flip_job_states(
                    record.id, JobState.ENABLED, JobState.DISABLED, lambda _job: None
                )
            await tx.notify()
        self._wake()

    def _resume(self, record: StoredJob, now: datetime) -> datetime | None:
        """A re-enabled job's next time, from now: missed slots are not caught up (§5.9).
        None for a job that cannot be read: it stays off the schedule."""
        definition = self._readable_definition(record)
        if definition is None:
            return None
        return resumed_time(definition.recurrence, record.cursor, now, definition.catch_up)

    async def _collection(self, tx: JobReads, ref: CollectionRef) -> StoredCollection:
        record = await tx.find_collection(_place(ref))
        if record is None:
            raise CollectionNotFound(
                f"The Resource 'Microsoft.Scheduler/jobcollections/{ref.name}' under resource "
                f"group '{ref.resource_group}' was not found."
            )
        return record

    # -- jobs ----------------------------------------------------------------------------
    async def put_job(
        self, ref: JobRef, body: object, *, azure_client: bool = False
    ) -> tuple[JobView, bool]:
        """Create or fully replace a job (PUT); returns the view and True when created.

        ``azure_client``: the PUT comes from one of Microsoft's Scheduler SDKs, whose
        models cannot carry jobclock's extensions, so a GET-modify-PUT would drop them: the
        stored job's are kept where the body leaves them out (:func:`_keep_extensions`)."""
        check_job_name(ref.name)
        if isinstance(body, dict):
            body = await self._keeping(ref, body, _keep_for_azure_clients)
            if azure_client:
                body = await self._keeping(ref, body, _keep_extensions)
        definition = job_definition_from_json(body)
        return await self._save_job(ref, definition)

    async def _keeping(
        self, ref: JobRef, body: dict[str, Any], keep: Callable[..., dict[str, Any]]
    ) -> dict[str, Any]:
        """``body`` with the stored job's secrets that ``keep`` restores, if there is one."""
        async with self._store.reading() as tx:
            collection = await self._collection(tx, ref.collection)
            existing = await tx.find_job(collection.id, ref.name)
        definition = None if existing is None else self._readable_definition(existing)
        if definition is None:
            return body
        plain = {"properties": self.codec.plain_json(definition)}
        hidden = {"properties": definition_to_json(definition)}
        return keep(body, plain, hidden)

    async def _save_job(
        self, ref: JobRef, definition: JobDefinition, *, keep_schedule: bool = False
    ) -> tuple[JobView, bool]:
        """Check and write ``definition``, rescheduling the job from now; with
        ``keep_schedule`` (the portal's editor), a job whose timing is unchanged keeps its
        anchor, cursor and next execution time (:mod:`jobclock.domain.revision`)."""
        now = self._clock.now()
        definition = definition.of_job(ref.collection.name, ref.name)
        async with self._store.transaction() as tx:
            record = await self._collection(tx, ref.collection)
            collection = record.collection
            definition = await with_holidays(tx, record, definition)
            check_job(definition, collection, now)
            check_runs_on_calendar(definition, definition.start_time or now, now)
            check_outbound(definition, self._outbound)
            stored = self._storable(definition)
            existing = await tx.find_job(record.id, ref.name)
            if existing is None:
                check_job_capacity(collection, await tx.count_jobs(record.id))
                await tx.insert_job(record.id, ref.name, _schedule(stored, definition, now), now)
            elif keep_schedule and self._keeps_schedule(existing, definition):
                await tx.replace_definition(existing.id, stored)
            else:
                await tx.reschedule_job(existing.id, _schedule(stored, definition, now))
            # The answer is what was written, read back before the commit.
            written = await tx.find_job(record.id, ref.name)
            assert written is not None  # noqa: S101 - written just above, same transaction
            view = self._view(record, written)
            await tx.notify()
        self._wake()
        return view, existing is None

    def _keeps_schedule(self, existing: StoredJob, definition: JobDefinition) -> bool:
        stored = self._readable_definition(existing)
        return (
            stored is not None
            and keeps_schedule(timing_of(stored), timing_of(definition))
            # A changed expectRunWithin starts its window again from now.
            and stored.expect_run_within == definition.expect_run_within
        )

    def _storable(self, definition: JobDefinition) -> str:
        """The definition as stored, once it reads back as an equal definition: what runs
        and what GET shows is then what was sent."""
        stored = self.codec.dump(definition)
        try:
            back = self.codec.load(stored)
        except SchedulerError as exc:
            raise InvalidDefinition(
                f"The job cannot be stored as given: read back, {exc.message}",
                field=getattr(exc, "field", None),
            ) from exc
        if back != definition:
            _log.error("job.round_trip_mismatch", extra={"event": "job.round_trip_mismatch"})
            raise InvalidDefinition(
                "The job cannot be stored as given: read back, it would differ from the "
                "definition sent."
            )
        return stored

    async def patch_job(self, ref: JobRef, body: object) -> JobView:
        """Deep-merge ``body`` into the stored job (PATCH); ``null`` deletes a key."""
        patch = Fields(body, "")
        properties = patch.obj("properties")
        if properties is not None and properties.has("status"):
            raise InvalidDefinition(
                "'properties.status' is read-only and cannot be patched.",
                field="properties.status",
            )
        async with self._store.reading() as tx:
            record = await self._job(tx, ref)
        # The definition as the user last set it: a Completed or Faulted job's runtime state
        # is not part of it, so a PATCH revives the job like a PUT does (§1.3).
        definition = self._definition_of(record)
        stored = {"properties": self.codec.plain_json(definition)}
        merged = deep_merge(recurrence_kind_replaced(stored, body), body)
        if isinstance(merged, dict):
            merged = keep_masked(merged, stored, {"properties": definition_to_json(definition)})
        return (await self._save_job(ref, job_definition_from_json(merged)))[0]

    async def get_job(self, ref: JobRef) -> JobView:
        async with self._store.reading() as tx:
            collection = await self._collection(tx, ref.collection)
            record = await self._job(tx, ref)
        return self._view(collection, record)

    async def stored_job_ref(self, ref: JobRef) -> JobRef:
        """Where the job lives, spelled as stored; reads nothing of its definition, so it
        answers for a job that cannot be read too (to delete it)."""
        async with self._store.reading() as tx:
            collection = await self._collection(tx, ref.collection)
            record = await self._job(tx, ref)
        return _job_ref(collection, record)

    async def list_jobs(
        self,
        ref: CollectionRef,
        state: JobFilter,
        top: int | None,
        skip: int,
        *,
        name_contains: str | None = None,
        after: str | None = None,
    ) -> Page[JobView, str]:
        """Jobs of a collection by name, filtered by state (and by a part of the name,
        case-insensitively), after the name ``after`` when given (keyset paging: the
        ``last`` of the page before), ``skip`` then at most ``top``.

        A job that cannot be read is left out of ``items`` and named in ``unreadable``, so
        one bad row does not hide the others; ``skip`` and ``last`` count both."""
        async with self._store.reading() as tx:
            record = await self._collection(tx, ref)
            limit = None if top is None else top + 1
            found = await tx.list_jobs(record.id, state, limit, skip, name_contains, after=after)
        more = top is not None and len(found) > top
        items = found[:top] if top is not None else found
        views: list[JobView] = []
        unreadable: list[UnreadableJobView] = []
        for job in items:
            try:
                views.append(self._view(record, job))
            except UnreadableJob as exc:
                unreadable.append(UnreadableJobView(_job_ref(record, job), exc.message))
        return Page(views, more, unreadable, items[-1].name if items else None)

    async def delete_job(self, ref: JobRef) -> None:
        async with self._store.transaction() as tx:
            record = await self._job(tx, ref)
            await tx.delete_job(record.id)

    async def run_job(self, ref: JobRef) -> None:
        """Run the job's action now, outside its schedule (§5.9); returns before it runs.

        The run is recorded like any occurrence but does not move the schedule or count
        towards ``count``."""
        now = self._clock.now()
        async with self._store.transaction() as tx:
            record = await self._job(tx, ref)
            # The engine could not run a job it cannot read.
            definition = self._definition_of(record)
            if run_now_refused(definition.overlap, record.busy):
                raise Conflict(
                    f"The job '{ref.name}' is running an occurrence (since "
                    f"{format_instant(record.busy_since or now)}) and its overlapPolicy is "
                    "'Skip': it does not start another until that one ends."
                )
            run = Occurrence.first(
                record.id, now, OccurrenceKind.RUN, record.cursor.done + 1, False,
                new_execution_tag(),
            )  # fmt: skip
            await tx.add_occurrence(run)
            await tx.notify()
        self._wake()

    async def explain_job(self, ref: JobRef, at: datetime) -> Explanation:
        """Whether the job's schedule had an occurrence at (or near) ``at``, what happened to
        it, or why there was none (:func:`jobclock.domain.explain.explain`); reads the most
        recent ``EXPLAIN_HISTORY`` history entries."""
        async with self._store.reading() as tx:
            collection = await self._collection(tx, ref.collection)
            record = await self._job(tx, ref)
            rows = await tx.list_history(record.id, None, EXPLAIN_HISTORY + 1, 0)
        definition = self._definition_of(record)
        stored = _job_ref(collection, record)
        entries = [_entry(stored, row) for row in rows[:EXPLAIN_HISTORY]]
        facts = JobFacts(
            recurrence=definition.recurrence,
            anchor=record.cursor.anchor,
            cursor=record.cursor,
            next_time=record.next_time,
            state=record.state,
            collection_enabled=collection.collection.state is CollectionState.ENABLED,
            history=entries,
            history_complete=len(rows) <= EXPLAIN_HISTORY,
            created_at=record.created_at,
        )
        return explain(facts, at, self._clock.now())

    async def backfill_job(self, ref: JobRef, body: object) -> list[datetime]:
        """Run each of the job's slots in a past range once more (``POST .../backfill``
        with ``{"from", "to", "pace"?}``), ``pace`` apart (default 1 s); returns the slots.
        Like a run-now, each is recorded like any occurrence (its message says it is a
        backfill) but does not move the schedule or count towards ``count``. A slot of an
        earlier backfill that has not run yet is a 409, and nothing is stored."""
        if not isinstance(body, dict):
            raise InvalidDefinition(
                'A backfill body is a JSON object: {"from": "...Z", "to": "...Z"}.', field="from"
            )
        fields = Fields(body, "", frozenset({"from", "to", "pace"}))
        since, until = fields.instant("from"), fields.instant("to")
        if since is None or until is None:
            raise InvalidDefinition("A backfill needs 'from' and 'to'.", field="from")
        given = fields.duration("pace")
        pace = DEFAULT_BACKFILL_PACE if given is None else given.value
        now = self._clock.now()
        async with self._store.transaction() as tx:
            record = await self._job(tx, ref)
            definition = self._definition_of(record)
            anchor = record.cursor.anchor
            slots = backfill_slots(definition.recurrence, anchor, since, until, now)
            for index, slot in enumerate(slots):
                occurrence = Occurrence.first(
                    record.id, slot, OccurrenceKind.BACKFILL, record.cursor.done + 1, False,
                    new_execution_tag(), due_at=now + index * pace,
                )  # fmt: skip
                try:
                    await tx.add_occurrence(occurrence)
                except Exception as exc:  # the store's integrity error: one is pending
                    raise Conflict(
                        f"The slot {format_instant(slot)} of job '{ref.name}' is waiting to "
                        "be backfilled already; nothing was stored."
                    ) from exc
            await tx.notify()
        self._wake()
        return slots

    async def list_history(
        self,
        ref: JobRef,
        status: HistoryFilter,
        top: int | None,
        skip: int,
        *,
        after: HistoryKey | None = None,
    ) -> Page[HistoryView, HistoryKey]:
        """The job's history, newest first, filtered by status, older than ``after`` when
        given (keyset paging: the ``last`` of the page before), ``skip`` then at most
        ``top``."""
        async with self._store.reading() as tx:
            collection = await self._collection(tx, ref.collection)
            record = await self._job(tx, ref)
            stored = _job_ref(collection, record)
            limit = None if top is None else top + 1
            found = await tx.list_history(record.id, status, limit, skip, after=after)
        more = top is not None and len(found) > top
        items = found[:top] if top is not None else found
        views = [HistoryView(stored, _entry(stored, row)) for row in items]
        return Page(views, more, last=items[-1].key if items else None)

    async def list_nodes(self) -> list[NodeView]:
        """The nodes sharing this database, by name."""
        now = self._clock.now()
        async with self._store.reading() as tx:
            beats = await tx.list_nodes()
        return [
            NodeView(b.name, b.started_at, b.heartbeat_at, now - b.heartbeat_at < NODE_TIMEOUT)
            for b in beats
        ]

    async def database_problem(self) -> str | None:
        """Why the database is not usable now (``GET /readyz``): it does not answer a read
        within READY_TIMEOUT seconds, or fails; None when it answers."""
        timeout = READY_TIMEOUT
        try:
            async with asyncio.timeout(timeout):
                async with self._store.reading() as tx:
                    await tx.list_nodes()
        except TimeoutError:
            return f"the database did not answer within {timeout:g} seconds"
        except Exception as error:  # any failure of the database is the answer
            return f"the database failed: {type(error).__name__}"
        return None

    # -- the portal's reads ---------------------------------------------------------------
    async def list_all_collections(self, since: datetime) -> list[CollectionSummary]:
        """Every collection, with its job count and its attempts from ``since`` on."""
        async with self._store.reading() as tx:
            records = await tx.all_collections()
            counts = await tx.job_counts()
            statuses = await tx.status_counts(since)
        summaries = []
        for record in records:
            status = statuses.get(record.id, {})
            summaries.append(
                CollectionSummary(
                    _collection_view(record),
                    counts.get(record.id, 0),
                    status.get(HistoryStatus.COMPLETED, 0),
                    status.get(HistoryStatus.FAILED, 0),
                )
            )
        return summaries

    async def attempts_over_time(
        self,
        since: datetime,
        width: timedelta,
        buckets: int,
        *,
        collection: CollectionRef | None = None,
        job: JobRef | None = None,
    ) -> list[AttemptBucket]:
        """``buckets`` consecutive windows of ``width`` from ``since``: the attempts of one
        job, one collection, or all, that started in each, by outcome."""
        async with self._store.reading() as tx:
            job_id = collection_id = None
            if job is not None:
                job_id = (await self._job(tx, job)).id
            elif collection is not None:
                collection_id = (await self._collection(tx, collection)).id
            rows = await tx.attempt_counts(since, width, collection_id=collection_id, job_id=job_id)
        table = [[0, 0, 0] for _ in range(buckets)]
        column = {HistoryStatus.COMPLETED: 0, HistoryStatus.FAILED: 1, HistoryStatus.POSTPONED: 2}
        for index, status, count in rows:
            if 0 <= index < buckets and status in column:
                table[index][column[status]] += count
        return [AttemptBucket(since + index * width, *counts) for index, counts in enumerate(table)]

    async def get_history_entry(self, ref: JobRef, history_id: str) -> HistoryView:
        async with self._store.reading() as tx:
            collection = await self._collection(tx, ref.collection)
            record = await self._job(tx, ref)
            row = await tx.history_entry(record.id, history_id)
        if row is None:
            raise NotFound(f"The history entry '{history_id}' of job '{ref.name}' was not found.")
        stored = _job_ref(collection, record)
        return HistoryView(stored, _entry(stored, row))

    async def put_job_keeping_secrets(self, ref: JobRef, body: object) -> tuple[JobView, bool]:
        """The portal's save: PUT, except that a secret the body leaves out or empty keeps
        its stored value when the object holding it keeps its type (write-only fields), and
        a job whose timing (startTime, recurrence, state) is unchanged keeps its schedule:
        saving an unchanged form changes nothing (issue 11)."""
        check_job_name(ref.name)
        if isinstance(body, dict):
            body = await self._keeping(ref, body, keep_secrets)
        definition = job_definition_from_json(body)
        return await self._save_job(ref, definition, keep_schedule=True)

    async def job_schedule(self, ref: JobRef) -> Scheduled:
        """Where the stored job stands: its timing as the user set it (its state before the
        engine completed it or its collection disabled it), its cursor and next time."""
        async with self._store.reading() as tx:
            record = await self._job(tx, ref)
        return Scheduled(timing_of(self._definition_of(record)), record.cursor, record.next_time)

    async def upcoming_runs(
        self, ref: JobRef, count: int, after: datetime | None = None
    ) -> list[datetime]:
        """The stored job's next ``count`` runs (at or after ``after``), as the engine
        claims them when on time."""
        schedule = await self.job_schedule(ref)
        if after is None:
            return upcoming(schedule, count)
        return upcoming_from(schedule, after, count)

    async def preview_new_job(
        self,
        ref: CollectionRef,
        body: object,
        count: int,
        after: datetime | None = None,
        name: str | None = None,
    ) -> list[datetime]:
        """The first ``count`` runs (at or after ``after``) of a job with the PUT body
        ``body`` if it were created in collection ``ref`` now (as job ``name``, whose
        jitter it shows; without one, as a job without a name); nothing is stored. The body
        is checked as a PUT checks it, against the collection's plan and quota."""
        if name is not None:
            check_job_name(name)
        definition = job_definition_from_json(body).of_job(ref.name, name or "")
        now = self._clock.now()
        view = await self.get_collection(ref)
        if definition.recurrence is not None:
            recurrence = await self.calendars.attach(ref, definition.recurrence)
            definition = replace(definition, recurrence=recurrence)
        check_job(definition, view.collection, now)
        if definition.state is JobState.DISABLED:
            return []
        lower = now if after is None else max(now, after)
        return preview(definition.recurrence, definition.start_time or now, lower, count)

    async def _job(self, tx: JobReads, ref: JobRef) -> StoredJob:
        collection = await self._collection(tx, ref.collection)
        record = await tx.find_job(collection.id, ref.name)
        if record is None:
            raise NotFound(
                f"The Resource 'Microsoft.Scheduler/jobcollections/{ref.collection.name}/jobs/"
                f"{ref.name}' under resource group '{ref.collection.resource_group}' was not "
                "found."
            )
        return record

    def job_of(self, record: StoredJob) -> Job:
        """The domain job of a stored record; ``UnreadableJob`` when it cannot be read."""
        definition = self._definition_of(record)
        return Job(
            record.collection_name,
            record.name,
            replace(definition, state=record.state),
            record.status,
            record.cursor.anchor,
        )

    def _view(self, collection: StoredCollection, record: StoredJob) -> JobView:
        return JobView(_job_ref(collection, record), self.job_of(record))

    def _definition_of(self, record: StoredJob) -> JobDefinition:
        """The stored definition; ``UnreadableJob`` (logged) when it cannot be decoded."""
        try:
            return self.codec.load(record.definition).of_job(record.collection_name, record.name)
        except Exception as exc:  # a row is data: whatever fails to read it, it is its fault
            reason = exc.message if isinstance(exc, SchedulerError) else _reason(exc)
            raise _unreadable(record, reason) from exc

    def _readable_definition(self, record: StoredJob) -> JobDefinition | None:
        try:
            return self._definition_of(record)
        except UnreadableJob:
            return None


def _unreadable(record: StoredJob, reason: str) -> UnreadableJob:
    _log.warning(
        "job.unreadable",
        extra={
            "event": "job.unreadable",
            "job_id": record.id,
            "collection": record.collection_name,
            "job": record.name,
            "reason": reason,
        },
    )
    return UnreadableJob(
        f"The stored definition of job '{record.collection_name}/{record.name}' cannot be "
        f"read: {reason} PUT the job to replace it, or DELETE it."
    )


def _reason(exc: Exception) -> str:
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail}." if detail else f"{type(exc).__name__}."


def keep_secrets(
    body: dict[str, Any], plain: Any, hidden: Any, *, omitted: bool = True
) -> dict[str, Any]:
    """``body`` with the secrets of ``plain`` (stored, in clear) that ``hidden`` (the same
    without secrets) lacks, wherever ``body`` leaves them out or empty and the object
    holding them has the same ``type`` in both (keys compared case-insensitively).

    A secret ``hidden`` shows masked (a URI without its password) is kept where ``body``
    has exactly the masked text; ``omitted=False`` keeps only those."""

    def fill(target: Any, stored: Any, shown: Any) -> Any:
        if not isinstance(target, dict) or not isinstance(stored, dict):
            return target
        shown = shown if isinstance(shown, dict) else {}
        if _lower_get(target, "type") != _lower_get(stored, "type"):
            return target
        result = dict(target)
        for key, value in stored.items():
            existing = next((k for k in result if k.lower() == key.lower()), None)
            current = None if existing is None else result[existing]
            if _is_secret(value, shown.get(key)):
                if omitted and current in (None, ""):
                    result[existing or key] = value
            elif _is_masked(value, shown.get(key)):
                if existing is not None and current == shown.get(key):
                    result[existing] = value
            elif isinstance(value, dict) and existing is not None:
                result[existing] = fill(current, value, shown.get(key))
        return result

    filled = fill(body, plain, hidden)
    return filled if isinstance(filled, dict) else body


def secret_paths(plain: Any, hidden: Any, path: str = "") -> set[str]:
    """Dotted paths (``action.request.authentication.password``) of the secrets set in
    ``plain``, a definition's JSON in clear, found as :func:`keep_secrets` finds them: the
    strings that ``hidden``, the same JSON without secrets, leaves out or null."""
    found: set[str] = set()
    if isinstance(plain, dict):
        shown = hidden if isinstance(hidden, dict) else {}
        for key, value in plain.items():
            inner = f"{path}.{key}" if path else key
            if _is_secret(value, shown.get(key)):
                if value:
                    found.add(inner)
            else:
                found |= secret_paths(value, shown.get(key), inner)
    return found


def keep_masked(body: dict[str, Any], plain: Any, hidden: Any) -> dict[str, Any]:
    """``body`` with the masked secrets of ``plain`` it echoes back masked (a PUT after a
    GET keeps the password of a URI it did not change)."""
    return keep_secrets(body, plain, hidden, omitted=False)


def _is_secret(stored: Any, shown: Any) -> bool:
    return isinstance(stored, str) and shown is None


def _is_masked(stored: Any, shown: Any) -> bool:
    return isinstance(stored, str) and isinstance(shown, str) and stored != shown


def _lower_get(mapping: dict[str, Any], wanted: str) -> Any:
    value = _lower_get_raw(mapping, wanted)
    return value.lower() if isinstance(value, str) else value


def _keep_for_azure_clients(
    body: dict[str, Any], plain: dict[str, Any], hidden: dict[str, Any]
) -> dict[str, Any]:
    """A PUT's ``body`` with the stored secrets it masks (``keep_masked``) and, when its
    recurrence has no kind (``frequency``, ``cron``, ``rrule``) while the stored job's is a
    cron expression or a rule, that with its ``exdates``, ``timeZone``, ``dstPolicy`` and
    ``jitter``:
    Microsoft's client cannot see them, so its GET-modify-PUT of such a job sends a
    recurrence without a kind (which would be a 400) and would otherwise lose them."""
    kept = keep_masked(body, plain, hidden)
    sent = _lower_get_raw(_lower_get_raw(kept, "properties"), "recurrence")
    stored = _lower_get_raw(plain["properties"], "recurrence")
    if not isinstance(sent, dict) or not isinstance(stored, dict):
        return kept
    if not {"cron", "rrule"} & set(stored):
        return kept
    if {str(key).lower() for key in sent} & {"frequency", "cron", "rrule"}:
        return kept
    given = {str(key).lower() for key in sent}
    restored = dict(sent)
    for key in ("cron", "rrule", "exdates", "timeZone", "dstPolicy", "jitter"):
        if key.lower() not in given and key in stored:
            restored[key] = stored[key]
    properties = next(key for key in kept if str(key).lower() == "properties")
    inner = kept[properties]
    recurrence = next(key for key in inner if str(key).lower() == "recurrence")
    return {**kept, properties: {**inner, recurrence: restored}}


# jobclock's extensions that Microsoft's client models cannot carry, by where they sit in
# ``properties``.
_RETRY_EXTENSIONS = ("maxInterval", "maxAge")
_MESSAGE_EXTENSIONS = ("template",)
_EXTENSIONS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    ((), ("overlapPolicy", "catchUp", "attemptTimeout", "expectRunWithin")),
    (("recurrence",), ("timeZone", "dstPolicy", "exdates", "jitter", "calendar")),
    *(
        (place, keys)
        for action in (("action",), ("action", "errorAction"))
        for place, keys in (
            ((*action, "retryPolicy"), _RETRY_EXTENSIONS),
            ((*action, "request"), ("signing", "template")),
            ((*action, "queueMessage"), _MESSAGE_EXTENSIONS),
            ((*action, "serviceBusQueueMessage"), _MESSAGE_EXTENSIONS),
            ((*action, "serviceBusTopicMessage"), _MESSAGE_EXTENSIONS),
        )
    ),
)


def _keep_extensions(
    body: dict[str, Any], plain: dict[str, Any], hidden: dict[str, Any]
) -> dict[str, Any]:
    """A PUT from Microsoft's client with the stored job's extensions where it leaves them
    out (it cannot send them): ``overlapPolicy``, ``catchUp`` and ``attemptTimeout``; and
    where it sends the object that holds them, a recurrence's ``timeZone``, ``dstPolicy``,
    ``exdates``, ``jitter`` and ``calendar``, a retry policy's ``maxInterval`` and
    ``maxAge``, a request's ``signing`` and ``template``, a queue message's ``template``.
    An object it removes (a recurrence, an error action) stays removed."""
    del hidden  # the secrets were kept by _keep_for_azure_clients
    properties_key = next((key for key in body if str(key).lower() == "properties"), None)
    inner = None if properties_key is None else body[properties_key]
    if properties_key is None or not isinstance(inner, dict):
        return body
    restored: dict[str, Any] = inner
    for place, keys in _EXTENSIONS:
        restored = _restored_at(restored, plain["properties"], place, keys)
    return {**body, properties_key: restored}


def _restored_at(
    sent: dict[str, Any], stored: dict[str, Any], place: tuple[str, ...], keys: tuple[str, ...]
) -> dict[str, Any]:
    """``sent`` with ``keys`` of the object at ``place`` taken from ``stored`` where the
    sent object lacks them; unchanged where either has no object there."""
    if place:
        sent_key = next((key for key in sent if str(key).lower() == place[0].lower()), None)
        inner, kept = None if sent_key is None else sent[sent_key], stored.get(place[0])
        if sent_key is None or not isinstance(inner, dict) or not isinstance(kept, dict):
            return sent
        return {**sent, sent_key: _restored_at(inner, kept, place[1:], keys)}
    given = {str(key).lower() for key in sent}
    extra = {key: stored[key] for key in keys if key.lower() not in given and key in stored}
    return {**sent, **extra} if extra else sent


# A recurrence is either Azure's (frequency, interval, schedule) or a cron expression.
_RECURRENCE_KINDS = (("cron",), ("rrule",), ("frequency", "interval", "schedule"))


def recurrence_kind_replaced(stored: dict[str, Any], patch: object) -> dict[str, Any]:
    """``stored`` without the recurrence keys of the other kind when ``patch`` sets a
    recurrence of one kind (a PATCH with ``cron`` replaces a stored frequency, and back)."""
    recurrence = _lower_get_raw(_lower_get_raw(patch, "properties"), "recurrence")
    kept = _lower_get_raw(stored["properties"], "recurrence")
    if not isinstance(recurrence, dict) or not isinstance(kept, dict):
        return stored
    given = {str(key).lower() for key, value in recurrence.items() if value is not None}
    for kind in _RECURRENCE_KINDS:
        if given & set(kind):
            gone = {key.lower() for other in _RECURRENCE_KINDS if other != kind for key in other}
            replaced = {k: v for k, v in kept.items() if k.lower() not in gone}
            return {**stored, "properties": {**stored["properties"], "recurrence": replaced}}
    return stored


def _lower_get_raw(mapping: object, wanted: str) -> object:
    if not isinstance(mapping, dict):
        return None
    return next((value for key, value in mapping.items() if str(key).lower() == wanted), None)


def deep_merge(stored: object, patch: object) -> object:
    """PATCH semantics (§2.4): objects merge key by key (case-insensitively), ``null``
    deletes a key, anything else replaces."""
    if not isinstance(stored, dict) or not isinstance(patch, dict):
        return patch
    merged = dict(stored)
    for key, value in patch.items():
        existing = next((k for k in merged if k.lower() == str(key).lower()), None)
        if value is None:
            if existing is not None:
                del merged[existing]
            continue
        if existing is not None:
            merged[existing] = deep_merge(merged[existing], value)
        else:
            merged[key] = value
    return merged


def _sends_host_limits(body: object) -> bool:
    properties = _lower_get_raw(body, "properties")
    return isinstance(properties, dict) and any(
        str(key).lower() == "hostlimits" for key in properties
    )


def _job_ref(collection: StoredCollection, job: StoredJob) -> JobRef:
    """A job's place, spelled as stored (ids echo the stored names, not the request's)."""
    place = collection.place
    return JobRef(CollectionRef(place.subscription, place.resource_group, place.name), job.name)


def _place(ref: CollectionRef) -> CollectionPlace:
    return CollectionPlace(ref.subscription, ref.resource_group, ref.name)


def _schedule(stored: str, definition: JobDefinition, now: datetime) -> Schedule:
    """A new or replaced job's schedule: from its start (or now), none run yet (§5.9)."""
    anchor = definition.start_time or now
    state, next_time, finished = definition.state, None, None
    if state is JobState.ENABLED:
        next_time = first_time(definition.recurrence, anchor, now)
        if next_time is None:
            state, finished = JobState.COMPLETED, now
    window = definition.expect_run_within
    expect_by = None if window is None else now + window.value
    return Schedule(stored, state, Cursor(anchor, None, 0), next_time, finished, expect_by)


def _collection_view(record: StoredCollection) -> CollectionView:
    place = record.place
    ref = CollectionRef(place.subscription, place.resource_group, place.name)
    return CollectionView(ref, record.collection)


def _entry(ref: JobRef, row: StoredEntry) -> HistoryEntry:
    return HistoryEntry(
        history_id=row.history_id,
        collection=ref.collection.name,
        job=ref.name,
        start_time=row.start_time,
        end_time=row.end_time,
        expected_execution_time=row.expected_time,
        action_name=row.action_name,
        status=row.status,
        message=row.message,
        retry_count=row.retry_count,
        repeat_count=row.repeat_count,
    )
