"""What the store keeps, as typed, frozen values: the records it returns and the writes it
is given (:class:`jobclock.ports.JobStore`). Instants are aware UTC datetimes and choices
are enums; how they are laid out in tables is the store's business alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Final, Literal, NamedTuple

from jobclock.domain.collection import JobCollection
from jobclock.domain.history import ActionName, HistoryStatus
from jobclock.domain.job import JobState, JobStatus
from jobclock.domain.planning import Cursor, Phase


class _Keep(Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP  # a field of :meth:`StoredJob.updated` that stays as it is


class OccurrenceKind(Enum):
    """A slot of the job's schedule, a run-now outside it (§5.9), or a backfilled slot."""

    SCHEDULED = "scheduled"
    RUN = "run"
    BACKFILL = "backfill"  # a past slot run again on request (issue 14, item 7)


class OccurrenceKey(NamedTuple):
    """Which occurrence: its job, its slot and its kind. A job has at most one occurrence
    per slot and kind."""

    job_id: int
    slot: datetime
    kind: OccurrenceKind


@dataclass(frozen=True, slots=True)
class Lease:
    """An attempt held by ``node`` until ``until``; another node may take it over after."""

    node: str
    until: datetime


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence of a job and its next attempt: the main action (``attempt`` retries
    so far) or the error action, due at ``due_at``. ``final``: no slot follows it."""

    job_id: int
    slot: datetime
    kind: OccurrenceKind
    repeat_count: int
    final: bool
    phase: Phase
    attempt: int
    due_at: datetime
    execution_tag: str
    main_failed: bool

    @classmethod
    def first(
        cls,
        job_id: int,
        slot: datetime,
        kind: OccurrenceKind,
        repeat_count: int,
        final: bool,
        execution_tag: str,
        due_at: datetime | None = None,
    ) -> Occurrence:
        """An occurrence's first attempt: the main action, due at ``due_at`` (its slot)."""
        return cls(
            job_id=job_id,
            slot=slot,
            kind=kind,
            repeat_count=repeat_count,
            final=final,
            phase=Phase.MAIN,
            attempt=0,
            due_at=slot if due_at is None else due_at,
            execution_tag=execution_tag,
            main_failed=False,
        )

    @property
    def key(self) -> OccurrenceKey:
        return OccurrenceKey(self.job_id, self.slot, self.kind)


@dataclass(frozen=True, slots=True)
class CollectionPlace:
    """Where a collection lives, spelled as created (lookups ignore case)."""

    subscription: str
    resource_group: str
    name: str


@dataclass(frozen=True, slots=True)
class StoredCollection:
    id: int
    place: CollectionPlace
    collection: JobCollection


@dataclass(frozen=True, slots=True)
class StoredCalendar:
    """A collection's holiday calendar: its name as given and its properties as JSON text
    (the store keeps the text as it is given and never reads it)."""

    collection_id: int
    name: str
    body: str
    place: CollectionPlace | None = None  # the engine's routing table reads it too


@dataclass(frozen=True, slots=True)
class StoredJob:
    """A job as stored: its definition in the stored form (secrets sealed; the store never
    reads it), its state and cursor, its counters, and whether an occurrence of its
    schedule is running (``busy``, since ``busy_since``)."""

    id: int
    collection_id: int
    collection_name: str
    name: str
    definition: str
    state: JobState
    cursor: Cursor
    status: JobStatus
    history_seq: int
    busy: bool
    busy_since: datetime | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def next_time(self) -> datetime | None:
        return self.status.next_execution_time

    def updated(
        self,
        *,
        state: JobState | None = None,
        cursor: Cursor | None = None,
        status: JobStatus | None = None,
        history_seq: int | None = None,
        busy: bool | None = None,
        busy_since: datetime | Literal[_Keep.KEEP] | None = KEEP,
        finished_at: datetime | Literal[_Keep.KEEP] | None = KEEP,
    ) -> StoredJob:
        """A copy with the given fields changed, the others kept. The engine copies a job
        record a few times per fire; this costs a fraction of ``dataclasses.replace``,
        which looks the fields up on every call."""
        return StoredJob(
            self.id, self.collection_id, self.collection_name, self.name, self.definition,
            self.state if state is None else state,
            self.cursor if cursor is None else cursor,
            self.status if status is None else status,
            self.history_seq if history_seq is None else history_seq,
            self.busy if busy is None else busy,
            self.busy_since if busy_since is KEEP else busy_since,
            self.created_at,
            self.finished_at if finished_at is KEEP else finished_at,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Schedule:
    """A job's definition and the schedule it starts from, as a PUT writes them."""

    definition: str
    state: JobState
    cursor: Cursor
    next_time: datetime | None
    finished_at: datetime | None
    expect_by: datetime | None = None  # overdue from then on (expectRunWithin)


@dataclass(frozen=True, slots=True)
class HistoryKey:
    """Where an entry stands in its job's history, newest first: its start time, then the
    order the store wrote it in (``written``, unique per store), so the order is total and
    stable. Keyset paging lists the entries after one (older than it). Only a position:
    it names no job, and one no entry has still is a place in the order."""

    start_time: datetime
    written: int


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One history entry of a job (an attempt, a postponement, a fault).

    ``written`` is the order the store wrote it in, set by the store on the entries it
    reads back (0 on one not written yet); it is the store's bookkeeping, not part of the
    entry, so two entries that differ only there are equal."""

    job_id: int
    history_id: str
    start_time: datetime
    end_time: datetime
    expected_time: datetime
    action_name: ActionName
    status: HistoryStatus
    message: str
    retry_count: int
    repeat_count: int
    written: int = field(default=0, compare=False)

    @property
    def key(self) -> HistoryKey:
        """The entry's place in its job's history (:class:`HistoryKey`)."""
        return HistoryKey(self.start_time, self.written)


@dataclass(frozen=True, slots=True)
class JobEnd:
    """A job whose series ended: Completed or Faulted at ``at``."""

    job_id: int
    state: JobState
    at: datetime


@dataclass(frozen=True, slots=True)
class NodeBeat:
    name: str
    started_at: datetime
    heartbeat_at: datetime


@dataclass(slots=True)
class EngineWrites:
    """What one engine transaction writes, applied in this order:

    - ``entries``: history entries, appended;
    - ``done``: occurrences that ended, deleted;
    - ``continued``: occurrences whose next attempt (a retry or the error action) is due
      at their ``due_at``: their phase, attempt, due time, ``main_failed`` and execution
      tag replaced, pending again, without a lease;
    - ``started``: new occurrences, running under the transaction's lease (only
      :meth:`~jobclock.ports.JobStore.schedule_due` and ``claim_attempts`` have one);
    - ``follow_ups``: new occurrences, pending;
    - ``progress``: of each job, its counters, last execution time, ``history_seq`` and
      busy mark (never its state or next time: a user may have changed them meanwhile);
    - ``cursors``: of each job, its cursor, next execution time and busy mark;
    - ``ended``: series that ended: the job's state and end, and no next time, only where
      the job is still Enabled (a job disabled meanwhile keeps the user's state);
    - ``notices``: notices to deliver, inserted pending (issue 15);
    - ``expectations``: of jobs with expectRunWithin, when they are next overdue.
    """

    entries: list[StoredEntry] = field(default_factory=list)
    done: list[OccurrenceKey] = field(default_factory=list)
    continued: list[Occurrence] = field(default_factory=list)
    started: list[Occurrence] = field(default_factory=list)
    follow_ups: list[Occurrence] = field(default_factory=list)
    progress: list[StoredJob] = field(default_factory=list)
    cursors: list[StoredJob] = field(default_factory=list)
    ended: list[JobEnd] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (
                self.entries,
                self.done,
                self.continued,
                self.started,
                self.follow_ups,
                self.progress,
                self.cursors,
                self.ended,
                self.notices,
                self.expectations,
            )
        )


class NoticeStatus(Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Notice:
    """One event for one endpoint of a collection (``endpoint``: its name), as stored.
    ``id`` is None until stored. ``event`` is the CloudEvent's JSON, sent as it is."""

    collection_id: int
    endpoint: str
    event_id: str
    event_type: str
    job: str
    event: str
    due_at: datetime
    created_at: datetime
    status: NoticeStatus = NoticeStatus.PENDING
    attempts: int = 0
    updated_at: datetime | None = None
    message: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class NoticeOutcome:
    """How a delivery attempt of notice ``id`` went: ``due_at`` set when it is tried again."""

    id: int
    status: NoticeStatus
    attempts: int
    message: str
    at: datetime
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Expectation:
    """Job ``job_id`` is next overdue at ``expect_by`` (None: it expects nothing)."""

    job_id: int
    expect_by: datetime | None


@dataclass(frozen=True, slots=True)
class StoredEndpoint:
    """A notification endpoint as stored: its JSON body with its keys sealed."""

    collection_id: int
    name: str
    body: str
    place: CollectionPlace | None = None  # the engine's routing table reads it too
