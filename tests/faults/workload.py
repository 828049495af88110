"""The workload and the checks the fault tests share: every-second HTTP jobs at a recording
target, and what "nothing lost" means, read the way a user reads it (the history API,
following ``nextLink``, and what the target received).

Pass criteria (``check_exactly_once``), for every job and every scheduled second of a window:

* exactly one ``Completed`` ``MainAction`` history entry (no other executed entry);
* the target received it at least once, and every copy it received carries one execution tag;
* nothing of the window reached the target that the history does not record as executed.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.harness import Api, Received, Reply, Target, http_action, wait_for
from tests.ha.cluster import parse_instant

SECOND = timedelta(seconds=1)
TAG = "x-ms-execution-tag"
EXPECTED = "x-ms-scheduler-expected-execution-time"
JOB_ID = "x-ms-scheduler-jobid"


@dataclass(frozen=True)
class Workload:
    collection: str
    jobs: list[str]
    start: datetime  # every job's startTime (a whole second)

    def path(self, job: str) -> str:
        return f"/{self.collection}/{job}"


PROBE = 5  # jobs created first, far ahead, to time a create on this machine now
FAR_AHEAD = timedelta(hours=1)


def every_second_jobs(
    apis: list[Api],
    target: Target,
    collection: str,
    count: int,
    lead: float = 3.0,
    delay: float = 0.0,
) -> Workload:
    """An ``Unlimited`` collection and ``count`` jobs ``{"frequency": "Second",
    "interval": 1}``, no retries, one whole-second ``startTime`` at least ``lead`` s after
    the last job is created, created alternately through each API; the target answers each
    after ``delay`` s.

    A loaded machine (CI runs the whole suite on two cores) can take longer to create 200
    jobs than any fixed lead, so the first ``PROBE`` jobs are created an hour ahead and
    timed; the shared start leaves three times the measured time for the rest, plus
    ``lead``, and the probes are then moved to it (a PUT replaces the job)."""
    apis[0].create_collection(collection, "Unlimited")
    names = [f"job-{index:03d}" for index in range(count)]

    def create(index: int, job: str, start: datetime, status: int = 201) -> None:
        target.reply(f"/{collection}/{job}", Reply(delay=delay))
        api = apis[index % len(apis)]
        properties = {
            "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "action": http_action(target.url(f"/{collection}/{job}")),
            "recurrence": {"frequency": "Second", "interval": 1},
        }
        response = api.put(api.job_path(collection, job), {"properties": properties})
        assert response.status_code == status, response.text

    probes = names[:PROBE]
    began = time.monotonic()
    for index, job in enumerate(probes):
        create(index, job, datetime.now(UTC) + FAR_AHEAD)
    each = (time.monotonic() - began) / max(1, len(probes))
    needed = 3.0 * each * count + lead
    start = datetime.fromtimestamp(math.ceil(time.time() + needed), UTC)
    work = Workload(collection, names, start)
    for index, job in enumerate(names[PROBE:], start=PROBE):
        create(index, job, start)
    for index, job in enumerate(probes):
        create(index, job, start, status=200)
    assert datetime.now(UTC) < start, (
        f"creating the jobs took longer than {needed:.1f} s ({each * 1000:.0f} ms a job measured)"
    )
    return work


def wait_mid_burst(target: Target, work: Workload, seconds_in: int) -> tuple[datetime, int]:
    """Wait until the target has received a random part (1 to 3/4) of the burst
    ``seconds_in`` s after the start, so that attempts are in flight and unrecorded;
    returns the burst's instant and how many had to arrive."""
    burst = work.start + seconds_in * SECOND
    part = random.randint(1, len(work.jobs) * 3 // 4)  # noqa: S311
    stamp = burst.strftime("%Y-%m-%dT%H:%M:%S")

    def received_part() -> bool:
        arrived = [item for item in target.received() if stamp in item.headers[EXPECTED]]
        return len(arrived) >= part

    sleep_until(burst)
    wait_for(received_part, f"{part} requests of the burst at {stamp}", 5, every=0.001)
    return burst, part


def sleep_until(moment: datetime) -> None:
    left = (moment - datetime.now(UTC)).total_seconds()
    if left > 0:
        time.sleep(left)


def slots(first: datetime, last: datetime) -> list[datetime]:
    """Every whole second in [first, last]."""
    begin = datetime.fromtimestamp(math.ceil(first.timestamp()), UTC)
    count = int((last - begin) / SECOND) + 1
    return [begin + index * SECOND for index in range(max(0, count))]


def history_of(api: Api, collection: str, job: str) -> list[dict[str, Any]]:
    """Every history entry of ``job``, all pages (``nextLink``), as a user reads them."""
    response = api.get(f"{api.job_path(collection, job)}/history")
    assert response.status_code == 200, response.text
    body = response.json()
    entries: list[dict[str, Any]] = list(body["value"])
    while body.get("nextLink"):
        response = api.http.get(body["nextLink"])
        assert response.status_code == 200, response.text
        body = response.json()
        entries.extend(body["value"])
    return [entry["properties"] for entry in entries]


def received_by_slot(target: Target, path: str) -> dict[datetime, list[Received]]:
    found: dict[datetime, list[Received]] = defaultdict(list)
    for item in target.received(path):
        found[parse_instant(item.headers[EXPECTED])].append(item)
    return found


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    slots: int = 0
    completed: int = 0
    postponed_rows: int = 0
    resent: int = 0  # slots the target received more than once (same tag)

    def add(self, job: str, what: str, moments: list[datetime]) -> None:
        if moments:
            shown = [moment.strftime("%H:%M:%S") for moment in moments[:12]]
            more = f" (+{len(moments) - 12})" if len(moments) > 12 else ""
            self.errors.append(f"{job}: {len(moments)} {what}: {shown}{more}")

    def summary(self) -> str:
        return (
            f"{self.slots} slots: {self.completed} completed once, "
            f"{self.postponed_rows} Postponed rows, {self.resent} delivered twice (same tag), "
            f"{len(self.errors)} problems"
        )

    def fail_if_any(self) -> None:
        shown = "\n".join(self.errors[:40])
        more = f"\n... and {len(self.errors) - 40} more" if len(self.errors) > 40 else ""
        assert not self.errors, f"{self.summary()}:\n{shown}{more}"


def check_exactly_once(
    api: Api, target: Target, work: Workload, window: list[datetime]
) -> Findings:
    """The module's pass criteria for every job of ``work`` over ``window``."""
    findings = Findings(slots=len(window) * len(work.jobs))
    wanted = set(window)
    for job in work.jobs:
        entries = [item for item in history_of(api, work.collection, job)]
        main = [item for item in entries if item["actionName"] == "MainAction"]
        executed: dict[datetime, list[str]] = defaultdict(list)
        for item in main:
            moment = parse_instant(item["expectedExecutionTime"])
            if item["status"] == "Postponed":
                findings.postponed_rows += 1
            else:
                executed[moment].append(item["status"])
        received = received_by_slot(target, work.path(job))
        completed = [moment for moment in window if executed.get(moment) == ["Completed"]]
        findings.completed += len(completed)
        findings.add(job, "slots never executed", sorted(wanted - set(executed)))
        findings.add(
            job,
            "slots recorded more than once or not Completed",
            sorted(m for m in wanted & set(executed) if executed[m] != ["Completed"]),
        )
        findings.add(job, "slots that never reached the target", sorted(wanted - set(received)))
        findings.add(
            job,
            "deliveries never recorded as executed",
            sorted(m for m in set(received) - set(executed) if m <= window[-1]),
        )
        for moment, items in received.items():
            if len(items) > 1:
                findings.resent += 1
                tags = {item.headers.get(TAG) for item in items}
                if len(tags) != 1:
                    findings.add(job, f"re-sent with {len(tags)} different tags", [moment])
    return findings


def wait_until_recorded(api: Api, work: Workload, window: list[datetime], timeout: float) -> None:
    """Wait (bounded) until every job's history holds an executed entry for every slot of
    ``window``, or ``timeout`` passes; the checks then say what is missing."""
    last = window[-1]

    def done() -> bool:
        for job in work.jobs:
            times = {
                parse_instant(item["expectedExecutionTime"])
                for item in history_of(api, work.collection, job)
                if item["actionName"] == "MainAction" and item["status"] != "Postponed"
            }
            if not set(window) <= times:
                return False
        return True

    with contextlib.suppress(AssertionError):  # the checks report exactly what is missing
        wait_for(done, f"every slot up to {last} to be recorded", timeout, every=1.0)
