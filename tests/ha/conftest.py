"""Fixtures of the fault tests: a fresh PostgreSQL database per test, a cluster of real
``jobclock serve`` processes on it, and a recording HTTP target. See ``cluster.py``.

Teardown order: the nodes stop first (SIGTERM, exit status 0 required; a node the test
killed is left alone), then the database is dropped. A failing test shows every node's log.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Target
from tests.ha.cluster import Cluster, Database, create_database, recording_target

# Short leases, so a dead node's attempts are taken over within seconds.
LEASE_SECONDS = 5.0


@pytest.fixture
def database() -> Iterator[Database]:
    """A fresh ``jobclock_ha_<random>`` database, dropped at the end."""
    yield from create_database()


@pytest.fixture
def cluster(database: Database, tmp_path: Path) -> Iterator[Cluster]:
    """No node yet: the test starts them (``cluster.start("a")``) in the order it wants."""
    nodes = Cluster(database, tmp_path / "cluster", LEASE_SECONDS)
    try:
        yield nodes
    finally:
        nodes.close()


@pytest.fixture
def target() -> Iterator[Target]:
    """A real HTTP endpoint on 127.0.0.1 that records what it receives (headers included)."""
    with recording_target() as endpoint:
        yield endpoint


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach every node's log to the report of a failed test."""
    report = yield
    if report.failed:
        nodes = getattr(item, "funcargs", {}).get("cluster")
        if isinstance(nodes, Cluster):
            for node in nodes.nodes.values():
                state = "killed" if node.killed else f"exit {node.process.poll()}"
                report.sections.append((f"jobclock log (node {node.name}, {state})", node.log()))
    return report
