"""Store contract, collections: keys, listing by subscription and resource group, counts,
updates, and a delete that takes the jobs, occurrences and history with it."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from jobclock.domain.collection import CollectionState, Quota, Sku
from jobclock.domain.records import CollectionPlace, EngineWrites
from jobclock.storage.sql_store import SqlStore
from tests.contract.rows import (
    T0,
    collection,
    count_rows,
    history_row,
    new_collection,
    new_job,
    occurrence,
    place,
)

pytestmark = pytest.mark.anyio


async def test_insert_then_find_by_key(store: SqlStore) -> None:
    where = CollectionPlace("Sub-1", "My-RG", "MyJobs")
    stored = collection("MyJobs", quota=Quota(max_job_count=5), tags=(("a", "b"),))
    async with store.transaction() as tx:
        collection_id = await tx.insert_collection(where, stored, T0)
        found = await tx.find_collection(CollectionPlace("sub-1", "my-rg", "myjobs"))
        missing = await tx.find_collection(CollectionPlace("sub-1", "my-rg", "other"))
    assert found is not None
    assert found.id == collection_id
    assert found.place == where
    record = found.collection
    assert (record.location, record.sku, record.state) == (
        "West US",
        Sku.STANDARD,
        CollectionState.ENABLED,
    )
    assert (record.quota, record.tags) == (Quota(max_job_count=5), (("a", "b"),))
    assert missing is None


async def test_keys_are_unique(store: SqlStore) -> None:
    await new_collection(store, "jc")
    with pytest.raises(IntegrityError):
        await new_collection(store, "JC")
    async with store.transaction() as tx:
        assert await tx.count_collections("sub", Sku.STANDARD) == (1, 1)


async def test_list_by_subscription_in_code_point_order(store: SqlStore) -> None:
    names = ["beta", "Alpha", "alpha-2", "alpha_1", "alpha1", "Zeta", "a"]
    for name in names:
        await new_collection(store, name)
    await new_collection(store, "elsewhere", subscription="other")
    async with store.transaction() as tx:
        listed = await tx.list_collections("sub", None)
        other = await tx.list_collections("other", None)
        none = await tx.list_collections("nobody", None)
    assert [record.place.name for record in listed] == sorted(names)
    assert [record.place.name for record in other] == ["elsewhere"]
    assert none == []


async def test_list_by_resource_group_prefix_escapes_like_wildcards(store: SqlStore) -> None:
    await new_collection(store, "one", resource_group="r_g")
    await new_collection(store, "two", resource_group="rxg")
    await new_collection(store, "three", resource_group="r%g")
    await new_collection(store, "four", resource_group="R_G-longer")
    async with store.transaction() as tx:
        underscore = await tx.list_collections("sub", "r_g")
        percent = await tx.list_collections("sub", "r%g")
        plain = await tx.list_collections("sub", "rxg")
        empty = await tx.list_collections("sub", "nothing")
    assert [record.place.name for record in underscore] == ["one"]
    assert [record.place.name for record in percent] == ["three"]
    assert [record.place.name for record in plain] == ["two"]
    assert empty == []


async def test_count_by_plan_within_a_subscription(store: SqlStore) -> None:
    await new_collection(store, "a", sku=Sku.FREE)
    await new_collection(store, "b", sku=Sku.FREE, resource_group="other-rg")
    await new_collection(store, "c", sku=Sku.STANDARD)
    await new_collection(store, "d", sku=Sku.FREE, subscription="another")
    async with store.transaction() as tx:
        assert await tx.count_collections("sub", Sku.FREE) == (2, 3)
        assert await tx.count_collections("sub", Sku.P20_PREMIUM) == (0, 3)
        assert await tx.count_collections("nobody", Sku.FREE) == (0, 0)


async def test_update(store: SqlStore) -> None:
    collection_id = await new_collection(store, "jc")
    changed = collection("jc", state=CollectionState.DISABLED, sku=Sku.FREE, tags=())
    async with store.transaction() as tx:
        await tx.update_collection(collection_id, changed)
        found = await tx.find_collection(place("jc", "sub", "rg"))
    assert found is not None
    record = found.collection
    assert (record.state, record.sku, record.tags) == (CollectionState.DISABLED, Sku.FREE, ())


async def test_delete_takes_jobs_occurrences_and_history(store: SqlStore) -> None:
    doomed = await new_collection(store, "doomed")
    kept = await new_collection(store, "kept")
    doomed_jobs = [await new_job(store, doomed, name) for name in ("a", "b")]
    kept_job = await new_job(store, kept, "a")
    async with store.transaction() as tx:
        for job_id in [*doomed_jobs, kept_job]:
            await tx.insert_occurrences([occurrence(job_id)], None)
            await tx.apply(EngineWrites(entries=[history_row(job_id)]), None)
    async with store.transaction() as tx:
        await tx.delete_collection(doomed)
    async with store.transaction() as tx:
        assert await tx.find_collection(place("doomed", "sub", "rg")) is None
        assert await tx.find_collection(place("kept", "sub", "rg")) is not None
    async with store.reading_connection() as conn:
        for job_id in doomed_jobs:
            assert await count_rows(conn, job_id) == (0, 0, 0)
        assert await count_rows(conn, kept_job) == (1, 1, 1)
