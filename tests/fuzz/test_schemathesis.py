"""Schemathesis against the real ``jobclock serve`` (issue 11): per-operation generation
from the server's own OpenAPI document and stateful runs along its links, on SQLite and on
PostgreSQL (which refuses what SQLite stores: a NUL, a value longer than its column), at
least 2,000 requests in all, with no 5xx and no answer that breaks the document (status
code, content type, body schema). ``bench/fuzz.py`` runs the same for 10,000 and more.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fuzz.driver import TRACEBACK, Fuzzer, Tally, closed_port, fuzzed_server

# Per backend: rounds of EXAMPLES per operation (17 of them) and SCENARIOS stateful runs of
# up to STEPS steps, each round about 1,200 requests, until REQUESTS.
REQUESTS = 1000
EXAMPLES = 45
SCENARIOS = 50
STEPS = 20
# The whole test stays well inside CI's budget on 2 cores whatever happens.
BUDGET_SECONDS = 60.0


def _fuzz(directory: Path, backend: str, seed: int) -> Tally:
    port = closed_port()
    with fuzzed_server(directory / backend, backend, port) as server:
        fuzzer = Fuzzer(server.base_url, server.token, port, seed=seed)
        until = time.monotonic() + BUDGET_SECONDS
        fuzzer.campaign(REQUESTS, until, examples=EXAMPLES, scenarios=SCENARIOS, steps=STEPS)
        log = server.log()
    tally = fuzzer.tally
    print(f"{backend}:\n{tally.summary()}")  # shown with -s, and on failure
    assert tally.server_errors == [], "\n\n".join(tally.server_errors[:5])
    assert tally.violations == [], "\n\n".join(tally.violations[:5])
    assert TRACEBACK not in log, log[log.index(TRACEBACK) :][:3000]
    return tally


def test_2000_generated_requests_get_no_5xx_and_conform_to_the_document(
    tmp_path: Path,
) -> None:
    tallies = [_fuzz(tmp_path, "sqlite", 20161103)]
    try:
        tallies.append(_fuzz(tmp_path, "postgresql", 20160301))
    except pytest.skip.Exception:
        # No PostgreSQL here (CI has one, and JOBCLOCK_REQUIRE_SERVICES=1 fails instead):
        # the second half runs on SQLite, with another seed.
        tallies.append(_fuzz(tmp_path / "again", "sqlite", 20160301))
    total = sum(tally.total for tally in tallies)
    server_errors = sum(n for tally in tallies for code, n in tally.statuses.items() if code >= 500)
    assert server_errors == 0
    assert total >= 2000, [tally.summary() for tally in tallies]
    # Most generated requests are valid: the document describes what the server accepts.
    refused = sum(tally.statuses[400] for tally in tallies)
    assert refused / total < 0.5, [tally.summary() for tally in tallies]
