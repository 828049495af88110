"""The engine's recording: finished attempts become history, retries, follow-ups and job
cursors, in one transaction per batch.

What follows an attempt and an occurrence is decided by :mod:`jobclock.domain.planning`
(:func:`attempted`, :func:`after_occurrence`); this module turns the decisions into rows.
An attempt whose lease another node took over is not recorded here (that node records it,
exactly once); a job deleted while its attempt ran is skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jobclock.domain.actions import JobAction
from jobclock.domain.execution import AttemptResult
from jobclock.domain.history import ActionName, HistoryStatus, history_id
from jobclock.domain.job import JobDefinition, JobState, JobStatus
from jobclock.domain.occurrences import from_us, to_us
from jobclock.domain.planning import (
    Claim,
    Cursor,
    Overlap,
    Phase,
    Step,
    StepKind,
    after_occurrence,
    attempted,
    chained,
    postponed_message,
)
from jobclock.engine.leases import OccurrenceKey
from jobclock.storage.definitions import status_of
from jobclock.storage.sql_store import JobRecord, OccurrenceRecord, SqlStore
from jobclock.tags import new_execution_tag

log = logging.getLogger("jobclock.engine")

# Jobs scheduled or attempts recorded between two returns to the event loop: a long batch
# of pure Python would otherwise hold back the timers of the attempts claimed ahead.
CHUNK = 32


@dataclass(slots=True)
class Claimed:
    """An attempt claimed to run: its occurrence, its job and the job's definition."""

    occurrence: OccurrenceRecord
    job: JobRecord
    definition: JobDefinition


@dataclass(slots=True)
class Finished:
    """An attempt that has run, waiting to be recorded."""

    occurrence: OccurrenceRecord
    job: JobRecord
    action: JobAction
    started: datetime
    ended: datetime
    result: AttemptResult


@dataclass(slots=True)
class _Writes:
    """The statements one recording batch issues."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    done: list[OccurrenceKey] = field(default_factory=list)
    continued: list[dict[str, Any]] = field(default_factory=list)
    follow_ups: list[dict[str, Any]] = field(default_factory=list)
    finished: list[dict[str, Any]] = field(default_factory=list)  # Completed or Faulted
    cursors: list[dict[str, Any]] = field(default_factory=list)  # after an overlap


class Recorder:
    """Records finished attempts for one node (``node``'s leases decide what it may)."""

    def __init__(
        self,
        store: SqlStore,
        definition: Callable[[JobRecord], JobDefinition],
        node: str,
        grace: timedelta,
    ) -> None:
        self._store = store
        self._definition = definition
        self._node = node
        self._grace = grace
        self.finished: list[Finished] = []

    async def record(self) -> None:
        """Write every finished attempt in one transaction; on an error they stay queued
        for a later try."""
        if not self.finished:
            return
        batch, self.finished = self.finished, []
        try:
            await self._record_batch(batch)
        except BaseException:
            self.finished = batch + self.finished
            raise

    async def _record_batch(self, batch: list[Finished]) -> None:
        async with self._store.transaction() as conn:
            held = await self._store.still_leased(
                conn, self._node, [key(item.occurrence) for item in batch]
            )
            records = await self._store.jobs_by_ids(
                conn, (item.job.id for item in batch), lock=True
            )
            writes = _Writes()
            for index, item in enumerate(batch):
                if index % CHUNK == CHUNK - 1:
                    await asyncio.sleep(0)  # let the attempts' timers fire on time
                record = records.get(item.job.id)
                if record is None:
                    continue  # the job was deleted while its attempt ran
                if key(item.occurrence) not in held:
                    log.warning("attempt.lease_lost", extra={"event": "attempt.lease_lost"})
                    continue
                self._record_one(item, record, writes)
            await self._write(conn, writes, records)

    async def _write(self, conn: Any, writes: _Writes, records: dict[int, JobRecord]) -> None:
        await self._store.insert_history(conn, writes.entries)
        await self._store.delete_occurrences(conn, writes.done)
        await self._store.update_occurrences(conn, writes.continued)
        await self._store.insert_occurrences(conn, writes.follow_ups)
        await self._store.update_jobs(conn, [_job_values(record) for record in records.values()])
        await self._store.update_jobs(conn, writes.cursors)
        await self._store.finish_jobs(conn, writes.finished)

    def _record_one(self, item: Finished, record: JobRecord, writes: _Writes) -> None:
        occurrence = item.occurrence
        phase = Phase(occurrence.phase)
        decision = attempted(
            item.action,
            phase,
            occurrence.attempt,
            item.result.succeeded,
            occurrence.main_failed,
            item.ended,
            status_of(record),
        )
        _count(record, decision.status)
        if decision.first:
            record.last_execution_time = to_us(item.started)
        record.history_seq += 1
        writes.entries.append(_attempt_entry(item, record, phase, decision.first))
        if decision.step.kind is not StepKind.DONE:
            writes.continued.append(_continued(occurrence, decision.step))
            return
        writes.done.append(key(occurrence))
        if occurrence.kind == "scheduled":
            self._end_occurrence(item, record, decision.step, writes)

    def _end_occurrence(
        self, item: Finished, record: JobRecord, step: Step, writes: _Writes
    ) -> None:
        """The job's scheduled occurrence is over: it is free again, and what follows is
        :func:`planning.after_occurrence` (its series ended, or slots waited for it)."""
        busy_since = item.started if record.busy_since is None else from_us(record.busy_since)
        record.busy, record.busy_since, record.postponed = False, None, None
        try:
            definition = self._definition(record)
        except Exception:  # unreadable now: faulted when it next comes due
            definition = None
        waiting = record.next_execution_time
        ending = after_occurrence(
            state=JobState(record.state),
            final=item.occurrence.final,
            main_failed=step.main_failed,
            recurrence=None if definition is None else definition.recurrence,
            cursor=cursor_of(record),
            waiting=None if waiting is None else from_us(waiting),
            busy_since=busy_since,
            ended=item.ended,
            chained=definition is not None
            and chained(definition.start_time, definition.recurrence),
            grace=self._grace,
        )
        if ending.state is not None:
            record.state = ending.state.value
            record.next_execution_time = None
            record.finished_at = to_us(item.ended)
            writes.finished.append(
                {"id": record.id, "state": record.state, "finished_at": record.finished_at}
            )
        if ending.overlap is not None:
            self._postpone(record, ending.overlap, busy_since, item.ended, writes)

    def _postpone(
        self,
        record: JobRecord,
        overlap: Overlap,
        busy_since: datetime,
        ended: datetime,
        writes: _Writes,
    ) -> None:
        """The slots that came due while the job's occurrence ran (§5.1): one Postponed entry
        for all of them, and the latest runs now."""
        resume = overlap.resume
        record.history_seq += 1
        writes.entries.append(
            engine_entry(
                record,
                ended,
                to_us(overlap.waited[0]),
                HistoryStatus.POSTPONED,
                postponed_message(overlap, busy_since),
                resume.cursor.done,
            )
        )
        writes.cursors.append(cursor_values(record.id, resume))
        if resume.run:
            writes.follow_ups.append(
                occurrence_row(
                    record.id, resume.slot, "scheduled", resume.cursor.done, resume.final
                )
                | {"due_at": to_us(ended)}
            )
            record.busy = True
            record.busy_since = to_us(ended)

    async def fault_unreadable(
        self, conn: Any, broken: list[tuple[JobRecord, Exception]], now: datetime
    ) -> None:
        """Jobs whose stored definition cannot be read (written by an older version, or a
        secret sealed with another key) are faulted, each with a history entry that says
        why, so they stop coming due and every other job goes on. A PUT revives them."""
        if not broken:
            return
        entries, sequences = [], []
        for record, error in broken:
            log.error(
                "job.unreadable",
                extra={"event": "job.unreadable", "id": record.id, "error": repr(error)},
            )
            record.history_seq += 1
            # Its occurrence (if any) is dropped: a PUT that revives it finds it free.
            sequences.append(
                {
                    "id": record.id,
                    "history_seq": record.history_seq,
                    "busy": False,
                    "busy_since": None,
                }
            )
            entries.append(_unreadable_entry(record, error, now))
        await self._store.insert_history(conn, entries)
        await self._store.update_jobs(conn, sequences)
        finished = to_us(now)
        await self._store.finish_jobs(
            conn,
            [
                {"id": record.id, "state": JobState.FAULTED.value, "finished_at": finished}
                for record, _ in broken
            ],
        )


def _count(record: JobRecord, status: JobStatus) -> None:
    record.execution_count = status.execution_count
    record.failure_count = status.failure_count
    record.faulted_count = status.faulted_count


def _attempt_entry(item: Finished, record: JobRecord, phase: Phase, first: bool) -> dict[str, Any]:
    occurrence = item.occurrence
    action = ActionName.MAIN_ACTION if phase is Phase.MAIN else ActionName.ERROR_ACTION
    status = HistoryStatus.COMPLETED if item.result.succeeded else HistoryStatus.FAILED
    return {
        "job_id": record.id,
        "history_id": history_id(item.started, record.history_seq),
        "start_time": to_us(item.started),
        "end_time": to_us(item.ended),
        "expected_execution_time": occurrence.scheduled_time if first else occurrence.due_at,
        "action_name": action.value,
        "status": status.value,
        "message": item.result.message,
        "retry_count": occurrence.attempt,
        "repeat_count": occurrence.repeat_count,
    }


def _continued(occurrence: OccurrenceRecord, step: Step) -> dict[str, Any]:
    """The occurrence's next attempt: a retry or the error action, at ``step.due``."""
    assert step.due is not None  # noqa: S101 - retries and error actions have a time
    return {
        "job_id": occurrence.job_id,
        "scheduled_time": occurrence.scheduled_time,
        "kind": occurrence.kind,
        "phase": step.phase.value,
        "attempt": step.attempt,
        "due_at": to_us(step.due),
        "status": "pending",
        "main_failed": step.main_failed,
        "execution_tag": new_execution_tag(),
        "lease_owner": None,
        "lease_expiry": None,
    }


def _unreadable_entry(record: JobRecord, error: Exception, now: datetime) -> dict[str, Any]:
    slot = record.next_execution_time or to_us(now)
    return engine_entry(
        record,
        now,
        slot,
        HistoryStatus.FAILED,
        f"The job's stored definition cannot be read ({error}); the job is "
        "faulted and will not run until it is replaced (PUT) or deleted.",
        record.occurrences_done,
    )


def engine_entry(
    record: JobRecord,
    at: datetime,
    expected: int,
    status: HistoryStatus,
    message: str,
    repeat_count: int,
) -> dict[str, Any]:
    """A history row the engine writes itself, not an attempt's (a postponement, a job
    faulted for its unreadable definition): it starts and ends at ``at``. The caller has
    advanced ``record.history_seq``."""
    return {
        "job_id": record.id,
        "history_id": history_id(at, record.history_seq),
        "start_time": to_us(at),
        "end_time": to_us(at),
        "expected_execution_time": expected,
        "action_name": ActionName.MAIN_ACTION.value,
        "status": status.value,
        "message": message,
        "retry_count": 0,
        "repeat_count": repeat_count,
    }


def cursor_values(job_id: int, decision: Claim) -> dict[str, Any]:
    """The job columns a claim moves: its cursor and its next execution time."""
    cursor = decision.cursor
    return {
        "id": job_id,
        "anchor": to_us(cursor.anchor),
        "last_occurrence": None if cursor.last is None else to_us(cursor.last),
        "occurrences_done": cursor.done,
        "next_execution_time": None if decision.next_time is None else to_us(decision.next_time),
    }


def cursor_of(record: JobRecord) -> Cursor:
    last = None if record.last_occurrence is None else from_us(record.last_occurrence)
    return Cursor(from_us(record.anchor), last, record.occurrences_done)


def key(occurrence: OccurrenceRecord) -> OccurrenceKey:
    return OccurrenceKey(occurrence.job_id, occurrence.scheduled_time, occurrence.kind)


def occurrence_row(
    job_id: int, slot: datetime, kind: str, repeat_count: int, final: bool
) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "scheduled_time": to_us(slot),
        "kind": kind,
        "repeat_count": repeat_count,
        "final": final,
        "phase": Phase.MAIN.value,
        "attempt": 0,
        "due_at": to_us(slot),
        "status": "pending",
        "execution_tag": new_execution_tag(),
        "main_failed": False,
    }


def occurrence_record(row: dict[str, Any]) -> OccurrenceRecord:
    return OccurrenceRecord(
        None,
        row["job_id"],
        row["scheduled_time"],
        row["kind"],
        row["repeat_count"],
        row["final"],
        row["phase"],
        row["attempt"],
        row["due_at"],
        row["execution_tag"],
        row["main_failed"],
    )


def _job_values(record: JobRecord) -> dict[str, Any]:
    """What recording changes in a job. Not its state or next time: a user may have
    disabled the job meanwhile (those change only through ``finish_jobs``)."""
    return {
        "id": record.id,
        "execution_count": record.execution_count,
        "failure_count": record.failure_count,
        "faulted_count": record.faulted_count,
        "last_execution_time": record.last_execution_time,
        "history_seq": record.history_seq,
        "busy": record.busy,
        "busy_since": record.busy_since,
        "postponed": record.postponed,
    }
