"""``jobclock jobs create|update|get`` with the retry, timeout, signing and template options,
against the real server process (the fixtures of ``test_rest_cli``).

Each option is read back through the API as the server stored it; a signed, templated job
is run once at a receiver on 127.0.0.1 that checks its signature with the
``standardwebhooks`` library, which proves the keys the CLI sent (the API never shows them).
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.cli.test_rest_cli import UNREACHABLE, Cli, Result, api, cli, in_days, server

__all__ = ["api", "cli", "server"]  # the real server's fixtures


def signing_key() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def one_line(result: Result) -> str:
    assert result.code == 0, result.stderr
    return " ".join(result.stdout.split())


@pytest.fixture(scope="module")
def collection(api: httpx.Client) -> str:
    # Unlimited: retries may be as close as a second apart.
    body = {"location": "West US", "properties": {"sku": {"name": "Unlimited"}}}
    response = api.put("/options-jc", json=body)
    assert response.status_code == 201, response.text
    return "options-jc"


def stored(api: httpx.Client, collection: str, job: str) -> dict[str, Any]:
    response = api.get(f"/{collection}/jobs/{job}")
    assert response.status_code == 200, response.text
    properties: dict[str, Any] = response.json()["properties"]
    return properties


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int
    hits: list[Hit] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for_one(self) -> Hit:
        deadline = time.monotonic() + 15
        while not self.hits:
            assert time.monotonic() < deadline, "the receiver got nothing within 15 s"
            time.sleep(0.05)
        return self.hits[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 that records what it receives and answers 200."""
    hits: list[Hit] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            hits.append(Hit(self.path, headers, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(http.server_address[1], hits)
    finally:
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)


def test_exponential_retry_max_age_and_attempt_timeout_are_stored_shown_and_patched(
    cli: Cli, api: httpx.Client, collection: str
) -> None:
    created = cli(
        "jobs", "create", collection, "backoff", "--uri", UNREACHABLE, "--frequency", "Day",
        "--retry-type", "Exponential", "--retry-interval", "PT10S", "--retry-count", "5",
        "--max-interval", "PT5M", "--max-age", "PT1H", "--attempt-timeout", "PT2M",
        "-o", "json",
    )  # fmt: skip
    assert created.json()["properties"]["action"]["retryPolicy"] == {
        "retryType": "Exponential",
        "retryInterval": "PT10S",
        "retryCount": 5,
        "maxInterval": "PT5M",
        "maxAge": "PT1H",
    }
    properties = stored(api, collection, "backoff")
    assert properties["attemptTimeout"] == "PT2M"
    assert properties["action"] == created.json()["properties"]["action"]
    shown = one_line(cli("jobs", "get", collection, "backoff"))
    assert (
        "Retry Exponential, up to 5 retries, from 10 seconds doubling to at most 5 minutes, "
        "with jitter; giving up after 1 hour" in shown
    )
    assert "Attempt timeout PT2M" in shown

    # update is a PATCH: the new maxAge and timeout merge into what is stored.
    updated = cli(
        "jobs", "update", collection, "backoff", "--max-age", "PT30M",
        "--attempt-timeout", "PT5M", "-o", "json",
    )  # fmt: skip
    body = updated.json()["properties"]
    assert body["action"]["retryPolicy"]["maxAge"] == "PT30M"
    assert body["action"]["retryPolicy"]["maxInterval"] == "PT5M"
    assert body["attemptTimeout"] == "PT5M"
    # Back to Fixed: maxInterval (Exponential's only) goes, maxAge stays.
    fixed = cli("jobs", "update", collection, "backoff", "--retry-type", "Fixed", "-o", "json")
    assert fixed.json()["properties"]["action"]["retryPolicy"] == {
        "retryType": "Fixed",
        "retryInterval": "PT10S",
        "retryCount": 5,
        "maxAge": "PT30M",
    }
    shown = one_line(cli("jobs", "get", collection, "backoff"))
    assert "Retry Fixed, 5 retries every PT10S; giving up after 30 minutes" in shown


def test_default_retry_and_timeout_are_described(cli: Cli, collection: str) -> None:
    default, exponential = cli.many(
        [
            ["jobs", "create", collection, "plain", "--uri", UNREACHABLE, "--frequency", "Day"],
            [
                "jobs", "create", collection, "capped", "--uri", UNREACHABLE,
                "--frequency", "Day", "--retry-type", "Exponential",
            ],
        ]
    )  # fmt: skip
    assert "Attempt timeout PT60S (default)" in one_line(default)
    assert (
        "Exponential, up to 4 retries, from 30 seconds doubling to at most 1 hour, with jitter"
        in one_line(exponential)
    )


def test_bad_retry_and_timeout_options_are_refused(cli: Cli, collection: str) -> None:
    timeout, max_interval, shorter = cli.many(
        [
            [
                "jobs", "create", collection, "slow", "--uri", UNREACHABLE,
                "--attempt-timeout", "PT31M",
            ],
            [
                "jobs", "create", collection, "fixed", "--uri", UNREACHABLE,
                "--max-interval", "PT5M",
            ],
            [
                "jobs", "create", collection, "short", "--uri", UNREACHABLE,
                "--retry-type", "Exponential", "--retry-interval", "PT1M",
                "--max-interval", "PT30S",
            ],
        ]
    )  # fmt: skip
    assert timeout.code == 2  # the server's 400
    assert timeout.one_error_line() == (
        "jobclock: 'properties.attemptTimeout' is PT31M; it must be between 1 second and "
        "30 minutes. (BadRequest)"
    )
    assert max_interval.code == 2
    assert "--max-interval needs --retry-type Exponential." in max_interval.stderr
    assert shorter.code == 2
    assert "'properties.action.retryPolicy.maxInterval' is PT30S, shorter than" in (
        shorter.one_error_line()
    )


def test_template_applies_to_every_payload_type_and_no_template_removes_it(
    cli: Cli, api: httpx.Client, collection: str
) -> None:
    day = '{{ scheduledTime | add("-P1D") | format("%Y-%m-%d") }}'
    common = ["--frequency", "Day", "--template", "-o", "json"]
    results = cli.many(
        [
            ["jobs", "create", collection, "t-http", "--uri", UNREACHABLE + day, *common],
            [
                "jobs", "create", collection, "t-queue", "--storage-account", "acct",
                "--queue-name", "q", "--sas-token", "sv=1&sig=x", "--body", day, *common,
            ],
            [
                "jobs", "create", collection, "t-sbq", "--namespace", "ns", "--queue-name", "q",
                "--body", day, *common,
            ],
            [
                "jobs", "create", collection, "t-sbt", "--namespace", "ns", "--topic-path", "t",
                "--body", day, *common,
            ],
            [
                "jobs", "create", collection, "t-amqp", "--uri", "amqp://127.0.0.1:9/",
                "--routing-key", "r", "--body", day, *common,
            ],
        ]
    )  # fmt: skip
    payloads = {
        "t-http": "request",
        "t-queue": "queueMessage",
        "t-sbq": "serviceBusQueueMessage",
        "t-sbt": "serviceBusTopicMessage",
        "t-amqp": "amqpMessage",
    }
    for (job, key), result in zip(payloads.items(), results, strict=True):
        assert result.code == 0, result.stderr
        action = stored(api, collection, job)["action"]
        assert action[key]["template"] is True, job
    shown = cli.many([["jobs", "get", collection, job] for job in payloads])
    assert all("Template templated" in one_line(result) for result in shown)

    updated = cli("jobs", "update", collection, "t-queue", "--no-template", "-o", "json")
    assert "template" not in updated.json()["properties"]["action"]["queueMessage"]
    message = stored(api, collection, "t-queue")["action"]["queueMessage"]
    assert message == {"storageAccount": "acct", "queueName": "q", "message": day}
    assert "Template —" in one_line(cli("jobs", "get", collection, "t-queue"))
    lonely = cli("jobs", "update", collection, "t-http", "--no-template", "--json", "-")
    assert lonely.code == 2
    assert "--json cannot be combined with --template" in lonely.stderr


def test_signing_keys_are_sent_never_shown_and_verify_at_the_receiver(
    cli: Cli, api: httpx.Client, collection: str, receiver: Receiver
) -> None:
    new, old, newer = signing_key(), signing_key(), signing_key()
    created = cli(
        "jobs", "create", collection, "signed", "--method", "POST",
        "--uri", receiver.url('/hook/{{ scheduledTime | format("%Y") }}'),
        "--header", "Content-Type=text/plain", "--body", "job {{ job }}",
        "--template", "--signing-secret", new, "--previous-signing-secret", old,
        "--retry-type", "None", "--start", in_days(30), "-o", "json",
    )  # fmt: skip
    assert created.code == 0, created.stderr
    request = stored(api, collection, "signed")["action"]["request"]
    assert request["signing"] == {}
    assert request["template"] is True
    assert created.json()["properties"]["action"]["request"] == request
    shown = cli("jobs", "get", collection, "signed")
    assert "Signing signed (Standard Webhooks)" in one_line(shown)
    assert "Template templated" in one_line(shown)

    run = cli("jobs", "run", collection, "signed")
    assert run.code == 0, run.stderr
    hit = receiver.wait_for_one()
    assert hit.path.startswith("/hook/20")
    assert hit.body == b"job signed"
    for key in (new, old):  # the CLI sent both keys of the rotation
        Webhook(key).verify(hit.body, hit.headers, json_parse=False)

    # update PATCHes the keys: the current one changes, signing stays on; then it goes.
    rotated = cli("jobs", "update", collection, "signed", "--signing-secret", newer)
    request = stored(api, collection, "signed")["action"]["request"]
    assert request["signing"] == {}
    assert request["template"] is True
    unsigned = cli("jobs", "update", collection, "signed", "--no-signing", "-o", "json")
    assert "signing" not in unsigned.json()["properties"]["action"]["request"]
    bad = cli("jobs", "create", collection, "bad-key", "--uri", UNREACHABLE,
              "--signing-secret", "whsec_" + "A" * 8)  # fmt: skip
    assert bad.code == 2
    assert "must be a Standard Webhooks key" in bad.one_error_line()
    listed = cli.many(
        [["jobs", "list", collection, "-o", "json"], ["jobs", "get", collection, "signed"]]
    )
    for result in (created, shown, run, rotated, unsigned, bad, *listed):
        for key in (new, old, newer, "A" * 8):
            assert key not in result.stdout
            assert key not in result.stderr


def test_signing_options_need_an_http_action(cli: Cli, collection: str) -> None:
    key = signing_key()
    queue, previous_only, both = cli.many(
        [
            [
                "jobs", "create", collection, "q-signed", "--storage-account", "acct",
                "--queue-name", "q", "--sas-token", "sv=1&sig=x", "--signing-secret", key,
            ],
            [
                "jobs", "create", collection, "half", "--uri", UNREACHABLE,
                "--previous-signing-secret", key,
            ],
            [
                "jobs", "update", collection, "whatever", "--type", "Http",
                "--signing-secret", key, "--no-signing",
            ],
        ]
    )  # fmt: skip
    assert queue.code == 2
    assert queue.one_error_line() == (
        "jobclock: --signing-secret does not apply to an action of type StorageQueue; "
        "--type changes the type."
    )
    assert previous_only.code == 2
    assert "--previous-signing-secret needs --signing-secret." in previous_only.stderr
    assert both.code == 2
    assert "--no-signing cannot be combined with --signing-secret" in both.stderr
    for result in (queue, previous_only, both):
        assert key not in result.stdout + result.stderr
