"""SIGTERM to the only SQLite node in the middle of a burst, then a restart.

200 every-second jobs share one ``startTime`` and their target answers each request after
0.5 s, so every second begins with 200 requests in flight for half a second. A random
fraction of a second into one of them the node gets SIGTERM. The documented behaviour
(docs/deployment.md, "A node is stopped with SIGTERM"): attempts in flight finish and are
recorded, nothing is sent again. So the process exits 0 within a bound; every request the
target received before it exited is recorded exactly once (``Completed``) and none of them
reaches the target again after the restart (its tag is never seen again, and the restarted
node finds no attempt left running); and every slot, before the stop and during the short
outage (within the 60 s grace, so each runs late), completes exactly once.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.harness import Api, Target, start_server, stop_server
from tests.faults.measure import log_events
from tests.faults.workload import (
    SECOND,
    TAG,
    check_exactly_once,
    every_second_jobs,
    sleep_until,
    slots,
    wait_until_recorded,
)

JOBS = 200
DELAY = 0.5  # seconds the target takes to answer
# In-flight attempts last at most DELAY here; the rest is recording them and closing the
# HTTP server. The harness allows the same for every server it stops.
EXIT_WITHIN = 10.0  # seconds
DOWN = 3  # seconds between the exit and the restart


def test_sigterm_mid_burst_finishes_and_records_what_was_in_flight(
    tmp_path: Path, target: Target
) -> None:
    directory = tmp_path / "jobclock"
    server = start_server(directory)
    api = Api(server)
    try:
        work = every_second_jobs([api], target, "burst", JOBS, delay=DELAY)
    except BaseException:
        stop_server(server)  # not left running, at full speed, after the test
        raise
    finally:
        api.close()

    into_burst = random.uniform(0.05, 0.45)  # noqa: S311 - a random moment of the burst
    sleep_until(work.start + 4 * SECOND + into_burst * SECOND)
    signalled_at = datetime.now(UTC)
    server.process.send_signal(signal.SIGTERM)
    began = time.monotonic()
    try:
        code = server.process.wait(timeout=EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        raise AssertionError(
            f"jobclock did not exit within {EXIT_WITHIN} s of SIGTERM:\n{server.log()}"
        ) from None
    took = time.monotonic() - began
    assert code == 0, f"jobclock exited with {code} after SIGTERM:\n{server.log()}"
    before = target.received()
    in_flight = sum(
        1 for item in before if signalled_at - timedelta(seconds=DELAY) < item.wall <= signalled_at
    )
    stopped = log_events(server.log())
    assert stopped["engine.shutdown_unrecorded"] == 0, server.log()

    exited_at = datetime.now(UTC)
    sleep_until(exited_at + DOWN * SECOND)
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
        sent_before = {item.headers[TAG] for item in before}
        after = target.received()[len(before) :]
        repeated = sorted({item.path for item in after if item.headers[TAG] in sent_before})
        recovered = log_events(again.log())["engine.recovered"]
        print(
            f"\nSIGTERM {into_burst:.2f} s into a burst of {JOBS} ({in_flight} requests in "
            f"flight), exit 0 after {took:.2f} s; {len(before)} requests before the exit, "
            f"{len(repeated)} of them sent again after the restart, {recovered} recovery "
            f"record(s) at the restart; {findings.summary()}"
        )
        findings.fail_if_any()
        assert not repeated, f"sent again after the restart (same tag): {repeated[:12]}"
        assert recovered == 0, "the restarted node found attempts left running"
        api.close()
    finally:
        stop_server(again)
