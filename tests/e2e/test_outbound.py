"""Issue 11 end to end: a job must not call the scheduler's own API (its port on
127.0.0.1) with a bearer token and keep the answer in its history, nor reach cloud metadata.
Refused at PUT when the URI names an address; at connect time on a redirect hop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.harness import (
    API_VERSION,
    Api,
    RunningServer,
    Target,
    http_action,
    running_server,
    unique,
)


@pytest.fixture
def api(server: RunningServer) -> Iterator[Api]:
    client = Api(server)
    try:
        yield client
    finally:
        client.close()


def own_api_uri(api: Api, host: str, collection: str) -> str:
    port = urlsplit(api.server.base_url).port
    return f"http://{host}:{port}{api.collection_path(collection)}?api-version={API_VERSION}"


def stealing_job(uri: str, token: str) -> dict[str, Any]:
    return {"action": http_action(uri, headers={"Authorization": f"Bearer {token}"})}


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "0x7f000001", "2130706433", "[::ffff:127.0.0.1]"]
)
def test_a_job_calling_the_schedulers_own_api_is_refused_at_put(api: Api, host: str) -> None:
    collection, job = unique("self"), unique("thief")
    api.create_collection(collection)

    response = api.put(
        api.job_path(collection, job),
        {"properties": stealing_job(own_api_uri(api, host, collection), api.server.token)},
    )

    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert "this scheduler's own API" in message, message
    assert "outbound requests to it are refused (JOBCLOCK_OUTBOUND_ALLOW changes this)" in message
    assert api.get(api.job_path(collection, job)).status_code == 404


@pytest.mark.parametrize(
    ("uri", "rule"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local (cloud metadata)"),
        ("http://[::ffff:169.254.169.254]/latest/meta-data/", "link-local (cloud metadata)"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("http://100.100.100.200/latest/meta-data/", "cloud metadata"),
        ("http://0/", "unspecified"),
    ],
)
def test_cloud_metadata_and_unspecified_addresses_are_refused_at_put(
    api: Api, uri: str, rule: str
) -> None:
    collection = unique("meta")
    api.create_collection(collection)

    response = api.put(
        api.job_path(collection, unique("job")), {"properties": stealing_job(uri, "x")}
    )

    assert response.status_code == 400, response.text
    assert rule in response.json()["error"]["message"]


def test_an_error_action_is_checked_too(api: Api, target: Target) -> None:
    collection = unique("err")
    api.create_collection(collection)
    properties = {
        "action": {
            **http_action(target.url("/ok")),
            "errorAction": http_action("http://169.254.169.254/"),
        }
    }

    response = api.put(api.job_path(collection, unique("job")), {"properties": properties})

    assert response.status_code == 400, response.text
    assert "errorAction" in response.json()["error"]["message"]


class _Redirector:
    """An HTTP server on 127.0.0.1 that answers every request with 302 to ``location``."""

    def __init__(self, location: str) -> None:
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/go"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_a_redirect_to_the_schedulers_own_api_fails_in_history_without_a_request(
    api: Api,
) -> None:
    collection, job = unique("hop"), unique("thief")
    api.create_collection(collection)
    redirector = _Redirector(own_api_uri(api, "localhost", collection))
    try:
        api.create_job(collection, job, stealing_job(redirector.url, api.server.token))
        [entry] = api.wait_for_history(collection, job, 1)
    finally:
        redirector.close()

    properties = entry["properties"]
    assert redirector.hits == 1
    assert properties["status"] == "Failed", properties
    assert "this scheduler's own API" in properties["message"], properties["message"]
    assert "jobCollections" not in properties["message"]  # the API's answer is not there


def test_the_variables_reach_the_server(tmp_path: Path, target: Target) -> None:
    env = {"JOBCLOCK_OUTBOUND_DENY": "127.0.0.0/8", "JOBCLOCK_OUTBOUND_ALLOW": "127.0.0.1/32"}
    with running_server(tmp_path / "jobclock", env=env) as server:
        api = Api(server)
        try:
            collection = unique("vars")
            api.create_collection(collection)
            refused = api.put(
                api.job_path(collection, unique("job")),
                {"properties": {"action": http_action(target.url("/x").replace("0.0.1", "0.0.2"))}},
            )
            allowed = api.put(
                api.job_path(collection, unique("job")),
                {"properties": {"action": http_action(target.url("/x"))}},
            )
        finally:
            api.close()

    assert refused.status_code == 400, refused.text
    assert "JOBCLOCK_OUTBOUND_DENY (127.0.0.0/8)" in refused.json()["error"]["message"]
    assert allowed.status_code == 201, allowed.text
