"""The system clock: the only module that reads the wall clock."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime


class SystemClock:
    """Real time, UTC-aware. ``sleep_until`` can be cut short by ``wake``.

    A wake is remembered until the next ``sleep_until`` consumes it, so a wake that comes
    while the engine is busy (between reading its next due time and going to sleep) makes
    that sleep return at once instead of being lost.
    """

    def __init__(self) -> None:
        self._wakeup: asyncio.Event | None = None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def _event(self) -> asyncio.Event:
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        return self._wakeup

    async def sleep_until(self, instant: datetime) -> None:
        event = self._event()
        delay = (instant - self.now()).total_seconds()
        if delay > 0 and not event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=delay)
        event.clear()

    def wake(self) -> None:
        self._event().set()
