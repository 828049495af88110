"""The calendar use cases (issue 14, item 4), beside :class:`SchedulerService`'s.

A job that follows a calendar keeps a copy of its holidays in its stored definition, so the
engine reads a job from its row alone, on every node, with no second lookup that could see
another version. Saving a job attaches the calendar's current holidays
(:func:`with_holidays`); replacing a calendar rewrites, in the same transaction, every job
that follows it and moves its next execution time to the new calendar's. Deleting a
calendar that jobs follow is a 409 naming them: nothing silently starts running on holidays.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from jobclock.codec.calendar import (
    calendar_from_json,
    calendar_properties_to_json,
    holidays_from_stored,
)
from jobclock.codec.fields import check_text
from jobclock.codec.stored import StoredDefinitions
from jobclock.domain.calendar import MAX_CALENDARS, Calendar
from jobclock.domain.collection import check_calendar_name
from jobclock.domain.errors import Conflict, InvalidDefinition, NotFound, QuotaExceeded
from jobclock.domain.job import JobDefinition, JobState
from jobclock.domain.occurrences import next_occurrence
from jobclock.domain.records import StoredCalendar, StoredCollection, StoredJob
from jobclock.domain.recurrence import Recurrence
from jobclock.ports import Clock, JobReads, JobStore, JobWrites
from jobclock.refs import CalendarView, CollectionRef

# Jobs named in a 409 for a calendar still in use (the rest are counted).
_NAMED = 10


class CalendarService:
    """Put, get, list and delete a collection's calendars; see the module docstring."""

    def __init__(
        self,
        store: JobStore,
        codec: StoredDefinitions,
        clock: Clock,
        collection: Callable[[JobReads, CollectionRef], Awaitable[StoredCollection]],
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._codec = codec
        self._clock = clock
        self._collection = collection  # SchedulerService._collection: 404 when missing
        self._wake = wake

    async def put(self, ref: CollectionRef, name: str, body: object) -> tuple[CalendarView, bool]:
        """Create or replace calendar ``name``; the jobs that follow it are rescheduled on
        it. Raises ``InvalidDefinition`` (400) for a bad body or when a job that follows it
        would never run again, ``QuotaExceeded`` (409) past :data:`MAX_CALENDARS`."""
        check_calendar_name(name)
        check_text(body)
        calendar = calendar_from_json(body)
        text = json.dumps(calendar_properties_to_json(calendar), separators=(",", ":"))
        now = self._clock.now()
        async with self._store.transaction() as tx:
            record = await self._found(tx, ref)
            existing = await tx.find_calendar(record.id, name, lock=True)
            if existing is None and len(await tx.list_calendars(record.id)) >= MAX_CALENDARS:
                raise QuotaExceeded(
                    f"The job collection '{ref.name}' holds at most {MAX_CALENDARS} calendars."
                )
            try:
                created = await tx.put_calendar(record.id, name, text)
            except Exception as exc:  # the store's integrity error: created meanwhile
                raise Conflict(
                    f"The calendar '{name}' was created by another request meanwhile; "
                    "send the PUT again to replace it."
                ) from exc
            followers = await self._followers(tx, record.id, name, locking=tx)
            for job, definition in followers:
                await self._follow(tx, job, definition, calendar, now)
            stored = await tx.find_calendar(record.id, name)
            assert stored is not None  # noqa: S101 - written just above, same transaction
            view = self._view(record, stored, [job.name for job, _ in followers])
            await tx.notify()
        self._wake()
        return view, created

    async def get(self, ref: CollectionRef, name: str) -> CalendarView:
        async with self._store.reading() as tx:
            record = await self._found(tx, ref)
            stored = await self._calendar(tx, record, ref, name)
            followers = await self._followers(tx, record.id, name)
        return self._view(record, stored, [job.name for job, _ in followers])

    async def list_all(self, ref: CollectionRef) -> list[CalendarView]:
        async with self._store.reading() as tx:
            record = await self._found(tx, ref)
            stored = await tx.list_calendars(record.id)
        return [self._view(record, calendar) for calendar in stored]

    async def attach(self, ref: CollectionRef, recurrence: Recurrence) -> Recurrence:
        """``recurrence`` with the holidays of the calendar it names (the portal's preview
        of a schedule not saved yet); ``InvalidDefinition`` when the collection has none."""
        if recurrence.calendar is None:
            return recurrence
        async with self._store.reading() as tx:
            return await _on_its_calendar(tx, await self._found(tx, ref), recurrence)

    async def delete(self, ref: CollectionRef, name: str) -> None:
        """Delete calendar ``name``: ``NotFound`` (404) without one, ``Conflict`` (409)
        while jobs follow it (change or delete those jobs first)."""
        async with self._store.transaction() as tx:
            record = await self._found(tx, ref)
            # Locked first: a job saved meanwhile with this calendar is then seen below.
            stored = await self._calendar(tx, record, ref, name, lock=True)
            followers = [job.name for job, _ in await self._followers(tx, record.id, name)]
            if followers:
                shown = ", ".join(f"'{job}'" for job in followers[:_NAMED])
                more = len(followers) - _NAMED
                raise Conflict(
                    f"The calendar '{stored.name}' is followed by {len(followers)} job(s): "
                    f"{shown}{f' and {more} more' if more > 0 else ''}. Change their "
                    "'recurrence.calendar' or delete them first."
                )
            await tx.delete_calendar(record.id, name)

    async def _found(self, tx: JobReads, ref: CollectionRef) -> StoredCollection:
        return await self._collection(tx, ref)

    async def _calendar(
        self,
        tx: JobReads,
        record: StoredCollection,
        ref: CollectionRef,
        name: str,
        *,
        lock: bool = False,
    ) -> StoredCalendar:
        stored = await tx.find_calendar(record.id, name, lock=lock)
        if stored is None:
            raise NotFound(
                f"The Resource 'Microsoft.Scheduler/jobcollections/{ref.name}/calendars/{name}' "
                f"under resource group '{ref.resource_group}' was not found."
            )
        return stored

    async def _followers(
        self,
        tx: JobReads,
        collection_id: int,
        name: str,
        *,
        locking: JobWrites | None = None,
    ) -> list[tuple[StoredJob, JobDefinition]]:
        """The collection's readable jobs whose recurrence follows calendar ``name``; with
        ``locking`` (the write transaction ``tx`` is), read again with their rows locked
        against the engine, so that a rewrite starts from their current cursor and time."""
        found = []
        listed = await tx.list_jobs(collection_id)
        if locking is not None:
            locked = await locking.lock_jobs([job.id for job in listed])
            listed = [locked[job.id] for job in listed if job.id in locked]
        for job in listed:
            try:
                definition = self._codec.load(job.definition)
            except Exception:  # noqa: S112 - an unreadable job follows nothing
                continue
            ref = None if definition.recurrence is None else definition.recurrence.calendar
            if ref is not None and ref.key == name.lower():
                found.append((job, definition))
        return found

    async def _follow(
        self,
        tx: JobWrites,
        job: StoredJob,
        definition: JobDefinition,
        calendar: Calendar,
        now: datetime,
    ) -> None:
        """Rewrite ``job`` (its row locked) with ``calendar``'s holidays, and move an enabled
        job's next time to the new calendar's. Only the definition and the next time are
        written: the cursor stays the engine's, so nothing it ran runs again."""
        assert definition.recurrence is not None  # noqa: S101 - a follower has one
        recurrence = definition.recurrence.on_calendar(calendar)
        stored = self._codec.dump(replace(definition, recurrence=recurrence))
        if job.state is not JobState.ENABLED or job.next_time is None:
            await tx.replace_definition(job.id, stored)
            return
        cursor = job.cursor
        # A slot already due (not claimed yet) stays due unless it became a holiday.
        lower = min(now, job.next_time)
        following = next_occurrence(recurrence, cursor.anchor, lower, cursor.last, cursor.done)
        if following is None:
            raise InvalidDefinition(
                f"With this calendar the job '{job.name}' would never run again: every one "
                "of its occurrences falls on a holiday.",
                field="properties",
            )
        await tx.retime_job(job.id, stored, following)

    def _view(
        self, record: StoredCollection, stored: StoredCalendar, jobs: list[str] | None = None
    ) -> CalendarView:
        """The view, spelled as stored (ids echo the stored names, not the request's)."""
        place = record.place
        ref = CollectionRef(place.subscription, place.resource_group, place.name)
        calendar = holidays_from_stored(json.loads(stored.body))
        return CalendarView(ref, stored.name, calendar, tuple(jobs or ()))


async def with_holidays(
    tx: JobWrites, collection: StoredCollection, definition: JobDefinition
) -> JobDefinition:
    """``definition`` with the current holidays of the calendar it follows, that calendar's
    row locked until ``tx`` ends (a calendar PUT or DELETE beside it waits, then sees the
    job); raises ``InvalidDefinition`` (400) when the collection has no such calendar."""
    recurrence = definition.recurrence
    if recurrence is None or recurrence.calendar is None:
        return definition
    attached = await _on_its_calendar(tx, collection, recurrence, lock=True)
    return replace(definition, recurrence=attached)


async def _on_its_calendar(
    tx: JobReads, collection: StoredCollection, recurrence: Recurrence, *, lock: bool = False
) -> Recurrence:
    if recurrence.calendar is None:
        return recurrence
    stored = await tx.find_calendar(collection.id, recurrence.calendar.name, lock=lock)
    if stored is None:
        raise InvalidDefinition(
            f"'recurrence.calendar.name': the job collection '{collection.place.name}' has no "
            f"calendar '{recurrence.calendar.name}'.",
            field="recurrence.calendar.name",
        )
    return recurrence.on_calendar(holidays_from_stored(json.loads(stored.body)))


def check_runs_on_calendar(definition: JobDefinition, anchor: datetime, now: datetime) -> None:
    """An enabled job whose every occurrence falls on a holiday is refused (400), where
    without its calendar it would run."""
    recurrence = definition.recurrence
    if recurrence is None or recurrence.holidays is None:
        return
    if definition.state is not JobState.ENABLED:
        return
    if next_occurrence(recurrence, anchor, now) is not None:
        return
    if next_occurrence(replace(recurrence, holidays=None), anchor, now) is None:
        return  # it ends anyway (count, endTime): not the calendar's doing
    raise InvalidDefinition(
        f"Every occurrence of the job falls on a holiday of its calendar "
        f"'{recurrence.calendar.name if recurrence.calendar else ''}', so it would never run.",
        field="recurrence.calendar",
    )
