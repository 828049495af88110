"""The real server sends a templated, signed request to a real receiver, which verifies it
with the ``standardwebhooks`` library; the keys never come back through the API."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e.harness import Api, RunningServer, Target, unique


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.close()


def _key() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def test_a_templated_signed_request_verifies_at_the_receiver(
    api: Api, server: RunningServer, target: Target
) -> None:
    collection = unique("signed")
    api.create_collection(collection)
    new, old = _key(), _key()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    request = {
        "uri": target.url("/hook/{{ scheduledTime | format('%Y%m%d') }}"),
        "method": "POST",
        "headers": {"Content-Type": "application/json", "X-Job": "{{ job }}"},
        "body": '{"job": {{ job | json }}, "for": "{{ scheduledTime | add(\'-P1D\') | '
        'format(\'%Y-%m-%d\') }}", "attempt": {{ attempt }}}',
        "template": True,
        "signing": {"secret": new, "previousSecret": old},
    }
    action = {"type": "Http", "request": request, "retryPolicy": {"retryType": "None"}}
    api.create_job(
        collection, "nightly", {"startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "action": action}
    )
    shown = api.job(collection, "nightly")["properties"]["action"]["request"]
    assert shown["signing"] == {}
    assert shown["template"] is True
    assert new not in json.dumps(shown)
    [received] = target.wait_for(1, f"/hook/{start:%Y%m%d}")
    for key in (new, old):  # either key of the rotation verifies
        Webhook(key).verify(received.body, received.headers, json_parse=False)
    assert received.headers["x-job"] == "nightly"
    assert received.headers["webhook-id"] == received.headers["x-ms-execution-tag"]
    assert json.loads(received.body) == {
        "job": "nightly",
        "for": f"{start - timedelta(days=1):%Y-%m-%d}",
        "attempt": 0,
    }
    assert new not in server.log()
    assert old not in server.log()


def test_a_put_without_the_key_is_refused_and_the_job_keeps_signing(
    api: Api, target: Target
) -> None:
    """A PUT replaces the whole job (REST): the key is write-only, so a body that echoes
    the GET's ``signing: {}`` is a 400 naming the field, and nothing stored changes."""
    collection = unique("signed")
    api.create_collection(collection)
    key = _key()
    request = {"uri": target.url("/kept"), "method": "POST", "signing": {"secret": key}}
    action = {"type": "Http", "request": request, "retryPolicy": {"retryType": "None"}}
    later = (datetime.now(UTC) + timedelta(days=300)).strftime("%Y-%m-%dT%H:%M:%SZ")
    api.create_job(collection, "kept", {"startTime": later, "action": action})
    body = api.job(collection, "kept")
    body["properties"]["action"]["request"]["body"] = "changed"
    del body["properties"]["status"]
    response = api.put(api.job_path(collection, "kept"), body)
    assert response.status_code == 400, response.text
    assert "signing.secret" in response.json()["error"]["message"]
    run = api.post(api.job_path(collection, "kept") + "/run")
    assert run.status_code in (200, 202), run.text
    [received] = target.wait_for(1, "/kept")
    Webhook(key).verify(received.body, received.headers, json_parse=False)
    assert received.body == b""  # the stored job, unchanged
