"""Benchmark: how many durable HTTP fires per second jobclock sustains, beside APScheduler.

What it measures
----------------
For each N (default 1,000, 10,000 and 100,000): N jobs, each firing every second, invoke a
local HTTP target; the script prints the fires per second sustained, their lateness
(p50/p99/max), the slots missed and doubled, the scheduler process's CPU and RSS, and the
same figures for the same workload on APScheduler 3.11 twice, with its SQLAlchemy SQLite job
store (``APScheduler+SQLite``) and with its ``MemoryJobStore`` (``APScheduler+memory``), with
jobclock's fire rate over each (columns ``jc/SQLite`` and ``jc/memory``). ``--systems``
picks any subset of the three rows (default all). ``--burst N`` measures instead N one-shot
jobs all due at one instant. It prints figures and never asserts on them.

* **The target** (``bench/_target.py``) is a raw asyncio HTTP/1.1 server on 127.0.0.1 in its
  own process, shared by every run. It answers ``200 OK`` with keep-alive and, while
  recording, keeps only raw values per request: arrival time (``time.time()``) and the
  ``x-ms-scheduler-expected-execution-time`` and ``x-ms-scheduler-jobid`` headers (the
  occurrence's scheduled time and the job's name, which jobclock puts on every HTTP attempt,
  spec §5.2). The figures are computed from them afterwards, here (``bench/lateness.py``).
* **The schedule.** Job ``i`` of ``N`` starts at ``base + i/N`` s (``base`` a whole second in
  the past) with recurrence ``{"frequency": "Second", "interval": 1}``, so the N jobs are
  spread evenly over each second: the expected load is a steady N fires per second, not
  one burst per second. APScheduler gets the same phases (``IntervalTrigger(seconds=1,
  start_date=base + i/N)``).
* **jobclock** runs as the real server, ``jobclock serve --port P --db sqlite:///... --token
  T`` (the console script beside ``sys.executable``), with its default settings (engine
  concurrency and batch, logging to a file), so CPU and RSS are those of the server process
  (summed with any processes it starts, see ``--workers``). One ``Unlimited`` collection and
  N jobs with ``retryPolicy {"retryType": "None"}`` and ``"state": "Disabled"`` are created,
  then ``POST .../enable`` over REST turns them all on at once with their next slot counted
  from that moment (§5.9). Up to 10,000 jobs (``--rest-max``) are created with 32 concurrent
  ``PUT``s over REST (httpx) while the server runs. Larger N are created in-process before
  the server starts, against the same SQLite file: job 0 through
  ``SchedulerService.put_job`` (the code the REST handler calls), jobs 1..N-1 as copies of
  the row it stored, each with its own name, anchor and definition encoded by the service's
  codec, in one transaction (``put_job`` costs a few ms a job; 100,000 of them would take
  minutes). The output says which, and how long it took; creation time is not part of any
  figure.
* **APScheduler** 3.11 runs in its own process (this script, ``--role apscheduler``): a
  ``BackgroundScheduler`` with ``SQLAlchemyJobStore(url="sqlite:///...")`` (its defaults:
  SQLite's rollback journal with full fsync, one transaction per job update) and a
  thread-pool executor (``--aps-workers``, default 64) whose job function sends a keep-alive
  ``GET`` (``http.client``, one connection per thread) carrying the run's scheduled time and
  the job's name in the same headers. ``coalesce=True``, ``max_instances=1``,
  ``misfire_grace_time=None`` (no run is dropped for being late). The executor subclass
  only hands the scheduled run time to the job function; APScheduler does not pass it. Up
  to 10,000 jobs (``--rest-max``) are added with ``scheduler.add_job``; larger N are written
  in one transaction as the rows ``SQLAlchemyJobStore.add_job`` writes (id, next run time,
  pickled job state), because 100,000 separate fsynced inserts alone take minutes.
* **APScheduler+memory** is the same process, scheduler, executor, job defaults, job
  function, headers and phases with ``MemoryJobStore()`` instead (``--aps-store memory``
  to the child): nothing durable, so it shows what APScheduler's dispatch costs without
  its store. Its jobs are always added with ``scheduler.add_job`` (paused, then resumed),
  about 30,000 a second, at any N.
* **--workers W** passes ``--workers W`` to ``jobclock serve`` (several dispatch
  processes) and the header says so. Before anything starts the script runs ``jobclock
  serve --help``; if that does not list ``--workers``, it exits (status 2) with one line
  saying the server does not support it. The scheduler's CPU and RSS are summed over the
  server process and its live descendants (found through ``/proc``; RSS then counts shared
  pages once per process, and a note says how many processes were summed).
* **The window.** After ``--warmup`` seconds (default 5) the target's window opens for
  ``--window`` seconds (default 20), and the target records ``--tail`` seconds more
  (default 3). fires/s = requests received in the window / its length. The slots measured
  are those *due* in the window (N per second): lateness = arrival minus the expected
  execution time (parsed from the header, ISO 8601) of every request for them, received
  by the end of the tail, so warm-up slots arriving late are left out and late slots due at
  the end of the window are not cut off; ``missed`` = slots due in the window never
  received by then (a slot later than the tail counts as missed, the notes say how many
  requests were later than 1 s); ``doubled`` = (job, expected time) pairs received more than
  once. A note also gives the lateness of the requests that *arrived* in the window,
  whatever their slot (what this script printed before it counted slots, and what
  ``bench/ha.py`` prints). CPU % = (user + system CPU seconds of the
  scheduler process over the window) / wall seconds x 100, so 100 % is one core of the
  machine's two; RSS is the process's resident set at the end of the window (from
  ``/proc``). Notes give the target's CPU (to show it is not the limit) and how much of the
  host the rest of the machine used during the window (other processes, kernel work such
  as fsync): above 25 % of a core the figures are marked as disturbed.
* **A burst** (``--burst N``): N jobs without recurrence (each runs once, at its
  startTime), all with the same startTime, a whole second set far enough ahead for creating
  and enabling them (``--burst-lead``); APScheduler gets N ``DateTrigger`` jobs for the same
  instant. The target records from 0.2 s before the instant until all N requests arrived
  (or ``max(30, N/500)`` s passed), then one second more. Printed: the time from the
  instant until the first, median, p99th and last request arrived (the last is the issue's
  figure), N / last as fires/s, jobs never received (missed) or received twice (doubled),
  and CPU % of the scheduler over the same span, for each system selected (jobclock and
  both APScheduler rows). The goals section then reports P3 per system: the time from the
  instant to the last fire, with p50 and p99, judged against 100 ms (and every job fired)
  only at N = 1,000, the goal's size; other N are given as figures.
* **API load** (``--api-clients C``, jobclock only): during the window, C concurrent clients
  in a process of their own (this script, ``--role api-load``, httpx on one event loop) each
  loop over ``PUT``, ``GET`` and ``DELETE`` of a disabled job of their own in a second
  collection, as a team's tooling would beside the schedule. The notes give the requests
  per second the server answered, their latency p50/p99 and the 5xx count; the table's
  lateness is then the engine's under that load.
* **The ratios** ``jc/SQLite`` and ``jc/memory`` (jobclock's fires/s over each APScheduler
  row's, same N, same run) are throughput ratios only where that APScheduler row falls
  short of the N fires/s asked of it; where both keep up they are capped near 1. The goals
  summary at the end (issue goal P1: >= 20x APScheduler+SQLite and >= 2x
  APScheduler+memory) judges each ratio from those sizes only and gives the capped ones as
  figures.

The databases live in a fresh directory under the system temporary directory (a real disk
here, so fsync costs what it costs), removed at the end (``--keep`` keeps it). Every process
the script starts is stopped at the end, on error and on Ctrl-C; each runs in its own
session, so a terminal's Ctrl-C reaches only this script, which then stops them in order.

The default run stays under about 10 minutes on two cores: a run that would not fit in
``--budget`` seconds (default 570) is skipped, and the output says so. The first line of the
output names the git commit measured and whether ``src/`` had uncommitted changes.

Run (from the repository root):

* ``.venv/bin/python bench/dispatch.py --jobs 1000 --spread --systems jobclock``: 1,000
  every-second jobs spread evenly over each second on one SQLite node, jobclock only
  (``--spread`` is the default mode; ``--jobs`` is ``--sizes``);
* ``.venv/bin/python bench/dispatch.py --jobs 50 --systems jobclock --api-clients 200``: 50
  every-second jobs beside 200 API clients (issue 10's API-load case);
* ``.venv/bin/python bench/dispatch.py --burst 1000 --systems jobclock``: 1,000 jobs due at
  one instant, the time until the last arrived;
* ``.venv/bin/python bench/dispatch.py --jobs 1000 --window 10``: jobclock,
  APScheduler+SQLite and APScheduler+memory side by side, with both ratios;
* ``.venv/bin/python bench/dispatch.py --burst 1000``: the burst on all three systems, and
  goal P3's figure for each;
* ``.venv/bin/python bench/dispatch.py --jobs 10000 --systems jobclock --workers 2``:
  jobclock serve with two dispatch processes (once the server has ``--workers``);
* ``.venv/bin/python bench/dispatch.py``: every size, all three systems; ``--sizes
  1000,10000``, ``--window 20``, ``--systems jobclock,apscheduler-memory`` (names:
  ``jobclock``, ``apscheduler-sqlite`` or ``apscheduler``, ``apscheduler-memory`` or
  ``memory``), or ``--quick`` (1,000 jobs, 2 s warm-up, 5 s window: a smoke test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import http.client
import json
import logging
import os
import pickle
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx

from lateness import US, Recording, burst, spread, summary

HERE = Path(__file__).resolve().parent
TARGET_SCRIPT = HERE / "_target.py"
API_VERSION = "2016-03-01"
SUBSCRIPTION = "bench-sub"
RESOURCE_GROUP = "bench-rg"
COLLECTION = "bench"
COLLECTION_PATH = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
    f"/providers/Microsoft.Scheduler/jobCollections/{COLLECTION}"
)
EXPECTED_HEADER = "x-ms-scheduler-expected-execution-time"
JOB_HEADER = "x-ms-scheduler-jobid"
TOKEN = "bench-token-0123456789"  # noqa: S105 - a throwaway token for a local server
DEFAULT_SIZES = (1_000, 10_000, 100_000)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    """Progress, on stderr; the figures go to stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- processes ---------------------------------------------------------------------------
class Children:
    """Every process this script starts; ``stop_all`` ends them, newest first."""

    def __init__(self) -> None:
        self._procs: list[tuple[str, subprocess.Popen[Any]]] = []

    def start(self, name: str, args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        # Own session: a terminal's Ctrl-C reaches this script only, which stops them in order.
        proc = subprocess.Popen(args, start_new_session=True, **kwargs)  # noqa: S603
        self._procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[Any], grace: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; close its pipes."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                log(f"process {proc.pid} ignored SIGTERM for {grace:g} s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._procs = [(name, p) for name, p in self._procs if p is not proc]

    def stop_all(self) -> None:
        for _name, proc in reversed(list(self._procs)):
            self.stop(proc, grace=10.0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from ``/proc``."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant (``jobclock serve --workers`` starts processes of
    its own), from the parent ids in ``/proc``."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        parent = int(text[text.rindex(")") + 2 :].split()[1])
        parents.setdefault(parent, []).append(int(entry.name))
    tree, queue = [], [pid]
    while queue:
        each = queue.pop()
        tree.append(each)
        queue.extend(parents.get(each, []))
    return tree


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` and each live descendant."""
    spent = {}
    for each in process_tree(pid):
        with contextlib.suppress(OSError):
            spent[each] = cpu_seconds(each)
    return spent


def host_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole host, from ``/proc/stat``."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_line(stream: IO[str], timeout: float, what: str) -> str:
    """One line from a child's stdout, or TimeoutError after ``timeout`` seconds."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box:
        raise TimeoutError(f"no answer from {what} within {timeout:g} s")
    if not box[0]:
        raise RuntimeError(f"{what} closed its output")
    return box[0].strip()


class Target:
    """The HTTP target process (``bench/_target.py``), driven over its stdin/stdout."""

    def __init__(self, children: Children) -> None:
        self.proc = children.start(
            "target",
            [sys.executable, str(TARGET_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        first = read_line(self._out, 15, "the target")
        self.port = int(first.split()[1])
        self.url = f"http://127.0.0.1:{self.port}/"

    @property
    def _out(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def _send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def _answer(self, command: str, timeout: float = 15) -> str:
        self._send(command)
        return read_line(self._out, timeout, "the target")

    def begin(self) -> float:
        """Start recording (a new window); the target's clock at that moment."""
        return float(self._answer("begin").split()[1])

    def mark(self) -> float:
        """Close the window, recording on (late arrivals of its slots)."""
        return float(self._answer("mark").split()[1])

    def count(self) -> int:
        """Requests recorded since ``begin``."""
        return int(self._answer("count").split()[1])

    def end(self) -> dict[str, Any]:
        """Stop recording; the target's summary of the window (``bench/ha.py`` reads it)."""
        return dict(json.loads(self._answer("end", 120)))

    def collect(self, path: Path) -> Recording:
        """Stop recording; every raw value recorded, through the file ``path``."""
        self._answer(f"end {path}", 120)
        return Recording.load(path)


# -- figures -----------------------------------------------------------------------------
@dataclass
class Result:
    """One run's figures; in burst mode ``late`` holds the times after the instant."""

    n: int
    system: str
    fires: float | None = None
    late: dict[str, float] | None = None
    missed: int | None = None
    doubled: int | None = None
    cpu: float | None = None
    rss: float | None = None
    notes: list[str] = field(default_factory=list)


class Meter:
    """CPU of the scheduler (``pid``), the target and this script, and of the whole host,
    from construction to ``stop``."""

    def __init__(self, pid: int, target: Target) -> None:
        self.pids = (pid, target.proc.pid, os.getpid())
        self.before = [cpu_seconds(each) for each in self.pids]
        self.tree = tree_cpu(pid)  # the scheduler's own processes, if it has several
        self.host = host_cpu()
        self.wall = time.monotonic()

    def stop(self, result: Result) -> None:
        """CPU % and RSS of the scheduler (its process and any descendants, summed) into
        ``result``, the rest as a note."""
        wall = time.monotonic() - self.wall
        after = [cpu_seconds(each) for each in self.pids]
        tree = tree_cpu(self.pids[0])
        host1 = host_cpu()
        spent = [(end - start) / wall * 100 for start, end in zip(self.before, after, strict=True)]
        # A descendant started in the window counts from 0; one ended in it is lost.
        spent[0] = sum(end - self.tree.get(each, 0.0) for each, end in tree.items()) / wall * 100
        rss = 0.0
        for each in tree:
            with contextlib.suppress(OSError):  # gone meanwhile
                rss += rss_mb(each)
        result.rss = rss
        result.cpu = spent[0]
        if len(tree) > 1:
            result.notes.append(
                f"CPU and RSS summed over the scheduler's {len(tree)} processes (RSS counts "
                "shared pages once per process)"
            )
        cores = os.cpu_count() or 1
        host = (host1[0] - self.host[0]) / max(1, host1[1] - self.host[1]) * 100 * cores
        others = max(0.0, host - sum(spent))
        busy = " (a busy machine: figures disturbed)" if others > 25 else ""
        result.notes.append(
            f"target CPU {spent[1]:.0f} %, whole host {host:.0f} % of {cores * 100} %, other "
            f"processes and kernel {others:.0f} %{busy}"
        )


def measure_spread(
    pid: int,
    target: Target,
    run: RunContext,
    result: Result,
    path: Path,
    load: ApiLoad | None = None,
) -> None:
    """Warm up, then one window: fires/s, lateness, missed and doubled slots from what the
    target recorded (``path`` holds it), CPU/RSS of ``pid`` over the window; with ``load``,
    API clients run through the window."""
    time.sleep(run.warmup)
    if load is not None:
        load.start(run.window)
    meter = Meter(pid, target)
    target.begin()
    time.sleep(run.window)
    target.mark()
    meter.stop(result)
    if load is not None:
        result.notes.append(load.finish())
    time.sleep(run.tail)  # slots due in the window may still be on their way
    recording = target.collect(path)
    figures = spread(recording, result.n)
    result.fires, result.late = figures.fires, figures.late_ms
    result.missed, result.doubled = figures.missed, figures.doubled
    result.notes.append(
        f"{figures.slots:,} slots due in the {figures.seconds:.1f} s window, "
        f"{figures.received:,} requests for them by {figures.tail:.1f} s after it"
    )
    # The figure this script printed before slots were counted (and bench/ha.py prints).
    arrivals = summary(recording)
    if arrivals["late_ms"]:
        late = arrivals["late_ms"]
        result.notes.append(
            f"lateness of the {arrivals['count']:,} requests that arrived in the window, "
            f"whatever slot: p50 {late['p50']:,.1f}, p99 {late['p99']:,.1f}, "
            f"max {late['max']:,.1f} ms"
        )
    if figures.unreadable:
        result.notes.append(f"{figures.unreadable:,} requests without a readable header")
    if figures.off_schedule:
        result.notes.append(
            f"{figures.off_schedule:,} requests due in the window on no job's schedule"
        )
    if figures.over_1s:
        result.notes.append(f"{figures.over_1s:,} fires more than 1 s late")


def burst_instant(run: RunContext, method: str, n: int) -> datetime:
    """The whole second the burst is due at, ``run.lead`` from now."""
    return datetime.fromtimestamp(int(time.time() + run.lead(method, n)) + 1, UTC)


def measure_burst(
    pid: int, target: Target, run: RunContext, result: Result, instant: datetime, path: Path
) -> None:
    """Record from just before ``instant`` until all N requests arrived (or a timeout),
    then a second more (doubles); CPU/RSS of ``pid`` until the last arrival."""
    due = instant.timestamp()
    lead = due - time.time()
    if lead < 0.5:
        result.notes.append(
            f"not measured: the jobs were ready {abs(lead):.1f} s "
            f"{'after' if lead < 0 else 'before'} the instant (creation slower than guessed; "
            "try a larger --burst-lead)"
        )
        return
    time.sleep(lead - 0.2)
    meter = Meter(pid, target)
    target.begin()
    give_up = due + run.burst_timeout(result.n)
    while target.count() < result.n and time.time() < give_up:
        time.sleep(0.02)
    meter.stop(result)
    time.sleep(1.0)
    figures = burst(target.collect(path), result.n, round(due * US))
    result.late, result.missed, result.doubled = (
        figures.after_ms,
        figures.missed,
        figures.doubled,
    )
    if figures.after_ms and figures.after_ms["max"] > 0:
        result.fires = figures.received / (figures.after_ms["max"] / 1000)
    result.notes.append(
        f"due at {instant:%H:%M:%S} UTC; {figures.received:,} requests from the {result.n:,} "
        f"jobs; CPU from 0.2 s before the instant until the last arrival"
    )
    if figures.missed:
        result.notes.append(
            f"{figures.missed:,} jobs had not arrived {run.burst_timeout(result.n):.0f} s "
            "after the instant"
        )
    if figures.other_expected:
        result.notes.append(
            f"{figures.other_expected:,} requests whose expected time is not the instant"
        )
    if figures.strays:
        result.notes.append(f"{figures.strays:,} requests from other jobs")


def job_start(base: datetime, index: int, n: int) -> datetime:
    """Job ``index`` of ``n`` starts ``index/n`` of a second after ``base``."""
    return base + timedelta(microseconds=index * 1_000_000 // n)


def schedule_base() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)


# -- jobclock ----------------------------------------------------------------------------
def job_body(target_url: str, start: datetime, recurring: bool = True) -> dict[str, Any]:
    """A disabled HTTP job: every second from ``start``, or (not ``recurring``) once at it."""
    properties: dict[str, Any] = {
        "startTime": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "state": "Disabled",
        "action": {
            "type": "Http",
            "request": {"uri": target_url, "method": "GET"},
            "retryPolicy": {"retryType": "None"},
        },
    }
    if recurring:
        properties["recurrence"] = {"frequency": "Second", "interval": 1}
    return {"properties": properties}


def bench_job(target_url: str, base: datetime, index: int, n: int, burst: bool) -> dict[str, Any]:
    """Job ``index`` of ``n``: phase ``index/n`` of every second, or due once at ``base``."""
    if burst:
        return job_body(target_url, base, recurring=False)
    return job_body(target_url, job_start(base, index, n))


COLLECTION_BODY = {"location": "West US", "properties": {"sku": {"name": "Unlimited"}}}


def job_name(index: int) -> str:
    return f"job-{index:06d}"


async def create_over_rest(
    base_url: str, n: int, target_url: str, base: datetime, deadline: float, burst: bool = False
) -> int:
    """The collection and N disabled jobs through the REST API; returns jobs created.
    ``burst``: each runs once, at ``base``."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    params = {"api-version": API_VERSION}
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, params=params, limits=limits, timeout=120
    ) as client:
        (await client.put(COLLECTION_PATH, json=COLLECTION_BODY)).raise_for_status()
        indexes = iter(range(n))
        created = 0

        async def worker() -> None:
            nonlocal created
            for index in indexes:
                if time.monotonic() > deadline:
                    return
                body = bench_job(target_url, base, index, n, burst)
                response = await client.put(f"{COLLECTION_PATH}/jobs/{job_name(index)}", json=body)
                response.raise_for_status()
                created += 1

        await asyncio.gather(*(worker() for _ in range(32)))
    return created


async def create_in_process(
    db_url: str, n: int, target_url: str, base: datetime, deadline: float, burst: bool = False
) -> int:
    """The collection and N disabled jobs in-process, before the server starts.

    ``SchedulerService.put_job`` costs a few ms a job (several transactions each), so only
    job 0 goes through it; jobs 1..N-1 are copies of the row it stored, in one transaction,
    with their own name, startTime (the anchor) and definition: each body is decoded and
    stored by the service's own codec, so every row is what ``put_job`` would have written
    for it (disabled jobs have no next execution time, so nothing else differs).
    """
    from sqlalchemy import insert, select

    from jobclock.bootstrap import build
    from jobclock.codec.job import job_definition_from_json
    from jobclock.services import CollectionRef, JobRef
    from jobclock.settings import Settings
    from jobclock.storage.encoding import to_us
    from jobclock.storage.tables import jobs

    app = build(Settings(db=db_url, token=TOKEN), TOKEN)
    try:
        await app.store.migrate()
        ref = CollectionRef(SUBSCRIPTION, RESOURCE_GROUP, COLLECTION)
        await app.service.put_collection(ref, COLLECTION_BODY)
        await app.service.put_job(
            JobRef(ref, job_name(0)), bench_job(target_url, base, 0, n, burst)
        )
        async with app.store.writing_connection() as conn:
            template = dict((await conn.execute(select(jobs))).one()._mapping)
        del template["id"]
        rows = []
        for index in range(1, n):
            if time.monotonic() > deadline:
                return index
            start = base if burst else job_start(base, index, n)
            definition = job_definition_from_json(bench_job(target_url, base, index, n, burst))
            name = job_name(index)
            rows.append(
                template
                | {
                    "name": name,
                    "name_key": name.lower(),
                    "definition": app.service.codec.dump(definition),
                    "anchor": to_us(start),
                }
            )
        async with app.store.writing_connection() as conn:
            for chunk in range(0, len(rows), 10_000):
                await conn.execute(insert(jobs), rows[chunk : chunk + 10_000])
    finally:
        await app.close()
    return n


def wait_healthy(base_url: str, proc: subprocess.Popen[Any], timeout: float) -> None:
    stop_at = time.monotonic() + timeout
    while time.monotonic() < stop_at:
        if proc.poll() is not None:
            raise RuntimeError(f"jobclock serve exited with status {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"jobclock serve did not answer /healthz within {timeout:g} s")


def server_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("JOBCLOCK_")}


def run_jobclock(
    n: int, run: RunContext, children: Children, target: Target, workdir: Path
) -> Result:
    result = Result(n, "jobclock")
    db_url = f"sqlite:///{workdir / 'bench.db'}"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    in_process = n > run.rest_max
    method = "jobclock-in-process" if in_process else "jobclock-rest"
    # Spread: the phases' whole second, in the past. Burst: the instant all N are due at.
    base = burst_instant(run, method, n) if run.burst else schedule_base()
    creation_deadline = run.deadline - run.warmup - run.window - 20
    started = time.monotonic()
    created = n
    if in_process:
        log(f"jobclock N={n}: creating the jobs in-process (put_job, then row copies)")
        created = asyncio.run(
            create_in_process(db_url, n, target.url, base, creation_deadline, run.burst)
        )
    console = jobclock_console()
    command = [str(console), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--db", db_url, "--token", TOKEN]
    if run.workers is not None:
        command += ["--workers", str(run.workers)]
    with (workdir / "server.log").open("w") as server_log:
        proc = children.start(
            "jobclock",
            command,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            env=server_env(),
        )
    try:
        wait_healthy(base_url, proc, 60)
        if not in_process:
            log(f"jobclock N={n}: creating the jobs over REST (32 concurrent PUTs)")
            created = asyncio.run(
                create_over_rest(base_url, n, target.url, base, creation_deadline, run.burst)
            )
        if created < n:
            result.notes.append(
                f"not measured: only {created:,} of {n:,} jobs were created before the "
                "time budget ran out"
            )
            return result
        enable_started = time.monotonic()
        httpx.post(
            f"{base_url}{COLLECTION_PATH}/enable",
            params={"api-version": API_VERSION},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=600,  # 100,000 jobs are switched on in one transaction
        ).raise_for_status()
        how = "in-process (put_job + row copies)" if in_process else "over REST"
        result.notes.append(
            f"{n:,} jobs created {how} in {enable_started - started:.1f} s, enabled in "
            f"{time.monotonic() - enable_started:.1f} s"
        )
        run.record_creation(method, n, started)
        load = None
        if run.api_clients and not run.burst:
            load = ApiLoad(children, base_url, run.api_clients, workdir / "api-load.json")
        run.measure(proc.pid, target, result, base, workdir, load)
    finally:
        children.stop(proc)
    return result


# -- API load beside the engine ------------------------------------------------------------
LOAD_COLLECTION_PATH = COLLECTION_PATH.rsplit("/", 1)[0] + "/apiload"


class ApiLoad:
    """``clients`` API clients in a process of their own (``--role api-load``)."""

    def __init__(self, children: Children, base_url: str, clients: int, out: Path) -> None:
        self.children, self.base_url, self.clients, self.out = children, base_url, clients, out
        self.proc: subprocess.Popen[Any] | None = None

    def start(self, seconds: float) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--role", "api-load"]
        command += ["--api-url", self.base_url, "--api-clients", str(self.clients)]
        command += ["--window", str(seconds), "--out", str(self.out)]
        self.proc = self.children.start("api-load", command)

    def finish(self) -> str:
        assert self.proc is not None
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.children.stop(self.proc)
            return "API load: the load process did not finish"
        if self.proc.returncode != 0 or not self.out.exists():
            return f"API load: the load process failed (exit {self.proc.returncode})"
        figures = json.loads(self.out.read_text())
        return (
            f"API load: {self.clients} clients, {figures['requests']:,} requests "
            f"({figures['rate']:,.0f}/s), latency p50 {figures['p50_ms']:,.1f} ms, "
            f"p99 {figures['p99_ms']:,.1f} ms, {figures['errors']} 5xx, "
            f"{figures['failures']} failed connections"
        )


async def api_load(base_url: str, clients: int, seconds: float) -> dict[str, Any]:
    """Each client loops PUT, GET, DELETE of a disabled job of its own for ``seconds``."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    params = {"api-version": API_VERSION}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    latencies: list[float] = []
    counts = {"errors": 0, "failures": 0}
    async with httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        params=params,
        limits=limits,
        timeout=60,
        trust_env=False,
    ) as client:
        (await client.put(LOAD_COLLECTION_PATH, json=COLLECTION_BODY)).raise_for_status()
        body = {
            "properties": {
                "state": "Disabled",
                "action": {
                    "type": "Http",
                    "request": {"method": "GET", "uri": "http://127.0.0.1:9/"},
                },
                "recurrence": {"frequency": "Minute", "interval": 5},
            }
        }
        began = time.monotonic()
        deadline = began + seconds

        async def one(index: int) -> None:
            path = f"{LOAD_COLLECTION_PATH}/jobs/load-{index}"
            while time.monotonic() < deadline:
                for method, content in (("PUT", body), ("GET", None), ("DELETE", None)):
                    sent = time.monotonic()
                    try:
                        response = await client.request(method, path, json=content)
                    except httpx.HTTPError:
                        counts["failures"] += 1
                        continue
                    latencies.append(time.monotonic() - sent)
                    counts["errors"] += response.status_code >= 500

        await asyncio.gather(*(one(index) for index in range(clients)))
        elapsed = time.monotonic() - began
    ordered = sorted(latencies) or [0.0]
    return {
        "requests": len(latencies),
        "rate": len(latencies) / elapsed,
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        **counts,
    }


# -- APScheduler -------------------------------------------------------------------------
_local = threading.local()
_TARGET_PORT: list[int] = []


def fire(name: str = "") -> None:
    """The APScheduler job: one keep-alive GET carrying the run's scheduled time and the
    job's name, in the headers jobclock sends them in."""
    connection: http.client.HTTPConnection | None = getattr(_local, "connection", None)
    if connection is None:
        connection = http.client.HTTPConnection("127.0.0.1", _TARGET_PORT[0], timeout=60)
        _local.connection = connection
    expected = _local.expected.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    try:
        connection.request("GET", "/", headers={EXPECTED_HEADER: expected, JOB_HEADER: name})
        connection.getresponse().read()
    except (OSError, http.client.HTTPException):
        connection.close()
        _local.connection = None
        raise


def aps_scheduler(db_path: Path, workers: int, store: str = "sqlite") -> Any:
    """A ``BackgroundScheduler`` on SQLite at ``db_path`` (``store`` ``"sqlite"``) or on
    ``MemoryJobStore`` (``"memory"``), with the same executor and job defaults either way."""
    from apscheduler.executors.base import run_job
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    class StampingExecutor(ThreadPoolExecutor):  # type: ignore[misc]
        """APScheduler's thread pool, handing the scheduled run time to the job function."""

        def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
            def call() -> Any:
                _local.expected = run_times[-1]
                return run_job(job, job._jobstore_alias, run_times, self._logger.name)

            def done(future: Any) -> None:
                error = future.exception()
                if error is not None:
                    self._run_job_error(job.id, error, error.__traceback__)
                else:
                    self._run_job_success(job.id, future.result())

            self._pool.submit(call).add_done_callback(done)

    jobstore = (
        MemoryJobStore() if store == "memory" else SQLAlchemyJobStore(url=f"sqlite:///{db_path}")
    )
    return BackgroundScheduler(
        jobstores={"default": jobstore},
        executors={"default": StampingExecutor(workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )


def aps_trigger(base: datetime, index: int, n: int, burst: bool) -> Any:
    """Job ``index`` of ``n``: every second at its phase, or (``burst``) once at ``base``."""
    from apscheduler.triggers.date import DateTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if burst:
        return DateTrigger(run_date=base, timezone=UTC)
    return IntervalTrigger(seconds=1, start_date=job_start(base, index, n), timezone=UTC)


def aps_bulk_insert(scheduler: Any, n: int, base: datetime, burst: bool) -> None:
    """Write N jobs in one transaction, as the rows ``SQLAlchemyJobStore.add_job`` writes."""
    from apscheduler.job import Job
    from apscheduler.util import datetime_to_utc_timestamp

    store = scheduler._jobstores["default"]
    store.start(scheduler, "default")
    now = datetime.now(UTC)
    rows = []
    for index in range(n):
        trigger = aps_trigger(base, index, n, burst)
        job = Job(
            scheduler,
            id=job_name(index),
            func=fire,
            args=(job_name(index),),
            kwargs={},
            trigger=trigger,
            executor="default",
            name=job_name(index),
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
            next_run_time=trigger.get_next_fire_time(None, now),
        )
        rows.append(
            {
                "id": job.id,
                "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
                "job_state": pickle.dumps(job.__getstate__(), store.pickle_protocol),
            }
        )
    with store.engine.begin() as conn:
        conn.execute(store.jobs_t.insert(), rows)


def aps_worker(
    n: int, port: int, db_path: Path, workers: int, bulk: bool, burst_at: int, store: str
) -> None:
    """``--role apscheduler``: create the jobs, run the scheduler until stdin says quit.
    ``burst_at`` (epoch seconds, 0 for none): every job runs once, then. ``store``:
    ``sqlite`` or ``memory`` (always through ``add_job``: ``bulk`` is for SQLite only)."""
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    _TARGET_PORT.append(port)
    burst = burst_at > 0
    base = datetime.fromtimestamp(burst_at, UTC) if burst else schedule_base()
    scheduler = aps_scheduler(db_path, workers, store)
    if bulk and store == "sqlite":
        aps_bulk_insert(scheduler, n, base, burst)
        scheduler.start()
    else:
        scheduler.start(paused=True)
        for index in range(n):
            scheduler.add_job(
                fire,
                aps_trigger(base, index, n, burst),
                args=(job_name(index),),
                id=job_name(index),
                name=job_name(index),
            )
        scheduler.resume()
    print("READY", flush=True)
    sys.stdin.readline()  # "quit", or end of input when the parent goes away
    scheduler.shutdown(wait=False)
    sys.stdout.flush()
    os._exit(0)  # queued runs would otherwise be waited for


def aps_method(store: str, n: int, rest_max: int) -> str:
    """How APScheduler's jobs are created: ``add_job`` on the memory store at any N (about
    30,000 a second); on SQLite, bulk rows above ``rest_max``."""
    if store == "memory":
        return "aps-memory-add_job"
    return "aps-bulk" if n > rest_max else "aps-add_job"


def run_apscheduler(
    n: int,
    run: RunContext,
    children: Children,
    target: Target,
    workdir: Path,
    store: str = "sqlite",
) -> Result:
    result = Result(n, SYSTEMS[f"apscheduler-{store}"])
    method = aps_method(store, n, run.rest_max)
    bulk = method == "aps-bulk"
    instant = burst_instant(run, method, n) if run.burst else None
    started = time.monotonic()
    proc = children.start(
        "apscheduler",
        [sys.executable, str(Path(__file__).resolve()), "--role", "apscheduler"]
        + ["--n", str(n), "--port", str(target.port), "--db-path", str(workdir / "aps.db")]
        + ["--aps-workers", str(run.aps_workers), "--aps-store", store]
        + (["--bulk"] if bulk else [])
        + ([] if instant is None else ["--burst-at", str(int(instant.timestamp()))]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=server_env(),
    )
    try:
        log(f"{result.system} N={n}: creating the jobs ({'bulk rows' if bulk else 'add_job'})")
        assert proc.stdout is not None
        limit = max(10.0, run.deadline - run.warmup - run.window - 20 - time.monotonic())
        try:
            read_line(proc.stdout, limit, "the APScheduler process")
        except TimeoutError:
            result.notes.append(f"not measured: creating {n:,} jobs took over {limit:.0f} s")
            return result
        how = "as bulk job-store rows" if bulk else "with add_job"
        if store == "memory":
            how += " (MemoryJobStore: nothing written to disk)"
        result.notes.append(f"{n:,} jobs created {how} in {time.monotonic() - started:.1f} s")
        run.record_creation(method, n, started)
        run.measure(proc.pid, target, result, instant, workdir)
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.write("quit\n")
                proc.stdin.flush()
        children.stop(proc, grace=10.0)
    return result


# -- the run -----------------------------------------------------------------------------
# Jobs created (and, for jobclock, enabled) per second, per method, until measured here;
# from a run on two cores.
CREATION_RATE_GUESS = {
    "jobclock-rest": 180.0,
    "jobclock-in-process": 2_000.0,
    "aps-add_job": 900.0,
    "aps-bulk": 30_000.0,
    "aps-memory-add_job": 20_000.0,
}


# --systems names -> the names in the table.
SYSTEMS = {
    "jobclock": "jobclock",
    "apscheduler-sqlite": "APScheduler+SQLite",
    "apscheduler-memory": "APScheduler+memory",
}
# Shorter names --systems also takes; "apscheduler" was the SQLite row's name before the
# memory row existed.
SYSTEM_ALIASES = {
    "apscheduler": "apscheduler-sqlite",
    "sqlite": "apscheduler-sqlite",
    "aps-sqlite": "apscheduler-sqlite",
    "memory": "apscheduler-memory",
    "aps-memory": "apscheduler-memory",
}


@dataclass
class RunContext:
    window: float
    warmup: float
    rest_max: int
    aps_workers: int
    deadline: float
    tail: float = 3.0
    burst: bool = False
    burst_lead: float = 0.0
    systems: tuple[str, ...] = tuple(SYSTEMS.values())
    api_clients: int = 0
    workers: int | None = None  # --workers for jobclock serve; None: not passed
    rates: dict[str, float] = field(default_factory=lambda: dict(CREATION_RATE_GUESS))

    def record_creation(self, method: str, n: int, started: float) -> None:
        self.rates[method] = n / max(0.001, time.monotonic() - started)

    def lead(self, method: str, n: int) -> float:
        """Seconds from choosing a burst's instant to it: ``--burst-lead``, or far enough
        ahead for creating and enabling the jobs (three times the creation time guessed, as a
        loaded machine is slower)."""
        return self.burst_lead or 10 + 3 * n / self.rates[method] + n / 10_000

    @staticmethod
    def burst_timeout(n: int) -> float:
        """Seconds after the instant a burst of ``n`` is given to arrive."""
        return max(30.0, n / 500)

    def measure(
        self,
        pid: int,
        target: Target,
        result: Result,
        base: datetime | None,
        workdir: Path,
        load: ApiLoad | None = None,
    ) -> None:
        """The mode's measurement of the scheduler ``pid``; ``base`` is the burst's instant."""
        path = workdir / "target.json"
        if self.burst:
            assert base is not None
            log(f"{result.system} N={result.n}: burst due at {base:%H:%M:%S} UTC")
            measure_burst(pid, target, self, result, base, path)
        else:
            log(
                f"{result.system} N={result.n}: measuring ({self.warmup:g} s warm-up, "
                f"{self.window:g} s window, {self.tail:g} s tail)"
            )
            measure_spread(pid, target, self, result, path, load)

    def estimate(self, system: str, n: int) -> float:
        """Seconds a run of ``system`` at ``n`` jobs is expected to take."""
        if system == "jobclock":
            method = "jobclock-in-process" if n > self.rest_max else "jobclock-rest"
        else:
            store = "memory" if system == SYSTEMS["apscheduler-memory"] else "sqlite"
            method = aps_method(store, n, self.rest_max)
        if self.burst:
            return self.lead(method, n) + self.burst_timeout(n) / 4 + 10
        return n / self.rates[method] + self.warmup + self.window + self.tail + 10


def run_all(sizes: list[int], run: RunContext, workdir: Path) -> list[Result]:
    children = Children()
    results: list[Result] = []
    try:
        target = Target(children)
        log(f"target listening on {target.url} (pid {target.proc.pid})")
        runners: list[tuple[str, Callable[..., Result]]] = [
            (system, runner)
            for system, runner in (
                (SYSTEMS["jobclock"], run_jobclock),
                (SYSTEMS["apscheduler-sqlite"], functools.partial(run_apscheduler, store="sqlite")),
                (SYSTEMS["apscheduler-memory"], functools.partial(run_apscheduler, store="memory")),
            )
            if system in run.systems
        ]
        for n in sizes:
            for system, runner in runners:
                needed = run.estimate(system, n)
                left = run.deadline - time.monotonic()
                if needed > left:
                    skipped = Result(n, system)
                    skipped.notes.append(
                        f"skipped: needs about {needed:.0f} s, {max(0, left):.0f} s of the "
                        "time budget (--budget) left"
                    )
                    results.append(skipped)
                    log(f"{system} N={n}: skipped, not enough time left")
                    continue
                rundir = workdir / f"{system.lower().replace('+', '-')}-{n}"
                rundir.mkdir()
                try:
                    results.append(runner(n, run, children, target, rundir))
                except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as error:
                    failed = Result(n, system)
                    # Some (httpx.ReadError) have an empty message.
                    failed.notes.append(f"failed: {error!r}")
                    results.append(failed)
                    log(f"{system} N={n}: failed: {error!r}")
    finally:
        children.stop_all()
    return results


# -- output ------------------------------------------------------------------------------
def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


# The systems jobclock's rate is compared with, and their ratio columns' headings.
BASELINES = (("APScheduler+SQLite", "jc/SQLite"), ("APScheduler+memory", "jc/memory"))


def ratio_of(results: list[Result], item: Result, baseline: str) -> float | None:
    """jobclock's fire rate over ``baseline``'s at the same N, in this run."""
    other = next((o for o in results if o.n == item.n and o.system == baseline), None)
    if item.system != "jobclock" or not item.fires or other is None or not other.fires:
        return None
    return item.fires / other.fires


def table(results: list[Result]) -> Iterator[str]:
    header = (
        f"{'N':>7}  {'system':<19} {'fires/s':>9} {'expected':>9} {'late p50':>9} "
        f"{'p99':>9} {'max':>9} {'missed':>7} {'doubled':>7} {'CPU %':>6} {'RSS MB':>7}  "
        + " ".join(f"{heading:>9}" for _, heading in BASELINES)
    )
    yield header
    yield "-" * len(header)
    for item in results:
        late = item.late or {}
        ratios = []
        for baseline, _ in BASELINES:
            ratio = ratio_of(results, item, baseline)
            ratios.append("" if ratio is None else f"{ratio:.1f}x")
        yield (
            f"{item.n:>7,}  {item.system:<19} {_num(item.fires):>9} {item.n:>9,} "
            f"{_num(late.get('p50')):>9} {_num(late.get('p99')):>9} {_num(late.get('max')):>9} "
            f"{_int(item.missed):>7} {_int(item.doubled):>7} "
            f"{_num(item.cpu, 0):>6} {_num(item.rss):>7}  "
            + " ".join(f"{ratio:>9}" for ratio in ratios)
        ).rstrip()


def burst_table(results: list[Result]) -> Iterator[str]:
    header = (
        f"{'N':>7}  {'system':<19} {'first':>9} {'p50':>9} {'p99':>9} {'last':>9} "
        f"{'fires/s':>9} {'missed':>7} {'doubled':>7} {'CPU %':>6} {'RSS MB':>7}"
    )
    yield header
    yield "-" * len(header)
    for item in results:
        after = item.late or {}
        yield (
            f"{item.n:>7,}  {item.system:<19} {_num(after.get('min')):>9} "
            f"{_num(after.get('p50')):>9} {_num(after.get('p99')):>9} "
            f"{_num(after.get('max')):>9} {_num(item.fires):>9} {_int(item.missed):>7} "
            f"{_int(item.doubled):>7} {_num(item.cpu, 0):>6} {_num(item.rss):>7}"
        )


def notes(results: list[Result]) -> Iterator[str]:
    for item in results:
        for note in item.notes:
            yield f"  {item.n:>7,} {item.system}: {note}"


def ratio_goal(results: list[Result], baseline: str, factor: float) -> str:
    """P1 against ``baseline``: jobclock's rate / its rate at each N both ran, judged only
    where ``baseline`` fell short of the N fires/s asked of it (where both keep up with N
    fires/s the ratio is capped near 1, and says nothing about throughput)."""
    saturated, capped = [], []
    for item in results:
        ratio = ratio_of(results, item, baseline)
        other = next((o for o in results if o.n == item.n and o.system == baseline), None)
        if ratio is None or other is None or other.fires is None:
            continue
        (saturated if other.fires < 0.95 * other.n else capped).append((ratio, item.n))
    goal = f"  >= {factor:g}x {baseline}"
    if not saturated and not capped:
        return f"{goal}: no N with both jobclock and {baseline} measured in this run"
    both = ", ".join(f"{ratio:.1f}x at N={n:,}" for ratio, n in capped)
    if not saturated:
        return (
            f"{goal}: {baseline} kept up with every N run ({both}, capped near 1 as both "
            "kept up); no saturated ratio -> not judged"
        )
    text = ", ".join(f"{ratio:.1f}x at N={n:,}" for ratio, n in saturated)
    worst = min(saturated)[0]
    extra = f"; where both kept up: {both}" if capped else ""
    return (
        f"{goal}, where {baseline} is saturated: {text} -> "
        f"{'met' if worst >= factor else 'not met'}{extra}"
    )


def goals(results: list[Result]) -> Iterator[str]:
    """The issue's goals, next to the figures (reported, never asserted)."""
    jobclock = [item for item in results if item.system == "jobclock" and item.fires]
    if jobclock:
        best = max(jobclock, key=lambda item: item.fires or 0)
        yield (
            f"  >= 10,000 durable fires/s: best jobclock rate {best.fires:,.0f}/s "
            f"(N={best.n:,}) -> {'met' if (best.fires or 0) >= 10_000 else 'not met'}"
        )
    thousand = next((item for item in jobclock if item.n == 1_000 and item.late), None)
    if thousand is not None and thousand.late is not None:
        p99 = thousand.late["p99"]
        yield (
            f"  p99 lateness <= 10 ms at 1,000 fires/s: {p99:,.1f} ms -> "
            f"{'met' if p99 <= 10 else 'not met'}"
        )
    # P1: both ratios, from the same run.
    yield ratio_goal(results, "APScheduler+SQLite", 20)
    yield ratio_goal(results, "APScheduler+memory", 2)


BURST_GOAL_N = 1_000
BURST_GOAL_MS = 100.0


def burst_goals(results: list[Result]) -> Iterator[str]:
    """P3: a burst of 1,000 jobs due at one instant all fired within 100 ms (reported,
    never asserted), for each system run at N = 1,000; other N are given as figures."""
    measured = [item for item in results if item.late]
    yield (
        f"  P3, a burst of {BURST_GOAL_N:,} jobs due at one instant all fired within "
        f"{BURST_GOAL_MS:g} ms (time from the instant to the last fire):"
        + ("" if measured else " no burst measured")
    )
    for item in measured:
        assert item.late is not None
        last, p50, p99 = item.late["max"], item.late["p50"], item.late["p99"]
        all_fired = item.missed == 0
        figure = (
            f"last fire {last:,.1f} ms after the instant (p50 {p50:,.1f}, p99 {p99:,.1f} ms)"
            + ("" if all_fired else f", {item.missed:,} of {item.n:,} never fired")
        )
        if item.n == BURST_GOAL_N:
            met = all_fired and last <= BURST_GOAL_MS
            verdict = f" -> {'met' if met else 'not met'}"
        else:
            verdict = f" (N={item.n:,}: the goal is set at N={BURST_GOAL_N:,}; not judged)"
        yield f"    {item.system}, N={item.n:,}: {figure}{verdict}"


def code_version() -> str:
    """The commit measured, and whether ``src/`` differed from it (others edit it)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=HERE, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],  # noqa: S607
            cwd=HERE.parent, capture_output=True, text=True, check=True,
        ).stdout.split("\n")  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    files = sum(1 for line in changed if line.strip())
    return commit + (f" plus uncommitted changes to {files} file(s) under src/" if files else "")


def jobclock_header(run: RunContext) -> str:
    """The header line naming how jobclock and APScheduler were run."""
    if run.workers is None:
        serve = "jobclock serve with its defaults (no --workers)"
    else:
        serve = f"jobclock serve --workers {run.workers}"
    return (
        f"Systems: {serve}; APScheduler 3.11 BackgroundScheduler, {run.aps_workers} executor "
        "threads, on SQLAlchemyJobStore (SQLite) and on MemoryJobStore."
    )


def report(results: list[Result], run: RunContext, elapsed: float, code: str) -> None:
    if run.burst:
        print(
            f"Dispatch benchmark, burst: {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, code {code}; N one-shot jobs all due at one "
            "instant (a whole second)."
        )
        print(
            "Times in ms after the instant until the first, median (p50), p99th and last "
            "request arrived\n(last = from the instant to the last fire, goal P3); "
            "fires/s = requests / last; CPU % of one core; RSS at the end."
        )
    else:
        print(
            f"Dispatch benchmark: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"code {code}; {run.warmup:g} s warm-up then a {run.window:g} s window per run "
            f"(+{run.tail:g} s for its late slots); every job fires every second, phases "
            "spread evenly over the second."
        )
        print(
            "Lateness in ms (target arrival - expected execution time) of the slots due in "
            "the window;\nmissed = due in the window, never arrived; doubled = received "
            "twice; CPU % of one core; RSS at the end."
        )
    print(jobclock_header(run))
    print()
    for line in burst_table(results) if run.burst else table(results):
        print(line)
    print()
    print("Notes:")
    for line in notes(results):
        print(line)
    print()
    print("Goals of the issue (figures only; nothing is asserted):")
    for line in burst_goals(results) if run.burst else goals(results):
        print(line)
    print()
    print(f"Total time {elapsed:.0f} s.")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(size) for size in text.split(",") if size.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of counts: {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"job counts must be at least 1: {text!r}")
    return sizes


def _systems(text: str) -> tuple[str, ...]:
    """Table names of the systems in ``text``, in the table's order (jobclock first)."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    keys = {SYSTEM_ALIASES.get(name, name) for name in names}
    unknown = [name for name in names if SYSTEM_ALIASES.get(name, name) not in SYSTEMS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"systems are {', '.join(SYSTEMS)} (comma-separated; apscheduler = "
            f"apscheduler-sqlite, memory = apscheduler-memory), not {text!r}"
        )
    return tuple(label for key, label in SYSTEMS.items() if key in keys)


USAGE_EXAMPLES = """\
examples:
  the issue's scenario: 1,000 every-second jobs spread evenly over each second, one SQLite
  node (jobclock only), 5 s warm-up, 20 s window:
    .venv/bin/python bench/dispatch.py --jobs 1000 --spread --systems jobclock
  1,000 one-shot jobs all due at one instant: time until the last arrives at the target:
    .venv/bin/python bench/dispatch.py --burst 1000 --systems jobclock
  1,000 jobs on jobclock, APScheduler+SQLite and APScheduler+memory side by side:
    .venv/bin/python bench/dispatch.py --jobs 1000 --window 10
  jobclock serve with 2 dispatch processes (needs serve --workers):
    .venv/bin/python bench/dispatch.py --jobs 10000 --systems jobclock --workers 2
  every size, all three systems (the default): .venv/bin/python bench/dispatch.py
  a smoke test: .venv/bin/python bench/dispatch.py --quick
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n", 1)[0] if __doc__ else "",
        epilog=USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--jobs",
        "--sizes",
        dest="sizes",
        type=_sizes,
        default=None,
        metavar="N[,N...]",
        help="job counts, one run each (spread mode) [1000,10000,100000]",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--spread",
        action="store_true",
        help="every job fires every second, job i of N at i/N s past each second (the default)",
    )
    mode.add_argument(
        "--burst",
        type=_sizes,
        default=None,
        metavar="N[,N...]",
        help="instead: N one-shot jobs all due at one instant; time until the last arrives",
    )
    parser.add_argument(
        "--systems",
        type=_systems,
        default=tuple(SYSTEMS.values()),
        metavar="NAMES",
        help="comma-separated, from: jobclock, apscheduler-sqlite (or apscheduler), "
        "apscheduler-memory (or memory) [all three]",
    )
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before the window")
    parser.add_argument(
        "--tail",
        type=float,
        default=3.0,
        help="seconds recorded after the window for its late slots; a slot later than "
        "that counts as missed [3]",
    )
    parser.add_argument(
        "--burst-lead",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="how far ahead the burst's instant is set, before the jobs are created "
        "[10 + 3 x the creation time guessed]",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 jobs, 5 s window")
    parser.add_argument("--budget", type=float, default=570.0, help="seconds for the whole run")
    parser.add_argument(
        "--rest-max",
        type=int,
        default=10_000,
        help="largest N created one by one (REST PUTs, add_job); larger N in bulk",
    )
    parser.add_argument("--aps-workers", type=int, default=64, help="APScheduler threads")
    parser.add_argument(
        "--api-clients",
        type=int,
        default=0,
        metavar="C",
        help="jobclock only: C API clients doing PUT/GET/DELETE through the window [0]",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="W",
        help="pass --workers W to jobclock serve (W dispatch processes); the bench exits "
        "with an error if the server does not list --workers [not passed]",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    # The APScheduler process is this script again.
    parser.add_argument(
        "--role",
        choices=["main", "apscheduler", "api-load"],
        default="main",
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--db-path", default="", help=argparse.SUPPRESS)
    parser.add_argument("--bulk", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--burst-at", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--aps-store", choices=["sqlite", "memory"], default="sqlite", help=argparse.SUPPRESS
    )
    parser.add_argument("--api-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.burst is not None and args.sizes is not None:
        parser.error("--burst takes the job counts itself; leave out --jobs/--sizes")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.workers is not None and "jobclock" not in args.systems:
        parser.error("--workers is for jobclock serve; jobclock is not among --systems")
    if args.quick:
        args.window, args.warmup = 5.0, 2.0
        if args.sizes is None and args.burst is None:
            args.sizes = [1000]
    if args.sizes is None:
        args.sizes = list(DEFAULT_SIZES)
    return args


def jobclock_console() -> Path:
    """The ``jobclock`` console script beside this interpreter (what the bench runs)."""
    return Path(sys.executable).with_name("jobclock")


def workers_unsupported(workers: int) -> str:
    """Why ``jobclock serve --workers`` cannot be run, in one line; "" when it can (its
    ``--help`` lists ``--workers``)."""
    try:
        shown = subprocess.run(  # noqa: S603
            [str(jobclock_console()), "serve", "--help"],
            capture_output=True, text=True, timeout=60, env=server_env(), check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"dispatch.py: --workers {workers}: could not run jobclock serve --help ({error})"
    if "--workers" in shown.stdout:
        return ""
    return (
        f"dispatch.py: --workers {workers}: this jobclock server does not support --workers "
        "(jobclock serve --help does not list it); run without --workers"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role == "apscheduler":
        aps_worker(
            args.n,
            args.port,
            Path(args.db_path),
            args.aps_workers,
            args.bulk,
            args.burst_at,
            args.aps_store,
        )
        return 0
    if args.role == "api-load":
        figures = asyncio.run(api_load(args.api_url, args.api_clients, args.window))
        Path(args.out).write_text(json.dumps(figures))
        return 0
    if args.workers is not None:
        unsupported = workers_unsupported(args.workers)
        if unsupported:
            print(unsupported, file=sys.stderr)
            return 2
    # SIGTERM unwinds like Ctrl-C, through the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = args.sizes if args.burst is None else args.burst
    started = time.monotonic()
    run = RunContext(
        window=args.window,
        warmup=args.warmup,
        rest_max=args.rest_max,
        aps_workers=args.aps_workers,
        deadline=started + args.budget,
        tail=args.tail,
        burst=args.burst is not None,
        burst_lead=args.burst_lead,
        systems=args.systems,
        api_clients=args.api_clients,
        workers=args.workers,
    )
    code = code_version()
    workdir = Path(tempfile.mkdtemp(prefix="jobclock-bench-"))
    log(f"working directory {workdir}")
    try:
        results = run_all(sizes, run, workdir)
    except KeyboardInterrupt:
        log("interrupted; every process started was stopped")
        return 130
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report(results, run, time.monotonic() - started, code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
