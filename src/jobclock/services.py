"""Use cases shared by api/, web/ and cli/: the only door to the store.

Every method takes Azure-shaped JSON already decoded (``object``), reads it with
:mod:`jobclock.codec`, checks it with :mod:`jobclock.domain.limits`, and raises leaves of
the error tree; the edges map those to HTTP statuses or exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from jobclock.domain.collection import JobCollection
from jobclock.domain.history import HistoryEntry, HistoryStatus
from jobclock.domain.job import Job, JobState


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
class HistoryView:
    ref: JobRef
    entry: HistoryEntry


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; ``more`` tells whether items follow (for ``nextLink``)."""

    items: list[T]
    more: bool


@dataclass(frozen=True, slots=True)
class NodeView:
    name: str
    started_at: datetime
    heartbeat_at: datetime


# The state filter of Jobs_List and the status filter of Jobs_ListJobHistory.
JobFilter = JobState | None
HistoryFilter = HistoryStatus | None


class SchedulerService:
    """The use cases. Construct with :func:`jobclock.bootstrap.build`; all methods are async.

    Errors: ``CollectionNotFound`` (404 ``ResourceNotFound``) for a missing collection,
    ``NotFound`` (404) for a missing job, ``InvalidDefinition``/``MalformedJob`` (400) for bad
    bodies, ``QuotaExceeded`` (409) for plan and quota limits.
    """

    # -- collections ---------------------------------------------------------------------
    async def put_collection(self, ref: CollectionRef, body: object) -> tuple[CollectionView, bool]:
        """Create or replace (PUT); returns the view and True when it was created."""
        raise NotImplementedError

    async def patch_collection(self, ref: CollectionRef, body: object) -> CollectionView:
        """Deep-merge ``body`` into the stored collection (PATCH)."""
        raise NotImplementedError

    async def get_collection(self, ref: CollectionRef) -> CollectionView:
        raise NotImplementedError

    async def list_collections(
        self, subscription: str, resource_group: str | None
    ) -> list[CollectionView]:
        """All collections of a subscription (or of one resource group), by name."""
        raise NotImplementedError

    async def delete_collection(self, ref: CollectionRef) -> None:
        """Delete the collection, its jobs and their history."""
        raise NotImplementedError

    async def enable_collection(self, ref: CollectionRef) -> None:
        raise NotImplementedError

    async def disable_collection(self, ref: CollectionRef) -> None:
        raise NotImplementedError

    # -- jobs ----------------------------------------------------------------------------
    async def put_job(self, ref: JobRef, body: object) -> tuple[JobView, bool]:
        """Create or fully replace a job (PUT); returns the view and True when created."""
        raise NotImplementedError

    async def patch_job(self, ref: JobRef, body: object) -> JobView:
        """Deep-merge ``body`` into the stored job (PATCH); ``null`` deletes a key."""
        raise NotImplementedError

    async def get_job(self, ref: JobRef) -> JobView:
        raise NotImplementedError

    async def list_jobs(
        self, ref: CollectionRef, state: JobFilter, top: int | None, skip: int
    ) -> Page[JobView]:
        """Jobs of a collection by name, filtered by state, ``skip`` then at most ``top``."""
        raise NotImplementedError

    async def delete_job(self, ref: JobRef) -> None:
        raise NotImplementedError

    async def run_job(self, ref: JobRef) -> None:
        """Run the job's action now, outside its schedule (§5.9); returns before it runs."""
        raise NotImplementedError

    async def list_history(
        self, ref: JobRef, status: HistoryFilter, top: int | None, skip: int
    ) -> Page[HistoryView]:
        """The job's history, newest first, filtered by status, paged."""
        raise NotImplementedError
