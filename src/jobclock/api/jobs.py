"""Job operations 9-14 of §2.2."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import WithJsonSchema

from jobclock.api.arm import (
    COLLECTION,
    EMPTY_RESPONSE,
    ERROR_RESPONSES,
    JOB,
    JOB_LINKS,
    JOB_PATCH_BODY,
    JOB_PUT_BODY,
    JOBS,
    JobCollectionName,
    JobName,
    ResourceGroupName,
    Responses,
    SubscriptionId,
    collection_ref,
    job_ref,
    read_json_body,
    require_api_version,
)
from jobclock.api.envelopes import job_resource, list_result
from jobclock.api.listing import (
    Skip,
    SkipToken,
    Top,
    filter_schema,
    job_token,
    next_link,
    parse_filter,
    parse_job_token,
    parse_paging,
)
from jobclock.api.schemas import ExplainResult, JobDefinition, JobListResult, PreviewResult
from jobclock.codec.explain import explanation_to_json
from jobclock.domain.errors import InvalidDefinition
from jobclock.domain.instants import format_instant_seconds, parse_instant
from jobclock.domain.job import JobState
from jobclock.services import JobView, SchedulerService

_ONE: Responses = {200: {"model": JobDefinition}}

StateFilter = Annotated[
    str | None,
    WithJsonSchema(filter_schema("state", JobState)),
    Query(
        alias="$filter",
        description="state eq Enabled|Disabled|Faulted|Completed (value may be quoted)",
    ),
]


def _one(view: JobView, status: int = 200) -> JSONResponse:
    return JSONResponse(job_resource(view), status_code=status)


def job_routes(service: SchedulerService) -> APIRouter:
    """The routes over ``service``; every one requires ``api-version``."""
    router = APIRouter(
        tags=["Jobs"], dependencies=[Depends(require_api_version)], responses=ERROR_RESPONSES
    )

    @router.get(JOBS, operation_id="Jobs_List", responses={200: {"model": JobListResult}})
    async def list_jobs(
        request: Request,
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        collection: JobCollectionName,
        top: Top = None,
        skip: Skip = None,
        skip_token: SkipToken = None,
        filter_: StateFilter = None,
    ) -> JSONResponse:
        paging = parse_paging(top, skip)
        after = parse_job_token(skip_token)
        state = parse_filter(filter_, "state", JobState)
        ref = collection_ref(subscription, resource_group, collection)
        page = await service.list_jobs(ref, state, paging.limit, paging.skip, after=after)
        # Unreadable jobs are left out (the service logs them; GET of one says why), but
        # the next page starts after them.
        token = None if page.last is None else job_token(page.last)
        link = next_link(request, paging, token, page.more)
        return JSONResponse(list_result([job_resource(view) for view in page.items], link))

    @router.get(JOB, operation_id="Jobs_Get", responses=_ONE)
    async def get(
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        collection: JobCollectionName,
        name: JobName,
    ) -> JSONResponse:
        return _one(await service.get_job(job_ref(subscription, resource_group, collection, name)))

    @router.put(
        JOB,
        operation_id="Jobs_CreateOrUpdate",
        responses={
            200: {"model": JobDefinition, "links": JOB_LINKS},
            201: {"model": JobDefinition, "links": JOB_LINKS},
        },
        openapi_extra=JOB_PUT_BODY,
    )
    async def put(
        request: Request,
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        collection: JobCollectionName,
        name: JobName,
    ) -> JSONResponse:
        ref = job_ref(subscription, resource_group, collection, name)
        # Microsoft's SDKs ("azsdk-python-mgmt-scheduler/7.0.0", "azure-mgmt-scheduler/2.0")
        # cannot carry jobclock's extensions; their PUT keeps the stored ones.
        azure_client = "mgmt-scheduler/" in request.headers.get("user-agent", "").lower()
        body = await read_json_body(request)
        view, created = await service.put_job(ref, body, azure_client=azure_client)
        return _one(view, 201 if created else 200)

    @router.patch(JOB, operation_id="Jobs_Patch", responses=_ONE, openapi_extra=JOB_PATCH_BODY)
    async def patch(
        request: Request,
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        collection: JobCollectionName,
        name: JobName,
    ) -> JSONResponse:
        ref = job_ref(subscription, resource_group, collection, name)
        return _one(await service.patch_job(ref, await read_json_body(request)))

    @router.delete(
        JOB, operation_id="Jobs_Delete", responses=EMPTY_RESPONSE, response_class=Response
    )
    async def delete(
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        collection: JobCollectionName,
        name: JobName,
    ) -> Response:
        await service.delete_job(job_ref(subscription, resource_group, collection, name))
        return Response(status_code=200)

    @router.post(
        f"{JOB}/run", operation_id="Jobs_Run", responses=EMPTY_RESPONSE, response_class=Response
    )
    async def run(
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        collection: JobCollectionName,
        name: JobName,
    ) -> Response:
        await service.run_job(job_ref(subscription, resource_group, collection, name))
        return Response(status_code=200)

    @router.get(
        f"{JOB}/explain",
        operation_id="Jobs_Explain",
        responses={200: {"model": ExplainResult}},
    )
    async def explain_job(
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        collection: JobCollectionName,
        name: JobName,
        at: ExplainAt = None,
    ) -> JSONResponse:
        """jobclock's extension: whether the job's schedule had an occurrence at (or near)
        ``at``, what happened to it (its history entry, overlapped, missed while down), or
        why there was none (the field that leaves it out, a DST change, startTime, endTime,
        count, exdates, the job or collection disabled)."""
        if at is None:
            raise InvalidDefinition(
                "'at' is required: an instant such as 2024-01-01T09:00:00Z.", field="at"
            )
        ref = job_ref(subscription, resource_group, collection, name)
        found = await service.explain_job(ref, parse_instant(at, field="at"))
        return JSONResponse(explanation_to_json(found))

    @router.post(
        f"{JOB}/backfill",
        operation_id="Jobs_Backfill",
        responses={200: {"model": PreviewResult}},
        openapi_extra=BACKFILL_BODY,
    )
    async def backfill(
        request: Request,
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        collection: JobCollectionName,
        name: JobName,
    ) -> JSONResponse:
        """jobclock's extension: run each of the job's slots in a past range
        (``{"from", "to", "pace"?}``) once more, ``pace`` apart (default 1 s); the answer
        lists them. Each is recorded like a run (its message says "Backfill of ...")."""
        ref = job_ref(subscription, resource_group, collection, name)
        body = await read_json_body(request)
        return _runs(await service.backfill_job(ref, body))

    @router.get(
        f"{JOB}/preview",
        operation_id="Jobs_Preview",
        responses={200: {"model": PreviewResult}},
    )
    async def preview_job(
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        collection: JobCollectionName,
        name: JobName,
        top: PreviewTop = None,
        after: PreviewFrom = None,
    ) -> JSONResponse:
        """jobclock's extension: the job's next runs (at or after ``from``), as the engine
        claims them when each runs on time; none while it is disabled or has ended."""
        count, lower = _preview_query(top, after)
        ref = job_ref(subscription, resource_group, collection, name)
        return _runs(await service.upcoming_runs(ref, count, lower))

    @router.post(
        f"{COLLECTION}/preview",
        operation_id="Jobs_PreviewDefinition",
        responses={200: {"model": PreviewResult}},
        openapi_extra=JOB_PUT_BODY,
    )
    async def preview_definition(
        request: Request,
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        collection: JobCollectionName,
        top: PreviewTop = None,
        after: PreviewFrom = None,
        job: PreviewJob = None,
    ) -> JSONResponse:
        """jobclock's extension: the runs a job with this PUT body would have if created
        in the collection now (checked as a PUT is; as job ``job``, whose jitter it
        shows); nothing is stored."""
        count, lower = _preview_query(top, after)
        ref = collection_ref(subscription, resource_group, collection)
        body = await read_json_body(request)
        return _runs(await service.preview_new_job(ref, body, count, lower, job))

    return router


ExplainAt = Annotated[
    str | None,
    WithJsonSchema({"type": "string", "format": "date-time"}),
    Query(description="The instant to explain."),
]


BACKFILL_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "from": {"type": "string", "format": "date-time"},
                        "to": {"type": "string", "format": "date-time"},
                        "pace": {
                            "type": "string",
                            "description": "ISO 8601 duration between two starts (PT1S).",
                        },
                    },
                    "required": ["from", "to"],
                    "additionalProperties": False,
                }
            }
        },
    }
}
PREVIEW_MAX = 1000
PreviewTop = Annotated[
    str | None,
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": PREVIEW_MAX}),
    Query(alias="$top", description=f"How many runs (1..{PREVIEW_MAX}; default 10)."),
]
PreviewFrom = Annotated[
    str | None,
    WithJsonSchema({"type": "string", "format": "date-time"}),
    Query(alias="from", description="Runs at or after this instant (default: now)."),
]

PreviewJob = Annotated[
    str | None,
    Query(description="The job's name, which a recurrence.jitter depends on (default: none)."),
]


def _preview_query(top: str | None, after: str | None) -> tuple[int, datetime | None]:
    count = 10
    if top is not None:
        if not top.strip().isdigit() or not 1 <= int(top) <= PREVIEW_MAX:
            raise InvalidDefinition(
                f"'$top' must be an integer between 1 and {PREVIEW_MAX}; got {top!r}.",
                field="$top",
            )
        count = int(top)
    lower = None if after is None else parse_instant(after, field="from")
    return count, lower


def _runs(instants: list[datetime]) -> JSONResponse:
    return JSONResponse({"value": [format_instant_seconds(instant) for instant in instants]})
