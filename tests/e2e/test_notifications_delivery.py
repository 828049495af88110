"""The real server sends CloudEvents for a failed job to a real receiver on 127.0.0.1,
signed, verified there with the ``standardwebhooks`` library; the endpoint's history
shows the delivery, and its keys never come back."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e.harness import Api, Reply, RunningServer, Target, http_action, unique, wait_for


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.close()


def _soon(seconds: float = 1.5) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_failed_job_is_announced_as_a_signed_cloudevent(
    api: Api, server: RunningServer, target: Target
) -> None:
    collection = unique("notify")
    api.create_collection(collection)
    key = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    endpoint = f"{api.collection_path(collection)}/notifications/ops"
    body = {
        "properties": {
            "uri": target.url("/events"),
            "events": ["job.failed", "job.faulted"],
            "signing": {"secret": key},
        }
    }
    created = api.put(endpoint, body)
    assert created.status_code == 201, created.text
    shown = api.get(endpoint).json()
    assert shown["properties"]["signing"] == {}
    assert key not in json.dumps(shown)
    target.reply("/broken", Reply(503))
    api.create_job(
        collection, "nightly", {"startTime": _soon(), "action": http_action(target.url("/broken"))}
    )
    received = target.wait_for(2, "/events")
    events = {}
    for request in received:
        assert request.headers["content-type"].startswith("application/cloudevents+json")
        Webhook(key).verify(request.body, request.headers, json_parse=False)
        event = json.loads(request.body)
        assert request.headers["webhook-id"] == event["id"]
        events[event["type"]] = event
    assert set(events) == {"job.failed", "job.faulted"}
    failed = events["job.failed"]
    assert failed["specversion"] == "1.0"
    assert failed["subject"] == "nightly"
    assert failed["source"].endswith(f"/jobCollections/{collection}/jobs/nightly")
    assert "Service Unavailable" in failed["data"]["message"]

    def delivered() -> list[dict[str, object]] | None:
        history = api.get(f"{endpoint}/history").json()["value"]
        done = [item for item in history if item["status"] == "delivered"]
        return history if len(done) == 2 else None

    history = wait_for(delivered, "both deliveries recorded")
    assert {item["eventType"] for item in history} == {"job.failed", "job.faulted"}
    assert key not in server.log()
