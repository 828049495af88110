"""What the fault tests drive: a fresh PostgreSQL database of their own, several real
``jobclock serve`` processes on it (the nodes), and a synchronous view of the database.

Modelled on ``tests/e2e/harness.py`` (whose ``Api``, ``Target`` and ``stop_server`` are
reused); the difference is ``--db postgresql://...`` and the node settings
``JOBCLOCK_NODE`` / ``JOBCLOCK_LEASE_SECONDS``. Nothing here imports jobclock: the nodes
are separate processes reached over TCP.

Without a reachable PostgreSQL the tests skip, unless ``JOBCLOCK_REQUIRE_SERVICES=1`` makes
that a failure (as in ``tests/storage/postgres.py``, whose ``POSTGRES_URL`` is used here).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.e2e.harness import (
    TOKEN,
    RunningServer,
    Target,
    _environment,
    _free_port,
    _wait_healthy,
    jobclock_executable,
    stop_server,
)
from tests.storage.postgres import POSTGRES_URL

STARTUP_TIMEOUT = 30.0  # a node migrates (or waits for another node's migration) first


# -- PostgreSQL --------------------------------------------------------------------------


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("JOBCLOCK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (JOBCLOCK_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(f"{reason} (set JOBCLOCK_REQUIRE_SERVICES=1 to fail instead)")


def database_url(name: str) -> str:
    """:data:`POSTGRES_URL` with its database replaced by ``name``."""
    parts = urlsplit(POSTGRES_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


class Postgres:
    """One asyncpg connection behind a synchronous face (the tests are synchronous)."""

    def __init__(self, url: str) -> None:
        self._runner = asyncio.Runner()
        try:
            self._connection = self._runner.run(asyncpg.connect(url, timeout=5))
        except BaseException:
            self._runner.close()
            raise

    def fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(self._runner.run(self._connection.fetch(sql, *args)))

    def execute(self, sql: str, *args: Any) -> str:
        return str(self._runner.run(self._connection.execute(sql, *args)))

    def stop(self, name: str) -> None:
        """SIGTERM, as an operator stops a node; it must exit 0."""
        node = self.nodes[name]
        stop_server(node.server)
        node.stopped = True

    def close(self) -> None:
        try:
            self._runner.run(self._connection.close())
        finally:
            self._runner.close()


@dataclass(frozen=True)
class Database:
    """A database of one test: its name, the URL the nodes use, and a connection to it."""

    name: str
    url: str
    sql: Postgres

    def terminate_connections(self) -> int:
        """``pg_terminate_backend`` on every other connection to this database (the nodes');
        returns how many were cut."""
        rows = self.sql.fetch(
            "SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.name,
        )
        return sum(1 for row in rows if row["cut"])


def _admin() -> Postgres:
    try:
        return Postgres(POSTGRES_URL)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        _unavailable(f"PostgreSQL is not reachable at {POSTGRES_URL}: {error!r}")


def create_database() -> Iterator[Database]:
    """A fresh ``jobclock_ha_<random>`` database (created from the ``test`` database's
    server), dropped on the way out; skips or fails when PostgreSQL is missing."""
    admin = _admin()
    name = f"jobclock_ha_{uuid.uuid4().hex[:12]}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        sql = Postgres(database_url(name))
        try:
            yield Database(name, database_url(name), sql)
        finally:
            sql.close()
            # FORCE: a node killed with SIGKILL may leave a backend that has not noticed yet.
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


# -- the nodes ---------------------------------------------------------------------------


def shared_secret_key() -> str:
    """A Fernet key (32 random bytes, URL-safe base64): every node of a cluster gets the
    same one, or secrets sealed by one node could not be opened by the others."""
    return urlsafe_b64encode(os.urandom(32)).decode()


@dataclass
class Node:
    """One ``jobclock serve`` process of a cluster.

    ``server`` is the harness's :class:`RunningServer` (so :class:`Api` and
    :func:`stop_server` work on it); its ``db_path`` names no database (the data is in
    PostgreSQL): the harness places the log beside it, in the node's directory.
    """

    name: str
    server: RunningServer
    killed: bool = False
    stopped: bool = False

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.server.process

    def log(self) -> str:
        return self.server.log()

    def alive(self) -> bool:
        return self.process.poll() is None


class Cluster:
    """Nodes on one database, started one after the other; :meth:`close` stops those still
    running with SIGTERM (each must exit 0, as the e2e harness requires)."""

    def __init__(self, database: Database, directory: Path, lease_seconds: float | None) -> None:
        self.database = database
        self.directory = directory
        self.lease_seconds = lease_seconds
        self.secret_key = shared_secret_key()
        self.nodes: dict[str, Node] = {}

    def start(self, name: str, token: str = TOKEN, env: dict[str, str] | None = None) -> Node:
        """Start node ``name`` (``JOBCLOCK_NODE``, and ``env``'s variables) and wait for
        its ``/healthz``."""
        directory = self.directory / f"node-{name}"
        directory.mkdir(parents=True, exist_ok=True)
        extra = env or {}
        env = (
            _environment()
            | extra
            | {
                "JOBCLOCK_NODE": name,
                "JOBCLOCK_SECRET_KEY": self.secret_key,
                "JOBCLOCK_DATA_DIR": str(directory),
            }
        )
        if self.lease_seconds is not None:  # None: the default lease, as users run it
            env["JOBCLOCK_LEASE_SECONDS"] = f"{self.lease_seconds:g}"
        server: RunningServer | None = None
        for _ in range(3):
            port = _free_port()
            log_path = directory / "server.log"
            with log_path.open("ab") as log:
                process = subprocess.Popen(
                    [
                        str(jobclock_executable()),
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--db",
                        self.database.url,
                        "--token",
                        token,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=directory,
                    env=env,
                )
            server = RunningServer(
                f"http://127.0.0.1:{port}", token, directory / "no-database", process
            )
            if _wait_healthy(server, STARTUP_TIMEOUT):
                node = Node(name, server)
                self.nodes[name] = node
                return node
            if process.poll() is None:
                process.kill()
                process.wait()
                raise AssertionError(
                    f"node {name} did not answer /healthz in time:\n{server.log()}"
                )
            if "address already in use" not in server.log().lower():
                raise AssertionError(
                    f"node {name} exited with {process.returncode} at start:\n{server.log()}"
                )
        assert server is not None
        raise AssertionError(f"node {name} could not find a free port:\n{server.log()}")

    def kill(self, name: str) -> None:
        """``kill -9``: no clean-up of any kind in the node."""
        node = self.nodes[name]
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(timeout=10)
        node.killed = True

    def stop(self, name: str) -> None:
        """SIGTERM, as an operator stops a node; it must exit 0."""
        node = self.nodes[name]
        stop_server(node.server)
        node.stopped = True

    def close(self) -> None:
        """SIGTERM every node still running; each must exit 0 within the harness's limit."""
        failures = []
        for node in reversed(list(self.nodes.values())):
            if node.killed or node.stopped:
                continue
            try:
                stop_server(node.server)
            except AssertionError as error:
                failures.append(f"node {node.name}: {error}")
        if failures:
            raise AssertionError("\n".join(failures))


# -- the target -------------------------------------------------------------------------


@contextmanager
def recording_target(backlog: int = 512) -> Iterator[Target]:
    """The e2e harness's recording :class:`Target`, listening with a deeper accept queue.

    ``socketserver`` listens with a backlog of 5: when 50 jobs fire at the same instant
    from fresh connections, the SYNs beyond it are dropped and retried after 1 s, 3 s...,
    which made first attempts last up to 5 s and postponed the jobs' next occurrences (a
    property of the test target, not of jobclock)."""
    own = "request_queue_size" in vars(ThreadingHTTPServer)
    saved = ThreadingHTTPServer.request_queue_size
    ThreadingHTTPServer.request_queue_size = backlog  # read by listen() in the constructor
    try:
        endpoint = Target()
    finally:
        if own:
            ThreadingHTTPServer.request_queue_size = saved
        else:
            del ThreadingHTTPServer.request_queue_size
    try:
        yield endpoint
    finally:
        endpoint.close()


# -- instants ----------------------------------------------------------------------------


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant as jobclock writes it (``...Z``, optional fraction), in UTC."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"not an instant (no offset): {text!r}")
    return value.astimezone(UTC)


def from_us(value: int) -> datetime:
    """Microseconds since the epoch (the database's instants) as an aware datetime."""
    return datetime.fromtimestamp(value / 1_000_000, UTC)
