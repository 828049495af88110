"""A collection's holiday calendars (issue 14, item 4), jobclock's extension resource:
``.../jobCollections/{c}/calendars`` (list) and ``.../calendars/{name}`` (PUT, GET,
DELETE), with the ARM paths, ``api-version`` and error shape of the rest."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse

from jobclock.api.arm import (
    COLLECTION,
    EMPTY_RESPONSE,
    ERROR_RESPONSES,
    JobCollectionName,
    ResourceGroupName,
    Responses,
    SubscriptionId,
    collection_ref,
    read_json_body,
    require_api_version,
)
from jobclock.api.body_schemas import NAME_SCHEMA, calendar_request_schema, json_body
from jobclock.api.envelopes import calendar_resource, list_result
from jobclock.api.schemas import CalendarDefinition, CalendarListResult
from jobclock.services import SchedulerService

CALENDARS = f"{COLLECTION}/calendars"
CALENDAR = f"{CALENDARS}/{{calendarName}}"
CalendarName = Annotated[
    str, Path(alias="calendarName", json_schema_extra={"pattern": NAME_SCHEMA["pattern"]})
]
_ONE: Responses = {200: {"model": CalendarDefinition}}


def calendar_routes(service: SchedulerService) -> APIRouter:
    """The routes over ``service.calendars``; every one requires ``api-version``."""
    router = APIRouter(
        tags=["Calendars"],
        dependencies=[Depends(require_api_version)],
        responses=ERROR_RESPONSES,
    )

    @router.get(
        CALENDARS, operation_id="Calendars_List", responses={200: {"model": CalendarListResult}}
    )
    async def list_calendars(
        subscription: SubscriptionId, resource_group: ResourceGroupName, name: JobCollectionName
    ) -> JSONResponse:
        """The collection's calendars, by name (one page)."""
        views = await service.calendars.list_all(collection_ref(subscription, resource_group, name))
        return JSONResponse(list_result([calendar_resource(v, jobs=False) for v in views], None))

    @router.get(CALENDAR, operation_id="Calendars_Get", responses=_ONE)
    async def get(
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        name: JobCollectionName,
        calendar: CalendarName,
    ) -> JSONResponse:
        """The calendar, and in ``properties.jobs`` the jobs that follow it."""
        ref = collection_ref(subscription, resource_group, name)
        return JSONResponse(calendar_resource(await service.calendars.get(ref, calendar)))

    @router.put(
        CALENDAR,
        operation_id="Calendars_CreateOrUpdate",
        responses={200: {"model": CalendarDefinition}, 201: {"model": CalendarDefinition}},
        openapi_extra=json_body(calendar_request_schema()),
    )
    async def put(
        request: Request,
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        name: JobCollectionName,
        calendar: CalendarName,
    ) -> JSONResponse:
        """Create or replace the calendar; the jobs that follow it move their next runs to
        it in the same write (400, nothing stored, if one of them would never run again)."""
        ref = collection_ref(subscription, resource_group, name)
        view, created = await service.calendars.put(ref, calendar, await read_json_body(request))
        return JSONResponse(calendar_resource(view), status_code=201 if created else 200)

    @router.delete(
        CALENDAR,
        operation_id="Calendars_Delete",
        responses=EMPTY_RESPONSE,
        response_class=Response,
    )
    async def delete(
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        name: JobCollectionName,
        calendar: CalendarName,
    ) -> Response:
        """Delete the calendar: 409 while jobs follow it."""
        await service.calendars.delete(collection_ref(subscription, resource_group, name), calendar)
        return Response(status_code=200)

    return router
