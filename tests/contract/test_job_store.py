"""The contract of :class:`jobclock.ports.JobStore`, through the typed port only, on every
backend: the memory store, SQLite and PostgreSQL (in a schema of its own)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from jobclock.domain.collection import CollectionState, JobCollection, Sku
from jobclock.domain.history import ActionName, HistoryStatus
from jobclock.domain.job import JobState, JobStatus
from jobclock.domain.planning import Cursor, Phase
from jobclock.domain.records import (
    CollectionPlace,
    EngineWrites,
    JobEnd,
    Lease,
    Occurrence,
    OccurrenceKey,
    OccurrenceKind,
    Schedule,
    StoredEntry,
    StoredJob,
)
from jobclock.domain.shares import Share
from jobclock.ports import JobStore

pytestmark = pytest.mark.anyio

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
FAR = T0 + timedelta(days=3650)  # a lease that does not expire during a test
NODE = "node-a"
OTHER = "node-b"
SCHEDULED = OccurrenceKind.SCHEDULED
RUN = OccurrenceKind.RUN


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- building blocks ---------------------------------------------------------------------
def place(
    name: str = "jc", subscription: str = "Sub", resource_group: str = "RG"
) -> CollectionPlace:
    return CollectionPlace(subscription, resource_group, name)


def schedule(
    next_time: datetime | None = T0,
    state: JobState = JobState.ENABLED,
    definition: str = '{"action":{"type":"Http"}}',
    finished_at: datetime | None = None,
) -> Schedule:
    return Schedule(definition, state, Cursor(T0, None, 0), next_time, finished_at)


async def new_collection(
    store: JobStore, where: CollectionPlace | None = None, **fields: object
) -> int:
    where = where or place()
    collection = JobCollection(name=where.name, location="West US", **fields)  # type: ignore[arg-type]
    async with store.transaction() as tx:
        return await tx.insert_collection(where, collection, T0)


async def new_job(store: JobStore, collection_id: int, name: str = "job", **fields: object) -> int:
    async with store.transaction() as tx:
        return await tx.insert_job(collection_id, name, schedule(**fields), T0)  # type: ignore[arg-type]


async def one_job(store: JobStore, name: str = "job", **fields: object) -> int:
    collection_id = await new_collection(store, place(f"jc-{name}"))
    return await new_job(store, collection_id, name, **fields)


def occurrence(
    job_id: int,
    slot: datetime = T0,
    kind: OccurrenceKind = SCHEDULED,
    due_at: datetime | None = None,
    tag: str = "tag",
    **fields: object,
) -> Occurrence:
    values: dict[str, object] = {
        "repeat_count": 1,
        "final": False,
        "phase": Phase.MAIN,
        "attempt": 0,
        "main_failed": False,
    } | fields
    return Occurrence(job_id, slot, kind, due_at=due_at or slot, execution_tag=tag, **values)  # type: ignore[arg-type]


def entry(
    job_id: int,
    history_id: str,
    start: datetime = T0,
    status: HistoryStatus = HistoryStatus.COMPLETED,
    message: str = "ok",
) -> StoredEntry:
    return StoredEntry(
        job_id, history_id, start, start, start, ActionName.MAIN_ACTION, status, message, 0, 1
    )


def returning(writes: EngineWrites) -> Callable[..., Awaitable[EngineWrites]]:
    async def plan(*_: object) -> EngineWrites:
        return writes

    return plan


async def write(store: JobStore, writes: EngineWrites) -> None:
    """Engine writes with nothing to record (history, progress, cursors)."""
    await store.record(NODE, [], returning(writes))


async def job(store: JobStore, job_id: int) -> StoredJob | None:
    async with store.reading() as reads:
        for collection in await reads.all_collections():
            for found in await reads.list_jobs(collection.id):
                if found.id == job_id:
                    return found
    return None


async def add(store: JobStore, *occurrences: Occurrence) -> None:
    async with store.transaction() as tx:
        for item in occurrences:
            await tx.add_occurrence(item)


async def claim(
    store: JobStore, now: datetime, limit: int = 10, node: str = NODE, until: datetime = FAR
) -> list[tuple[Occurrence, StoredJob]]:
    return await store.claim_attempts(now, limit, Lease(node, until), returning(EngineWrites()))


async def held_by(store: JobStore, node: str, keys: list[OccurrenceKey]) -> set[OccurrenceKey]:
    seen: set[OccurrenceKey] = set()

    async def plan(held: set[OccurrenceKey], _: dict[int, StoredJob]) -> EngineWrites:
        seen.update(held)
        return EngineWrites()

    await store.record(node, keys, plan)
    return seen


def _order(key: OccurrenceKey) -> tuple[int, datetime, str]:
    return (key.job_id, key.slot, key.kind.value)


# -- collections -------------------------------------------------------------------------
async def test_insert_then_find_ignoring_case(job_store: JobStore) -> None:
    first = await new_collection(job_store, place("Jc", "Sub", "RG"), sku=Sku.FREE)
    second = await new_collection(job_store, place("other"))
    assert second > first >= 1
    async with job_store.reading() as reads:
        found = await reads.find_collection(place("jC", "sub", "rg"))
        missing = await reads.find_collection(place("jc", "sub", "rg2"))
    assert found is not None
    assert (found.id, found.place, found.collection.sku) == (first, place("Jc"), Sku.FREE)
    assert found.collection.location == "West US"
    assert missing is None


async def test_collections_are_listed_in_code_point_order(job_store: JobStore) -> None:
    names = ["b", "a_b", "aa", "a-b", "a"]
    for name in names:
        await new_collection(job_store, place(name))
    await new_collection(job_store, place("c", resource_group="Other"))
    await new_collection(job_store, place("z", subscription="Elsewhere"))
    async with job_store.reading() as reads:
        everywhere = await reads.list_collections("SUB", None)
        in_group = await reads.list_collections("sub", "rg")
        every = await reads.all_collections()
    assert [c.place.name for c in in_group] == ["a", "a-b", "a_b", "aa", "b"]
    assert [c.place.name for c in everywhere] == ["a", "a-b", "a_b", "aa", "b", "c"]
    assert [c.place.name for c in every] == ["z", "c", "a", "a-b", "a_b", "aa", "b"]


async def test_count_collections_by_plan_within_a_subscription(job_store: JobStore) -> None:
    await new_collection(job_store, place("a"), sku=Sku.FREE)
    await new_collection(job_store, place("b"), sku=Sku.STANDARD)
    await new_collection(job_store, place("c", resource_group="x"), sku=Sku.FREE)
    await new_collection(job_store, place("d", subscription="other"), sku=Sku.FREE)
    async with job_store.reading() as reads:
        assert await reads.count_collections("SUB", Sku.FREE) == (2, 3)
        assert await reads.count_collections("sub", Sku.P10_PREMIUM) == (0, 3)
        assert await reads.count_collections("nobody", Sku.FREE) == (0, 0)


async def test_update_and_set_state(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store)
    replaced = JobCollection(
        name="jc", location="North Europe", sku=Sku.P20_PREMIUM, tags=(("k", "v"),)
    )
    async with job_store.transaction() as tx:
        await tx.update_collection(collection_id, replaced)
    async with job_store.transaction() as tx:
        await tx.set_collection_state(collection_id, CollectionState.SUSPENDED)
    async with job_store.reading() as reads:
        found = await reads.find_collection(place())
    assert found is not None
    assert found.collection == dataclasses.replace(replaced, state=CollectionState.SUSPENDED)


async def test_job_counts_by_collection(job_store: JobStore) -> None:
    first = await new_collection(job_store, place("a"))
    second = await new_collection(job_store, place("b"))
    await new_collection(job_store, place("empty"))
    for name in ("x", "y"):
        await new_job(job_store, first, name)
    await new_job(job_store, second, "x")
    async with job_store.reading() as reads:
        assert await reads.job_counts() == {first: 2, second: 1}
        assert (await reads.count_jobs(first), await reads.count_jobs(999)) == (2, 0)


async def test_delete_collection_takes_jobs_occurrences_and_history(job_store: JobStore) -> None:
    doomed = await new_collection(job_store, place("a"))
    kept = await new_collection(job_store, place("b"))
    gone, stays = await new_job(job_store, doomed), await new_job(job_store, kept)
    await add(job_store, occurrence(gone), occurrence(stays))
    await write(job_store, EngineWrites(entries=[entry(gone, "h1"), entry(stays, "h2")]))
    async with job_store.transaction() as tx:
        await tx.delete_collection(doomed)
    async with job_store.reading() as reads:
        assert [c.id for c in await reads.all_collections()] == [kept]
        assert await reads.list_jobs(doomed) == []
        assert await reads.list_history(gone, None, None, 0) == []
        assert len(await reads.list_history(stays, None, None, 0)) == 1
    assert [item.job_id for item, _ in await claim(job_store, T0)] == [stays]


# -- jobs --------------------------------------------------------------------------------
async def test_insert_job_then_find_ignoring_case(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store, place("Coll"))
    job_id = await new_job(job_store, collection_id, "MyJob", next_time=T0 + MINUTE)
    async with job_store.reading() as reads:
        found = await reads.find_job(collection_id, "myjob")
        assert await reads.find_job(collection_id, "other") is None
        assert await reads.find_job(collection_id + 1, "myjob") is None
    assert found is not None
    assert (found.id, found.name, found.collection_name) == (job_id, "MyJob", "Coll")
    assert (found.state, found.cursor, found.next_time) == (
        JobState.ENABLED,
        Cursor(T0, None, 0),
        T0 + MINUTE,
    )
    assert found.status == JobStatus(next_execution_time=T0 + MINUTE)
    assert (found.history_seq, found.busy, found.busy_since) == (0, False, None)
    assert (found.created_at, found.finished_at) == (T0, None)


async def test_list_jobs_by_name_with_state_filter_limit_and_offset(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store)
    for name in ["b", "a_b", "a-b", "aa", "c"]:
        state = JobState.DISABLED if name == "aa" else JobState.ENABLED
        await new_job(job_store, collection_id, name, state=state)
    async with job_store.reading() as reads:
        every = await reads.list_jobs(collection_id)
        enabled = await reads.list_jobs(collection_id, JobState.ENABLED)
        page = await reads.list_jobs(collection_id, None, 2, 1)
        rest = await reads.list_jobs(collection_id, offset=3)
    assert [j.name for j in every] == ["a-b", "a_b", "aa", "b", "c"]
    assert [j.name for j in enabled] == ["a-b", "a_b", "b", "c"]
    assert [j.name for j in page] == ["a_b", "aa"]
    assert [j.name for j in rest] == ["b", "c"]


async def test_jobs_by_a_part_of_their_name(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store)
    for name in ["Nightly-Report", "report_daily", "backup", "100%", "a_b", "axb"]:
        await new_job(job_store, collection_id, name)
    async with job_store.reading() as reads:

        async def names(part: str) -> list[str]:
            return [j.name for j in await reads.list_jobs(collection_id, name_contains=part)]

        assert await names("REPORT") == ["Nightly-Report", "report_daily"]
        assert await names("%") == ["100%"]
        assert await names("_") == ["a_b", "report_daily"]
        assert await names("") == ["100%", "a_b", "axb", "backup", "Nightly-Report", "report_daily"]


async def test_reschedule_keeps_counters_history_and_running(job_store: JobStore) -> None:
    job_id = await one_job(job_store)
    before = await job(job_store, job_id)
    assert before is not None
    progressed = dataclasses.replace(
        before,
        status=JobStatus(3, 1, 0, T0, None),
        history_seq=4,
        busy=True,
        busy_since=T0,
    )
    await write(job_store, EngineWrites(entries=[entry(job_id, "h")], progress=[progressed]))
    moved = Schedule("{}", JobState.DISABLED, Cursor(T0 + MINUTE, T0, 2), T0 + 5 * MINUTE, None)
    async with job_store.transaction() as tx:
        await tx.reschedule_job(job_id, moved)
    after = await job(job_store, job_id)
    assert after is not None
    assert (after.definition, after.state, after.cursor) == ("{}", JobState.DISABLED, moved.cursor)
    assert after.status == JobStatus(3, 1, 0, T0, T0 + 5 * MINUTE)
    assert (after.history_seq, after.busy, after.busy_since) == (4, True, T0)
    async with job_store.reading() as reads:
        assert len(await reads.list_history(job_id, None, None, 0)) == 1


async def test_replace_definition_keeps_the_schedule(job_store: JobStore) -> None:
    job_id = await one_job(job_store, next_time=T0 + MINUTE)
    async with job_store.transaction() as tx:
        await tx.replace_definition(job_id, '{"new":1}')
    found = await job(job_store, job_id)
    assert found is not None
    assert (found.definition, found.next_time, found.state) == (
        '{"new":1}',
        T0 + MINUTE,
        JobState.ENABLED,
    )


async def test_delete_job_takes_its_occurrences_and_history_only(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store)
    gone, stays = (
        await new_job(job_store, collection_id, "a"),
        await new_job(job_store, collection_id, "b"),
    )
    await add(job_store, occurrence(gone), occurrence(stays, T0 + MINUTE))
    await write(job_store, EngineWrites(entries=[entry(gone, "h1"), entry(stays, "h2")]))
    async with job_store.transaction() as tx:
        await tx.delete_job(gone)
    async with job_store.reading() as reads:
        assert [j.id for j in await reads.list_jobs(collection_id)] == [stays]
        assert await reads.list_history(gone, None, None, 0) == []
        assert [e.history_id for e in await reads.list_history(stays, None, None, 0)] == ["h2"]
    assert [item.job_id for item, _ in await claim(job_store, T0 + MINUTE)] == [stays]


async def test_flip_job_states(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store)
    enabled = await new_job(job_store, collection_id, "a")
    disabled = await new_job(job_store, collection_id, "b", state=JobState.DISABLED)
    seen: list[int] = []

    def next_time(found: StoredJob) -> datetime | None:
        seen.append(found.id)
        return T0 + 7 * MINUTE

    async with job_store.transaction() as tx:
        await tx.flip_job_states(collection_id, JobState.ENABLED, JobState.DISABLED, lambda _: None)
    async with job_store.transaction() as tx:
        await tx.flip_job_states(collection_id, JobState.DISABLED, JobState.ENABLED, next_time)
    assert sorted(seen) == [enabled, disabled]
    for job_id in (enabled, disabled):
        found = await job(job_store, job_id)
        assert found is not None
        assert (found.state, found.next_time) == (JobState.ENABLED, T0 + 7 * MINUTE)


# -- transactions ------------------------------------------------------------------------
async def test_a_transaction_that_raises_stores_nothing(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store)
    seen: list[StoredJob | None] = []

    async def failing() -> None:
        async with job_store.transaction() as tx:
            await tx.insert_job(collection_id, "job", schedule(), T0)
            seen.append(await tx.find_job(collection_id, "JOB"))  # its own write
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        await failing()
    assert seen[0] is not None
    async with job_store.reading() as reads:
        assert await reads.list_jobs(collection_id) == []


async def test_the_occurrence_key_is_unique(job_store: JobStore) -> None:
    job_id = await one_job(job_store)
    await add(job_store, occurrence(job_id))
    with pytest.raises(Exception):  # noqa: B017, PT011 - the store's own integrity error
        await add(job_store, occurrence(job_id, T0, RUN), occurrence(job_id, tag="again"))
    await add(job_store, occurrence(job_id, T0 + MINUTE))
    claimed = await claim(job_store, T0 + MINUTE)
    assert [(item.slot, item.kind, item.execution_tag) for item, _ in claimed] == [
        (T0, SCHEDULED, "tag"),
        (T0 + MINUTE, SCHEDULED, "tag"),
    ]


# -- scheduling --------------------------------------------------------------------------
async def test_schedule_due_gives_due_jobs_earliest_first(job_store: JobStore) -> None:
    on = await new_collection(job_store, place("on"))
    off = await new_collection(job_store, place("off"), state=CollectionState.DISABLED)
    late = await new_job(job_store, on, "late", next_time=T0 + 2 * MINUTE)
    early = await new_job(job_store, on, "early", next_time=T0)
    middle = await new_job(job_store, on, "middle", next_time=T0 + MINUTE)
    await new_job(job_store, on, "future", next_time=T0 + 9 * MINUTE)
    await new_job(job_store, on, "disabled", next_time=T0, state=JobState.DISABLED)
    await new_job(job_store, on, "never", next_time=None)
    await new_job(job_store, off, "in-off", next_time=T0)
    busy = await new_job(job_store, on, "busy", next_time=T0)
    found = await job(job_store, busy)
    assert found is not None
    await write(job_store, EngineWrites(progress=[dataclasses.replace(found, busy=True)]))
    given: list[list[int]] = []

    async def plan(due: list[StoredJob]) -> EngineWrites:
        given.append([item.id for item in due])
        return EngineWrites()

    await job_store.schedule_due(T0 + 2 * MINUTE, 2, plan, Lease(NODE, FAR))
    await job_store.schedule_due(T0 + 2 * MINUTE, 10, plan, Lease(NODE, FAR))
    assert given == [[early, middle], [early, middle, late]]
    nothing = await job_store.schedule_due(T0 - MINUTE, 10, plan, Lease(NODE, FAR))
    assert not nothing
    assert len(given) == 2  # no job due: plan not called


async def test_schedule_due_writes_the_plan(job_store: JobStore) -> None:
    job_id = await one_job(job_store, next_time=T0)
    started = occurrence(job_id, T0, tag="first")

    async def plan(due: list[StoredJob]) -> EngineWrites:
        [found] = due
        cursor = dataclasses.replace(
            found,
            cursor=Cursor(T0, T0, 1),
            status=dataclasses.replace(found.status, next_execution_time=T0 + MINUTE),
            busy=True,
            busy_since=T0,
        )
        return EngineWrites(started=[started], cursors=[cursor])

    writes = await job_store.schedule_due(T0, 10, plan, Lease(NODE, T0 + MINUTE))
    assert writes.started == [started]
    found = await job(job_store, job_id)
    assert found is not None
    assert (found.cursor, found.next_time, found.busy, found.busy_since) == (
        Cursor(T0, T0, 1),
        T0 + MINUTE,
        True,
        T0,
    )
    assert await held_by(job_store, NODE, [started.key]) == {started.key}
    assert await claim(job_store, T0 + MINUTE, node=OTHER) == []  # leased until then
    [(taken, _)] = await claim(job_store, T0 + 2 * MINUTE, node=OTHER)
    assert taken.execution_tag == "first"


async def test_a_plan_that_raises_stores_nothing(job_store: JobStore) -> None:
    job_id = await one_job(job_store, next_time=T0)

    async def plan(due: list[StoredJob]) -> EngineWrites:
        raise RuntimeError("policy bug")

    with pytest.raises(RuntimeError):
        await job_store.schedule_due(T0, 10, plan, Lease(NODE, FAR))

    async def failing(due: list[StoredJob]) -> EngineWrites:
        return EngineWrites(started=[occurrence(job_id)], follow_ups=[occurrence(job_id)])

    with pytest.raises(Exception):  # noqa: B017, PT011 - the store's own integrity error
        await job_store.schedule_due(T0, 10, failing, Lease(NODE, FAR))
    assert await claim(job_store, FAR) == []
    found = await job(job_store, job_id)
    assert found is not None
    assert (found.cursor, found.busy) == (Cursor(T0, None, 0), False)


# -- claiming, leases, recovery ----------------------------------------------------------
async def test_attempts_are_claimed_once_in_due_order(job_store: JobStore) -> None:
    job_id = await one_job(job_store)
    await add(
        job_store,
        occurrence(job_id, T0 + 3 * MINUTE, final=True, repeat_count=3),
        occurrence(job_id, T0, due_at=T0 + 2 * MINUTE, phase=Phase.ERROR, main_failed=True),
        occurrence(job_id, T0 + MINUTE),
        occurrence(job_id, T0 + MINUTE, RUN, due_at=T0 + 9 * MINUTE),
    )
    first = await claim(job_store, T0 + 3 * MINUTE, 2)
    rest = await claim(job_store, T0 + 3 * MINUTE)
    again = await claim(job_store, T0 + 3 * MINUTE)
    assert [item.due_at for item, _ in first] == [T0 + MINUTE, T0 + 2 * MINUTE]
    error = first[1][0]
    assert (error.phase, error.main_failed, error.final, error.slot) == (
        Phase.ERROR,
        True,
        False,
        T0,
    )
    assert all(found.id == job_id for _, found in first)
    [(last, _)] = rest
    assert (last.slot, last.final, last.repeat_count) == (T0 + 3 * MINUTE, True, 3)
    assert again == []
    [(run, _)] = await claim(job_store, T0 + 9 * MINUTE)
    assert run.kind is RUN


async def test_an_expired_lease_is_taken_over_with_the_same_tag(job_store: JobStore) -> None:
    job_id = await one_job(job_store)
    await add(job_store, occurrence(job_id, T0, tag="same"))
    [(mine, _)] = await claim(job_store, T0, node=NODE, until=T0 + MINUTE)
    assert await claim(job_store, T0 + MINUTE, node=OTHER) == []  # not expired yet
    now = T0 + 2 * MINUTE
    [(taken, found)] = await claim(job_store, now, node=OTHER)
    assert taken.execution_tag == "same"
    assert found.busy_since == now  # its occurrence starts again now
    after = await job(job_store, job_id)
    assert after is not None
    assert after.busy_since == now
    assert await held_by(job_store, NODE, [mine.key]) == set()
    assert await held_by(job_store, OTHER, [mine.key]) == {mine.key}


async def test_schedule_due_with_a_share_takes_other_jobs_only_a_delay_late(
    job_store: JobStore,
) -> None:
    on = await new_collection(job_store, place("on"))
    ids = [await new_job(job_store, on, f"j{index}", next_time=T0) for index in range(6)]
    late = await new_job(job_store, on, "late", next_time=T0 - 2 * MINUTE)
    share = Share(ids[0] % 2, 2, MINUTE)  # ids[0]'s share: every second id
    given: list[list[int]] = []

    async def plan(due: list[StoredJob]) -> EngineWrites:
        given.append(sorted(item.id for item in due))
        return EngineWrites()

    await job_store.schedule_due(T0, 10, plan, Lease(NODE, FAR), share)
    mine = sorted(i for i in [*ids, late] if i % 2 == share.index)
    theirs_late = [late] if late % 2 != share.index else []  # its slot is past the delay
    assert given == [sorted(mine + theirs_late)]
    await job_store.schedule_due(T0 + MINUTE, 10, plan, Lease(NODE, FAR), share)
    assert given[-1] == sorted([*ids, late])  # a delay on, every job is due for it
    await job_store.schedule_due(T0, 10, plan, Lease(NODE, FAR))
    assert given[-1] == sorted([*ids, late])  # no share: every due job


async def test_next_wakeup_with_a_share_counts_other_jobs_a_delay_late(
    job_store: JobStore,
) -> None:
    on = await new_collection(job_store, place("on"))
    first = await new_job(job_store, on, "first", next_time=T0)
    second = await new_job(job_store, on, "second", next_time=T0 + 5 * MINUTE)
    assert first % 2 != second % 2
    theirs, mine = Share(second % 2, 2, MINUTE), Share(first % 2, 2, MINUTE)
    assert await job_store.next_wakeup(T0, mine) == T0
    assert await job_store.next_wakeup(T0, theirs) == T0 + MINUTE  # first's, a delay late
    long = Share(second % 2, 2, 9 * MINUTE)
    assert await job_store.next_wakeup(T0, long) == T0 + 5 * MINUTE  # its own comes first
    assert await job_store.next_wakeup(T0) == T0


async def test_renew_returns_every_nodes_heartbeat(job_store: JobStore) -> None:
    assert [b.name for b in await job_store.renew(OTHER, T0, T0, [], FAR)] == [OTHER]
    beats = await job_store.renew(NODE, T0, T0 + MINUTE, [], FAR)
    assert [(b.name, b.heartbeat_at) for b in beats] == [(NODE, T0 + MINUTE), (OTHER, T0)]
    await job_store.leave(OTHER)
    assert [b.name for b in await job_store.renew(NODE, T0, T0 + 2 * MINUTE, [], FAR)] == [NODE]
    await job_store.leave("never-seen")  # nothing to remove: no error
    async with job_store.reading() as reads:
        assert [b.name for b in await reads.list_nodes()] == [NODE]


async def test_renew_pushes_only_the_leases_still_held(job_store: JobStore) -> None:
    job_id = await one_job(job_store)
    mine, lost = occurrence(job_id, T0), occurrence(job_id, T0 + MINUTE)
    await add(job_store, mine, lost)
    await claim(job_store, T0 + MINUTE, node=NODE, until=T0 + 2 * MINUTE)
    await claim(job_store, T0 + 3 * MINUTE, 1, node=OTHER)  # takes the first over
    await job_store.renew(NODE, T0, T0 + 3 * MINUTE, [mine.key, lost.key], T0 + 10 * MINUTE)
    assert await held_by(job_store, NODE, [mine.key, lost.key]) == {lost.key}
    assert await claim(job_store, T0 + 9 * MINUTE, node=OTHER) == []
    async with job_store.reading() as reads:
        [beat] = await reads.list_nodes()
    assert (beat.name, beat.started_at, beat.heartbeat_at) == (NODE, T0, T0 + 3 * MINUTE)


async def test_recover_resets_the_nodes_running_attempts(job_store: JobStore) -> None:
    job_id = await one_job(job_store)
    await add(job_store, occurrence(job_id, T0), occurrence(job_id, T0, RUN, tag="r"))
    await add(job_store, occurrence(job_id, T0 + 5 * MINUTE))
    await claim(job_store, T0)
    now = T0 + MINUTE
    assert await job_store.recover(NODE, T0, now) == 2
    found = await job(job_store, job_id)
    assert found is not None
    assert found.busy_since == now
    assert await held_by(job_store, NODE, [occurrence(job_id).key]) == set()
    assert await job_store.recover(NODE, T0, now) == 0  # nothing running any more
    claimed = await claim(job_store, now, node=OTHER)
    assert sorted(item.kind.value for item, _ in claimed) == ["run", "scheduled"]
    async with job_store.reading() as reads:
        assert [(n.name, n.heartbeat_at) for n in await reads.list_nodes()] == [(NODE, now)]


async def test_recover_only_own_leaves_another_engines_running_attempts(
    job_store: JobStore,
) -> None:
    """Worker processes share even a SQLite file: a restarted worker takes back only its
    own attempts; another's stay running (they are its to record) until its lease ends."""
    job_id = await one_job(job_store)
    await add(job_store, occurrence(job_id, T0), occurrence(job_id, T0, RUN, tag="r"))
    [(mine, _)] = await claim(job_store, T0, node=NODE, limit=1)
    [(theirs, _)] = await claim(job_store, T0, node=OTHER)
    now = T0 + MINUTE
    assert await job_store.recover(NODE, T0, now, only_own=True) == 1
    assert await held_by(job_store, OTHER, [theirs.key]) == {theirs.key}
    assert await held_by(job_store, NODE, [mine.key]) == set()
    again = await claim(job_store, now, node=NODE)
    assert [item.key for item, _ in again] == [mine.key]


async def test_nodes_are_listed_by_name(job_store: JobStore) -> None:
    for name in ["node-b", "node-a", "Node-c"]:
        await job_store.renew(name, T0, T0 + MINUTE, [], FAR)
    await job_store.renew("node-a", T0 + MINUTE, T0 + 2 * MINUTE, [], FAR)
    async with job_store.reading() as reads:
        beats = await reads.list_nodes()
    assert [(n.name, n.started_at, n.heartbeat_at) for n in beats] == [
        ("Node-c", T0, T0 + MINUTE),
        ("node-a", T0 + MINUTE, T0 + 2 * MINUTE),
        ("node-b", T0, T0 + MINUTE),
    ]


# -- recording ---------------------------------------------------------------------------
async def test_record_gives_the_held_keys_and_the_jobs(job_store: JobStore) -> None:
    job_id = await one_job(job_store)
    mine, theirs = occurrence(job_id, T0), occurrence(job_id, T0 + MINUTE)
    await add(job_store, mine)
    await claim(job_store, T0, node=NODE)
    await add(job_store, theirs)
    await claim(job_store, T0 + MINUTE, node=OTHER)
    given: list[tuple[set[OccurrenceKey], list[int]]] = []

    async def plan(held: set[OccurrenceKey], jobs: dict[int, StoredJob]) -> EngineWrites:
        given.append((held, sorted(jobs)))
        return EngineWrites()

    await job_store.record(NODE, [mine.key, theirs.key], plan)
    assert given == [({mine.key}, [job_id])]


async def test_record_writes_in_order(job_store: JobStore) -> None:
    job_id = await one_job(job_store, next_time=T0 + 5 * MINUTE)
    done, retried = occurrence(job_id, T0), occurrence(job_id, T0, RUN, tag="old")
    await add(job_store, done, retried)
    claimed = dict(await claim(job_store, T0))
    before = claimed[done]
    progress = dataclasses.replace(
        before,
        state=JobState.DISABLED,  # only the counters are written back
        status=JobStatus(2, 1, 0, T0, None),
        history_seq=2,
        busy=False,
        busy_since=None,
    )
    retry = dataclasses.replace(retried, attempt=1, due_at=T0 + MINUTE, execution_tag="new")
    follow = occurrence(job_id, T0 + 2 * MINUTE)
    writes = EngineWrites(
        entries=[entry(job_id, "h1"), entry(job_id, "h2", status=HistoryStatus.FAILED)],
        done=[done.key],
        continued=[retry],
        follow_ups=[follow],
        progress=[progress],
    )
    await job_store.record(NODE, [done.key, retried.key], returning(writes))
    after = await job(job_store, job_id)
    assert after is not None
    assert after.status == JobStatus(2, 1, 0, T0, T0 + 5 * MINUTE)
    assert (after.state, after.history_seq, after.busy) == (JobState.ENABLED, 2, False)
    assert await held_by(job_store, NODE, [retried.key]) == set()  # pending, no lease
    assert await claim(job_store, T0) == []
    claimed_later = await claim(job_store, T0 + 2 * MINUTE)
    assert [(item.key, item.attempt, item.execution_tag) for item, _ in claimed_later] == [
        (retried.key, 1, "new"),
        (follow.key, 0, "tag"),
    ]


async def test_cursors_and_ended_series(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store)
    ending = await new_job(job_store, collection_id, "ending")
    disabled = await new_job(job_store, collection_id, "disabled", state=JobState.DISABLED)
    moving = await new_job(job_store, collection_id, "moving")
    found = await job(job_store, moving)
    assert found is not None
    cursor = dataclasses.replace(
        found,
        cursor=Cursor(T0, T0 + MINUTE, 2),
        status=JobStatus(9, 9, 9, T0, T0 + 3 * MINUTE),  # only the next time is a cursor's
        busy=True,
        busy_since=T0 + MINUTE,
    )
    ends = [
        JobEnd(ending, JobState.COMPLETED, T0 + MINUTE),
        JobEnd(disabled, JobState.FAULTED, T0 + MINUTE),
    ]
    await write(job_store, EngineWrites(cursors=[cursor], ended=ends))
    moved, ended, kept = [await job(job_store, i) for i in (moving, ending, disabled)]
    assert moved is not None
    assert ended is not None
    assert kept is not None
    assert (moved.cursor, moved.status, moved.busy, moved.busy_since) == (
        Cursor(T0, T0 + MINUTE, 2),
        JobStatus(next_execution_time=T0 + 3 * MINUTE),
        True,
        T0 + MINUTE,
    )
    assert (ended.state, ended.finished_at, ended.next_time) == (
        JobState.COMPLETED,
        T0 + MINUTE,
        None,
    )
    assert (kept.state, kept.finished_at, kept.next_time) == (JobState.DISABLED, None, T0)


async def test_a_plan_of_record_that_raises_stores_nothing(job_store: JobStore) -> None:
    job_id = await one_job(job_store)

    async def plan(held: set[OccurrenceKey], jobs: dict[int, StoredJob]) -> EngineWrites:
        raise RuntimeError("policy bug")

    with pytest.raises(RuntimeError):
        await job_store.record(NODE, [], plan)
    with pytest.raises(Exception):  # noqa: B017, PT011 - the store's own integrity error
        await write(
            job_store,
            EngineWrites(
                entries=[entry(job_id, "h")],
                follow_ups=[occurrence(job_id), occurrence(job_id)],
            ),
        )
    async with job_store.reading() as reads:
        assert await reads.list_history(job_id, None, None, 0) == []
    assert await claim(job_store, FAR) == []


# -- history -----------------------------------------------------------------------------
async def test_history_newest_first_with_status_filter_and_paging(job_store: JobStore) -> None:
    job_id = await one_job(job_store)
    failed = HistoryStatus.FAILED
    entries = [
        entry(job_id, "a", T0),
        entry(job_id, "b", T0 + MINUTE, failed),
        entry(job_id, "c", T0 + MINUTE),  # same start: written later, listed first
        entry(job_id, "d", T0 - MINUTE, failed),
    ]
    await write(job_store, EngineWrites(entries=entries[:2]))
    await write(job_store, EngineWrites(entries=entries[2:]))
    async with job_store.reading() as reads:

        async def ids(status: HistoryStatus | None, limit: int | None, offset: int) -> list[str]:
            listed = await reads.list_history(job_id, status, limit, offset)
            return [e.history_id for e in listed]

        assert await ids(None, None, 0) == ["c", "b", "a", "d"]
        assert await ids(failed, None, 0) == ["b", "d"]
        assert await ids(None, 2, 1) == ["b", "a"]
        assert await ids(None, None, 3) == ["d"]
        assert await reads.history_entry(job_id, "b") == entries[1]
        assert await reads.history_entry(job_id, "zz") is None
        assert await reads.history_entry(job_id + 1, "b") is None


async def test_a_nul_in_a_message_becomes_a_replacement_character(job_store: JobStore) -> None:
    job_id = await one_job(job_store)
    await write(job_store, EngineWrites(entries=[entry(job_id, "h", message="a\x00b")]))
    async with job_store.reading() as reads:
        found = await reads.history_entry(job_id, "h")
    assert found is not None
    assert found.message == "a\ufffdb"


async def test_attempt_and_status_counts(job_store: JobStore) -> None:
    first = await new_collection(job_store, place("a"))
    second = await new_collection(job_store, place("b"))
    one, two = await new_job(job_store, first), await new_job(job_store, second)
    ok, failed = HistoryStatus.COMPLETED, HistoryStatus.FAILED
    entries = [
        entry(one, "old", T0 - MINUTE),
        entry(one, "1", T0),
        entry(one, "2", T0 + MINUTE, failed),
        entry(one, "3", T0 + 2 * MINUTE),
        entry(two, "4", T0 + 3 * MINUTE),
    ]
    await write(job_store, EngineWrites(entries=entries))
    async with job_store.reading() as reads:
        every = await reads.attempt_counts(T0, 2 * MINUTE)
        mine = await reads.attempt_counts(T0, 2 * MINUTE, job_id=one)
        theirs = await reads.attempt_counts(T0, 2 * MINUTE, collection_id=second)
        statuses = await reads.status_counts(T0)

    def order(rows: list[tuple[int, HistoryStatus, int]]) -> list[tuple[int, str, int]]:
        return sorted((index, status.value, count) for index, status, count in rows)

    assert order(every) == [(0, "Completed", 1), (0, "Failed", 1), (1, "Completed", 2)]
    assert order(mine) == [(0, "Completed", 1), (0, "Failed", 1), (1, "Completed", 1)]
    assert order(theirs) == [(1, "Completed", 1)]
    assert statuses == {first: {ok: 2, failed: 1}, second: {ok: 1}}


# -- the engine's other transactions -----------------------------------------------------
async def test_drop_waiting_drops_attempts_of_jobs_no_longer_enabled(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store)
    enabled = await new_job(job_store, collection_id, "on")
    disabled = await new_job(job_store, collection_id, "off")
    deleted = await new_job(job_store, collection_id, "gone")
    on, off = occurrence(enabled, T0), occurrence(disabled, T0)
    run, gone = occurrence(disabled, T0, RUN), occurrence(deleted, T0)
    await add(job_store, on, off, run, gone)
    await claim(job_store, T0)
    found = await job(job_store, disabled)
    assert found is not None
    await write(
        job_store, EngineWrites(progress=[dataclasses.replace(found, busy=True, busy_since=T0)])
    )
    async with job_store.transaction() as tx:
        await tx.reschedule_job(disabled, schedule(state=JobState.DISABLED))
        await tx.delete_job(deleted)
    given: list[list[OccurrenceKey]] = []

    def drop(keys: list[OccurrenceKey]) -> list[OccurrenceKey]:
        given.append(sorted(keys, key=_order))
        return [key for key in keys if key != run.key]  # the run started meanwhile

    waiting = {on.key: enabled, off.key: disabled, run.key: disabled, gone.key: deleted}
    dropped = await job_store.drop_waiting(waiting, drop)
    assert given == [sorted([off.key, run.key, gone.key], key=_order)]
    assert sorted(dropped, key=_order) == sorted([off.key, gone.key], key=_order)
    freed = await job(job_store, disabled)
    assert freed is not None
    assert (freed.busy, freed.busy_since) == (False, None)
    assert await held_by(job_store, NODE, [on.key, off.key, run.key]) == {on.key, run.key}
    assert await job_store.drop_waiting({on.key: enabled}, drop) == []


async def test_next_wakeup(job_store: JobStore) -> None:
    assert await job_store.next_wakeup(T0) is None
    on = await new_collection(job_store, place("on"))
    off = await new_collection(job_store, place("off"), state=CollectionState.DISABLED)
    await new_job(job_store, on, "disabled", next_time=T0, state=JobState.DISABLED)
    await new_job(job_store, off, "in-off", next_time=T0)
    await new_job(job_store, on, "never", next_time=None)
    assert await job_store.next_wakeup(T0) is None
    busy = await new_job(job_store, on, "busy", next_time=T0 + MINUTE)
    found = await job(job_store, busy)
    assert found is not None
    await write(job_store, EngineWrites(progress=[dataclasses.replace(found, busy=True)]))
    assert await job_store.next_wakeup(T0 + MINUTE) is None  # busy, not after `after`
    assert await job_store.next_wakeup(T0) == T0 + MINUTE
    free = await new_job(job_store, on, "free", next_time=T0 + 5 * MINUTE)
    assert await job_store.next_wakeup(T0 + 9 * MINUTE) == T0 + 5 * MINUTE
    await add(job_store, occurrence(free, T0 + 3 * MINUTE))
    assert await job_store.next_wakeup(T0 + 9 * MINUTE) == T0 + 3 * MINUTE
    await claim(job_store, T0 + 3 * MINUTE)  # running attempts do not count
    assert await job_store.next_wakeup(T0 + 9 * MINUTE) == T0 + 5 * MINUTE


async def test_purge_by_age_and_count_per_job(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store)
    first, second = (
        await new_job(job_store, collection_id, "a"),
        await new_job(job_store, collection_id, "b"),
    )
    old = [entry(first, "old", T0 - 2 * MINUTE), entry(second, "old", T0 - MINUTE)]
    recent = [entry(first, f"r{i}", T0 + (i // 2) * MINUTE) for i in range(5)]
    await write(job_store, EngineWrites(entries=[*old, *recent, entry(second, "new", T0)]))
    assert await job_store.purge(T0, 3, T0) == (2 + 2, 0)
    async with job_store.reading() as reads:
        kept = [e.history_id for e in await reads.list_history(first, None, None, 0)]
        other = [e.history_id for e in await reads.list_history(second, None, None, 0)]
    assert kept == ["r4", "r3", "r2"]  # the newest, ties in written order
    assert other == ["new"]
    assert await job_store.purge(T0, 3, T0) == (0, 0)


async def test_purge_removes_jobs_finished_before_the_cutoff(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store)
    ids = {}
    for name, state, finished in [
        ("completed", JobState.COMPLETED, T0 - MINUTE),
        ("faulted", JobState.FAULTED, T0 - MINUTE),
        ("recent", JobState.COMPLETED, T0),
        ("disabled", JobState.DISABLED, T0 - MINUTE),
    ]:
        ids[name] = await new_job(
            job_store, collection_id, name, state=state, finished_at=finished, next_time=None
        )
    await write(job_store, EngineWrites(entries=[entry(ids["completed"], "h", T0)]))
    assert await job_store.purge(T0 - 9 * MINUTE, 100, T0) == (0, 2)
    async with job_store.reading() as reads:
        names = [j.name for j in await reads.list_jobs(collection_id)]
        assert await reads.list_history(ids["completed"], None, None, 0) == []
    assert names == ["disabled", "recent"]


# -- isolation and concurrency -----------------------------------------------------------
async def test_a_reader_keeps_its_snapshot(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store)
    await new_job(job_store, collection_id, "a")
    async with job_store.reading() as reads:
        before = [j.name for j in await reads.list_jobs(collection_id)]
        await new_job(job_store, collection_id, "b")  # committed meanwhile
        during = [j.name for j in await reads.list_jobs(collection_id)]
    async with job_store.reading() as reads:
        after = [j.name for j in await reads.list_jobs(collection_id)]
    assert (before, during, after) == (["a"], ["a"], ["a", "b"])


async def test_two_schedulers_never_get_the_same_job(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store)
    ids = [await new_job(job_store, collection_id, f"j{i}", next_time=T0) for i in range(4)]
    given: list[int] = []

    async def plan(due: list[StoredJob]) -> EngineWrites:
        given.extend(found.id for found in due)
        await asyncio.sleep(0.05)  # the other scheduler runs meanwhile
        moved = [
            dataclasses.replace(
                found, status=dataclasses.replace(found.status, next_execution_time=FAR)
            )
            for found in due
        ]
        return EngineWrites(cursors=moved)

    lease = Lease(NODE, FAR)
    await asyncio.gather(*(job_store.schedule_due(T0, 2, plan, lease) for _ in range(3)))
    assert sorted(given) == ids


async def test_two_claims_never_get_the_same_attempt(job_store: JobStore) -> None:
    job_id = await one_job(job_store)
    await add(job_store, *(occurrence(job_id, T0 + i * MINUTE) for i in range(4)))
    found = await asyncio.gather(*(claim(job_store, T0 + 9 * MINUTE, 3) for _ in range(3)))
    slots = sorted(item.slot for claimed in found for item, _ in claimed)
    assert slots == [T0 + i * MINUTE for i in range(4)]


async def test_the_plan_of_a_claim_writes_in_its_transaction(job_store: JobStore) -> None:
    job_id = await one_job(job_store)
    broken = occurrence(job_id, T0)
    await add(job_store, broken)
    given: list[list[OccurrenceKey]] = []

    async def fault(claimed: list[tuple[Occurrence, StoredJob]]) -> EngineWrites:
        given.append([item.key for item, _ in claimed])
        return EngineWrites(
            entries=[entry(job_id, "fault", T0, HistoryStatus.FAILED)],
            done=[item.key for item, _ in claimed],
            ended=[JobEnd(job_id, JobState.FAULTED, T0)],
        )

    claimed = await job_store.claim_attempts(T0, 10, Lease(NODE, FAR), fault)
    assert [item.key for item, _ in claimed] == [broken.key]
    assert given == [[broken.key]]
    faulted = await job(job_store, job_id)
    assert faulted is not None
    assert (faulted.state, faulted.finished_at, faulted.next_time) == (JobState.FAULTED, T0, None)
    assert await held_by(job_store, NODE, [broken.key]) == set()  # deleted
    async with job_store.reading() as reads:
        assert [e.history_id for e in await reads.list_history(job_id, None, None, 0)] == ["fault"]


async def test_a_claim_whose_plan_raises_claims_nothing(job_store: JobStore) -> None:
    job_id = await one_job(job_store)
    await add(job_store, occurrence(job_id, T0))

    async def plan(claimed: list[tuple[Occurrence, StoredJob]]) -> EngineWrites:
        raise RuntimeError("policy bug")

    with pytest.raises(RuntimeError):
        await job_store.claim_attempts(T0, 10, Lease(OTHER, FAR), plan)
    assert [item.slot for item, _ in await claim(job_store, T0)] == [T0]
