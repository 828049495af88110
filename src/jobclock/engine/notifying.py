"""The engine's notifications (issue 15, item 5): which notices an engine transaction
writes, the dead-man's switch, and delivering notices at least once.

What an event is and who hears of it is :mod:`jobclock.domain.notification`'s; this module
holds the routing table (every collection's endpoints, read every few seconds and when
something changed), turns events into :class:`Notice` writes, and posts due notices as
CloudEvents through the HTTP executor (so the outbound policy, TLS and signing apply).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobclock.codec.stored import StoredDefinitions
from jobclock.domain.actions import ActionType, HttpMethod, HttpRequest
from jobclock.domain.execution import AttemptContext, Invocation
from jobclock.domain.history import ActionName
from jobclock.domain.notification import (
    CONTENT_TYPE,
    Endpoint,
    Event,
    EventType,
    cloud_event,
    late_threshold,
    next_delivery,
    wanted,
)
from jobclock.domain.records import (
    CollectionPlace,
    EngineWrites,
    Expectation,
    Lease,
    Notice,
    NoticeOutcome,
    NoticeStatus,
    StoredJob,
)
from jobclock.ports import ActionExecutor, Clock, JobStore

log = logging.getLogger("jobclock.engine")

# A job's expectRunWithin (None: it has none, or its definition cannot be read).
WindowOf = Callable[[StoredJob], timedelta | None]

ROUTES_EVERY = timedelta(seconds=5)
OVERDUE_EVERY = timedelta(seconds=1)
DELIVERY_TIMEOUT = 10.0  # seconds per delivery attempt at most
BATCH = 100


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class Routes:
    """A collection's endpoints and where it lives (for the events' ``source``)."""

    place: CollectionPlace
    endpoints: tuple[Route, ...]

    def threshold(self) -> timedelta | None:
        return late_threshold(tuple(route.endpoint for route in self.endpoints))


class Notifier:
    """One engine's notifications; every method is called from the engine's loop."""

    def __init__(
        self,
        store: JobStore,
        codec: StoredDefinitions,
        clock: Clock,
        node: str,
        region: str,
        lease: timedelta,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._wake = wake  # a delivery that ends is settled at the loop's next step
        # A delivery ends well inside its lease: no other node re-sends it meanwhile.
        self._timeout = min(DELIVERY_TIMEOUT, lease.total_seconds() / 2)
        self._codec = codec
        self._clock = clock
        self._node = node
        self._region = region
        self._routes: dict[int, Routes] = {}
        self._next_routes: datetime | None = None
        self._next_overdue: datetime | None = None
        self._delivering: set[asyncio.Task[NoticeOutcome]] = set()

    # -- the routing table ---------------------------------------------------------------
    def changed(self) -> None:
        """Something was written: read the endpoints again at the next step."""
        self._next_routes = None

    async def refresh(self, now: datetime) -> None:
        if self._next_routes is not None and now < self._next_routes:
            return
        self._next_routes = now + ROUTES_EVERY
        routes: dict[int, list[Route]] = {}
        places: dict[int, CollectionPlace] = {}
        for stored in await self._store.endpoints():
            try:
                endpoint = self._codec.load_endpoint(stored.body)
            except Exception as error:  # one endpoint's stored data stops only that one
                log.error(
                    "notification.unreadable_endpoint",
                    extra={"event": "notification.unreadable_endpoint", "error": repr(error)},
                )
                continue
            routes.setdefault(stored.collection_id, []).append(Route(stored.name, endpoint))
            if stored.place is not None:
                places[stored.collection_id] = stored.place
        self._routes = {
            cid: Routes(places.get(cid, CollectionPlace("", "", "")), tuple(found))
            for cid, found in routes.items()
        }

    def routes(self, collection_id: int) -> Routes | None:
        return self._routes.get(collection_id)

    # -- events to notices ---------------------------------------------------------------
    def event(self, kind: EventType, job: StoredJob, at: datetime, **facts: object) -> Event | None:
        """An event of ``job``'s, if its collection has endpoints at all."""
        routes = self._routes.get(job.collection_id)
        if routes is None:
            return None
        place = routes.place
        source = (
            f"/subscriptions/{place.subscription}/resourceGroups/{place.resource_group}"
            f"/providers/Microsoft.Scheduler/jobCollections/{place.name}/jobs/{job.name}"
        )
        return Event(
            id=uuid.uuid4().hex,
            type=kind,
            time=at,
            job=job.name,
            collection=job.collection_name,
            source=source,
            **facts,  # type: ignore[arg-type]
        )

    def notices(self, job: StoredJob, event: Event | None, writes: EngineWrites) -> None:
        """One notice per endpoint of ``job``'s collection that wants ``event``."""
        routes = None if event is None else self._routes.get(job.collection_id)
        if event is None or routes is None:
            return
        listeners = wanted(tuple(route.endpoint for route in routes.endpoints), event)
        text = None
        for route in routes.endpoints:
            if route.endpoint not in listeners:
                continue
            text = text or cloud_event(event)
            writes.notices.append(
                Notice(
                    collection_id=job.collection_id,
                    endpoint=route.name,
                    event_id=event.id,
                    event_type=event.type.value,
                    job=job.name,
                    event=text,
                    due_at=event.time,
                    created_at=event.time,
                )
            )

    def late(self, job: StoredJob, slot: datetime, started: datetime, repeat: int) -> Event | None:
        routes = self._routes.get(job.collection_id)
        threshold = None if routes is None else routes.threshold()
        if threshold is None or started - slot <= threshold:
            return None
        return self.event(
            EventType.OCCURRENCE_LATE, job, started,
            scheduled=slot, repeat_count=repeat, lateness=started - slot,
            message=f"The occurrence started {(started - slot).total_seconds():.1f} s late.",
        )  # fmt: skip

    # -- the dead-man's switch -----------------------------------------------------------
    async def overdue(self, now: datetime, window_of: WindowOf) -> None:
        """Jobs with no successful run within their expectRunWithin: one
        ``occurrence.missed`` each, and their window starts again from now."""
        if self._next_overdue is not None and now < self._next_overdue:
            return
        self._next_overdue = now + OVERDUE_EVERY

        async def plan(found: list[StoredJob]) -> EngineWrites:
            writes = EngineWrites()
            for job in found:
                window = window_of(job)
                writes.expectations.append(
                    Expectation(job.id, None if window is None else now + window)
                )
                if window is None:
                    continue
                shown = window.total_seconds()
                event = self.event(
                    EventType.OCCURRENCE_MISSED, job, now, repeat_count=job.cursor.done,
                    message=f"No run of the job succeeded within {shown:g} seconds "
                    "(expectRunWithin).",
                    details={"reason": "expectRunWithin"},
                )  # fmt: skip
                self.notices(job, event, writes)
            return writes

        await self._store.overdue(now, BATCH, plan)

    # -- delivery ------------------------------------------------------------------------
    async def deliver(
        self, now: datetime, executor: ActionExecutor | None, lease: Lease, wait: bool
    ) -> None:
        """Post due notices; ``wait``: until they are settled (a test's tick), else in the
        background (the next call settles what finished)."""
        finished = [task for task in self._delivering if task.done()]
        self._delivering -= set(finished)
        outcomes = [
            task.result() for task in finished if not task.cancelled() and not task.exception()
        ]  # a delivery that crashed (logged) is left to its lease: it is tried again
        await self._store.settle_notices(self._node, outcomes)
        if executor is None or not self._routes:
            return
        room = BATCH - len(self._delivering)
        if room <= 0:
            return
        for notice in await self._store.claim_notices(now, room, lease):
            task = asyncio.create_task(self._post(notice, executor))
            task.add_done_callback(lambda _: self._wake())
            self._delivering.add(task)
        if wait and self._delivering:
            done = list(self._delivering)
            self._delivering.clear()
            results = await asyncio.gather(*done, return_exceptions=True)
            settled = [r for r in results if isinstance(r, NoticeOutcome)]
            await self._store.settle_notices(self._node, settled)

    async def _post(self, notice: Notice, executor: ActionExecutor) -> NoticeOutcome:
        try:
            return await self._send(notice, executor)
        except Exception:
            log.exception("notification.crashed", extra={"event": "notification.crashed"})
            raise

    async def _send(self, notice: Notice, executor: ActionExecutor) -> NoticeOutcome:
        assert notice.id is not None  # noqa: S101 - stored notices have one
        routes = self._routes.get(notice.collection_id)
        route = None
        if routes is not None:
            route = next((r for r in routes.endpoints if r.name.lower() == notice.endpoint), None)
        attempts = notice.attempts + 1
        if route is None:
            # Not in this node's table yet (created through another node a moment ago):
            # a deleted endpoint's notices are deleted with it. Read it again, try later.
            self.changed()
            now = self._clock.now()
            return NoticeOutcome(
                notice.id, NoticeStatus.PENDING, notice.attempts, notice.message, now,
                now + ROUTES_EVERY,
            )  # fmt: skip
        endpoint = route.endpoint
        request = HttpRequest(
            endpoint.uri,
            HttpMethod.POST,
            headers=(("Content-Type", CONTENT_TYPE),),
            body=notice.event,
            signing=endpoint.signing,
        )
        context = AttemptContext(
            collection=routes.place.name if routes else "",
            job=notice.job,
            execution_tag=notice.event_id,  # webhook-id: the same on every attempt
            request_id=str(uuid.uuid4()),
            expected_time=notice.due_at,
            region=self._region,
            action_name=ActionName.MAIN_ACTION,
            retry_count=notice.attempts,
            repeat_count=0,
            timeout=self._timeout,
        )
        kind = ActionType.HTTPS if endpoint.uri.lower().startswith("https") else ActionType.HTTP
        try:
            result = await executor.execute(Invocation(kind, request), context)
        except Exception as error:  # an executor bug: this notice fails, the loop goes on
            log.exception("notification.crashed", extra={"event": "notification.crashed"})
            result_ok, message = False, f"internal error: {error}"
        else:
            result_ok, message = result.succeeded, result.message
        ended = self._clock.now()
        if result_ok:
            return NoticeOutcome(notice.id, NoticeStatus.DELIVERED, attempts, message, ended)
        again = next_delivery(attempts, ended)
        status = NoticeStatus.FAILED if again is None else NoticeStatus.PENDING
        return NoticeOutcome(notice.id, status, attempts, message, ended, again)

    async def close(self) -> None:
        """Let deliveries in flight end, and settle them."""
        if self._delivering:
            done = list(self._delivering)
            self._delivering.clear()
            results = await asyncio.gather(*done, return_exceptions=True)
            outcomes = [r for r in results if isinstance(r, NoticeOutcome)]
            await self._store.settle_notices(self._node, outcomes)
