"""The engine's loop: claims due work, runs attempts with bounded concurrency, and hands
finished ones to recording (:mod:`jobclock.engine.recording`); leases, the heartbeat and
takeover are :mod:`jobclock.engine.leases`.

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
import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from jobclock.codec.stored import StoredDefinitions
from jobclock.domain.actions import ActionType, ErrorAction, JobAction
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.execution import (
    DEFAULT_ATTEMPT_SECONDS,
    EXECUTOR_GRACE_SECONDS,
    AttemptContext,
    AttemptResult,
    Invocation,
)
from jobclock.domain.history import ActionName
from jobclock.domain.host_limits import HostLimit
from jobclock.domain.instants import format_instant
from jobclock.domain.job import JobDefinition
from jobclock.domain.limits import check_rendered
from jobclock.domain.notification import EventType
from jobclock.domain.planning import (
    DEFAULT_MISFIRE_GRACE,
    RUN_NOW_WAIT,
    Phase,
    chained,
    claim,
    run_now_waits,
)
from jobclock.domain.records import (
    EngineWrites,
    Occurrence,
    OccurrenceKey,
    OccurrenceKind,
    StoredJob,
)
from jobclock.domain.template import TemplateValues
from jobclock.domain.templated import rendered
from jobclock.engine.caps import HostCaps, Stopping
from jobclock.engine.leases import Leases
from jobclock.engine.notifying import Notifier
from jobclock.engine.recording import CHUNK, Claimed, Finished, Recorder, moved, new_occurrence
from jobclock.ports import ActionExecutor, Clock, JobStore, Metrics, Tracing, Wakeup

log = logging.getLogger("jobclock.engine")

CLAIM_INTERVAL = timedelta(milliseconds=50)


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
    # With several nodes on one database, a node schedules the jobs of its share as soon as
    # they are due and the others' this much later (domain/shares.py): the work spreads
    # over the nodes, and a dead or overloaded node's jobs are taken a moment later.
    share_delay: timedelta = timedelta(seconds=1)
    # Other engines share this store even on SQLite (the worker processes of ``jobclock
    # serve --workers``): at start, only the attempts leased to this node are its own.
    recover_only_own: bool = False
    # Per-target caps (JOBCLOCK_HOST_LIMITS), across every node of the database.
    host_limits: tuple[HostLimit, ...] = ()


class Engine:
    """The scheduler loop over a store, the executors and one clock."""

    def __init__(
        self,
        store: JobStore,
        definitions: StoredDefinitions,
        executors: Mapping[ActionType, ActionExecutor],
        clock: Clock,
        settings: EngineSettings | None = None,
        wakeup: Wakeup | None = None,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._store = store
        self._tracing = tracing
        self._metrics: Metrics = metrics if metrics is not None else NoMetrics()
        # When the loop last completed a step (None: not yet); read by ``problem``.
        self.last_step: datetime | None = None
        self._wakeup = wakeup
        self._definitions = definitions
        self._executors = executors
        self._clock = clock
        self.settings = settings or EngineSettings()
        self._caps = HostCaps(
            store, clock, self.settings.node, self.settings.host_limits, self._metrics
        )
        self._notifier = Notifier(
            store, definitions, clock, self.settings.node, self.settings.region,
            self.settings.lease, wake=self.wake,
        )  # fmt: skip
        self._recorder = Recorder(
            store, self._definition, self.settings.node, self.settings.misfire_grace,
            metrics=self._metrics, clock=clock, notifier=self._notifier,
        )  # fmt: skip
        self._leases = Leases(
            store,
            self.settings.node,
            self.settings.lease,
            self.settings.heartbeat,
            self.settings.share_delay,
            self.settings.recover_only_own,
        )
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._cache: dict[str, JobDefinition] = {}
        self._next_purge: datetime | None = None
        self._stopping = False
        self._started = False
        self._next_claim = datetime.min.replace(tzinfo=UTC)
        # Attempts claimed ahead, waiting for their instant: cancelled if their job is
        # disabled or deleted meanwhile (see ``changed``).
        self._waiting: dict[OccurrenceKey, tuple[asyncio.Task[None], int]] = {}
        self._recheck = False

    # -- the loop ------------------------------------------------------------------------
    async def start(self) -> None:
        """Recover: attempts this node left running when it stopped are tried again."""
        await self._leases.recover(self._clock.now())

    async def _record(self) -> None:
        await self._recorder.record()

    @property
    def _finished(self) -> list[Finished]:
        return self._recorder.finished

    async def tick(self) -> int:
        """One step: record what finished, schedule due jobs, run every due attempt to its
        end, record them."""
        now = self._clock.now()
        self._notifier.changed()  # a test's endpoints are read at every tick
        await self._notifier.refresh(now)
        await self._record()
        attempts = await self._schedule(now, self.settings.batch)
        attempts += await self._claim_attempts(now, self.settings.batch - len(attempts))
        await asyncio.gather(*(self._attempt(item) for item in attempts))
        await self._record()
        await self._notify(now, wait=True)
        await self._purge(now)
        return len(attempts)

    async def _notify(self, now: datetime, *, wait: bool) -> None:
        """Notifications: the routing table, the dead-man's switch, due deliveries."""
        await self._notifier.refresh(now)
        await self._notifier.overdue(now, self._window_of)
        await self._notifier.deliver(
            now, self._executors.get(ActionType.HTTP), self._leases.taken(now), wait
        )

    def _window_of(self, record: StoredJob) -> timedelta | None:
        try:
            window = self._definition(record).expect_run_within
        except Exception:  # unreadable: it is faulted when it next comes due
            return None
        return None if window is None else window.value

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
        if self._wakeup is not None:
            listener = asyncio.create_task(self._wakeup.listen(stop, self.changed))
        while not stop.is_set():
            try:
                if not self._started:
                    # Once only: after a database error, this node's attempts in flight are
                    # still its own (their leases are renewed), so nothing is reset and re-sent.
                    await self.start()
                    self._started = True
                await self._step(stop)
                failures = 0
                self.last_step = self._clock.now()
                self._metrics.stepped(self.last_step)
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

    def problem(self, now: datetime) -> str | None:
        """Why this engine is not ready at ``now``: its loop has not completed a step for a
        lease's time (the database fails, or the loop is stuck), or never did."""
        last = self.last_step
        if last is None:
            return "the engine has not completed its first step"
        if now - last > self.settings.lease:
            seconds = int((now - last).total_seconds())
            return f"the engine's last completed step was {seconds} seconds ago"
        return None

    async def _step(self, stop: asyncio.Event) -> None:
        now = self._clock.now()
        await self._leases.renew(now)
        self._metrics.leases(len(self._leases.held))
        await self._notifier.refresh(now)  # before recording: it routes the events
        await self._drop_disabled()
        await self._record()
        await self._notify(now, wait=False)
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
            await self._next_wakeup(now) - self.settings.lookahead,
            self._leases.next_renewal or now,
        )
        # Attempts that finish during that round trip wake the clock: the sleep returns at
        # once (the clock keeps a wake-up until a sleep consumes it; only this loop sleeps
        # on it).
        if wake_at > self._clock.now():
            await self._sleep(wake_at, stop)

    async def shutdown(self) -> None:
        """Let attempts in flight finish (each is bounded by its own timeout) and record them."""
        self._stopping = True
        self._caps.stop()
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=self.settings.shutdown_grace)
        try:
            await self._notifier.close()
        except Exception:  # unsettled notices are delivered again once their lease expires
            log.exception("engine.notices_unsettled", extra={"event": "engine.notices_unsettled"})
        try:
            await self._record()
        except Exception:  # attempts not recorded stay "running" and run again at start
            log.exception(
                "engine.shutdown_unrecorded", extra={"event": "engine.shutdown_unrecorded"}
            )
        try:
            await self._store.leave(self.settings.node)  # the others take its share now
        except Exception:  # they will once its heartbeat is a lease old
            log.exception("engine.leave_failed", extra={"event": "engine.leave_failed"})

    def wake(self) -> None:
        self._clock.wake()

    def changed(self) -> None:
        """A job or a collection was written (through this node's API or another node):
        the attempts claimed ahead that have not started yet are checked again, and those
        whose job or collection is no longer enabled (or is gone) do not fire."""
        self._recheck = True
        self._notifier.changed()
        self._caps.changed()
        self.wake()

    async def _drop_disabled(self) -> None:
        if not self._recheck:
            return
        self._recheck = False
        waiting = {key: job for key, (_, job) in self._waiting.items()}
        dropped = await self._store.drop_waiting(waiting, self._cancel_waiting)
        if dropped:
            log.info("attempt.dropped", extra={"event": "attempt.dropped", "count": len(dropped)})

    def _cancel_waiting(self, keys: list[OccurrenceKey]) -> list[OccurrenceKey]:
        """Cancel these attempts claimed ahead, those not started meanwhile; which were."""
        dropped = [key for key in keys if key in self._waiting]
        for key in dropped:
            self._waiting.pop(key)[0].cancel()
        return dropped

    async def _sleep(self, until: datetime, stop: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep_until(until))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, stopper):
            task.cancel()

    async def _next_wakeup(self, now: datetime) -> datetime:
        # A busy job's slot counts once it is beyond the lookahead (nearer, waking for it
        # could only spin until it is due).
        found = await self._store.next_wakeup(now + self.settings.lookahead, self._leases.share)
        idle = now + self.settings.idle
        if self._in_flight and self.settings.concurrency - len(self._in_flight) <= 0:
            return idle  # woken when an attempt finishes
        return idle if found is None else min(idle, found)

    # -- scheduling ----------------------------------------------------------------------
    def _definition(self, record: StoredJob) -> JobDefinition:
        found = self._cache.get(record.definition)
        if found is None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            found = self._definitions.load(record.definition)
            self._cache[record.definition] = found
        # Cached by text, which two jobs may share; a jitter is the job's own.
        return found.of_job(record.collection_name, record.name)

    async def _schedule(
        self, now: datetime, capacity: int, ahead: timedelta = timedelta(0)
    ) -> list[Claimed]:
        """Turn up to ``capacity`` jobs due by ``now + ahead`` into occurrences (or skips), in
        one transaction, and return the new occurrences, written as running, to be run at
        their time. Due jobs beyond ``capacity`` stay due, for this node's next step or
        another node: a node never claims more than it can start (that would only make them
        late and postpone their next slots)."""
        limit = min(capacity, self.settings.batch)
        if limit <= 0:
            return []
        plans: list[_Plan] = []

        async def plan(due: list[StoredJob]) -> EngineWrites:
            plans.append(await self._plan(due, now))
            return plans[-1].writes

        began = self._clock.now()
        await self._store.schedule_due(
            now + ahead, limit, plan, self._leases.taken(now), self._leases.share
        )
        self._metrics.claimed((self._clock.now() - began).total_seconds())
        if not plans:
            return []
        self._metrics.missed(plans[-1].skipped)  # the transaction that was written
        return plans[-1].started

    async def _plan(self, due: list[StoredJob], now: datetime) -> _Plan:
        """What scheduling writes for these due jobs: each job's cursor and the occurrence it
        runs now (leased to this node, as running), or why it cannot be read."""
        plan = _Plan()
        for index, record in enumerate(due):
            if index % CHUNK == CHUNK - 1:
                await asyncio.sleep(0)  # let the attempts' timers fire on time
            try:
                definition = self._definition(record)
                update, occurrence = self._schedule_job(record, definition, now)
            except Exception as error:  # this job's stored data: it alone stops
                self._recorder.fault(plan.writes, [(record, error)], now)
                continue
            plan.writes.cursors.append(update)
            if occurrence is None:
                plan.skipped += 1
                self._missed(record, now, plan.writes)
            if occurrence is not None:
                plan.writes.started.append(occurrence)
                plan.started.append(Claimed(occurrence, record, definition))
        return plan

    def _missed(self, record: StoredJob, now: datetime, writes: EngineWrites) -> None:
        """A slot found too late (the service was down, its node died, the job was
        disabled): ``occurrence.missed`` for the collection's endpoints."""
        slot = record.next_time
        if slot is None:
            return
        event = self._notifier.event(
            EventType.OCCURRENCE_MISSED, record, now, scheduled=slot,
            repeat_count=record.cursor.done + 1,
            message=f"The occurrence due at {format_instant(slot)} was found "
            f"{(now - slot).total_seconds():.0f} s late and skipped.",
            details={"reason": "late"},
        )  # fmt: skip
        self._notifier.notices(record, event, writes)

    def _schedule_job(
        self, record: StoredJob, definition: JobDefinition, now: datetime
    ) -> tuple[StoredJob, Occurrence | None]:
        """The job with its new cursor, and the occurrence that runs now if one does (due
        jobs are never busy: a busy job's slots are decided when its occurrence is
        recorded)."""
        slot = record.next_time
        assert slot is not None  # noqa: S101 - due jobs have one
        decision = claim(
            definition.recurrence,
            record.cursor,
            slot,
            now,
            chained=chained(definition.start_time, definition.recurrence),
            grace=self.settings.misfire_grace,
            catch_up=definition.catch_up,
        )
        if not decision.run:
            log.info("occurrence.skipped", extra={"event": "occurrence.skipped", "id": record.id})
            return moved(record, decision), None
        # A job that never ran starts at its latest due slot; it is busy from its start,
        # unless its occurrences may overlap (then it stays claimable while this one runs).
        exclusive = definition.overlap_policy.exclusive
        update = moved(record, decision, busy_since=max(now, decision.slot) if exclusive else None)
        occurrence = new_occurrence(
            record.id, decision.slot, OccurrenceKind.SCHEDULED, decision.cursor.done,
            decision.final,
        )  # fmt: skip
        return update, occurrence

    async def _claim_attempts(self, now: datetime, limit: int) -> list[Claimed]:
        """Retries, runs and taken-over attempts due now, at most ``limit``; an attempt of
        a job that cannot be read is dropped and its job faulted."""
        if limit <= 0:
            return []
        claimed: list[Claimed] = []

        async def plan(found: list[tuple[Occurrence, StoredJob]]) -> EngineWrites:
            claimed.clear()  # a retried transaction starts again
            writes, broken = EngineWrites(), {}
            for occurrence, record in found:
                try:
                    definition = self._definition(record)
                except Exception as error:  # this job's stored data: it alone stops
                    broken[record.id] = (record, error)
                    writes.done.append(occurrence.key)
                    continue
                if _first_run_now(occurrence) and run_now_waits(definition.overlap, record.busy):
                    # The job's occurrence still runs: look again soon.
                    writes.continued.append(replace(occurrence, due_at=now + RUN_NOW_WAIT))
                    continue
                claimed.append(Claimed(occurrence, record, definition))
            self._recorder.fault(writes, list(broken.values()), now)
            return writes

        began = self._clock.now()
        await self._store.claim_attempts(now, limit, self._leases.taken(now), plan)
        self._metrics.claimed((self._clock.now() - began).total_seconds())
        return claimed

    # -- attempts ------------------------------------------------------------------------
    async def _attempt(self, claimed: Claimed, notify: bool = False, timed: bool = False) -> None:
        """Run one attempt and queue its result for recording; ``timed``: not before its
        due time (a slot claimed ahead starts from a timer at its instant)."""
        occurrence, record, definition = claimed.occurrence, claimed.job, claimed.definition
        if timed:
            await self._until_due(occurrence)
        action = definition.action
        target, context = _invocation(occurrence, record, definition, self.settings.region)
        span = None if self._tracing is None else self._tracing.start(context, target.type.value)
        if span is not None:
            context = replace(context, traceparent=span.traceparent)
        held = occurrence.key
        self._leases.held.add(held)
        kind = target.type.value
        permits: list[str] = []
        try:
            invocation, refused = _prepared(target, occurrence, context, self._clock.now())
            if refused is None:  # held back by its host's cap, outside the slots
                try:
                    permits = await self._caps.admitted(invocation, context, record.collection_id)
                except Stopping:  # not sent: it runs after a takeover or a restart
                    if span is not None:
                        span.end(False, "not sent: the engine stopped")
                    return
            async with self._slots:
                started = self._clock.now()
                if _first_try(occurrence):
                    self._metrics.fired(kind, (started - occurrence.slot).total_seconds())
                self._metrics.in_flight(1)
                try:
                    result = refused or await self._invoke(invocation, context)
                finally:
                    self._metrics.in_flight(-1)
                ended = self._clock.now()
        finally:
            self._leases.held.discard(held)
            if permits:
                await self._caps.released(permits)
        self._metrics.attempted(
            kind, result.succeeded, occurrence.attempt > 0, (ended - started).total_seconds()
        )
        if span is not None:
            span.end(result.succeeded, result.message)
        window = definition.expect_run_within
        self._finished.append(
            Finished(
                occurrence, record, action, started, ended, result,
                None if window is None else window.value,
            )
        )  # fmt: skip
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

    async def _until_due(self, occurrence: Occurrence) -> None:
        """Wait for the occurrence's due time (a slot claimed ahead); meanwhile it can be
        dropped (see ``changed``)."""
        delay = (occurrence.due_at - self._clock.now()).total_seconds()
        if delay <= 0:
            return
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - always run as a task
        self._waiting[occurrence.key] = (task, occurrence.job_id)
        try:
            await asyncio.sleep(delay)
        finally:
            self._waiting.pop(occurrence.key, None)

    async def _invoke(self, invocation: Invocation, context: AttemptContext) -> AttemptResult:
        executor = self._executors.get(invocation.type)
        if executor is None:
            return AttemptResult(
                False, f"{invocation.type.value} actions are not supported by this server."
            )
        # The executor keeps to the attempt's timeout; this bound only stops one that hangs.
        limit = context.seconds(DEFAULT_ATTEMPT_SECONDS) + EXECUTOR_GRACE_SECONDS
        try:
            async with asyncio.timeout(limit):
                return await executor.execute(invocation, context)
        except TimeoutError:
            log.error("attempt.hung", extra={"event": "attempt.hung", "job": context.job})
            return AttemptResult(
                False,
                f"{invocation.type.value} Action - the attempt did not end within "
                f"{context.seconds(DEFAULT_ATTEMPT_SECONDS):g} seconds.",
            )
        except Exception as exc:  # an executor bug must not stop the engine
            log.exception("attempt.crashed", extra={"event": "attempt.crashed"})
            return AttemptResult(False, f"{invocation.type.value} Action - internal error: {exc}")

    async def _purge(self, now: datetime) -> None:
        if self._next_purge is not None and now < self._next_purge:
            return
        self._next_purge = now + self.settings.purge_every
        settings = self.settings
        entries, removed = await self._store.purge(
            now - settings.history_retention,
            settings.history_per_job,
            now - settings.finished_retention,
        )
        if entries or removed:
            log.info(
                "retention.purged",
                extra={"event": "retention.purged", "history": entries, "jobs": removed},
            )


@dataclass(slots=True)
class _Plan:
    """What one scheduling transaction writes (see ``Engine._plan``)."""

    started: list[Claimed] = field(default_factory=list)
    writes: EngineWrites = field(default_factory=EngineWrites)
    skipped: int = 0  # slots found too late, skipped


def _invocation(
    occurrence: Occurrence, record: StoredJob, definition: JobDefinition, region: str
) -> tuple[JobAction | ErrorAction, AttemptContext]:
    """The action an attempt invokes (the main one, or the error action in its phase) and
    the context its executor sends along (§5.2)."""
    action, phase = definition.action, occurrence.phase
    timeout = definition.attempt_timeout
    target: JobAction | ErrorAction = action
    if phase is Phase.ERROR and action.error_action is not None:
        target = action.error_action
    first = occurrence.attempt == 0 and phase is Phase.MAIN
    context = AttemptContext(
        collection=record.collection_name,
        job=record.name,
        execution_tag=occurrence.execution_tag,
        request_id=str(uuid.UUID(int=random.getrandbits(128), version=4)),
        expected_time=occurrence.slot if first else occurrence.due_at,
        region=region,
        action_name=ActionName.MAIN_ACTION if phase is Phase.MAIN else ActionName.ERROR_ACTION,
        retry_count=occurrence.attempt,
        repeat_count=occurrence.repeat_count,
        timeout=None if timeout is None else timeout.value.total_seconds(),
    )
    return target, context


def _prepared(
    target: JobAction | ErrorAction,
    occurrence: Occurrence,
    context: AttemptContext,
    started: datetime,
) -> tuple[Invocation, AttemptResult | None]:
    """What the attempt invokes: the payload with its templates rendered for this attempt;
    or, when rendering fails (the output grew past a limit), the failed result it records
    instead of sending anything."""
    payload = target.payload
    if not payload.template:
        return Invocation(target.type, payload), None
    values = TemplateValues(
        scheduled_time=occurrence.slot,
        actual_time=started,
        execution_tag=context.execution_tag,
        job=context.job,
        collection=context.collection,
        attempt=occurrence.attempt,
    )
    try:
        payload = rendered(payload, values)
        check_rendered(payload, "rendered")
    except InvalidDefinition as error:
        message = f"{target.type.value} Action - the template could not be rendered: {error}"
        return Invocation(target.type, target.payload), AttemptResult(False, message)
    except Exception as error:  # a bug of the renderer fails this attempt, not the engine
        log.exception("template.crashed", extra={"event": "template.crashed"})
        message = f"{target.type.value} Action - internal error rendering the template: {error}"
        return Invocation(target.type, target.payload), AttemptResult(False, message)
    return Invocation(target.type, payload), None


def _first_try(occurrence: Occurrence) -> bool:
    """The first attempt of a scheduled occurrence: its lateness is measured from its slot
    (a run-now has none; a backfilled slot is in the past by design)."""
    return (
        occurrence.phase is Phase.MAIN
        and occurrence.attempt == 0
        and occurrence.kind is OccurrenceKind.SCHEDULED
    )


def _first_run_now(occurrence: Occurrence) -> bool:
    return (
        occurrence.kind is OccurrenceKind.RUN
        and occurrence.phase is Phase.MAIN
        and occurrence.attempt == 0
    )


class NoMetrics:
    """Counts nothing: an engine built without metrics (tests, tools)."""

    def fired(self, action: str, lateness: float) -> None:
        return None

    def attempted(self, action: str, succeeded: bool, retry: bool, seconds: float) -> None:
        return None

    def in_flight(self, delta: int) -> None:
        return None

    def missed(self, count: int) -> None:
        return None

    def postponed(self, count: int) -> None:
        return None

    def claimed(self, seconds: float) -> None:
        return None

    def recorded(self, seconds: float) -> None:
        return None

    def held_back(self, action: str, seconds: float) -> None:
        return None

    def leases(self, held: int) -> None:
        return None

    def stepped(self, at: datetime) -> None:
        return None
