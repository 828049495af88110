"""Schemathesis against the real ``jobclock serve`` (issue 11): per-operation generation
from the server's own OpenAPI document and stateful runs along its links, at least 2,000
requests, with no 5xx and no answer that breaks the document (status code, content type,
body schema). ``bench/fuzz.py`` runs the same for 10,000 requests and more.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import RunningServer, running_server
from tests.fuzz.driver import Fuzzer, closed_port, server_env

# Per operation (17 of them) and stateful scenarios of up to 20 steps: one round is about
# 2,300 requests; a second round (a new seed) starts if it was fewer than REQUESTS.
REQUESTS = 2100
EXAMPLES = 90
SCENARIOS = 100
STEPS = 20
# The whole run stays well inside CI's budget on 2 cores whatever happens.
BUDGET_SECONDS = 120.0


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, int]]:
    port = closed_port()
    with running_server(tmp_path_factory.mktemp("fuzz"), env=server_env(port)) as server:
        yield server, port


def test_2000_generated_requests_get_no_5xx_and_conform_to_the_document(
    fuzzed: tuple[RunningServer, int],
) -> None:
    server, port = fuzzed
    fuzzer = Fuzzer(server.base_url, server.token, port, seed=20161103)
    until = time.monotonic() + BUDGET_SECONDS
    fuzzer.campaign(REQUESTS, until, examples=EXAMPLES, scenarios=SCENARIOS, steps=STEPS)
    tally = fuzzer.tally
    print(tally.summary())  # shown with -s, and on failure
    assert tally.server_errors == [], "\n\n".join(tally.server_errors[:5])
    assert tally.violations == [], "\n\n".join(tally.violations[:5])
    assert sum(n for code, n in tally.statuses.items() if code >= 500) == 0
    assert tally.total >= 2000, tally.summary()
    # Most generated requests are valid: the document describes what the server accepts.
    assert tally.share_400 < 0.5, tally.summary()
    assert "Traceback" not in Path(server.log_path).read_text(errors="replace")
