"""What every ARM route shares: paths, path parameters, ``api-version`` and request bodies."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Path, Query, Request

from jobclock.api.body_schemas import (
    NAME_SCHEMA,
    collection_request_schema,
    job_request_schema,
    json_body,
    scope_schema,
)
from jobclock.api.schemas import ErrorResponse
from jobclock.codec.job import parse_json_body
from jobclock.domain.errors import InvalidApiVersion, InvalidDefinition, MalformedJob
from jobclock.services import CollectionRef, JobRef

API_VERSION = "2016-03-01"
# What the Azure clients of 2016-03-01 (azure-mgmt-scheduler 7.0.0) send. §2.1 allows the
# older 2016-01-01 and 2014-08-01-preview too; answering them as ARM answers any version
# it does not serve keeps one documented version (issue 11).
SUPPORTED_API_VERSIONS = (API_VERSION,)

PROVIDER = "providers/Microsoft.Scheduler/jobCollections"
SUBSCRIPTION_COLLECTIONS = f"/subscriptions/{{subscriptionId}}/{PROVIDER}"
GROUP_COLLECTIONS = (
    f"/subscriptions/{{subscriptionId}}/resourceGroups/{{resourceGroupName}}/{PROVIDER}"
)
COLLECTION = f"{GROUP_COLLECTIONS}/{{jobCollectionName}}"
JOBS = f"{COLLECTION}/jobs"
JOB = f"{JOBS}/{{jobName}}"

# A job is at most 16 K (§6.1; the codec says so precisely); this only bounds memory.
MAX_BODY_BYTES = 1 << 20
# How deep a body may nest, as Json.NET (which ARM reads bodies with) allows by default; a
# job nests 7 deep at most. Deeper bodies would exhaust the recursion of the JSON reader
# and of the codec's walks (a 500); they are malformed.
MAX_JSON_DEPTH = 64

# ARM's longest resource group name (a subscription id is a 36-character GUID). The store
# holds 200 characters, lower-cased too ("İ" lowers to two), and no NUL on PostgreSQL.
MAX_SCOPE_LENGTH = 90
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

SubscriptionId = Annotated[
    str, Path(alias="subscriptionId", json_schema_extra=scope_schema(MAX_SCOPE_LENGTH))
]
ResourceGroupName = Annotated[
    str, Path(alias="resourceGroupName", json_schema_extra=scope_schema(MAX_SCOPE_LENGTH))
]
# The name rule in the document; a name that breaks it is still the service's 400.
JobCollectionName = Annotated[
    str, Path(alias="jobCollectionName", json_schema_extra={"pattern": NAME_SCHEMA["pattern"]})
]
JobName = Annotated[
    str, Path(alias="jobName", json_schema_extra={"pattern": NAME_SCHEMA["pattern"]})
]

# FastAPI's ``responses=`` documentation of status codes.
Responses = dict[int | str, dict[str, Any]]

ERROR_RESPONSES: Responses = {
    400: {"model": ErrorResponse, "description": "Bad request"},
    401: {"model": ErrorResponse, "description": "Missing or invalid bearer token"},
    404: {"model": ErrorResponse, "description": "Resource not found"},
    409: {"model": ErrorResponse, "description": "Quota or plan limit exceeded"},
    # 403 (a role that may not), 405, 413, 415... Declaring a range keeps FastAPI from
    # documenting a 422 the API never answers (its validation errors are 400s), while a
    # 5xx stays undocumented: the API is not meant to answer one.
    "4XX": {"model": ErrorResponse, "description": "Any other client error"},
}
# With ``response_class=Response`` (no media type) FastAPI declares no content for it.
EMPTY_RESPONSE: Responses = {200: {"description": "Done; the body is empty"}}
COLLECTION_PUT_BODY = json_body(collection_request_schema())
COLLECTION_PATCH_BODY = json_body(collection_request_schema(patch=True))
JOB_PUT_BODY = json_body(job_request_schema())
JOB_PATCH_BODY = json_body(job_request_schema(patch=True))

_COLLECTION_PARAMETERS = {
    "subscriptionId": "$request.path.subscriptionId",
    "resourceGroupName": "$request.path.resourceGroupName",
    "jobCollectionName": "$request.path.jobCollectionName",
}
_JOB_PARAMETERS = _COLLECTION_PARAMETERS | {"jobName": "$request.path.jobName"}


def _links(parameters: dict[str, str], *operations: str) -> dict[str, Any]:
    return {
        operation: {"operationId": operation, "parameters": dict(parameters)}
        for operation in operations
    }


# OpenAPI links from a created or updated resource to what may follow it (stateful clients
# and fuzzers follow them).
COLLECTION_LINKS = _links(
    _COLLECTION_PARAMETERS,
    "JobCollections_Get",
    "JobCollections_Patch",
    "JobCollections_Enable",
    "JobCollections_Disable",
    "JobCollections_Delete",
    "Jobs_CreateOrUpdate",
    "Jobs_List",
)
JOB_LINKS = _links(
    _JOB_PARAMETERS,
    "Jobs_Get",
    "Jobs_Patch",
    "Jobs_Run",
    "Jobs_ListJobHistory",
    "Jobs_Delete",
)


async def require_api_version(
    api_version: Annotated[
        str | None,
        Query(
            alias="api-version",
            description=f"The API version: {', '.join(SUPPORTED_API_VERSIONS)}.",
        ),
    ] = None,
) -> None:
    """400 ``MissingApiVersionParameter`` / ``InvalidApiVersionParameter`` (§2.1)."""
    if api_version is None or not api_version.strip():
        raise InvalidApiVersion(
            "The api-version query parameter (?api-version=) is required for all requests.",
            code="MissingApiVersionParameter",
        )
    if api_version not in SUPPORTED_API_VERSIONS:
        supported = ", ".join(f"'{version}'" for version in SUPPORTED_API_VERSIONS)
        raise InvalidApiVersion(
            f"The api-version '{api_version}' is invalid. The supported versions are {supported}."
        )


def check_scope(subscription: str, resource_group: str | None = None) -> None:
    """400 ``BadRequest`` unless the subscription and resource group are 1 to
    :data:`MAX_SCOPE_LENGTH` characters with no control character: a NUL or a longer name
    was a 500 on PostgreSQL, whatever the operation."""
    for parameter, value in (
        ("subscriptionId", subscription),
        ("resourceGroupName", resource_group),
    ):
        if value is None:
            continue
        if not value or len(value) > MAX_SCOPE_LENGTH or _CONTROL.search(value):
            raise InvalidDefinition(
                f"'{parameter}' must be 1 to {MAX_SCOPE_LENGTH} characters, none of them a "
                f"control character; got {value[: MAX_SCOPE_LENGTH + 10]!r}.",
                field=parameter,
            )


def collection_ref(subscription: str, resource_group: str, name: str) -> CollectionRef:
    check_scope(subscription, resource_group)
    return CollectionRef(subscription=subscription, resource_group=resource_group, name=name)


def job_ref(subscription: str, resource_group: str, collection: str, name: str) -> JobRef:
    return JobRef(collection=collection_ref(subscription, resource_group, collection), name=name)


async def read_json_body(request: Request) -> object:
    """The request body decoded as JSON; not JSON at all is ``Malformed Job Object``.

    The body is read as raw bytes (FastAPI does not parse it), so the codec decides what
    a malformed body is, as it does for the CLI. So does a body nested deeper than
    :data:`MAX_JSON_DEPTH`.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            raise _too_large()
    try:
        body = parse_json_body(bytes(data))
    except RecursionError:
        raise _too_deep() from None
    if _nests_deeper(body, MAX_JSON_DEPTH):
        raise _too_deep()
    return body


def _nests_deeper(value: object, limit: int) -> bool:
    """Whether ``value`` holds objects or arrays more than ``limit`` deep (no recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children: Iterable[object]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _too_deep() -> MalformedJob:
    return MalformedJob(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels.")


def _too_large() -> InvalidDefinition:
    return InvalidDefinition(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
