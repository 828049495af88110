"""Fixtures of the store contract: ``store`` is a migrated, empty :class:`SqlStore` on each
backend (SQLite in a temporary file; PostgreSQL in a schema of its own, see
``tests/storage/postgres.py``); ``job_store`` is the same port on the memory store too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jobclock.memory_store import MemoryJobStore
from jobclock.ports import JobStore
from jobclock.storage.sql_store import SqlStore
from tests.storage.postgres import BACKENDS, POSTGRES_URL, postgres_schema


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    if request.param == "sqlite":
        opened = SqlStore(f"sqlite:///{tmp_path / 'store.db'}")
        await opened.migrate()
        yield opened
        await opened.close()
        return
    async with postgres_schema() as schema:
        opened = SqlStore(POSTGRES_URL, schema=schema)
        try:
            await opened.migrate()
            yield opened
        finally:
            await opened.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def job_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobStore]:
    if request.param == "memory":
        yield MemoryJobStore()
        return
    if request.param == "sqlite":
        opened = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
        await opened.migrate()
        yield opened
        await opened.close()
        return
    async with postgres_schema() as schema:
        opened = SqlStore(POSTGRES_URL, schema=schema)
        try:
            await opened.migrate()
            yield opened
        finally:
            await opened.close()
