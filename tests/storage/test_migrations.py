"""Applying every migration yields exactly the schema of the table definitions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from jobclock.storage.sql_store import SqlStore
from jobclock.storage.tables import metadata


def _diff(sync_connection: Any) -> list[Any]:
    context = MigrationContext.configure(sync_connection)
    return list(compare_metadata(context, metadata))


def _tables(sync_connection: Any) -> set[str]:
    return set(inspect(sync_connection).get_table_names())


def test_migrations_yield_the_table_definitions(tmp_path: Path) -> None:
    async def check() -> tuple[list[Any], set[str]]:
        store = SqlStore(f"sqlite:///{tmp_path / 'migrated.db'}")
        await store.migrate()
        await store.migrate()  # idempotent: a second start changes nothing
        async with store.engine.connect() as conn:
            diff = await conn.run_sync(_diff)
            tables = await conn.run_sync(_tables)
        await store.close()
        return diff, tables

    diff, tables = asyncio.run(check())
    assert diff == []
    assert {"collections", "jobs", "occurrences", "history", "alembic_version"} <= tables


def test_the_comparison_notices_a_missing_column(tmp_path: Path) -> None:
    async def check() -> list[Any]:
        store = SqlStore(f"sqlite:///{tmp_path / 'drift.db'}")
        await store.migrate()
        async with store.engine.begin() as conn:
            await conn.exec_driver_sql("ALTER TABLE jobs DROP COLUMN postponed")
        async with store.engine.connect() as conn:
            diff = await conn.run_sync(_diff)
        await store.close()
        return diff

    assert asyncio.run(check()) != []
