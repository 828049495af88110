"""``jobclock serve --workers N``: the engine in N worker processes, the API in the server's.

Each worker is a node of its own, named ``<node>/<i>`` (``i`` from 1): its own heartbeat,
its share of the jobs (:mod:`jobclock.domain.shares`), its leases, exactly as a node on
PostgreSQL; on SQLite the workers share the file (WAL, one writer at a time). The server:

* starts them (``python -m jobclock.worker``, :mod:`jobclock.worker`, settings in the
  environment) and restarts
  one that dies (kill -9, a crash), with a growing pause if it keeps dying at start; the
  new one has the dead one's name, so it takes back its own unfinished attempts at once
  (the other workers took its share a moment after it stopped beating);
* forwards wake-ups (a job or collection written through the API) as one byte on each
  worker's stdin, since SQLite has no LISTEN/NOTIFY;
* stops them with SIGTERM on its own stop, and waits for them (attempts in flight finish).

A worker ends with its server: Linux's parent-death signal kills it when the server dies
(kill -9 of the node kills the whole node, and a restart recovers, as without workers), and
the end of its stdin (the server gone, on any system) ends it at once too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime

from jobclock.settings import Settings

log = logging.getLogger("jobclock.engine")

# A worker that ran this long before it died is restarted at once; one that dies sooner
# waits twice as long each time (a worker that cannot start does not spin).
_STABLE = 30.0
_FIRST_PAUSE = 0.5
_LONGEST_PAUSE = 30.0
_STOP_GRACE = 75.0  # seconds: the engine's shutdown grace (65 s) and its close


def worker_name(node: str, index: int) -> str:
    return f"{node}/{index}"


class Workers:
    """Implements :class:`jobclock.ports.Dispatch` with worker processes."""

    def __init__(self, settings: Settings, count: int) -> None:
        self._settings = settings
        self._count = count
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._supervise, args=(index,), daemon=True)
            for index in range(1, count + 1)
        ]
        self.error: BaseException | None = None

    # -- Dispatch ------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> None:
        for index in range(1, self._count + 1):
            self._spawn(index)  # raises OSError if the interpreter cannot be started
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        with self._lock:
            processes = list(self._processes.values())
        for process in processes:
            if process.stdin is not None:
                # Non-blocking: a full pipe already holds wake-ups the worker has not read.
                with contextlib.suppress(OSError, ValueError):
                    os.write(process.stdin.fileno(), b"w")

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            processes = list(self._processes.values())
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        return not any(thread.is_alive() for thread in self._threads)

    def problem(self, now: datetime) -> str | None:
        """Not ready while a worker process is down (its supervisor restarts it)."""
        del now  # each worker's own loop shows in its heartbeat (GET .../nodes)
        with self._lock:
            down = [i for i, p in self._processes.items() if p.poll() is not None]
            missing = self._count - len(self._processes)
        if self._stopping.is_set():
            return "the workers are stopping"
        if down or missing:
            return f"{len(down) + missing} of {self._count} worker processes are down"
        return None

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [process.pid for process in self._processes.values()]

    # -- supervision ---------------------------------------------------------------------
    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        name = worker_name(self._settings.node_name, index)
        env = self._settings.worker_environment(name)
        process = subprocess.Popen(  # noqa: S603 (this interpreter, this module)
            [sys.executable, "-m", "jobclock.worker", str(os.getpid())],
            stdin=subprocess.PIPE,
            env=env,
        )
        if process.stdin is not None:  # always: stdin=PIPE
            os.set_blocking(process.stdin.fileno(), False)
        with self._lock:
            self._processes[index] = process
        log.info(
            "engine.worker_started",
            extra={"event": "engine.worker_started", "worker": index, "pid": process.pid},
        )
        return process

    def _supervise(self, index: int) -> None:
        pause = _FIRST_PAUSE
        while True:
            with self._lock:
                process = self._processes[index]
            born = time.monotonic()
            code = self._wait(process)
            if self._stopping.is_set():
                return
            lived = time.monotonic() - born
            log.warning(
                "engine.worker_exited",
                extra={
                    "event": "engine.worker_exited",
                    "worker": index,
                    "pid": process.pid,
                    "code": code,
                },
            )
            pause = _FIRST_PAUSE if lived >= _STABLE else min(pause * 2, _LONGEST_PAUSE)
            if self._stopping.wait(_FIRST_PAUSE if lived >= _STABLE else pause):
                return
            try:
                self._spawn(index)
            except OSError:
                log.exception("engine.worker_failed", extra={"event": "engine.worker_failed"})

    def _wait(self, process: subprocess.Popen[bytes]) -> int:
        """The worker's exit code; once stopping, a worker past the grace is killed."""
        while True:
            try:
                code = process.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if self._stopping.is_set():
                    try:
                        code = process.wait(timeout=_STOP_GRACE)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        code = process.wait()
                    break
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        return code
