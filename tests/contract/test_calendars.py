"""Store contract, calendars (issue 14, item 4): a collection's named calendars, found and
replaced without case (keeping the first spelling), listed by name, deleted alone or with
their collection, and a failed transaction that stores none of them."""

from __future__ import annotations

import pytest

from jobclock.ports import JobStore
from tests.contract.rows import T0, collection, place

pytestmark = pytest.mark.anyio


async def _collection(store: JobStore, name: str) -> int:
    async with store.transaction() as tx:
        return await tx.insert_collection(place(name), collection(name), T0)


async def test_put_find_replace_list_and_delete(job_store: JobStore) -> None:
    first = await _collection(job_store, "jc")
    other = await _collection(job_store, "other")
    async with job_store.transaction() as tx:
        assert await tx.put_calendar(first, "Holidays-NL", '{"dates":["2026-12-25"]}')
        assert await tx.put_calendar(first, "b-weekend", '{"weekDays":["Saturday"]}')
        assert await tx.put_calendar(other, "holidays-nl", "{}")
    async with job_store.transaction() as tx:
        # Replacing through another spelling keeps the first one.
        assert not await tx.put_calendar(first, "HOLIDAYS-nl", '{"dates":["2026-12-26"]}')
    async with job_store.reading() as reads:
        found = await reads.find_calendar(first, "holidays-NL")
        listed = await reads.list_calendars(first)
        missing = await reads.find_calendar(first, "nope")
    assert found is not None
    assert (found.name, found.body) == ("Holidays-NL", '{"dates":["2026-12-26"]}')
    assert [c.name for c in listed] == ["b-weekend", "Holidays-NL"]
    assert missing is None
    async with job_store.transaction() as tx:
        assert await tx.delete_calendar(first, "holidays-nl")
        assert not await tx.delete_calendar(first, "holidays-nl")
    async with job_store.reading() as reads:
        assert [c.name for c in await reads.list_calendars(first)] == ["b-weekend"]
        kept = await reads.find_calendar(other, "Holidays-NL")
    assert kept is not None
    assert kept.body == "{}"


async def test_deleting_a_collection_deletes_its_calendars(job_store: JobStore) -> None:
    doomed = await _collection(job_store, "doomed")
    kept = await _collection(job_store, "kept")
    async with job_store.transaction() as tx:
        await tx.put_calendar(doomed, "cal", "{}")
        await tx.put_calendar(kept, "cal", "{}")
    async with job_store.transaction() as tx:
        await tx.delete_collection(doomed)
    async with job_store.reading() as reads:
        assert await reads.list_calendars(doomed) == []
        assert [c.name for c in await reads.list_calendars(kept)] == ["cal"]


async def test_a_failed_transaction_stores_no_calendar(job_store: JobStore) -> None:
    collection_id = await _collection(job_store, "jc")

    class Boom(Exception):
        pass

    async def fail() -> None:
        async with job_store.transaction() as tx:
            await tx.put_calendar(collection_id, "cal", "{}")
            raise Boom

    with pytest.raises(Boom):
        await fail()
    async with job_store.reading() as reads:
        assert await reads.list_calendars(collection_id) == []
