"""Fixtures of the end-to-end tests: the real ``jobclock serve`` process and a real HTTP
target. See ``harness.py`` for what they are made of.

``server`` is one process per test module (starting one takes about a second);
``fresh_server`` is a process of the test's own, for tests that stop it themselves.
Both yield ``(base_url, token, db_path, process)`` (a :class:`RunningServer`), and on
teardown send SIGTERM and require exit status 0 within 10 s. The server's stdout and
stderr go to ``server.log`` beside the database; a failing test shows it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import RunningServer, Target, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("jobclock")) as running:
        yield running


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path / "jobclock") as running:
        yield running


@pytest.fixture
def target() -> Iterator[Target]:
    """A real HTTP endpoint on 127.0.0.1 that records what it receives."""
    endpoint = Target()
    try:
        yield endpoint
    finally:
        endpoint.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the server's log to the report of a failed test that used a server."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        for name in ("server", "fresh_server"):
            running = funcargs.get(name)
            if isinstance(running, RunningServer):
                report.sections.append((f"jobclock log ({name})", running.log()))
    return report
