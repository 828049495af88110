"""Test helpers that ship with jobclock: a hand-advanced clock and a recording executor."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from jobclock.domain.execution import AttemptContext, AttemptResult, Invocation
from jobclock.domain.instants import require_aware


class FakeClock:
    """A clock that moves only when a test says so; ``sleep_until`` waits for ``advance``."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start, "start")
        self._changed = asyncio.Event()
        self._woken = False

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
        """Return when the clock reaches ``instant`` or on a wake (remembered until here)."""
        if self._now < instant and not self._woken:
            self._changed.clear()
            while self._now < instant and not self._woken:
                await self._changed.wait()
                self._changed.clear()
        self._woken = False

    def wake(self) -> None:
        self._woken = True
        self._changed.set()


class RecordingExecutor:
    """An in-process :class:`jobclock.ports.ActionExecutor` for engine tests.

    It records every attempt and answers from a script: ``outcomes`` is consumed in order
    (True = success), then ``default`` applies. It also advances a fake clock by ``takes``
    per attempt, so attempts have a duration without sleeping.
    """

    def __init__(
        self,
        outcomes: list[bool] | None = None,
        default: bool = True,
        clock: FakeClock | None = None,
        takes: timedelta = timedelta(0),
    ) -> None:
        self.outcomes = list(outcomes or [])
        self.default = default
        self.clock = clock
        self.takes = takes
        self.calls: list[tuple[Invocation, AttemptContext]] = []

    async def execute(self, invocation: Invocation, context: AttemptContext) -> AttemptResult:
        self.calls.append((invocation, context))
        if self.clock is not None and self.takes:
            self.clock.advance(self.takes)
        succeeded = self.outcomes.pop(0) if self.outcomes else self.default
        verdict = "succeeded" if succeeded else "failed"
        return AttemptResult(succeeded, f"{invocation.type.value} Action - recorded: {verdict}")

    async def aclose(self) -> None:
        return None
