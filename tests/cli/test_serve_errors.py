"""``jobclock serve`` on bad input: one line on stderr, a non-zero exit, nothing written.

Each test runs the real console script in an empty working directory and checks that the
directory is still empty afterwards (no database, no token, no key).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

TIMEOUT = 30


def jobclock(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("jobclock")
    base = {k: v for k, v in os.environ.items() if not k.startswith("JOBCLOCK_")}
    return subprocess.run(
        [str(executable), *args],
        cwd=cwd,
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "listening" not in result.stdout
    return lines[0]


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_a_port_out_of_range_is_refused(tmp_path: Path, port: str) -> None:
    result = jobclock("serve", "--port", port, "--token", "t", cwd=tmp_path)
    assert one_line(result) == f"jobclock: port {port} is not a valid port (1-65535)"
    assert list(tmp_path.iterdir()) == []


def test_a_port_from_the_environment_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    result = jobclock("serve", cwd=tmp_path, env={"JOBCLOCK_PORT": "eighty"})
    assert one_line(result) == "jobclock: port 'eighty' is not a valid port (1-65535)"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "url", ["nonsense://x", "garbage", "mysql://u@h/db", "sqlite+pysqlite:///x.db"]
)
def test_an_unsupported_database_url_is_refused(tmp_path: Path, url: str) -> None:
    result = jobclock("serve", "--db", url, cwd=tmp_path)
    assert one_line(result) == (
        f"jobclock: unsupported database URL {url!r} (use sqlite:///path or postgresql://...)"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_database_in_a_missing_directory_is_refused_and_nothing_is_created(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    work = tmp_path / "work"
    work.mkdir()
    result = jobclock("serve", "--db", f"sqlite:///{missing / 'x.db'}", cwd=work)
    assert one_line(result) == f"jobclock: the database directory {missing} does not exist"
    assert not (tmp_path / "nonexistent").exists()
    assert list(work.iterdir()) == []


def test_a_relative_database_path_is_checked_against_the_working_directory(
    tmp_path: Path,
) -> None:
    result = jobclock("serve", "--db", "sqlite:///sub/x.db", cwd=tmp_path)
    assert one_line(result) == f"jobclock: the database directory {tmp_path / 'sub'} does not exist"
    assert list(tmp_path.iterdir()) == []


def test_a_busy_port_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = jobclock(
            "serve", "--port", str(port), "--db", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path
        )
    assert one_line(result) == (
        f"jobclock: cannot listen on 127.0.0.1:{port}: address already in use"
    )
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "JOBCLOCK_OUTBOUND_DENY",
            "bogus",
            "JOBCLOCK_OUTBOUND_DENY: 'bogus' is not a CIDR range",
        ),
        ("JOBCLOCK_OUTBOUND_ALLOW", "10.0.0.0/33", "JOBCLOCK_OUTBOUND_ALLOW: '10.0.0.0/33'"),
        ("JOBCLOCK_CONCURRENCY", "many", "JOBCLOCK_CONCURRENCY must be a number, not 'many'"),
        ("JOBCLOCK_CONCURRENCY", "0", "JOBCLOCK_CONCURRENCY must be at least 1, not '0'"),
        ("JOBCLOCK_LEASE_SECONDS", "nan", "JOBCLOCK_LEASE_SECONDS must be at least 1"),
        # The executors' variables are read with the others (issue 12), not on the engine's
        # thread once the server is up.
        ("JOBCLOCK_HTTP_LEAN_CLIENT", "yes", "JOBCLOCK_HTTP_LEAN_CLIENT must be '0' or '1'"),
        ("JOBCLOCK_STORAGE_QUEUE_ENCODING", "utf8", "JOBCLOCK_STORAGE_QUEUE_ENCODING must be"),
        ("JOBCLOCK_STORAGE_QUEUE_ENDPOINT", "ftp://{account}", "JOBCLOCK_STORAGE_QUEUE_ENDPOINT:"),
    ],
)
def test_a_malformed_setting_from_the_environment_is_one_line(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    result = jobclock("serve", "--port", "18099", cwd=tmp_path, env={variable: value})
    assert one_line(result).startswith(f"jobclock: {message}"), result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        # Nothing listens on port 1.
        ("postgresql://jobclock:s3cret-pw@127.0.0.1:1/x", "connection refused"),
        ("postgresql://127.0.0.1:5432/jobclock_no_such_database", "does not exist"),
    ],
)
def test_a_database_that_cannot_be_opened_is_one_line_and_nothing_is_created(
    tmp_path: Path, url: str, reason: str
) -> None:
    result = jobclock("serve", "--port", "18559", "--db", url, cwd=tmp_path)
    line = one_line(result)
    assert line.startswith("jobclock: cannot open the database postgresql://"), line
    assert reason in line.lower(), line
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert list(tmp_path.iterdir()) == []  # no token, no key
