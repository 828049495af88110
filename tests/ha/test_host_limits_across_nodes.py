"""Per-target caps with real processes: two nodes on one PostgreSQL database, 20 jobs
firing every second at one slow target host capped by ``JOBCLOCK_HOST_LIMITS``. What the
target saw is checked: never more attempts at once, and never more a second, than the
cap allows across both nodes; held-back attempts still run (late) and are recorded."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import Api, Received, Reply, Target, http_action
from tests.ha.cluster import Cluster

JOBS = 20
DELAY = 0.4  # seconds the target takes to answer


def _jobs(api: Api, target: Target, collection: str) -> None:
    api.create_collection(collection)
    start = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for index in range(JOBS):
        api.create_job(
            collection,
            f"j{index}",
            {
                "startTime": start,
                "recurrence": {"frequency": "Second", "interval": 1},
                "action": http_action(target.url(f"/slow/{index}")),
            },
        )


def _busiest(received: list[Received]) -> int:
    """The most requests the target was answering at one moment (each takes DELAY)."""
    events = sorted([(r.at, 1) for r in received] + [(r.at + DELAY, -1) for r in received])
    busy = most = 0
    for _, change in events:
        busy += change
        most = max(most, busy)
    return most


def _held_back(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "jobclock_host_wait_seconds_count"
    )


def test_concurrency_cap_holds_across_two_nodes(cluster: Cluster, target: Target) -> None:
    for index in range(JOBS):
        target.reply(f"/slow/{index}", Reply(delay=DELAY))
    limits = {"JOBCLOCK_HOST_LIMITS": "127.0.0.1=3"}
    nodes = [cluster.start(name, env=limits) for name in ("a", "b")]
    api = Api(nodes[0].server)
    try:
        _jobs(api, target, "capped")
        time.sleep(8)
        received = [r for r in target.received() if r.path.startswith("/slow/")]
        assert len(received) >= 30, len(received)  # held back, not stopped
        assert _busiest(received) <= 3
        assert sum(_held_back(node.server.base_url) for node in nodes) > 0
        both = {r.headers.get("x-ms-client-request-id", "") for r in received}
        assert len(both) == len(received)
    finally:
        api.close()


def test_rate_cap_holds_across_two_nodes(cluster: Cluster, target: Target) -> None:
    for index in range(JOBS):
        target.reply(f"/slow/{index}", Reply(delay=0.01))
    limits = {"JOBCLOCK_HOST_LIMITS": "127.0.0.1=/5"}
    nodes = [cluster.start(name, env=limits) for name in ("a", "b")]
    api = Api(nodes[0].server)
    try:
        _jobs(api, target, "rated")
        time.sleep(8)
        arrivals = sorted(r.at for r in target.received() if r.path.startswith("/slow/"))
        assert len(arrivals) >= 20, len(arrivals)
        for first, sixth in zip(arrivals, arrivals[5:], strict=False):
            # five a second at most: the sixth request comes a second after the first (the
            # network may bring two a little closer than they were sent)
            assert sixth - first >= 0.9, (first, sixth)
    finally:
        api.close()


def test_a_collections_own_cap_holds_across_two_nodes(cluster: Cluster, target: Target) -> None:
    """No server-wide cap: the collection's ``hostLimits`` caps its own jobs only."""
    for index in range(JOBS):
        target.reply(f"/slow/{index}", Reply(delay=DELAY))
    nodes = [cluster.start(name) for name in ("a", "b")]
    api = Api(nodes[0].server)
    try:
        api.create_collection("own", hostLimits=[{"host": "127.0.0.1", "concurrency": 2}])
        shown = api.get(api.collection_path("own")).json()["properties"]
        assert shown["hostLimits"] == [{"host": "127.0.0.1", "concurrency": 2}]
        start = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for index in range(JOBS):
            api.create_job(
                "own",
                f"j{index}",
                {
                    "startTime": start,
                    "recurrence": {"frequency": "Second", "interval": 1},
                    "action": http_action(target.url(f"/slow/{index}")),
                },
            )
        time.sleep(8)
        received = [r for r in target.received() if r.path.startswith("/slow/")]
        assert len(received) >= 20, len(received)
        assert _busiest(received) <= 2
    finally:
        api.close()
