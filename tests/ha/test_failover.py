"""Fault tests with real processes: two ``jobclock serve`` nodes on one PostgreSQL database,
50 jobs firing every second at a recording HTTP target.

* ``kill -9`` of one node mid-run (whichever holds leases then): the other takes its leased
  attempts over after the lease expires (5 s here), re-sending them with the same
  ``x-ms-execution-tag``.
* Every connection of the nodes cut (``pg_terminate_backend``), three times, under load: the
  nodes reconnect by themselves.

What is checked afterwards, per job, from the history API and the target's records:

* each scheduled second of the window is recorded (nothing lost): as an executed entry, or
  as ``Postponed`` when it came due while the job's previous occurrence was still in flight
  (by design, §5.1: a job never runs two occurrences at once; the slots that overlap a run
  get one ``Postponed`` entry and the latest runs after it, so that one has both). The slots
  a dead node's jobs missed until the takeover are backlog: they run late, one by one;
* no occurrence is executed-and-recorded twice, and none is postponed twice (exactly once);
* every executed occurrence reached the target, and everything the target received was
  recorded (at-least-once delivery, no unrecorded delivery);
* an occurrence the target received more than once carried the same execution tag each time.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.harness import Api, Received, Reply, Target, http_action, wait_for
from tests.ha.cluster import Cluster, Database, from_us, parse_instant
from tests.ha.conftest import LEASE_SECONDS

COLLECTION = "ha"
JOBS = 50
SECOND = timedelta(seconds=1)
TAG = "x-ms-execution-tag"
EXPECTED = "x-ms-scheduler-expected-execution-time"
EXECUTED = ("Completed", "Failed")


# -- the workload ------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    jobs: list[str]
    first_slot: datetime  # the first second every job must have fired at

    @staticmethod
    def path(job: str) -> str:
        return f"/ha/{job}"


def create_workload(apis: list[Api], target: Target, delay: float) -> Workload:
    """One Unlimited collection, 50 jobs every second from a whole second ~3 s ahead, with no
    retries, created alternately through each node; the target answers after ``delay`` s."""
    apis[0].create_collection(COLLECTION, "Unlimited")
    start = datetime.fromtimestamp(math.ceil(time.time()) + 3, UTC)
    jobs = [f"job-{index:02d}" for index in range(JOBS)]
    for index, job in enumerate(jobs):
        target.reply(Workload.path(job), Reply(delay=delay))
        apis[index % len(apis)].create_job(
            COLLECTION,
            job,
            {
                "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "action": http_action(target.url(Workload.path(job))),
                "recurrence": {"frequency": "Second", "interval": 1},
            },
        )
    # A job created after its startTime starts at its next slot: the window starts once all
    # of them exist.
    created = datetime.fromtimestamp(math.ceil(time.time()), UTC)
    return Workload(jobs, max(start, created + SECOND))


def sleep_until(moment: datetime) -> None:
    left = (moment - datetime.now(UTC)).total_seconds()
    if left > 0:
        time.sleep(left)


def disable(api: Api) -> datetime:
    """Disable the collection; returns when that was asked."""
    asked = datetime.now(UTC)
    response = api.post(f"{api.collection_path(COLLECTION)}/disable")
    assert response.status_code == 200, response.text
    return asked


def settle(database: Database, timeout: float = 20.0) -> None:
    """Wait until no attempt is running any more and the history has stopped growing."""
    seen: list[int] = []

    def quiet() -> bool:
        running = database.sql.fetch(
            "SELECT count(*) AS n FROM occurrences WHERE status = 'running'"
        )
        entries = database.sql.fetch("SELECT count(*) AS n FROM history")
        seen.append(int(entries[0]["n"]))
        return running[0]["n"] == 0 and len(seen) > 6 and len(set(seen[-6:])) == 1

    wait_for(quiet, "the nodes to settle (no running attempt, history stable)", timeout, 0.25)


def get_ok(api: Api, path: str, timeout: float = 10.0, **kwargs: Any) -> dict[str, Any]:
    """GET until 200 (a node may answer 5xx while it reconnects); returns the JSON body."""
    failures: list[str] = []

    def answered() -> dict[str, Any] | None:
        response = api.get(path, **kwargs)
        if response.status_code == 200:
            body: dict[str, Any] = response.json()
            return body
        failures.append(f"{response.status_code} {response.text[:200]}")
        return None

    try:
        return wait_for(answered, f"GET {path} to answer 200", timeout, 0.2)
    except AssertionError as error:
        raise AssertionError(f"{error}; answers: {failures[-3:]}") from None


def wait_until_recorded(api: Api, work: Workload, until: datetime, timeout: float) -> None:
    """Until every job has an entry for every slot up to ``until`` (or ``timeout``: the
    checks then say what is missing)."""
    count = int((until - work.first_slot) / SECOND) + 1
    wanted = {work.first_slot + index * SECOND for index in range(count)}

    def recorded() -> bool:
        for job in work.jobs:
            entries = history_of(api, job)
            times = {parse_instant(item["properties"]["expectedExecutionTime"]) for item in entries}
            if not wanted <= times:
                return False
        return True

    with contextlib.suppress(AssertionError):
        wait_for(recorded, f"every slot up to {until} to be recorded", timeout, 0.5)


def nodes_of(api: Api) -> dict[str, dict[str, Any]]:
    body = get_ok(api, "/jobclock/nodes", api_version=None)
    return {item["name"]: item for item in body["value"]}


def history_of(api: Api, job: str) -> list[dict[str, Any]]:
    """Every history entry of ``job`` (all pages)."""
    body = get_ok(api, f"{api.job_path(COLLECTION, job)}/history")
    entries: list[dict[str, Any]] = list(body["value"])
    while body.get("nextLink"):
        response = api.http.get(body["nextLink"])
        assert response.status_code == 200, response.text
        body = response.json()
        entries.extend(body["value"])
    return entries


# -- the checks --------------------------------------------------------------------------


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    executed: int = 0
    postponed: int = 0
    slots: int = 0
    resent: int = 0  # occurrences the target received more than once

    def fail_if_any(self) -> None:
        shown = "\n".join(self.errors[:30])
        more = f"\n... and {len(self.errors) - 30} more" if len(self.errors) > 30 else ""
        assert not self.errors, f"{len(self.errors)} problem(s):\n{shown}{more}"


def received_by_slot(target: Target, job: str) -> dict[datetime, list[Received]]:
    found: dict[datetime, list[Received]] = defaultdict(list)
    for item in target.received(Workload.path(job)):
        found[parse_instant(item.headers[EXPECTED])].append(item)
    return found


def check_job(
    job: str,
    entries: list[dict[str, Any]],
    received: dict[datetime, list[Received]],
    slots: list[datetime],
    findings: Findings,
) -> None:
    main = [entry["properties"] for entry in entries]
    main = [item for item in main if item["actionName"] == "MainAction"]
    executed = [
        parse_instant(item["expectedExecutionTime"]) for item in main if item["status"] in EXECUTED
    ]
    postponed = [
        parse_instant(item["expectedExecutionTime"])
        for item in main
        if item["status"] == "Postponed"
    ]
    findings.executed += len(executed)
    findings.postponed += len(postponed)
    other = sorted({item["status"] for item in main} - {"Completed", "Postponed"})
    if other:
        findings.errors.append(
            f"{job}: unexpected statuses {other} (the target always answers 200)"
        )
    for kind, times in (("executed", executed), ("postponed", postponed)):
        twice = sorted({moment for moment in times if times.count(moment) > 1})
        if twice:
            findings.errors.append(f"{job}: {kind} more than once: {[str(t) for t in twice]}")
    missing = sorted(set(slots) - set(executed) - set(postponed))
    if missing:
        findings.errors.append(f"{job}: slots never recorded: {[str(t) for t in missing]}")
    undelivered = sorted(set(executed) - set(received))
    if undelivered:
        findings.errors.append(
            f"{job}: recorded but never reached the target: {[str(t) for t in undelivered]}"
        )
    unrecorded = sorted(set(received) - set(executed))
    if unrecorded:
        findings.errors.append(
            f"{job}: reached the target but never recorded: {[str(t) for t in unrecorded]}"
        )
    for moment, items in received.items():
        if len(items) > 1:
            findings.resent += 1
            tags = {item.headers.get(TAG) for item in items}
            if len(tags) != 1:
                findings.errors.append(
                    f"{job} at {moment}: re-sent with different tags {sorted(map(str, tags))}"
                )


def check_records(api: Api, target: Target, work: Workload, window_end: datetime) -> Findings:
    """Everything of the module docstring, for slots in [first_slot, window_end]."""
    count = int((window_end - work.first_slot) / SECOND) + 1
    slots = [work.first_slot + index * SECOND for index in range(count)]
    assert len(slots) >= 8, f"the window is too short to say anything ({len(slots)} slots)"
    findings = Findings(slots=len(slots))
    for job in work.jobs:
        check_job(job, history_of(api, job), received_by_slot(target, job), slots, findings)
    return findings


# -- the node a test kills ---------------------------------------------------------------


def leased_attempts(database: Database, node: str) -> dict[tuple[str, datetime], datetime]:
    """(job, scheduled time) of the attempts ``node`` holds a lease on, with its expiry."""
    rows = database.sql.fetch(
        "SELECT j.name, o.scheduled_time, o.lease_expiry FROM occurrences o "
        "JOIN jobs j ON j.id = o.job_id "
        "WHERE o.status = 'running' AND o.lease_owner = $1 AND o.kind = 'scheduled'",
        node,
    )
    return {
        (row["name"], from_us(row["scheduled_time"])): from_us(row["lease_expiry"]) for row in rows
    }


def delivered_recently(target: Target, within: float) -> set[tuple[str, datetime]]:
    """(job, expected time) of the requests the target received in the last ``within`` s."""
    since = time.monotonic() - within
    found = set()
    for item in target.received():
        if item.at >= since and item.path.startswith("/ha/"):
            found.add((item.path.removeprefix("/ha/"), parse_instant(item.headers[EXPECTED])))
    return found


# -- the tests ---------------------------------------------------------------------------


def test_kill_9_of_a_node_mid_run_loses_nothing_and_records_every_occurrence_once(
    cluster: Cluster, target: Target
) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    api_a, api_b = Api(a.server), Api(b.server)
    assert {"a", "b"} <= set(nodes_of(api_b)), nodes_of(api_b)
    # The target answers after 0.6 s, so at any moment a node has attempts in flight.
    work = create_workload([api_a, api_b], target, delay=0.6)
    sleep_until(work.first_slot + 5 * SECOND)

    # kill -9 a node while it holds leases on attempts whose requests the target already
    # has (received in the last 0.3 s, so not answered yet): those must be taken over. Which
    # node that is, is the engines' business (a job stays with the node that records its
    # occurrences, so one node may hold them all): the victim is whichever holds them.
    def in_flight() -> tuple[str, set[tuple[str, datetime]]] | None:
        recent = delivered_recently(target, 0.3)
        for node in ("a", "b"):
            if held := set(leased_attempts(cluster.database, node)) & recent:
                return node, held
        return None

    victim, _ = wait_for(in_flight, "a node to hold a lease on a delivered attempt", 5, 0.02)
    survivor = b if victim == "a" else a
    api = api_b if victim == "a" else api_a
    cluster.kill(victim)
    killed_at = datetime.now(UTC)
    killed_mono = time.monotonic()
    leases = leased_attempts(cluster.database, victim)
    orphans = set(leases) & delivered_recently(target, 2.0)
    assert orphans, (
        f"node {victim} finished its attempts before it was killed: nothing to take over"
    )

    sleep_until(killed_at + 2 * LEASE_SECONDS * SECOND)
    # The killed node's jobs replay the slots they missed until the takeover, one 0.6 s
    # attempt after another: wait (bounded) until the window is recorded before disabling.
    window_end = killed_at + (2 * LEASE_SECONDS - 2) * SECOND
    wait_until_recorded(api, work, window_end, timeout=30)
    assert survivor.alive(), f"node {survivor.name} died"
    nodes = nodes_of(api)
    assert parse_instant(nodes[survivor.name]["heartbeatAt"]) > killed_at, nodes
    if victim in nodes:
        assert parse_instant(nodes[victim]["heartbeatAt"]) <= killed_at, nodes
    disabled_at = disable(api)
    settle(cluster.database)

    # The attempts the victim held were re-sent by the survivor with their tag, once the
    # lease expired.
    takeover = []
    for job, slot in sorted(orphans):
        items = received_by_slot(target, job)[slot]
        assert len(items) >= 2, f"{job} at {slot} (leased to the killed node) was never re-sent"
        takeover.append(items[1].at - killed_mono)
    details = [
        (
            job,
            f"lease ends +{(leases[job, slot] - killed_at).total_seconds():.2f} s",
            [f"{item.at - killed_mono:+.2f}" for item in received_by_slot(target, job)[slot]],
        )
        for job, slot in sorted(orphans)
    ]
    assert max(takeover) <= LEASE_SECONDS + 2.5, f"takeover took {max(takeover):.1f} s: {details}"

    findings = check_records(api, target, work, min(window_end, disabled_at - 2 * SECOND))
    late = sorted(
        (item.wall - parse_instant(item.headers[EXPECTED])).total_seconds()
        for item in target.received()
        if item.path.startswith("/ha/")
    )
    print(f"\nlateness p50 {late[len(late) // 2]:.3f} s, max {late[-1]:.3f} s")
    print(
        f"\nkill -9 of node {victim}: {len(orphans)} attempts taken over {min(takeover):.1f}-"
        f"{max(takeover):.1f} s after the kill; {findings.slots} slots x {JOBS} jobs: "
        f"{findings.executed} executed, {findings.postponed} postponed, "
        f"{findings.resent} delivered twice"
    )
    findings.fail_if_any()
    api_a.close()
    api_b.close()


def test_connections_cut_under_load_the_nodes_recover_and_nothing_is_lost(
    cluster: Cluster, target: Target
) -> None:
    database = cluster.database
    a, b = cluster.start("a"), cluster.start("b")
    api_a, api_b = Api(a.server), Api(b.server)
    # 0.2 s answers: attempts are in flight (and being recorded) when the connections go.
    work = create_workload([api_a, api_b], target, delay=0.2)
    sleep_until(work.first_slot + 3 * SECOND)

    cuts = []
    for _ in range(3):
        cuts.append(database.terminate_connections())
        time.sleep(1.5)
    last_cut = datetime.now(UTC) - 1.5 * SECOND
    assert cuts[0] >= 2, f"the nodes had {cuts[0]} connections to cut"

    # Recovered by themselves: every job fires again, and both engines beat again.
    mark = datetime.fromtimestamp(math.ceil(last_cut.timestamp()) + 3, UTC)

    def all_firing() -> bool:
        rows = database.sql.fetch(
            "SELECT count(DISTINCT job_id) AS n FROM history "
            "WHERE expected_execution_time >= $1 AND status <> 'Postponed'",
            int(mark.timestamp() * 1_000_000),
        )
        return rows[0]["n"] == JOBS

    wait_for(all_firing, f"every job to fire again after the cuts (at {mark})", 30, 0.25)
    assert a.alive(), "node a died of a cut connection"
    assert b.alive(), "node b died of a cut connection"
    for api in (api_a, api_b):
        nodes = nodes_of(api)
        for name in ("a", "b"):
            beat = parse_instant(nodes[name]["heartbeatAt"])
            assert beat > last_cut, f"node {name} has not beaten since the cuts: {nodes}"
    disable(api_a)
    settle(database)

    findings = check_records(api_b, target, work, mark)
    print(
        f"\ncuts: {cuts} connections cut; {findings.slots} slots x {JOBS} jobs: "
        f"{findings.executed} executed, {findings.postponed} postponed, "
        f"{findings.resent} delivered twice"
    )
    findings.fail_if_any()
    api_a.close()
    api_b.close()
