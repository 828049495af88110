"""What the service layer returns: where a resource lives and views of it, shared by the
API, the portal and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from jobclock.domain.calendar import Calendar
from jobclock.domain.collection import JobCollection
from jobclock.domain.history import HistoryEntry, HistoryStatus
from jobclock.domain.job import Job, JobState
from jobclock.domain.notification import Endpoint


@dataclass(frozen=True, slots=True)
class CollectionRef:
    """Where a collection lives: ARM names are case-insensitive (§1.2)."""

    subscription: str
    resource_group: str
    name: str


@dataclass(frozen=True, slots=True)
class JobRef:
    collection: CollectionRef
    name: str


@dataclass(frozen=True, slots=True)
class CollectionView:
    """A stored collection and where it lives (the ARM envelope needs both)."""

    ref: CollectionRef
    collection: JobCollection


@dataclass(frozen=True, slots=True)
class JobView:
    ref: JobRef
    job: Job


@dataclass(frozen=True, slots=True)
class CalendarView:
    """A collection's holiday calendar (issue 14, item 4) and the jobs that follow it."""

    collection: CollectionRef
    name: str
    calendar: Calendar
    jobs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EndpointView:
    """A collection's notification endpoint (issue 15, item 5)."""

    collection: CollectionRef
    name: str
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class HistoryView:
    ref: JobRef
    entry: HistoryEntry


T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class UnreadableJobView:
    """A stored job that cannot be read back, and why (a row from an older version)."""

    ref: JobRef
    reason: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T, K]):
    """One page of a list; ``more`` tells whether items follow (for ``nextLink``).

    ``unreadable``: the jobs of the page that could not be read, left out of ``items``; the
    page spans ``len(items) + len(unreadable)`` rows. ``last``: the position of its last row
    (None when it has none), the ``after`` of the next page (keyset paging)."""

    items: list[T]
    more: bool
    unreadable: list[UnreadableJobView] = field(default_factory=list)
    last: K | None = None

    @property
    def rows(self) -> int:
        """How many stored rows the page covers (for the next page's ``$skip``)."""
        return len(self.items) + len(self.unreadable)


@dataclass(frozen=True, slots=True)
class NodeView:
    """A node that ran against this database; ``alive`` when it beat within the last 30 s."""

    name: str
    started_at: datetime
    heartbeat_at: datetime
    alive: bool


# The state filter of Jobs_List and the status filter of Jobs_ListJobHistory.
JobFilter = JobState | None
HistoryFilter = HistoryStatus | None


@dataclass(frozen=True, slots=True)
class CollectionSummary:
    """A collection in the portal's list: its jobs and the last day's attempts."""

    view: CollectionView
    jobs: int
    completed: int
    failed: int

    @property
    def success_rate(self) -> float | None:
        attempts = self.completed + self.failed
        return None if attempts == 0 else self.completed / attempts


@dataclass(frozen=True, slots=True)
class AttemptBucket:
    """Attempts that started in ``[start, start + width)``, by outcome."""

    start: datetime
    completed: int
    failed: int
    postponed: int
