"""The Azure Scheduler REST API (ARM paths, api-version 2016-03-01) as an ASGI app.

:func:`create_app` is the only entry point: it wires the routes over one
:class:`SchedulerService`, with no globals and nothing done at import time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.middleware import Middleware

from jobclock.access import AccessService
from jobclock.api.access import access_routes
from jobclock.api.arm import API_VERSION, SUPPORTED_API_VERSIONS
from jobclock.api.calendars import calendar_routes
from jobclock.api.collections import collection_routes
from jobclock.api.docs import docs_response
from jobclock.api.errors import UnexpectedErrorMiddleware, install_error_handlers
from jobclock.api.history import history_routes
from jobclock.api.jobs import job_routes
from jobclock.api.middleware import (
    ArmPathCaseMiddleware,
    BearerAuthMiddleware,
    ResponseHeadersMiddleware,
)
from jobclock.api.nodes import node_routes
from jobclock.api.notifications import notification_routes
from jobclock.clock import SystemClock
from jobclock.metrics import CONTENT_TYPE_LATEST, PrometheusMetrics
from jobclock.services import SchedulerService

OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"


class _SchedulerApi(FastAPI):
    """FastAPI whose OpenAPI document declares ``api-version`` a required enum of the
    supported versions, as the spec does.

    The parameter is an optional string to FastAPI only so that a missing or unsupported
    one is answered with Azure's ``MissingApiVersionParameter`` /
    ``InvalidApiVersionParameter`` rather than a generic validation error.
    """

    def openapi(self) -> dict[str, Any]:
        document = super().openapi()
        for item in document.get("paths", {}).values():
            for operation in item.values():
                for parameter in operation.get("parameters", []):
                    if parameter.get("name") == "api-version":
                        parameter["required"] = True
                        parameter["schema"] = {
                            "type": "string",
                            "enum": list(SUPPORTED_API_VERSIONS),
                            "title": "Api-Version",
                        }
        return document


Readiness = Callable[[], Awaitable[list[str]]]


def create_app(
    service: SchedulerService,
    access: AccessService | str,
    *,
    metrics: PrometheusMetrics | None = None,
    readiness: Readiness | None = None,
) -> FastAPI:
    """The API over ``service``; every request but ``GET /healthz``, ``/readyz`` and
    ``/metrics`` needs a token that ``access`` knows, with a role that permits the
    operation. A plain token stands for :meth:`AccessService.in_memory` (that token only).
    Raises ``ValueError`` for an empty token: there is no unauthenticated mode.

    ``metrics``: what ``/metrics`` serves (a fresh, empty registry without). ``readiness``:
    the problems that make ``/readyz`` answer 503 (without: the database's only)."""
    if isinstance(access, str):
        access = AccessService.in_memory(access, SystemClock())
    app = _SchedulerApi(
        title="jobclock",
        summary="A self-hosted Azure Scheduler (Microsoft.Scheduler).",
        version=API_VERSION,
        openapi_url=OPENAPI_URL,
        # FastAPI's pages load Swagger UI / ReDoc from a CDN; ours is self-contained.
        docs_url=None,
        redoc_url=None,
        # Outermost first: headers reach every answer, the 401s and 500s included.
        middleware=[
            Middleware(ResponseHeadersMiddleware),
            Middleware(BearerAuthMiddleware, access=access),
            Middleware(ArmPathCaseMiddleware),
            Middleware(UnexpectedErrorMiddleware),
        ],
    )
    install_error_handlers(app)
    app.add_api_route(
        "/healthz", _healthz, methods=["GET"], tags=["Health"], operation_id="Health_Get"
    )
    served = metrics if metrics is not None else PrometheusMetrics("local")

    async def metrics_text() -> Response:
        """Prometheus text exposition. Needs no token: it names no job and no secret."""
        return Response(served.text(), media_type=CONTENT_TYPE_LATEST)

    async def database() -> list[str]:
        problem = await service.database_problem()
        return [] if problem is None else [problem]

    check = readiness if readiness is not None else database

    async def readyz() -> JSONResponse:
        """Readiness: the database answers and the engine's loop runs. Needs no token."""
        problems = await check()
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    app.add_api_route(
        "/readyz", readyz, methods=["GET"], tags=["Health"], operation_id="Health_Ready"
    )
    app.add_api_route(
        "/metrics", metrics_text, methods=["GET"], tags=["Health"], operation_id="Metrics_Get"
    )
    app.add_api_route(DOCS_URL, _docs, methods=["GET"], include_in_schema=False)
    app.include_router(collection_routes(service))
    app.include_router(job_routes(service))
    app.include_router(history_routes(service))
    app.include_router(calendar_routes(service))
    app.include_router(notification_routes(service))
    app.include_router(node_routes(service))
    app.include_router(access_routes(access))
    return app


async def _healthz() -> JSONResponse:
    """Liveness: the process answers. Needs no token."""
    return JSONResponse({"status": "ok"})


async def _docs(request: Request) -> HTMLResponse:
    openapi_url = request.scope.get("root_path", "") + OPENAPI_URL
    return docs_response(openapi_url)
