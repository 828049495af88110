"""A password in an HTTP action's URI (``http://alice:pw@host/``) is a secret (issue 11):
sealed at rest, left out of GET, list and error messages, kept by a PUT that echoes the
URI back without it, and still sent to the target."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from jobclock.codec.job import job_properties_to_json
from jobclock.domain.actions import uri_without_password
from jobclock.domain.errors import InvalidDefinition
from jobclock.services import CollectionRef, JobRef
from tests.system import System

PASSWORD = "Pw-Sekrit-77"  # noqa: S105 - a test credential
URI = f"http://alice:{PASSWORD}@127.0.0.1:9/hook?x=1"
SHOWN = "http://alice@127.0.0.1:9/hook?x=1"
REF = JobRef(CollectionRef("sub", "rg", "jc"), "j1")


def body(uri: str = URI, error_uri: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "Http", "request": {"uri": uri, "method": "GET"}}
    if error_uri is not None:
        action["errorAction"] = {"type": "Http", "request": {"uri": error_uri, "method": "GET"}}
    return {"properties": {"action": action, "state": "Disabled"}}


def stored_definitions(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "jobclock.db") as conn:
        return [row[0] for row in conn.execute("SELECT definition FROM jobs")]


def shown(system: System) -> list[dict[str, Any]]:
    got = job_properties_to_json(system.run(system.service.get_job(REF)).job)
    page = system.run(system.service.list_jobs(REF.collection, None, None, 0))
    return [got, *(job_properties_to_json(view.job) for view in page.items)]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        pytest.param(URI, SHOWN, id="user-and-password"),
        pytest.param("https://:pw@h/", "https://@h/", id="no-user"),
        pytest.param("http://a:b:c@h:1/p@q", "http://a@h:1/p@q", id="colon-in-password"),
        pytest.param("http://a@b:pw@h/", "http://a@b@h/", id="last-at-ends-userinfo"),
        pytest.param("http://alice@h/", "http://alice@h/", id="no-password"),
        pytest.param("http://alice:@h/", "http://alice:@h/", id="empty-password"),
        pytest.param("http://h/a:b@c", "http://h/a:b@c", id="at-in-path"),
        pytest.param("http://h?a:b@c", "http://h?a:b@c", id="at-in-query"),
    ],
)
def test_uri_without_password(uri: str, expected: str) -> None:
    assert uri_without_password(uri) == expected


def test_password_is_sealed_at_rest_and_left_out_of_get_and_list(
    system: System, tmp_path: Path
) -> None:
    system.collection()
    view, _ = system.run(system.service.put_job(REF, body(URI, URI)))
    answer = job_properties_to_json(view.job)
    for properties in [answer, *shown(system)]:
        assert PASSWORD not in repr(properties)
        assert properties["action"]["request"]["uri"] == SHOWN
        assert properties["action"]["errorAction"]["request"]["uri"] == SHOWN
    [row] = stored_definitions(tmp_path)
    assert PASSWORD not in row
    assert "alice" not in row  # the whole URI is sealed, as other secrets are
    # ...and what the engine runs still carries it.
    definition = system.service.codec.load(row)
    assert definition.action.payload.uri == URI  # type: ignore[union-attr]


def test_put_echoing_the_uri_without_password_keeps_it(system: System, tmp_path: Path) -> None:
    system.collection()
    system.run(system.service.put_job(REF, body(URI, URI)))
    echoed = {"properties": shown(system)[0]}
    del echoed["properties"]["status"]
    echoed["properties"]["state"] = "Enabled"
    system.run(system.service.put_job(REF, echoed))
    system.run(system.service.put_job_keeping_secrets(REF, echoed))
    definition = system.service.codec.load(stored_definitions(tmp_path)[0])
    assert definition.action.payload.uri == URI  # type: ignore[union-attr]
    assert definition.action.error_action.payload.uri == URI  # type: ignore[union-attr]
    assert job_properties_to_json(system.status(REF))["state"] == "Enabled"


def test_put_with_another_uri_replaces_the_password(system: System, tmp_path: Path) -> None:
    system.collection()
    system.run(system.service.put_job(REF, body(URI)))
    system.run(system.service.put_job(REF, body("http://alice@127.0.0.1:9/other")))
    definition = system.service.codec.load(stored_definitions(tmp_path)[0])
    assert definition.action.payload.uri == "http://alice@127.0.0.1:9/other"  # type: ignore[union-attr]
    system.run(system.service.put_job(REF, body(URI)))
    system.run(system.service.put_job(REF, body("http://bob@127.0.0.1:9/hook?x=1")))
    definition = system.service.codec.load(stored_definitions(tmp_path)[0])
    assert definition.action.payload.uri == "http://bob@127.0.0.1:9/hook?x=1"  # type: ignore[union-attr]


def test_patch_keeps_the_password(system: System, tmp_path: Path) -> None:
    system.collection()
    system.run(system.service.put_job(REF, body(URI)))
    system.run(system.service.patch_job(REF, {"properties": {"state": "Enabled"}}))
    definition = system.service.codec.load(stored_definitions(tmp_path)[0])
    assert definition.action.payload.uri == URI  # type: ignore[union-attr]


def test_an_invalid_uri_message_leaves_the_password_out(system: System) -> None:
    system.collection()
    with pytest.raises(InvalidDefinition) as raised:
        system.run(system.service.put_job(REF, body(f"ftp://alice:{PASSWORD}@h/")))
    assert PASSWORD not in raised.value.message
    assert "ftp://alice@h/" in raised.value.message
