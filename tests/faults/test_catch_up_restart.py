"""``catchUp`` the way a user meets it: the only SQLite node is killed with SIGKILL at a
random moment and comes back 30 s later (within the engine's 60 s misfire grace: without
a catch-up window every slot of the outage would run late). Every-second jobs under three
policies, each with a window shorter than the outage:

* ``{"policy": "all", "window": "PT12S"}``: the slots of the last 12 s before the engine
  first claims them again run, each once, in turn; older ones of the outage do not;
* ``{"policy": "once", "window": "PT20S"}``: at most one slot of the outage runs, the
  latest at that claim (telling it from the first slot on time takes more than the history
  has);
* ``{"policy": "skip", "window": "PT5S"}``: none of the outage runs (its first missed slot
  is later than the window).

Nothing runs twice, every slot before the kill and after the restart runs once, and the
target received exactly what the history records as executed.
"""

from __future__ import annotations

import itertools
import math
import random
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.harness import Api, Target, http_action, start_server, stop_server
from tests.faults.workload import EXPECTED, SECOND, history_of, sleep_until
from tests.ha.cluster import parse_instant

DOWN = 30  # seconds
POLICIES = {
    "all": {"policy": "all", "window": "PT12S"},
    "once": {"policy": "once", "window": "PT20S"},
    "skip": {"policy": "skip", "window": "PT5S"},
}
PER_POLICY = 4


def test_kill_9_then_restart_catches_up_as_each_policy_says(tmp_path: Path, target: Target) -> None:
    directory = tmp_path / "jobclock"
    server = start_server(directory)
    api = Api(server)
    api.create_collection("catch", "Unlimited")
    start = datetime.fromtimestamp(math.ceil(time.time() + 3), UTC)
    jobs = {f"{name}-{index}": name for name in POLICIES for index in range(PER_POLICY)}
    for job, policy in jobs.items():
        api.create_job(
            "catch",
            job,
            {
                "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "action": http_action(target.url(f"/catch/{job}")),
                "recurrence": {"frequency": "Second", "interval": 1},
                "catchUp": POLICIES[policy],
            },
        )
    api.close()
    sleep_until(start + 4 * SECOND + random.uniform(0, 1) * SECOND)  # noqa: S311
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    killed_at = datetime.now(UTC)
    sleep_until(killed_at + DOWN * SECOND)
    again = start_server(directory)
    try:
        api = Api(again)
        restarted_at = datetime.now(UTC)
        sleep_until(restarted_at + 6 * SECOND)
        for job in jobs:
            api.patch(api.job_path("catch", job), {"properties": {"state": "Disabled"}})
        time.sleep(1.0)
        histories = {job: executed_entries(api, job) for job in jobs}
        # The restarted engine's first claim: the earliest start after the restart (an
        # 'all' job starts catching up at once).
        claimed = min(
            start for entries in histories.values() for _, start in entries if start >= restarted_at
        )
        problems: list[str] = []
        for job, policy in jobs.items():
            problems += check_job(target, job, policy, histories[job], killed_at, claimed)
        assert not problems, "\n".join(problems)
        api.close()
    finally:
        stop_server(again)


def executed_entries(api: Api, job: str) -> list[tuple[datetime, datetime]]:
    """(expected time, start time) of each executed main-action entry of ``job``."""
    return [
        (parse_instant(entry["expectedExecutionTime"]), parse_instant(entry["startTime"]))
        for entry in history_of(api, "catch", job)
        if entry["actionName"] == "MainAction" and entry["status"] != "Postponed"
    ]


def check_job(
    target: Target,
    job: str,
    policy: str,
    entries: list[tuple[datetime, datetime]],
    killed_at: datetime,
    claimed: datetime,
) -> list[str]:
    executed = Counter(slot for slot, _ in entries)
    received = Counter(
        parse_instant(item.headers[EXPECTED]) for item in target.received(f"/catch/{job}")
    )
    problems = [f"{job}: {slot} recorded {n} times" for slot, n in executed.items() if n > 1]
    problems += [
        f"{job}: {slot} reached the target but is not recorded"
        for slot in received
        if slot not in executed
    ]
    problems += [
        f"{job}: {slot} recorded but never received" for slot in executed if slot not in received
    ]
    # Slots after the kill that ran before the first claim's instant were caught up (a slot
    # after it runs on time whatever the policy). A slot the engine had claimed ahead (up
    # to 0.4 s) before the kill is owed whatever the policy: it is sent again on recovery.
    caught = sorted(
        slot for slot in executed if killed_at + CLAIMED_AHEAD < slot < claimed - CLAIM_SLACK
    )
    shown = [slot.strftime("%H:%M:%S") for slot in caught]
    summary = f"{job} ({policy}): caught up {shown}, first claim {claimed:%H:%M:%S.%f}"
    print(summary)
    if policy == "skip" and caught:
        problems.append(f"{summary}: a skip policy ran some")
    if policy == "once" and len(caught) > 1:
        problems.append(f"{summary}: 'once' ran {len(caught)}")
    if policy == "all":
        expected_first = claimed - timedelta(seconds=12)
        if not caught or abs((caught[0] - expected_first).total_seconds()) > 2.0:
            problems.append(f"{summary}: 'all' should start about {expected_first:%H:%M:%S}")
        gaps = [b - a for a, b in itertools.pairwise(caught) if b - a != SECOND]
        if gaps:
            problems.append(f"{summary}: 'all' left gaps {gaps}")
    # Every slot from the first to the last before the kill ran, and every one after the
    # claim up to the last recorded.
    before = sorted(slot for slot in executed if slot <= killed_at)
    after = sorted(slot for slot in executed if slot > claimed)
    for part, name in ((before, "before the kill"), (after, "after the restart")):
        if not part:
            problems.append(f"{job}: nothing ran {name}")
            continue
        whole = {part[0] + n * SECOND for n in range(int((part[-1] - part[0]) / SECOND) + 1)}
        missing = sorted(whole - set(part))
        if missing:
            problems.append(f"{job}: slots {name} never ran: {missing[:5]}")
    return problems


# An attempt starts a few ms after the claim that decided it; the engine claims slots up
# to 0.4 s ahead (``EngineSettings.lookahead``).
CLAIM_SLACK = timedelta(milliseconds=20)
CLAIMED_AHEAD = timedelta(seconds=0.5)
