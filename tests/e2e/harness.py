"""What the end-to-end tests drive: the real ``jobclock serve`` process, a real HTTP target
in a background thread, and a thin httpx client for the ARM paths.

Nothing here imports jobclock: the server is a separate process found next to
``sys.executable`` and is reached over TCP only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import httpx

API_VERSION = "2016-03-01"
TOKEN = "e2e-token-4c1d7f0b9a2e"  # noqa: S105 - the test server's API token
STARTUP_TIMEOUT = 20.0
SHUTDOWN_TIMEOUT = 10.0
# How long the tests wait for something the engine does at once (a real process, a real clock).
DEADLINE = 10.0

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], what: str, timeout: float = DEADLINE, every: float = 0.05
) -> T:
    """Poll ``probe`` until it returns something other than None/False, or fail."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last is not None and last is not False:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


# -- the server process ------------------------------------------------------------------


class RunningServer(NamedTuple):
    base_url: str
    token: str
    db_path: Path
    process: subprocess.Popen[bytes]

    @property
    def log_path(self) -> Path:
        return self.db_path.with_name("server.log")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "<no log>"


def jobclock_executable() -> Path:
    found = Path(sys.executable).with_name("jobclock")
    assert found.exists(), f"the jobclock console script is not installed next to {sys.executable}"
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment() -> dict[str, str]:
    """The caller's environment without JOBCLOCK_* settings or proxies: options decide."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith("JOBCLOCK_") and "PROXY" not in key.upper()
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_server(
    directory: Path,
    token: str = TOKEN,
    env: dict[str, str] | None = None,
    db_url: str | None = None,
) -> RunningServer:
    """Start ``jobclock serve`` on a free port over ``directory/jobclock.db`` (or over
    ``db_url``, e.g. a PostgreSQL database); wait for ``/healthz``. Retries on another port
    if the first one was taken meanwhile."""
    directory.mkdir(parents=True, exist_ok=True)
    db_path = directory / "jobclock.db"
    for _ in range(3):
        port = _free_port()
        log_path = db_path.with_name("server.log")
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
                    db_url or f"sqlite:///{db_path}",
                    "--token",
                    token,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=directory,
                env=_environment() | (env or {}),
            )
        server = RunningServer(f"http://127.0.0.1:{port}", token, db_path, process)
        if _wait_healthy(server):
            return server
        if process.poll() is None:
            process.kill()
            process.wait()
            raise AssertionError(f"jobclock did not answer /healthz in time:\n{server.log()}")
        if "address already in use" not in server.log().lower():
            raise AssertionError(
                f"jobclock exited with {process.returncode} at start:\n{server.log()}"
            )
    raise AssertionError(f"jobclock could not find a free port:\n{server.log()}")


def _wait_healthy(server: RunningServer, timeout: float = STARTUP_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


def stop_server(server: RunningServer) -> None:
    """SIGTERM, then the process must exit 0 within :data:`SHUTDOWN_TIMEOUT`. Idempotent."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(
                f"jobclock did not exit within {SHUTDOWN_TIMEOUT} s of SIGTERM:\n{server.log()}"
            ) from None
    assert process.returncode == 0, (
        f"jobclock exited with {process.returncode} after SIGTERM:\n{server.log()}"
    )


@contextmanager
def running_server(
    directory: Path,
    token: str = TOKEN,
    env: dict[str, str] | None = None,
    db_url: str | None = None,
) -> Iterator[RunningServer]:
    server = start_server(directory, token, env, db_url)
    try:
        yield server
    finally:
        stop_server(server)


# -- the HTTP target ---------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request the target got."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic()
    wall: datetime


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"Hello from the e2e target"
    delay: float = 0.0  # seconds before answering
    echo_headers: bool = False  # answer with the request's headers as the body


class Target:
    """A threaded ``http.server`` on 127.0.0.1 that records every request and answers
    with a configurable :class:`Reply` per path (default 200)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._replies: dict[str, Reply] = {}
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                reply = target._record(self.command, self.path, self.headers.items(), body)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body
                if reply.echo_headers:
                    payload = "".join(f"{k}: {v}\n" for k, v in self.headers.items()).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_one

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="e2e-target", daemon=True
        )
        self._thread.start()

    def _record(self, method: str, path: str, headers: Any, body: bytes) -> Reply:
        item = Received(
            method,
            path,
            {name.lower(): value for name, value in headers},
            body,
            time.monotonic(),
            datetime.now(UTC),
        )
        with self._lock:
            self._received.append(item)
            return self._replies.get(path.split("?", 1)[0], Reply())

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def reply(self, path: str, reply: Reply) -> None:
        with self._lock:
            self._replies[path] = reply

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            items = list(self._received)
        if path is None:
            return items
        return [item for item in items if item.path.split("?", 1)[0] == path]

    def wait_for(self, count: int, path: str, timeout: float = DEADLINE) -> list[Received]:
        """At least ``count`` requests to ``path``, within ``timeout``."""

        def enough() -> list[Received] | None:
            items = self.received(path)
            return items if len(items) >= count else None

        try:
            return wait_for(enough, f"{count} request(s) to {path}", timeout)
        except AssertionError as error:
            got = [(item.method, item.path) for item in self.received()]
            raise AssertionError(f"{error}; the target received {got}") from None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# -- the API client ----------------------------------------------------------------------


class Api:
    """httpx over the ARM paths of one server; ``api-version`` is added unless told not to."""

    def __init__(
        self,
        server: RunningServer,
        *,
        subscription: str = "e2e-sub",
        resource_group: str = "e2e-rg",
    ) -> None:
        self.server = server
        self.subscription = subscription
        self.resource_group = resource_group
        self.http = httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {server.token}"},
            timeout=15.0,
            trust_env=False,
        )

    def close(self) -> None:
        self.http.close()

    def collections_path(
        self, *, subscription: str | None = None, resource_group: str | None = None
    ) -> str:
        return (
            f"/subscriptions/{subscription or self.subscription}"
            f"/resourceGroups/{resource_group or self.resource_group}"
            "/providers/Microsoft.Scheduler/jobCollections"
        )

    def collection_path(self, name: str, *, subscription: str | None = None) -> str:
        return f"{self.collections_path(subscription=subscription)}/{name}"

    def job_path(self, collection: str, job: str, *, subscription: str | None = None) -> str:
        return f"{self.collection_path(collection, subscription=subscription)}/jobs/{job}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        params: dict[str, str] | None = None,
        api_version: str | None = API_VERSION,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        query = dict(params or {})
        if api_version is not None:
            query["api-version"] = api_version
        if json is not None:
            return self.http.request(method, path, json=json, params=query, headers=headers)
        return self.http.request(method, path, content=content, params=query, headers=headers)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, json=body, **kwargs)

    def patch(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, json=body, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    # -- shortcuts ---------------------------------------------------------------------
    def create_collection(self, name: str, sku: str = "Unlimited", **extra: Any) -> dict[str, Any]:
        body = {"location": "West US", "properties": {"sku": {"name": sku}, **extra}}
        response = self.put(self.collection_path(name), body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def create_job(self, collection: str, job: str, properties: dict[str, Any]) -> dict[str, Any]:
        response = self.put(self.job_path(collection, job), {"properties": properties})
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def job(self, collection: str, job: str) -> dict[str, Any]:
        response = self.get(self.job_path(collection, job))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def history(self, collection: str, job: str) -> list[dict[str, Any]]:
        response = self.get(f"{self.job_path(collection, job)}/history")
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()["value"]
        return result

    def wait_for_history(
        self, collection: str, job: str, count: int, timeout: float = DEADLINE
    ) -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]] | None:
            entries = self.history(collection, job)
            return entries if len(entries) >= count else None

        return wait_for(enough, f"{count} history entries of {collection}/{job}", timeout)

    def wait_for_state(
        self, collection: str, job: str, state: str, timeout: float = DEADLINE
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            found = self.job(collection, job)
            return found if found["properties"]["state"] == state else None

        return wait_for(reached, f"{collection}/{job} in state {state}", timeout)


def http_action(uri: str, method: str = "GET", **request: Any) -> dict[str, Any]:
    """An Http action without retries (the default policy would wait 30 s per retry)."""
    return {
        "type": "Http",
        "request": {"uri": uri, "method": method, **request},
        "retryPolicy": {"retryType": "None"},
    }


_counter = iter(range(1, 1_000_000))


def unique(prefix: str) -> str:
    """A fresh resource name (letters, digits and dashes only)."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}"
