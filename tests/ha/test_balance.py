"""Two nodes on one PostgreSQL share the work: with 50 every-second jobs, each node runs a
fair part of the occurrences (issue 13, P6), and nothing is lost or run twice meanwhile.

Before shares, a job's next occurrence went to the node that had just recorded its last one
(it was awake; the other woke on its timer), so within seconds every job ran on one node and
a second node added nothing. Which node runs an attempt is read from the attempts' leases,
sampled while they are in flight (the target answers after 0.3 s)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime

from tests.e2e.harness import Api, Target
from tests.ha.cluster import Cluster
from tests.ha.test_failover import (
    JOBS,
    SECOND,
    check_records,
    create_workload,
    disable,
    leased_attempts,
    nodes_of,
    settle,
    sleep_until,
)


def test_two_nodes_each_run_a_fair_share_of_the_jobs(cluster: Cluster, target: Target) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    api_a, api_b = Api(a.server), Api(b.server)
    work = create_workload([api_a, api_b], target, delay=0.3)
    # Past the first heartbeats (every node has seen the other) and the first slots.
    sleep_until(work.first_slot + 6 * SECOND)
    ran: dict[str, set[tuple[str, datetime]]] = {"a": set(), "b": set()}
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        for node in ran:
            ran[node] |= set(leased_attempts(cluster.database, node))
        time.sleep(0.05)
    counts = Counter({node: len(seen) for node, seen in ran.items()})
    total = sum(counts.values())
    both = ran["a"] & ran["b"]
    print(f"\noccurrences seen in flight: {dict(counts)} of {total} ({JOBS} jobs, 8 s)")
    assert not both, f"occurrences leased to both nodes: {sorted(both)[:5]}"
    assert total >= JOBS * 4, f"too few occurrences seen in flight: {dict(counts)}"
    for node, count in counts.items():
        assert count >= 0.4 * total, f"node {node} ran {count} of {total}: {dict(counts)}"

    window_end = datetime.fromtimestamp(time.time(), tz=work.first_slot.tzinfo) - 2 * SECOND
    disabled_at = disable(api_a)
    settle(cluster.database)
    findings = check_records(api_b, target, work, min(window_end, disabled_at - 2 * SECOND))
    findings.fail_if_any()
    api_a.close()
    api_b.close()


def test_a_node_stopped_with_sigterm_leaves_and_the_other_takes_every_job(
    cluster: Cluster, target: Target
) -> None:
    """A rolling restart: the stopped node removes its heartbeat, so the other counts it out
    of the shares at its next heartbeat, not once the heartbeat is a lease old."""
    a, b = cluster.start("a"), cluster.start("b")
    api_a = Api(a.server)
    work = create_workload([api_a, Api(b.server)], target, delay=0.05)
    sleep_until(work.first_slot + 2 * SECOND)
    assert set(nodes_of(api_a)) == {"a", "b"}
    cluster.stop("b")
    assert set(nodes_of(api_a)) == {"a"}
    api_a.close()
