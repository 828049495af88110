"""The clocks: a wake is never lost, a fake clock moves only when told."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from jobclock.clock import SystemClock
from jobclock.testing import FakeClock


def test_system_clock_is_utc_aware() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC


def test_a_wake_before_the_sleep_is_not_lost() -> None:
    async def scenario() -> float:
        clock = SystemClock()
        clock.wake()  # e.g. a job created while the engine was busy
        loop = asyncio.get_running_loop()
        began = loop.time()
        await clock.sleep_until(clock.now() + timedelta(seconds=30))
        return loop.time() - began

    assert asyncio.run(scenario()) < 5


def test_fake_clock_sleeps_until_advanced() -> None:
    async def scenario() -> list[str]:
        clock = FakeClock(datetime(2024, 1, 1, tzinfo=UTC))
        events: list[str] = []

        async def sleeper() -> None:
            await clock.sleep_until(datetime(2024, 1, 1, 0, 1, tzinfo=UTC))
            events.append("woke")

        task = asyncio.create_task(sleeper())
        await asyncio.sleep(0)
        clock.advance(timedelta(seconds=30))
        await asyncio.sleep(0)
        events.append("half")
        clock.advance(timedelta(seconds=30))
        await task
        return events

    assert asyncio.run(scenario()) == ["half", "woke"]


def test_fake_clock_never_goes_backwards() -> None:
    clock = FakeClock(datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="backwards"):
        clock.set(datetime(2023, 1, 1, tzinfo=UTC))
