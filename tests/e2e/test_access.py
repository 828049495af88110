"""Tokens with roles and the audit trail, against the real server process (issue 11).

Tokens are made with the real ``jobclock tokens`` console script, the way an admin makes
them; each role is then tried over HTTP on every kind of operation, and what the database
file keeps is read back to show that no token secret or job password is in it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import (
    API_VERSION,
    TOKEN,
    RunningServer,
    _environment,
    jobclock_executable,
    start_server,
    stop_server,
)

ARM = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Scheduler/jobCollections"
# A daily job whose first run is a year away: nothing fires during the test.
START = (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
PASSWORD = "p4ss-w0rd-that-must-never-show"  # noqa: S105 - a test job's secret


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("access"))
    try:
        yield running
    finally:
        stop_server(running)


def cli(server: RunningServer, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    env = _environment() | {
        "JOBCLOCK_URL": server.base_url,
        "JOBCLOCK_TOKEN": token,
        "COLUMNS": "300",  # tables on one line each
    }
    return subprocess.run(
        [str(jobclock_executable()), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def create_token(server: RunningServer, name: str, role: str) -> str:
    done = cli(server, "tokens", "create", name, "--role", role)
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip().splitlines()[-1]
    assert secret.startswith("jc_"), done.stdout
    return secret


def call(
    server: RunningServer, token: str, method: str, path: str, body: Any = None
) -> httpx.Response:
    url = httpx.URL(server.base_url + path)
    return httpx.request(
        method,
        url.copy_merge_params({"api-version": API_VERSION}),
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def job_body(state: str = "Enabled") -> dict[str, Any]:
    return {
        "properties": {
            "state": state,
            "action": {
                "type": "Http",
                "request": {
                    "uri": "http://127.0.0.1:9/",
                    "method": "GET",
                    "authentication": {"type": "Basic", "username": "u", "password": PASSWORD},
                },
            },
            "recurrence": {"frequency": "Day", "interval": 1},
            "startTime": START,
        }
    }


@pytest.fixture(scope="module")
def tokens(server: RunningServer) -> dict[str, str]:
    collection = call(server, TOKEN, "PUT", f"{ARM}/jc", {"location": "West US", "properties": {}})
    assert collection.status_code in (200, 201), collection.text
    job = call(server, TOKEN, "PUT", f"{ARM}/jc/jobs/seed", job_body())
    assert job.status_code in (200, 201), job.text
    return {
        role: create_token(server, f"{role}-1", role) for role in ("reader", "operator", "admin")
    }


def test_a_token_is_shown_once_and_kept_only_as_a_digest(
    server: RunningServer, tokens: dict[str, str]
) -> None:
    listed = cli(server, "tokens", "list", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    names = {item["name"]: item for item in json.loads(listed.stdout)["value"]}
    assert {"reader-1", "operator-1", "admin-1"} <= set(names)
    assert names["reader-1"]["role"] == "reader"
    assert names["reader-1"]["createdBy"] == "admin"
    for token in tokens.values():
        assert token not in listed.stdout
        assert _secret_part(token) not in listed.stdout
    raw = server.db_path.read_bytes() + _wal(server.db_path)
    for token in tokens.values():
        assert _secret_part(token).encode() not in raw
    assert PASSWORD.encode() not in raw


def _secret_part(token: str) -> str:
    """The secret of ``jc_<id>_<secret>``; the secret itself may hold underscores."""
    prefix, token_id, secret = token.split("_", 2)
    assert (prefix, len(token_id)) == ("jc", 16)
    assert len(secret) >= 40
    return secret


def _wal(db_path: Path) -> bytes:
    wal = db_path.with_name(db_path.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("reader", {"read"}),
        ("operator", {"read", "run", "enable", "patch-state"}),
        ("admin", {"read", "run", "enable", "patch-state", "put", "patch-other", "delete"}),
    ],
)
def test_each_role_may_do_what_it_grants_and_nothing_more(
    server: RunningServer, tokens: dict[str, str], role: str, allowed: set[str]
) -> None:
    token = tokens[role]
    name = f"job-{role}"
    assert call(server, TOKEN, "PUT", f"{ARM}/jc/jobs/{name}", job_body()).status_code in (200, 201)
    attempts = {
        "read": ("GET", f"{ARM}/jc/jobs/{name}", None),
        "run": ("POST", f"{ARM}/jc/jobs/{name}/run", None),
        "enable": ("POST", f"{ARM}/jc/enable", None),
        "patch-state": ("PATCH", f"{ARM}/jc/jobs/{name}", {"properties": {"state": "Disabled"}}),
        "put": ("PUT", f"{ARM}/jc/jobs/{name}-new", job_body()),
        "patch-other": (
            "PATCH",
            f"{ARM}/jc/jobs/{name}",
            {"properties": {"recurrence": {"frequency": "Day", "interval": 2}}},
        ),
        "delete": ("DELETE", f"{ARM}/jc/jobs/{name}", None),
    }
    for kind, (method, path, body) in attempts.items():
        answer = call(server, token, method, path, body)
        if kind in allowed:
            assert answer.status_code < 400, (kind, answer.status_code, answer.text)
            continue
        assert answer.status_code == 403, (kind, answer.status_code, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "AuthorizationFailed"
        assert f"'{role}-1' (role '{role}')" in error["message"]
        assert "Microsoft.Scheduler/jobCollections" in error["message"]
    # A refused write stored nothing.
    if "put" not in allowed:
        assert call(server, TOKEN, "GET", f"{ARM}/jc/jobs/{name}-new").status_code == 404
    if "delete" not in allowed:
        assert call(server, TOKEN, "GET", f"{ARM}/jc/jobs/{name}").status_code == 200


def test_only_an_admin_manages_tokens_and_reads_the_audit(
    server: RunningServer, tokens: dict[str, str]
) -> None:
    for role in ("reader", "operator"):
        for method, path, body in (
            ("GET", "/jobclock/tokens", None),
            ("POST", "/jobclock/tokens", {"name": "sneaky", "role": "admin"}),
            ("GET", "/jobclock/audit", None),
        ):
            answer = call(server, tokens[role], method, path, body)
            assert answer.status_code == 403, (role, path, answer.text)
            assert answer.json()["error"]["code"] == "AuthorizationFailed"
    assert call(server, tokens["admin"], "GET", "/jobclock/tokens").status_code == 200
    refused = cli(server, "tokens", "list", token=tokens["reader"])
    assert refused.returncode == 5, refused.stderr
    assert "AuthorizationFailed" in refused.stderr


def test_bad_token_requests_are_refused_clearly(
    server: RunningServer, tokens: dict[str, str]
) -> None:
    for body, word in (
        ({"name": "x", "role": "root"}, "role"),
        ({"name": "9starts-with-a-digit", "role": "reader"}, "name"),
        ({"name": "admin", "role": "reader"}, "reserved"),
        ({"name": "y", "role": "reader", "scope": "all"}, "scope"),
        ([1, 2], "object"),
    ):
        answer = call(server, TOKEN, "POST", "/jobclock/tokens", body)
        assert answer.status_code == 400, (body, answer.text)
        assert word in answer.json()["error"]["message"]
    taken = call(server, TOKEN, "POST", "/jobclock/tokens", {"name": "reader-1", "role": "admin"})
    assert taken.status_code == 409
    # The existing token was not replaced.
    assert call(server, tokens["reader"], "GET", f"{ARM}/jc").status_code == 200
    missing = cli(server, "tokens", "revoke", "nobody")
    assert missing.returncode == 3, missing.stderr


def test_a_revoked_token_is_refused_at_once(server: RunningServer) -> None:
    secret = create_token(server, "short-lived", "operator")
    assert call(server, secret, "GET", f"{ARM}/jc").status_code == 200
    revoked = cli(server, "tokens", "revoke", "short-lived")
    assert revoked.returncode == 0, revoked.stderr
    answer = call(server, secret, "GET", f"{ARM}/jc")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "AuthenticationFailed"
    # A token of the right shape with a wrong secret is refused like any other.
    forged = secret[: secret.rindex("_") + 1] + "A" * 43
    assert call(server, forged, "GET", f"{ARM}/jc").status_code == 401


def test_every_write_is_audited_with_who_what_when_and_outcome_and_no_secret(
    server: RunningServer, tokens: dict[str, str]
) -> None:
    path = f"{ARM}/jc/jobs/audited"
    assert call(server, tokens["admin"], "PUT", path, job_body()).status_code in (200, 201)
    assert call(server, tokens["reader"], "DELETE", path).status_code == 403
    assert call(server, tokens["operator"], "POST", path + "/run").status_code < 400
    assert call(server, tokens["reader"], "GET", path).status_code == 200  # a read: not audited
    page = call(server, TOKEN, "GET", "/jobclock/audit", None).json()
    entries = [entry for entry in page["value"] if "/jobs/audited" in entry["resource"]]
    assert [(e["identity"], e["operation"], e["status"], e["outcome"]) for e in entries] == [
        ("operator-1", "Microsoft.Scheduler/jobCollections/jobs/run/action", 200, "succeeded"),
        ("reader-1", "Microsoft.Scheduler/jobCollections/jobs/delete", 403, "failed"),
        ("admin-1", "Microsoft.Scheduler/jobCollections/jobs/write", 201, "succeeded"),
    ]
    assert all(entry["via"] == "api" and entry["time"].endswith("Z") for entry in entries)
    assert all(entry["requestId"] for entry in entries)
    tokens_made = [e for e in page["value"] if e["operation"] == "jobclock/tokens/write"]
    assert {e["identity"] for e in tokens_made if e["status"] == 201} == {"admin"}
    # Made with the CLI, and the audit says so.
    assert {e["via"] for e in tokens_made if e["status"] == 201} == {"cli"}
    # The refused attempts to make one are there too, under the names that tried.
    assert {e["identity"] for e in tokens_made if e["status"] == 403} >= {"reader-1", "operator-1"}
    everything = json.dumps(page)
    assert PASSWORD not in everything
    for secret in tokens.values():
        assert secret not in everything
    listed = cli(server, "audit", "list", "--identity", "reader-1")
    assert listed.returncode == 0, listed.stderr
    assert "jobs/delete" in listed.stdout
    assert "failed (403)" in listed.stdout
    assert "operator-1" not in listed.stdout


def test_the_audit_pages_with_a_next_link(server: RunningServer) -> None:
    for index in range(5):
        body = {"location": "West US", "properties": {}}
        assert call(server, TOKEN, "PUT", f"{ARM}/paged{index}", body).status_code < 300
    first = call(server, TOKEN, "GET", "/jobclock/audit?$top=2").json()
    assert len(first["value"]) == 2
    link = first["nextLink"]
    second = httpx.get(link, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).json()
    assert len(second["value"]) == 2
    assert second["value"][0]["id"] < first["value"][-1]["id"]
    assert [e["resource"] for e in first["value"]] == [f"{ARM}/paged4", f"{ARM}/paged3"]


def test_a_created_token_reads_what_azure_clients_read(
    server: RunningServer, tokens: dict[str, str]
) -> None:
    """The token is only a bearer token: any client that sends one works with it."""
    answer = call(server, tokens["reader"], "GET", f"{ARM}/jc/jobs")
    assert answer.status_code == 200
    assert any(item["name"] == "jc/seed" for item in answer.json()["value"])


def test_an_operators_patch_that_is_not_json_is_refused_not_a_500(
    server: RunningServer, tokens: dict[str, str]
) -> None:
    """The operator's PATCH body is read to tell an enable/disable from an edit."""
    path = f"{ARM}/jc/jobs/seed"
    for body in (b"[" * 60_000, b"\xff\xfe", b'{"properties": {"state": "Disabled"'):
        answer = httpx.patch(
            server.base_url + path,
            params={"api-version": API_VERSION},
            content=body,
            headers={"Authorization": f"Bearer {tokens['operator']}"},
            timeout=30,
        )
        assert answer.status_code == 403, (body[:20], answer.status_code, answer.text)
        assert answer.json()["error"]["code"] == "AuthorizationFailed"
