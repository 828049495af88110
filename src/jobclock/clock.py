"""The system clock: the only module that reads the wall clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime


class SystemClock:
    """Real time, UTC-aware. ``sleep_until`` can be cut short by ``wake``."""

    def __init__(self) -> None:
        self._wakeup: asyncio.Event | None = None

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, instant: datetime) -> None:
        delay = (instant - self.now()).total_seconds()
        if delay <= 0:
            return
        self._wakeup = asyncio.Event()
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout=delay)
        except TimeoutError:
            return
        finally:
            self._wakeup = None

    def wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
