"""The engine's recording: finished attempts become history, retries, follow-ups and job
cursors, in one store transaction per batch (:meth:`jobclock.ports.JobStore.record`).

What follows an attempt and an occurrence is decided by :mod:`jobclock.domain.planning`
(:func:`attempted`, :func:`after_occurrence`); this module turns the decisions into the
store's write objects. An attempt whose lease another node took over is not recorded here
(that node records it, exactly once); a job deleted while its attempt ran is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from jobclock.domain.actions import JobAction
from jobclock.domain.execution import AttemptResult
from jobclock.domain.history import ActionName, HistoryStatus, history_id
from jobclock.domain.instants import format_instant
from jobclock.domain.job import JobDefinition, JobState, JobStatus, OverlapPolicy
from jobclock.domain.notification import EventType
from jobclock.domain.planning import (
    Claim,
    Overlap,
    Phase,
    Step,
    StepKind,
    after_occurrence,
    attempted,
    chained,
    postponed_message,
)
from jobclock.domain.records import (
    EngineWrites,
    Expectation,
    JobEnd,
    Occurrence,
    OccurrenceKey,
    OccurrenceKind,
    StoredEntry,
    StoredJob,
)
from jobclock.engine.notifying import Notifier
from jobclock.ports import Clock, JobStore, Metrics
from jobclock.tags import new_execution_tag

log = logging.getLogger("jobclock.engine")

# Jobs scheduled or attempts recorded between two returns to the event loop: a long batch
# of pure Python would otherwise hold back the timers of the attempts claimed ahead.
CHUNK = 32


@dataclass(slots=True)
class Claimed:
    """An attempt claimed to run: its occurrence, its job and the job's definition."""

    occurrence: Occurrence
    job: StoredJob
    definition: JobDefinition


@dataclass(slots=True)
class Finished:
    """An attempt that has run, waiting to be recorded; ``action_window``: its job's
    expectRunWithin."""

    occurrence: Occurrence
    job: StoredJob
    action: JobAction
    started: datetime
    ended: datetime
    result: AttemptResult
    action_window: timedelta | None = None


class Recorder:
    """Records finished attempts for one node (``node``'s leases decide what it may)."""

    def __init__(
        self,
        store: JobStore,
        definition: Callable[[StoredJob], JobDefinition],
        node: str,
        grace: timedelta,
        *,
        metrics: Metrics,
        clock: Clock,
        notifier: Notifier,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._notifier = notifier
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
        planned: list[EngineWrites] = []

        async def plan(held: set[OccurrenceKey], jobs: dict[int, StoredJob]) -> EngineWrites:
            planned.append(await self._plan(batch, held, jobs))
            return planned[-1]

        began = self._clock.now()
        try:
            await self._store.record(self._node, [item.occurrence.key for item in batch], plan)
        except BaseException:
            self.finished = batch + self.finished
            raise
        self._metrics.recorded((self._clock.now() - began).total_seconds())
        if planned:  # the writes of the transaction that was committed
            postponed = planned[-1].entries
            self._metrics.postponed(
                sum(1 for entry in postponed if entry.status is HistoryStatus.POSTPONED)
            )

    async def _plan(
        self, batch: list[Finished], held: set[OccurrenceKey], stored: dict[int, StoredJob]
    ) -> EngineWrites:
        """What the batch writes, given the leases still held and the jobs as stored."""
        writes = EngineWrites()
        jobs: dict[int, StoredJob] = {}  # each job as the batch has left it so far
        for index, item in enumerate(batch):
            if index % CHUNK == CHUNK - 1:
                await asyncio.sleep(0)  # let the attempts' timers fire on time
            record = jobs.get(item.job.id) or stored.get(item.job.id)
            if record is None:
                continue  # the job was deleted while its attempt ran
            if item.occurrence.key not in held:
                log.warning("attempt.lease_lost", extra={"event": "attempt.lease_lost"})
                continue
            jobs[record.id] = self._record_one(item, record, writes)
        writes.progress = list(jobs.values())
        writes.cursors = list({job.id: jobs[job.id] for job in writes.cursors}.values())
        return writes

    def _record_one(self, item: Finished, record: StoredJob, writes: EngineWrites) -> StoredJob:
        """One attempt: its history entry and the job's counters; what follows it."""
        occurrence = item.occurrence
        decision = attempted(
            item.action,
            occurrence.phase,
            occurrence.attempt,
            item.result.succeeded,
            occurrence.main_failed,
            item.ended,
            record.status,
            slot=occurrence.slot,
            draw=random.random(),  # noqa: S311 - jitter, not a secret
        )
        status = decision.status  # the counters; its times are the job's own
        if decision.first:
            status = JobStatus(
                status.execution_count, status.failure_count, status.faulted_count,
                item.started, status.next_execution_time,
            )  # fmt: skip
        step, seq = decision.step, record.history_seq + 1
        ends = step.kind is StepKind.DONE and occurrence.kind is OccurrenceKind.SCHEDULED
        busy_since = record.busy_since or item.started
        if ends:  # the job's scheduled occurrence is over: it is free again
            record = record.updated(status=status, history_seq=seq, busy=False, busy_since=None)
        else:
            record = record.updated(status=status, history_seq=seq)
        writes.entries.append(_attempt_entry(item, record, decision.first))
        self._outcome_notices(item, record, step, writes)
        if step.kind is not StepKind.DONE:
            writes.continued.append(_continued(occurrence, step))
            return record
        writes.done.append(occurrence.key)
        if ends:
            record = self._end_occurrence(item, record, step, busy_since, writes)
        return record

    def _outcome_notices(
        self, item: Finished, record: StoredJob, step: Step, writes: EngineWrites
    ) -> None:
        """What the attempt tells the collection's endpoints (late start, failed
        occurrence), and when a job with expectRunWithin is next overdue."""
        occurrence, notifier = item.occurrence, self._notifier
        first = occurrence.phase is Phase.MAIN and occurrence.attempt == 0
        if first and occurrence.kind is OccurrenceKind.SCHEDULED:  # a backfill is late by design
            late = notifier.late(record, occurrence.slot, item.started, occurrence.repeat_count)
            notifier.notices(record, late, writes)
        if step.kind is StepKind.DONE and step.main_failed:
            failed = notifier.event(
                EventType.JOB_FAILED, record, item.ended, scheduled=occurrence.slot,
                repeat_count=occurrence.repeat_count, message=item.result.message,
                details={"retryCount": occurrence.attempt, "actionName": _action_name(item)},
            )  # fmt: skip
            notifier.notices(record, failed, writes)
        if item.result.succeeded and occurrence.phase is Phase.MAIN:
            window = item.action_window
            if window is not None:
                writes.expectations.append(Expectation(record.id, item.ended + window))

    def _end_occurrence(
        self,
        item: Finished,
        record: StoredJob,
        step: Step,
        busy_since: datetime,
        writes: EngineWrites,
    ) -> StoredJob:
        """The job's scheduled occurrence is over (``record`` is free again), busy since
        ``busy_since``: what follows is :func:`planning.after_occurrence` (its series ended,
        or slots waited for it)."""
        try:
            definition: JobDefinition | None = self._definition(record)
        except Exception:  # unreadable now: faulted when it next comes due
            definition = None
        ending = after_occurrence(
            state=record.state,
            final=item.occurrence.final,
            main_failed=step.main_failed,
            recurrence=None if definition is None else definition.recurrence,
            cursor=record.cursor,
            waiting=record.next_time,
            busy_since=busy_since,
            ended=item.ended,
            chained=definition is not None
            and chained(definition.start_time, definition.recurrence),
            grace=self._grace,
            policy=OverlapPolicy.POSTPONE if definition is None else definition.overlap_policy,
        )
        if ending.state is not None:
            status = replace(record.status, next_execution_time=None)
            record = record.updated(state=ending.state, status=status, finished_at=item.ended)
            writes.ended.append(JobEnd(record.id, ending.state, item.ended))
            if ending.state is JobState.FAULTED:
                faulted = self._notifier.event(
                    EventType.JOB_FAULTED, record, item.ended, scheduled=item.occurrence.slot,
                    repeat_count=item.occurrence.repeat_count,
                    message="The job's last occurrence failed: the job is faulted.",
                )  # fmt: skip
                self._notifier.notices(record, faulted, writes)
        if ending.overlap is not None:
            record = _postpone(record, ending.overlap, busy_since, item.ended, writes)
        return record

    def fault(
        self, writes: EngineWrites, broken: list[tuple[StoredJob, Exception]], now: datetime
    ) -> None:
        """Jobs whose stored definition cannot be read (written by an older version, or a
        secret sealed with another key) are faulted, each with a history entry that says
        why, so they stop coming due and every other job goes on. A PUT revives them.
        Their occurrence (if any) is dropped: a PUT that revives one finds it free."""
        for record, error in broken:
            log.error(
                "job.unreadable",
                extra={"event": "job.unreadable", "id": record.id, "error": repr(error)},
            )
            faulted = record.updated(
                history_seq=record.history_seq + 1, busy=False, busy_since=None
            )
            writes.progress.append(faulted)
            writes.entries.append(
                history_entry(
                    faulted,
                    now,
                    now,
                    record.next_time or now,
                    HistoryStatus.FAILED,
                    f"The job's stored definition cannot be read ({error}); the job is "
                    "faulted and will not run until it is replaced (PUT) or deleted.",
                    repeat_count=record.cursor.done,
                )
            )
            writes.ended.append(JobEnd(record.id, JobState.FAULTED, now))


def _postpone(
    record: StoredJob, overlap: Overlap, busy_since: datetime, ended: datetime, writes: EngineWrites
) -> StoredJob:
    """The slots that came due while the job's occurrence ran (§5.1): one Postponed entry
    for all of them, and the latest runs now."""
    resume = overlap.resume
    if overlap.waited:  # none when a BufferAll job runs a slot it owed from before
        record = record.updated(history_seq=record.history_seq + 1)
        writes.entries.append(
            history_entry(
                record,
                ended,
                ended,
                overlap.waited[0],
                HistoryStatus.POSTPONED,
                postponed_message(overlap, busy_since),
                repeat_count=resume.cursor.done,
            )
        )
    record = moved(record, resume)
    if resume.run:
        follow_up = new_occurrence(
            record.id, resume.slot, OccurrenceKind.SCHEDULED, resume.cursor.done, resume.final
        )
        writes.follow_ups.append(replace(follow_up, due_at=ended))
        record = record.updated(busy=True, busy_since=ended)
    writes.cursors.append(record)
    return record


def _attempt_entry(item: Finished, record: StoredJob, first: bool) -> StoredEntry:
    occurrence = item.occurrence
    message = item.result.message
    if occurrence.kind is OccurrenceKind.BACKFILL:
        message = f"Backfill of {format_instant(occurrence.slot)}: {message}"
    return history_entry(
        record,
        item.started,
        item.ended,
        occurrence.slot if first else occurrence.due_at,
        HistoryStatus.COMPLETED if item.result.succeeded else HistoryStatus.FAILED,
        message,
        repeat_count=occurrence.repeat_count,
        retry_count=occurrence.attempt,
        action=ActionName.MAIN_ACTION
        if occurrence.phase is Phase.MAIN
        else ActionName.ERROR_ACTION,
    )


def _action_name(item: Finished) -> str:
    main = item.occurrence.phase is Phase.MAIN
    name: ActionName = ActionName.MAIN_ACTION if main else ActionName.ERROR_ACTION
    return str(name.value)


def history_entry(
    record: StoredJob,
    start: datetime,
    end: datetime,
    expected: datetime,
    status: HistoryStatus,
    message: str,
    *,
    repeat_count: int,
    retry_count: int = 0,
    action: ActionName = ActionName.MAIN_ACTION,
) -> StoredEntry:
    """A history entry of ``record``: an attempt's, or one the engine writes itself (a
    postponement, a fault: it starts and ends at once, main action, no retry). Its id is
    the job's ``history_seq``, which the caller has advanced."""
    return StoredEntry(
        job_id=record.id,
        history_id=history_id(start, record.history_seq),
        start_time=start,
        end_time=end,
        expected_time=expected,
        action_name=action,
        status=status,
        message=message,
        retry_count=retry_count,
        repeat_count=repeat_count,
    )


def _continued(occurrence: Occurrence, step: Step) -> Occurrence:
    """The occurrence's next attempt: a retry or the error action, at ``step.due``."""
    assert step.due is not None  # noqa: S101 - retries and error actions have a time
    return replace(
        occurrence,
        phase=step.phase,
        attempt=step.attempt,
        due_at=step.due,
        main_failed=step.main_failed,
        execution_tag=new_execution_tag(),
    )


def moved(record: StoredJob, decision: Claim, busy_since: datetime | None = None) -> StoredJob:
    """The job with the cursor and the next execution time a claim moved it to; busy
    from ``busy_since`` when given (one copy of the record: it runs once per fire)."""
    was = record.status
    status = JobStatus(
        was.execution_count, was.failure_count, was.faulted_count, was.last_execution_time,
        decision.next_time,
    )  # fmt: skip
    if busy_since is None:
        return record.updated(cursor=decision.cursor, status=status)
    return record.updated(cursor=decision.cursor, status=status, busy=True, busy_since=busy_since)


def new_occurrence(
    job_id: int, slot: datetime, kind: OccurrenceKind, repeat_count: int, final: bool
) -> Occurrence:
    """An occurrence's first attempt: the main action, due at its slot."""
    return Occurrence.first(job_id, slot, kind, repeat_count, final, new_execution_tag())
