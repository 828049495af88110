"""The composition root: settings → store → secret box → clock → executors → services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI
from starlette.types import ASGIApp

from jobclock.access import AccessService
from jobclock.actions.outbound import server_policy
from jobclock.actions.registry import executors_for
from jobclock.api.app import create_app
from jobclock.clock import SystemClock
from jobclock.codec.stored import StoredDefinitions
from jobclock.domain.outbound import OutboundPolicy
from jobclock.engine.dispatcher import Engine, EngineSettings
from jobclock.engine.runner import EngineParts, EngineThread
from jobclock.metrics import PrometheusMetrics
from jobclock.ports import Dispatch, Metrics, SecretBox
from jobclock.secret_box import FernetSecretBox, load_or_create_key
from jobclock.services import SchedulerService
from jobclock.settings import Settings
from jobclock.storage.access_store import SqlAccessStore
from jobclock.storage.sql_store import SqlStore
from jobclock.storage.wakeup import SqlWakeup
from jobclock.web import create_portal, with_portal
from jobclock.workers import Workers


@dataclass
class Application:
    settings: Settings
    store: SqlStore
    service: SchedulerService
    # The engine runs on a thread of its own, with its own store, clock and executors, or
    # in worker processes (``--workers``).
    engine: Dispatch
    api: FastAPI
    # What the server serves: the portal's paths to the portal, the rest to the API.
    http: ASGIApp

    async def close(self) -> None:
        await self.store.close()


def engine_parts(
    settings: Settings,
    box: SecretBox,
    outbound: OutboundPolicy,
    only_own: bool = False,
    metrics: Metrics | None = None,
) -> EngineParts:
    """The engine with its own store, clock and executors, built on the loop it runs on:
    nothing here is shared with the API but the secret box (stateless) and the database.
    ``only_own``: other engines share the database even on SQLite (a worker process)."""
    engine_store = SqlStore(settings.db, urgent=True)
    executors = executors_for(settings.actions, engine_clock := SystemClock(), outbound=outbound)
    engine = Engine(
        engine_store,
        StoredDefinitions(box),
        executors,
        engine_clock,
        EngineSettings(
            region=settings.region,
            concurrency=settings.concurrency,
            node=settings.node_name,
            lease=timedelta(seconds=settings.lease_seconds),
            recover_only_own=only_own,
            host_limits=settings.host_limits,
        ),
        wakeup=SqlWakeup(engine_store),
        metrics=metrics if metrics is not None else PrometheusMetrics(settings.node_name),
        tracing=settings.tracing(),
    )

    async def close() -> None:
        for executor in {id(e): e for e in executors.values()}.values():
            await executor.aclose()
        await engine_store.close()

    return EngineParts(engine, close)


def outbound_policy(settings: Settings) -> OutboundPolicy:
    """What HTTP actions may reach: never this server itself (issue 11)."""
    return server_policy(
        settings.outbound_deny, settings.outbound_allow, host=settings.host, port=settings.port
    )


def secret_box(settings: Settings) -> FernetSecretBox:
    return FernetSecretBox(
        settings.secret_key or load_or_create_key(settings.data_dir / "jobclock.key")
    )


def build(settings: Settings, token: str) -> Application:
    """Wire everything; nothing runs until the caller starts the engine and the server."""
    store = SqlStore(settings.db)
    box = secret_box(settings)
    clock = SystemClock()
    outbound = outbound_policy(settings)

    # Each worker process counts its own; this process serves the engine thread's.
    metrics = PrometheusMetrics(settings.node_name)
    engine: Dispatch
    if settings.workers > 1:
        # Worker processes, each a node of its own (jobclock.workers); this one serves.
        engine = Workers(settings, settings.workers)
    else:
        engine = EngineThread(lambda: engine_parts(settings, box, outbound, metrics=metrics))
    service = SchedulerService(store, box, clock, wake=engine.wake, outbound=outbound)
    access = AccessService(SqlAccessStore(store), clock, token)

    async def readiness() -> list[str]:
        problems = [await service.database_problem(), engine.problem(clock.now())]
        return [problem for problem in problems if problem is not None]

    api = create_app(service, access, metrics=metrics, readiness=readiness)
    portal = create_portal(service, access, clock)
    return Application(settings, store, service, engine, api, with_portal(portal, api))
