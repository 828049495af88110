"""``jobclock serve --workers 2``: kill -9 of one dispatch process, and of the server itself,
at a random moment of a burst.

The workload of ``test_sqlite_node_killed``: every-second jobs sharing one ``startTime``, so
each second begins with a burst. The pass criteria are the fault suite's
(``workload.check_exactly_once``): every scheduled second ends with exactly one
``Completed`` entry, an attempt in flight at a kill is sent again with the same execution
tag, and nothing reached the target that the history does not record.

* A worker killed: the server restarts it (same name, so it takes its own unfinished
  attempts back at once) and the other worker takes its share meanwhile; the server never
  stops answering.
* The server killed: its workers die with it (no orphan keeps firing, or holding the SQLite
  file), and a restart on the same database completes every slot within the grace.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.harness import Api, RunningServer, Target, start_server, stop_server, wait_for
from tests.faults.measure import heartbeats, log_events
from tests.faults.workload import (
    SECOND,
    check_exactly_once,
    every_second_jobs,
    sleep_until,
    slots,
    wait_mid_burst,
    wait_until_recorded,
)
from tests.ha.cluster import create_database

JOBS = 200
WORKERS = {"JOBCLOCK_WORKERS": "2", "JOBCLOCK_NODE": "n1"}


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux ``/proc``)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(item) for item in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return sorted(set(found))


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def two_workers_alive(api: Api) -> bool:
    beats = heartbeats(api)
    return sorted(name for name, (_, up) in beats.items() if up) == ["n1/1", "n1/2"]


def start_with_workers(directory: Path, db_url: str | None = None) -> RunningServer:
    server = start_server(directory, env=WORKERS, db_url=db_url)
    wait_for(lambda: len(children(server.process.pid)) == 2, "two worker processes", 20)
    return server


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> object:
    if request.param == "sqlite":
        yield None
    else:
        yield from (database.url for database in create_database())


def test_a_worker_killed_mid_burst_is_restarted_and_every_slot_completes_once(
    tmp_path: Path, target: Target, db_url: str | None
) -> None:
    server = start_with_workers(tmp_path / "jobclock", db_url)
    api = Api(server)
    try:
        wait_for(lambda: two_workers_alive(api), "both workers' heartbeats", 20)
        work = every_second_jobs([api], target, "workers", JOBS)
        burst, _ = wait_mid_burst(target, work, 3)
        victim = random.choice(children(server.process.pid))  # noqa: S311
        os.kill(victim, signal.SIGKILL)
        killed_at = datetime.now(UTC)
        # The server answers throughout, and starts a new worker in the dead one's place.
        assert api.http.get("/healthz").status_code == 200
        wait_for(
            lambda: (
                len(children(server.process.pid)) == 2
                and victim not in children(server.process.pid)
            ),
            "a new worker in place of the killed one",
            20,
        )
        window = slots(work.start, killed_at + 8 * SECOND)
        sleep_until(killed_at + 10 * SECOND)
        wait_until_recorded(api, work, window, timeout=40)
        assert two_workers_alive(api)
        assert api.post(f"{api.collection_path(work.collection)}/disable").status_code == 200
        findings = check_exactly_once(api, target, work, window)
        print(
            f"\nworker {victim} killed {(killed_at - burst).total_seconds():.3f} s into a "
            f"burst of {JOBS}: {findings.summary()}"
        )
        findings.fail_if_any()
        assert log_events(server.log())["engine.worker_exited"] == 1
    finally:
        api.close()
        stop_server(server)
    assert not any(alive(pid) for pid in children(server.process.pid))


def test_the_server_killed_mid_burst_takes_its_workers_and_a_restart_completes_every_slot(
    tmp_path: Path, target: Target
) -> None:
    directory = tmp_path / "jobclock"
    server = start_with_workers(directory)
    api = Api(server)
    try:
        work = every_second_jobs([api], target, "workers", JOBS)
    finally:
        api.close()
    workers = children(server.process.pid)
    wait_mid_burst(target, work, 3)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    killed_at = datetime.now(UTC)
    # No orphan: both workers are gone within a moment (they would keep firing).
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(alive(pid) for pid in workers), "a worker outlived its server"
    with sqlite3.connect(directory / "jobclock.db") as db:
        in_flight = db.execute(
            "SELECT count(*) FROM occurrences WHERE status = 'running'"
        ).fetchone()[0]
    assert in_flight > 0, "nothing was in flight at the kill: the test would test nothing"
    sleep_until(killed_at + 5 * SECOND)

    again = start_with_workers(directory)
    try:
        api = Api(again)
        restarted_at = datetime.now(UTC)
        window = slots(work.start, restarted_at + 4 * SECOND)
        sleep_until(restarted_at + 6 * SECOND)
        wait_until_recorded(api, work, window, timeout=40)
        assert api.post(f"{api.collection_path(work.collection)}/disable").status_code == 200
        findings = check_exactly_once(api, target, work, window)
        print(f"\nserver and workers killed, down 5 s: {findings.summary()}")
        findings.fail_if_any()
        api.close()
    finally:
        stop_server(again)
