"""Job history, operation 15 of §2.2 (``Jobs_ListJobHistory``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import WithJsonSchema

from jobclock.api.arm import (
    ERROR_RESPONSES,
    JOB,
    JobCollectionName,
    JobName,
    ResourceGroupName,
    SubscriptionId,
    job_ref,
    require_api_version,
)
from jobclock.api.envelopes import history_resource, list_result
from jobclock.api.listing import (
    Skip,
    SkipToken,
    Top,
    filter_schema,
    history_token,
    next_link,
    parse_filter,
    parse_history_token,
    parse_paging,
)
from jobclock.api.schemas import JobHistoryListResult
from jobclock.domain.history import HistoryStatus
from jobclock.services import SchedulerService

StatusFilter = Annotated[
    str | None,
    WithJsonSchema(filter_schema("status", HistoryStatus)),
    Query(
        alias="$filter", description="status eq Completed|Failed|Postponed (value may be quoted)"
    ),
]


def history_routes(service: SchedulerService) -> APIRouter:
    """The history route over ``service``; it requires ``api-version``."""
    router = APIRouter(
        tags=["Jobs"], dependencies=[Depends(require_api_version)], responses=ERROR_RESPONSES
    )

    @router.get(
        f"{JOB}/history",
        operation_id="Jobs_ListJobHistory",
        responses={200: {"model": JobHistoryListResult}},
    )
    async def list_history(
        request: Request,
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        collection: JobCollectionName,
        name: JobName,
        top: Top = None,
        skip: Skip = None,
        skip_token: SkipToken = None,
        filter_: StatusFilter = None,
    ) -> JSONResponse:
        """The job's history, newest first (§5.8)."""
        paging = parse_paging(top, skip)
        after = parse_history_token(skip_token)
        status = parse_filter(filter_, "status", HistoryStatus)
        ref = job_ref(subscription, resource_group, collection, name)
        page = await service.list_history(ref, status, paging.limit, paging.skip, after=after)
        token = None if page.last is None else history_token(page.last)
        link = next_link(request, paging, token, page.more)
        return JSONResponse(list_result([history_resource(view) for view in page.items], link))

    return router
