"""kill -9 of the only SQLite node in the middle of a burst, then a restart.

200 every-second jobs share one ``startTime``, so every second begins with a burst of 200
requests. A fraction of a second into one of them the node is killed with SIGKILL; 22 s
later it starts again on the same database. The documented policy (docs/deployment.md): a
slot missed while the node was down runs late if it is less than 60 s late, so here every
slot runs; an attempt in flight at the kill is sent again with the same execution tag. So
every scheduled second, before, during and after the outage, ends with exactly one
``Completed`` entry, and nothing reached the target that the history does not record.
"""

from __future__ import annotations

import signal
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.harness import Api, Target, start_server, stop_server
from tests.faults.workload import (
    SECOND,
    check_exactly_once,
    every_second_jobs,
    sleep_until,
    slots,
    wait_mid_burst,
    wait_until_recorded,
)

JOBS = 200
DOWN = 22  # seconds


def test_kill_9_mid_burst_then_restart_every_slot_within_the_grace_completes_once(
    tmp_path: Path, target: Target
) -> None:
    directory = tmp_path / "jobclock"
    server = start_server(directory)
    api = Api(server)
    try:
        work = every_second_jobs([api], target, "burst", JOBS)
    except BaseException:
        stop_server(server)
        raise
    finally:
        api.close()

    # kill -9 at a random moment of a burst: once the target has received a random part of
    # the 200 requests of one second (so attempts are in flight and unrecorded).
    burst, part = wait_mid_burst(target, work, 3)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    killed_at = datetime.now(UTC)
    into_burst = (killed_at - burst).total_seconds()
    with sqlite3.connect(directory / "jobclock.db") as db:
        in_flight = db.execute(
            "SELECT count(*) FROM occurrences WHERE status = 'running'"
        ).fetchone()[0]
    assert in_flight > 0, "nothing was in flight at the kill: the test would test nothing"
    sleep_until(killed_at + DOWN * SECOND)

    again = start_server(directory)
    try:
        api = Api(again)
        restarted_at = datetime.now(UTC)
        window = slots(work.start, restarted_at + 4 * SECOND)
        sleep_until(restarted_at + 6 * SECOND)
        wait_until_recorded(api, work, window, timeout=40)
        response = api.post(f"{api.collection_path(work.collection)}/disable")
        assert response.status_code == 200, response.text
        findings = check_exactly_once(api, target, work, window)
        print(
            f"\nkill -9 {into_burst:.3f} s into a burst of {JOBS}, after {part} arrived "
            f"({in_flight} attempts in "
            f"flight), down {DOWN} s: "
            f"{findings.summary()}"
        )
        findings.fail_if_any()
        api.close()
    finally:
        stop_server(again)
    # Every history row is whole: the columns a half-written row would lack are all set.
    with sqlite3.connect(directory / "jobclock.db") as db:
        broken = db.execute(
            "SELECT count(*) FROM history WHERE status IS NULL OR message IS NULL "
            "OR start_time IS NULL OR end_time < start_time"
        ).fetchone()[0]
    assert broken == 0
