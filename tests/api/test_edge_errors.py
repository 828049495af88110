"""Errors at the edge of the ARM API over the real service (issue 11): an api-version
other than 2016-03-01, one 404 code for every missing resource, request bodies that
nest too deep or are otherwise not a JSON object, and the OpenAPI ``api-version`` enum.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobclock.api import create_app
from jobclock.api.schemas import ErrorResponse
from jobclock.domain.errors import CollectionNotFound, NotFound
from tests.system import System, open_system

TOKEN = "test-token-1234"  # noqa: S105 - a test credential
P = "/subscriptions/sub-1/resourceGroups/group-1/providers/Microsoft.Scheduler/jobCollections"
V = "api-version=2016-03-01"
JOB: dict[str, Any] = {
    "properties": {
        "action": {"type": "Http", "request": {"uri": "http://example.com/", "method": "GET"}},
    }
}
COLLECTION: dict[str, Any] = {"location": "westus", "properties": {"sku": {"name": "Standard"}}}
JSON = {"Content-Type": "application/json"}
# As deep as Json.NET (what ARM reads bodies with) nests by default.
MAX_JSON_DEPTH = 64


class Api:
    """A synchronous client of the app over ``system``'s service, on the system's loop."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.app = create_app(system.service, TOKEN)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        authorized: bool = True,
    ) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            headers = {"Authorization": f"Bearer {TOKEN}"} if authorized else {}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", headers=headers
            ) as client:
                if content is not None:
                    return await client.request(
                        method, path, content=content, headers={**headers, **JSON}
                    )
                return await client.request(method, path, json=json)

        response: httpx.Response = self.system.run(send())
        return response


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with open_system(tmp_path) as system:
        api = Api(system)
        assert api.request("PUT", f"{P}/jc1?{V}", json=COLLECTION).status_code == 201
        assert api.request("PUT", f"{P}/jc1/jobs/job1?{V}", json=JOB).status_code == 201
        yield api


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    """Azure's error shape with ``status`` and ``code``; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    ErrorResponse.model_validate(body)
    assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    return message


# -- api-version -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2014-08-01-preview", "2016-01-01", "2015-01-01"])
def test_an_api_version_other_than_2016_03_01_is_400(api: Api, version: str) -> None:
    for method, path in (
        ("GET", P),
        ("GET", f"{P}/jc1"),
        ("PUT", f"{P}/jc1/jobs/job2"),
        ("GET", f"{P}/jc1/jobs/job1/history"),
    ):
        message = assert_error(
            api.request(method, f"{path}?api-version={version}", json=JOB),
            400,
            "InvalidApiVersionParameter",
        )
        assert message == (
            f"The api-version '{version}' is invalid. The supported versions are '2016-03-01'."
        )
    assert_error(api.request("GET", f"{P}/jc1/jobs/job2?{V}"), 404, "ResourceNotFound")


def test_the_version_the_azure_client_sends_is_accepted(api: Api) -> None:
    assert api.request("GET", f"{P}/jc1/jobs/job1?{V}").status_code == 200


def test_a_missing_api_version_is_still_missing(api: Api) -> None:
    message = assert_error(api.request("GET", P), 400, "MissingApiVersionParameter")
    assert "api-version" in message


@pytest.mark.parametrize("path", ["/healthz", "/docs", "/openapi.json"])
def test_paths_outside_the_arm_api_need_no_api_version(api: Api, path: str) -> None:
    assert api.request("GET", path, authorized=path != "/healthz").status_code == 200


def test_openapi_declares_api_version_an_enum_of_the_supported_versions(api: Api) -> None:
    document = api.request("GET", "/openapi.json").json()
    declared = [
        parameter
        for path, item in document["paths"].items()
        if path.startswith("/subscriptions/")
        for operation in item.values()
        for parameter in operation["parameters"]
        if parameter["name"] == "api-version"
    ]
    # Azure's operations, jobclock's previews, explain and backfill, calendars, and
    # notification endpoints.
    assert len(declared) == 15 + 4 + 4 + 5
    for parameter in declared:
        assert parameter["required"] is True
        assert parameter["in"] == "query"
        assert parameter["schema"]["type"] == "string"
        assert parameter["schema"]["enum"] == ["2016-03-01"]


# -- one 404 code ----------------------------------------------------------------------------


def test_every_missing_resource_is_resource_not_found(api: Api) -> None:
    missing = [
        ("GET", f"{P}/nope"),
        ("GET", f"{P}/nope/jobs"),
        ("GET", f"{P}/nope/jobs/job1"),
        ("GET", f"{P}/jc1/jobs/nope"),
        ("PATCH", f"{P}/jc1/jobs/nope"),
        ("DELETE", f"{P}/jc1/jobs/nope"),
        ("POST", f"{P}/jc1/jobs/nope/run"),
        ("GET", f"{P}/jc1/jobs/nope/history"),
    ]
    for method, path in missing:
        body = {"properties": {"state": "Disabled"}} if method == "PATCH" else None
        message = assert_error(
            api.request(method, f"{path}?{V}", json=body), 404, "ResourceNotFound"
        )
        assert "nope" in message, message


def test_the_error_tree_has_one_404_code() -> None:
    assert NotFound("gone").code == CollectionNotFound("gone").code == "ResourceNotFound"
    assert NotFound("gone").status == 404


# -- request bodies --------------------------------------------------------------------------


BODY_PATHS = [
    ("PUT", f"{P}/jc1/jobs/job1"),
    ("PUT", f"{P}/jc1/jobs/fresh"),
    ("PATCH", f"{P}/jc1/jobs/job1"),
    ("PUT", f"{P}/fresh"),
    ("PATCH", f"{P}/jc1"),
]


def _nested(depth: int) -> bytes:
    """A job body whose innermost value sits ``depth`` containers deep."""
    inner = depth - 2  # the body object and ``properties`` count
    action = b'{"type": "Http", "request": {"uri": "http://example.com/", "method": "GET"}}'
    return (
        b'{"location": "westus", "properties": {"sku": {"name": "Standard"}, '
        + b'"action": '
        + action
        + b', "extra": '
        + b"[" * inner
        + b"]" * inner
        + b"}}"
    )


@pytest.mark.parametrize("depth", [2_000, 100_000, MAX_JSON_DEPTH + 1])
def test_json_nested_too_deep_is_400(api: Api, depth: int) -> None:
    for method, path in BODY_PATHS:
        response = api.request(method, f"{path}?{V}", content=_nested(depth))
        message = assert_error(response, 400, "BadRequest")
        assert message.startswith("Malformed Job Object"), message
        assert f"{MAX_JSON_DEPTH} levels" in message, message
    assert api.request("GET", f"{P}/jc1/jobs/fresh?{V}").status_code == 404
    assert api.request("GET", f"{P}/fresh?{V}").status_code == 404


def test_json_nested_as_deep_as_allowed_is_read(api: Api) -> None:
    """The depth is no reason to refuse it (the codec may refuse the unknown key ``extra``)."""
    for method, path in BODY_PATHS:
        response = api.request(method, f"{path}?{V}", content=_nested(MAX_JSON_DEPTH))
        assert response.status_code < 500, (method, path, response.text)
        if response.status_code >= 400:
            assert "levels" not in assert_error(response, response.status_code, "BadRequest")


def _with_action(properties: bytes) -> bytes:
    action = b'"action": {"type": "Http", "request": {"uri": "http://e/", "method": "GET"}}'
    return b'{"properties": {' + action + b", " + properties + b"}}"


@pytest.mark.parametrize(
    "content",
    [
        _with_action(b'"extra": "\xff"'),
        b"\xc3\x28",
        _with_action(b'"recurrence": {"frequency": "Hour", "interval": 1e999}'),
        _with_action(b'"recurrence": {"frequency": "Hour", "count": -1e999}'),
        b'[{"properties": {}}]',
        b"[]",
        b"null",
        b"42",
        b"",
    ],
    ids=[
        "invalid-utf8",
        "invalid-utf8-only",
        "1e999",
        "minus-1e999",
        "top-level-array",
        "empty-array",
        "null",
        "number",
        "empty",
    ],
)
def test_bodies_that_are_not_a_json_object_are_400(api: Api, content: bytes) -> None:
    for method, path in BODY_PATHS:
        response = api.request(method, f"{path}?{V}", content=content)
        if b"recurrence" in content and path.endswith(("/jc1", "/fresh")) and "jobs" not in path:
            # A collection body ignores a job's fields; it still must not be a 500.
            assert response.status_code < 500, response.text
            continue
        message = assert_error(response, 400, "BadRequest")
        assert message.startswith("Malformed Job Object"), message
