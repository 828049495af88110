"""Every seam of jobclock, as Protocols. Each docstring is the contract.

The domain depends on none of these; the engine, the services and the edges depend on
these and never on a concrete adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Protocol

from jobclock.domain.access import AuditEntry, PortalSession, StoredToken
from jobclock.domain.collection import CollectionState, JobCollection, Sku
from jobclock.domain.execution import AttemptContext, AttemptResult, Invocation
from jobclock.domain.history import HistoryStatus
from jobclock.domain.host_limits import Admission, HostLimit
from jobclock.domain.job import JobState
from jobclock.domain.records import (
    CollectionPlace,
    EngineWrites,
    HistoryKey,
    Lease,
    NodeBeat,
    Notice,
    NoticeOutcome,
    Occurrence,
    OccurrenceKey,
    Schedule,
    StoredCalendar,
    StoredCollection,
    StoredEndpoint,
    StoredEntry,
    StoredJob,
)
from jobclock.domain.shares import Share


class Clock(Protocol):
    """The one source of "now". Nothing else reads the wall clock.

    ``now()`` always returns an aware UTC datetime and never goes backwards for one clock
    instance. ``sleep_until(instant)`` returns once ``now() >= instant`` (a fake clock returns
    when a test advances it there) or earlier when ``wake()`` is called, so a newly created
    job can shorten the engine's wait.
    """

    def now(self) -> datetime: ...

    async def sleep_until(self, instant: datetime) -> None: ...

    def wake(self) -> None: ...


class ActionExecutor(Protocol):
    """Invokes one action type (one module per type, chosen from a closed registry).

    ``execute`` performs exactly one attempt and never raises for a failure of the target
    (refused connection, timeout, non-2xx, TLS error, broker error): it returns
    ``AttemptResult(succeeded=False, message=...)`` with a message fit for the history
    entry. It raises only for programming errors. It must not log or return secrets.
    Retries are the engine's business, not the executor's.
    """

    async def execute(self, invocation: Invocation, context: AttemptContext) -> AttemptResult: ...

    async def aclose(self) -> None:
        """Release pooled connections; called once at shutdown."""
        ...


class Wakeup(Protocol):
    """Wake-ups across the nodes of one database: a node that changes a job or a collection
    signals, and every node's engine hears it (so a job created through one node fires on
    time on another, and an attempt claimed ahead for a job just disabled is dropped).

    ``listen`` calls ``changed()`` (cheap, never blocking) for each signal until ``stop`` is
    set, then returns. It never raises: a lost connection is logged and listened to again.
    It returns at once where there is nothing to listen to (one node: SQLite). A signal may
    be lost while reconnecting; the engine's own timer still finds the work.
    """

    async def listen(self, stop: asyncio.Event, changed: Callable[[], None]) -> None: ...


class Metrics(Protocol):
    """What the engine counts and times, for ``GET /metrics``. Every method is cheap, safe
    from any thread, and never raises. ``action`` is an action type's wire name
    (``Http``, ``StorageQueue``...); durations and lateness are seconds."""

    def fired(self, action: str, lateness: float) -> None:
        """An occurrence's first attempt started ``lateness`` after its scheduled time."""
        ...

    def attempted(self, action: str, succeeded: bool, retry: bool, seconds: float) -> None:
        """An attempt ended (``retry``: it was a retry, not an occurrence's first try)."""
        ...

    def in_flight(self, delta: int) -> None:
        """Attempts running now went up or down by ``delta``."""
        ...

    def missed(self, count: int) -> None:
        """Slots skipped: found too late to run (missed while down or disabled)."""
        ...

    def postponed(self, count: int) -> None:
        """Slots that came due while their job's occurrence still ran."""
        ...

    def claimed(self, seconds: float) -> None:
        """A scheduling or claiming transaction took ``seconds``."""
        ...

    def recorded(self, seconds: float) -> None:
        """A recording transaction took ``seconds``."""
        ...

    def held_back(self, action: str, seconds: float) -> None:
        """An attempt waited ``seconds`` for its target host's cap (JOBCLOCK_HOST_LIMITS)."""
        ...

    def leases(self, held: int) -> None:
        """This node holds ``held`` attempt leases."""
        ...

    def stepped(self, at: datetime) -> None:
        """The engine's loop completed a step at ``at``."""
        ...


class Span(Protocol):
    """One attempt's trace span: ``traceparent`` is what its HTTP request carries."""

    traceparent: str

    def end(self, succeeded: bool, message: str) -> None:
        """The attempt ended; never raises."""
        ...


class Tracing(Protocol):
    """Spans per attempt (OpenTelemetry when an exporter is configured). Its trace id is
    the attempt's execution tag, so a trace and the ``x-ms-execution-tag`` header match."""

    def start(self, context: AttemptContext, action: str) -> Span: ...


class Dispatch(Protocol):
    """Where ``jobclock serve`` runs its engine: a thread of the server process
    (:class:`jobclock.engine.runner.EngineThread`) or worker processes, each a node of its
    own (:class:`jobclock.workers.Workers`). Every method is safe to call from any thread.

    ``start`` returns once dispatch runs (it raises ``RuntimeError`` if it cannot start);
    ``wake`` says a job or a collection was written (look for due work now); ``stop`` asks
    for a clean stop (attempts in flight finish and are recorded) and ``join`` waits for it,
    True once everything ended. ``error`` is why dispatch ended by itself, if it did.
    """

    error: BaseException | None

    def start(self, timeout: float = 30.0) -> None: ...

    def wake(self) -> None: ...

    def stop(self) -> None: ...

    def join(self, timeout: float | None = None) -> bool: ...

    def problem(self, now: datetime) -> str | None:
        """Why dispatch is not ready at ``now`` (it stopped, or its loop has not completed
        a step for a lease's time), or None when it is."""
        ...


class SecretBox(Protocol):
    """Encrypts secrets at rest. ``open(seal(x)) == x``; ``seal`` output is ASCII text and
    reveals nothing of ``x`` but its rough length. ``open`` raises ``ValueError`` for text
    that was not sealed with this box's key."""

    def seal(self, plaintext: str) -> str: ...

    def open(self, sealed: str) -> str: ...


class AccessStore(Protocol):
    """Tokens, portal sessions, failed sign-ins and the audit trail, shared by every node.

    Each method is one transaction of its own and sees what every node has committed, so a
    revoked token or an ended session is refused everywhere from the next request on.
    Names are matched case-insensitively. Secrets never reach the store: a token is kept
    as its public id and a digest, a session as the digest of its id.
    """

    async def add_token(self, token: StoredToken) -> bool:
        """Store a new token; False (and nothing stored) when the name is taken."""
        ...

    async def token_by_id(self, token_id: str) -> StoredToken | None: ...

    async def list_tokens(self) -> list[StoredToken]:
        """Every token, by name."""
        ...

    async def remove_token(self, name: str) -> StoredToken | None:
        """Delete the token and every session it opened; the removed token, or None."""
        ...

    async def add_session(self, digest: str, session: PortalSession) -> None:
        """Store a session and drop the expired ones (of every identity)."""
        ...

    async def session(self, digest: str) -> PortalSession | None:
        """The session with this digest, expired or not (the caller checks the expiry)."""
        ...

    async def remove_session(self, digest: str) -> None:
        """End one session; nothing happens for an unknown digest."""
        ...

    async def add_failure(self, client: str, at: datetime, forget_before: datetime) -> None:
        """Record a failed sign-in of ``client`` and forget every failure before
        ``forget_before`` (of every client), so the table stays small."""
        ...

    async def failures(self, client: str, since: datetime) -> list[datetime]:
        """``client``'s failed sign-ins at or after ``since``, oldest first."""
        ...

    async def clear_failures(self, client: str) -> None: ...

    async def append_audit(self, entry: AuditEntry) -> None:
        """Append one entry (its ``id`` is assigned by the store and increases)."""
        ...

    async def audit(
        self, *, before_id: int | None, top: int, identity: str | None = None
    ) -> list[AuditEntry]:
        """At most ``top`` entries, newest first, with an id below ``before_id`` when given,
        of one identity when given (keyset paging: the last id is the next page's key)."""
        ...


class JobReads(Protocol):
    """The reads of one transaction: every one sees the same snapshot (and, in a
    :class:`JobWrites`, the transaction's own writes). Lists come in a stable order;
    names are compared case-insensitively, and text in code-point order on every backend.
    A missing entity is ``None`` (or left out), never an error: the services decide."""

    async def find_collection(self, place: CollectionPlace) -> StoredCollection | None: ...

    async def list_collections(
        self, subscription: str, resource_group: str | None
    ) -> list[StoredCollection]:
        """A subscription's collections (of one resource group when given), by name."""
        ...

    async def all_collections(self) -> list[StoredCollection]:
        """Every collection, by subscription, resource group and name."""
        ...

    async def count_collections(self, subscription: str, sku: Sku) -> tuple[int, int]:
        """(collections with plan ``sku``, all collections) of a subscription."""
        ...

    async def job_counts(self) -> dict[int, int]:
        """How many jobs each collection holds, by collection id (none: left out)."""
        ...

    async def find_job(self, collection_id: int, name: str) -> StoredJob | None: ...

    async def list_jobs(
        self,
        collection_id: int,
        state: JobState | None = None,
        limit: int | None = None,
        offset: int = 0,
        name_contains: str | None = None,
        *,
        after: str | None = None,
    ) -> list[StoredJob]:
        """A collection's jobs by name, of one state and with ``name_contains`` in their
        name when given; ``offset`` skipped, then at most ``limit``.

        Names are ordered case-insensitively, in code-point order of their lower-case form
        on every backend (names are unique that way, so the order is total). With ``after``
        (keyset paging: the last name of the page before) only the jobs whose name sorts
        after it are listed, and ``offset`` counts from there: ``after`` is a position, not
        a job, so it may name none (one deleted since, or never there), and reading from it
        costs the same wherever it is (an index serves it)."""
        ...

    async def count_jobs(self, collection_id: int) -> int: ...

    async def list_history(
        self,
        job_id: int,
        status: HistoryStatus | None,
        limit: int | None,
        offset: int,
        *,
        after: HistoryKey | None = None,
    ) -> list[StoredEntry]:
        """A job's entries, newest first (by start time, then the order they were written),
        of one status when given; ``offset`` skipped, then at most ``limit``. Each entry
        read back carries its ``written`` order, so ``entry.key`` is its place.

        With ``after`` (keyset paging: the ``key`` of the page's last entry) only the
        entries older than it are listed, and ``offset`` counts from there; entries written
        meanwhile are newer, so they are never listed twice. ``after`` is a position only:
        one no entry has is still a place in the order, and reading from it costs the same
        wherever it is (an index serves it)."""
        ...

    async def history_entry(self, job_id: int, history_id: str) -> StoredEntry | None: ...

    async def attempt_counts(
        self,
        since: datetime,
        bucket: timedelta,
        *,
        collection_id: int | None = None,
        job_id: int | None = None,
    ) -> list[tuple[int, HistoryStatus, int]]:
        """Entries that started at or after ``since``, counted per window of ``bucket``
        and status, as (window index, status, count): of one job, one collection or all."""
        ...

    async def status_counts(self, since: datetime) -> dict[int, dict[HistoryStatus, int]]:
        """Entries that started at or after ``since``, per collection id and status."""
        ...

    async def list_nodes(self) -> list[NodeBeat]:
        """The nodes that ever ran an engine on this database, by name."""
        ...

    async def find_calendar(
        self, collection_id: int, name: str, *, lock: bool = False
    ) -> StoredCalendar | None:
        """The collection's calendar called ``name``, compared without case. With ``lock``
        (in a write transaction) its row stays locked until the transaction ends: a job
        saved with its holidays and a replacement of the calendar are then one after the
        other, never both from the same old version."""
        ...

    async def find_endpoint(
        self, collection_id: int, name: str, *, lock: bool = False
    ) -> StoredEndpoint | None:
        """A collection's notification endpoint by name (case-insensitive); ``lock``: held
        until the transaction ends (PostgreSQL)."""
        ...

    async def list_endpoints(self, collection_id: int) -> list[StoredEndpoint]:
        """A collection's notification endpoints, by name."""
        ...

    async def list_notices(self, collection_id: int, endpoint: str, limit: int) -> list[Notice]:
        """The newest ``limit`` notices of an endpoint (its delivery history), newest first."""
        ...

    async def list_calendars(self, collection_id: int) -> list[StoredCalendar]:
        """The collection's calendars, by lower-cased name in code-point order."""
        ...


class JobWrites(JobReads, Protocol):
    """One write transaction (see :meth:`JobStore.transaction`). Every write is applied
    when the transaction commits, all or nothing; the ids a write returns are final."""

    async def insert_collection(
        self, place: CollectionPlace, collection: JobCollection, created_at: datetime
    ) -> int:
        """A new collection (its place is free: the caller looked) and its id;
        ``created_at`` is kept for operators, not read back."""
        ...

    async def update_collection(self, collection_id: int, collection: JobCollection) -> None:
        """Replace the collection's location, plan, state, quota and tags."""
        ...

    async def set_collection_state(self, collection_id: int, state: CollectionState) -> None: ...

    async def delete_collection(self, collection_id: int) -> None:
        """Delete the collection with its jobs, their occurrences and their history."""
        ...

    async def insert_job(
        self, collection_id: int, name: str, schedule: Schedule, created_at: datetime
    ) -> int:
        """A new job (no counters, not busy) and its id; the name is free in the collection."""
        ...

    async def reschedule_job(self, job_id: int, schedule: Schedule) -> None:
        """Replace the job's definition, state and cursor; its counters and history stay,
        and an occurrence running keeps running."""
        ...

    async def replace_definition(self, job_id: int, definition: str) -> None:
        """Replace only the stored definition: the schedule stands."""
        ...

    async def delete_job(self, job_id: int) -> None:
        """Delete the job, its occurrences and its history."""
        ...

    async def flip_job_states(
        self,
        collection_id: int,
        from_state: JobState,
        to_state: JobState,
        next_time: Callable[[StoredJob], datetime | None],
    ) -> None:
        """Set every ``from_state`` job of the collection to ``to_state`` with the next
        time ``next_time`` gives it, in id order (see :meth:`JobStore.record`)."""
        ...

    async def lock_jobs(self, ids: Collection[int]) -> dict[int, StoredJob]:
        """These jobs (by id) read again, their rows locked against every other writer
        (the engine's claims included) until the transaction ends, in id order; what the
        caller computes from them and writes back is then no lost update."""
        ...

    async def retime_job(self, job_id: int, definition: str, next_time: datetime | None) -> None:
        """Replace the job's definition and next execution time only: its state, cursor,
        counters and busy mark stay as they are."""
        ...

    async def put_calendar(self, collection_id: int, name: str, body: str) -> bool:
        """Create the collection's calendar ``name`` or replace the body of the one of that
        name (compared without case, which keeps its first spelling); True when created."""
        ...

    async def put_endpoint(self, collection_id: int, name: str, body: str) -> bool:
        """Create or replace a notification endpoint; True when created."""
        ...

    async def delete_endpoint(self, collection_id: int, name: str) -> bool:
        """Delete an endpoint and its notices; False when there was none."""
        ...

    async def delete_calendar(self, collection_id: int, name: str) -> bool:
        """Delete the collection's calendar ``name``; False when it had none."""
        ...

    async def add_occurrence(self, occurrence: Occurrence) -> None:
        """A pending occurrence (a run-now). When the job already has one with this key
        (two run-nows in the same microsecond) it raises the store's own integrity error
        (SQLAlchemy's ``IntegrityError``, ``ValueError`` in memory) and the transaction
        stores nothing."""
        ...

    async def notify(self) -> None:
        """When this transaction commits, every node's :class:`Wakeup` hears it."""
        ...


class JobStore(Protocol):
    """Collections, jobs, their occurrences and history, shared by every node.

    The services work in :meth:`reading` and :meth:`transaction`; the engine calls one
    method per engine transaction, and passes the policy (pure planning) that decides
    what it writes. Every method that writes is one transaction: on an error (raised by
    the store, or by the policy it was given) nothing of it is stored.

    Leases: an attempt is run by the node that holds its lease. A node renews its leases
    while its attempts run (:meth:`renew`); an expired lease (its node died or was cut
    off) lets any node take the attempt over (:meth:`claim_attempts`). A node that lost a
    lease records nothing for that attempt (:meth:`record`): the node that took it over
    does, so each attempt is recorded exactly once.

    Concurrency: two nodes never schedule the same job at once (:meth:`schedule_due`
    skips jobs another transaction holds) and never claim the same attempt; jobs' rows
    are written in id order so that concurrent transactions cannot deadlock.
    """

    def reading(self) -> AbstractAsyncContextManager[JobReads]:
        """A transaction that only reads: one consistent snapshot, never waiting for a
        writer."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[JobWrites]:
        """A write transaction: committed when the block ends, rolled back when it raises.
        What it reads stays true until it commits (no other write comes between). They do
        not nest."""
        ...

    # -- the engine's transactions -------------------------------------------------------
    async def recover(
        self, node: str, started: datetime, now: datetime, only_own: bool = False
    ) -> int:
        """``node`` starts: the attempts it left running (on a store only one node uses,
        SQLite or memory: every running one, unless ``only_own``) are pending again (at
        least once), their jobs' occurrences start again ``now`` (slots missed meanwhile
        are backlog, not an overlap), and its heartbeat is written. Returns how many
        attempts were reset. ``only_own``: other engines share this store (the worker
        processes of ``jobclock serve --workers``), so only attempts leased to ``node``
        are its own; another's are taken over when their leases expire."""
        ...

    async def renew(
        self,
        node: str,
        started: datetime,
        now: datetime,
        held: Collection[OccurrenceKey],
        until: datetime,
    ) -> list[NodeBeat]:
        """Write ``node``'s heartbeat and push the leases it holds on ``held`` to ``until``
        (a lease it lost stays lost). Returns every node's heartbeat as stored then, this
        one's included (from which a node knows its :class:`Share`)."""
        ...

    async def leave(self, node: str) -> None:
        """``node`` stops: its heartbeat is removed, so the other nodes count it out of the
        shares at their next heartbeat instead of once it is a lease old. Its leases stay
        (an attempt it still holds is taken over when they expire)."""
        ...

    async def schedule_due(
        self,
        until: datetime,
        limit: int,
        plan: Callable[[list[StoredJob]], Awaitable[EngineWrites]],
        lease: Lease,
        share: Share | None = None,
    ) -> EngineWrites:
        """At most ``limit`` jobs due by ``until`` (enabled, in an enabled collection, not
        busy), earliest first, held against every other scheduler until the end: ``plan``
        decides what to write (each job's cursor, the occurrences that start, leased with
        ``lease``, and faults), and the store writes it. Returns the writes (empty when
        no job was due). With a ``share``, a job outside it is due only ``share.delay``
        after its next time (its own node schedules it first)."""
        ...

    async def claim_attempts(
        self,
        now: datetime,
        limit: int,
        lease: Lease,
        plan: Callable[[list[tuple[Occurrence, StoredJob]]], Awaitable[EngineWrites]],
    ) -> list[tuple[Occurrence, StoredJob]]:
        """At most ``limit`` attempts due by ``now``, or whose lease expired, by due time,
        each with its job (an attempt of a job deleted meanwhile is left out). They are
        leased with ``lease`` and running; a taken-over attempt keeps its execution tag and
        its job's occurrence starts again ``now``. ``plan`` may write (faults), in the same
        transaction."""
        ...

    async def record(
        self,
        node: str,
        keys: Sequence[OccurrenceKey],
        plan: Callable[[set[OccurrenceKey], dict[int, StoredJob]], Awaitable[EngineWrites]],
    ) -> None:
        """Record finished attempts: which of ``keys`` ``node`` still holds, and their jobs
        (locked until the end, so what ``plan`` writes back is no lost update) go to
        ``plan``, and the store writes what it returns."""
        ...

    async def drop_waiting(
        self,
        waiting: dict[OccurrenceKey, int],
        drop: Callable[[list[OccurrenceKey]], list[OccurrenceKey]],
    ) -> list[OccurrenceKey]:
        """Attempts claimed ahead whose job (``waiting``: key → job id) is no longer enabled
        or gone: ``drop`` is given them and returns those it dropped (not started
        meanwhile), which are deleted; a dropped scheduled occurrence frees its job."""
        ...

    async def claim_notices(self, now: datetime, limit: int, lease: Lease) -> list[Notice]:
        """Up to ``limit`` pending notices due by ``now`` whose lease (if any) expired
        (their node died), leased to ``lease.node`` until ``lease.until``; oldest due
        first. Another node never claims a notice while its lease holds."""
        ...

    async def settle_notices(self, node: str, outcomes: Sequence[NoticeOutcome]) -> None:
        """Write how deliveries went (delivered, failed for good, or pending again at
        ``due_at``) and release their leases, only where ``node`` still holds them."""
        ...

    async def overdue(
        self,
        now: datetime,
        limit: int,
        plan: Callable[[list[StoredJob]], Awaitable[EngineWrites]],
    ) -> EngineWrites:
        """In one transaction: up to ``limit`` enabled jobs whose ``expect_by`` is at or
        before ``now`` (locked; other nodes skip them), then ``plan``'s writes (their
        notices, and each job's next ``expect_by`` in ``expectations``)."""
        ...

    async def endpoints(self) -> list[StoredEndpoint]:
        """Every collection's notification endpoints (the engine's routing table)."""
        ...

    async def acquire_host(
        self,
        host: str,
        token: str,
        node: str,
        now: datetime,
        until: datetime,
        decide: Callable[[int, datetime | None], Admission],
    ) -> Admission:
        """One transaction, holding ``host``'s lock against every node: its permits still
        in force (expired ones dropped) and its rate's arrival time go to ``decide``; when
        that admits, a permit ``token`` is written until ``until`` and the arrival time
        becomes the admission's. Returns the admission."""
        ...

    async def capped_collections(self) -> dict[int, tuple[HostLimit, ...]]:
        """The collections with per-target caps of their own, by id."""
        ...

    async def release_host(self, token: str) -> None:
        """The attempt holding permit ``token`` ended (a missing one is no error)."""
        ...

    async def next_wakeup(self, after: datetime, share: Share | None = None) -> datetime | None:
        """The earliest instant with work: a due job's next time (a busy job's only when
        after ``after``; with a ``share``, ``share.delay`` later for a job outside it, as
        :meth:`schedule_due` counts it) or a pending attempt's due time; None when there is
        none."""
        ...

    async def purge(
        self, history_before: datetime, keep_per_job: int, finished_before: datetime
    ) -> tuple[int, int]:
        """Delete history older than ``history_before`` or beyond each job's newest
        ``keep_per_job``, and jobs Completed or Faulted before ``finished_before``; returns
        (entries, jobs) deleted."""
        ...

    async def close(self) -> None: ...
