"""1,000 every-second jobs created with a ``startTime`` already 15 s in the past.

Spec §4.2: a recurring job whose start is in the past first runs at the first grid point
in the future; past grid points are skipped, never replayed. So no job fires a slot from
before it was created, and once the jobs exist the engine is on time: no growing backlog.
(Before the engine had a loop of its own, the creation requests held it up, every job then
replayed its missed slots one at a time, and lateness stayed at 13-15 s for good.)
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.e2e.harness import API_VERSION, Api, Target, http_action, start_server, stop_server
from tests.faults.measure import spread
from tests.faults.workload import EXPECTED, SECOND, sleep_until
from tests.ha.cluster import parse_instant

JOBS = 1000
CLIENTS = 20


async def _create(api: Api, target: Target, start: datetime) -> dict[str, datetime]:
    """Create the jobs through ``CLIENTS`` concurrent clients; returns when each PUT was
    sent (the job cannot exist before)."""
    headers = {"Authorization": f"Bearer {api.server.token}"}
    created: dict[str, datetime] = {}
    names = iter(range(JOBS))

    async def client(http: httpx.AsyncClient) -> None:
        for index in names:
            job = f"late-{index:04d}"
            body = {
                "properties": {
                    "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "action": http_action(target.url(f"/late/{job}")),
                    "recurrence": {"frequency": "Second", "interval": 1},
                }
            }
            sent = datetime.now(UTC)
            response = await http.put(
                api.job_path("late", job), params={"api-version": API_VERSION}, json=body
            )
            assert response.status_code in (200, 201), response.text
            created[job] = sent

    async with httpx.AsyncClient(
        base_url=api.server.base_url, headers=headers, timeout=30, trust_env=False
    ) as http:
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
    return created


def test_jobs_created_behind_schedule_skip_to_the_current_slot_and_stay_on_time(
    tmp_path: Path, target: Target
) -> None:
    server = start_server(tmp_path / "jobclock")
    try:
        api = Api(server)
        api.create_collection("late", "Unlimited")
        start = datetime.fromtimestamp(math.floor(time.time()) - 15, UTC)
        began = time.monotonic()
        created = asyncio.run(_create(api, target, start))
        creation = time.monotonic() - began
        done = max(created.values())
        settled = datetime.fromtimestamp(math.ceil(done.timestamp()) + 5, UTC)
        sleep_until(settled + 5 * SECOND)
        response = api.post(f"{api.collection_path('late')}/disable")
        assert response.status_code == 200, response.text

        replayed, late, seen = [], [], set()
        for item in target.received():
            job = item.path.rsplit("/", 1)[-1]
            expected = parse_instant(item.headers[EXPECTED])
            seen.add(job)
            if expected < created[job] - timedelta(seconds=1):  # its first slot is >= the PUT
                replayed.append((job, expected))
            if settled <= expected < settled + 5 * SECOND:
                late.append((item.wall - expected).total_seconds())
        figures = spread(late)
        print(
            f"\n{JOBS} jobs created in {creation:.1f} s with a start 15 s back: "
            f"{len(replayed)} fires of slots before their job existed; lateness once created: "
            f"{figures}"
        )
        assert not replayed, f"slots from before their job was created ran: {replayed[:10]}"
        assert len(seen) == JOBS, f"only {len(seen)} of {JOBS} jobs fired"
        assert figures.count >= JOBS * 4, f"fires went missing once created: {figures}"
        assert figures.p99 < 5.0, f"the engine stayed behind: {figures}"
        api.close()
    finally:
        stop_server(server)
