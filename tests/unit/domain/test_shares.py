"""domain.shares: which jobs a node schedules first (a table, and the partition property)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobclock.domain.records import NodeBeat
from jobclock.domain.shares import Share, delay_for, share_of

NOW = datetime(2024, 1, 1, 12, tzinfo=UTC)
ALIVE = timedelta(seconds=20)
DELAY = timedelta(seconds=1)


def beat(name: str, age: float) -> NodeBeat:
    return NodeBeat(name, NOW - timedelta(hours=1), NOW - timedelta(seconds=age))


@pytest.mark.parametrize(
    ("node", "beats", "expected"),
    [
        ("a", [], None),  # alone, without a beat of its own yet
        ("a", [beat("a", 0)], None),
        ("a", [beat("a", 0), beat("b", 30)], None),  # b is dead (older than a lease)
        ("a", [beat("a", 0), beat("b", 19.9)], Share(0, 2, DELAY)),
        ("b", [beat("a", 0), beat("b", 0)], Share(1, 2, DELAY)),
        ("b", [beat("a", 0)], Share(1, 2, DELAY)),  # its own beat not written yet
        ("c", [beat("b", 1), beat("a", 1), beat("c", 1)], Share(2, 3, DELAY)),
        ("a", [beat("a", 0), beat("b", 20)], None),  # exactly a lease old: dead
        ("a", [beat("a", 0), beat("a", 0), beat("b", 0)], Share(0, 2, DELAY)),
    ],
)
def test_share_of(node: str, beats: list[NodeBeat], expected: Share | None) -> None:
    assert share_of(node, beats, NOW, ALIVE, DELAY) == expected


@pytest.mark.parametrize("names", [["a", "b"], ["n1", "n2", "n3"], ["x", "y", "z", "w", "v"]])
def test_the_shares_of_agreeing_nodes_split_every_job_exactly_once(names: list[str]) -> None:
    beats = [beat(name, 1) for name in names]
    shares = [share_of(name, beats, NOW, ALIVE, DELAY) for name in names]
    for job_id in range(1, 200):
        owners = [share for share in shares if share is not None and share.owns(job_id)]
        assert len(owners) == 1, job_id


def test_delay_for() -> None:
    share = Share(1, 3, DELAY)
    zero = timedelta(0)
    assert [delay_for(share, job_id) for job_id in (3, 4, 5, 7)] == [DELAY, zero, DELAY, zero]
    assert delay_for(None, 5) == timedelta(0)
