"""The engine: claims due work, runs attempts with bounded concurrency, records results.

Every decision is a call into :mod:`jobclock.domain.planning`; this module only moves data
between the store, the executors and the clock. Durable state first: an occurrence row is
written (and the job's cursor advanced) before its action is sent, and a retry is a row with
a due time, so a restart loses nothing (attempts left running are tried again).

``tick()`` is one deterministic step for tests on a fake clock: it schedules due jobs, runs
every due attempt to completion and records the results. ``run_forever()`` does the same
continuously, with attempts in flight while it sleeps until the next due instant (or until
``wake()``), and records finished attempts in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jobclock.domain.actions import ActionType, ErrorAction, JobAction
from jobclock.domain.execution import AttemptContext, AttemptResult, Invocation
from jobclock.domain.history import ActionName, HistoryStatus, history_id
from jobclock.domain.job import JobDefinition, JobState
from jobclock.domain.occurrences import from_us, to_us
from jobclock.domain.planning import (
    DEFAULT_MISFIRE_GRACE,
    Claim,
    Cursor,
    Phase,
    StepKind,
    after_attempt,
    after_busy,
    claim,
    count_attempt,
    postponed_message,
    state_after_occurrence,
)
from jobclock.ports import ActionExecutor, Clock
from jobclock.storage.definitions import StoredDefinitions, new_execution_tag, status_of
from jobclock.storage.sql_store import WAKEUP_CHANNEL, JobRecord, OccurrenceRecord, SqlStore

log = logging.getLogger("jobclock.engine")

CLAIM_INTERVAL = timedelta(milliseconds=50)
# Jobs scheduled or attempts recorded between two returns to the event loop: a long batch
# of pure Python would otherwise hold back the timers of the attempts claimed ahead.
_CHUNK = 32


@dataclass(frozen=True, slots=True)
class EngineSettings:
    region: str = "Self-hosted"
    concurrency: int = 256
    batch: int = 1000
    misfire_grace: timedelta = DEFAULT_MISFIRE_GRACE
    idle: timedelta = timedelta(seconds=30)
    history_retention: timedelta = timedelta(days=60)
    history_per_job: int = 1000
    finished_retention: timedelta = timedelta(days=60)
    purge_every: timedelta = timedelta(minutes=10)
    shutdown_grace: float = 65.0  # seconds: longer than the 60 s HTTP timeout
    node: str = "local"
    # A running attempt's lease: longer than the 60 s HTTP timeout, renewed while it runs;
    # when a node dies, its attempts are taken over this long after its last renewal.
    lease: timedelta = timedelta(seconds=20)
    heartbeat: timedelta = timedelta(seconds=5)
    # run_forever claims slots this far ahead and starts each from a timer at its time, so a
    # fire does not wait for the claim's transaction, nor for the database's write lock when
    # the API holds it (a job disabled or deleted meanwhile is dropped before it fires).
    lookahead: timedelta = timedelta(milliseconds=400)


@dataclass(slots=True)
class _Finished:
    occurrence: OccurrenceRecord
    job: JobRecord
    action: JobAction
    started: datetime
    ended: datetime
    result: AttemptResult


class Engine:
    """The scheduler loop over a store, the executors and one clock."""

    def __init__(
        self,
        store: SqlStore,
        definitions: StoredDefinitions,
        executors: Mapping[ActionType, ActionExecutor],
        clock: Clock,
        settings: EngineSettings | None = None,
    ) -> None:
        self._store = store
        self._definitions = definitions
        self._executors = executors
        self._clock = clock
        self.settings = settings or EngineSettings()
        self._finished: list[_Finished] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._cache: dict[str, JobDefinition] = {}
        self._next_purge: datetime | None = None
        self._stopping = False
        self._started = False
        self._leased: set[tuple[int, int, str]] = set()
        self._next_renewal: datetime | None = None
        self._started_at: datetime | None = None
        self._next_claim = datetime.min.replace(tzinfo=UTC)
        # Attempts claimed ahead, waiting for their instant: cancelled if their job is
        # disabled or deleted meanwhile (see ``changed``).
        self._waiting: dict[tuple[int, int, str], tuple[asyncio.Task[None], int]] = {}
        self._recheck = False

    # -- the loop ------------------------------------------------------------------------
    async def start(self) -> None:
        """Recover: attempts this node left running when it stopped are tried again."""
        now = self._clock.now()
        self._started_at = self._started_at or now
        async with self._store.transaction() as conn:
            count = await self._store.reset_running(conn, self.settings.node, to_us(now))
            await self._store.heartbeat(
                conn, self.settings.node, to_us(self._started_at), to_us(now)
            )
        if count:
            log.warning("engine.recovered", extra={"event": "engine.recovered", "count": count})

    async def _renew(self, now: datetime) -> None:
        """Heartbeat, and push the leases of the attempts in flight (every third of a lease)."""
        if self._next_renewal is not None and now < self._next_renewal:
            return
        settings = self.settings
        self._next_renewal = now + min(settings.heartbeat, settings.lease / 3)
        started = to_us(self._started_at or now)
        async with self._store.transaction() as conn:
            await self._store.heartbeat(conn, settings.node, started, to_us(now))
            await self._store.extend_leases(
                conn, settings.node, sorted(self._leased), to_us(now + settings.lease)
            )

    async def tick(self) -> int:
        """One step: record what finished, schedule due jobs, run every due attempt to its
        end, record them."""
        now = self._clock.now()
        await self._record()
        attempts = await self._schedule(now, self.settings.batch)
        attempts += await self._claim_attempts(now, self.settings.batch - len(attempts))
        await asyncio.gather(*(self._attempt(item) for item in attempts))
        await self._record()
        await self._purge(now)
        return len(attempts)

    async def run_until_idle(self, limit: int = 100) -> int:
        """Tick until nothing is due now (retries due later stay pending)."""
        total = 0
        for _ in range(limit):
            ran = await self.tick()
            total += ran
            if ran == 0:
                break
        return total

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set. A database error (a restart, a cut connection, a
        deadlock abort) is logged and the loop tries again after a growing pause; nothing
        is lost, because every step is a transaction and finished attempts stay queued
        until they are recorded."""
        failures = 0
        listener = None
        if self._store.dialect == "postgresql":
            listener = asyncio.create_task(self._listen(stop))
        while not stop.is_set():
            try:
                if not self._started:
                    # Once only: after a database error, this node's attempts in flight are
                    # still its own (their leases are renewed), so nothing is reset and re-sent.
                    await self.start()
                    self._started = True
                await self._step(stop)
                failures = 0
            except Exception:  # the database or the network, never a reason to stop
                failures += 1
                pause = min(30.0, 0.5 * 2 ** min(failures, 6))
                log.exception(
                    "engine.error", extra={"event": "engine.error", "retry_in_seconds": pause}
                )
                await self._sleep(self._clock.now() + timedelta(seconds=pause), stop)
        if listener is not None:
            listener.cancel()
        await self.shutdown()

    async def _listen(self, stop: asyncio.Event) -> None:
        """Wake this node when any node changes a job (PostgreSQL LISTEN/NOTIFY), so a job
        created through another node fires on time; reconnects after a cut connection."""
        while not stop.is_set():
            try:
                async with self._store.engine.connect() as conn:
                    raw = await conn.get_raw_connection()
                    driver: Any = raw.driver_connection
                    await driver.add_listener(WAKEUP_CHANNEL, lambda *_: self.changed())
                    while not stop.is_set() and not driver.is_closed():
                        # Not ``self._sleep``: that consumes the clock's wake-up, which
                        # belongs to the main loop (a wake-up taken here was lost there).
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), timeout=5.0)
            except Exception:  # the connection was cut: listen again shortly
                log.warning("engine.listen_lost", extra={"event": "engine.listen_lost"})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def _step(self, stop: asyncio.Event) -> None:
        now = self._clock.now()
        await self._renew(now)
        await self._drop_disabled()
        await self._record()
        free = self.settings.concurrency - len(self._in_flight)
        attempts = await self._schedule(now, free, self.settings.lookahead)
        # Retries, runs and taken-over attempts: looked for at every quiet step, but under
        # load (the step scheduled or recorded something) at most every CLAIM_INTERVAL,
        # or at once again while the last look found some.
        if now >= self._next_claim or not (attempts or self._finished):
            claimed = await self._claim_attempts(
                now, min(free, self.settings.batch) - len(attempts)
            )
            self._next_claim = now if claimed else now + CLAIM_INTERVAL
            attempts += claimed
        for item in attempts:
            task = asyncio.create_task(self._attempt(item, notify=True, timed=True))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        await self._purge(now)
        if self._finished:
            return
        wake_at = min(
            await self._next_wakeup(now) - self.settings.lookahead, self._next_renewal or now
        )
        # Attempts that finish during that round trip wake the clock: the sleep returns at
        # once (the clock keeps a wake-up until a sleep consumes it; only this loop sleeps
        # on it).
        if wake_at > self._clock.now():
            await self._sleep(wake_at, stop)

    async def shutdown(self) -> None:
        """Let attempts in flight finish (each is bounded by its own timeout) and record them."""
        self._stopping = True
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=self.settings.shutdown_grace)
        try:
            await self._record()
        except Exception:  # attempts not recorded stay "running" and run again at start
            log.exception(
                "engine.shutdown_unrecorded", extra={"event": "engine.shutdown_unrecorded"}
            )

    def wake(self) -> None:
        self._clock.wake()

    def changed(self) -> None:
        """A job or a collection was written (through this node's API or another node):
        the attempts claimed ahead that have not started yet are checked again, and those
        whose job or collection is no longer enabled (or is gone) do not fire."""
        self._recheck = True
        self.wake()

    async def _drop_disabled(self) -> None:
        if not self._recheck:
            return
        self._recheck = False
        waiting = {key: job for key, (_, job) in self._waiting.items()}
        if not waiting:
            return
        async with self._store.reading() as conn:
            enabled = await self._store.enabled_jobs(conn, set(waiting.values()))
            dropped = [key for key, job in waiting.items() if job not in enabled]
            dropped = [key for key in dropped if key in self._waiting]  # not started meanwhile
            for key in dropped:
                self._waiting.pop(key)[0].cancel()
            await self._store.delete_occurrences(conn, dropped)
            freed = sorted({key[0] for key in dropped if key[2] == "scheduled"})
            await self._store.update_jobs(
                conn, [{"id": job, "busy": False, "busy_since": None} for job in freed]
            )
        if dropped:
            log.info("attempt.dropped", extra={"event": "attempt.dropped", "count": len(dropped)})

    async def _sleep(self, until: datetime, stop: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep_until(until))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, stopper):
            task.cancel()

    async def _next_wakeup(self, now: datetime) -> datetime:
        async with self._store.reading() as conn:
            # A busy job's slot counts once it is beyond the lookahead (nearer, waking for
            # it could only spin until it is due).
            found = await self._store.next_wakeup(conn, to_us(now + self.settings.lookahead))
        idle = now + self.settings.idle
        if self._in_flight and self.settings.concurrency - len(self._in_flight) <= 0:
            return idle  # woken when an attempt finishes
        return idle if found is None else min(idle, from_us(found))

    # -- scheduling ----------------------------------------------------------------------
    def _definition(self, record: JobRecord) -> JobDefinition:
        found = self._cache.get(record.definition)
        if found is None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            found = self._definitions.load(record.definition)
            self._cache[record.definition] = found
        return found

    async def _schedule(
        self, now: datetime, capacity: int, ahead: timedelta = timedelta(0)
    ) -> list[_Claimed]:
        """Turn up to ``capacity`` jobs due by ``now + ahead`` into occurrences (or skips), in
        one transaction, and return the new occurrences, written as running, to be run at
        their time. Due jobs beyond ``capacity`` stay due, for this node's next step or
        another node: a node never claims more than it can start (that would only make them
        late and postpone their next slots)."""
        limit = min(capacity, self.settings.batch)
        if limit <= 0:
            return []
        now_us = to_us(now + ahead)
        lease_expiry = to_us(now + self.settings.lease)
        started: list[_Claimed] = []
        async with self._store.transaction() as conn:
            due = await self._store.due_jobs(conn, now_us, limit)
            if not due:
                return started
            new_occurrences: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            unreadable: list[tuple[JobRecord, Exception]] = []
            for index, record in enumerate(due):
                if index % _CHUNK == _CHUNK - 1:
                    await asyncio.sleep(0)  # let the attempts' timers fire on time
                try:
                    update, occurrence = self._schedule_job(record, now)
                except Exception as error:  # this job's stored data: it alone stops
                    unreadable.append((record, error))
                    continue
                updates.append(update)
                if occurrence is None:
                    continue
                occurrence["status"] = "running"
                occurrence["lease_owner"] = self.settings.node
                occurrence["lease_expiry"] = lease_expiry
                started.append(
                    _Claimed(_occurrence_record(occurrence), record, self._definition(record))
                )
                new_occurrences.append(occurrence)
            await self._store.insert_occurrences(conn, new_occurrences)
            await self._store.update_jobs(conn, updates)
            await self._fault_unreadable(conn, unreadable, now)
        return started

    async def _fault_unreadable(
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
            slot = record.next_execution_time or to_us(now)
            entries.append(
                _engine_entry(
                    record,
                    now,
                    slot,
                    HistoryStatus.FAILED,
                    f"The job's stored definition cannot be read ({error}); the job is "
                    "faulted and will not run until it is replaced (PUT) or deleted.",
                    record.occurrences_done,
                )
            )
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

    def _schedule_job(
        self, record: JobRecord, now: datetime
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The job's new cursor, and the occurrence to write if one runs now (due jobs are
        never busy: a busy job's slots are decided when its occurrence is recorded)."""
        definition = self._definition(record)
        assert record.next_execution_time is not None  # noqa: S101 - due jobs have one
        slot = from_us(record.next_execution_time)
        decision = claim(
            definition.recurrence,
            _cursor(record),
            slot,
            now,
            chained=_chained(definition),
            grace=self.settings.misfire_grace,
        )
        update: dict[str, Any] = _cursor_values(record.id, decision) | {
            "busy": record.busy,
            "busy_since": record.busy_since,
        }
        if not decision.run:
            log.info("occurrence.skipped", extra={"event": "occurrence.skipped", "id": record.id})
            return update, None
        update["busy"] = True
        slot = decision.slot  # a job that never ran starts at its latest due slot
        update["busy_since"] = to_us(max(now, slot))  # when it starts
        occurrence = _occurrence_row(
            record.id, slot, "scheduled", decision.cursor.done, decision.final
        )
        return update, occurrence

    async def _claim_attempts(self, now: datetime, limit: int) -> list[_Claimed]:
        if limit <= 0:
            return []
        async with self._store.transaction() as conn:
            attempts = await self._store.due_attempts(
                conn, to_us(now), limit, self.settings.node, to_us(now + self.settings.lease)
            )
            records = await self._store.jobs_by_ids(conn, (item.job_id for item in attempts))
            claimed, unreadable, dropped = [], {}, []
            for item in attempts:
                record = records.get(item.job_id)
                if record is None:
                    continue
                try:
                    claimed.append(_Claimed(item, record, self._definition(record)))
                except Exception as error:  # this job's stored data: it alone stops
                    unreadable[record.id] = (record, error)
                    dropped.append(_key(item))
            await self._store.delete_occurrences(conn, dropped)
            await self._fault_unreadable(conn, list(unreadable.values()), now)
        return claimed

    # -- attempts ------------------------------------------------------------------------
    async def _attempt(self, claimed: _Claimed, notify: bool = False, timed: bool = False) -> None:
        """Run one attempt and queue its result for recording; ``timed``: not before its
        due time (a slot claimed ahead starts from a timer at its instant)."""
        occurrence, record, definition = claimed.occurrence, claimed.job, claimed.definition
        if timed:
            delay = (from_us(occurrence.due_at) - self._clock.now()).total_seconds()
            if delay > 0:
                task = asyncio.current_task()
                assert task is not None  # noqa: S101 - always run as a task
                self._waiting[_key(occurrence)] = (task, occurrence.job_id)
                try:
                    await asyncio.sleep(delay)
                finally:
                    self._waiting.pop(_key(occurrence), None)
        action = definition.action
        phase = Phase(occurrence.phase)
        target: JobAction | ErrorAction = action
        if phase is Phase.ERROR and action.error_action is not None:
            target = action.error_action
        first = occurrence.attempt == 0 and phase is Phase.MAIN
        expected = from_us(occurrence.scheduled_time if first else occurrence.due_at)
        context = AttemptContext(
            collection=record.collection_name,
            job=record.name,
            execution_tag=occurrence.execution_tag,
            request_id=str(uuid.UUID(int=random.getrandbits(128), version=4)),
            expected_time=expected,
            region=self.settings.region,
            action_name=ActionName.MAIN_ACTION if phase is Phase.MAIN else ActionName.ERROR_ACTION,
            retry_count=occurrence.attempt,
            repeat_count=occurrence.repeat_count,
        )
        key = _key(occurrence)
        self._leased.add(key)
        try:
            async with self._slots:
                started = self._clock.now()
                result = await self._invoke(Invocation(target.type, target.payload), context)
                ended = self._clock.now()
        finally:
            self._leased.discard(key)
        self._finished.append(_Finished(occurrence, record, action, started, ended, result))
        log.debug(
            "attempt.finished",
            extra={
                "event": "attempt.finished",
                "job": record.name,
                "collection": record.collection_name,
                "succeeded": result.succeeded,
                "retry": occurrence.attempt,
            },
        )
        if notify:
            self.wake()

    async def _invoke(self, invocation: Invocation, context: AttemptContext) -> AttemptResult:
        executor = self._executors.get(invocation.type)
        if executor is None:
            return AttemptResult(
                False, f"{invocation.type.value} actions are not supported by this server."
            )
        try:
            return await executor.execute(invocation, context)
        except Exception as exc:  # an executor bug must not stop the engine
            log.exception("attempt.crashed", extra={"event": "attempt.crashed"})
            return AttemptResult(False, f"{invocation.type.value} Action - internal error: {exc}")

    # -- recording -----------------------------------------------------------------------
    async def _record(self) -> None:
        """Write every finished attempt in one transaction."""
        if not self._finished:
            return
        batch, self._finished = self._finished, []
        try:
            await self._record_batch(batch)
        except BaseException:
            self._finished = batch + self._finished  # recorded by a later try
            raise

    async def _record_batch(self, batch: list[_Finished]) -> None:
        async with self._store.transaction() as conn:
            held = await self._store.still_leased(
                conn, self.settings.node, [_key(item.occurrence) for item in batch]
            )
            records = await self._store.jobs_by_ids(
                conn, (item.job.id for item in batch), lock=True
            )
            writes = _Writes()
            for index, item in enumerate(batch):
                if index % _CHUNK == _CHUNK - 1:
                    await asyncio.sleep(0)  # let the attempts' timers fire on time
                record = records.get(item.job.id)
                if record is None:
                    continue  # the job was deleted while its attempt ran
                if _key(item.occurrence) not in held:
                    # Our lease expired and another node took the attempt over: it records
                    # the occurrence, exactly once.
                    log.warning("attempt.lease_lost", extra={"event": "attempt.lease_lost"})
                    continue
                self._record_one(item, record, writes)
            await self._store.insert_history(conn, writes.entries)
            await self._store.delete_occurrences(conn, writes.done)
            await self._store.update_occurrences(conn, writes.continued)
            await self._store.insert_occurrences(conn, writes.follow_ups)
            await self._store.update_jobs(
                conn, [_job_values(record) for record in records.values()]
            )
            await self._store.update_jobs(conn, writes.cursors)
            await self._store.finish_jobs(conn, writes.finished)

    def _record_one(self, item: _Finished, record: JobRecord, writes: _Writes) -> None:
        occurrence = item.occurrence
        phase = Phase(occurrence.phase)
        succeeded = item.result.succeeded
        step = after_attempt(
            item.action, phase, occurrence.attempt, succeeded, occurrence.main_failed, item.ended
        )
        exhausted = phase is Phase.MAIN and not succeeded and step.kind is not StepKind.RETRY
        status = count_attempt(status_of(record), phase, succeeded, exhausted)
        record.execution_count = status.execution_count
        record.failure_count = status.failure_count
        record.faulted_count = status.faulted_count
        first = occurrence.attempt == 0 and phase is Phase.MAIN
        if first:
            record.last_execution_time = to_us(item.started)
        record.history_seq += 1
        writes.entries.append(
            {
                "job_id": record.id,
                "history_id": history_id(item.started, record.history_seq),
                "start_time": to_us(item.started),
                "end_time": to_us(item.ended),
                "expected_execution_time": occurrence.scheduled_time
                if first
                else occurrence.due_at,
                "action_name": (
                    ActionName.MAIN_ACTION if phase is Phase.MAIN else ActionName.ERROR_ACTION
                ).value,
                "status": (HistoryStatus.COMPLETED if succeeded else HistoryStatus.FAILED).value,
                "message": item.result.message,
                "retry_count": occurrence.attempt,
                "repeat_count": occurrence.repeat_count,
            }
        )
        key = {
            "job_id": occurrence.job_id,
            "scheduled_time": occurrence.scheduled_time,
            "kind": occurrence.kind,
        }
        if step.kind is not StepKind.DONE:
            assert step.due is not None  # noqa: S101 - retries and error actions have a time
            writes.continued.append(
                key
                | {
                    "phase": step.phase.value,
                    "attempt": step.attempt,
                    "due_at": to_us(step.due),
                    "status": "pending",
                    "main_failed": step.main_failed,
                    "execution_tag": new_execution_tag(),
                    "lease_owner": None,
                    "lease_expiry": None,
                }
            )
            return
        writes.done.append((occurrence.job_id, occurrence.scheduled_time, occurrence.kind))
        if occurrence.kind != "scheduled":
            return
        busy_since = item.started if record.busy_since is None else from_us(record.busy_since)
        record.busy = False
        record.busy_since = None
        record.postponed = None
        final_state = state_after_occurrence(occurrence.final, step.main_failed)
        if final_state is not None and record.state == JobState.ENABLED.value:
            record.state = final_state.value
            record.next_execution_time = None
            record.finished_at = to_us(item.ended)
            writes.finished.append(
                {"id": record.id, "state": record.state, "finished_at": record.finished_at}
            )
        if record.state == JobState.ENABLED.value:
            self._resume_after(record, busy_since, item.ended, writes)

    def _resume_after(
        self, record: JobRecord, busy_since: datetime, ended: datetime, writes: _Writes
    ) -> None:
        """The slots that came due while the job's occurrence ran (§5.1): one Postponed entry
        for all of them, and the latest runs now (``planning.after_busy``)."""
        try:
            definition = self._definition(record)
        except Exception:  # unreadable now: faulted when it next comes due
            return
        waiting = record.next_execution_time
        overlap = after_busy(
            definition.recurrence,
            _cursor(record),
            None if waiting is None else from_us(waiting),
            busy_since,
            ended,
            chained=_chained(definition),
            grace=self.settings.misfire_grace,
        )
        if overlap is None:
            return
        resume = overlap.resume
        record.history_seq += 1
        writes.entries.append(
            _engine_entry(
                record,
                ended,
                to_us(overlap.waited[0]),
                HistoryStatus.POSTPONED,
                postponed_message(overlap, busy_since),
                resume.cursor.done,
            )
        )
        writes.cursors.append(_cursor_values(record.id, resume))
        if resume.run:
            writes.follow_ups.append(
                _occurrence_row(
                    record.id, resume.slot, "scheduled", resume.cursor.done, resume.final
                )
                | {"due_at": to_us(ended)}
            )
            record.busy = True
            record.busy_since = to_us(ended)

    async def _purge(self, now: datetime) -> None:
        if self._next_purge is not None and now < self._next_purge:
            return
        self._next_purge = now + self.settings.purge_every
        settings = self.settings
        async with self._store.transaction() as conn:
            entries, removed = await self._store.purge(
                conn,
                to_us(now - settings.history_retention),
                settings.history_per_job,
                to_us(now - settings.finished_retention),
            )
        if entries or removed:
            log.info(
                "retention.purged",
                extra={"event": "retention.purged", "history": entries, "jobs": removed},
            )


@dataclass(slots=True)
class _Writes:
    """The statements one recording batch issues."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    done: list[tuple[int, int, str]] = field(default_factory=list)
    continued: list[dict[str, Any]] = field(default_factory=list)
    follow_ups: list[dict[str, Any]] = field(default_factory=list)
    finished: list[dict[str, Any]] = field(default_factory=list)  # Completed or Faulted
    cursors: list[dict[str, Any]] = field(default_factory=list)  # after an overlap


def _engine_entry(
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


def _cursor_values(job_id: int, decision: Claim) -> dict[str, Any]:
    """The job columns a claim moves: its cursor and its next execution time."""
    cursor = decision.cursor
    return {
        "id": job_id,
        "anchor": to_us(cursor.anchor),
        "last_occurrence": None if cursor.last is None else to_us(cursor.last),
        "occurrences_done": cursor.done,
        "next_execution_time": None if decision.next_time is None else to_us(decision.next_time),
    }


def _cursor(record: JobRecord) -> Cursor:
    last = None if record.last_occurrence is None else from_us(record.last_occurrence)
    return Cursor(from_us(record.anchor), last, record.occurrences_done)


def _chained(definition: JobDefinition) -> bool:
    """No startTime and no schedule: each run is one period after the last actual start."""
    recurrence = definition.recurrence
    return (
        definition.start_time is None
        and recurrence is not None
        and recurrence.effective_schedule is None
    )


def _key(occurrence: OccurrenceRecord) -> tuple[int, int, str]:
    return (occurrence.job_id, occurrence.scheduled_time, occurrence.kind)


def _occurrence_record(row: dict[str, Any]) -> OccurrenceRecord:
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


@dataclass(slots=True)
class _Claimed:
    occurrence: OccurrenceRecord
    job: JobRecord
    definition: JobDefinition


def _occurrence_row(
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
