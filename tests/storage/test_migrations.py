"""Applying every migration yields exactly the schema of the table definitions, on SQLite
and on PostgreSQL (in a schema of the test's own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from jobclock.storage.sql_store import SqlStore
from jobclock.storage.tables import metadata
from tests.storage.postgres import BACKENDS, POSTGRES_URL, postgres_schema

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
async def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    """A store on a database (or PostgreSQL schema) with no tables yet."""
    if request.param == "sqlite":
        store = SqlStore(f"sqlite:///{tmp_path / 'migrated.db'}")
        yield store
        await store.close()
        return
    async with postgres_schema() as schema:
        store = SqlStore(POSTGRES_URL, schema=schema)
        try:
            yield store
        finally:
            await store.close()


def _diff(sync_connection: Any) -> list[Any]:
    context = MigrationContext.configure(sync_connection)
    return list(compare_metadata(context, metadata))


def _tables(sync_connection: Any) -> set[str]:
    return set(inspect(sync_connection).get_table_names())


async def test_migrations_yield_the_table_definitions(empty_store: SqlStore) -> None:
    await empty_store.migrate()
    await empty_store.migrate()  # idempotent: a second start changes nothing
    async with empty_store.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
        tables = await conn.run_sync(_tables)
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    assert diff == []
    # On PostgreSQL only the store's schema is on the search path: everything went there.
    assert tables == {
        "collections",
        "jobs",
        "calendars",
        "endpoints",
        "notices",
        "host_slots",
        "host_permits",
        "occurrences",
        "history",
        "nodes",
        "tokens",
        "sessions",
        "signin_failures",
        "audit",
        "alembic_version",
    }
    assert len(version) == 1


async def test_the_comparison_notices_a_missing_column(empty_store: SqlStore) -> None:
    await empty_store.migrate()
    async with empty_store.writing_connection() as conn:
        await conn.exec_driver_sql("ALTER TABLE jobs DROP COLUMN postponed")
    async with empty_store.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    [(change, _schema, table, column)] = diff  # the definitions have a column the database lacks
    assert (change, table, column.name) == ("add_column", "jobs", "postponed")


def test_a_schema_needs_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        SqlStore(f"sqlite:///{tmp_path / 'x.db'}", schema="elsewhere")
