"""The OpenAPI document's body schemas (issue 11): built from the codec's known keys, they
accept what the codec accepts, refuse the keys it refuses, and describe what the real
service answers; the answers without a body declare no content."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema_rs
import pytest

from jobclock.api.body_schemas import (
    action_schema,
    collection_request_schema,
    job_request_schema,
)
from jobclock.codec.job import job_definition_from_json
from jobclock.codec.keys import KNOWN_KEYS
from jobclock.domain.errors import InvalidDefinition
from tests.api.test_edge_errors import COLLECTION, Api, P, V, api
from tests.codec.test_certificates import certificate_json, issue

__all__ = ["api"]

TARGET = "http://127.0.0.1:9/"
START = "2016-03-30T20:39:53Z"  # the fake clock's day: never more than 18 months ahead
RETRY = {"retryType": "Fixed", "retryInterval": "PT30S", "retryCount": 3}
BROKERED = {
    "contentType": "application/json",
    "correlationId": "c",
    "forcePersistence": True,
    "label": "l",
    "messageId": "m",
    "partitionKey": "p",
    "replyTo": "r",
    "replyToSessionId": "rs",
    "scheduledEnqueueTimeUtc": "2016-04-01T00:00:00Z",
    "sessionId": "s",
    "timeToLive": "PT1H",
    "to": "t",
    "viaPartitionKey": "v",
}


def _actions() -> dict[str, dict[str, Any]]:
    pfx = issue("CN=jobclock-test-client").pfx()
    return {
        "http-basic": {
            "type": "Http",
            "request": {
                "uri": TARGET,
                "method": "POST",
                "headers": {"X-Trace": "1"},
                "body": "hello",
                "authentication": {"type": "Basic", "username": "u", "password": "p"},
            },
            "retryPolicy": RETRY,
        },
        "https-oauth": {
            "type": "Https",
            "request": {
                "uri": "https://127.0.0.1:9/",
                "method": "GET",
                "authentication": {
                    "type": "ActiveDirectoryOAuth",
                    "tenant": "t",
                    "audience": "a",
                    "clientId": "c",
                    "secret": "s",
                },
            },
        },
        "https-certificate": {
            "type": "Https",
            "request": {"uri": "https://127.0.0.1:9/", "authentication": certificate_json(pfx)},
        },
        "storage-queue": {
            "type": "StorageQueue",
            "queueMessage": {
                "storageAccount": "acct",
                "queueName": "q",
                "sasToken": "?sv=1",
                "message": "m",
            },
            "errorAction": {"type": "Http", "request": {"uri": TARGET, "method": "GET"}},
        },
        "service-bus-queue": {
            "type": "ServiceBusQueue",
            "serviceBusQueueMessage": {
                "namespace": "ns",
                "queueName": "q",
                "transportType": "AMQP",
                "authentication": {"type": "SharedAccessKey", "sasKeyName": "k", "sasKey": "v"},
                "message": "m",
                "brokeredMessageProperties": BROKERED,
                "customMessageProperties": {"a": "b"},
            },
        },
        "service-bus-topic": {
            "type": "ServiceBusTopic",
            "serviceBusTopicMessage": {"namespace": "ns", "topicPath": "t", "message": "m"},
        },
        "amqp": {
            "type": "Amqp",
            "amqpMessage": {
                "url": "amqp://user@127.0.0.1:9/",
                "password": "pw",
                "exchange": "x",
                "routingKey": "k",
                "message": "m",
                "contentType": "text/plain",
                "headers": {"h": "v"},
                "persistent": False,
            },
        },
    }


ACTIONS = _actions()
RECURRENCES: dict[str, dict[str, Any]] = {
    "none": {},
    "hourly-count": {"recurrence": {"frequency": "Hour", "interval": 2, "count": 5}},
    "monthly-occurrences": {
        "recurrence": {
            "frequency": "Month",
            "interval": 1,
            "endTime": "2017-01-01T00:00:00Z",
            "schedule": {
                "minutes": [0, 30],
                "hours": [9],
                "monthlyOccurrences": [{"day": "Friday", "Occurrence": -1}, {"day": "Monday"}],
            },
            "timeZone": "Europe/Paris",
        }
    },
    "weekly": {
        "recurrence": {
            "frequency": "Week",
            "schedule": {"weekDays": ["Monday", "Friday"], "hours": [6], "minutes": [15]},
        }
    },
    "month-days": {"recurrence": {"frequency": "Month", "schedule": {"monthDays": [1, -1]}}},
    "cron": {"recurrence": {"cron": "0 9 * * MON-FRI", "timeZone": "Europe/Amsterdam"}},
}


def _job(action: str, recurrence: str = "none") -> dict[str, Any]:
    properties = {"startTime": START, "action": ACTIONS[action], "state": "Enabled"}
    return copy.deepcopy({"properties": properties | RECURRENCES[recurrence]})


def _valid(schema: dict[str, Any], instance: Any) -> bool:
    return bool(jsonschema_rs.validator_for(schema).is_valid(instance))


def _objects(schema: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(schema, dict):
        if isinstance(schema.get("properties"), dict):
            found.append(schema)
        for value in schema.values():
            found.extend(_objects(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_objects(value))
    return found


def test_every_place_of_the_codec_has_an_object_with_exactly_its_keys() -> None:
    declared = {frozenset(node["properties"]) for node in _objects(job_request_schema())}
    for place, keys in KNOWN_KEYS.items():
        if place in ("action", "errorAction"):
            continue  # one branch per type: see the next test
        assert frozenset(keys) in declared, place


@pytest.mark.parametrize("place", ["action", "errorAction"])
def test_the_action_branches_declare_the_codec_keys_together(place: str) -> None:
    branches = action_schema(place)["anyOf"]
    declared = set().union(*(branch["properties"] for branch in branches))
    assert declared | {"errorAction"} == set(KNOWN_KEYS[place])
    for branch in branches:
        assert branch["additionalProperties"] is False


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("recurrence", sorted(RECURRENCES))
def test_a_body_the_codec_accepts_the_schema_accepts(action: str, recurrence: str) -> None:
    body = _job(action, recurrence)
    job_definition_from_json(body)
    assert _valid(job_request_schema(), body)
    patch = copy.deepcopy(body)
    patch["properties"].pop("action")
    assert _valid(job_request_schema(patch=True), patch)


@pytest.mark.parametrize(
    "path",
    [
        (),
        ("properties",),
        ("properties", "action"),
        ("properties", "action", "request"),
        ("properties", "action", "request", "authentication"),
        ("properties", "action", "retryPolicy"),
        ("properties", "recurrence"),
        ("properties", "recurrence", "schedule"),
    ],
    ids=lambda path: ".".join(path) or "envelope",
)
def test_an_unknown_key_the_codec_refuses_the_schema_refuses(path: tuple[str, ...]) -> None:
    body = _job("http-basic", "weekly")
    body["properties"]["recurrence"]["schedule"] = {"hours": [1]}
    node = body
    for key in path:
        node = node[key]
    node["bogus"] = 1
    with pytest.raises(InvalidDefinition, match="unknown field"):
        job_definition_from_json(body)
    assert not _valid(job_request_schema(), body)


def test_another_types_payload_is_refused_by_both() -> None:
    body = _job("http-basic")
    body["properties"]["action"]["queueMessage"] = ACTIONS["storage-queue"]["queueMessage"]
    with pytest.raises(InvalidDefinition, match="does not belong"):
        job_definition_from_json(body)
    assert not _valid(job_request_schema(), body)


def test_the_collection_bodies_accept_azures_shape() -> None:
    assert _valid(collection_request_schema(), COLLECTION)
    assert not _valid(collection_request_schema(), {"properties": {}})
    assert _valid(collection_request_schema(patch=True), {"properties": {"state": "Disabled"}})


# -- the document against the real service ----------------------------------------------------


def _component(document: dict[str, Any], name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def _assert_conforms(document: dict[str, Any], name: str, body: Any) -> None:
    errors = [
        str(error)
        for error in jsonschema_rs.validator_for(_component(document, name)).iter_errors(body)
    ]
    assert not errors, (body, errors[:3])


def test_every_answer_of_the_service_conforms_to_the_document(api: Api) -> None:
    document = api.request("GET", "/openapi.json").json()
    api.request(
        "PUT",
        f"{P}/jc2?{V}",
        json=COLLECTION
        | {
            "properties": {
                "sku": {"name": "P20Premium"},
                "quota": {
                    "maxJobCount": 100,
                    "maxRecurrence": {"frequency": "Minute", "interval": 5},
                },
            },
            "tags": {"a": "b"},
        },
    )
    _assert_conforms(document, "JobCollectionDefinition", api.request("GET", f"{P}/jc2?{V}").json())
    _assert_conforms(document, "JobCollectionListResult", api.request("GET", f"{P}?{V}").json())
    for action in ACTIONS:
        for recurrence in RECURRENCES:
            name = f"{action}-{recurrence}"
            answer = api.request("PUT", f"{P}/jc2/jobs/{name}?{V}", json=_job(action, recurrence))
            assert answer.status_code == 201, answer.text
            _assert_conforms(document, "JobDefinition", answer.json())
    listed = api.request("GET", f"{P}/jc2/jobs?{V}&$top=100").json()
    assert len(listed["value"]) == len(ACTIONS) * len(RECURRENCES)
    _assert_conforms(document, "JobListResult", listed)
    history = api.request("GET", f"{P}/jc2/jobs/amqp-none/history?{V}").json()
    _assert_conforms(document, "JobHistoryListResult", history)
    error = api.request("GET", f"{P}/nope?{V}")
    assert error.status_code == 404
    _assert_conforms(document, "ErrorResponse", error.json())


def test_the_answers_without_a_body_declare_no_content(api: Api) -> None:
    document = api.request("GET", "/openapi.json").json()
    empty = {
        operation["operationId"]: operation["responses"]["200"]
        for item in document["paths"].values()
        for operation in item.values()
        if operation["operationId"].endswith(("_Delete", "_Enable", "_Disable", "_Run"))
    }
    assert sorted(empty) == [
        "Calendars_Delete",
        "JobCollections_Delete",
        "JobCollections_Disable",
        "JobCollections_Enable",
        "Jobs_Delete",
        "Jobs_Run",
        "Notifications_Delete",
    ]
    for response in empty.values():
        assert "content" not in response
    for method, path in (
        ("POST", f"{P}/jc1/jobs/job1/run"),
        ("POST", f"{P}/jc1/disable"),
        ("POST", f"{P}/jc1/enable"),
        ("DELETE", f"{P}/jc1/jobs/job1"),
        ("DELETE", f"{P}/jc1"),
    ):
        answer = api.request(method, f"{path}?{V}")
        assert answer.status_code == 200
        assert answer.content == b""


def test_the_request_bodies_and_links_are_in_the_document(api: Api) -> None:
    document = api.request("GET", "/openapi.json").json()
    operations = {
        operation["operationId"]: operation
        for item in document["paths"].values()
        for operation in item.values()
    }
    put_job = operations["Jobs_CreateOrUpdate"]
    schema = put_job["requestBody"]["content"]["application/json"]["schema"]
    assert schema == job_request_schema()
    assert schema["additionalProperties"] is False
    links = put_job["responses"]["201"]["links"]
    assert {"Jobs_Get", "Jobs_Patch", "Jobs_Run", "Jobs_ListJobHistory", "Jobs_Delete"} <= set(
        links
    )
    assert (
        "Jobs_CreateOrUpdate"
        in operations["JobCollections_CreateOrUpdate"]["responses"]["201"]["links"]
    )
    for path, item in document["paths"].items():
        if path.startswith("/subscriptions/"):
            for operation in item.values():
                assert "422" not in operation["responses"], operation["operationId"]


def test_a_patch_may_leave_out_any_part(api: Api) -> None:
    patch = {"properties": {"action": {"request": {"uri": "http://127.0.0.1:9/other"}}}}
    assert _valid(job_request_schema(patch=True), patch)
    assert not _valid(job_request_schema(), patch)
    answer = api.request("PATCH", f"{P}/jc1/jobs/job1?{V}", json=patch)
    assert answer.status_code == 200, answer.text
    assert answer.json()["properties"]["action"]["request"]["uri"] == "http://127.0.0.1:9/other"
    quota = {"properties": {"quota": {"maxRecurrence": {"interval": 2}}}}
    assert _valid(collection_request_schema(patch=True), quota)


def test_cron_and_frequency_exclude_each_other_in_the_schema_as_in_the_codec() -> None:
    body = _job("http-basic", "cron")
    body["properties"]["recurrence"]["frequency"] = "Minute"
    with pytest.raises(InvalidDefinition, match="replaces 'frequency'"):
        job_definition_from_json(body)
    assert not _valid(job_request_schema(), body)
    neither = _job("http-basic", "cron")
    neither["properties"]["recurrence"].pop("cron")
    with pytest.raises(InvalidDefinition):
        job_definition_from_json(neither)
    assert not _valid(job_request_schema(), neither)
