"""``overlapPolicy`` on two real nodes sharing PostgreSQL (issue 14, item 6): every-second
jobs whose target takes 2.5 s to answer, created alternately through each node. A ``Skip``
job never has two occurrences at its target at once, whichever node runs them; an
``AllowAll`` job starts one every second, beside the ones still running; a run-now of a
busy ``Skip`` job through the other node is a 409 that stores nothing."""

from __future__ import annotations

import itertools
import math
import time
from datetime import UTC, datetime

from tests.e2e.harness import Api, Reply, Target, http_action, wait_for
from tests.ha.cluster import Cluster, parse_instant

DELAY = 2.5  # seconds the target takes to answer
EXPECTED = "x-ms-scheduler-expected-execution-time"


def test_skip_and_allow_all_hold_across_two_nodes(cluster: Cluster, target: Target) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    apis = [Api(a.server), Api(b.server)]
    apis[0].create_collection("overlap", "Unlimited")
    start = datetime.fromtimestamp(math.ceil(time.time() + 4), UTC)
    jobs = {"skip-0": "Skip", "skip-1": "Skip", "all-0": "AllowAll", "all-1": "AllowAll"}
    for index, (job, policy) in enumerate(jobs.items()):
        target.reply(f"/overlap/{job}", Reply(delay=DELAY))
        apis[index % 2].create_job(
            "overlap",
            job,
            {
                "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "action": http_action(target.url(f"/overlap/{job}")),
                "recurrence": {"frequency": "Second", "interval": 1},
                "overlapPolicy": policy,
            },
        )
    # While skip-0's occurrence runs, a run-now through the other node is refused.
    wait_for(lambda: target.received("/overlap/skip-0") or None, "skip-0's first request", 15)
    refused = apis[1].post(f"{apis[1].job_path('overlap', 'skip-0')}/run")
    assert refused.status_code == 409, refused.text
    assert "overlapPolicy is 'Skip'" in refused.json()["error"]["message"]
    time.sleep(9)
    for api in apis:
        for job in jobs:
            api.patch(api.job_path("overlap", job), {"properties": {"state": "Disabled"}})
    time.sleep(DELAY + 0.5)
    for job, policy in jobs.items():
        received = sorted(target.received(f"/overlap/{job}"), key=lambda item: item.at)
        slots = sorted({parse_instant(item.headers[EXPECTED]) for item in received})
        overlapping = sum(
            1
            for earlier, later in itertools.pairwise(received)
            if later.at < earlier.at + DELAY - 0.05
        )
        summary = f"{job} ({policy}): {len(received)} requests, {len(slots)} slots"
        print(summary, f"{overlapping} started while the one before still ran")
        if policy == "Skip":
            assert overlapping == 0, summary
            assert 2 <= len(slots) <= 6, summary  # about one in every three seconds
        else:
            assert overlapping >= len(received) - 2, summary
            assert len(slots) >= 9, summary  # one every second
    history = apis[0].history("overlap", "skip-1")
    skipped = [entry for entry in history if entry["properties"]["status"] == "Postponed"]
    assert skipped, history
    assert all("overlapPolicy Skip" in e["properties"]["message"] for e in skipped)
    for api in apis:
        api.close()
