"""``jobclock notifications put|get|list|delete|history`` and ``jobs create|update
--expect-run-within`` against the real server process (the fixtures of ``test_rest_cli``).

A job that fails sends its events to a receiver on 127.0.0.1, which checks their signatures
with the ``standardwebhooks`` library: that proves the keys the CLI sent, and that a ``put``
without signing options kept them (the API never shows a key, and neither does the CLI).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.cli.test_rest_cli import UNREACHABLE, Cli, Result, api, cli, in_days, server
from tests.e2e.harness import Target, wait_for

__all__ = ["api", "cli", "server"]  # the real server's fixtures

EVENTS = ["job.failed", "job.faulted", "occurrence.late", "occurrence.missed"]


def signing_key() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def one_line(result: Result) -> str:
    assert result.code == 0, result.stderr
    return " ".join(result.stdout.split())


def no_key_in(results: list[Result], *keys: str) -> None:
    for result in results:
        for key in keys:
            for text in (key, key.removeprefix("whsec_")):
                assert text not in result.stdout
                assert text not in result.stderr


@pytest.fixture(scope="module")
def collection(api: httpx.Client) -> str:
    body = {"location": "West US", "properties": {"sku": {"name": "Unlimited"}}}
    response = api.put("/notify-jc", json=body)
    assert response.status_code == 201, response.text
    return "notify-jc"


@pytest.fixture
def target() -> Iterator[Target]:
    receiver = Target()
    try:
        yield receiver
    finally:
        receiver.close()


def endpoint(api: httpx.Client, collection: str, name: str) -> dict[str, Any]:
    response = api.get(f"/{collection}/notifications/{name}")
    assert response.status_code == 200, response.text
    properties: dict[str, Any] = response.json()["properties"]
    return properties


def test_put_get_list_history_and_delete_keeping_the_keys_unseen(
    cli: Cli, api: httpx.Client, collection: str, target: Target
) -> None:
    new, old = signing_key(), signing_key()
    created = cli(
        "notifications", "put", collection, "ops", "--uri", target.url("/hook"),
        "--event", "job.failed", "--event", "JOB.FAULTED", "--late-after", "PT5M",
        "--signing-secret", new, "--previous-signing-secret", old, "-o", "json",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    expected = {
        "uri": target.url("/hook"),
        "events": ["job.failed", "job.faulted"],
        "lateAfter": "PT5M",
        "signing": {},
    }
    assert created.json()["properties"] == expected
    assert created.json()["name"] == f"{collection}/ops"
    assert endpoint(api, collection, "ops") == expected
    shown, listed, table = cli.many(
        [
            ["notifications", "get", collection, "OPS"],
            ["notifications", "list", collection, "-o", "json"],
            ["notifications", "list", collection],
        ]
    )
    described = one_line(shown)
    assert f"URI {target.url('/hook')}" in described
    assert "Events job.failed, job.faulted" in described
    assert "Late after PT5M" in described
    assert "Signing signed (Standard Webhooks)" in described
    assert [item["name"] for item in listed.json()["value"]] == [f"{collection}/ops"]
    assert "ops" in table.stdout
    assert "signed" in table.stdout

    # A put without signing options keeps the stored keys: the events of a failing job
    # verify under both.
    replaced = cli(
        "notifications", "put", collection, "ops", "--uri", target.url("/hook"),
        "--event", "job.failed", "--event", "job.faulted", "-o", "json",
    )  # fmt: skip
    assert replaced.json()["properties"] == expected | {"lateAfter": "PT1M"}
    start = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    failing = cli(
        "jobs", "create", collection, "fails", "--uri", UNREACHABLE, "--retry-type", "None",
        "--start", start,
    )  # fmt: skip
    assert failing.code == 0, failing.stderr
    received = target.wait_for(2, "/hook", timeout=20)
    assert sorted(json.loads(item.body)["type"] for item in received) == [
        "job.failed",
        "job.faulted",
    ]
    for item in received:
        for key in (new, old):
            Webhook(key).verify(item.body, item.headers, json_parse=False)

    def delivered() -> list[dict[str, Any]] | None:
        page = cli("notifications", "history", collection, "ops", "-o", "json").json()
        done = [item for item in page["value"] if item["status"] == "delivered"]
        return page["value"] if len(done) == 2 else None

    deliveries = wait_for(delivered, "two deliveries in the history", timeout=15)
    assert {item["eventType"] for item in deliveries} == {"job.failed", "job.faulted"}
    assert all(item["job"] == "fails" and item["attempts"] == 1 for item in deliveries)
    assert {item["event"]["id"] for item in deliveries} == {d["eventId"] for d in deliveries}
    history = cli("notifications", "history", collection, "ops")
    text = one_line(history)
    for shown_text in ("job.failed", "job.faulted", "delivered", "1 try", "fails", "Http Action"):
        assert shown_text in text
    assert "Next attempt" not in text  # none is still being tried

    # --no-signing drops the keys; delete removes the endpoint.
    unsigned = cli(
        "notifications", "put", collection, "ops", "--uri", target.url("/hook"), "--no-signing",
        "-o", "json",
    )  # fmt: skip
    assert unsigned.json()["properties"] == {
        "uri": target.url("/hook"),
        "events": EVENTS,
        "lateAfter": "PT1M",
    }
    assert "Signing unsigned" in one_line(cli("notifications", "get", collection, "ops"))
    deleted = cli("notifications", "delete", collection, "ops")
    assert deleted.code == 0, deleted.stderr
    assert deleted.stdout.strip() == (
        f"Deleted notification endpoint 'ops' of job collection '{collection}'."
    )
    gone = cli("notifications", "get", collection, "ops")
    assert gone.code == 3
    assert "No notification endpoints." in cli("notifications", "list", collection).stdout
    no_key_in(
        [created, shown, listed, table, replaced, failing, history, unsigned, deleted, gone],
        new,
        old,
    )


def test_a_body_from_a_file_and_an_empty_history(cli: Cli, collection: str, tmp_path: Path) -> None:
    body = tmp_path / "endpoint.json"
    body.write_text(
        json.dumps(
            {"properties": {"uri": "https://hooks.example/a", "events": ["occurrence.missed"]}}
        )
    )
    put = cli("notifications", "put", collection, "from-file", "--json", str(body), "-o", "json")
    assert put.json()["properties"] == {
        "uri": "https://hooks.example/a",
        "events": ["occurrence.missed"],
        "lateAfter": "PT1M",
    }
    history, mixed = cli.many(
        [
            ["notifications", "history", collection, "from-file"],
            ["notifications", "put", collection, "x", "--json", str(body), "--uri", "https://a/"],
        ]
    )
    assert history.stdout.strip() == "No events sent to notification endpoint 'from-file'."
    assert mixed.code == 2
    assert "--json cannot be combined with --uri" in mixed.stderr


def test_refusals_are_one_line_with_their_exit_codes(
    cli: Cli, api: httpx.Client, collection: str
) -> None:
    key = signing_key()
    missing, history, delete, half, late, bad_key, ftp, no_uri, both = cli.many(
        [
            ["notifications", "get", collection, "nope"],
            ["notifications", "history", collection, "nope"],
            ["notifications", "delete", collection, "nope"],
            # Only the server knows there is no stored secret to keep: its 400.
            [
                "notifications", "put", collection, "half", "--uri", "https://hooks.example/h",
                "--previous-signing-secret", key,
            ],
            [
                "notifications", "put", collection, "late", "--uri", "https://hooks.example/l",
                "--late-after", "P2D",
            ],
            [
                "notifications", "put", collection, "bad-key", "--uri", "https://hooks.example/b",
                "--signing-secret", "whsec_" + "A" * 8,
            ],
            ["notifications", "put", collection, "ftp", "--uri", "ftp://hooks.example/f"],
            ["notifications", "put", collection, "no-uri", "--event", "job.failed"],
            [
                "notifications", "put", collection, "both", "--uri", "https://hooks.example/2",
                "--signing-secret", key, "--no-signing",
            ],
        ]
    )  # fmt: skip
    not_found = (
        f"jobclock: The Resource 'Microsoft.Scheduler/jobcollections/{collection}/"
        "notifications/nope' under resource group 'default' was not found. (ResourceNotFound)"
    )
    for result in (missing, history, delete):
        assert result.code == 3
        assert result.one_error_line() == not_found
    assert half.code == 2
    assert half.one_error_line() == (
        "jobclock: 'properties.signing.secret' is required. (BadRequest)"
    )
    assert late.code == 2
    assert late.one_error_line() == (
        "jobclock: 'properties.lateAfter' is P2D; it must be between 1 second and 1 day."
    )
    assert bad_key.code == 2
    assert "must be a Standard Webhooks key" in bad_key.one_error_line()
    assert ftp.code == 2
    assert "must be an absolute http or https URL" in ftp.one_error_line()
    assert no_uri.code == 2
    assert "--uri is required" in no_uri.stderr
    assert both.code == 2
    assert "--no-signing cannot be combined with --signing-secret" in both.stderr
    no_key_in([half, bad_key, both], key, "A" * 8)
    for name in ("half", "late", "bad-key", "ftp", "no-uri", "both"):
        assert api.get(f"/{collection}/notifications/{name}").status_code == 404

    # At most 10 endpoints a collection: the 11th is the server's 409.
    existing = len(api.get(f"/{collection}/notifications").json()["value"])
    for number in range(existing, 10):
        made = api.put(
            f"/{collection}/notifications/e{number}",
            json={"properties": {"uri": f"https://hooks.example/{number}"}},
        )
        assert made.status_code == 201, made.text
    full = cli("notifications", "put", collection, "eleventh", "--uri", "https://hooks.example/x")
    assert full.code == 6
    assert full.one_error_line() == (
        f"jobclock: The job collection '{collection}' has at most 10 notification endpoints. "
        "(Conflict)"
    )
    for number in range(existing, 10):
        assert api.delete(f"/{collection}/notifications/e{number}").status_code == 200


def test_expect_run_within_is_sent_shown_and_patched(
    cli: Cli, api: httpx.Client, collection: str
) -> None:
    created, plain = cli.many(
        [
            [
                "jobs", "create", collection, "watched", "--uri", UNREACHABLE,
                "--frequency", "Day", "--start", in_days(30), "--expect-run-within", "PT26H",
                "-o", "json",
            ],
            [
                "jobs", "create", collection, "unwatched", "--uri", UNREACHABLE,
                "--frequency", "Day", "--start", in_days(30),
            ],
        ]
    )  # fmt: skip
    assert created.json()["properties"]["expectRunWithin"] == "PT26H"
    stored = api.get(f"/{collection}/jobs/watched").json()["properties"]
    assert stored["expectRunWithin"] == "PT26H"
    assert "Expect run within PT26H (1 day 2 hours)" in one_line(
        cli("jobs", "get", collection, "watched")
    )
    assert "Expect run within —" in one_line(plain)
    updated = cli(
        "jobs", "update", collection, "watched", "--expect-run-within", "P2D", "-o", "json"
    )  # fmt: skip
    properties = updated.json()["properties"]
    assert properties["expectRunWithin"] == "P2D"
    assert properties["recurrence"] == stored["recurrence"]  # a PATCH: the rest kept
    short, junk = cli.many(
        [
            ["jobs", "update", collection, "watched", "--expect-run-within", "PT30S"],
            [
                "jobs", "create", collection, "junk", "--uri", UNREACHABLE,
                "--expect-run-within", "soon",
            ],
        ]
    )  # fmt: skip
    assert short.code == 2
    assert short.one_error_line() == (
        "jobclock: 'properties.expectRunWithin' is PT30S; it must be between 1 minute and "
        "18 months. (BadRequest)"
    )
    assert junk.code == 2
    assert "--expect-run-within" in junk.stderr
    assert api.get(f"/{collection}/jobs/watched").json()["properties"]["expectRunWithin"] == "P2D"
