"""Schemathesis against a real ``jobclock serve`` for 10,000 requests or more (issue 11).

Rounds of per-operation generation (every operation of the server's own OpenAPI document)
and stateful runs along its links, each round with a new seed, until ``--requests`` have
been sent. Prints the total, the count of each status code, the share of 400s, the 5xx
and the answers that break the document (status code, content type, body schema), and
the first of those with a curl command that reproduces it. Exits 1 if there is any.

    .venv/bin/python bench/fuzz.py [--requests 10000] [--seed 1] [--backend postgresql]

PostgreSQL is the tests' (``JOBCLOCK_TEST_POSTGRES_URL``, default 127.0.0.1:5432): a
database of the run's own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemathesis import GenerationMode
from tests.fuzz.driver import TRACEBACK, Fuzzer, closed_port, fuzzed_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="send at least this many")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--examples", type=int, default=100, help="per operation and round")
    parser.add_argument("--scenarios", type=int, default=100, help="stateful, per round")
    parser.add_argument("--steps", type=int, default=20, help="per stateful scenario")
    parser.add_argument("--minutes", type=float, default=30.0, help="stop after this long")
    parser.add_argument(
        "--negative",
        type=int,
        default=0,
        help="then this many requests per operation that break the document on purpose",
    )
    parser.add_argument(
        "--backend", choices=["sqlite", "postgresql"], default="sqlite", help="the server's store"
    )
    args = parser.parse_args()

    port = closed_port()
    started = time.monotonic()
    until = started + args.minutes * 60
    with (
        tempfile.TemporaryDirectory() as directory,
        fuzzed_server(Path(directory), args.backend, port) as server,
    ):
        fuzzer = Fuzzer(server.base_url, server.token, port, seed=args.seed)
        fuzzer.campaign(
            args.requests,
            until,
            examples=args.examples,
            scenarios=args.scenarios,
            steps=args.steps,
            report=lambda rounds, tally: print(
                f"round {rounds}: {tally.total} requests", flush=True
            ),
        )
        if args.negative:
            positive = fuzzer.tally.total
            fuzzer.per_operation(args.negative, until, GenerationMode.NEGATIVE)
            print(f"negative: {fuzzer.tally.total - positive} requests", flush=True)
        log = server.log()
        tracebacks = log.count(TRACEBACK)
    elapsed = time.monotonic() - started
    tally = fuzzer.tally
    print(f"\n{tally.summary()}")
    print(f"server tracebacks: {tracebacks}")
    print(f"elapsed: {elapsed:.0f} s ({tally.total / elapsed:.0f} requests/s)")
    print("most frequent 400s:")
    for message, count in tally.refusals.most_common(10):
        print(f"  {count:5d}  {message}")
    for found in (tally.server_errors + tally.violations)[:3]:
        print(f"\n{found}")
    if tracebacks:
        start = log.index(TRACEBACK)
        print(f"\nthe server's first traceback:\n{log[max(0, start - 1500) : start + 4000]}")
    return 1 if tally.server_errors or tally.violations or tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
