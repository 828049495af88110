"""jobclock's own extension: the nodes sharing this database (``GET /jobclock/nodes``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from jobclock.api.schemas import ErrorResponse, NodeListResult
from jobclock.domain.instants import format_instant
from jobclock.services import SchedulerService


def node_routes(service: SchedulerService) -> APIRouter:
    router = APIRouter(tags=["Nodes"])

    @router.get(
        "/jobclock/nodes",
        operation_id="Nodes_List",
        responses={200: {"model": NodeListResult}, "4XX": {"model": ErrorResponse}},
    )
    async def list_nodes() -> JSONResponse:
        """Every node that has run against this database, with its last heartbeat."""
        nodes = await service.list_nodes()
        return JSONResponse(
            {
                "value": [
                    {
                        "name": node.name,
                        "startedAt": format_instant(node.started_at),
                        "heartbeatAt": format_instant(node.heartbeat_at),
                        "alive": node.alive,
                    }
                    for node in nodes
                ]
            }
        )

    return router
