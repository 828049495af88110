"""Which jobs a node schedules first, when several nodes share one database (issue 13).

Every live node (its heartbeat younger than a lease) takes a share: the jobs whose id
modulo the number of live nodes is its place among them, by name. It schedules those as
soon as they are due, and every other job only ``delay`` after its slot: a node that died,
or that cannot keep up, has its jobs taken by the others a moment later, and no job waits
for a node to be declared dead. Two nodes that briefly disagree on who is alive both take a
job (the store hands it to one of them: rows are claimed with SKIP LOCKED and the cursor
moves past the slot), or neither does for ``delay``; no occurrence is lost or doubled by it.

One node alone has no share (None): every due job is its own, as it always was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobclock.domain.records import NodeBeat


@dataclass(frozen=True, slots=True)
class Share:
    """A node's jobs: ``id % count == index``; any other job is due ``delay`` after its
    slot for this node."""

    index: int
    count: int
    delay: timedelta

    def owns(self, job_id: int) -> bool:
        return job_id % self.count == self.index


def delay_for(share: Share | None, job_id: int) -> timedelta:
    """How long after its next time a job is due for a node of ``share`` (the store's
    queries say the same in SQL)."""
    return timedelta(0) if share is None or share.owns(job_id) else share.delay


def share_of(
    node: str, beats: Iterable[NodeBeat], now: datetime, alive: timedelta, delay: timedelta
) -> Share | None:
    """``node``'s share among the nodes whose heartbeat is younger than ``alive`` (``node``
    itself always counts); None when it is the only one."""
    live = sorted({beat.name for beat in beats if now - beat.heartbeat_at < alive} | {node})
    if len(live) == 1:
        return None
    return Share(live.index(node), len(live), delay)
