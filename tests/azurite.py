"""A real Azurite queue service for the storage-queue action tests.

Azurite comes from npm: it is installed once into a cache directory (``$JOBCLOCK_AZURITE_DIR``,
else ``~/.cache/jobclock-azurite/<version>``), then each test session starts its own
``azurite-queue`` on a free port over a throw-away data directory and stops it afterwards.
Without node or npm, or when the install fails, the tests are skipped with the reason, unless
``JOBCLOCK_REQUIRE_SERVICES=1`` asks for them to fail instead.

The well-known development account creates queues, reads them and signs SAS tokens; the code
under test only ever gets a SAS token.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import pytest
from azure.storage.queue import (
    QueueClient,
    QueueSasPermissions,
    QueueServiceClient,
    generate_queue_sas,
)

# 3.36 and later need node 21 or 22; this one runs on every node still supported.
AZURITE_VERSION = "3.35.0"
ACCOUNT = "devstoreaccount1"
# Azurite's published development key: https://learn.microsoft.com/azure/storage/common/storage-use-azurite
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
# A fixed, far expiry keeps the tests off the wall clock.
SAS_EXPIRY = datetime(2099, 1, 1, tzinfo=UTC)
INSTALL_TIMEOUT_SECONDS = 900
START_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Azurite:
    """A running ``azurite-queue``: where it listens, and dev-account helpers to drive it."""

    port: int

    @property
    def endpoint_template(self) -> str:
        """The executor's endpoint template (``JOBCLOCK_STORAGE_QUEUE_ENDPOINT``)."""
        return f"http://127.0.0.1:{self.port}/{{account}}"

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def service(self) -> QueueServiceClient:
        return QueueServiceClient(self.account_url, credential=ACCOUNT_KEY)

    def queue(self, name: str) -> QueueClient:
        """A client with the account key; it receives without decoding (raw message text)."""
        return QueueClient(self.account_url, name, credential=ACCOUNT_KEY)

    def create_queue(self, name: str) -> None:
        with self.service() as service:
            service.create_queue(name)

    def sas(self, queue: str, **permissions: bool) -> str:
        """A queue SAS token as Azure's portal shows it: a query string with a leading ``?``."""
        token = generate_queue_sas(
            ACCOUNT,
            queue,
            ACCOUNT_KEY,
            permission=QueueSasPermissions(**(permissions or {"add": True})),
            expiry=SAS_EXPIRY,
        )
        return "?" + token


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("JOBCLOCK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (JOBCLOCK_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


def install_dir() -> Path:
    configured = os.environ.get("JOBCLOCK_AZURITE_DIR")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "jobclock-azurite" / AZURITE_VERSION


def install() -> Path:
    """Install Azurite with npm unless it already is; return the ``azurite-queue`` script."""
    directory = install_dir()
    script = directory / "node_modules" / "azurite" / "dist" / "src" / "queue" / "main.js"
    if script.is_file():
        return script
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed: cannot install Azurite for the storage-queue tests")
    directory.mkdir(parents=True, exist_ok=True)
    # Parallel test processes share the cache directory: one installs, the others wait.
    with (directory / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not script.is_file():
            _npm_install(npm, directory)
    if not script.is_file():
        _unavailable(f"npm installed azurite@{AZURITE_VERSION} but {script} is missing")
    return script


def _npm_install(npm: str, directory: Path) -> None:
    command = [npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(directory)]
    try:
        subprocess.run(
            [*command, f"azurite@{AZURITE_VERSION}"],
            check=True,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
        )
    except subprocess.CalledProcessError as error:
        tail = "\n".join((error.stderr or error.stdout or "").strip().splitlines()[-15:])
        reason = f"npm could not install azurite@{AZURITE_VERSION} (exit {error.returncode})"
        _unavailable(f"{reason}:\n{tail}" if tail else reason)
    except subprocess.TimeoutExpired:
        _unavailable(f"npm install azurite took over {INSTALL_TIMEOUT_SECONDS} s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running(data_dir: Path) -> Iterator[Azurite]:
    """Start ``azurite-queue`` over ``data_dir``, wait until it answers, stop it on exit."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed: cannot run Azurite for the storage-queue tests")
    script = install()
    port = free_port()
    log_path = data_dir / "azurite.log"
    command = [
        node, str(script),
        "--queueHost", "127.0.0.1", "--queuePort", str(port),
        "--location", str(data_dir), "--skipApiVersionCheck", "--disableTelemetry", "--silent",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_listening(process, port, log_path)
        yield Azurite(port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace")[-2000:]
            pytest.fail(f"azurite-queue exited with {process.returncode}:\n{log}", pytrace=False)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    pytest.fail(f"azurite-queue did not listen on port {port} within {START_TIMEOUT_SECONDS} s")
