"""Keyset paging of the store (issue 13): ``list_jobs(after=name)`` and
``list_history(after=HistoryKey)`` continue a list after a position, on every backend (the
memory store, SQLite and PostgreSQL), so that the last page costs what the first does.

Every test pages through a list with ``after`` and compares the pages with the whole list:
nothing twice, nothing missing, also when entries share a start time and when jobs or
entries come and go between pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from jobclock.domain.collection import JobCollection
from jobclock.domain.history import ActionName, HistoryStatus
from jobclock.domain.job import JobState
from jobclock.domain.planning import Cursor
from jobclock.domain.records import (
    CollectionPlace,
    EngineWrites,
    HistoryKey,
    Schedule,
    StoredEntry,
    StoredJob,
)
from jobclock.ports import JobStore

K = TypeVar("K")  # a position in a list
R = TypeVar("R")  # a row of it

pytestmark = pytest.mark.anyio

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
# Names whose code-point order differs from a linguistic collation's ("-" and "_" are not
# ignored) and from a case-sensitive one.
NAMES = [f"{prefix}{index:03d}" for index in range(50) for prefix in ("A-", "a_", "Ab", "b", "Z")]


async def new_collection(store: JobStore, name: str) -> int:
    async with store.transaction() as tx:
        return await tx.insert_collection(
            CollectionPlace("Sub", "RG", name), JobCollection(name, "West US"), T0
        )


def _schedule(state: JobState) -> Schedule:
    return Schedule('{"action":{"type":"Http"}}', state, Cursor(T0, None, 0), T0, None)


async def add_jobs(store: JobStore, collection_id: int, names: list[str]) -> None:
    async with store.transaction() as tx:
        for index, name in enumerate(names):
            state = JobState.DISABLED if index % 3 == 0 else JobState.ENABLED
            await tx.insert_job(collection_id, name, _schedule(state), T0)


async def delete_job(store: JobStore, collection_id: int, name: str) -> None:
    async with store.transaction() as tx:
        found = await tx.find_job(collection_id, name)
        assert found is not None
        await tx.delete_job(found.id)


async def all_jobs(
    store: JobStore, collection_id: int, state: JobState | None = None
) -> list[StoredJob]:
    async with store.reading() as reads:
        return await reads.list_jobs(collection_id, state)


async def page_of_jobs(
    store: JobStore,
    collection_id: int,
    after: str | None,
    limit: int,
    state: JobState | None = None,
    offset: int = 0,
) -> list[StoredJob]:
    async with store.reading() as reads:
        return await reads.list_jobs(collection_id, state, limit, offset, after=after)


async def every_page(
    read: Callable[[str | None], Awaitable[list[StoredJob]]],
    between: Callable[[int], Awaitable[None]] | None = None,
) -> list[list[StoredJob]]:
    """Pages of ``read`` from the start, each after the last name of the one before."""
    return await _pages(read, lambda job: job.name, between)


async def _pages(
    read: Callable[[K | None], Awaitable[list[R]]],
    position: Callable[[R], K],
    between: Callable[[int], Awaitable[None]] | None,
) -> list[list[R]]:
    """Pages of ``read`` from the start, each after the ``position`` of the last row of the
    one before; ``between`` runs after each page (given how many so far)."""
    pages: list[list[R]] = []
    after: K | None = None
    while True:
        page = await read(after)
        if not page:
            return pages
        pages.append(page)
        assert len(pages) < 100
        after = position(page[-1])
        if between is not None:
            await between(len(pages))


def names(jobs: list[StoredJob]) -> list[str]:
    return [job.name for job in jobs]


# -- jobs ----------------------------------------------------------------------------------
async def test_pages_after_a_name_are_the_whole_list(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store, "jc")
    other = await new_collection(job_store, "other")
    await add_jobs(job_store, collection_id, NAMES)
    await add_jobs(job_store, other, ["a_000x", "B000", "zz"])  # in between, elsewhere
    whole = await all_jobs(job_store, collection_id)
    assert len(whole) == 250
    assert names(whole) == sorted(NAMES, key=str.lower)

    pages = await every_page(lambda after: page_of_jobs(job_store, collection_id, after, 17))
    assert [len(page) for page in pages] == [17] * 14 + [12]
    assert names([job for page in pages for job in page]) == names(whole)


async def test_pages_after_a_name_keep_the_state_filter(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store, "jc")
    await add_jobs(job_store, collection_id, NAMES)
    disabled = await all_jobs(job_store, collection_id, JobState.DISABLED)
    assert len(disabled) == 84

    pages = await every_page(
        lambda after: page_of_jobs(job_store, collection_id, after, 10, JobState.DISABLED)
    )
    assert names([job for page in pages for job in page]) == names(disabled)


async def test_after_is_a_case_insensitive_position_not_a_job(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store, "jc")
    await add_jobs(job_store, collection_id, ["alpha", "Beta", "gamma"])

    async def following(after: str) -> list[str]:
        return names(await page_of_jobs(job_store, collection_id, after, 10))

    assert await following("ALPHA") == ["Beta", "gamma"]
    assert await following("beta") == ["gamma"]
    assert await following("b") == ["Beta", "gamma"]  # no such job: still a position
    assert await following("a-") == ["alpha", "Beta", "gamma"]
    assert await following("gamma") == []
    assert await following("zzz") == []


async def test_offset_after_a_name_skips_from_there(job_store: JobStore) -> None:
    collection_id = await new_collection(job_store, "jc")
    await add_jobs(job_store, collection_id, NAMES)
    whole = names(await all_jobs(job_store, collection_id))
    key = whole[99]
    page = await page_of_jobs(job_store, collection_id, key, 5, offset=3)
    assert names(page) == whole[103:108]


async def test_jobs_added_and_deleted_between_pages(job_store: JobStore) -> None:
    """Keyset pages never repeat a job nor skip one that stayed; a job added behind the
    position is not seen, one added ahead of it is, one deleted before it was read is not,
    and deleting the position's own job does not lose the place."""
    collection_id = await new_collection(job_store, "jc")
    await add_jobs(job_store, collection_id, NAMES)
    before = names(await all_jobs(job_store, collection_id))
    seen: list[str] = []
    behind: list[str] = []
    ahead: list[str] = []
    deleted_unseen: list[str] = []

    async def churn(pages_read: int) -> None:
        if pages_read > 6:
            return
        listed = names(await all_jobs(job_store, collection_id))
        behind.append(f"a-{pages_read:03d}x")  # sorts before "A-019", the first page's end
        ahead.append(f"zz{pages_read:03d}")
        await add_jobs(job_store, collection_id, [behind[-1], ahead[-1]])
        await delete_job(job_store, collection_id, seen[-1])  # the position itself
        if listed[-5] not in seen and listed[-5] != seen[-1]:
            await delete_job(job_store, collection_id, listed[-5])
            deleted_unseen.append(listed[-5])

    async def read(after: str | None) -> list[StoredJob]:
        page = await page_of_jobs(job_store, collection_id, after, 20)
        seen.extend(names(page))
        return page

    await every_page(read, between=churn)
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen, key=str.lower)
    assert deleted_unseen
    assert [name for name in seen if name in before] == [
        name for name in before if name not in deleted_unseen
    ]
    assert not set(seen) & set(behind)
    assert [name for name in seen if name in ahead] == [
        name for name in ahead if name not in deleted_unseen
    ]


# -- history -------------------------------------------------------------------------------
def entry(job_id: int, index: int, start: datetime) -> StoredEntry:
    status = HistoryStatus.FAILED if index % 4 == 0 else HistoryStatus.COMPLETED
    return StoredEntry(
        job_id, f"h{index:04d}", start, start, start, ActionName.MAIN_ACTION, status, "", 0, index
    )


async def write(store: JobStore, entries: list[StoredEntry]) -> None:
    async def plan(*_: object) -> EngineWrites:
        return EngineWrites(entries=entries)

    await store.record("node", [], plan)


async def new_job(store: JobStore, collection_id: int, name: str) -> int:
    async with store.transaction() as tx:
        return await tx.insert_job(collection_id, name, _schedule(JobState.ENABLED), T0)


async def all_history(
    store: JobStore, job_id: int, status: HistoryStatus | None = None
) -> list[StoredEntry]:
    async with store.reading() as reads:
        return await reads.list_history(job_id, status, None, 0)


async def history_pages(
    store: JobStore,
    job_id: int,
    limit: int,
    status: HistoryStatus | None = None,
    between: Callable[[int], Awaitable[None]] | None = None,
) -> list[list[StoredEntry]]:
    async def read(after: HistoryKey | None) -> list[StoredEntry]:
        async with store.reading() as reads:
            return await reads.list_history(job_id, status, limit, 0, after=after)

    return await _pages(read, lambda entry: entry.key, between)


async def job_with_history(store: JobStore) -> int:
    """A job with 250 entries, seven to a start time, written in batches out of start
    order, beside another job's entries of the same start times."""
    collection_id = await new_collection(store, "jc")
    job_id = await new_job(store, collection_id, "job")
    other = await new_job(store, collection_id, "other")
    starts = [T0 + (index // 7) * MINUTE for index in range(250)]
    order = list(range(250))
    batches = [order[index::3] for index in range(3)]  # each batch out of start order
    for batch in batches:
        await write(store, [entry(job_id, index, starts[index]) for index in batch])
        await write(store, [entry(other, 1000 + index, starts[index]) for index in batch[:5]])
    return job_id


def ids(entries: list[StoredEntry]) -> list[str]:
    return [item.history_id for item in entries]


async def test_history_pages_after_a_key_are_the_whole_list(job_store: JobStore) -> None:
    job_id = await job_with_history(job_store)
    whole = await all_history(job_store, job_id)
    assert len(whole) == 250
    starts = [item.start_time for item in whole]
    assert starts == sorted(starts, reverse=True)

    pages = await history_pages(job_store, job_id, 13)
    assert [len(page) for page in pages] == [13] * 19 + [3]
    assert ids([item for page in pages for item in page]) == ids(whole)


async def test_history_pages_after_a_key_keep_the_status_filter(job_store: JobStore) -> None:
    job_id = await job_with_history(job_store)
    failed = await all_history(job_store, job_id, HistoryStatus.FAILED)
    assert len(failed) == 63
    pages = await history_pages(job_store, job_id, 5, HistoryStatus.FAILED)
    assert ids([item for page in pages for item in page]) == ids(failed)


async def test_history_key_is_the_place_in_the_order(job_store: JobStore) -> None:
    job_id = await job_with_history(job_store)
    whole = await all_history(job_store, job_id)
    keys = [item.key for item in whole]
    assert len(set(keys)) == 250
    assert all(key.start_time == item.start_time for key, item in zip(keys, whole, strict=True))
    async with job_store.reading() as reads:
        skipped = await reads.list_history(job_id, None, 4, 2, after=keys[100])
        older = await reads.list_history(job_id, None, None, 0, after=HistoryKey(T0, 0))
        newest = await reads.list_history(job_id, None, 3, 0, after=HistoryKey(T0 + MINUTE, 0))
        assert await reads.history_entry(job_id, whole[0].history_id) == whole[0]
    assert ids(skipped) == ids(whole[103:107])
    assert older == []
    assert ids(newest) == ids([item for item in whole if item.start_time == T0][:3])


async def test_history_written_between_pages(job_store: JobStore) -> None:
    """Entries written between pages (newer ones, as the engine writes them) are behind the
    position: the pages are exactly the entries there were, once each."""
    job_id = await job_with_history(job_store)
    before = await all_history(job_store, job_id)
    latest = before[0].start_time

    async def more(pages_read: int) -> None:
        start = latest + pages_read * MINUTE
        await write(job_store, [entry(job_id, 500 + pages_read * 2 + n, start) for n in (0, 1)])

    pages = await history_pages(job_store, job_id, 30, between=more)
    assert ids([item for page in pages for item in page]) == ids(before)
    assert len(await all_history(job_store, job_id)) == 250 + 2 * len(pages)
