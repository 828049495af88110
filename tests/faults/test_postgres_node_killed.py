"""kill -9 of one of two nodes on PostgreSQL, the way a user meets it.

Two ``jobclock serve`` nodes with their default settings (the default lease) share one
database; 30 every-second jobs are created alternately through each; 8 s after their start,
at a random fraction of a second, node B is killed with SIGKILL. Through node A, every
scheduled second up to 6 s after the kill must end with exactly one ``Completed``
``MainAction`` entry, and the target must have received each of them (copies with one tag).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.harness import Api, Target, wait_for
from tests.faults.workload import (
    SECOND,
    check_exactly_once,
    every_second_jobs,
    sleep_until,
    slots,
    wait_until_recorded,
)
from tests.ha.cluster import Cluster, Database

JOBS = 30


@pytest.fixture
def default_cluster(database: Database, tmp_path: Path) -> Iterator[Cluster]:
    """Nodes with the default lease (``JOBCLOCK_LEASE_SECONDS`` unset)."""
    nodes = Cluster(database, tmp_path / "cluster", None)
    try:
        yield nodes
    finally:
        nodes.close()


def test_kill_9_of_one_of_two_nodes_every_occurrence_completes_exactly_once(
    default_cluster: Cluster, target: Target
) -> None:
    cluster = default_cluster
    a, b = cluster.start("a"), cluster.start("b")
    api_a, api_b = Api(a.server), Api(b.server)
    work = every_second_jobs([api_a, api_b], target, "faults", JOBS)

    sleep_until(work.start + 8 * SECOND + random.uniform(0.0, 1.0) * SECOND)  # noqa: S311

    def b_holds_leases() -> int | None:  # so that there is something to take over
        rows = cluster.database.sql.fetch(
            "SELECT count(*) AS n FROM occurrences WHERE lease_owner = 'b' AND status = 'running'"
        )
        return int(rows[0]["n"]) or None

    held = wait_for(b_holds_leases, "node b to hold a lease", timeout=5, every=0.005)
    cluster.kill("b")
    killed_at = datetime.now(UTC)
    window = slots(work.start, killed_at + 6 * SECOND)
    sleep_until(killed_at + 8 * SECOND)

    # Bounded: the dead node's attempts must be taken over well inside the misfire grace.
    wait_until_recorded(api_a, work, window, timeout=75)
    assert a.alive(), "node a died"
    response = api_a.post(f"{api_a.collection_path(work.collection)}/disable")
    assert response.status_code == 200, response.text

    findings = check_exactly_once(api_a, target, work, window)
    print(
        f"\nkill -9 of node b at {killed_at:%H:%M:%S.%f}, holding {held} leases: "
        f"{findings.summary()}"
    )
    findings.fail_if_any()
    api_a.close()
    api_b.close()
