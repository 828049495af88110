"""Benchmark (issue 13, P4): a node's start with many enabled jobs: the time from starting
``jobclock serve`` to its first fire, and its RSS then and 5 s later.

N every-second jobs are created in-process in a SQLite file (``bench/dispatch.py``'s
``create_in_process``: job 0 through ``put_job``, the others as row copies) and then enabled
in SQL: ``--due`` of them due at the start, the others an hour later. The real server
process is started; the first fire is the earliest history entry's start (the jobs call a
closed port on 127.0.0.1, so each attempt fails at once and is recorded), against the wall
time just before the process was started. It prints figures and asserts nothing.

    .venv/bin/python bench/startup.py [--jobs 1000000] [--due 100] [--keep DIR]

``--keep DIR`` keeps the database there and reuses it on the next run (creating 1,000,000
jobs takes about 90 s).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dispatch


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=100, help="jobs due at the start")
    parser.add_argument("--keep", type=Path, default=None, help="keep/reuse the database here")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="jobclock-startup-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "bench.db"
    if not db.exists():
        started = time.monotonic()
        asyncio.run(
            dispatch.create_in_process(
                f"sqlite:///{db}", args.jobs, "http://127.0.0.1:9/", dispatch.schedule_base(),
                time.monotonic() + 3600,
            )
        )  # fmt: skip
        print(f"{args.jobs:,} jobs created in {time.monotonic() - started:.0f} s", flush=True)
    conn = sqlite3.connect(db)
    count = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    now_us = int(time.time() * 1e6)
    conn.execute(
        "UPDATE jobs SET state = 'Enabled', next_execution_time = ?", (now_us + 3600 * 10**6,)
    )
    conn.execute("UPDATE jobs SET next_execution_time = ? WHERE id <= ?", (now_us, args.due))
    conn.execute("DELETE FROM history")
    conn.execute("DELETE FROM occurrences")
    conn.commit()
    console = Path(sys.executable).with_name("jobclock")
    command = [str(console), "serve", "--host", "127.0.0.1", "--port", str(dispatch.free_port())]
    command += ["--db", f"sqlite:///{db}", "--token", dispatch.TOKEN]
    start_wall = time.time()
    with (workdir / "server.log").open("w") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own console script
            command, stdout=log, stderr=subprocess.STDOUT, env=dispatch.server_env(), cwd=workdir
        )
    try:
        first = None
        deadline = time.monotonic() + 120
        while first is None and time.monotonic() < deadline and proc.poll() is None:
            value = conn.execute("SELECT min(start_time) FROM history").fetchone()[0]
            if value is not None:
                first = value / 1e6 - start_wall
            time.sleep(0.05)
        if first is None:
            print("no fire within 120 s (see server.log in the work directory)")
            return 1
        at_first = rss_mb(proc.pid)
        time.sleep(5)
        print(
            f"{count:,} enabled jobs, {min(args.due, count):,} due at the start (SQLite): "
            f"start to first fire {first:.2f} s; RSS {at_first:.0f} MB at the first fire, "
            f"{rss_mb(proc.pid):.0f} MB 5 s later"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=90)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
