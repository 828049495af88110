"""``properties.catchUp`` (issue 14, item 7) through the service and the engine on a fake
clock: an every-minute job runs at 00:00, the service is down from 00:00:30 to 00:10:30 (the
clock jumps; nothing ticks), and the slots 00:01 to 00:10 were missed. What runs when it
comes back depends on the policy and its window; the default is Azure's (skip anything
later than the 60 s grace)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from jobclock.codec.job import definition_to_json
from jobclock.domain.errors import Conflict, InvalidDefinition
from jobclock.refs import CollectionRef, JobRef
from tests.system import T0, System

MINUTE = timedelta(minutes=1)
BACK = T0 + 10 * MINUTE + timedelta(seconds=30)


def minutely(system: System, catch_up: dict[str, Any] | None, **recurrence: Any) -> JobRef:
    system.collection()
    body: dict[str, Any] = {
        "startTime": "2024-01-01T00:00:00Z",
        "recurrence": {"frequency": "Minute", "interval": 1, **recurrence},
    }
    if catch_up is not None:
        body["catchUp"] = catch_up
    return system.job("m", body)


def ran(system: System, ref: JobRef) -> list[int]:
    """The minutes whose slots ran (Completed entries), in order."""
    return [
        int((entry.expected_execution_time - T0) / MINUTE)
        for entry in system.history(ref)
        if entry.status.value == "Completed"
    ]


@pytest.mark.parametrize(
    ("catch_up", "expected"),
    [
        (None, [0]),
        ({"policy": "skip"}, [0]),
        ({"policy": "skip", "window": "PT15M"}, list(range(11))),  # a wide grace: all late
        ({"policy": "once"}, [0, 10]),
        ({"policy": "once", "window": "PT5M"}, [0, 10]),
        ({"policy": "once", "window": "PT10S"}, [0]),  # 00:10 is 30 s late: outside
        ({"policy": "all"}, list(range(11))),
        ({"policy": "all", "window": "PT5M"}, [0, 6, 7, 8, 9, 10]),
    ],
    ids=str,
)
def test_missed_slots_follow_the_catch_up_policy(
    system: System, catch_up: dict[str, Any] | None, expected: list[int]
) -> None:
    ref = minutely(system, catch_up)
    system.at(T0)
    system.at(BACK)  # down in between: nothing ticked
    assert ran(system, ref) == expected
    # Whatever ran, the series goes on at its first slot after the outage.
    assert system.status(ref).status.next_execution_time == T0 + 11 * MINUTE
    system.at(T0 + 11 * MINUTE)
    assert ran(system, ref)[-1] == 11


def test_catching_up_all_stops_at_count(system: System) -> None:
    ref = minutely(system, {"policy": "all"}, count=3)
    system.at(T0)
    system.at(BACK)
    assert ran(system, ref) == [0, 1, 2]
    assert system.status(ref).state.value == "Completed"


def test_a_collection_enabled_again_catches_up_its_jobs(system: System) -> None:
    once = minutely(system, {"policy": "once"})
    plain = system.job(
        "plain",
        {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Minute"}},
    )
    collection = CollectionRef("sub", "rg", "jc")
    system.at(T0)
    system.clock.set(T0 + timedelta(seconds=30))
    system.run(system.service.disable_collection(collection))
    system.clock.set(BACK)
    system.run(system.service.enable_collection(collection))
    system.at(BACK)
    assert ran(system, once) == [0, 10]
    assert ran(system, plain) == [0]  # Azure's: missed slots are not caught up (§5.9)
    assert system.status(plain).status.next_execution_time == T0 + 11 * MINUTE


def test_catch_up_is_echoed_and_checked(system: System) -> None:
    ref = minutely(system, {"policy": "ALL", "window": "pt1h"})
    body = definition_to_json(system.status(ref).definition)
    assert body["catchUp"] == {"policy": "all", "window": "PT1H"}
    plain = system.job("plain", {"recurrence": {"frequency": "Hour"}})
    assert "catchUp" not in definition_to_json(system.status(plain).definition)
    for bad, field in (
        ({"policy": "sometimes"}, "policy"),
        ({"policy": "all", "window": "PT0S"}, "window"),
        ({"policy": "all", "window": "soon"}, "window"),
        ({"policy": "all", "every": "PT1M"}, "every"),
    ):
        with pytest.raises(InvalidDefinition) as raised:
            system.job("bad", {"recurrence": {"frequency": "Hour"}, "catchUp": bad})
        assert raised.value.field is not None
        assert field in raised.value.field


HOUR = timedelta(hours=1)


def hourly(system: System) -> JobRef:
    system.collection()
    return system.job(
        "h", {"startTime": "2024-01-01T00:00:00Z", "recurrence": {"frequency": "Hour"}}
    )


def backfill(system: System, ref: JobRef, body: dict[str, Any]) -> list[Any]:
    return list(system.run(system.service.backfill_job(ref, body)))


def test_a_backfill_runs_each_slot_of_a_past_range_once_paced(system: System) -> None:
    ref = hourly(system)
    system.clock.set(T0 + 10 * HOUR + timedelta(minutes=20))
    system.run(system.engine.run_until_idle())  # the missed 00:00 is skipped (Azure)
    before = system.status(ref).status
    queued = backfill(system, ref, {"from": "2024-01-01T02:00:00Z", "to": "2024-01-01T05:00:00Z"})
    assert queued == [T0 + hours * HOUR for hours in (2, 3, 4, 5)]
    # Paced 1 s apart: after 1.5 s, two have run.
    system.at(system.clock.now() + timedelta(seconds=1, milliseconds=500))
    assert len([e for e in system.history(ref) if e.message.startswith("Backfill")]) == 2
    system.at(system.clock.now() + timedelta(seconds=5))
    entries = [e for e in system.history(ref) if e.message.startswith("Backfill of")]
    assert [e.expected_execution_time for e in entries] == queued
    assert {e.status.value for e in entries} == {"Completed"}
    assert entries[0].message.startswith("Backfill of 2024-01-01T02:00:00Z: ")
    # The schedule did not move.
    assert system.status(ref).status.next_execution_time == before.next_execution_time


def test_a_backfill_that_cannot_run_stores_nothing(system: System) -> None:
    ref = hourly(system)
    system.clock.set(T0 + 2000 * HOUR)
    for body, message in (
        ({"from": "2024-01-01T05:00:00Z", "to": "2024-01-01T02:00:00Z"}, "not be after"),
        ({"from": "2024-01-01T05:00:00Z", "to": "2030-01-01T00:00:00Z"}, "in the future"),
        ({"from": "2024-01-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"}, "more than 1000"),
        ({"from": "2024-01-01T00:00:00Z"}, "needs 'from' and 'to'"),
        ({"from": "2024-01-01T00:00:00Z", "to": "2024-01-01T01:00:00Z", "x": 1}, "'x'"),
        ({"from": "yesterday", "to": "2024-01-01T01:00:00Z"}, "from"),
    ):
        with pytest.raises(InvalidDefinition, match=message):
            backfill(system, ref, body)
    first = {"from": "2024-01-01T02:00:00Z", "to": "2024-01-01T03:00:00Z", "pace": "PT1M"}
    assert len(backfill(system, ref, first)) == 2
    overlapping = {"from": "2024-01-01T01:00:00Z", "to": "2024-01-01T02:00:00Z"}
    with pytest.raises(Conflict, match="waiting to be backfilled already"):
        backfill(system, ref, overlapping)
    system.at(system.clock.now() + 2 * MINUTE)
    entries = [e for e in system.history(ref) if e.message.startswith("Backfill")]
    # 01:00 of the refused request was not stored; 02:00 and 03:00 ran once each.
    assert [e.expected_execution_time for e in entries] == [T0 + 2 * HOUR, T0 + 3 * HOUR]


@pytest.mark.parametrize(
    ("catch_up", "caught"),
    [
        (None, 29),  # 1 s to 29 s late: within the 60 s grace, every one runs late
        ({"policy": "all", "window": "PT12S"}, 12),  # the window is shorter than the grace
        ({"policy": "once", "window": "PT20S"}, 1),
        ({"policy": "skip", "window": "PT5S"}, 0),
    ],
    ids=str,
)
def test_a_window_shorter_than_the_grace_limits_what_a_short_outage_catches_up(
    system: System, catch_up: dict[str, Any] | None, caught: int
) -> None:
    system.collection()
    body: dict[str, Any] = {
        "startTime": "2024-01-01T00:00:00Z",
        "recurrence": {"frequency": "Second", "interval": 1},
    }
    if catch_up is not None:
        body["catchUp"] = catch_up
    ref = system.job("s", body)
    system.at(T0)
    back = T0 + timedelta(seconds=29, milliseconds=500)
    system.at(back)
    seconds = [
        int((entry.expected_execution_time - T0).total_seconds()) for entry in system.history(ref)
    ]
    assert seconds[0] == 0
    assert seconds[1:] == list(range(30 - caught, 30))
