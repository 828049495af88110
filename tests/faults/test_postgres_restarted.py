"""The PostgreSQL server restarted under two nodes, the way an operator does it.

Two ``jobclock serve`` nodes with their default settings share one database; 30
every-second jobs are created alternately through each; 8 s after their start, at a random
fraction of a second, the PostgreSQL server itself is restarted
(``pg_ctlcluster ... restart``), which cuts every connection of both nodes. The database
is on disk and survives; the nodes must recover by themselves (docs/deployment.md: the
engine retries with a growing pause, pooled connections are checked before use).

Pass:

* both nodes stay alive, and within :data:`RECOVERY` of PostgreSQL answering again every
  job reaches the target again and both nodes heartbeat again (``GET /jobclock/nodes``);
* every slot before the restart, and every slot from :data:`SETTLE` after PostgreSQL
  answered again on, ends with exactly one ``Completed`` ``MainAction`` entry, received by
  the target (copies with one tag);
* a slot of the outage between them follows the documented policy: it runs late (within
  the 60 s grace, at most once, ``Completed``), or is coalesced into the ``Postponed``
  entry of an occurrence that was running when the connections were cut (the latest slot
  of such a run is the one that runs); none is recorded twice, and every copy of it the
  target received is recorded.

The restart is the only one of the suite and happens in this test alone; PostgreSQL is
started again whatever happens (``restart_postgres``, and the fixture's teardown).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.harness import Api, Target, wait_for
from tests.faults.measure import (
    database_surviving_restarts,
    heartbeats,
    lateness,
    postgres_version,
    restart_postgres,
    spread,
)
from tests.faults.workload import (
    SECOND,
    TAG,
    Workload,
    check_exactly_once,
    every_second_jobs,
    history_of,
    received_by_slot,
    sleep_until,
    slots,
    wait_until_recorded,
)
from tests.ha.cluster import Cluster, Database, parse_instant

JOBS = 30
# A restart takes a few seconds, so the engines' pauses after failed steps reach 1 + 2 + 4 s
# at most, then the next step succeeds: the nodes are back well within this.
RECOVERY = timedelta(seconds=15)
# From here on the slots are ordinary again: both engines stepped since PostgreSQL answered,
# and what was running at the cut has been recorded (which decides its postponed slots).
SETTLE = RECOVERY + 2 * SECOND
AFTER = 10  # seconds of ordinary slots checked after SETTLE


@pytest.fixture
def database() -> Iterator[Database]:
    """Overrides the suite's: no connection held across the restart (and skips at once
    where the server cannot be restarted)."""
    postgres_version()
    yield from database_surviving_restarts()


@pytest.fixture
def cluster(database: Database, tmp_path: Path) -> Iterator[Cluster]:
    """Nodes with the default lease (``JOBCLOCK_LEASE_SECONDS`` unset); named ``cluster``
    so that a failure report attaches the nodes' logs."""
    nodes = Cluster(database, tmp_path / "cluster", None)
    try:
        yield nodes
    finally:
        nodes.close()


def _back_at_target(target: Target, work: Workload, since: datetime) -> dict[str, datetime]:
    """Each job's first request the target received after ``since``."""
    first: dict[str, datetime] = {}
    for job in work.jobs:
        later = [item.wall for item in target.received(work.path(job)) if item.wall > since]
        if later:
            first[job] = min(later)
    return first


def _postponed_away(moment: datetime, postponed: set[datetime], ran: set[datetime]) -> bool:
    """Whether a slot that did not run was coalesced into a ``Postponed`` entry: the entry
    names the first slot that waited, the latest of them ran, those between did not."""
    return any(
        first <= moment
        and not any(first <= other <= moment for other in ran)
        and any(other > moment for other in ran)
        for first in postponed
    )


def _check_outage(
    api: Api, target: Target, work: Workload, outage: list[datetime]
) -> tuple[str, list[str]]:
    """The outage's slots: each executed at most once (and then ``Completed``) or, if not,
    postponed behind a running occurrence; every copy the target received recorded as
    executed, with one tag. Returns the counts and the problems found."""
    errors: list[str] = []
    counts = {"ran": 0, "postponed away": 0, "missing": 0, "Postponed entries": 0}
    wanted = set(outage)
    for job in work.jobs:
        executed: dict[datetime, list[str]] = defaultdict(list)
        postponed: set[datetime] = set()
        for item in history_of(api, work.collection, job):
            if item["actionName"] != "MainAction":
                continue
            moment = parse_instant(item["expectedExecutionTime"])
            if item["status"] == "Postponed":
                postponed.add(moment)
            else:
                executed[moment].append(item["status"])
        ran = set(executed)
        for moment in outage:
            if moment in executed:
                counts["ran"] += 1
                if executed[moment] != ["Completed"]:
                    errors.append(f"{job} {moment:%H:%M:%S}: recorded {executed[moment]}")
            elif _postponed_away(moment, postponed, ran):
                counts["postponed away"] += 1
            else:
                counts["missing"] += 1
                errors.append(f"{job} {moment:%H:%M:%S}: neither ran nor was postponed")
        for moment, copies in received_by_slot(target, work.path(job)).items():
            if moment in wanted and moment not in executed:
                errors.append(f"{job} {moment:%H:%M:%S}: delivered, never recorded")
            if moment in wanted and len({item.headers.get(TAG) for item in copies}) != 1:
                errors.append(f"{job} {moment:%H:%M:%S}: delivered with different tags")
        counts["Postponed entries"] += len(wanted & postponed)
    return ", ".join(f"{count} {what}" for what, count in counts.items()), errors


def test_postgres_restart_under_two_nodes_they_recover_and_nothing_runs_twice(
    cluster: Cluster, target: Target
) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    api_a, api_b = Api(a.server), Api(b.server)
    work = every_second_jobs([api_a, api_b], target, "faults", JOBS)

    sleep_until(work.start + 8 * SECOND + random.uniform(0.0, 1.0) * SECOND)  # noqa: S311
    restart_at = datetime.now(UTC)
    restarted = restart_postgres()  # PostgreSQL answers again when it returns
    back_at = datetime.now(UTC)
    assert restarted.returncode == 0, restarted.stderr
    down = (back_at - restart_at).total_seconds()

    # Bounded recovery: every job fires again, both nodes heartbeat again.
    def all_back() -> dict[str, datetime] | None:
        found = _back_at_target(target, work, back_at)
        return found if len(found) == len(work.jobs) else None

    fired = wait_for(all_back, "every job to fire again", RECOVERY.total_seconds(), every=0.2)
    fired_within = (max(fired.values()) - back_at).total_seconds()

    def beating() -> dict[str, datetime] | None:
        seen = heartbeats(api_a) | heartbeats(api_b)
        fresh = {name: at for name, (at, alive) in seen.items() if alive and at > back_at}
        return fresh if {"a", "b"} <= set(fresh) else None

    left = max(1.0, (back_at + RECOVERY - datetime.now(UTC)).total_seconds())
    beats = wait_for(beating, "both nodes to heartbeat again", left, every=0.2)
    beat_within = (max(beats["a"], beats["b"]) - back_at).total_seconds()
    assert [node.name for node in (a, b) if not node.alive()] == [], "a node died"

    before = slots(work.start, restart_at)
    outage = slots(restart_at + timedelta(microseconds=1), back_at + SETTLE - SECOND)
    after = slots(back_at + SETTLE, back_at + SETTLE + (AFTER - 1) * SECOND)
    sleep_until(after[-1] + 2 * SECOND)
    window = before + after
    wait_until_recorded(api_a, work, window, timeout=30)
    assert [node.name for node in (a, b) if not node.alive()] == [], "a node died"
    response = api_a.post(f"{api_a.collection_path(work.collection)}/disable")
    assert response.status_code == 200, response.text

    findings = check_exactly_once(api_a, target, work, window)
    outcome, outage_errors = _check_outage(api_a, target, work, outage)
    late = lateness(target, work, after)
    print(
        f"\nPostgreSQL restarted at {restart_at:%H:%M:%S.%f}, answering again after "
        f"{down:.2f} s; every job fired again within {fired_within:.2f} s, both nodes "
        f"heartbeat within {beat_within:.2f} s; {len(before)} s before + {len(after)} s "
        f"after: {findings.summary()}; {len(outage)} s of outage x {JOBS} jobs: {outcome}; "
        f"lateness of the {len(late)} slots after it received: "
        f"{spread(late) if late else 'none received'}"
    )
    findings.fail_if_any()
    assert not outage_errors, "outage slots:\n" + "\n".join(outage_errors[:40])
    api_a.close()
    api_b.close()
