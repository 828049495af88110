"""JSON Schemas of the ARM bodies for the OpenAPI document, built from the codec's keys.

The keys of every object come from :data:`jobclock.codec.keys.KNOWN_KEYS`: a request
object declares exactly the keys known at its place (:func:`_request_object` raises when
the two differ, so the document cannot drift from what the server accepts), with
``additionalProperties: false`` because the server refuses any other key (400). Response
objects declare what :mod:`jobclock.codec` writes, a subset of the same keys, and nothing
else. Enumerations are the domain's enums. The schemas describe the canonical spellings;
the server also reads keys and enum values in any case (§2.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from jobclock.codec.action import PAYLOAD_KEYS
from jobclock.codec.collection import MAX_LOCATION_LENGTH
from jobclock.codec.keys import KNOWN_KEYS
from jobclock.domain.actions import ActionType, HttpMethod, TransportType
from jobclock.domain.calendar import MAX_CALENDAR_DATES, OnHoliday
from jobclock.domain.collection import NAME_HTML_PATTERN, CollectionState, Sku
from jobclock.domain.history import ActionName, HistoryStatus
from jobclock.domain.job import CatchUpPolicy, JobState, OverlapPolicy
from jobclock.domain.limits import (
    MAX_BODY_LENGTH,
    MAX_HEADERS,
    MAX_RETRY_COUNT,
    MAX_URI_LENGTH,
)
from jobclock.domain.notification import EventType
from jobclock.domain.recurrence import MAX_COUNT, DayOfWeek, Fold, Frequency, Gap
from jobclock.domain.retry_policy import RetryType

Schema = dict[str, Any]

# The collection and job name rule of the path parameters (one rule, domain/collection.py).
NAME_SCHEMA: Schema = {"type": "string", "pattern": f"^{NAME_HTML_PATTERN}$"}


def scope_schema(max_length: int) -> Schema:
    """A subscription or resource group path parameter (see ``api.arm.check_scope``)."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": r"^[^\x00-\x1f\x7f]*$",
    }


_STRING: Schema = {"type": "string"}
_TEXT: Schema = {"type": "string", "minLength": 1}
# Required names: not empty once stripped.
_NAME: Schema = {"type": "string", "pattern": r"\S"}
_INSTANT: Schema = {"type": "string", "format": "date-time"}
_BOOLEAN: Schema = {"type": "boolean"}
# ISO 8601 (PT30S, P1DT12H) or .NET TimeSpan (00:00:30) text (domain/durations.py).
_DURATION: Schema = {
    "type": "string",
    "pattern": r"^(P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?"
    r"|(\d+\.)?([01]?\d|2[0-3]):[0-5]?\d(:[0-5]?\d)?)$",
}
_HTTP_URI: Schema = {
    "type": "string",
    "format": "uri",
    "maxLength": MAX_URI_LENGTH,
    "description": "An absolute http:// or https:// URL.",
}
# RFC 9110 tokens as names, no control character but tab in values (domain/limits.py).
_HEADER_MAP: Schema = {
    "type": "object",
    "maxProperties": MAX_HEADERS,
    "propertyNames": {"pattern": r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"},
    "additionalProperties": {"type": "string", "pattern": r"^[^\x00-\x08\x0a-\x1f\x7f]*$"},
}
_STRING_MAP: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
_BODY_TEXT: Schema = {"type": "string", "maxLength": MAX_BODY_LENGTH}


def enum_schema(kind: type[Enum], only: Iterable[Enum] | None = None) -> Schema:
    """A string enumeration of ``kind``'s values (or of ``only``)."""
    members = list(kind) if only is None else list(only)
    return {"type": "string", "enum": [str(member.value) for member in members]}


def _request_object(place: str, properties: Mapping[str, Schema], *required: str) -> Schema:
    """An object of the request with exactly the keys :data:`KNOWN_KEYS` knows at ``place``."""
    declared, known = set(properties), set(KNOWN_KEYS[place])
    if declared != known:
        raise AssertionError(
            f"the schema of {place!r} declares {sorted(declared)}, the codec knows {sorted(known)}"
        )
    return _object(properties, *required)


def _object(properties: Mapping[str, Schema], *required: str) -> Schema:
    schema: Schema = {
        "type": "object",
        "properties": dict(properties),
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema


def _response_object(place: str, properties: Mapping[str, Schema], *required: str) -> Schema:
    """An object of a response: only keys the codec knows at ``place``."""
    unknown = set(properties) - set(KNOWN_KEYS[place])
    if unknown:
        raise AssertionError(f"the response schema of {place!r} declares unknown {unknown}")
    return _object(properties, *required)


# -- the parts shared by the main action and the error action ----------------------------


def _retry_policy() -> Schema:
    return _request_object(
        "retryPolicy",
        {
            "retryType": enum_schema(RetryType),
            "retryInterval": _DURATION,
            "retryCount": {"type": "integer", "minimum": 0, "maximum": MAX_RETRY_COUNT},
            "maxInterval": _DURATION,
            "maxAge": _DURATION,
        },
    )


def _http_authentication(response: bool) -> Schema:
    make = _response_object if response else _request_object
    basic = {"type": {"const": "Basic"}, "username": _TEXT}
    certificate: dict[str, Schema] = {
        "type": {"const": "ClientCertificate"},
        "certificateThumbprint": _STRING,
        "certificateExpiration": _INSTANT,
        "certificateExpirationDate": _INSTANT,
        "certificateSubjectName": _STRING,
    }
    oauth = {
        "type": {"const": "ActiveDirectoryOAuth"},
        "tenant": _TEXT,
        "audience": _TEXT,
        "clientId": _TEXT,
    }
    if response:
        # Secrets are never returned (§7).
        return {
            "anyOf": [
                make("basicAuthentication", basic, "type", "username"),
                make("clientCertificateAuthentication", certificate, "type"),
                make("oauthAuthentication", oauth, "type", "tenant", "audience", "clientId"),
            ]
        }
    return {
        "description": "Secrets are write-only: GET never shows them, and a PUT that "
        "echoes a job without them keeps the stored ones.",
        "anyOf": [
            make(
                "basicAuthentication", basic | {"password": _TEXT}, "type", "username", "password"
            ),
            make(
                "clientCertificateAuthentication",
                certificate
                | {
                    "pfx": {**_TEXT, "description": "A base64 PKCS#12 file."},
                    "password": _STRING,
                },
                "type",
                "pfx",
            ),
            make(
                "oauthAuthentication",
                oauth | {"secret": _TEXT},
                "type",
                "tenant",
                "audience",
                "clientId",
                "secret",
            ),
            make("noAuthentication", {"type": {"const": "NotSpecified"}}, "type"),
        ],
    }


def _http_request(response: bool) -> Schema:
    make = _response_object if response else _request_object
    return make(
        "request",
        {
            "uri": _HTTP_URI,
            "method": enum_schema(HttpMethod),
            "headers": _HEADER_MAP,
            "body": _BODY_TEXT,
            "authentication": _http_authentication(response),
            "signing": _signing(response),
            "template": _TEMPLATE,
        },
        *(("uri", "method") if response else ("uri",)),
    )


_TEMPLATE: Schema = {
    "type": "boolean",
    "description": "jobclock's: the text fields are templates ({{ scheduledTime | ... }}).",
}


def _signing(response: bool) -> Schema:
    """Standard Webhooks signing; its keys are write-only (a response shows ``{}``)."""
    if response:
        return _response_object("signing", {})
    key = {"type": "string", "pattern": "^whsec_[A-Za-z0-9+/]+={0,2}$"}
    return _request_object("signing", {"secret": key, "previousSecret": key}, "secret")


def _queue_message(response: bool) -> Schema:
    properties = {
        "storageAccount": _NAME,
        "queueName": _NAME,
        "sasToken": _STRING,
        "message": _BODY_TEXT,
        "template": _TEMPLATE,
    }
    if response:
        del properties["sasToken"]
        return _response_object("queueMessage", properties, "storageAccount", "queueName")
    return _request_object("queueMessage", properties, "storageAccount", "queueName")


def _brokered_properties() -> Schema:
    text = (
        "contentType correlationId label messageId partitionKey replyTo replyToSessionId "
        "sessionId to viaPartitionKey"
    )
    properties: dict[str, Schema] = {key: _STRING for key in text.split()}
    properties |= {
        "forcePersistence": _BOOLEAN,
        "scheduledEnqueueTimeUtc": _INSTANT,
        "timeToLive": _DURATION,
    }
    return _request_object("brokeredMessageProperties", properties)


def _service_bus(entity: str, response: bool) -> Schema:
    place = "serviceBusQueueMessage" if entity == "queueName" else "serviceBusTopicMessage"
    auth_keys = {
        "type": {"type": "string", "enum": ["SharedAccessKey", "NotSpecified"]},
        "sasKeyName": _STRING,
        "sasKey": _STRING,
    }
    if response:
        auth_keys = {"type": {"const": "SharedAccessKey"}, "sasKeyName": _STRING}
        authentication = _response_object("serviceBusAuthentication", auth_keys, "type")
    else:
        authentication = _request_object("serviceBusAuthentication", auth_keys)
    properties = {
        "namespace": _NAME,
        entity: _NAME,
        "transportType": enum_schema(TransportType),
        "authentication": authentication,
        "message": _BODY_TEXT,
        "brokeredMessageProperties": _brokered_properties(),
        "customMessageProperties": _STRING_MAP,
        "template": _TEMPLATE,
    }
    make = _response_object if response else _request_object
    return make(place, properties, "namespace", entity)


def _amqp_message(response: bool) -> Schema:
    properties = {
        "url": {
            "type": "string",
            "pattern": "^[Aa][Mm][Qq][Pp][Ss]?://",
            "description": "An amqp:// or amqps:// URL.",
        },
        "password": _STRING,
        "exchange": _STRING,
        "routingKey": _STRING,
        "message": _BODY_TEXT,
        "contentType": _STRING,
        "headers": {**_STRING_MAP, "maxProperties": MAX_HEADERS},
        "persistent": _BOOLEAN,
        "template": _TEMPLATE,
    }
    if response:
        del properties["password"]
        return _response_object("amqpMessage", properties, "url")
    return _request_object("amqpMessage", properties, "url")


def _payload(kind: ActionType, response: bool) -> Schema:
    if kind in (ActionType.HTTP, ActionType.HTTPS):
        return _http_request(response)
    if kind is ActionType.STORAGE_QUEUE:
        return _queue_message(response)
    if kind is ActionType.SERVICE_BUS_QUEUE:
        return _service_bus("queueName", response)
    if kind is ActionType.SERVICE_BUS_TOPIC:
        return _service_bus("topicPath", response)
    return _amqp_message(response)


def action_schema(place: str, *, response: bool = False) -> Schema:
    """The action (``place`` ``action``) or the error action: one branch per action type,
    each with the payload key of its type only (another type's payload is refused)."""
    error_action = action_schema("errorAction", response=response) if place == "action" else None
    branches = []
    declared: set[str] = set()
    for kind in ActionType:
        properties: dict[str, Schema] = {
            "type": {"const": kind.value},
            PAYLOAD_KEYS[kind]: _payload(kind, response),
            "retryPolicy": _retry_policy(),
        }
        if error_action is not None:
            properties["errorAction"] = error_action
        declared |= set(properties)
        branches.append(_object(properties, "type", PAYLOAD_KEYS[kind]))
    # ``errorAction`` inside an error action is known only to be refused with its message.
    expected = set(KNOWN_KEYS[place]) - ({"errorAction"} if error_action is None else set())
    if declared != expected:
        raise AssertionError(f"the {place!r} branches declare {declared}, the codec {expected}")
    return {"anyOf": branches}


# -- recurrence --------------------------------------------------------------------------


def _int_array(low: int, high: int, *, not_zero: bool = False) -> Schema:
    item: Schema = {"type": "integer", "minimum": low, "maximum": high}
    if not_zero:
        item["not"] = {"const": 0}
    return {"type": "array", "items": item, "minItems": 1}


def recurrence_schema(*, response: bool = False) -> Schema:
    make = _response_object if response else _request_object
    occurrence = make(
        "monthlyOccurrence",
        {
            "day": enum_schema(DayOfWeek),
            "Occurrence": {"type": "integer", "minimum": -5, "maximum": 5, "not": {"const": 0}},
        },
        "day",
    )
    schedule = make(
        "schedule",
        {
            "minutes": _int_array(0, 59),
            "hours": _int_array(0, 23),
            "weekDays": {"type": "array", "items": enum_schema(DayOfWeek), "minItems": 1},
            "monthDays": _int_array(-31, 31, not_zero=True),
            "monthlyOccurrences": {"type": "array", "items": occurrence, "minItems": 1},
        },
    )
    dst_policy = make(
        "dstPolicy",
        {
            "gap": enum_schema(Gap),
            "fold": enum_schema(Fold),
        },
    )
    calendar = make(
        "calendarRef",
        {
            "name": {"type": "string", "pattern": NAME_SCHEMA["pattern"]},
            "onHoliday": enum_schema(OnHoliday),
        },
        "name",
    )
    recurrence = make(
        "recurrence",
        {
            "frequency": enum_schema(Frequency),
            "interval": {"type": "integer", "minimum": 1, "maximum": 86_400},
            "count": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT},
            "endTime": _INSTANT,
            "schedule": schedule,
            "timeZone": {**_TEXT, "description": "An IANA time zone name; UTC if absent."},
            "cron": {
                **_TEXT,
                "description": "jobclock's extension: a cron expression of 5 fields (or 6, "
                "with seconds first), read in timeZone; instead of frequency, interval and "
                "schedule.",
            },
            "rrule": {
                **_TEXT,
                "description": "jobclock's extension: an RFC 5545 RRULE (startTime is its "
                "DTSTART), read in timeZone; instead of frequency, interval and schedule.",
            },
            "exdates": {
                "type": "array",
                "items": _INSTANT,
                "maxItems": 1000,
                "description": "jobclock's extension: instants the recurrence leaves out.",
            },
            "dstPolicy": {
                **dst_policy,
                "description": "jobclock's extension: what a wall time in a daylight-saving "
                "gap (shift, gapEnd, skip) or fold (first, second, both) does.",
            },
            "jitter": {
                **_DURATION,
                "description": "jobclock's extension: an ISO 8601 duration (at most 31 days); "
                "each occurrence runs later than its slot by a part of it that depends only "
                "on the job and the slot (never at or after the next slot).",
            },
            "calendar": {
                **calendar,
                "description": "jobclock's extension: a holiday calendar of the job's "
                "collection; an occurrence on one of its holidays is skipped, or runs on the "
                "next or previous business day at the same wall time (onHoliday).",
            },
        },
    )
    # Azure's frequency, a cron expression or an RRULE: one of them.
    kinds = [
        {"required": ["frequency", "interval"] if response else ["frequency"]},
        {"required": ["cron"]},
        {"required": ["rrule"]},
    ]
    azure = {"frequency": False, "interval": False, "schedule": False}
    excluded: dict[str, Schema] = {
        "cron": {"properties": azure | {"rrule": False}},
        "rrule": {"properties": azure | {"cron": False}},
    }
    return recurrence | {"anyOf": kinds, "dependentSchemas": excluded}


# -- jobs --------------------------------------------------------------------------------

_JOB_ENVELOPE_READ_ONLY: dict[str, Schema] = {
    "id": _STRING,
    "type": _STRING,
    "name": _STRING,
}


def partial(schema: Schema) -> Schema:
    """``schema`` with nothing required at any depth: a PATCH body is deep-merged into the
    stored resource, so any part of it may be left out (the merge must still be whole)."""
    if isinstance(schema, dict):
        # What a merge decides (a cron expression replaces a stored frequency) is checked
        # on the merged job, not on the patch.
        dropped = ("required", "dependentSchemas")
        return {key: partial(value) for key, value in schema.items() if key not in dropped}
    if isinstance(schema, list):
        return [partial(item) for item in schema]
    return schema


_OVERLAP: Schema = {
    **enum_schema(OverlapPolicy),
    "description": "jobclock's extension: what a slot that comes due while the job's "
    "previous occurrence still runs does: Postpone (Azure's, default: the latest runs when it "
    "ends), Skip, BufferOne (the first runs when it ends), BufferAll (each runs, in turn) or "
    "AllowAll (each starts on time).",
}


_CATCH_UP: Schema = {
    "type": "object",
    "properties": {
        "policy": enum_schema(CatchUpPolicy),
        "window": _DURATION,
    },
    "additionalProperties": False,
    "description": "jobclock's extension: what slots missed while the service was down (or "
    "the collection disabled) do: skip (Azure's; window: the misfire grace, default 60 s), "
    "once (the latest within window runs) or all (every one within window runs, in turn).",
}


def job_request_schema(*, patch: bool = False) -> Schema:
    """The body of ``Jobs_CreateOrUpdate`` (or, ``patch``, of ``Jobs_Patch``: every key
    optional, ``status`` refused, a null deletes a key)."""
    properties: dict[str, Schema] = {
        "startTime": _INSTANT,
        "action": action_schema("action"),
        "recurrence": recurrence_schema(),
        "state": enum_schema(JobState, (JobState.ENABLED, JobState.DISABLED)),
        "status": {"type": "object", "description": "Read-only; ignored on PUT."},
        "overlapPolicy": _OVERLAP,
        "catchUp": _CATCH_UP,
        "attemptTimeout": _DURATION,
        "expectRunWithin": _DURATION,
    }
    if patch:
        job_properties = _request_object("properties", properties)
        # The read-only status cannot be patched (400); the schema leaves it out.
        del job_properties["properties"]["status"]
        envelope = _request_object(
            "envelope", _JOB_ENVELOPE_READ_ONLY | {"properties": job_properties}
        )
        return partial(envelope)
    job_properties = _request_object("properties", properties, "action")
    return _request_object(
        "envelope", _JOB_ENVELOPE_READ_ONLY | {"properties": job_properties}, "properties"
    )


def job_properties_response_schema() -> Schema:
    status = _object(
        {
            "lastExecutionTime": _INSTANT,
            "nextExecutionTime": _INSTANT,
            "executionCount": {"type": "integer", "minimum": 0},
            "failureCount": {"type": "integer", "minimum": 0},
            "faultedCount": {"type": "integer", "minimum": 0},
        },
        "executionCount",
        "failureCount",
        "faultedCount",
    )
    return _response_object(
        "properties",
        {
            "startTime": _INSTANT,
            "action": action_schema("action", response=True),
            "recurrence": recurrence_schema(response=True),
            "state": enum_schema(JobState),
            "status": status,
            "overlapPolicy": _OVERLAP,
            "catchUp": _CATCH_UP,
            "attemptTimeout": _DURATION,
            "expectRunWithin": _DURATION,
        },
        "action",
        "state",
        "status",
    )


# -- collections and history --------------------------------------------------------------


def _quota() -> Schema:
    return {
        "type": "object",
        "properties": {
            "maxJobCount": {"type": "integer", "minimum": 1},
            "maxJobOccurrence": {"type": "integer", "minimum": 1},
            "maxRecurrence": {
                "type": "object",
                "properties": {
                    "frequency": enum_schema(Frequency),
                    "interval": {"type": "integer", "minimum": 1, "maximum": 86_400},
                },
                "required": ["frequency"],
            },
        },
    }


def collection_request_schema(*, patch: bool = False) -> Schema:
    """The body of ``JobCollections_CreateOrUpdate`` (``patch``: of ``JobCollections_Patch``,
    deep-merged into the stored collection, so nothing is required). The server ignores
    keys it does not know here, so the schema allows them."""
    properties = {
        "sku": {"type": "object", "properties": {"name": enum_schema(Sku)}},
        "state": enum_schema(CollectionState, (CollectionState.ENABLED, CollectionState.DISABLED)),
        "quota": _quota(),
        "hostLimits": _HOST_LIMITS,
    }
    schema: Schema = {
        "type": "object",
        "properties": {
            "location": {
                "type": "string",
                "maxLength": MAX_LOCATION_LENGTH,
                "pattern": r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$",
                "description": "An Azure region name.",
            },
            "tags": _STRING_MAP,
            "properties": {"type": "object", "properties": properties},
        },
    }
    return partial(schema) if patch else schema | {"required": ["location"]}


def collection_properties_response_schema() -> Schema:
    quota = _quota()
    quota["additionalProperties"] = False
    quota["properties"]["maxRecurrence"] |= {
        "additionalProperties": False,
        "required": ["frequency", "interval"],
    }
    return _object(
        {
            "sku": _object({"name": enum_schema(Sku)}, "name"),
            "state": enum_schema(CollectionState),
            "quota": quota,
            "hostLimits": _HOST_LIMITS,
        },
        "sku",
        "state",
    )


# jobclock's per-target caps of a collection's jobs (issue 15, item 4).
_HOST_LIMITS: Schema = {
    "type": "array",
    "maxItems": 50,
    "items": {
        "type": "object",
        "properties": {
            "host": {"type": "string", "description": "A host, or *.suffix for each under it."},
            "concurrency": {"type": "integer", "minimum": 1},
            "ratePerSecond": {"type": "number", "exclusiveMinimum": 0},
        },
        "required": ["host"],
        "additionalProperties": False,
    },
}


def history_properties_response_schema() -> Schema:
    count = {"type": "integer", "minimum": 0}
    return _object(
        {
            "startTime": _INSTANT,
            "endTime": _INSTANT,
            "expectedExecutionTime": _INSTANT,
            "message": _STRING,
            "retryCount": count,
            "repeatCount": count,
            "actionName": enum_schema(ActionName),
            "status": enum_schema(HistoryStatus),
        },
        "startTime",
        "endTime",
        "expectedExecutionTime",
        "message",
        "retryCount",
        "repeatCount",
        "actionName",
        "status",
    )


def calendar_request_schema() -> Schema:
    """The body of ``Calendars_CreateOrUpdate`` (jobclock's extension). ``jobs``, which a
    GET shows, is read-only and ignored."""
    properties: Schema = {
        "timeZone": {**_TEXT, "description": "An IANA time zone name; absent: each job's own."},
        "dates": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
            "maxItems": MAX_CALENDAR_DATES,
        },
        "weekDays": {"type": "array", "items": enum_schema(DayOfWeek), "maxItems": 6},
        "jobs": {"type": "array", "items": _STRING, "readOnly": True},
    }
    return {
        "type": "object",
        "properties": {
            "id": _STRING,
            "name": _STRING,
            "type": _STRING,
            "properties": {**_object(properties)},
        },
        "required": ["properties"],
        "additionalProperties": False,
    }


def json_body(schema: Schema) -> dict[str, Any]:
    """FastAPI's ``openapi_extra`` declaring a required JSON request body of ``schema``."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def endpoint_request_schema() -> Schema:
    """The body of ``Notifications_CreateOrUpdate`` (jobclock's extension)."""
    key = {"type": "string", "pattern": "^whsec_[A-Za-z0-9+/]+={0,2}$"}
    properties: Schema = {
        "uri": _HTTP_URI,
        "events": {
            "type": "array",
            "items": enum_schema(EventType),
            "minItems": 1,
            "description": "Absent: every event.",
        },
        "lateAfter": _DURATION,
        "signing": {
            "type": "object",
            "properties": {"secret": key, "previousSecret": key},
            "additionalProperties": False,
            "description": "Write-only; a GET shows {}.",
        },
    }
    return {
        "type": "object",
        "properties": {
            "id": _STRING,
            "name": _STRING,
            "type": _STRING,
            "properties": {**_object(properties, "uri")},
        },
        "required": ["properties"],
        "additionalProperties": False,
    }
