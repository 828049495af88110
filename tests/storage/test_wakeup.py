"""The Wakeup port (jobclock.ports) over PostgreSQL LISTEN/NOTIFY, and on SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from jobclock.storage.sql_store import SqlStore
from jobclock.storage.wakeup import SqlWakeup
from tests.storage.postgres import POSTGRES_URL, postgres_schema

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_notify_from_another_store_wakes_the_listener() -> None:
    async with postgres_schema() as schema:
        listening, writing = SqlStore(POSTGRES_URL, schema=schema), SqlStore(POSTGRES_URL)
        heard = asyncio.Event()
        stop = asyncio.Event()
        task = asyncio.create_task(SqlWakeup(listening).listen(stop, heard.set))
        try:
            # The listener subscribes asynchronously: notify until it hears one.
            for _ in range(50):
                async with writing.transaction() as tx:
                    await tx.notify()
                try:
                    await asyncio.wait_for(heard.wait(), timeout=0.2)
                    break
                except TimeoutError:
                    continue
            assert heard.is_set()
            # A notify in a transaction that rolls back wakes nobody.
            heard.clear()
            with pytest.raises(RuntimeError):
                await _notify_and_fail(writing)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(heard.wait(), timeout=0.5)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=10)
            await listening.close()
            await writing.close()


async def test_on_sqlite_there_is_nothing_to_listen_to(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        await asyncio.wait_for(SqlWakeup(store).listen(asyncio.Event(), lambda: None), 1)
    finally:
        await store.close()


async def _notify_and_fail(store: SqlStore) -> None:
    async with store.transaction() as tx:
        await tx.notify()
        raise RuntimeError
