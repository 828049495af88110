"""``jobclock serve --workers 2`` on SQLite, as a user runs it: the workers are nodes of
their own, what the API writes reaches them at once (no LISTEN/NOTIFY on SQLite: the server
forwards wake-ups), and SIGTERM stops everything cleanly."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.harness import (
    Api,
    Target,
    http_action,
    jobclock_executable,
    start_server,
    stop_server,
    wait_for,
)
from tests.faults.measure import heartbeats
from tests.faults.test_workers_killed import alive, children

WORKERS = {"JOBCLOCK_WORKERS": "2", "JOBCLOCK_NODE": "here"}


def test_workers_are_nodes_are_woken_by_writes_and_stop_with_the_server(
    tmp_path: Path, target: Target
) -> None:
    server = start_server(tmp_path, env=WORKERS)
    api = Api(server)
    try:
        wait_for(
            lambda: (
                sorted(name for name, (_, up) in heartbeats(api).items() if up)
                == ["here/1", "here/2"]
            ),
            "both workers' heartbeats",
            20,
        )
        workers = children(server.process.pid)
        assert len(workers) == 2
        api.create_collection("wake", "Unlimited")
        # Created after the workers went to sleep (nothing was due): due in 1 s, it fires
        # on time only if the write woke them (their idle sleep is 30 s).
        time.sleep(1.0)
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        for index in range(6):
            api.create_job(
                "wake",
                f"once-{index}",
                {
                    "action": http_action(target.url(f"/once-{index}")),
                    "startTime": due.isoformat().replace("+00:00", "Z"),
                },
            )
        for index in range(6):
            [received] = target.wait_for(1, f"/once-{index}", timeout=10)
            assert received.wall - due < timedelta(seconds=1.5), (index, received.wall - due)
        # Run now, on a job with no schedule left: woken again.
        asked = datetime.now(UTC)
        response = api.post(f"{api.job_path('wake', 'once-0')}/run")
        assert response.status_code == 200, response.text
        [_, again] = target.wait_for(2, "/once-0", timeout=10)
        assert again.wall - asked < timedelta(seconds=1.5)
    finally:
        api.close()
        stop_server(server)  # SIGTERM: it must exit 0, after its workers
    assert not any(alive(pid) for pid in workers)
    with sqlite3.connect(tmp_path / "jobclock.db") as db:
        left = db.execute("SELECT name FROM nodes").fetchall()
    assert left == [], "a stopped worker left its heartbeat behind"


def test_workers_must_be_a_positive_number(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(jobclock_executable()), "serve", "--workers", "0", "--db", f"sqlite:///{tmp_path}/x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "JOBCLOCK_WORKERS must be at least 1" in result.stderr
