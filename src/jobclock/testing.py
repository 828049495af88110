"""Test helpers that ship with jobclock: a hand-advanced clock, a recording executor, and
the in-memory stores (:class:`MemoryJobStore`, :class:`MemoryAccessStore`)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

from jobclock.domain.access import AuditEntry, PortalSession, StoredToken
from jobclock.domain.execution import AttemptContext, AttemptResult, Invocation
from jobclock.domain.instants import require_aware
from jobclock.memory_store import MemoryJobStore

__all__ = ["FakeClock", "MemoryAccessStore", "MemoryJobStore", "RecordingExecutor"]


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


class MemoryAccessStore:
    """:class:`jobclock.ports.AccessStore` in memory: one process, nothing kept."""

    def __init__(self) -> None:
        self._tokens: dict[str, StoredToken] = {}
        self._sessions: dict[str, PortalSession] = {}
        self._failures: list[tuple[str, datetime]] = []
        self._audit: list[AuditEntry] = []

    async def add_token(self, token: StoredToken) -> bool:
        if token.name.lower() in self._tokens:
            return False
        self._tokens[token.name.lower()] = token
        return True

    async def token_by_id(self, token_id: str) -> StoredToken | None:
        return next((t for t in self._tokens.values() if t.token_id == token_id), None)

    async def list_tokens(self) -> list[StoredToken]:
        return [self._tokens[key] for key in sorted(self._tokens)]

    async def remove_token(self, name: str) -> StoredToken | None:
        token = self._tokens.pop(name.lower(), None)
        if token is not None:
            self._sessions = {
                digest: session
                for digest, session in self._sessions.items()
                if session.token_fingerprint != token.token_id
            }
        return token

    async def add_session(self, digest: str, session: PortalSession) -> None:
        self._sessions = {
            d: s for d, s in self._sessions.items() if s.expires_at > session.created_at
        }
        self._sessions[digest] = session

    async def session(self, digest: str) -> PortalSession | None:
        return self._sessions.get(digest)

    async def remove_session(self, digest: str) -> None:
        self._sessions.pop(digest, None)

    async def add_failure(self, client: str, at: datetime, forget_before: datetime) -> None:
        self._failures = [(c, t) for c, t in self._failures if t >= forget_before]
        self._failures.append((client, at))

    async def failures(self, client: str, since: datetime) -> list[datetime]:
        return sorted(t for c, t in self._failures if c == client and t >= since)

    async def clear_failures(self, client: str) -> None:
        self._failures = [(c, t) for c, t in self._failures if c != client]

    async def append_audit(self, entry: AuditEntry) -> None:
        self._audit.append(dataclasses.replace(entry, id=len(self._audit) + 1))

    async def audit(
        self, *, before_id: int | None, top: int, identity: str | None = None
    ) -> list[AuditEntry]:
        newest_first = [
            entry
            for entry in reversed(self._audit)
            if (before_id is None or (entry.id or 0) < before_id)
            and (identity is None or entry.identity == identity)
        ]
        return newest_first[:top]
