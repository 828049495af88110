"""Every rule and limit of §3 and §6.1: rejected with Azure's code, status and a clear message."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from jobclock.codec.collection import collection_from_json
from jobclock.codec.job import job_definition_from_json, parse_json_body
from jobclock.codec.recurrence import recurrence_from_json
from jobclock.domain.collection import JobCollection, MaxRecurrence, Quota, Sku
from jobclock.domain.errors import InvalidDefinition, MalformedJob, QuotaExceeded, SchedulerError
from jobclock.domain.limits import (
    check_collection_capacity,
    check_job,
    check_job_capacity,
    check_plan_change,
    min_spacing,
)
from jobclock.domain.recurrence import Frequency

NOW = datetime(2024, 1, 1, tzinfo=UTC)
STANDARD = JobCollection("jc", "West US", Sku.STANDARD)
FREE = JobCollection("free", "West US", Sku.FREE)
UNLIMITED = JobCollection("big", "West US", Sku.UNLIMITED)


def http_job(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "properties": {
            "startTime": "2024-01-01T00:00:00Z",
            "action": {"type": "Http", "request": {"uri": "http://127.0.0.1/", "method": "GET"}},
            "recurrence": {"frequency": "Hour", "interval": 1},
        }
    }
    for path, value in changes.items():
        target = body["properties"]
        keys = path.split("__")
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value
    return body


def validate(body: object, collection: JobCollection = STANDARD) -> None:
    check_job(job_definition_from_json(copy.deepcopy(body)), collection, NOW)


def rejected(
    body: object, error: type[SchedulerError], status: int, code: str, match: str, **kw: Any
) -> None:
    with pytest.raises(error, match=match) as caught:
        validate(body, **kw)
    assert caught.value.status == status
    assert caught.value.code == code


BAD_REQUESTS = [
    pytest.param(http_job(action__request__uri="http://127.0.0.1/" + "a" * 2040), "2048", id="uri-longer-than-2048"),
    pytest.param(http_job(action__request__uri="ftp://example.com/"), "absolute http or https", id="uri-not-http"),
    pytest.param(http_job(action__request__uri="/relative"), "absolute http or https", id="uri-relative"),
    pytest.param(http_job(action__request__headers={f"h{i}": "v" for i in range(51)}), "limit is 50", id="more-than-50-headers"),
    pytest.param(http_job(action__request__headers={f"h{i}": "v" * 100 for i in range(41)}), "4096", id="headers-over-4096-chars"),
    pytest.param(http_job(action__request__body="x" * 8193), "8192", id="body-over-8192-chars"),
    pytest.param(http_job(action__request__method="PATCH"), "GET, PUT, POST or DELETE", id="unsupported-method"),
    pytest.param(http_job(recurrence={"frequency": "Minute", "interval": 1001}), "between 1 and 1000", id="minute-interval-over-1000"),
    pytest.param(http_job(recurrence={"frequency": "Hour", "interval": 1001}), "between 1 and 1000", id="hour-interval-over-1000"),
    pytest.param(http_job(recurrence={"frequency": "Day", "interval": 549}), "between 1 and 548", id="day-span-over-18-months"),
    pytest.param(http_job(recurrence={"frequency": "Week", "interval": 79}), "between 1 and 78", id="week-span-over-18-months"),
    pytest.param(http_job(recurrence={"frequency": "Month", "interval": 19}), "between 1 and 18", id="month-span-over-18-months"),
    pytest.param(http_job(recurrence={"frequency": "Day", "interval": 0}), "between 1 and 548", id="interval-zero"),
    pytest.param(http_job(recurrence={"frequency": "Day", "count": 0}), "between 1 and 2147483647", id="count-zero"),
    pytest.param(http_job(recurrence={"frequency": "Year"}), "must be one of", id="year-is-not-a-frequency"),
    pytest.param(http_job(startTime="2025-07-03T00:00:00Z"), "18 months", id="start-more-than-18-months-ahead"),
    pytest.param(http_job(recurrence={"frequency": "Day", "endTime": "2023-12-31T00:00:00Z"}), "earlier than 'startTime'", id="end-before-start"),
    pytest.param(http_job(action__retryPolicy={"retryType": "Fixed", "retryInterval": "PT14S"}), "minimum", id="retry-interval-under-15s"),
    pytest.param(http_job(action__retryPolicy={"retryType": "Fixed", "retryInterval": "P549D"}), "18 months", id="retry-interval-over-18-months"),
    pytest.param(http_job(action__retryPolicy={"retryType": "Fixed", "retryCount": 21}), "between 0 and 20", id="retry-count-over-20"),
    pytest.param(http_job(action__errorAction={"type": "Http", "request": {"uri": "http://x/", "method": "GET"}, "retryPolicy": {"retryCount": 21}}), "between 0 and 20", id="error-action-retry-count-over-20"),
    pytest.param(http_job(recurrence={"frequency": "Week", "schedule": {"monthDays": [1]}}), r"^Cannot set days of month with recurrence unit 'Week'\.$", id="month-days-with-week"),
    pytest.param(http_job(recurrence={"frequency": "Day", "schedule": {"weekDays": ["Monday"]}}), "Cannot set days of week with recurrence unit 'Day'", id="week-days-with-day"),
    pytest.param(http_job(recurrence={"frequency": "Hour", "schedule": {"hours": [1]}}), "Cannot set hours with recurrence unit 'Hour'", id="hours-with-hour"),
    pytest.param(http_job(recurrence={"frequency": "Minute", "schedule": {"minutes": [1]}}), "Cannot set minutes with recurrence unit 'Minute'", id="schedule-with-minute"),
    pytest.param(http_job(recurrence={"frequency": "Week", "schedule": {"monthlyOccurrences": [{"day": "Friday", "occurrence": 1}]}}), "Cannot set monthly occurrences", id="occurrences-with-week"),
    pytest.param(http_job(recurrence={"frequency": "Day", "schedule": {"minutes": [60]}}), "between 0 and 59", id="minute-60"),
    pytest.param(http_job(recurrence={"frequency": "Day", "schedule": {"hours": [24]}}), "between 0 and 23", id="hour-24"),
    pytest.param(http_job(recurrence={"frequency": "Month", "schedule": {"monthDays": [0]}}), "between 1 and 31", id="month-day-0"),
    pytest.param(http_job(recurrence={"frequency": "Month", "schedule": {"monthDays": [-32]}}), "between 1 and 31", id="month-day-minus-32"),
    pytest.param(http_job(recurrence={"frequency": "Month", "schedule": {"monthlyOccurrences": [{"day": "Friday", "occurrence": 6}]}}), "between 1 and 5", id="sixth-friday"),
    pytest.param(http_job(recurrence={"frequency": "Month", "schedule": {"monthlyOccurrences": [{"day": "Friday", "occurrence": 0}]}}), "between 1 and 5", id="zeroth-friday"),
    pytest.param(http_job(recurrence={"frequency": "Week", "schedule": {"weekDays": ["Funday"]}}), "must be one of", id="unknown-week-day"),
    pytest.param(http_job(recurrence={"frequency": "Day", "timeZone": "Mars/Olympus_Mons"}), "IANA time zone", id="unknown-time-zone"),
    pytest.param(http_job(state="Completed"), "'Enabled' or 'Disabled' only", id="state-completed-not-settable"),
    pytest.param(http_job(state="Faulted"), "'Enabled' or 'Disabled' only", id="state-faulted-not-settable"),
    pytest.param(http_job(action={"type": "Ftp", "request": {"uri": "http://x/"}}), "must be one of", id="unknown-action-type"),
    pytest.param(http_job(action={"type": "StorageQueue"}), "'properties.action.queueMessage' is required", id="missing-payload"),
    pytest.param(http_job(action={"type": "Http", "request": {"uri": "http://x/"}, "queueMessage": {"storageAccount": "a", "queueName": "q"}}), "does not belong", id="payload-of-another-type"),
    pytest.param(http_job(action__request__authentication={"type": "Basic", "username": "u"}), r"^'Username' and 'Password' are required for 'Basic' type of Authentication\.$", id="basic-without-password"),
    pytest.param(http_job(action__request__authentication={"type": "ActiveDirectoryOAuth", "tenant": "t"}), "required for 'ActiveDirectoryOAuth'", id="oauth-incomplete"),
    pytest.param(http_job(action__request__authentication={"type": "Digest"}), "must be 'Basic'", id="unknown-authentication"),
    pytest.param(http_job(action__errorAction={"type": "Http", "request": {"uri": "http://x/"}, "errorAction": {"type": "Http", "request": {"uri": "http://y/"}}}), "cannot have an error action", id="nested-error-action"),
    pytest.param(http_job(action={"type": "StorageQueue", "queueMessage": {"storageAccount": "a", "queueName": "q", "message": "m" * 8193}}), "8192", id="queue-message-over-8192"),
    pytest.param(http_job(action={"type": "Amqp", "amqpMessage": {"url": "http://rabbit/", "routingKey": "k"}}), "amqp://", id="amqp-url-scheme"),
    pytest.param(http_job(action={"type": "Amqp", "amqpMessage": {"url": "amqps://u:p@rabbit/?cafile=/etc/passwd", "routingKey": "k"}}), "may not set cafile", id="amqp-url-tls-files"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "match"), BAD_REQUESTS)
def test_rule_is_rejected_with_bad_request(body: dict[str, Any], match: str) -> None:
    rejected(body, InvalidDefinition, 400, "BadRequest", match)


def test_job_definition_larger_than_16k_is_rejected() -> None:
    body = http_job(action__request__headers={f"h{i}": "v" * 390 for i in range(45)})
    rejected(body, InvalidDefinition, 400, "BadRequest", "16 K")


@pytest.mark.parametrize(
    "data",
    [b"{not json", b"", b"\xff\xfe", b"[1, 2]", b'"text"', b'{"properties": 5}'],
    ids=["broken", "empty", "not-utf8", "array", "string", "properties-not-object"],
)
def test_malformed_bodies_say_malformed_job_object(data: bytes) -> None:
    with pytest.raises(MalformedJob, match=r"^Malformed Job Object") as caught:
        job_definition_from_json(parse_json_body(data))
    assert (caught.value.status, caught.value.code) == (400, "BadRequest")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        pytest.param(http_job(recurrence={"frequency": "Day", "interval": "two"}), "integer", id="interval-string"),
        pytest.param(http_job(recurrence={"frequency": "Day", "count": True}), "integer", id="count-bool"),
        pytest.param(http_job(action__request__headers={"a": 1}), "string values", id="header-number"),
        pytest.param(http_job(action__request__uri=5), "string", id="uri-number"),
    ],
)  # fmt: skip
def test_wrong_json_types_are_malformed(body: dict[str, Any], match: str) -> None:
    rejected(body, MalformedJob, 400, "BadRequest", match)


CONFLICTS = [
    pytest.param(http_job(recurrence={"frequency": "Minute", "interval": 30}), FREE, "every 30 minutes", id="free-faster-than-hourly"),
    pytest.param(http_job(recurrence={"frequency": "Day", "schedule": {"minutes": [0, 15, 30, 45]}}), FREE, "every 15 minutes", id="free-schedule-every-15-minutes"),
    pytest.param(http_job(recurrence={"frequency": "Day", "schedule": {"hours": [0, 23], "minutes": [0, 59]}}), FREE, "every 1 minute", id="free-schedule-across-midnight"),
    pytest.param(http_job(recurrence={"frequency": "Month", "schedule": {"monthDays": [1, -1], "hours": [0, 23], "minutes": [50, 10]}}), FREE, "every 20 minutes", id="free-schedule-across-month-end"),
    pytest.param(http_job(recurrence={"frequency": "Second", "interval": 30}), STANDARD, "every 30 seconds", id="second-needs-a-plan-that-allows-it"),
    pytest.param(http_job(recurrence={"frequency": "Minute", "interval": 5}), JobCollection("q", "West US", Sku.STANDARD, quota=Quota(max_recurrence=MaxRecurrence(Frequency.HOUR, 1))), "once every 1 hour", id="quota-stricter-than-plan"),
    pytest.param(http_job(action__request__authentication={"type": "Basic", "username": "u", "password": "p"}, recurrence={"frequency": "Hour"}), FREE, "not available on the 'Free' plan", id="free-rejects-authentication"),
    pytest.param(http_job(recurrence={"frequency": "Hour"}, action__errorAction={"type": "Http", "request": {"uri": "http://x/", "authentication": {"type": "Basic", "username": "u", "password": "p"}}}), FREE, "not available", id="free-rejects-authentication-in-error-action"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "collection", "match"), CONFLICTS)
def test_plan_and_quota_limits_are_conflicts(
    body: dict[str, Any], collection: JobCollection, match: str
) -> None:
    rejected(body, QuotaExceeded, 409, "Conflict", match, collection=collection)


def test_free_plan_retry_interval_floor_is_one_hour() -> None:
    body = http_job(
        recurrence={"frequency": "Hour"},
        action__retryPolicy={"retryType": "Fixed", "retryInterval": "PT30M"},
    )
    rejected(body, InvalidDefinition, 400, "BadRequest", "01:00:00", collection=FREE)


def test_allowed_definitions_pass() -> None:
    validate(http_job(recurrence={"frequency": "Second", "interval": 1}), UNLIMITED)
    validate(http_job(recurrence={"frequency": "Hour"}), FREE)
    validate(http_job(recurrence={"frequency": "Minute", "interval": 60}), FREE)
    validate(http_job(recurrence={"frequency": "Day", "schedule": {"hours": [0, 12]}}), FREE)
    validate(http_job(startTime="2025-06-30T00:00:00Z", action__retryPolicy={"retryCount": 20}))
    validate(http_job(recurrence={"frequency": "Day", "endTime": "2020-01-01T00:00:00Z"}, startTime=None))  # fmt: skip


def test_min_spacing_measures_the_schedule() -> None:
    def spacing(raw: dict[str, Any]) -> float:
        return min_spacing(recurrence_from_json(raw)).total_seconds()

    assert spacing({"frequency": "Minute", "interval": 5}) == 300
    assert spacing({"frequency": "Week", "schedule": {"weekDays": ["Saturday", "Sunday"]}}) == 86400
    assert spacing({"frequency": "Hour", "interval": 3, "schedule": {"minutes": [0, 50]}}) == 3000
    assert spacing({"frequency": "Hour", "interval": 1, "schedule": {"minutes": [5, 55]}}) == 600


def test_job_cap_per_plan_and_quota() -> None:
    check_job_capacity(FREE, 4)
    with pytest.raises(QuotaExceeded, match="allow 5") as caught:
        check_job_capacity(FREE, 5)
    assert caught.value.status == 409
    tight = JobCollection("t", "West US", Sku.P20_PREMIUM, quota=Quota(max_job_count=10))
    with pytest.raises(QuotaExceeded, match="allow 10"):
        check_job_capacity(tight, 10)
    check_job_capacity(UNLIMITED, 1_000_000)


def test_collections_per_subscription() -> None:
    check_collection_capacity(Sku.FREE, 0, 10)
    with pytest.raises(QuotaExceeded, match="'Free' job collections; the plan allows 1"):
        check_collection_capacity(Sku.FREE, 1, 10)
    with pytest.raises(QuotaExceeded, match="allows 100"):
        check_collection_capacity(Sku.STANDARD, 100, 150)
    with pytest.raises(QuotaExceeded, match="200000"):
        check_collection_capacity(Sku.UNLIMITED, 5, 200_000)


def test_downgrade_to_free_rules() -> None:
    hourly = job_definition_from_json(http_job(recurrence={"frequency": "Hour"}))
    minutely = job_definition_from_json(http_job(recurrence={"frequency": "Minute"}))
    check_plan_change(FREE, [hourly] * 5, other_free=0)
    with pytest.raises(QuotaExceeded, match="already has a 'Free'"):
        check_plan_change(FREE, [hourly], other_free=1)
    with pytest.raises(QuotaExceeded, match="holds 6 jobs"):
        check_plan_change(FREE, [hourly] * 6, other_free=0)
    with pytest.raises(QuotaExceeded, match="every 1 minute"):
        check_plan_change(FREE, [minutely], other_free=0)


COLLECTION_ERRORS = [
    pytest.param("9starts-with-digit", {"location": "westus"}, "name '9starts-with-digit' is invalid", id="name-pattern"),
    pytest.param("x" * 101, {"location": "westus"}, "is invalid", id="name-too-long"),
    pytest.param("jc", {}, "'location' is required", id="location-required"),
    pytest.param("jc", {"location": "westus", "properties": {"sku": {"name": "Gold"}}}, "must be one of", id="unknown-plan"),
    pytest.param("jc", {"location": "westus", "properties": {"sku": {"name": "Free"}, "quota": {"maxJobCount": 6}}}, "too large", id="quota-job-count-looser-than-plan"),
    pytest.param("jc", {"location": "westus", "properties": {"sku": {"name": "Free"}, "quota": {"maxRecurrence": {"frequency": "Minute", "interval": 59}}}}, r"Quota '00:59:00' exceeds the permissible limit for Free collections '01:00:00'", id="quota-recurrence-looser-than-plan"),
    pytest.param("jc", {"location": "westus", "properties": {"state": "Deleted"}}, "cannot be set to 'Deleted'", id="state-deleted"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "match"), COLLECTION_ERRORS)
def test_collection_rules(name: str, body: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidDefinition, match=match) as caught:
        collection_from_json(name, body)
    assert (caught.value.status, caught.value.code) == (400, "BadRequest")


def test_collection_location_is_normalised_and_defaults_apply() -> None:
    collection = collection_from_json("jc", {"location": "westus"})
    assert collection.location == "West US"
    assert collection.sku is Sku.STANDARD
    assert collection.max_jobs == 50
