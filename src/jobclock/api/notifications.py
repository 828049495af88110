"""A collection's notification endpoints (issue 15, item 5), jobclock's extension
resource: ``.../jobCollections/{c}/notifications`` (list), ``.../notifications/{name}``
(PUT, GET, DELETE) and ``.../notifications/{name}/history`` (the deliveries, newest first),
with the ARM paths, ``api-version`` and error shape of the rest."""

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
from jobclock.api.body_schemas import NAME_SCHEMA, endpoint_request_schema, json_body
from jobclock.api.envelopes import endpoint_resource, list_result, notice_resource
from jobclock.api.schemas import EndpointDefinition, EndpointListResult, NoticeListResult
from jobclock.services import SchedulerService

ENDPOINTS = f"{COLLECTION}/notifications"
ENDPOINT = f"{ENDPOINTS}/{{endpointName}}"
EndpointName = Annotated[
    str, Path(alias="endpointName", json_schema_extra={"pattern": NAME_SCHEMA["pattern"]})
]
_ONE: Responses = {200: {"model": EndpointDefinition}}


def notification_routes(service: SchedulerService) -> APIRouter:
    """The routes over ``service.notifications``; every one requires ``api-version``."""
    router = APIRouter(
        tags=["Notifications"],
        dependencies=[Depends(require_api_version)],
        responses=ERROR_RESPONSES,
    )

    @router.get(
        ENDPOINTS,
        operation_id="Notifications_List",
        responses={200: {"model": EndpointListResult}},
    )
    async def list_endpoints(
        subscription: SubscriptionId, resource_group: ResourceGroupName, name: JobCollectionName
    ) -> JSONResponse:
        """The collection's notification endpoints, by name."""
        views = await service.notifications.list_all(
            collection_ref(subscription, resource_group, name)
        )
        return JSONResponse(list_result([endpoint_resource(v) for v in views], None))

    @router.get(ENDPOINT, operation_id="Notifications_Get", responses=_ONE)
    async def get(
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        name: JobCollectionName,
        endpoint: EndpointName,
    ) -> JSONResponse:
        """The endpoint; its signing keys are never shown."""
        ref = collection_ref(subscription, resource_group, name)
        return JSONResponse(endpoint_resource(await service.notifications.get(ref, endpoint)))

    @router.get(
        f"{ENDPOINT}/history",
        operation_id="Notifications_History",
        responses={200: {"model": NoticeListResult}},
    )
    async def history(
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        name: JobCollectionName,
        endpoint: EndpointName,
    ) -> JSONResponse:
        """The endpoint's newest 100 events and how their delivery went, newest first."""
        ref = collection_ref(subscription, resource_group, name)
        notices = await service.notifications.history(ref, endpoint)
        return JSONResponse({"value": [notice_resource(notice) for notice in notices]})

    @router.put(
        ENDPOINT,
        operation_id="Notifications_CreateOrUpdate",
        responses={200: {"model": EndpointDefinition}, 201: {"model": EndpointDefinition}},
        openapi_extra=json_body(endpoint_request_schema()),
    )
    async def put(
        request: Request,
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        name: JobCollectionName,
        endpoint: EndpointName,
    ) -> JSONResponse:
        """Create or replace the endpoint. A ``signing`` object without its keys keeps the
        stored ones (write-only); a body without ``signing`` removes signing."""
        ref = collection_ref(subscription, resource_group, name)
        view, created = await service.notifications.put(
            ref, endpoint, await read_json_body(request)
        )
        return JSONResponse(endpoint_resource(view), status_code=201 if created else 200)

    @router.delete(
        ENDPOINT,
        operation_id="Notifications_Delete",
        responses=EMPTY_RESPONSE,
        response_class=Response,
    )
    async def delete(
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        name: JobCollectionName,
        endpoint: EndpointName,
    ) -> Response:
        """Delete the endpoint and its delivery history."""
        await service.notifications.delete(
            collection_ref(subscription, resource_group, name), endpoint
        )
        return Response(status_code=200)

    return router
