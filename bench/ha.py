"""Benchmark: fires per second of jobclock on PostgreSQL with 1 node, then 2 nodes, and the
number of occurrences recorded twice (which must be 0).

What it measures
----------------
For each node count (default 1 then 2): ``--jobs`` jobs (default 2,000), each firing every
second, invoke a local HTTP target; the script prints the fires per second the target
received, their lateness (p50/p99/max), the CPU of each node and of PostgreSQL, and, from
the database afterwards, how many occurrences were recorded more than once.

* **The target** is ``bench/_target.py`` (the one ``bench/dispatch.py`` uses): a raw asyncio
  HTTP/1.1 server on 127.0.0.1 in its own process, shared by every run. While a window is
  open it counts requests and records each one's lateness: arrival time minus the
  ``x-ms-scheduler-expected-execution-time`` header (the occurrence's scheduled time).
* **The database.** Each run gets a fresh database ``jobclock_bench_<random>`` on the
  PostgreSQL server of the tests (``JOBCLOCK_TEST_POSTGRES_URL``, default
  ``postgresql://postgres@127.0.0.1:5432/test``; ``--postgres`` overrides it), created
  through a connection to that URL and dropped at the end (``--keep`` keeps it).
* **The nodes** are real servers, ``jobclock serve --port P --db postgresql://.../<db>
  --token T`` (the console script beside ``sys.executable``), started one after the other
  with ``JOBCLOCK_NODE=n1``, ``n2`` and one shared ``JOBCLOCK_SECRET_KEY``, with their default
  settings otherwise (lease 90 s unless ``--lease``). They share the work through the
  database: due jobs and attempts are claimed with ``FOR UPDATE SKIP LOCKED``.
* **The schedule** (as in ``bench/dispatch.py``): job ``i`` of ``N`` starts at
  ``base + i/N`` s with recurrence ``{"frequency": "Second", "interval": 1}`` and
  ``retryPolicy None``, so the demand is a steady N fires per second. The collection
  (``Unlimited``) and the N jobs are created disabled over REST (32 concurrent ``PUT``s to
  node 1), then ``POST .../enable`` turns them all on at once. Creation is not measured.
* **The window.** After ``--warmup`` seconds (default 5) the target's window opens for
  ``--window`` seconds (default 15). fires/s = requests received in the window / its length.
  CPU % = CPU seconds over the window / wall seconds x 100 (100 % is one core): per node,
  and for PostgreSQL (every process named ``postgres`` on this host, so the whole server).
* **Duplicates.** After the window the collection is disabled and the nodes are stopped
  with SIGTERM (attempts in flight finish and are recorded); then the history is queried:
  ``dup`` counts (job, scheduled time) pairs with more than one executed first attempt
  (``MainAction``, ``retry_count = 0``, status not ``Postponed``): an occurrence recorded
  twice. It must be 0. ``dup+P`` is the same query without the status condition (the one
  of the issue): it also counts a slot that was first recorded as ``Postponed`` (it came
  due while the job's previous occurrence was still running) and then ran, which is the
  designed behaviour (§5.1), so ``dup+P - dup`` is the number of such postponed-then-run
  slots. ``postponed`` is the number of ``Postponed`` entries.

Every process the script starts is stopped at the end, on error and on Ctrl-C, and every
database it created is dropped. Everything listens on 127.0.0.1.

Run: ``python bench/ha.py`` (2,000 jobs, 1 then 2 nodes), ``--jobs 6000``, ``--nodes 2``,
``--workers 2`` (each node ``jobclock serve --workers 2``; its CPU is its server's and its
workers'), or ``--quick`` (500 jobs, 2 s warm-up, 5 s window: a smoke test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import httpx

from dispatch import (
    API_VERSION,
    COLLECTION_PATH,
    TOKEN,
    Children,
    Target,
    _num,
    cpu_seconds,
    create_over_rest,
    free_port,
    host_cpu,
    log,
    process_tree,
    schedule_base,
    server_env,
    wait_healthy,
)

POSTGRES_URL = os.environ.get(
    "JOBCLOCK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
GOAL = 5_000  # fires per second with 2 nodes on this machine (the goal)

DUPLICATES = """
SELECT count(*) FROM (
    SELECT job_id, expected_execution_time, count(*) FROM history
    WHERE action_name = 'MainAction' AND retry_count = 0 {extra}
    GROUP BY 1, 2 HAVING count(*) > 1
) AS twice
"""


# -- PostgreSQL --------------------------------------------------------------------------
def database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def _admin(admin_url: str, statement: str) -> None:
    connection = await asyncpg.connect(admin_url, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database(admin_url: str) -> str:
    name = f"jobclock_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    return name


def drop_database(admin_url: str, name: str) -> None:
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _counts(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        executed = "AND status <> 'Postponed'"
        return {
            "dup": int(await connection.fetchval(DUPLICATES.format(extra=executed))),
            "dup_with_postponed": int(await connection.fetchval(DUPLICATES.format(extra=""))),
            "postponed": int(
                await connection.fetchval("SELECT count(*) FROM history WHERE status = 'Postponed'")
            ),
            "recorded": int(await connection.fetchval("SELECT count(*) FROM history")),
            "left_pending": int(
                await connection.fetchval(
                    "SELECT count(*) FROM occurrences WHERE status = 'pending'"
                )
            ),
            "left_running": int(
                await connection.fetchval(
                    "SELECT count(*) FROM occurrences WHERE status <> 'pending'"
                )
            ),
        }
    finally:
        await connection.close()


def postgres_pids() -> list[int]:
    """Every process named ``postgres`` on this host (the server and its backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
    return found


def cpu_of(pids: list[int]) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            seconds[pid] = cpu_seconds(pid)
    return seconds


# -- one run -----------------------------------------------------------------------------
@dataclass
class Result:
    nodes: int
    jobs: int
    fires: float | None = None
    late: dict[str, float] | None = None
    node_cpu: list[float] = field(default_factory=list)
    pg_cpu: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Options:
    jobs: int
    warmup: float
    window: float
    lease: float | None
    admin_url: str
    keep: bool
    workers: int | None = None  # --workers for each node; None: not passed


def start_node(
    children: Children, name: str, db_url: str, workdir: Path, options: Options, key: str
) -> tuple[subprocess.Popen[Any], str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).with_name("jobclock")), "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--db", db_url, "--token", TOKEN]
    if options.workers is not None:
        command += ["--workers", str(options.workers)]
    env = server_env() | {
        "JOBCLOCK_NODE": name,
        "JOBCLOCK_SECRET_KEY": key,
        "JOBCLOCK_DATA_DIR": str(workdir),
    }
    if options.lease is not None:
        env["JOBCLOCK_LEASE_SECONDS"] = f"{options.lease:g}"
    with (workdir / f"{name}.log").open("w") as node_log:
        proc = children.start(
            name, command, stdout=node_log, stderr=subprocess.STDOUT, env=env, cwd=workdir
        )
    wait_healthy(base_url, proc, 60)
    return proc, base_url


def post(base_url: str, path: str) -> None:
    httpx.post(
        f"{base_url}{path}",
        params={"api-version": API_VERSION},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=600,
    ).raise_for_status()


def measure(
    procs: list[subprocess.Popen[Any]], target: Target, options: Options, result: Result
) -> None:
    time.sleep(options.warmup)
    node_pids = [proc.pid for proc in procs]
    # A node with --workers is its server and its worker processes.
    trees = {pid: process_tree(pid) for pid in node_pids}
    watched = [each for tree in trees.values() for each in tree]
    pg = postgres_pids()
    before, pg_before = cpu_of([*watched, target.proc.pid]), cpu_of(pg)
    host0 = host_cpu()
    wall0 = time.monotonic()
    target.begin()
    time.sleep(options.window)
    figures = target.end()
    wall = time.monotonic() - wall0
    after, pg_after = cpu_of([*watched, target.proc.pid]), cpu_of(pg)
    host1 = host_cpu()

    def share(start: dict[int, float], end: dict[int, float], pids: list[int]) -> float:
        return sum(end[p] - start[p] for p in pids if p in start and p in end) / wall * 100

    result.node_cpu = [share(before, after, trees[pid]) for pid in node_pids]
    result.pg_cpu = share(pg_before, pg_after, pg)
    result.fires = figures["count"] / figures["seconds"]
    result.late = figures["late_ms"]
    cores = os.cpu_count() or 1
    host = (host1[0] - host0[0]) / max(1, host1[1] - host0[1]) * 100 * cores
    result.notes.append(
        f"target CPU {share(before, after, [target.proc.pid]):.0f} %, whole host "
        f"{host:.0f} % of {cores * 100} %"
    )
    if figures["missing"]:
        result.notes.append(f"{figures['missing']} requests without a readable header")
    if figures["late_s_over_1"]:
        result.notes.append(f"{figures['late_s_over_1']:,} fires more than 1 s late")


def run_cluster(
    nodes: int, options: Options, children: Children, target: Target, workdir: Path
) -> Result:
    result = Result(nodes, options.jobs)
    name = create_database(options.admin_url)
    db_url = database_url(options.admin_url, name)
    key = urlsafe_b64encode(os.urandom(32)).decode()  # one Fernet key for every node
    procs: list[subprocess.Popen[Any]] = []
    log(f"{nodes} node(s): database {name}")
    try:
        urls = []
        for index in range(nodes):
            proc, url = start_node(children, f"n{index + 1}", db_url, workdir, options, key)
            procs.append(proc)
            urls.append(url)
        log(f"{nodes} node(s): creating {options.jobs:,} jobs over REST")
        started = time.monotonic()
        created = asyncio.run(
            create_over_rest(
                urls[0], options.jobs, target.url, schedule_base(), time.monotonic() + 900
            )
        )
        assert created == options.jobs, f"only {created} of {options.jobs} jobs were created"
        post(urls[0], f"{COLLECTION_PATH}/enable")
        result.notes.append(
            f"{options.jobs:,} jobs created and enabled in {time.monotonic() - started:.1f} s"
        )
        log(f"{nodes} node(s): measuring ({options.warmup:g} s warm-up, {options.window:g} s)")
        measure(procs, target, options, result)
        post(urls[-1], f"{COLLECTION_PATH}/disable")
        for proc in reversed(procs):
            children.stop(proc, grace=90)
            if proc.returncode != 0:
                result.notes.append(f"a node exited with status {proc.returncode}")
        procs.clear()
        result.counts = asyncio.run(_counts(db_url))
    finally:
        for proc in reversed(procs):
            children.stop(proc, grace=30)
        if options.keep:
            log(f"kept database {name}")
        else:
            drop_database(options.admin_url, name)
    return result


# -- output ------------------------------------------------------------------------------
def table(results: list[Result]) -> Iterator[str]:
    header = (
        f"{'nodes':>5} {'jobs':>7} {'fires/s':>9} {'late p50':>9} {'p99':>8} {'max':>8} "
        f"{'node CPU %':>12} {'PG CPU %':>9} {'dup':>5} {'dup+P':>6} {'postponed':>9}"
    )
    yield header
    yield "-" * len(header)
    for item in results:
        late = item.late or {}
        cpu = "/".join(f"{value:.0f}" for value in item.node_cpu) or "-"
        counts = item.counts
        yield (
            f"{item.nodes:>5} {item.jobs:>7,} {_num(item.fires, 0):>9} "
            f"{_num(late.get('p50'), 1):>9} {_num(late.get('p99'), 1):>8} "
            f"{_num(late.get('max'), 1):>8} {cpu:>12} {_num(item.pg_cpu, 0):>9} "
            f"{counts.get('dup', '-'):>5} {counts.get('dup_with_postponed', '-'):>6} "
            f"{counts.get('postponed', '-'):>9}"
        )


def goals(results: list[Result]) -> Iterator[str]:
    for item in results:
        if item.counts:
            verdict = "ok" if item.counts["dup"] == 0 else "FAILED: must be 0"
            yield (
                f"  {item.nodes} node(s): {item.counts['dup']} occurrence(s) recorded twice "
                f"-> {verdict}; {item.counts['recorded']:,} history entries, "
                f"left in the database after the stop: {item.counts['left_running']} running "
                f"attempt(s) (should be 0), {item.counts['left_pending']} pending one(s) (retries "
                "and postponed slots not yet due or not run before the stop)"
            )
    two = next((item for item in results if item.nodes == 2 and item.fires), None)
    if two is not None and two.fires is not None:
        met = "met" if two.fires >= GOAL else "not met"
        cap = ""
        if two.jobs < GOAL:
            cap = f" (N={two.jobs:,} caps the rate at {two.jobs:,}/s: run --jobs {GOAL + 1_000})"
        yield f"  >= {GOAL:,} fires/s with 2 nodes: {two.fires:,.0f}/s -> {met}{cap}"


def report(results: list[Result], options: Options, elapsed: float) -> None:
    print(
        f"HA benchmark on PostgreSQL: {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {options.jobs:,} jobs every second (phases spread "
        f"over the second), {options.warmup:g} s warm-up then a {options.window:g} s window."
    )
    print(
        "Lateness in ms (target arrival - scheduled time); CPU % of one core; dup = "
        "occurrences recorded twice; dup+P also counts postponed-then-run slots."
    )
    print()
    for line in table(results):
        print(line)
    print()
    print("Notes:")
    for item in results:
        for note in item.notes:
            print(f"  {item.nodes} node(s): {note}")
    print()
    print("Checks and goals:")
    for line in goals(results):
        print(line)
    print()
    print(f"Total time {elapsed:.0f} s.")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else "")
    parser.add_argument("--jobs", type=int, default=2_000, help="jobs, each every second")
    parser.add_argument("--nodes", default="1,2", help="node counts to run [1,2]")
    parser.add_argument("--window", type=float, default=15.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before the window")
    parser.add_argument("--lease", type=float, default=None, help="JOBCLOCK_LEASE_SECONDS")
    parser.add_argument("--postgres", default=POSTGRES_URL, help="a database URL to connect to")
    parser.add_argument("--quick", action="store_true", help="500 jobs, 5 s window")
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    parser.add_argument(
        "--workers", type=int, default=None, help="pass --workers W to every node [not passed]"
    )
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.quick:
        args.jobs, args.window, args.warmup = 500, 5.0, 2.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, through the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    options = Options(
        args.jobs, args.warmup, args.window, args.lease, args.postgres, args.keep, args.workers
    )
    counts = [int(value) for value in args.nodes.split(",") if value.strip()]
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="jobclock-bench-ha-"))
    log(f"working directory {workdir}")
    children = Children()
    results = []
    try:
        target = Target(children)
        log(f"target listening on {target.url} (pid {target.proc.pid})")
        for nodes in counts:
            rundir = workdir / f"nodes-{nodes}"
            rundir.mkdir()
            try:
                results.append(run_cluster(nodes, options, children, target, rundir))
            except (
                RuntimeError,
                OSError,
                AssertionError,
                httpx.HTTPError,
                asyncpg.PostgresError,
            ) as error:
                failed = Result(nodes, options.jobs)
                failed.notes.append(f"failed: {type(error).__name__}: {error}")
                results.append(failed)
                log(f"{nodes} node(s): failed: {error}")
    except KeyboardInterrupt:
        log("interrupted; every process started was stopped")
        return 130
    finally:
        children.stop_all()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report(results, options, time.monotonic() - started)
    return 0 if all(item.counts.get("dup", 1) == 0 for item in results) else 1


if __name__ == "__main__":
    sys.exit(main())
