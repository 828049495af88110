"""Execution policy (§5): every decision the engine makes, as pure functions.

The engine claims work, runs attempts and stores results; what to do next is decided here:
whether a late slot runs or is skipped, what the job's cursor becomes after a claim, what
follows an attempt (a retry, the error action, or the end of the occurrence), how counters
move and when a job completes or faults.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from jobclock.domain.actions import JobAction
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.job import CatchUp, CatchUpPolicy, JobState, JobStatus, OverlapPolicy
from jobclock.domain.occurrences import latest_at_or_before, next_occurrence, occurrences
from jobclock.domain.recurrence import Recurrence
from jobclock.domain.retry_policy import effective_retry_policy

# A slot found this late was missed (the service was down, or the job or its collection was
# disabled): it is skipped, not replayed (§5.1). A slot less late than this runs late.
DEFAULT_MISFIRE_GRACE = timedelta(seconds=60)


class Phase(Enum):
    MAIN = "main"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a job's series stands: its anchor, the last slot claimed and how many ran."""

    anchor: datetime
    last: datetime | None
    done: int


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of finding a job due: run ``slot`` or not, and the job's new cursor."""

    run: bool
    slot: datetime
    cursor: Cursor
    next_time: datetime | None

    @property
    def final(self) -> bool:
        """No occurrence follows this one: when it ends, the job completes or faults."""
        return self.next_time is None


def first_time(recurrence: Recurrence | None, anchor: datetime, now: datetime) -> datetime | None:
    """The next execution time of a job that is (re)scheduled at ``now`` (PUT, enable)."""
    return next_occurrence(recurrence, anchor, now)


def claim(
    recurrence: Recurrence | None,
    cursor: Cursor,
    slot: datetime,
    now: datetime,
    *,
    chained: bool,
    grace: timedelta = DEFAULT_MISFIRE_GRACE,
    catch_up: CatchUp | None = None,
) -> Claim:
    """A job is due at ``slot`` (``slot <= now``): decide and advance its cursor.

    A recurring slot later than ``grace`` was missed: by default (``catch_up`` None or
    ``skip``) it is skipped and the series resumes at the next slot from ``now``; ``once``
    runs the latest missed slot (within the catch-up window) and resumes after ``now``;
    ``all`` runs each missed slot within the window, in turn. A one-time job runs however
    late. ``chained`` jobs (no startTime, no schedule: §4.2) re-anchor on the actual start,
    so their next run is ``now + period``; they owe no missed slot.
    """
    grace = _grace_of(catch_up, grace)
    caught_up = False
    if recurrence is not None and now - slot > grace:
        found = None if chained else _missed_slot(recurrence, cursor, slot, now, catch_up)
        if found is None:
            resumed = next_occurrence(recurrence, cursor.anchor, now, cursor.last, cursor.done)
            return Claim(False, slot, cursor, resumed)
        slot, caught_up = found, catch_up is not None and catch_up.policy is CatchUpPolicy.ONCE
    elif recurrence is not None and not chained and cursor.last is None and cursor.done == 0:
        # A job that never ran owes no past slot (§4.2: a start in the past skips to the
        # current slot): when it is claimed late, it starts at its latest due slot.
        slot = _latest_due(recurrence, cursor, slot, now)
    # A chained job re-anchors on its actual start: now, or its slot when claimed ahead.
    anchor = max(now, slot) if chained and recurrence is not None else cursor.anchor
    advanced = Cursor(anchor, slot, cursor.done + 1)
    if recurrence is None:
        return Claim(True, slot, advanced, None)
    # The next slot is the one after `slot`, even when it is already due: a run late by less
    # than the grace lets the slots behind it run too (each is judged against the grace when
    # it is claimed). A chained job's next run is one period after this one's actual start;
    # a job that caught up once goes on after now.
    if chained:
        following = next_occurrence(recurrence, anchor, anchor, anchor, advanced.done)
    elif caught_up:
        following = next_occurrence(recurrence, anchor, now + _TICK, slot, advanced.done)
    else:
        following = next_occurrence(recurrence, anchor, slot, slot, advanced.done)
    return Claim(True, slot, advanced, following)


def _grace_of(catch_up: CatchUp | None, grace: timedelta) -> timedelta:
    """How late a slot may run before it counts as missed: the engine's grace, a ``skip``
    policy's window (which may widen it), or for ``once`` and ``all`` the shorter of the
    grace and the window (a slot older than the window is never caught up)."""
    if catch_up is None or catch_up.window is None:
        return grace
    if catch_up.policy is CatchUpPolicy.SKIP:
        return catch_up.window.value
    return min(grace, catch_up.window.value)


def _missed_slot(
    recurrence: Recurrence,
    cursor: Cursor,
    slot: datetime,
    now: datetime,
    catch_up: CatchUp | None,
) -> datetime | None:
    """The missed slot that runs now under ``catch_up`` (None: none does): ``once``, the
    latest at or before ``now``; ``all``, the first within the window, from ``slot`` on."""
    if catch_up is None or catch_up.policy is CatchUpPolicy.SKIP:
        return None
    floor = None if catch_up.window is None else now - catch_up.window.value
    if catch_up.policy is CatchUpPolicy.ONCE:
        latest = latest_at_or_before(recurrence, cursor.anchor, now, cursor.last, cursor.done)
        if latest is None or (floor is not None and latest < floor):
            return None
        return latest
    if floor is None or slot >= floor:
        return slot
    first = next_occurrence(recurrence, cursor.anchor, floor, cursor.last, cursor.done)
    return None if first is None or first > now else first


def resumed_time(
    recurrence: Recurrence | None, cursor: Cursor, now: datetime, catch_up: CatchUp | None
) -> datetime | None:
    """The next time of a job whose collection is enabled again at ``now``: its next slot
    from ``now`` (missed slots are not caught up, §5.9), or with a ``once`` or ``all``
    catch-up its first slot since it last ran within the window, which is due at once
    (:func:`claim` then decides which of the missed slots run)."""
    if recurrence is None or catch_up is None or catch_up.policy is CatchUpPolicy.SKIP:
        return next_occurrence(recurrence, cursor.anchor, now, cursor.last, cursor.done)
    since = cursor.anchor if catch_up.window is None else now - catch_up.window.value
    return next_occurrence(recurrence, cursor.anchor, since, cursor.last, cursor.done)


def _latest_due(recurrence: Recurrence, cursor: Cursor, slot: datetime, now: datetime) -> datetime:
    """The last slot at or before ``now`` from ``slot`` on (bounded: past the grace a claim
    skips anyway, so only a grace's worth of slots is ever walked)."""
    for _ in range(MAX_POSTPONED):
        after = next_occurrence(recurrence, cursor.anchor, slot, slot, cursor.done)
        if after is None or after > now:
            break
        slot = after
    return slot


# Slots counted one by one when an occurrence ends with overlapping slots behind it; past
# this many the rest are skipped without being counted (an every-second job would need a
# run of almost three hours to get there).
MAX_POSTPONED = 10_000


@dataclass(frozen=True, slots=True)
class Overlap:
    """What follows an occurrence during whose run further slots came due (§5.1).

    ``waited`` are the slots that came due while it ran (the first ``MAX_POSTPONED``), in
    order; they get one ``Postponed`` entry together (none when empty: a ``BufferAll`` job
    running a slot it owed from before). ``resume`` is the claim that follows: a slot that
    runs now, or none (``run`` False) and the job's next slot after them, as ``policy``
    says."""

    waited: tuple[datetime, ...]
    resume: Claim
    policy: OverlapPolicy = OverlapPolicy.POSTPONE

    @property
    def skipped(self) -> int:
        if self.policy is OverlapPolicy.BUFFER_ALL:
            return 0
        return len(self.waited) - (1 if self.resume.run else 0)


# A buffered slot runs however late it is: it waited for the job, not for the service.
_OWED = timedelta.max


def after_busy(
    recurrence: Recurrence | None,
    cursor: Cursor,
    waiting: datetime | None,
    busy_since: datetime,
    ended: datetime,
    *,
    chained: bool,
    grace: timedelta = DEFAULT_MISFIRE_GRACE,
    policy: OverlapPolicy = OverlapPolicy.POSTPONE,
) -> Overlap | None:
    """An occurrence that ran from ``busy_since`` to ``ended`` is over; ``waiting`` is the
    job's next slot. None when nothing overlapped: the next slot is still ahead, or it was
    already due when the occurrence started (backlog: it and the slots after it run one by
    one, each judged against the grace when it is claimed), or the job's occurrences may
    overlap (``AllowAll``: its slots were claimed on time).

    Otherwise the slots in ``(busy_since, ended]`` waited for the occurrence, and
    ``policy`` decides (``properties.overlapPolicy``):

    * ``Postpone`` (Azure's): the latest runs now and the others are skipped, so a job
      whose target hangs runs once after each hang instead of replaying it (and writes one
      ``Postponed`` entry per hang, not one per slot);
    * ``Skip``: none runs; the job goes on at its first slot after ``ended``;
    * ``BufferOne``: the first runs now (however late), the others are skipped;
    * ``BufferAll``: the first runs now and each later one when the one before it ends,
      however late: a slot already due when a ``BufferAll`` occurrence started is owed
      too, not backlog.
    """
    if recurrence is None or waiting is None or waiting > ended:
        return None
    if policy is OverlapPolicy.ALLOW_ALL:
        return None
    if waiting <= busy_since:
        if policy is not OverlapPolicy.BUFFER_ALL:
            return None
        following = _due_during(recurrence, cursor, waiting, busy_since, ended, chained)
        return Overlap(
            following,
            claim(recurrence, cursor, waiting, ended, chained=chained, grace=_OWED),
            policy,
        )
    waited = [waiting, *_due_during(recurrence, cursor, waiting, waiting, ended, chained)]
    if policy is OverlapPolicy.POSTPONE:
        resume = claim(recurrence, cursor, waited[-1], ended, chained=chained, grace=grace)
    elif policy is OverlapPolicy.SKIP:
        after = _first_after(recurrence, cursor, waited[-1], ended, cursor.done)
        resume = Claim(False, waited[-1], cursor, after)
    else:
        resume = claim(recurrence, cursor, waited[0], ended, chained=chained, grace=_OWED)
        if policy is OverlapPolicy.BUFFER_ONE and resume.next_time is not None:
            after = _first_after(recurrence, resume.cursor, waited[-1], ended, resume.cursor.done)
            resume = replace(resume, next_time=after)
    return Overlap(tuple(waited), resume, policy)


def _due_during(
    recurrence: Recurrence,
    cursor: Cursor,
    last: datetime,
    since: datetime,
    ended: datetime,
    chained: bool,
) -> tuple[datetime, ...]:
    """The slots after ``last`` in ``(since, ended]``, at most ``MAX_POSTPONED`` (none for a
    chained job, whose next run is one period after the last actual start)."""
    if chained:
        return ()
    found: list[datetime] = []
    while len(found) < MAX_POSTPONED:
        after = next_occurrence(recurrence, cursor.anchor, last, last, cursor.done)
        if after is None or after > ended:
            break
        last = after
        if after > since:
            found.append(after)
    return tuple(found)


def _first_after(
    recurrence: Recurrence, cursor: Cursor, last: datetime, ended: datetime, done: int
) -> datetime | None:
    """The job's first slot after ``ended`` (and after ``last``)."""
    return next_occurrence(recurrence, cursor.anchor, ended + _TICK, last, done)


_TICK = timedelta(microseconds=1)


# Occurrences one backfill runs at most, and how far apart they start by default.
MAX_BACKFILL = 1000
DEFAULT_BACKFILL_PACE = timedelta(seconds=1)


def backfill_slots(
    recurrence: Recurrence | None,
    anchor: datetime,
    since: datetime,
    until: datetime,
    now: datetime,
) -> list[datetime]:
    """The job's slots in ``[since, until]`` for ``POST .../backfill``: its schedule's
    (startTime, recurrence, endTime, exdates; not its cursor or count, which a backfill
    does not use), a one-time job's start. Raises ``InvalidDefinition`` for a range that
    is reversed, reaches past ``now``, or holds more than ``MAX_BACKFILL``."""
    if since > until:
        raise InvalidDefinition("'from' must not be after 'to'.", field="to")
    if until > now:
        raise InvalidDefinition(
            "'to' is in the future: a backfill runs past occurrences only "
            "(use run-now for one now).",
            field="to",
        )
    if recurrence is None:
        return [anchor] if since <= anchor <= until else []
    counted = replace(recurrence, count=None)
    found: list[datetime] = []
    for slot in occurrences(counted, anchor, since):
        if slot > until:
            break
        if len(found) >= MAX_BACKFILL:
            raise InvalidDefinition(
                f"The range holds more than {MAX_BACKFILL} occurrences; backfill at most "
                f"{MAX_BACKFILL} at a time.",
                field="to",
            )
        found.append(slot)
    return found


def run_now_waits(policy: OverlapPolicy | None, busy: bool) -> bool:
    """A run-now's first attempt waits while the job's scheduled occurrence runs when the
    job sets an overlapPolicy that keeps its occurrences apart; without one (Azure's jobs)
    or with ``AllowAll`` it runs at once, beside it."""
    return busy and policy is not None and policy.exclusive


def run_now_refused(policy: OverlapPolicy | None, busy: bool) -> bool:
    """``Skip``: a run-now asked for while the job's scheduled occurrence runs is refused
    (nothing is stored), as a slot that came due then would be skipped."""
    return busy and policy is OverlapPolicy.SKIP


# How often a waiting run-now looks whether the job's occurrence has ended.
RUN_NOW_WAIT = timedelta(seconds=1)


def postponed_message(overlap: Overlap, busy_since: datetime) -> str:
    """The message of the one ``Postponed`` entry of an overlap."""
    waited = overlap.waited
    count = len(waited)
    slots = (
        _instant(waited[0]) if count == 1 else f"{_instant(waited[0])} to {_instant(waited[-1])}"
    )
    told = (
        f"{count} occurrence{'s' if count > 1 else ''} ({slots}) came due while the previous "
        f"occurrence of the job, started at {_instant(busy_since)}, was still running"
    )
    if len(waited) >= MAX_POSTPONED:
        told += f" (the first {MAX_POSTPONED} are counted)"
    latest = _instant(waited[-1])
    policy = overlap.policy
    if policy is OverlapPolicy.SKIP:
        return f"{told}; {'it is' if count == 1 else 'they are'} skipped (overlapPolicy Skip)."
    if policy is OverlapPolicy.BUFFER_ALL:
        wait = (
            "it waited and runs now" if count == 1 else "they wait and run in turn, the first now"
        )
        return f"{told}; {wait} (overlapPolicy BufferAll)."
    if policy is OverlapPolicy.BUFFER_ONE and count > 1:
        return (
            f"{told}; the first, {_instant(waited[0])}, runs now and the other {count - 1} are "
            "skipped (overlapPolicy BufferOne)."
        )
    if not overlap.resume.run:
        return f"{told}; they are skipped: the latest, {latest}, is past the misfire grace."
    if count == 1:
        return f"{told}; it was postponed and runs now."
    return f"{told}; the latest, {latest}, runs now and the other {count - 1} are skipped."


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StepKind(Enum):
    RETRY = "retry"
    ERROR_ACTION = "error_action"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Step:
    """What follows an attempt; ``due`` for a retry or the error action."""

    kind: StepKind
    phase: Phase
    attempt: int
    due: datetime | None
    main_failed: bool


def after_attempt(
    action: JobAction,
    phase: Phase,
    attempt: int,
    succeeded: bool,
    main_failed: bool,
    now: datetime,
    *,
    slot: datetime | None = None,
    draw: float = 0.5,
) -> Step:
    """After attempt ``attempt`` (0 = first) of ``phase``: retry, error action, or done (§5.5).

    ``slot``: the occurrence's scheduled time, which ``maxAge`` counts from (None: no
    limit); ``draw``: a random number in [0, 1) for an exponential policy's jitter."""
    if succeeded:
        return Step(StepKind.DONE, phase, attempt, None, main_failed)
    if phase is Phase.MAIN:
        policy = effective_retry_policy(action.retry_policy)
    else:
        error = action.error_action
        policy = effective_retry_policy(None if error is None else error.retry_policy)
    if attempt < policy.retries:
        due = now + policy.wait(attempt + 1, draw)
        if slot is None or not policy.gives_up(slot, due):
            return Step(StepKind.RETRY, phase, attempt + 1, due, main_failed)
    if phase is Phase.MAIN and action.error_action is not None:
        return Step(StepKind.ERROR_ACTION, Phase.ERROR, 0, now, True)
    return Step(StepKind.DONE, phase, attempt, None, main_failed or phase is Phase.MAIN)


def count_attempt(status: JobStatus, phase: Phase, succeeded: bool, exhausted: bool) -> JobStatus:
    """Counters after one attempt (§5.7): main attempts count, error-action attempts do not;
    a main action whose last retry failed adds a fault."""
    if phase is not Phase.MAIN:
        return status
    return JobStatus(  # positionally: this runs once per fire
        status.execution_count + 1,
        status.failure_count + (0 if succeeded else 1),
        status.faulted_count + (1 if exhausted else 0),
        status.last_execution_time,
        status.next_execution_time,
    )


def state_after_occurrence(final: bool, main_failed: bool) -> JobState | None:
    """The job's state once its occurrence ends: None (unchanged) unless it was the last.

    The main action decides: a last occurrence whose main action failed after all retries
    faults the job even when the error action succeeded (§11 Q5)."""
    if not final:
        return None
    return JobState.FAULTED if main_failed else JobState.COMPLETED


@dataclass(frozen=True, slots=True)
class Attempted:
    """What one finished attempt decides (§5.5, §5.7): what follows it, the job's counters
    after it, and whether it was the occurrence's first main attempt (whose start is the
    job's last execution time and whose expected time is the slot itself)."""

    step: Step
    status: JobStatus
    first: bool


def attempted(
    action: JobAction,
    phase: Phase,
    attempt: int,
    succeeded: bool,
    main_failed: bool,
    ended: datetime,
    status: JobStatus,
    *,
    slot: datetime | None = None,
    draw: float = 0.5,
) -> Attempted:
    step = after_attempt(
        action, phase, attempt, succeeded, main_failed, ended, slot=slot, draw=draw
    )
    exhausted = phase is Phase.MAIN and not succeeded and step.kind is not StepKind.RETRY
    return Attempted(
        step,
        count_attempt(status, phase, succeeded, exhausted),
        attempt == 0 and phase is Phase.MAIN,
    )


@dataclass(frozen=True, slots=True)
class Ending:
    """What follows a scheduled occurrence that has ended (§5.1, §5.7).

    ``state``: Completed or Faulted when the series ended with it (None: the job goes on,
    or a user changed its state meanwhile, which is kept). ``overlap``: the slots that came
    due while it ran (one Postponed entry; the latest runs now or is skipped), None when
    nothing overlapped (the next slot is ahead, or it was backlog already due when the
    occurrence started, claimed in turn)."""

    state: JobState | None
    overlap: Overlap | None


def after_occurrence(
    *,
    state: JobState,
    final: bool,
    main_failed: bool,
    recurrence: Recurrence | None,
    cursor: Cursor,
    waiting: datetime | None,
    busy_since: datetime,
    ended: datetime,
    chained: bool,
    grace: timedelta = DEFAULT_MISFIRE_GRACE,
    policy: OverlapPolicy = OverlapPolicy.POSTPONE,
) -> Ending:
    if state is not JobState.ENABLED:
        return Ending(None, None)
    finished = state_after_occurrence(final, main_failed)
    if finished is not None:
        return Ending(finished, None)
    overlap = after_busy(
        recurrence, cursor, waiting, busy_since, ended, chained=chained, grace=grace,
        policy=policy,
    )  # fmt: skip
    return Ending(None, overlap)


def chained(start_time: datetime | None, recurrence: Recurrence | None) -> bool:
    """No startTime and no schedule: each run is one period after the last actual start
    (§4.2, the faithful mode)."""
    return (
        start_time is None
        and recurrence is not None
        and recurrence.cron is None
        and recurrence.rrule is None
        and recurrence.effective_schedule is None
    )
