"""Run the Alembic migrations on a store's database (at every start).

The same revisions serve SQLite and PostgreSQL. Nothing names a schema: on PostgreSQL the
tables and Alembic's version table go to the first schema of the connection's
``search_path`` (``public`` by default, the store's own schema when it has one), so two
stores in two schemas of one database are migrated independently.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


# Any constant: nodes starting together take turns migrating one database.
_MIGRATION_LOCK = 7_324_119_001


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (serialised across nodes on PostgreSQL)."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        await conn.run_sync(lambda sync: command.upgrade(_config(sync), "head"))
