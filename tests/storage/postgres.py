"""The PostgreSQL of the tests: 127.0.0.1:5432, database ``test``, trust auth (or
``JOBCLOCK_TEST_POSTGRES_URL``), and a fresh schema per test.

Without a reachable server the PostgreSQL tests skip, unless ``JOBCLOCK_REQUIRE_SERVICES=1``
makes that a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

import asyncpg  # type: ignore[import-untyped]
import pytest

POSTGRES_URL = os.environ.get(
    "JOBCLOCK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]

_checked: dict[str, str | None] = {}


async def _connect() -> asyncpg.Connection:
    return await asyncpg.connect(POSTGRES_URL, timeout=3)


async def _reason_unavailable() -> str | None:
    """Why PostgreSQL cannot be used (asked once per run), or None."""
    if POSTGRES_URL not in _checked:
        try:
            connection = await _connect()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            _checked[POSTGRES_URL] = f"PostgreSQL is not reachable at {POSTGRES_URL}: {error!r}"
        else:
            await connection.close()
            _checked[POSTGRES_URL] = None
    return _checked[POSTGRES_URL]


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("JOBCLOCK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (JOBCLOCK_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(f"{reason} (set JOBCLOCK_REQUIRE_SERVICES=1 to fail instead)")


async def new_schema() -> str:
    """Create a new, empty schema for one test and return its name.

    Skips (or fails, see the module docstring) when PostgreSQL is not reachable."""
    reason = await _reason_unavailable()
    if reason is not None:
        _unavailable(reason)
    name = f"jobclock_test_{uuid.uuid4().hex[:12]}"
    connection = await _connect()
    try:
        await connection.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await connection.close()
    return name


async def drop_schema(name: str) -> None:
    """Drop a schema of :func:`new_schema` with everything in it."""
    connection = await _connect()
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await connection.close()


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """:func:`new_schema`, dropped on the way out."""
    name = await new_schema()
    try:
        yield name
    finally:
        await drop_schema(name)
