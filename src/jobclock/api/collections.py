"""Job collection operations 1-8 of §2.2."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from jobclock.api.arm import (
    COLLECTION,
    COLLECTION_LINKS,
    COLLECTION_PATCH_BODY,
    COLLECTION_PUT_BODY,
    EMPTY_RESPONSE,
    ERROR_RESPONSES,
    GROUP_COLLECTIONS,
    SUBSCRIPTION_COLLECTIONS,
    JobCollectionName,
    ResourceGroupName,
    Responses,
    SubscriptionId,
    check_scope,
    collection_ref,
    read_json_body,
    require_api_version,
)
from jobclock.api.envelopes import collection_resource, list_result
from jobclock.api.schemas import JobCollectionDefinition, JobCollectionListResult
from jobclock.services import CollectionView, SchedulerService

_ONE: Responses = {200: {"model": JobCollectionDefinition}}
_LIST: Responses = {200: {"model": JobCollectionListResult}}


def _one(view: CollectionView, status: int = 200) -> JSONResponse:
    return JSONResponse(collection_resource(view), status_code=status)


def _all(views: list[CollectionView]) -> JSONResponse:
    # The service returns a subscription's collections whole: one page, no nextLink.
    return JSONResponse(list_result([collection_resource(view) for view in views], None))


def collection_routes(service: SchedulerService) -> APIRouter:
    """The routes over ``service``; every one requires ``api-version``."""
    router = APIRouter(
        tags=["JobCollections"],
        dependencies=[Depends(require_api_version)],
        responses=ERROR_RESPONSES,
    )

    @router.get(
        SUBSCRIPTION_COLLECTIONS, operation_id="JobCollections_ListBySubscription", responses=_LIST
    )
    async def list_by_subscription(subscription: SubscriptionId) -> JSONResponse:
        check_scope(subscription)
        return _all(await service.list_collections(subscription, None))

    @router.get(
        GROUP_COLLECTIONS, operation_id="JobCollections_ListByResourceGroup", responses=_LIST
    )
    async def list_by_resource_group(
        subscription: SubscriptionId, resource_group: ResourceGroupName
    ) -> JSONResponse:
        check_scope(subscription, resource_group)
        return _all(await service.list_collections(subscription, resource_group))

    @router.get(COLLECTION, operation_id="JobCollections_Get", responses=_ONE)
    async def get(
        subscription: SubscriptionId, resource_group: ResourceGroupName, name: JobCollectionName
    ) -> JSONResponse:
        return _one(
            await service.get_collection(collection_ref(subscription, resource_group, name))
        )

    @router.put(
        COLLECTION,
        operation_id="JobCollections_CreateOrUpdate",
        responses={
            200: {"model": JobCollectionDefinition, "links": COLLECTION_LINKS},
            201: {"model": JobCollectionDefinition, "links": COLLECTION_LINKS},
        },
        openapi_extra=COLLECTION_PUT_BODY,
    )
    async def put(
        request: Request,
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        name: JobCollectionName,
    ) -> JSONResponse:
        ref = collection_ref(subscription, resource_group, name)
        azure_client = "mgmt-scheduler/" in request.headers.get("user-agent", "").lower()
        body = await read_json_body(request)
        view, created = await service.put_collection(ref, body, azure_client=azure_client)
        return _one(view, 201 if created else 200)

    @router.patch(
        COLLECTION,
        operation_id="JobCollections_Patch",
        responses=_ONE,
        openapi_extra=COLLECTION_PATCH_BODY,
    )
    async def patch(
        request: Request,
        subscription: SubscriptionId,
        resource_group: ResourceGroupName,
        name: JobCollectionName,
    ) -> JSONResponse:
        ref = collection_ref(subscription, resource_group, name)
        return _one(await service.patch_collection(ref, await read_json_body(request)))

    @router.delete(
        COLLECTION,
        operation_id="JobCollections_Delete",
        responses=EMPTY_RESPONSE,
        response_class=Response,
    )
    async def delete(
        subscription: SubscriptionId, resource_group: ResourceGroupName, name: JobCollectionName
    ) -> Response:
        await service.delete_collection(collection_ref(subscription, resource_group, name))
        return Response(status_code=200)

    @router.post(
        f"{COLLECTION}/enable",
        operation_id="JobCollections_Enable",
        responses=EMPTY_RESPONSE,
        response_class=Response,
    )
    async def enable(
        subscription: SubscriptionId, resource_group: ResourceGroupName, name: JobCollectionName
    ) -> Response:
        await service.enable_collection(collection_ref(subscription, resource_group, name))
        return Response(status_code=200)

    @router.post(
        f"{COLLECTION}/disable",
        operation_id="JobCollections_Disable",
        responses=EMPTY_RESPONSE,
        response_class=Response,
    )
    async def disable(
        subscription: SubscriptionId, resource_group: ResourceGroupName, name: JobCollectionName
    ) -> Response:
        await service.disable_collection(collection_ref(subscription, resource_group, name))
        return Response(status_code=200)

    return router
