"""The engine's leases and takeover: this node's heartbeat, the leases on the attempts it
runs, its share of the jobs among the live nodes, and recovery at start.

An attempt in flight is leased to its node until ``now + lease`` and the lease is renewed
every third of a lease (at most every heartbeat); when a node dies its leases expire and
another node's claim takes the attempts over (``JobStore.claim_attempts``), keeping their
execution tags. Recording checks the lease first, so a taken-over attempt is recorded once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from jobclock.domain.records import Lease, OccurrenceKey
from jobclock.domain.shares import Share, share_of
from jobclock.ports import JobStore

log = logging.getLogger("jobclock.engine")


class Leases:
    """The leases this node holds, the heartbeat that keeps them, and the node's share of
    the jobs (:mod:`jobclock.domain.shares`), renewed with each heartbeat from every node's:
    a node whose heartbeat is older than a lease is dead."""

    def __init__(
        self,
        store: JobStore,
        node: str,
        lease: timedelta,
        heartbeat: timedelta,
        share_delay: timedelta,
        only_own: bool = False,
    ):
        self._store = store
        self.node = node
        self.lease = lease
        self.heartbeat = heartbeat
        self.share_delay = share_delay
        self.only_own = only_own
        self.held: set[OccurrenceKey] = set()
        self.started_at: datetime | None = None
        self.next_renewal: datetime | None = None
        self.share: Share | None = None  # None: alone, every job is this node's

    def taken(self, now: datetime) -> Lease:
        """A lease taken ``now``."""
        return Lease(self.node, now + self.lease)

    async def recover(self, now: datetime) -> int:
        """Attempts this node left running when it stopped are tried again; the heartbeat
        starts. Returns how many were reset."""
        self.started_at = self.started_at or now
        count = await self._store.recover(self.node, self.started_at, now, self.only_own)
        if count:
            log.warning("engine.recovered", extra={"event": "engine.recovered", "count": count})
        return count

    async def renew(self, now: datetime) -> None:
        """Heartbeat, and push the leases of the attempts in flight (every third of a lease)."""
        if self.next_renewal is not None and now < self.next_renewal:
            return
        self.next_renewal = now + min(self.heartbeat, self.lease / 3)
        started = self.started_at or now
        beats = await self._store.renew(self.node, started, now, set(self.held), now + self.lease)
        share = share_of(self.node, beats, now, self.lease, self.share_delay)
        if share != self.share:
            log.info(
                "engine.share",
                extra={
                    "event": "engine.share",
                    "index": None if share is None else share.index,
                    "nodes": 1 if share is None else share.count,
                },
            )
        self.share = share
