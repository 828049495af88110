"""The composition root: settings → store → secret box → clock → executors → services."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI
from starlette.types import ASGIApp

from jobclock.actions.registry import build_executors
from jobclock.api.app import create_app
from jobclock.clock import SystemClock
from jobclock.domain.actions import ActionType
from jobclock.engine.dispatcher import Engine, EngineSettings
from jobclock.ports import ActionExecutor
from jobclock.secret_box import FernetSecretBox, load_or_create_key
from jobclock.services import SchedulerService
from jobclock.settings import Settings
from jobclock.storage.sql_store import SqlStore
from jobclock.web import create_portal, with_portal


@dataclass
class Application:
    settings: Settings
    store: SqlStore
    service: SchedulerService
    engine: Engine
    api: FastAPI
    executors: dict[ActionType, ActionExecutor]
    # What the server serves: the portal's paths to the portal, the rest to the API.
    http: ASGIApp

    async def close(self) -> None:
        for executor in {id(e): e for e in self.executors.values()}.values():
            await executor.aclose()
        await self.store.close()


def build(settings: Settings, token: str) -> Application:
    """Wire everything; nothing runs until the caller starts the engine and the server."""
    store = SqlStore(settings.db)
    key = settings.secret_key or load_or_create_key(settings.data_dir / "jobclock.key")
    box = FernetSecretBox(key)
    clock = SystemClock()
    service = SchedulerService(store, box, clock, wake=clock.wake)
    executors = build_executors(os.environ, clock)
    engine = Engine(
        store,
        service.codec,
        executors,
        clock,
        EngineSettings(
            region=settings.region,
            concurrency=settings.concurrency,
            node=settings.node_name,
            lease=timedelta(seconds=settings.lease_seconds),
        ),
    )
    api = create_app(service, token)
    portal = create_portal(service, token, clock)
    return Application(
        settings, store, service, engine, api, dict(executors), with_portal(portal, api)
    )
