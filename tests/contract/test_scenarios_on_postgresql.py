"""The engine and service scenarios of ``tests/engine`` (the engine, overlap policies,
jitter, catch-up and backfill, calendars, notifications, retries, templates) and ``tests/services`` again, on PostgreSQL: the same test
functions, with a ``system`` over a fresh PostgreSQL schema.
(They run on SQLite where they live.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from jobclock.storage.tables import jobs
from tests.engine import (
    test_calendar_jobs,
    test_catch_up,
    test_engine,
    test_explain,
    test_jitter_jobs,
    test_notifications,
    test_overlap_policy,
    test_retry_policies,
    test_templated_jobs,
)
from tests.services import test_service
from tests.storage.postgres import POSTGRES_URL
from tests.system import System, open_system

# These read the bytes of the SQLite file; the rows themselves are checked below.
_SQLITE_FILE_ONLY = {
    "test_secrets_are_sealed_at_rest",
    "test_every_kind_of_secret_is_sealed_and_never_returned",
}
for _module in (
    test_engine,
    test_service,
    test_overlap_policy,
    test_jitter_jobs,
    test_catch_up,
    test_explain,
    test_calendar_jobs,
    test_notifications,
    test_retry_policies,
    test_templated_jobs,
):
    for _name, _test in vars(_module).items():
        if _name.startswith("test_") and _name not in _SQLITE_FILE_ONLY:
            globals()[_name] = _test


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    with open_system(tmp_path, POSTGRES_URL) as opened:
        yield opened


def test_secrets_are_sealed_in_the_rows(system: System) -> None:
    system.collection()
    authentication = {"type": "Basic", "username": "u", "password": "hunter2-unique-xyz"}
    request = {"uri": "http://x/", "method": "GET", "authentication": authentication}
    system.job("j", {"action": {"type": "Http", "request": request}})

    async def stored() -> list[str]:
        async with system.store.reading_connection() as conn:
            return list((await conn.execute(select(jobs.c.definition))).scalars())

    [definition] = system.run(stored())
    assert "hunter2-unique-xyz" not in definition
    assert '"username":"u"' in definition  # the rest of the definition is there in clear
