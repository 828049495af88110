"""Fixtures of the store contract: ``store`` is a migrated, empty :class:`SqlStore` on each
backend (SQLite in a temporary file; PostgreSQL in a schema of its own, see
``tests/storage/postgres.py``); ``job_store`` is the same port on the memory store too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from jobclock.memory_store import MemoryJobStore
from jobclock.ports import JobStore
from jobclock.storage.sql_store import SqlStore
from tests.storage.postgres import BACKENDS, POSTGRES_URL, postgres_schema


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def _sql_store(backend: str, tmp_path: Path) -> AsyncIterator[SqlStore]:
    """A migrated, empty SqlStore: SQLite in a temporary file, or PostgreSQL in a schema of
    its own (dropped afterwards)."""
    if backend == "sqlite":
        opened = SqlStore(f"sqlite:///{tmp_path / 'store.db'}")
        try:
            await opened.migrate()
            yield opened
        finally:
            await opened.close()
        return
    async with postgres_schema() as schema:
        opened = SqlStore(POSTGRES_URL, schema=schema)
        try:
            await opened.migrate()
            yield opened
        finally:
            await opened.close()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    async with _sql_store(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture(params=["memory", *BACKENDS])
async def job_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobStore]:
    if request.param == "memory":
        yield MemoryJobStore()
        return
    async with _sql_store(request.param, tmp_path) as opened:
        yield opened
