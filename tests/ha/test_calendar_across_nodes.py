"""Calendars replaced while two real nodes share PostgreSQL and run the jobs that follow
them (issue 14, item 4). A calendar's PUT rewrites each follower's definition and next run
in the same write as the engine claims and records that job's slots; every-second jobs
under a stream of calendar PUTs through both nodes must still run each slot exactly once,
with none lost (the PUTs only change holidays far ahead, so no slot of now is a holiday).
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from tests.e2e.harness import Api, Target, http_action
from tests.ha.cluster import Cluster, parse_instant

EXPECTED = "x-ms-scheduler-expected-execution-time"
JOBS = [f"j{index}" for index in range(6)]
SECONDS = 12


def test_calendar_puts_beside_two_engines_lose_and_repeat_no_slot(
    cluster: Cluster, target: Target
) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    apis = [Api(a.server), Api(b.server)]
    apis[0].create_collection("cal", "Unlimited")
    calendar = f"{apis[0].collection_path('cal')}/calendars/off"
    far = datetime.now(UTC).date() + timedelta(days=400)
    assert apis[0].put(calendar, {"properties": {"dates": [str(far)]}}).status_code == 201
    start = datetime.fromtimestamp(math.ceil(time.time() + 4), UTC)
    policies = random.Random(len(JOBS))  # noqa: S311 - a mix of policies, not secrets
    for index, job in enumerate(JOBS):
        apis[index % 2].create_job(
            "cal",
            job,
            {
                "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "action": http_action(target.url(f"/cal/{job}")),
                "recurrence": {
                    "frequency": "Second",
                    "interval": 1,
                    "calendar": {"name": "off", "onHoliday": policies.choice(["skip", "next"])},
                },
            },
        )
    stop = threading.Event()
    answers: Counter[int] = Counter()

    def replace_calendars(api: Api, seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - spacing, not secrets
        while not stop.is_set():
            dates = sorted({str(far + timedelta(days=rng.randrange(300))) for _ in range(5)})
            answers[api.put(calendar, {"properties": {"dates": dates}}).status_code] += 1
            time.sleep(rng.random() * 0.05)  # not in step with the engine's ticks

    writers = [
        threading.Thread(target=replace_calendars, args=(api, seed), daemon=True)
        for seed, api in enumerate(apis)
    ]
    while datetime.now(UTC) < start:
        time.sleep(0.05)
    for writer in writers:
        writer.start()
    time.sleep(SECONDS)
    stop.set()
    for writer in writers:
        writer.join(10)
    for index, job in enumerate(JOBS):
        apis[index % 2].patch(apis[0].job_path("cal", job), {"properties": {"state": "Disabled"}})
    time.sleep(2)
    assert answers[200] >= 20, answers  # the calendar really was replaced, many times
    assert set(answers) == {200}, answers
    for job in JOBS:
        slots = [parse_instant(item.headers[EXPECTED]) for item in target.received(f"/cal/{job}")]
        repeated = sorted(slot for slot, seen in Counter(slots).items() if seen > 1)
        assert not repeated, f"{job}: slots run twice: {repeated[:5]}"
        ordered = sorted(slots)
        gaps = [
            (earlier, later)
            for earlier, later in itertools.pairwise(ordered)
            if later - earlier != timedelta(seconds=1)
        ]
        assert not gaps, f"{job}: slots lost between {gaps[:3]}"
        assert len(ordered) >= SECONDS - 2, f"{job}: {len(ordered)} slots"
        print(f"{job}: {len(ordered)} slots, each once; {sum(answers.values())} calendar PUTs")
    for api in apis:
        api.close()


def test_a_job_saved_beside_a_calendar_put_follows_the_calendar_as_it_ends(
    cluster: Cluster,
) -> None:
    """A job PUT through one node and a PUT of its calendar through the other, at the same
    moment, 120 times: whichever commits first, the job ends with the calendar's latest
    holidays (its preview skips the holiday exactly when the calendar lists it)."""
    a, b = cluster.start("a"), cluster.start("b")
    apis = [Api(a.server), Api(b.server)]
    apis[0].create_collection("race", "Unlimited")
    calendar = f"{apis[0].collection_path('race')}/calendars/off"
    assert apis[1].put(calendar, {"properties": {"dates": []}}).status_code == 201
    today = datetime.now(UTC).date()
    monday = today + timedelta(days=14 - today.weekday())
    holiday = str(monday + timedelta(days=1))
    stale = []
    for round_ in range(120):
        listed = round_ % 2 == 0  # this round's calendar lists the holiday
        job = f"j{round_}"
        body = {
            "properties": {
                "action": http_action("http://127.0.0.1:9/"),
                "startTime": f"{monday}T00:00:00Z",
                "recurrence": {
                    "frequency": "Day",
                    "interval": 1,
                    "schedule": {"hours": [9], "minutes": [0]},
                    "calendar": {"name": "off"},
                },
            }
        }
        gate = threading.Barrier(2)
        answers: dict[str, int] = {}
        dates = {"properties": {"dates": [holiday] if listed else []}}
        writers = [
            threading.Thread(
                target=_put_at_once,
                args=(gate, answers, "job", apis[0], apis[0].job_path("race", job), body),
            ),
            threading.Thread(
                target=_put_at_once, args=(gate, answers, "calendar", apis[1], calendar, dates)
            ),
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(30)
        assert answers == {"job": 201, "calendar": 200}, answers
        runs = apis[0].get(f"{apis[0].job_path('race', job)}/preview", params={"$top": "2"})
        second = runs.json()["value"][1]
        if second.startswith(holiday) == listed:
            stale.append(job)
    assert not stale, f"jobs left with an older calendar's holidays: {stale}"
    for api in apis:
        api.close()


def _put_at_once(
    gate: threading.Barrier, answers: dict[str, int], key: str, api: Api, path: str, body: object
) -> None:
    gate.wait()
    answers[key] = api.put(path, body).status_code
