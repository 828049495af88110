"""Jobs: definition, state and status (§1.3, §1.4, §3.1)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum

from jobclock.domain.actions import JobAction
from jobclock.domain.durations import Duration
from jobclock.domain.recurrence import Recurrence, jitter_seed


class JobState(Enum):
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    FAULTED = "Faulted"
    COMPLETED = "Completed"

    @property
    def settable(self) -> bool:
        """Users may set only Enabled and Disabled (§1.3)."""
        return self in (JobState.ENABLED, JobState.DISABLED)

    @property
    def terminal(self) -> bool:
        return self in (JobState.FAULTED, JobState.COMPLETED)


class OverlapPolicy(Enum):
    """``properties.overlapPolicy`` (jobclock's extension): what a slot that comes due while
    the job's previous occurrence still runs does (:func:`planning.after_busy`)."""

    POSTPONE = "Postpone"  # Azure's (§5.1): the latest waits and runs when it ends
    SKIP = "Skip"  # none of them runs
    BUFFER_ONE = "BufferOne"  # the first waits and runs when it ends; the others are skipped
    BUFFER_ALL = "BufferAll"  # every one waits and they run one after another
    ALLOW_ALL = "AllowAll"  # each starts on time, beside the one still running

    @property
    def exclusive(self) -> bool:
        """A running occurrence keeps the job busy: its next slots wait for it to end."""
        return self is not OverlapPolicy.ALLOW_ALL


class CatchUpPolicy(Enum):
    """What the slots a job missed (the service was down, or its collection disabled) do."""

    SKIP = "skip"  # none runs (Azure's): the job goes on at its next slot
    ONCE = "once"  # the latest of them runs once
    ALL = "all"  # every one runs, in turn


@dataclass(frozen=True, slots=True)
class CatchUp:
    """``properties.catchUp`` (jobclock's extension). ``window``: how far back a missed slot
    is still caught up (``skip``: the misfire grace, a slot less late runs late); None:
    the engine's grace for ``skip``, no limit for ``once`` and ``all``."""

    policy: CatchUpPolicy = CatchUpPolicy.SKIP
    window: Duration | None = None


@dataclass(frozen=True, slots=True)
class JobStatus:
    """Server-computed counters and times (§1.4); ``next_execution_time`` None = none due."""

    execution_count: int = 0
    failure_count: int = 0
    faulted_count: int = 0
    last_execution_time: datetime | None = None
    next_execution_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobDefinition:
    """What a user declares: the action, when, and whether it is enabled.

    ``start_time`` None means "not given": the job is anchored at its creation (§4.2).
    """

    action: JobAction
    start_time: datetime | None = None
    recurrence: Recurrence | None = None
    state: JobState = JobState.ENABLED
    overlap: OverlapPolicy | None = None  # None: Postpone, and not shown
    catch_up: CatchUp | None = None  # None: Azure's (skip past the grace), and not shown
    # How long one attempt may take; None: Azure's 60 s, and not shown.
    attempt_timeout: Duration | None = None
    # The dead-man's switch: occurrence.missed when no run succeeds in this window.
    expect_run_within: Duration | None = None

    @property
    def overlap_policy(self) -> OverlapPolicy:
        return OverlapPolicy.POSTPONE if self.overlap is None else self.overlap

    def of_job(self, collection: str, name: str) -> JobDefinition:
        """This definition as job ``name`` of ``collection``'s: a jitter depends on the job
        (:meth:`Recurrence.seeded`). Unchanged without one."""
        recurrence = self.recurrence
        if recurrence is None or recurrence.jitter is None:
            return self
        return replace(self, recurrence=recurrence.seeded(jitter_seed(collection, name)))


@dataclass(frozen=True, slots=True)
class Job:
    """A stored job: its place, its definition and its status.

    ``anchor`` is its effective start (None: not known, e.g. not stored yet): the
    startTime, or without one when the job was saved; a chained job (§4.2) moves it to
    each actual start. Not on the wire: Azure showed no startTime that was not given."""

    collection: str
    name: str
    definition: JobDefinition
    status: JobStatus = field(default_factory=JobStatus)
    anchor: datetime | None = None

    @property
    def state(self) -> JobState:
        return self.definition.state
