"""Benchmark: the first and the last page of the jobs list and of a history list, at a
large N, by OFFSET (``$skip``) and by keyset (``$skiptoken``, issue 13; goal P4: any list
page p99 <= 20 ms at 1,000,000 jobs).

What it measures
----------------
* **The data.** One collection of N jobs (default 1,000,000) and H history entries
  (default 100,000, two to a start time) of its first job. The collection and job 0 go
  through ``SchedulerService``; jobs 1..N-1 are copies of job 0's row with their own name,
  and the entries rows of their own, inserted directly in one transaction (as
  ``bench/dispatch.py`` does for large N): millions of service calls would take hours.
* **The pages.** 100 items (the server page), read ``--repeat`` times each, one after the
  other, on a warm database: the first page; the last page by OFFSET (``skip = N - 100``,
  what a ``$skip`` nextLink asked for before issue 13); the last page by keyset (``after``
  the name or the place of the item before it, what a ``$skiptoken`` nextLink asks for).
* **Two layers.** ``service``: ``SchedulerService.list_jobs`` / ``list_history`` (store,
  SQL, decoding the definitions into views). ``api``: the real ARM app in-process over
  httpx's ASGI transport (plus routing, auth, envelopes, JSON), GETting the URL a client
  would, ``$skip=...`` or the ``$skiptoken`` nextLink; no network.

It prints p50/p99/max in milliseconds (p99 interpolated between the two slowest of the
default 100 reads) and never asserts. ``--offset-only`` leaves out the keyset reads, so that
the same script measures a checkout from before issue 13 (whose store and migrations
differ: on PostgreSQL its ``COLLATE "C"`` order had no index). Usage::

    python bench/paging.py [--jobs 1000000] [--history 100000] [--repeat 100]
                           [--db sqlite:///path | postgresql://...] [--layers service,api]
                           [--offset-only]

SQLite goes to a temporary file (deleted afterwards); a PostgreSQL URL gets a schema of
its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import insert, select, text

from jobclock.api import create_app
from jobclock.clock import SystemClock
from jobclock.secret_box import FernetSecretBox
from jobclock.services import CollectionRef, JobRef, SchedulerService
from jobclock.storage.encoding import to_us
from jobclock.storage.sql_store import SqlStore
from jobclock.storage.tables import history, jobs

SUBSCRIPTION, GROUP, COLLECTION = "bench-sub", "bench-rg", "bench"
TOKEN = "bench-token-0123456789"  # noqa: S105 - a throwaway token, in-process only
PAGE = 100
PATH = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}"
    f"/providers/Microsoft.Scheduler/jobCollections/{COLLECTION}/jobs"
)
V = "api-version=2016-03-01"
CHUNK = 10_000
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def job_name(index: int) -> str:
    return f"job{index:07d}"


def job_body() -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "properties": {
            "startTime": start,
            "state": "Disabled",
            "action": {"type": "Http", "request": {"uri": "http://127.0.0.1:9/", "method": "GET"}},
            "recurrence": {"frequency": "Minute", "interval": 1},
        }
    }


@contextlib.asynccontextmanager
async def open_store(db: str | None) -> AsyncIterator[SqlStore]:
    """A migrated store: a temporary SQLite file, or a fresh schema of ``db``."""
    if db is None or db.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="jobclock-paging-") as directory:
            store = SqlStore(db or f"sqlite:///{Path(directory) / 'paging.db'}")
            try:
                await store.migrate()
                yield store
            finally:
                await store.close()
        return
    schema = f"bench_paging_{uuid.uuid4().hex[:8]}"
    admin = SqlStore(db)
    async with admin.writing_connection() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    store = SqlStore(db, schema=schema)
    try:
        await store.migrate()
        yield store
    finally:
        await store.close()
        async with admin.writing_connection() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.close()


async def seed(store: SqlStore, service: SchedulerService, n: int, entries: int) -> None:
    ref = CollectionRef(SUBSCRIPTION, GROUP, COLLECTION)
    await service.put_collection(
        ref, {"location": "West US", "properties": {"sku": {"name": "Unlimited"}}}
    )
    await service.put_job(JobRef(ref, job_name(0)), job_body())
    async with store.writing_connection() as conn:
        template = dict((await conn.execute(select(jobs))).one()._mapping)
    job_id = template.pop("id")
    began = time.perf_counter()
    async with store.writing_connection() as conn:  # one transaction
        for first in range(1, n, CHUNK):
            rows = [
                template | {"name": job_name(i), "name_key": job_name(i)}
                for i in range(first, min(first + CHUNK, n))
            ]
            await conn.execute(insert(jobs), rows)
        for first in range(0, entries, CHUNK):
            rows = [_entry(job_id, i) for i in range(first, min(first + CHUNK, entries))]
            await conn.execute(insert(history), rows)
    print(f"seeded {n:,} jobs and {entries:,} entries in {time.perf_counter() - began:.1f} s")
    if store.dialect == "postgresql":
        async with store.writing_connection() as conn:
            await conn.execute(text("ANALYZE"))


def _entry(job_id: int, index: int) -> dict[str, Any]:
    at = to_us(T0 + timedelta(seconds=index // 2))  # two to a start time
    return {
        "job_id": job_id,
        "history_id": f"{index:020d}:{index:020d}",
        "start_time": at,
        "end_time": at + 62_000,
        "expected_execution_time": at,
        "action_name": "MainAction",
        "status": "Completed",
        "message": "Http Action - Response from host '127.0.0.1': 'OK'",
        "retry_count": 0,
        "repeat_count": index + 1,
    }


async def timed(read: Callable[[], Awaitable[int]], repeat: int) -> tuple[list[float], int]:
    await read()  # warm
    samples = []
    count = 0
    for _ in range(repeat):
        began = time.perf_counter()
        count = await read()
        samples.append((time.perf_counter() - began) * 1000)
    return samples, count


def row(layer: str, what: str, samples: list[float], count: int) -> str:
    ordered = sorted(samples)
    p99 = statistics.quantiles(ordered, n=100, method="inclusive")[98]
    return (
        f"{layer:8} {what:34} {statistics.median(ordered):8.2f} {p99:8.2f} "
        f"{ordered[-1]:8.2f} {count:6}"
    )


async def bench_service(
    service: SchedulerService, n: int, entries: int, repeat: int, keyset: bool
) -> None:
    ref = CollectionRef(SUBSCRIPTION, GROUP, COLLECTION)
    job = JobRef(ref, job_name(0))

    async def jobs_page(skip: int, **after: Any) -> int:
        return len((await service.list_jobs(ref, None, PAGE, skip, **after)).items)

    async def history_page(skip: int, **after: Any) -> int:
        return len((await service.list_history(job, None, PAGE, skip, **after)).items)

    cases: list[tuple[str, Callable[[], Awaitable[int]]]] = [
        ("jobs, first page", lambda: jobs_page(0)),
        ("jobs, last page by OFFSET", lambda: jobs_page(n - PAGE)),
        ("history, first page", lambda: history_page(0)),
        ("history, last page by OFFSET", lambda: history_page(entries - PAGE)),
    ]
    if keyset:
        before_last = (await service.list_history(job, None, 1, entries - PAGE - 1)).last
        name = job_name(n - PAGE - 1)
        cases.insert(2, ("jobs, last page by keyset", lambda: jobs_page(0, after=name)))
        cases.append(("history, last page by keyset", lambda: history_page(0, after=before_last)))
    for what, read in cases:
        samples, count = await timed(read, repeat)
        print(row("service", what, samples, count), flush=True)


async def bench_api(
    service: SchedulerService, n: int, entries: int, repeat: int, keyset: bool
) -> None:
    jobs_url = f"{PATH}?{V}"
    history_url = f"{PATH}/{job_name(0)}/history?{V}"
    cases = [
        ("jobs, first page", jobs_url),
        ("jobs, last page by $skip", f"{jobs_url}&$skip={n - PAGE}"),
        ("history, first page", history_url),
        ("history, last page by $skip", f"{history_url}&$skip={entries - PAGE}"),
    ]
    if keyset:
        from jobclock.api.listing import history_token, job_token

        job = JobRef(CollectionRef(SUBSCRIPTION, GROUP, COLLECTION), job_name(0))
        before_last = (await service.list_history(job, None, 1, entries - PAGE - 1)).last
        assert before_last is not None
        jobs_token = job_token(job_name(n - PAGE - 1))
        entries_token = history_token(before_last)
        cases.insert(2, ("jobs, last page by $skiptoken", f"{jobs_url}&$skiptoken={jobs_token}"))
        cases.append(
            ("history, last page by $skiptoken", f"{history_url}&$skiptoken={entries_token}")
        )
    transport = httpx.ASGITransport(app=create_app(service, TOKEN))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://bench",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        for what, url in cases:

            async def read(url: str = url) -> int:
                response = await client.get(url)
                assert response.status_code == 200, response.text
                return len(response.json()["value"])

            samples, count = await timed(read, repeat)
            print(row("api", what, samples, count), flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--db", default=None, help="sqlite:///... or postgresql://...")
    parser.add_argument("--layers", default="service,api")
    parser.add_argument(
        "--offset-only",
        action="store_true",
        help="only the OFFSET reads (to measure a checkout from before keyset paging)",
    )
    args = parser.parse_args()
    keyset = not args.offset_only
    layers = set(args.layers.split(","))
    async with open_store(args.db) as store:
        service = SchedulerService(
            store, FernetSecretBox(Fernet.generate_key()), SystemClock(), wake=lambda: None
        )
        await seed(store, service, args.jobs, args.history)
        print(f"backend: {store.dialect}, page: {PAGE}, reads per row: {args.repeat}")
        print(f"{'layer':8} {'read':34} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'items':>6}")
        if "service" in layers:
            await bench_service(service, args.jobs, args.history, args.repeat, keyset)
        if "api" in layers:
            await bench_api(service, args.jobs, args.history, args.repeat, keyset)


if __name__ == "__main__":
    asyncio.run(main())
