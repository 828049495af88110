"""What the fault tests measure and the faults they cause, beside ``workload.py``: lateness
figures, an endpoint that never answers, a PostgreSQL server restarted under the nodes, the
nodes' heartbeats and the events in a node's log.

Nothing here imports jobclock: the server is a separate process reached over TCP, and its
log is read as the JSON lines it writes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import selectors
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from tests.e2e.harness import Api, Reply, Target, http_action, wait_for
from tests.faults.workload import Workload, received_by_slot
from tests.ha.cluster import Database, Postgres, _admin, database_url, parse_instant
from tests.storage.postgres import POSTGRES_URL

# -- lateness ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """p50, p99 and max of some durations (seconds), nearest rank."""

    count: int
    p50: float
    p99: float
    max: float

    def __str__(self) -> str:
        return (
            f"p50 {self.p50 * 1000:.1f} ms, p99 {self.p99 * 1000:.1f} ms, "
            f"max {self.max * 1000:.1f} ms ({self.count} samples)"
        )


def spread(values: list[float]) -> Spread:
    assert values, "nothing to measure"
    ordered = sorted(values)

    def rank(fraction: float) -> float:
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]

    return Spread(len(ordered), rank(0.50), rank(0.99), ordered[-1])


def lateness(target: Target, work: Workload, window: list[datetime]) -> list[float]:
    """For every job of ``work`` and every slot of ``window`` the target received: when its
    first copy arrived (``Received.wall``) minus ``x-ms-scheduler-expected-execution-time``,
    in seconds. Slots never received are left out (the exactly-once checks report them)."""
    found = []
    for job in work.jobs:
        received = received_by_slot(target, work.path(job))
        for moment in window:
            copies = received.get(moment)
            if copies:
                first = min(item.wall for item in copies)
                found.append((first - moment).total_seconds())
    return found


# -- jobs --------------------------------------------------------------------------------


def whole_second_ahead(lead: float) -> datetime:
    """The first whole second at least ``lead`` s from now."""
    return datetime.fromtimestamp(math.ceil(time.time() + lead), UTC)


def create_second_jobs(api: Api, collection: str, start: datetime, urls: dict[str, str]) -> None:
    """Jobs ``{"frequency": "Second", "interval": 1}`` without retries, all starting at
    ``start``, each sending GET to its URL (``urls``: job name -> URL), in that order."""
    for job, url in urls.items():
        api.create_job(
            collection,
            job,
            {
                "startTime": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "action": http_action(url),
                "recurrence": {"frequency": "Second", "interval": 1},
            },
        )
    assert datetime.now(UTC) < start, "creating the jobs took longer than the lead"


def healthy_workload(
    target: Target, collection: str, names: list[str], start: datetime
) -> Workload:
    """The :class:`Workload` of these jobs at ``target`` (each answered at once)."""
    work = Workload(collection, names, start)
    for job in names:
        target.reply(work.path(job), Reply())
    return work


# -- an endpoint that never answers ------------------------------------------------------


class HungEndpoint:
    """A TCP server on 127.0.0.1 that accepts every connection and never answers: it reads
    and discards what it is sent (noting each request line's path) and holds the connection
    open until :meth:`release`, which closes the listening socket first (a client that tries
    again is refused) and then every connection it held (the client sees it closed with no
    answer)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._heads: dict[socket.socket, bytes | None] = {}
        self._hangs: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hung-endpoint", daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hangs(self, path: str) -> int:
        """How many requests to ``path`` it has held (each on its own connection)."""
        with self._lock:
            return self._hangs[path]

    def held(self) -> int:
        """Connections open now."""
        with self._lock:
            return len(self._heads)

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                if key.fileobj is self._listener:
                    self._accept()
                else:
                    assert isinstance(key.fileobj, socket.socket)
                    self._read(key.fileobj)
        self._selector.unregister(self._listener)
        self._listener.close()
        with self._lock:
            held, self._heads = list(self._heads), {}
        for connection in held:
            self._selector.unregister(connection)
            connection.close()
        self._selector.close()

    def _accept(self) -> None:
        with contextlib.suppress(BlockingIOError):
            connection, _ = self._listener.accept()
            connection.setblocking(False)
            self._selector.register(connection, selectors.EVENT_READ)
            with self._lock:
                self._heads[connection] = b""

    def _read(self, connection: socket.socket) -> None:
        try:
            data = connection.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        with self._lock:
            if not data:  # the client gave up: forget the connection
                self._heads.pop(connection, None)
                self._selector.unregister(connection)
                connection.close()
                return
            head = self._heads.get(connection)
            if head is None:
                return  # its request line was noted already; discard the rest
            head += data
            if b"\r\n" in head:
                parts = head.split(b"\r\n", 1)[0].split()
                path = parts[1].decode(errors="replace") if len(parts) > 1 else "?"
                self._hangs[path.split("?", 1)[0]] += 1
                self._heads[connection] = None
            else:
                self._heads[connection] = head

    def release(self) -> None:
        """End every hang (idempotent)."""
        self._stop.set()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def hung_endpoint() -> Iterator[HungEndpoint]:
    endpoint = HungEndpoint()
    try:
        yield endpoint
    finally:
        endpoint.release()


# -- PostgreSQL restarted ----------------------------------------------------------------


def postgres_version() -> str:
    """The local cluster's version (``/etc/postgresql/<version>/main``); skips without one,
    or when the tests' PostgreSQL is not on this machine (it could not be restarted here)."""
    if urlsplit(POSTGRES_URL).hostname not in ("127.0.0.1", "localhost", "::1"):
        pytest.skip(f"the tests' PostgreSQL ({POSTGRES_URL}) is not the local server")
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None:
        pytest.skip("restarting PostgreSQL needs root and pg_ctlcluster (postgresql-common)")
    found = [path.parent.name for path in Path("/etc/postgresql").glob("*/main")]
    if not found:
        pytest.skip("no local PostgreSQL cluster under /etc/postgresql")
    return max(found, key=lambda name: [int(part) for part in name.split(".") if part.isdigit()])


def pg_ctlcluster(action: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``pg_ctlcluster --skip-systemctl-redirect <version> main <action>`` (as root)."""
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", postgres_version(), "main", action],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def postgres_answers() -> bool:
    try:
        Postgres(POSTGRES_URL).close()
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    return True


def ensure_postgres_started(timeout: float = 60) -> None:
    """Start the local cluster unless it answers, and wait until it does."""
    if postgres_answers():
        return
    if pg_ctlcluster("status").returncode != 0:  # 3: not running
        pg_ctlcluster("start")
    wait_for(postgres_answers, "PostgreSQL to answer again", timeout, every=0.2)


def restart_postgres() -> subprocess.CompletedProcess[str]:
    """``pg_ctlcluster ... restart``; whatever happens, the server is running afterwards."""
    try:
        return pg_ctlcluster("restart")
    finally:
        ensure_postgres_started()


def database_surviving_restarts() -> Iterator[Database]:
    """Like ``tests.ha.cluster.create_database``, but no connection of its own is held
    across the test (a server restart cuts them): a fresh ``jobclock_ha_<random>``
    database, dropped through a new connection once the server answers again."""
    admin = _admin()
    name = f"jobclock_ha_{uuid.uuid4().hex[:12]}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    sql = Postgres(database_url(name))
    try:
        yield Database(name, database_url(name), sql)
    finally:
        with contextlib.suppress(Exception):  # cut by the restart: nothing left to close
            sql.close()
        ensure_postgres_started()
        admin = Postgres(POSTGRES_URL)
        try:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            admin.close()


# -- nodes and logs ----------------------------------------------------------------------


def heartbeats(api: Api) -> dict[str, tuple[datetime, bool]]:
    """``GET /jobclock/nodes``: each node's last heartbeat and ``alive``; empty if the
    request fails (the database is away)."""
    try:
        response = api.http.get("/jobclock/nodes")
    except httpx.HTTPError:
        return {}
    if response.status_code != 200:
        return {}
    return {
        node["name"]: (parse_instant(node["heartbeatAt"]), bool(node["alive"]))
        for node in response.json()["value"]
    }


def log_events(log: str) -> Counter[str]:
    """How many records of each ``event`` a node's log holds (its JSON lines)."""
    found: Counter[str] = Counter()
    for line in log.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                record: dict[str, Any] = json.loads(line)
                found[str(record.get("event"))] += 1
    return found
