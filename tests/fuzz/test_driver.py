"""The fuzzer's own safety: every address a generated job could reach is on 127.0.0.1."""

from __future__ import annotations

import re
from typing import Any

from jobclock.api import create_app
from jobclock.api.arm import COLLECTION
from tests.fuzz.driver import local_document, server_env


def _document() -> dict[str, Any]:
    service: Any = object()  # the routes only read it when called
    document: dict[str, Any] = create_app(service, "fuzz-token-1234").openapi()
    return document


def _targets(value: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(value, dict):
        properties = value.get("properties")
        if isinstance(properties, dict):
            for key in ("uri", "url"):
                if isinstance(properties.get(key), dict):
                    found.append(properties[key])
        for item in value.values():
            found.extend(_targets(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_targets(item))
    return found


def test_every_job_target_of_the_fuzzed_document_is_a_closed_local_port() -> None:
    document = _document()
    local = local_document(document, 9)
    bodies = [
        operation["requestBody"]
        for item in local["paths"].values()
        for operation in item.values()
        if "requestBody" in operation
    ]
    targets = _targets(bodies)
    # Http, Https and Amqp, in the main action and in the error action of each of its six
    # types, of a job's PUT and PATCH and of the collection's preview of a job body; and a
    # notification endpoint's uri.
    assert len(targets) == 3 * (1 + 6) * 3 + 1
    for target in targets:
        assert set(target) == {"type", "pattern"}, target
        assert re.match(r"\^(https\?|amqps\?)://127\\\.0\\\.0\\\.1:9/", target["pattern"])
    # The document served is untouched.
    put_job = document["paths"][f"{COLLECTION}/jobs/{{jobName}}"]["put"]
    assert "127" not in str(put_job["requestBody"])


def test_every_endpoint_an_action_derives_from_a_name_is_local() -> None:
    for name, value in server_env(9).items():
        if name.endswith(("_ENDPOINT", "_AUTHORITY")):
            assert "//127.0.0.1:9" in value, name
    assert server_env(9)["JOBCLOCK_OUTBOUND_ALLOW"] == "127.0.0.0/8"
