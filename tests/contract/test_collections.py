"""Store contract, collections: keys, listing by subscription and resource group, counts,
updates, and a delete that takes the jobs, occurrences and history with it."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from jobclock.storage.sql_store import SqlStore
from tests.contract.rows import (
    collection_row,
    count_rows,
    history_row,
    new_collection,
    new_job,
    occurrence_row,
)

pytestmark = pytest.mark.anyio


async def test_insert_then_find_by_key(store: SqlStore) -> None:
    row = collection_row("MyJobs", "Sub-1", "My-RG", quota='{"maxJobCount":5}', tags='{"a":"b"}')
    async with store.transaction() as conn:
        collection_id = await store.insert_collection(conn, row)
        found = await store.find_collection(conn, "sub-1/my-rg/myjobs")
        missing = await store.find_collection(conn, "sub-1/my-rg/other")
    assert found is not None
    assert found.id == collection_id
    assert (found.subscription, found.resource_group, found.name) == ("Sub-1", "My-RG", "MyJobs")
    assert (found.location, found.sku, found.state) == ("West US", "Standard", "Enabled")
    assert (found.quota, found.tags) == ('{"maxJobCount":5}', '{"a":"b"}')
    assert missing is None


async def test_keys_are_unique(store: SqlStore) -> None:
    await new_collection(store, "jc")
    with pytest.raises(IntegrityError):
        await new_collection(store, "JC")
    async with store.transaction() as conn:
        assert await store.count_collections(conn, "sub", "Standard") == (1, 1)


async def test_list_by_subscription_in_code_point_order(store: SqlStore) -> None:
    names = ["beta", "Alpha", "alpha-2", "alpha_1", "alpha1", "Zeta", "a"]
    for name in names:
        await new_collection(store, name)
    await new_collection(store, "elsewhere", subscription="other")
    async with store.transaction() as conn:
        listed = await store.list_collections(conn, "sub", None)
        other = await store.list_collections(conn, "other", None)
        none = await store.list_collections(conn, "nobody", None)
    assert [record.name for record in listed] == sorted(names)
    assert [record.name for record in other] == ["elsewhere"]
    assert none == []


async def test_list_by_resource_group_prefix_escapes_like_wildcards(store: SqlStore) -> None:
    await new_collection(store, "one", resource_group="r_g")
    await new_collection(store, "two", resource_group="rxg")
    await new_collection(store, "three", resource_group="r%g")
    await new_collection(store, "four", resource_group="R_G-longer")
    async with store.transaction() as conn:
        underscore = await store.list_collections(conn, "sub", "sub/r_g/")
        percent = await store.list_collections(conn, "sub", "sub/r%g/")
        plain = await store.list_collections(conn, "sub", "sub/rxg/")
        empty = await store.list_collections(conn, "sub", "sub/nothing/")
    assert [record.name for record in underscore] == ["one"]
    assert [record.name for record in percent] == ["three"]
    assert [record.name for record in plain] == ["two"]
    assert empty == []


async def test_count_by_plan_within_a_subscription(store: SqlStore) -> None:
    await new_collection(store, "a", sku="Free")
    await new_collection(store, "b", sku="Free", resource_group="other-rg")
    await new_collection(store, "c", sku="Standard")
    await new_collection(store, "d", sku="Free", subscription="another")
    async with store.transaction() as conn:
        assert await store.count_collections(conn, "sub", "Free") == (2, 3)
        assert await store.count_collections(conn, "sub", "P20Premium") == (0, 3)
        assert await store.count_collections(conn, "nobody", "Free") == (0, 0)


async def test_update(store: SqlStore) -> None:
    collection_id = await new_collection(store, "jc")
    async with store.transaction() as conn:
        await store.update_collection(
            conn, collection_id, {"state": "Disabled", "sku": "Free", "tags": None}
        )
        found = await store.find_collection(conn, "sub/rg/jc")
    assert found is not None
    assert (found.state, found.sku, found.tags) == ("Disabled", "Free", None)


async def test_delete_takes_jobs_occurrences_and_history(store: SqlStore) -> None:
    doomed = await new_collection(store, "doomed")
    kept = await new_collection(store, "kept")
    doomed_jobs = [await new_job(store, doomed, name) for name in ("a", "b")]
    kept_job = await new_job(store, kept, "a")
    async with store.transaction() as conn:
        for job_id in [*doomed_jobs, kept_job]:
            await store.insert_occurrences(conn, [occurrence_row(job_id)])
            await store.insert_history(conn, [history_row(job_id)])
    async with store.transaction() as conn:
        await store.delete_collection(conn, doomed)
    async with store.transaction() as conn:
        assert await store.find_collection(conn, "sub/rg/doomed") is None
        assert await store.find_collection(conn, "sub/rg/kept") is not None
        for job_id in doomed_jobs:
            assert await count_rows(conn, job_id) == (0, 0, 0)
        assert await count_rows(conn, kept_job) == (1, 1, 1)
