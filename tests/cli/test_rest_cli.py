"""``jobclock collections|jobs|history`` against the real server process.

One ``jobclock serve`` (SQLite in a temporary directory) serves the module; every command
runs as the installed console script in a subprocess, the way a user or a script runs it,
and the tests assert on its stdout (``--output json`` parsed), stderr and exit code.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

TOKEN = "test-token-for-the-cli"  # noqa: S105 - a throwaway server's token
API = "2016-03-01"
# A port nothing listens on: the HTTP action fails at once, no target server needed.
UNREACHABLE = "http://127.0.0.1:9/"


def console_script() -> str:
    script = Path(sys.executable).with_name("jobclock")
    assert script.exists(), f"the jobclock console script is not installed next to {sys.executable}"
    return str(script)


def in_days(days: int, offset: str = "Z") -> str:
    """An instant ``days`` from now, written with ``offset`` (``Z`` or ``+01:00``)."""
    zone = UTC if offset == "Z" else datetime.fromisoformat(f"2000-01-01T00:00{offset}").tzinfo
    moment = (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).astimezone(zone)
    return moment.isoformat().replace("+00:00", "Z")


def utc(instant: str) -> str:
    return datetime.fromisoformat(instant).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("JOBCLOCK_")}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running ``jobclock serve``; SIGTERM at the end."""
    tmp = tmp_path_factory.mktemp("serve")
    port = free_port()
    log = (tmp / "server.log").open("w")
    process = subprocess.Popen(
        [
            console_script(), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--db", f"sqlite:///{tmp / 'x.db'}", "--token", TOKEN,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=clean_env(),
        cwd=tmp,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, (tmp / "server.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /healthz in 20 s"
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)

    def one_error_line(self) -> str:
        lines = self.stderr.splitlines()
        assert len(lines) == 1, self.stderr
        assert lines[0].startswith("jobclock: "), self.stderr
        assert "Traceback" not in self.stderr
        return lines[0]


class Cli:
    """Runs ``jobclock`` with JOBCLOCK_URL / JOBCLOCK_TOKEN set for ``server``."""

    def __init__(self, url: str) -> None:
        self.env = clean_env() | {"JOBCLOCK_URL": url, "JOBCLOCK_TOKEN": TOKEN}

    def start(self, args: Sequence[str], env: dict[str, str] | None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [console_script(), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env | (env or {}),
        )

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return self.many([list(args)], env)[0]

    def many(
        self, commands: Sequence[Sequence[str]], env: dict[str, str] | None = None
    ) -> list[Result]:
        """Run independent commands concurrently (each one is a Python start-up)."""
        processes = [self.start(args, env) for args in commands]
        results = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=30)
            results.append(Result(process.returncode, stdout, stderr))
        return results


@pytest.fixture(scope="module")
def cli(server: str) -> Cli:
    return Cli(server)


@pytest.fixture(scope="module")
def api(server: str) -> Iterator[httpx.Client]:
    """A plain HTTP client for setting up data the tests do not exercise."""
    with httpx.Client(
        base_url=f"{server}/subscriptions/default/resourceGroups/default/providers/"
        "Microsoft.Scheduler/jobCollections",
        headers={"Authorization": f"Bearer {TOKEN}"},
        params={"api-version": API},
    ) as client:
        yield client


@pytest.fixture(scope="module")
def collection(api: httpx.Client) -> str:
    response = api.put(
        "/jobs-jc", json={"location": "West US", "properties": {"sku": {"name": "Standard"}}}
    )
    assert response.status_code == 201, response.text
    return "jobs-jc"


def test_collection_create_get_list_update_disable_enable_delete(
    cli: Cli, api: httpx.Client
) -> None:
    created = cli("collections", "create", "jc1", "--location", "westus", "--output", "json").json()
    assert created["name"] == "jc1"
    assert created["location"] == "West US"
    assert created["properties"]["sku"]["name"] == "Standard"
    assert created["properties"]["state"] == "Enabled"

    got, listed = cli.many(
        [["collections", "get", "jc1", "-o", "json"], ["collections", "--output", "json", "list"]]
    )
    assert got.json() == created
    assert created in listed.json()["value"]
    assert listed.json()["nextLink"] is None

    updated = cli("collections", "update", "jc1", "--max-job-count", "10", "-o", "json").json()
    assert updated["properties"]["quota"] == {"maxJobCount": 10}
    assert updated["properties"]["sku"]["name"] == "Standard"  # PATCH kept the rest

    disabled = cli("collections", "disable", "jc1")
    assert disabled.code == 0, disabled.stderr
    assert disabled.stdout.strip() == "Disabled job collection 'jc1'."
    table, refused = cli.many([["collections", "get", "jc1"], ["collections", "delete", "jc1"]])
    assert table.code == 0, table.stderr
    assert "Disabled" in table.stdout
    assert "West US" in table.stdout
    # Without --yes and with no one to answer the prompt, nothing is deleted.
    assert refused.code == 1
    assert api.get("/jc1").status_code == 200

    assert cli("collections", "enable", "jc1", "-o", "json").stdout == ""
    assert api.get("/jc1").json()["properties"]["state"] == "Enabled"

    deleted = cli("collections", "delete", "jc1", "--yes")
    assert deleted.code == 0, deleted.stderr
    assert api.get("/jc1").status_code == 404


def test_jobs_with_and_without_recurrence_are_listed_described_and_patched(
    cli: Cli, collection: str
) -> None:
    soon, later = in_days(30), in_days(60, offset="+01:00")
    weekly, once = cli.many(
        [
            [
                "jobs", "create", collection, "weekly",
                "--uri", UNREACHABLE, "--retry-type", "None", "--start", soon,
                "--frequency", "Week", "--week-days", "Monday,Friday",
                "--hours", "6", "--minutes", "0,15",
                "--count", "10", "--end-time", "2030-01-01T00:00:00Z",
                "-o", "json",
            ],
            [
                "jobs", "create", collection, "once", "--uri", UNREACHABLE,
                "--start", later, "--state", "Disabled",
            ],
        ]
    )  # fmt: skip
    created = weekly.json()
    recurrence = created["properties"]["recurrence"]
    assert recurrence["frequency"] == "Week"
    assert recurrence["count"] == 10
    assert recurrence["schedule"] == {
        "minutes": [0, 15],
        "hours": [6],
        "weekDays": ["Monday", "Friday"],
    }
    assert created["properties"]["status"]["nextExecutionTime"]
    assert once.code == 0, once.stderr
    assert "Run once" in once.stdout

    listed, described, disabled_only = cli.many(
        [
            ["jobs", "list", collection, "--output", "json"],
            ["jobs", "get", collection, "weekly"],
            ["jobs", "list", collection, "--state", "Disabled", "--output", "json"],
        ]
    )
    by_name = {item["name"]: item for item in listed.json()["value"]}
    assert by_name[f"{collection}/weekly"] == created
    once_props = by_name[f"{collection}/once"]["properties"]
    assert "recurrence" not in once_props
    assert once_props["startTime"] == utc(later)
    assert [item["name"] for item in disabled_only.json()["value"]] == [f"{collection}/once"]
    assert described.code == 0, described.stderr
    text = " ".join(described.stdout.split())
    assert "Every 1 Weeks on Monday, Friday; at 06:00, 06:15" in text
    assert "Until 10 executions. Or on 2030-01-01 00:00:00Z whichever occurs first." in text

    # update is a PATCH: only --interval changes, the schedule stays.
    updated, enabled = cli.many(
        [
            ["jobs", "update", collection, "weekly", "--interval", "2", "-o", "json"],
            ["jobs", "enable", collection, "once", "-o", "json"],
        ]
    )
    assert updated.json()["properties"]["recurrence"]["interval"] == 2
    assert updated.json()["properties"]["recurrence"]["schedule"] == recurrence["schedule"]
    assert enabled.json()["properties"]["state"] == "Enabled"
    disabled = cli("jobs", "disable", collection, "weekly", "-o", "json").json()
    assert disabled["properties"]["state"] == "Disabled"


def test_a_cron_job_is_created_described_and_switched_by_update(cli: Cli, collection: str) -> None:
    created = cli(
        "jobs", "create", collection, "cron", "--uri", UNREACHABLE, "--retry-type", "None",
        "--cron", "0 9 * * MON-FRI", "--time-zone", "Europe/Amsterdam", "--dst-gap", "skip",
        "-o", "json",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    assert created.json()["properties"]["recurrence"] == {
        "cron": "0 9 * * MON-FRI",
        "timeZone": "Europe/Amsterdam",
        "dstPolicy": {"gap": "skip", "fold": "first"},
    }
    described = cli("jobs", "get", collection, "cron")
    assert "Cron 0 9 * * MON-FRI (Europe/Amsterdam)" in " ".join(described.stdout.split())
    # update is a PATCH: --frequency replaces the expression.
    updated = cli("jobs", "update", collection, "cron", "--frequency", "Hour", "-o", "json")
    assert updated.code == 0, updated.stderr
    recurrence = updated.json()["properties"]["recurrence"]
    assert recurrence["frequency"] == "Hour"
    assert "cron" not in recurrence
    wrong = cli("jobs", "create", collection, "bad", "--uri", UNREACHABLE, "--cron", "61 * * * *")
    assert wrong.code != 0
    assert "'recurrence.cron' has 61 in its minute field" in wrong.stderr


def test_run_now_shows_up_in_history(cli: Cli, collection: str) -> None:
    created = cli(
        "jobs", "create", collection, "runner", "--uri", UNREACHABLE, "--retry-type", "None",
        "--start", in_days(30), "--frequency", "Day",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    run = cli("jobs", "run", collection, "runner")
    assert run.code == 0, run.stderr

    entries: list[Any] = []
    deadline = time.monotonic() + 10
    while not entries and time.monotonic() < deadline:
        entries = cli("history", "list", collection, "runner", "-o", "json").json()["value"]
    assert len(entries) == 1, "no history entry within 10 s of 'jobs run'"
    props = entries[0]["properties"]
    assert props["status"] == "Failed"
    assert props["actionName"] == "MainAction"
    assert props["retryCount"] == 0

    history_id = entries[0]["name"].split("/")[-1]
    table, failed, entry = cli.many(
        [
            ["history", "list", collection, "runner"],
            [
                "history",
                "list",
                collection,
                "runner",
                "--status",
                "Failed",
                "--top",
                "1",
                "-o",
                "json",
            ],
            ["history", "get", collection, "runner", history_id],
        ]
    )
    assert table.code == 0, table.stderr
    assert "Failed" in table.stdout
    assert "Main" in table.stdout
    assert [item["name"] for item in failed.json()["value"]] == [entries[0]["name"]]
    assert entry.code == 0, entry.stderr
    assert props["message"] in entry.stdout  # the full message, unwrapped


def test_list_follows_next_link(cli: Cli, api: httpx.Client) -> None:
    body = {"location": "West US", "properties": {"sku": {"name": "Unlimited"}}}
    assert api.put("/paged", json=body).status_code == 201
    job = {
        "properties": {
            "state": "Disabled",
            "action": {"type": "Http", "request": {"uri": UNREACHABLE}},
        }
    }
    for index in range(101):
        assert api.put(f"/paged/jobs/j{index:03d}", json=job).status_code == 201
    first_page = api.get("/paged/jobs").json()
    assert len(first_page["value"]) == 100
    assert first_page["nextLink"]

    listed = cli("jobs", "list", "paged", "-o", "json").json()
    assert len(listed["value"]) == 101
    assert listed["nextLink"] is None


def test_errors_are_one_line_with_an_exit_code_per_status(cli: Cli, server: str) -> None:
    free = cli("collections", "create", "free-jc", "--location", "westus", "--plan", "Free")
    assert free.code == 0, free.stderr
    missing, quota, bad_token, bad_frequency, exists, refused = cli.many(
        [
            ["jobs", "get", "free-jc", "no-such-job"],
            ["jobs", "create", "free-jc", "fast", "--uri", UNREACHABLE, "--frequency", "Minute"],
            ["collections", "list", "--token", "wrong"],
            ["jobs", "create", "free-jc", "yearly", "--uri", UNREACHABLE, "--frequency", "Year"],
            ["collections", "create", "free-jc", "--location", "westus", "--plan", "Free"],
            ["collections", "list", "--url", f"http://127.0.0.1:{free_port()}"],
        ]
    )
    assert missing.code == 3
    assert "no-such-job" in missing.one_error_line()
    assert missing.one_error_line().endswith("(ResourceNotFound)")
    assert missing.stdout == ""

    assert quota.code == 6
    assert quota.one_error_line().endswith("(Conflict)")

    assert bad_token.code == 4
    assert bad_token.one_error_line().endswith("(AuthenticationFailed)")

    assert bad_frequency.code == 2
    assert "Year" in bad_frequency.one_error_line()

    assert exists.code == 6
    assert "already exists" in exists.one_error_line()

    assert refused.code == 1
    assert "Cannot reach the jobclock API" in refused.one_error_line()


def test_a_jittered_job_is_created_and_previewed_as_it_will_run(
    cli: Cli, collection: str, api: httpx.Client
) -> None:
    start = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT00:00:00Z")
    created = cli(
        "jobs", "create", collection, "spread", "--uri", UNREACHABLE, "--retry-type", "None",
        "--start", start, "--frequency", "Hour", "--jitter", "PT30M",
        "-o", "json",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    assert created.json()["properties"]["recurrence"]["jitter"] == "PT30M"
    described = cli("jobs", "get", collection, "spread")
    assert "up to PT30M late (jitter)" in " ".join(described.stdout.split())
    # The server's preview of the stored job and the CLI's preview as that job agree.
    served = api.get(f"/{collection}/jobs/spread/preview", params={"$top": "5"})
    assert served.status_code == 200, served.text
    local = subprocess.run(
        [console_script(), "preview", "--recurrence", '{"frequency": "Hour", "interval": 1}',
         "--jitter", "PT30M", "--job", f"{collection}/spread", "--start", start,
         "--now", utc(in_days(1)), "--count", "5"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    assert local.stdout.splitlines() == served.json()["value"]
    assert any(not line.endswith(":00:00Z") for line in local.stdout.splitlines())
    wrong = cli("jobs", "create", collection, "bad", "--uri", UNREACHABLE, "--frequency", "Hour",
                "--jitter", "P40D")  # fmt: skip
    assert wrong.code != 0
    assert "'recurrence.jitter' must be longer than 0 and at most 31 days" in wrong.stderr


def test_jobs_backfill_runs_a_past_range_and_refuses_the_future(
    cli: Cli, collection: str, api: httpx.Client
) -> None:
    created = cli(
        "jobs", "create", collection, "filled", "--uri", UNREACHABLE, "--retry-type", "None",
        "--start", "2020-01-01T00:00:00Z", "--frequency", "Day", "-o", "json",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    result = cli(
        "jobs", "backfill", collection, "filled", "--from", "2024-01-01T00:00:00Z",
        "--to", "2024-01-03T00:00:00Z", "--pace", "PT0S",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[:3] == [
        "2024-01-01T00:00:00Z",
        "2024-01-02T00:00:00Z",
        "2024-01-03T00:00:00Z",
    ]
    assert "Backfilling 3 occurrences" in " ".join(result.stdout.split())

    def backfilled() -> list[str] | None:
        history = api.get(f"/{collection}/jobs/filled/history").json()["value"]
        found = [
            entry["properties"]["expectedExecutionTime"]
            for entry in history
            if entry["properties"]["message"].startswith("Backfill of ")
        ]
        return found if len(found) == 3 else None

    deadline = time.monotonic() + 20
    found = backfilled()
    while found is None and time.monotonic() < deadline:
        time.sleep(0.2)
        found = backfilled()
    assert found is not None
    assert sorted(found) == ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"]
    future = cli(
        "jobs", "backfill", collection, "filled", "--from", "2024-01-01T00:00:00Z",
        "--to", "2099-01-01T00:00:00Z",
    )  # fmt: skip
    assert future.code != 0
    assert "'to' is in the future" in future.stderr


def test_jobs_explain_says_why_an_instant_had_no_occurrence(cli: Cli, collection: str) -> None:
    created = cli(
        "jobs", "create", collection, "nine", "--uri", UNREACHABLE, "--retry-type", "None",
        "--start", "2020-01-01T00:00:00Z", "--cron", "0 9 * * MON-FRI",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    result = cli("jobs", "explain", collection, "nine", "--at", "2024-01-06T09:00:00Z")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("notScheduled: occurrence nearest 2024-01-06T09:00:00Z: ")
    assert "the day fields leave out day 6 (Saturday)" in result.stdout
    answer = cli(
        "jobs", "explain", collection, "nine", "--at", "2024-01-05T09:00:00Z", "-o", "json"
    )
    body = answer.json()
    assert body["scheduled"] is True
    assert body["occurrence"] == "2024-01-05T09:00:00Z"
    assert body["outcome"] == "notRun"  # before the job existed: it never ran
    wrong = cli("jobs", "explain", collection, "nine", "--at", "soon")
    assert wrong.code != 0
    assert "'at'" in wrong.stderr


def test_overlap_and_catch_up_options_are_sent_and_updated(cli: Cli, collection: str) -> None:
    created = cli(
        "jobs", "create", collection, "policies", "--uri", UNREACHABLE, "--frequency", "Hour",
        "--overlap-policy", "BufferOne", "--catch-up", "all", "--catch-up-window", "PT2H",
        "-o", "json",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    properties = created.json()["properties"]
    assert properties["overlapPolicy"] == "BufferOne"
    assert properties["catchUp"] == {"policy": "all", "window": "PT2H"}
    updated = cli(
        "jobs", "update", collection, "policies", "--overlap-policy", "AllowAll", "-o", "json"
    )  # fmt: skip
    assert updated.code == 0, updated.stderr
    assert updated.json()["properties"]["overlapPolicy"] == "AllowAll"
    assert updated.json()["properties"]["catchUp"] == {"policy": "all", "window": "PT2H"}
    wrong = cli("jobs", "create", collection, "bad", "--uri", UNREACHABLE, "--frequency", "Hour",
                "--catch-up", "all", "--catch-up-window", "PT0S")  # fmt: skip
    assert wrong.code != 0
    assert "must be longer than 0" in wrong.stderr


def test_calendars_put_get_list_and_a_job_that_follows_one(
    cli: Cli, collection: str, api: httpx.Client
) -> None:
    today = datetime.now(UTC).date()
    monday = today + timedelta(days=14 - today.weekday())  # one to two weeks ahead
    days = [str(monday + timedelta(days=n)) for n in range(5)]
    put = cli(
        "calendars", "put", collection, "off", "--weekday", "Saturday", "--weekday", "Sunday",
        "--date", days[1], "-o", "json",
    )  # fmt: skip
    assert put.code == 0, put.stderr
    assert put.json()["properties"]["weekDays"] == ["Sunday", "Saturday"]
    created = cli(
        "jobs", "create", collection, "workdays", "--uri", UNREACHABLE, "--retry-type", "None",
        "--start", f"{days[0]}T00:00:00Z", "--cron", "0 9 * * *", "--calendar", "off",
        "--on-holiday", "next", "-o", "json",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    assert created.json()["properties"]["recurrence"]["calendar"] == {
        "name": "off",
        "onHoliday": "next",
    }
    served = api.get(f"/{collection}/jobs/workdays/preview", params={"$top": "4"})
    assert served.status_code == 200, served.text
    # Monday; Tuesday (listed) rolls onto Wednesday's own run; then Thursday, Friday.
    assert served.json()["value"] == [f"{days[n]}T09:00:00Z" for n in (0, 2, 3, 4)]
    described = cli("jobs", "get", collection, "workdays")
    assert "holidays moved to the next business day (calendar off)" in " ".join(
        described.stdout.split()
    )
    shown = cli("calendars", "get", collection, "OFF")
    assert shown.code == 0, shown.stderr
    assert "workdays" in shown.stdout
    assert days[1] in shown.stdout
    listed = cli("calendars", "list", collection, "-o", "json")
    assert [item["name"] for item in listed.json()["value"]] == [f"{collection}/off"]
    in_use = cli("calendars", "delete", collection, "off")
    assert in_use.code != 0
    assert "followed by 1 job" in in_use.stderr
    bad = cli("calendars", "put", collection, "off", "--date", "2030-02-30")
    assert bad.code != 0
    assert "dates[0]" in bad.stderr
    lonely = cli("jobs", "create", collection, "x", "--uri", UNREACHABLE, "--frequency", "Hour",
                 "--on-holiday", "next")  # fmt: skip
    assert lonely.code != 0
    assert "--on-holiday needs --calendar" in lonely.stderr
