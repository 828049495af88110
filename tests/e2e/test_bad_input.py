"""Bad requests to the real server: the right status and Azure error body, and nothing
stored changes (every GET answers exactly as it did before the bad request)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.harness import API_VERSION, Api, RunningServer, http_action, unique

TARGET = "http://127.0.0.1:9/never-called"


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.close()


def _start() -> str:
    """A start time far enough ahead that no job of this module ever runs."""
    return (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _job(**extra: Any) -> dict[str, Any]:
    return {"properties": {"startTime": _start(), "action": http_action(TARGET), **extra}}


@pytest.fixture(scope="module")
def stored(api: Api) -> tuple[str, str]:
    """A Standard collection holding one job: the things bad requests must not change."""
    collection = unique("jc")
    api.create_collection(
        collection,
        "Standard",
        quota={"maxJobCount": 10, "maxRecurrence": {"frequency": "Minute", "interval": 1}},
    )
    job = unique("job")
    response = api.put(
        api.job_path(collection, job),
        _job(recurrence={"frequency": "Hour", "interval": 1, "count": 3}),
    )
    assert response.status_code == 201, response.text
    return collection, job


def _snapshot(api: Api, paths: list[str]) -> list[tuple[int, Any]]:
    snapshot = []
    for path in paths:
        response = api.get(path)
        snapshot.append((response.status_code, response.json()))
    return snapshot


@contextmanager
def unchanged(api: Api, *paths: str) -> Iterator[None]:
    """Every path answers the same status and JSON after the block as before it."""
    before = _snapshot(api, list(paths))
    yield
    assert _snapshot(api, list(paths)) == before


def _stored_paths(api: Api, stored: tuple[str, str]) -> list[str]:
    collection, job = stored
    return [
        api.collection_path(collection),
        api.job_path(collection, job),
        f"{api.collection_path(collection)}/jobs",
        f"{api.job_path(collection, job)}/history",
    ]


def _error(response: httpx.Response, status: int, code: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    return message


# -- malformed bodies --------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b'{"properties": {"action": ',
        b"not json at all",
        b"[1, 2, 3]",
        b'"a string"',
        b'{"properties": "not an object"}',
        b'{"properties": {"action": {"type": "Http", "request": 42}}}',
    ],
    ids=["truncated", "text", "array", "string", "properties-string", "request-number"],
)
def test_malformed_job_body_is_400_and_changes_nothing(
    api: Api, stored: tuple[str, str], content: bytes
) -> None:
    collection, job = stored
    new_job = api.job_path(collection, unique("never"))
    with unchanged(api, *_stored_paths(api, stored), new_job):
        for path in (api.job_path(collection, job), new_job):
            response = api.request(
                "PUT", path, content=content, headers={"Content-Type": "application/json"}
            )
            message = _error(response, 400, "BadRequest")
            assert message.startswith("Malformed Job Object"), message
            patched = api.request(
                "PATCH", path, content=content, headers={"Content-Type": "application/json"}
            )
            assert patched.status_code in (400, 404), patched.text
            _error(patched, patched.status_code)


def test_malformed_collection_body_is_400(api: Api, stored: tuple[str, str]) -> None:
    collection, _ = stored
    fresh = api.collection_path(unique("jc"))
    with unchanged(api, *_stored_paths(api, stored), fresh):
        for path in (api.collection_path(collection), fresh):
            response = api.request("PUT", path, content=b"{oops")
            _error(response, 400, "BadRequest")


@pytest.mark.parametrize(
    ("change", "status"),
    [
        pytest.param({"action": {"type": "Ftp", "request": {"uri": TARGET}}}, 400, id="type"),
        pytest.param(
            {"action": http_action("http://127.0.0.1/" + "a" * (2049 - 17))}, 400, id="uri-2049"
        ),
        pytest.param({"action": http_action("not a uri")}, 400, id="relative-uri"),
        pytest.param({"action": http_action(TARGET, "TRACE")}, 400, id="method"),
        pytest.param({"action": {"type": "Http", "request": None}}, 400, id="null-request"),
        pytest.param({"state": "Completed"}, 400, id="state-completed"),
        pytest.param({"recurrence": {"frequency": "Year"}}, 400, id="frequency-year"),
        pytest.param(
            {"recurrence": {"frequency": "Week", "schedule": {"monthDays": [1]}}},
            400,
            id="monthdays-with-week",
        ),
        pytest.param(
            {
                "action": {
                    **http_action(TARGET),
                    "retryPolicy": {"retryType": "Fixed", "retryInterval": "PT1S"},
                }
            },
            400,
            id="retry-interval-1s",
        ),
        pytest.param(
            {
                "action": http_action(
                    TARGET, authentication={"type": "Basic", "username": "only-a-name"}
                )
            },
            400,
            id="basic-without-password",
        ),
    ],
)
def test_invalid_job_is_rejected_and_changes_nothing(
    api: Api, stored: tuple[str, str], change: dict[str, Any], status: int
) -> None:
    collection, job = stored
    new_job = api.job_path(collection, unique("never"))
    with unchanged(api, *_stored_paths(api, stored), new_job):
        for path in (api.job_path(collection, job), new_job):
            body = _job()
            body["properties"].update(change)
            _error(api.put(path, body), status, "BadRequest")
        _error(api.patch(api.job_path(collection, job), {"properties": change}), status)


def test_uri_of_2048_characters_is_accepted(api: Api, stored: tuple[str, str]) -> None:
    collection, _ = stored
    uri = "http://127.0.0.1/" + "a" * (2048 - len("http://127.0.0.1/"))
    assert len(uri) == 2048
    path = api.job_path(collection, unique("long"))
    response = api.put(path, _job(action=http_action(uri)))
    assert response.status_code == 201, response.text
    assert response.json()["properties"]["action"]["request"]["uri"] == uri
    assert api.delete(path).status_code == 200


def test_patch_of_status_is_400(api: Api, stored: tuple[str, str]) -> None:
    collection, job = stored
    with unchanged(api, *_stored_paths(api, stored)):
        response = api.patch(
            api.job_path(collection, job), {"properties": {"status": {"executionCount": 7}}}
        )
        _error(response, 400, "BadRequest")


# -- plan limits (409) -------------------------------------------------------------------


def test_free_collection_refuses_a_minute_recurrence(api: Api) -> None:
    subscription = unique("free-sub")
    free = Api(api.server, subscription=subscription)
    try:
        collection = unique("free")
        free.create_collection(collection, "Free")
        job = unique("hourly")
        hourly = _job(recurrence={"frequency": "Hour", "interval": 1})
        assert free.put(free.job_path(collection, job), hourly).status_code == 201
        minute = {"frequency": "Minute", "interval": 1}
        never = free.job_path(collection, unique("minutely"))
        paths = [free.job_path(collection, job), never, f"{free.collection_path(collection)}/jobs"]
        with unchanged(free, *paths):
            _error(free.put(never, _job(recurrence=minute)), 409)
            _error(free.put(free.job_path(collection, job), _job(recurrence=minute)), 409)
            _error(
                free.patch(free.job_path(collection, job), {"properties": {"recurrence": minute}}),
                409,
            )
    finally:
        free.close()


def test_free_collection_holds_at_most_five_jobs(api: Api) -> None:
    subscription = unique("free-sub")
    free = Api(api.server, subscription=subscription)
    try:
        collection = unique("free")
        free.create_collection(collection, "Free")
        for index in range(5):
            path = free.job_path(collection, f"job{index}")
            assert free.put(path, _job()).status_code == 201
        sixth = free.job_path(collection, "job5")
        jobs = f"{free.collection_path(collection)}/jobs"
        with unchanged(free, jobs, sixth, free.collection_path(collection)):
            _error(free.put(sixth, _job()), 409)
        assert len(free.get(jobs).json()["value"]) == 5
        # Replacing one of the five is not a sixth job.
        assert free.put(free.job_path(collection, "job0"), _job()).status_code == 200
        # A second Free collection in the same subscription is refused as well.
        other = free.collection_path(unique("free"))
        with unchanged(free, other, free.collections_path()):
            body = {"location": "West US", "properties": {"sku": {"name": "Free"}}}
            _error(free.put(other, body), 409)
    finally:
        free.close()


def test_free_collection_refuses_authentication_and_short_retries(api: Api) -> None:
    free = Api(api.server, subscription=unique("free-sub"))
    try:
        collection = unique("free")
        free.create_collection(collection, "Free")
        path = free.job_path(collection, unique("job"))
        basic = {"type": "Basic", "username": "user", "password": "secret-pass"}
        with unchanged(free, path, f"{free.collection_path(collection)}/jobs"):
            _error(free.put(path, _job(action=http_action(TARGET, authentication=basic))), 409)
            retry = {"retryType": "Fixed", "retryInterval": "PT30S", "retryCount": 1}
            action = {**http_action(TARGET), "retryPolicy": retry}
            _error(free.put(path, _job(action=action)), 400, "BadRequest")
    finally:
        free.close()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"properties": {"sku": {"name": "Standard"}}}, id="no-location"),
        pytest.param(
            {"location": "West US", "properties": {"sku": {"name": "Gold"}}}, id="unknown-sku"
        ),
        pytest.param(
            {
                "location": "West US",
                "properties": {"sku": {"name": "Standard"}, "quota": {"maxJobCount": 51}},
            },
            id="quota-over-plan",
        ),
        pytest.param(
            {
                "location": "West US",
                "properties": {
                    "sku": {"name": "Standard"},
                    "quota": {"maxRecurrence": {"frequency": "Second", "interval": 30}},
                },
            },
            id="recurrence-over-plan",
        ),
        pytest.param(
            {
                "location": "West US",
                "properties": {"sku": {"name": "Standard"}, "state": "Deleted"},
            },
            id="state-deleted",
        ),
    ],
)
def test_invalid_collection_is_400_and_changes_nothing(
    api: Api, stored: tuple[str, str], body: dict[str, Any]
) -> None:
    collection, _ = stored
    fresh = api.collection_path(unique("jc"))
    with unchanged(api, *_stored_paths(api, stored), fresh, api.collections_path()):
        for path in (api.collection_path(collection), fresh):
            _error(api.put(path, body), 400, "BadRequest")


def test_invalid_collection_name_is_400(api: Api) -> None:
    with unchanged(api, api.collections_path()):
        for name in ("1starts-with-digit", "has.dot", "x" * 101):
            body = {"location": "West US", "properties": {"sku": {"name": "Standard"}}}
            _error(api.put(api.collection_path(name), body), 400, "BadRequest")


def test_collection_quota_caps_jobs(api: Api) -> None:
    collection = unique("capped")
    api.create_collection(collection, "Standard", quota={"maxJobCount": 1})
    assert api.put(api.job_path(collection, "first"), _job()).status_code == 201
    second = api.job_path(collection, "second")
    with unchanged(api, second, f"{api.collection_path(collection)}/jobs"):
        _error(api.put(second, _job()), 409)


# -- missing things ----------------------------------------------------------------------


def test_missing_collection_is_404_resource_not_found(api: Api) -> None:
    name = unique("missing")
    expected = (
        f"The Resource 'Microsoft.Scheduler/jobcollections/{name}' under resource group "
        f"'{api.resource_group}' was not found."
    )
    with unchanged(api, api.collection_path(name)):
        for response in (
            api.get(api.collection_path(name)),
            api.get(f"{api.collection_path(name)}/jobs"),
            api.put(api.job_path(name, "job"), _job()),
            api.get(api.job_path(name, "job")),
            api.delete(api.collection_path(name)),
            api.post(f"{api.collection_path(name)}/disable"),
        ):
            message = _error(response, 404, "ResourceNotFound")
            assert message == expected, message


def test_missing_job_is_404(api: Api, stored: tuple[str, str]) -> None:
    collection, _ = stored
    path = api.job_path(collection, unique("missing"))
    for response in (
        api.get(path),
        api.patch(path, {"properties": {"state": "Disabled"}}),
        api.delete(path),
        api.post(f"{path}/run"),
        api.get(f"{path}/history"),
    ):
        _error(response, 404)


# -- api-version and the token -----------------------------------------------------------


def test_missing_or_unknown_api_version_is_400_and_changes_nothing(
    api: Api, stored: tuple[str, str]
) -> None:
    collection, job = stored
    body = _job(state="Disabled")
    with unchanged(api, *_stored_paths(api, stored)):
        for version, code in ((None, "MissingApiVersionParameter"), ("1999-01-01", None)):
            for response in (
                api.put(api.job_path(collection, job), body, api_version=version),
                api.patch(
                    api.job_path(collection, job),
                    {"properties": {"state": "Disabled"}},
                    api_version=version,
                ),
                api.delete(api.job_path(collection, job), api_version=version),
                api.post(f"{api.collection_path(collection)}/disable", api_version=version),
                api.get(api.job_path(collection, job), api_version=version),
            ):
                message = _error(response, 400, code)
                assert "api-version" in message, message
    assert api.get(api.job_path(collection, job), api_version="2016-03-01").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", "Basic ZTJlOnRva2Vu", "Bearer", "e2e-token"],
    ids=["none", "wrong", "basic", "empty-bearer", "no-scheme"],
)
def test_without_the_token_every_call_is_401_and_changes_nothing(
    api: Api, stored: tuple[str, str], authorization: str | None
) -> None:
    collection, job = stored
    headers = {} if authorization is None else {"Authorization": authorization}
    anonymous = httpx.Client(base_url=api.server.base_url, headers=headers, trust_env=False)
    params = {"api-version": API_VERSION}
    try:
        with unchanged(api, *_stored_paths(api, stored)):
            for method, path, body in (
                ("GET", api.collection_path(collection), None),
                ("GET", api.collections_path(), None),
                ("PUT", api.job_path(collection, job), _job(state="Disabled")),
                ("PATCH", api.job_path(collection, job), {"properties": {"state": "Disabled"}}),
                ("DELETE", api.job_path(collection, job), None),
                ("POST", f"{api.job_path(collection, job)}/run", None),
                ("POST", f"{api.collection_path(collection)}/disable", None),
                ("DELETE", api.collection_path(collection), None),
            ):
                content = None if body is None else json.dumps(body)
                response = anonymous.request(method, path, params=params, content=content)
                _error(response, 401, "AuthenticationFailed")
        health = anonymous.get("/healthz")
        assert health.status_code == 200
    finally:
        anonymous.close()


def test_healthz_needs_no_token(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/healthz", trust_env=False)
    assert response.status_code == 200


# -- list parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"$filter": "state eq Sleeping"},
        {"$filter": "status eq Completed"},
        {"$filter": "state eq Enabled and state eq Disabled"},
        {"$top": "0"},
        {"$top": "101"},
        {"$top": "x"},
        {"$skip": "-1"},
    ],
    ids=["state-value", "wrong-field", "two-clauses", "top-0", "top-101", "top-text", "skip-neg"],
)
def test_bad_list_parameters_are_400(
    api: Api, stored: tuple[str, str], params: dict[str, str]
) -> None:
    collection, _ = stored
    _error(api.get(f"{api.collection_path(collection)}/jobs", params=params), 400, "BadRequest")


# -- what could not be stored faithfully -------------------------------------------------
#
# A write that answers an error stores nothing; a write that succeeds stores exactly what a
# GET then returns, and what the GET returns can be PUT again unchanged.


def _send(api: Api, method: str, path: str, body: Any) -> httpx.Response:
    """``body`` as JSON text with non-ASCII escaped, so a lone surrogate travels as the
    six characters ``\\ud800`` (httpx's ``json=`` would fail to encode it)."""
    return api.request(
        method, path, content=json.dumps(body), headers={"Content-Type": "application/json"}
    )


def _definition(response: httpx.Response) -> dict[str, Any]:
    """The response's ``properties`` without the server-computed ``status``."""
    properties: dict[str, Any] = response.json()["properties"]
    return {key: value for key, value in properties.items() if key != "status"}


def _refused_everywhere(api: Api, stored: tuple[str, str], change: dict[str, Any]) -> None:
    """PUT (new job and existing job) and PATCH answer 400 and change nothing."""
    collection, job = stored
    new_job = api.job_path(collection, unique("never"))
    with unchanged(api, *_stored_paths(api, stored), new_job):
        for path in (new_job, api.job_path(collection, job)):
            body = _job()
            body["properties"].update(change)
            _error(_send(api, "PUT", path, body), 400, "BadRequest")
        patch = _send(api, "PATCH", api.job_path(collection, job), {"properties": change})
        _error(patch, 400, "BadRequest")
    assert api.get(new_job).status_code == 404
    listed = api.get(f"{api.collection_path(collection)}/jobs").json()["value"]
    assert job in [item["name"].split("/")[-1] for item in listed]


def _recurrence(**extra: Any) -> dict[str, Any]:
    return {"recurrence": {"frequency": "Hour", "interval": 1, **extra}}


def _service_bus(**brokered: Any) -> dict[str, Any]:
    return {
        "action": {
            "type": "ServiceBusQueue",
            "serviceBusQueueMessage": {
                "namespace": "ns",
                "queueName": "q",
                "message": "m",
                "brokeredMessageProperties": brokered,
            },
            "retryPolicy": {"retryType": "None"},
        }
    }


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"startTime": "0999-01-01T00:00:00Z"}, id="start-year-0999"),
        pytest.param({"startTime": "0001-01-01T00:00:00Z"}, id="start-year-0001"),
        pytest.param({"startTime": "0000-01-01T00:00:00Z"}, id="start-year-0000"),
        pytest.param({"startTime": "1600-12-31T23:59:59Z"}, id="start-before-1601"),
        pytest.param({"startTime": "0001-01-01T00:00:00+05:00"}, id="start-offset-underflow"),
        pytest.param({"startTime": "9999-12-31T23:59:59-05:00"}, id="start-offset-overflow"),
        pytest.param({"startTime": "2024-01-01T00:00:00+01:99"}, id="start-offset-minutes-99"),
        pytest.param({"startTime": "２０２４-01-01T00:00:00Z"}, id="start-fullwidth-digits"),
        pytest.param(_recurrence(endTime="0999-01-01T00:00:00Z"), id="end-year-0999"),
        pytest.param(_recurrence(endTime="9999-12-31T23:59:59-05:00"), id="end-offset-overflow"),
        pytest.param(_recurrence(endTime="0001-01-01T00:00:00+05:00"), id="end-offset-underflow"),
        pytest.param(
            _service_bus(scheduledEnqueueTimeUtc="0999-01-01T00:00:00Z"), id="enqueue-year-0999"
        ),
    ],
)
def test_instant_out_of_range_is_400_and_stores_nothing(
    api: Api, stored: tuple[str, str], change: dict[str, Any]
) -> None:
    _refused_everywhere(api, stored, change)


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        pytest.param(
            {"startTime": "1601-01-01T00:00:00Z"},
            {"startTime": "1601-01-01T00:00:00Z"},
            id="start-1601",
        ),
        pytest.param(
            {"startTime": "1601-01-01T05:00:00+05:00"},
            {"startTime": "1601-01-01T00:00:00Z"},
            id="start-1601-with-offset",
        ),
        pytest.param(
            _recurrence(endTime="9999-12-31T23:59:59.9999999Z"),
            {"recurrence": {"endTime": "9999-12-31T23:59:59.999999Z"}},
            id="end-last-instant",
        ),
        pytest.param(
            _recurrence(endTime="9999-12-31T23:59:59+05:00"),
            {"recurrence": {"endTime": "9999-12-31T18:59:59Z"}},
            id="end-9999-with-offset",
        ),
        pytest.param(
            _recurrence(count=2**31 - 1), {"recurrence": {"count": 2**31 - 1}}, id="count-int32"
        ),
        pytest.param(
            {"action": {"type": "Amqp", "amqpMessage": {"url": "amqp://u@[::1]:5672/v"}}},
            {"action": {"amqpMessage": {"url": "amqp://u@[::1]:5672/v"}}},
            id="amqp-ipv6-host",
        ),
        pytest.param(
            _recurrence(schedule={"minutes": []}),
            {"recurrence": {"frequency": "Hour", "interval": 1}},
            id="empty-schedule-list",
        ),
        pytest.param(
            {"action": http_action(TARGET, "POST", body="smile \ud83d\ude00 tab\t nul\x00")},
            {"action": {"request": {"body": "smile 😀 tab\t nul\x00"}}},
            id="body-surrogate-pair-and-controls",
        ),
    ],
)
def test_edge_values_that_are_stored_read_back_and_put_again_unchanged(
    api: Api, stored: tuple[str, str], change: dict[str, Any], shown: dict[str, Any]
) -> None:
    collection, _ = stored
    path = api.job_path(collection, unique("edge"))
    body = _job(state="Disabled")  # a past startTime would run at once
    body["properties"].update(change)
    created = _send(api, "PUT", path, body)
    assert created.status_code == 201, created.text
    definition = _definition(created)
    for key, value in shown.items():
        if isinstance(value, dict):
            for inner, expected in value.items():
                if isinstance(expected, dict):
                    assert expected.items() <= definition[key][inner].items(), definition
                else:
                    assert definition[key][inner] == expected, definition
        else:
            assert definition[key] == value, definition
    fetched = api.get(path)
    assert fetched.status_code == 200, fetched.text
    assert _definition(fetched) == definition
    again = _send(api, "PUT", path, {"properties": definition})
    assert again.status_code == 200, again.text
    assert _definition(again) == definition
    assert api.delete(path).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_recurrence(count=0), id="count-0"),
        pytest.param(_recurrence(count=-1), id="count-negative"),
        pytest.param(_recurrence(count=2**31), id="count-int32-overflow"),
        pytest.param(_recurrence(count=2**63), id="count-2-63"),
        pytest.param(_recurrence(count="NaN"), id="count-nan-string"),
        pytest.param(_recurrence(count=1.5), id="count-fraction"),
        pytest.param(_recurrence(interval=2**63), id="interval-2-63"),
        pytest.param(_recurrence(interval=1e308), id="interval-1e308"),
        pytest.param(_recurrence(interval="Infinity"), id="interval-infinity-string"),
        pytest.param(
            {
                "action": {
                    **http_action(TARGET),
                    "retryPolicy": {"retryType": "Fixed", "retryInterval": "P99999999999999Y"},
                }
            },
            id="retry-interval-overflow",
        ),
        pytest.param(
            {
                "action": {
                    **http_action(TARGET),
                    "retryPolicy": {"retryType": "Fixed", "retryInterval": "999999999.00:00:00"},
                }
            },
            id="retry-interval-timespan-huge",
        ),
        pytest.param(
            {
                "action": {
                    **http_action(TARGET),
                    "retryPolicy": {"retryType": "Fixed", "retryCount": 2**63},
                }
            },
            id="retry-count-2-63",
        ),
        pytest.param(
            {"action": http_action(TARGET, headers={"X-Bad": "a\r\nX-Injected: 1"})},
            id="header-value-crlf",
        ),
        pytest.param(
            {"action": http_action(TARGET, headers={"X Bad": "a"})}, id="header-name-space"
        ),
        pytest.param({"action": http_action("http://[::1/")}, id="uri-unbalanced-bracket"),
        pytest.param({"action": http_action("http://127.0.0.1:99999/")}, id="uri-port-99999"),
        pytest.param(
            {"action": {"type": "Amqp", "amqpMessage": {"url": "amqp://h:70000/"}}},
            id="amqp-port-70000",
        ),
    ],
)
def test_numbers_and_durations_out_of_range_are_400(
    api: Api, stored: tuple[str, str], change: dict[str, Any]
) -> None:
    _refused_everywhere(api, stored, change)


@pytest.mark.parametrize(
    "content",
    [
        b'{"properties": {"startTime": NaN, "action": {"type": "Http"}}}',
        b'{"properties": {"recurrence": {"frequency": "Hour", "count": Infinity}}}',
        b'{"properties": {"recurrence": {"frequency": "Hour", "interval": -Infinity}}}',
        b'{"properties": {"recurrence": {"frequency": "Hour", "count": 1' + b"0" * 5000 + b"}}}",
    ],
    ids=["nan", "infinity", "minus-infinity", "5000-digits"],
)
def test_json_that_is_not_standard_is_malformed(
    api: Api, stored: tuple[str, str], content: bytes
) -> None:
    collection, job = stored
    new_job = api.job_path(collection, unique("never"))
    with unchanged(api, *_stored_paths(api, stored), new_job):
        for method, path in (("PUT", new_job), ("PUT", api.job_path(collection, job))):
            response = api.request(
                method, path, content=content, headers={"Content-Type": "application/json"}
            )
            assert _error(response, 400, "BadRequest").startswith("Malformed Job Object")
        patched = api.request(
            "PATCH",
            api.job_path(collection, job),
            content=content,
            headers={"Content-Type": "application/json"},
        )
        _error(patched, 400, "BadRequest")


LONE = "\ud800"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param(
            {"action": http_action(TARGET, "POST", body=f"x{LONE}y")},
            "properties.action.request.body",
            id="body",
        ),
        pytest.param(
            {"action": http_action(TARGET, headers={"X-Value": LONE})},
            "properties.action.request.headers.X-Value",
            id="header-value",
        ),
        pytest.param(
            {"action": http_action(TARGET, headers={f"X-{LONE}": "v"})},
            "properties.action.request.headers",
            id="header-name",
        ),
        pytest.param(
            {"action": http_action(f"{TARGET}/{LONE}")}, "properties.action.request.uri", id="uri"
        ),
        pytest.param(
            {
                "action": {
                    "type": "StorageQueue",
                    "queueMessage": {
                        "storageAccount": "account",
                        "queueName": "queue",
                        "sasToken": "?sig=x",
                        "message": f"\udfff{LONE}",
                    },
                }
            },
            "properties.action.queueMessage.message",
            id="queue-message",
        ),
        pytest.param(
            {"recurrence": {"frequency": "Hour", "timeZone": LONE}},
            "properties.recurrence.timeZone",
            id="time-zone",
        ),
        pytest.param({"unknownKey": LONE}, "properties.unknownKey", id="ignored-field"),
    ],
)
def test_lone_surrogate_in_any_string_is_400_and_stores_nothing(
    api: Api, stored: tuple[str, str], change: dict[str, Any], field: str
) -> None:
    collection, job = stored
    new_job = api.job_path(collection, unique("never"))
    with unchanged(api, *_stored_paths(api, stored), new_job):
        for path in (new_job, api.job_path(collection, job)):
            body = _job()
            body["properties"].update(change)
            message = _error(_send(api, "PUT", path, body), 400, "BadRequest")
            assert field in message, message
        patch = _send(api, "PATCH", api.job_path(collection, job), {"properties": change})
        assert field in _error(patch, 400, "BadRequest")


def test_lone_surrogate_in_the_name_or_a_collection_is_400(
    api: Api, stored: tuple[str, str]
) -> None:
    collection, job = stored
    new_job = api.job_path(collection, unique("never"))
    fresh = api.collection_path(unique("jc"))
    with unchanged(api, *_stored_paths(api, stored), new_job, fresh, api.collections_path()):
        named = {"name": f"{collection}/{LONE}", **_job()}
        for path in (new_job, api.job_path(collection, job)):
            assert "'name'" in _error(_send(api, "PUT", path, named), 400, "BadRequest")
        for path in (fresh, api.collection_path(collection)):
            for body in (
                {"location": f"West{LONE}", "properties": {"sku": {"name": "Standard"}}},
                {
                    "location": "West US",
                    "tags": {"team": LONE},
                    "properties": {"sku": {"name": "Standard"}},
                },
            ):
                _error(_send(api, "PUT", path, body), 400, "BadRequest")
        patched = _send(api, "PATCH", api.collection_path(collection), {"tags": {LONE: "x"}})
        _error(patched, 400, "BadRequest")


# -- rows an older version stored that cannot be read back -------------------------------
#
# Written straight into the server's SQLite file: what versions before the write-side
# checks could leave behind. A job that cannot be read must not take the others with it.


def _stored(action: dict[str, Any], **properties: Any) -> str:
    return json.dumps({"action": action, "state": "Enabled", **properties})


UNREADABLE_DEFINITIONS = {
    # What format_instant wrote for year 999 before years were padded.
    "legacy-year": _stored(http_action(TARGET), startTime="999-01-01T00:00:00Z"),
    "not-json": '{"startTime": ',
    # A secret sealed with another key (the key file was replaced).
    "foreign-key": _stored(
        http_action(
            TARGET,
            authentication={
                "type": "Basic",
                "username": "u",
                "password": {"$sealed": "gAAAAABfforeign"},
            },
        )
    ),
    # A lone surrogate, as json.dumps escaped it before bodies were checked.
    "lone-surrogate": _stored(http_action(TARGET, "POST", body="\ud800")),
    "unknown-state": _stored(http_action(TARGET), state="Sleeping"),
}


def _overwrite_definition(server: RunningServer, job: str, definition: str) -> None:
    with sqlite3.connect(server.db_path, timeout=10) as db:
        changed = db.execute(
            "UPDATE jobs SET definition = ? WHERE name = ?", (definition, job)
        ).rowcount
    assert changed == 1


@pytest.mark.parametrize("kind", sorted(UNREADABLE_DEFINITIONS))
def test_a_stored_job_that_cannot_be_read_fails_alone(
    api: Api, server: RunningServer, kind: str
) -> None:
    collection = unique("jc")
    api.create_collection(collection)
    names = [f"{letter}-{unique('job')}" for letter in "abc"]  # listed in this order
    for name in names:
        assert (
            _send(api, "PUT", api.job_path(collection, name), _job(state="Disabled")).status_code
            == 201
        )
    bad = names[1]
    _overwrite_definition(server, bad, UNREADABLE_DEFINITIONS[kind])
    bad_path = api.job_path(collection, bad)

    for response in (
        api.get(bad_path),
        _send(api, "PATCH", bad_path, {"properties": {"state": "Enabled"}}),
        api.post(f"{bad_path}/run"),
    ):
        message = _error(response, 409, "UnreadableJobDefinition")
        assert f"'{collection}/{bad}'" in message, message
        assert "PUT the job to replace it, or DELETE it" in message, message

    jobs = f"{api.collection_path(collection)}/jobs"
    listed = api.get(jobs)
    assert listed.status_code == 200, listed.text
    assert [item["name"] for item in listed.json()["value"]] == [
        f"{collection}/{names[0]}",
        f"{collection}/{names[2]}",
    ]
    paged = api.get(jobs, params={"$top": "1", "$skip": "1"})
    assert paged.status_code == 200, paged.text
    assert paged.json()["value"] == []  # the page of the unreadable job alone
    assert api.get(f"{bad_path}/history").status_code == 200
    assert api.get(api.collection_path(collection)).status_code == 200
    assert api.post(f"{api.collection_path(collection)}/disable").status_code == 200
    assert api.post(f"{api.collection_path(collection)}/enable").status_code == 200
    tagged = api.put(
        api.collection_path(collection),
        {"location": "West US", "tags": {"k": "v"}, "properties": {"sku": {"name": "Standard"}}},
    )
    assert tagged.status_code == 200, tagged.text

    # A PUT replaces the unreadable definition; a DELETE removes it.
    replaced = _send(api, "PUT", bad_path, _job(state="Disabled"))
    assert replaced.status_code == 200, replaced.text
    assert api.get(bad_path).status_code == 200
    _overwrite_definition(server, bad, UNREADABLE_DEFINITIONS[kind])
    assert api.delete(bad_path).status_code == 200
    assert api.get(bad_path).status_code == 404
    assert len(api.get(jobs).json()["value"]) == 2
    assert "Traceback" not in server.log()
