"""A whole scheduler on a fake clock over a real SQLite store, with a recording executor:
the `system` fixture of the engine and service tests. :func:`open_system` builds the same
over another store URL, or over the memory store (``MEMORY``): ``tests/engine`` runs on
memory and SQLite, ``tests/contract`` runs the engine tests on PostgreSQL too."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from jobclock.domain.actions import ActionType
from jobclock.engine.dispatcher import Engine, EngineSettings
from jobclock.ports import JobStore
from jobclock.secret_box import FernetSecretBox
from jobclock.services import CollectionRef, JobRef, SchedulerService
from jobclock.storage.sql_store import SqlStore
from jobclock.testing import FakeClock, MemoryJobStore, RecordingExecutor
from tests.storage.postgres import drop_schema, new_schema

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
MEMORY = "memory:"  # the store URL of :class:`MemoryJobStore`


@dataclass
class System:
    clock: FakeClock
    store: Any  # a JobStore: SqlStore, or MemoryJobStore
    service: SchedulerService
    engine: Engine
    executor: RecordingExecutor
    loop: asyncio.AbstractEventLoop

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def collection(self, name: str = "jc", **properties: Any) -> CollectionRef:
        ref = CollectionRef("sub", "rg", name)
        body = {"location": "West US", "properties": {"sku": {"name": "Unlimited"}, **properties}}
        self.run(self.service.put_collection(ref, body))
        return ref

    def job(self, name: str, properties: dict[str, Any], collection: str = "jc") -> JobRef:
        ref = JobRef(CollectionRef("sub", "rg", collection), name)
        body = {
            "properties": {
                "action": {
                    "type": "Http",
                    "request": {"uri": "http://127.0.0.1/", "method": "GET"},
                },
                **properties,
            }
        }
        self.run(self.service.put_job(ref, body))
        return ref

    def status(self, ref: JobRef) -> Any:
        return self.run(self.service.get_job(ref)).job

    def history(self, ref: JobRef) -> list[Any]:
        page = self.run(self.service.list_history(ref, None, None, 0))
        return [view.entry for view in reversed(page.items)]  # oldest first

    def tick(self) -> int:
        return int(self.run(self.engine.tick()))

    def at(self, when: datetime) -> int:
        """Move the clock to ``when`` and tick until nothing is due."""
        self.clock.set(when)
        return int(self.run(self.engine.run_until_idle()))


@contextmanager
def open_system(tmp_path: Path, store_url: str | None = None) -> Iterator[System]:
    """A system over ``store_url`` (default: a new SQLite file in ``tmp_path``; ``MEMORY``:
    the memory store). A PostgreSQL URL gets a fresh schema of its own, dropped afterwards."""
    loop = asyncio.new_event_loop()
    with ExitStack() as stack:
        stack.callback(loop.close)
        schema = None
        if store_url is not None and store_url.startswith(("postgresql", "postgres:")):
            created = loop.run_until_complete(new_schema())
            stack.callback(lambda: loop.run_until_complete(drop_schema(created)))
            schema = created
        clock = FakeClock(T0)
        store: JobStore
        if store_url == MEMORY:
            store = MemoryJobStore()
        else:
            sql = SqlStore(store_url or f"sqlite:///{tmp_path / 'jobclock.db'}", schema=schema)
            loop.run_until_complete(sql.create_schema())
            store = sql
        stack.callback(lambda: loop.run_until_complete(store.close()))
        box = FernetSecretBox(Fernet.generate_key())
        executor = RecordingExecutor()
        service = SchedulerService(store, box, clock, wake=lambda: None)
        engine = Engine(
            store,
            service.codec,
            dict.fromkeys(ActionType, executor),  # every type: the script decides
            clock,
            EngineSettings(region="Test Region"),
        )
        yield System(clock, store, service, engine, executor, loop)


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    with open_system(tmp_path) as opened:
        yield opened
