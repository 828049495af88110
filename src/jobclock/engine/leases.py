"""The engine's leases and takeover: this node's heartbeat, the leases on the attempts it
runs, and recovery at start.

An attempt in flight is leased to its node until ``now + lease`` and the lease is renewed
every third of a lease (at most every heartbeat); when a node dies its leases expire and
another node's claim takes the attempts over (``SqlStore.due_attempts``), keeping their
execution tags. Recording checks the lease first, so a taken-over attempt is recorded once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import NamedTuple

from jobclock.domain.occurrences import to_us
from jobclock.storage.sql_store import SqlStore

log = logging.getLogger("jobclock.engine")


class OccurrenceKey(NamedTuple):
    """Which occurrence: its job, its slot (storage encoding) and its kind ("scheduled" or
    "run"); a job has at most one occurrence per slot and kind."""

    job_id: int
    scheduled_time: int
    kind: str


class Leases:
    """The leases this node holds and the heartbeat that keeps them."""

    def __init__(self, store: SqlStore, node: str, lease: timedelta, heartbeat: timedelta):
        self._store = store
        self.node = node
        self.lease = lease
        self.heartbeat = heartbeat
        self.held: set[OccurrenceKey] = set()
        self.started_at: datetime | None = None
        self.next_renewal: datetime | None = None

    def until(self, now: datetime) -> int:
        """The expiry of a lease taken ``now`` (storage encoding)."""
        return to_us(now + self.lease)

    async def recover(self, now: datetime) -> int:
        """Attempts this node left running when it stopped are tried again; the heartbeat
        starts. Returns how many were reset."""
        self.started_at = self.started_at or now
        async with self._store.transaction() as conn:
            count = await self._store.reset_running(conn, self.node, to_us(now))
            await self._store.heartbeat(conn, self.node, to_us(self.started_at), to_us(now))
        if count:
            log.warning("engine.recovered", extra={"event": "engine.recovered", "count": count})
        return count

    async def renew(self, now: datetime) -> None:
        """Heartbeat, and push the leases of the attempts in flight (every third of a lease)."""
        if self.next_renewal is not None and now < self.next_renewal:
            return
        self.next_renewal = now + min(self.heartbeat, self.lease / 3)
        started = to_us(self.started_at or now)
        async with self._store.transaction() as conn:
            await self._store.heartbeat(conn, self.node, started, to_us(now))
            await self._store.extend_leases(conn, self.node, sorted(self.held), self.until(now))
