"""Test helpers that ship with jobclock: a hand-advanced clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from jobclock.domain.instants import require_aware


class FakeClock:
    """A clock that moves only when a test says so; ``sleep_until`` waits for ``advance``."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start, "start")
        self._changed = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        instant = require_aware(instant, "instant")
        if instant < self._now:
            raise ValueError("a clock never goes backwards")
        self._now = instant
        self._changed.set()

    def advance(self, delta: timedelta) -> None:
        self.set(self._now + delta)

    async def sleep_until(self, instant: datetime) -> None:
        while self._now < instant:
            self._changed.clear()
            await self._changed.wait()

    def wake(self) -> None:
        self._changed.set()
