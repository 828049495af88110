"""The service layer on a real SQLite store: PUT versus PATCH, secrets at rest, plans."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jobclock.codec.job import job_properties_to_json
from jobclock.domain.errors import CollectionNotFound, InvalidDefinition, NotFound, QuotaExceeded
from jobclock.domain.job import JobState
from jobclock.services import CollectionRef, JobRef
from tests.system import T0, System

WIRE_JOB = {
    "properties": {
        "startTime": "2015-07-13T00:00:00Z",
        "action": {
            "type": "Http",
            "request": {
                "uri": "http://www.bing.com/",
                "method": "GET",
                "headers": {"Content-Type": "text/plain"},
            },
            "retryPolicy": {"retryType": "Fixed", "retryInterval": "00:01:00", "retryCount": 2},
        },
        "recurrence": {"frequency": "Week", "count": 10000, "endTime": "2030-01-01T00:00:00Z"},
        "state": "Enabled",
    }
}


def put(system: System, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    view, created = system.run(
        system.service.put_job(JobRef(CollectionRef("sub", "rg", "jc"), name), body)
    )
    return job_properties_to_json(view.job), created


def test_put_creates_then_replaces_and_keeps_counters(system: System) -> None:
    system.collection()
    first, created = put(system, "j", WIRE_JOB)
    assert created
    assert first["action"]["retryPolicy"]["retryInterval"] == "00:01:00"  # echoed as given
    assert first["recurrence"] == {
        "frequency": "Week",
        "count": 10000,
        "endTime": "2030-01-01T00:00:00Z",
        "interval": 1,
    }
    assert first["status"]["nextExecutionTime"] == "2024-01-01T00:00:00Z"  # a Monday grid point
    system.at(T0)
    again, created = put(system, "J", {"properties": {"action": WIRE_JOB["properties"]["action"]}})
    assert not created  # job names are case-insensitive
    assert "recurrence" not in again  # PUT is a full replacement: now a one-time job
    assert again["status"]["executionCount"] == 1  # counters survive an update


def test_patch_merges_like_the_recorded_wire_example(system: System) -> None:
    system.collection()
    put(system, "j", WIRE_JOB)
    ref = JobRef(CollectionRef("sub", "rg", "jc"), "j")
    patch = {
        "properties": {
            "startTime": "2015-07-14T00:00:00Z",
            "recurrence": {"frequency": "Day", "interval": 1},
        }
    }
    view = system.run(system.service.patch_job(ref, patch))
    body = job_properties_to_json(view.job)
    assert body["recurrence"] == {
        "frequency": "Day",
        "count": 10000,
        "endTime": "2030-01-01T00:00:00Z",
        "interval": 1,
    }
    assert body["status"]["nextExecutionTime"] == "2024-01-01T00:00:00Z"
    assert body["action"]["request"]["headers"] == {"Content-Type": "text/plain"}


def test_patch_null_removes_authentication_and_keeps_secrets_otherwise(system: System) -> None:
    system.collection()
    body = {
        "properties": {
            "action": {
                "type": "Http",
                "request": {
                    "uri": "http://x/",
                    "method": "GET",
                    "authentication": {"type": "Basic", "username": "u", "password": "s3cret-pa55"},
                },
            }
        }
    }
    put(system, "j", body)
    ref = JobRef(CollectionRef("sub", "rg", "jc"), "j")
    kept = system.run(
        system.service.patch_job(ref, {"properties": {"action": {"request": {"body": "hi"}}}})
    )
    auth = kept.job.definition.action.payload.authentication  # type: ignore[union-attr]
    assert auth.password.reveal() == "s3cret-pa55"  # type: ignore[union-attr]
    shown = job_properties_to_json(kept.job)
    assert shown["action"]["request"]["authentication"] == {"type": "Basic", "username": "u"}
    removed = system.run(
        system.service.patch_job(
            ref, {"properties": {"action": {"request": {"authentication": None}}}}
        )
    )
    assert "authentication" not in job_properties_to_json(removed.job)["action"]["request"]


def test_patch_rejects_status_and_missing_jobs(system: System) -> None:
    system.collection()
    put(system, "j", WIRE_JOB)
    ref = JobRef(CollectionRef("sub", "rg", "jc"), "j")
    with pytest.raises(InvalidDefinition, match="read-only"):
        system.run(system.service.patch_job(ref, {"properties": {"status": {"executionCount": 9}}}))
    with pytest.raises(InvalidDefinition, match="'Enabled' or 'Disabled' only"):
        system.run(system.service.patch_job(ref, {"properties": {"state": "Completed"}}))
    with pytest.raises(NotFound):
        system.run(system.service.patch_job(JobRef(ref.collection, "nope"), {"properties": {}}))


def test_missing_collection_message(system: System) -> None:
    with pytest.raises(CollectionNotFound) as caught:
        system.run(system.service.get_collection(CollectionRef("sub", "rg1", "ghost")))
    assert (
        caught.value.message
        == "The Resource 'Microsoft.Scheduler/jobcollections/ghost' under resource group 'rg1' was not found."
    )
    assert caught.value.code == "ResourceNotFound"


def test_secrets_are_sealed_at_rest(system: System, tmp_path: Path) -> None:
    system.collection()
    body = {
        "properties": {
            "action": {
                "type": "Http",
                "request": {
                    "uri": "http://x/",
                    "method": "GET",
                    "authentication": {
                        "type": "Basic",
                        "username": "u",
                        "password": "hunter2-unique-xyz",
                    },
                },
            }
        }
    }
    put(system, "j", body)
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("jobclock.db*"))
    assert b"hunter2-unique-xyz" not in raw
    assert b'"username":"u"' in raw  # the rest of the definition is there in clear


def test_job_cap_and_plan_downgrade(system: System) -> None:
    ref = CollectionRef("sub", "rg", "small")
    system.run(
        system.service.put_collection(
            ref,
            {
                "location": "westus",
                "properties": {"sku": {"name": "Standard"}, "quota": {"maxJobCount": 2}},
            },
        )
    )
    for name in ("a", "b"):
        system.job(name, {"recurrence": {"frequency": "Minute"}}, collection="small")
    with pytest.raises(QuotaExceeded, match="allow 2"):
        system.job("c", {}, collection="small")
    with pytest.raises(QuotaExceeded, match="every 1 minute"):
        system.run(
            system.service.put_collection(
                ref, {"location": "westus", "properties": {"sku": {"name": "Free"}}}
            )
        )
    assert system.run(system.service.get_collection(ref)).collection.sku.value == "Standard"


def test_free_collections_per_subscription(system: System) -> None:
    free = {"location": "westus", "properties": {"sku": {"name": "Free"}}}
    system.run(system.service.put_collection(CollectionRef("sub", "rg", "f1"), free))
    with pytest.raises(QuotaExceeded, match="allows 1"):
        system.run(system.service.put_collection(CollectionRef("sub", "rg2", "f2"), free))
    system.run(system.service.put_collection(CollectionRef("other", "rg", "f2"), free))


def test_delete_collection_removes_jobs_and_history(system: System) -> None:
    collection = system.collection()
    ref = system.job("once", {})
    system.at(T0)
    system.run(system.service.delete_collection(collection))
    with pytest.raises(CollectionNotFound):
        system.run(system.service.get_job(ref))
    system.collection()
    with pytest.raises(NotFound):
        system.run(system.service.get_job(ref))


def test_disabled_job_put_then_enabled_by_patch(system: System) -> None:
    system.collection()
    ref = system.job(
        "j",
        {
            "startTime": "2024-01-01T00:00:00Z",
            "recurrence": {"frequency": "Hour"},
            "state": "Disabled",
        },
    )
    system.clock.advance(timedelta(minutes=90))
    view = system.run(system.service.patch_job(ref, {"properties": {"state": "Enabled"}}))
    assert view.job.state is JobState.ENABLED
    assert view.job.status.next_execution_time == T0 + timedelta(hours=2)


def test_patch_revives_a_faulted_job_without_naming_its_state(system: System) -> None:
    system.collection()
    system.executor.default = False
    ref = system.job(
        "once",
        {
            "startTime": "2024-01-01T00:00:00Z",
            "action": {
                "type": "Http",
                "request": {"uri": "http://x/", "method": "GET"},
                "retryPolicy": {"retryType": "None"},
            },
        },
    )
    system.at(T0)
    assert system.status(ref).state is JobState.FAULTED
    system.clock.advance(timedelta(minutes=1))
    view = system.run(
        system.service.patch_job(ref, {"properties": {"recurrence": {"frequency": "Hour"}}})
    )
    assert view.job.state is JobState.ENABLED
    assert view.job.status.next_execution_time == T0 + timedelta(hours=1)
    assert view.job.status.faulted_count == 1


@pytest.mark.parametrize(
    ("action", "secret"),
    [
        (
            {
                "type": "Amqp",
                "amqpMessage": {"url": "amqp://u:amqp-Secret-91@rabbit:5672/v", "routingKey": "k"},
            },
            "amqp-Secret-91",
        ),
        (
            {
                "type": "StorageQueue",
                "queueMessage": {
                    "storageAccount": "a",
                    "queueName": "q",
                    "sasToken": "?sv=1&sig=sas-Secret-92",
                    "message": "m",
                },
            },
            "sas-Secret-92",
        ),
        (
            {
                "type": "ServiceBusTopic",
                "serviceBusTopicMessage": {
                    "namespace": "n",
                    "topicPath": "t",
                    "authentication": {
                        "type": "SharedAccessKey",
                        "sasKeyName": "k",
                        "sasKey": "sb-Secret-93",
                    },
                },
            },
            "sb-Secret-93",
        ),
        (
            {
                "type": "Http",
                "request": {
                    "uri": "http://x/",
                    "method": "GET",
                    "authentication": {
                        "type": "ActiveDirectoryOAuth",
                        "tenant": "t",
                        "audience": "a",
                        "clientId": "c",
                        "secret": "oauth-Secret-94",
                    },
                },
            },
            "oauth-Secret-94",
        ),
    ],
    ids=["amqp-password", "sas-token", "service-bus-key", "oauth-secret"],
)
def test_every_kind_of_secret_is_sealed_and_never_returned(
    system: System, tmp_path: Path, action: dict[str, Any], secret: str
) -> None:
    system.collection()
    shown, _ = put(system, "j", {"properties": {"action": action}})
    assert secret not in str(shown)
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("jobclock.db*"))
    assert secret.encode() not in raw
    stored = system.status(JobRef(CollectionRef("sub", "rg", "jc"), "j")).definition.action.payload
    assert secret in repr(
        system.service.codec.plain_json(
            system.status(JobRef(CollectionRef("sub", "rg", "jc"), "j")).definition
        )
    )
    assert secret not in repr(stored)
