"""Fixtures of the fault suite (real processes, each test bounded in time): the cluster,
database and recording target of ``tests/ha`` (a fresh PostgreSQL database per test, real
``jobclock serve`` nodes on it), whose failure report attaches every node's log."""

from __future__ import annotations

from tests.ha.conftest import cluster, database, pytest_runtest_makereport, target

__all__ = ["cluster", "database", "pytest_runtest_makereport", "target"]
