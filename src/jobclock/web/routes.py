"""The portal application: its route table, the guard of every page, and how it shares
one server with the API.

Pages live at ``/`` and under ``/c/``; the page scripts call JSON endpoints under
``/portal/``; scripts and styles are served from ``/static/`` (shipped in the package,
nothing comes from the internet). Every other path goes to the API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from jobclock.access import AccessService
from jobclock.api.errors import scheduler_error_response
from jobclock.api.middleware import (
    DOCUMENTATION_ROUTES,
    IDENTITY,
    OPERATION,
    PORTAL_SESSION,
    AuditMiddleware,
    route_path,
)
from jobclock.domain.access import Operation, api_operation, read
from jobclock.domain.errors import AccessDenied, SchedulerError, Unauthorized
from jobclock.ports import Clock
from jobclock.services import SchedulerService
from jobclock.web import (
    audit_page,
    calendars_page,
    editor,
    host_limits_page,
    notifications_page,
    pages,
)
from jobclock.web.portal import Portal, arm_id
from jobclock.web.session import COOKIE

_PORTAL_PREFIXES = ("/c/", "/static/", "/portal/")
_PORTAL_PATHS = frozenset({"/", "/signin", "/signout", "/favicon.ico", "/audit"})

Handler = Callable[["Portal", Request], Awaitable[Response]]


def with_portal(portal: Starlette, api: ASGIApp) -> ASGIApp:
    """One ASGI app: the portal's paths to the portal, everything else to the API, every
    write of either in the audit trail. A portal session also opens the API's read-only
    documentation (the portal's "API" link)."""
    owner: Portal = portal.state.portal

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path in _PORTAL_PATHS or path.startswith(_PORTAL_PREFIXES):
            await portal(scope, receive, send)
            return
        if (
            scope["type"] == "http"
            and (scope["method"], route_path(scope)) in DOCUMENTATION_ROUTES
            and await owner.access.session(Request(scope).cookies.get(COOKIE)) is not None
        ):
            scope.setdefault("state", {})[PORTAL_SESSION] = True
        await api(scope, receive, send)

    return AuditMiddleware(app, owner.access, owner.clock)


# What a portal route does, as the API operation it stands for: (method, suffix of the
# collection's or job's ARM id, whether it only changes the state).
Action = Callable[[Request, dict[str, str]], Operation]


def _reading(request: Request, form: dict[str, str]) -> Operation:
    return read("jobclock/portal")


def _arm(method: str, suffix: str = "", *, state_only: bool = False) -> Action:
    def action(request: Request, form: dict[str, str]) -> Operation:
        return api_operation(
            method, arm_id(request.path_params) + suffix, state_only_patch=state_only
        )

    return action


def _collection_state(request: Request, form: dict[str, str]) -> Operation:
    verb = "enable" if form.get("state") == "Enabled" else "disable"
    return api_operation("POST", f"{arm_id(request.path_params)}/{verb}")


def _new_collection(request: Request, form: dict[str, str]) -> Operation:
    return api_operation("PUT", "/subscriptions/-/providers/Microsoft.Scheduler/jobCollections/-")


def _calendar(method: str) -> Action:
    def action(request: Request, form: dict[str, str]) -> Operation:
        name = request.path_params.get("calendar") or form.get("name") or "-"
        return api_operation(method, f"{arm_id(request.path_params)}/calendars/{name}")

    return action


def _notification(method: str, suffix: str = "") -> Action:
    def action(request: Request, form: dict[str, str]) -> Operation:
        name = request.path_params.get("endpoint") or form.get("name") or "-"
        path = f"{arm_id(request.path_params)}/notifications/{name}{suffix}"
        return api_operation(method, path)

    return action


def _admin_page(request: Request, form: dict[str, str]) -> Operation:
    return api_operation("GET", "/jobclock/audit")


def create_portal(
    service: SchedulerService, access: AccessService | str, clock: Clock
) -> Starlette:
    """The portal over ``service``; sign-in takes any token ``access`` knows, and each
    page or action needs the role its API operation needs. A plain token stands for
    :meth:`AccessService.in_memory` (that token only)."""
    if isinstance(access, str):
        access = AccessService.in_memory(access, clock)
    portal = Portal(service, access, clock)

    def guarded(
        handler: Handler, *, json: bool = False, action: Action = _reading
    ) -> Callable[[Request], Any]:
        return _guard(portal, handler, json=json, action=action)

    async def signin(request: Request) -> Response:
        # Behind TLS (or a proxy that says so), the cookie is only ever sent over TLS.
        return await pages.signin(portal, request, request.url.scheme == "https")

    async def signout(request: Request) -> Response:
        return await pages.signout(portal, request)

    job = "/c/{sub}/{rg}/{collection}/jobs/{job}"
    collection = "/c/{sub}/{rg}/{collection}"
    delete_collection = _arm("DELETE")
    delete_job = _arm("DELETE")

    def on_post(write: Action) -> Action:
        """GET shows a confirmation page (a read); POST does the write."""
        return lambda request, form: (write if request.method == "POST" else _reading)(
            request, form
        )

    routes = [
        Route("/", guarded(pages.dashboard)),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/audit", guarded(audit_page.audit, action=_admin_page)),
        Route("/c/new", guarded(pages.create_collection, action=_new_collection), methods=["POST"]),
        Route(collection, guarded(pages.collection)),
        Route(
            collection + "/state",
            guarded(pages.collection_state, action=_collection_state),
            methods=["POST"],
        ),
        Route(
            collection + "/delete",
            guarded(pages.delete_collection, action=on_post(delete_collection)),
            methods=["GET", "POST"],
        ),
        Route(
            collection + "/host-limits",
            guarded(host_limits_page.save_host_limits, action=_arm("PATCH")),
            methods=["POST"],
        ),
        Route(
            collection + "/calendars",
            guarded(calendars_page.save_calendar, action=_calendar("PUT")),
            methods=["POST"],
        ),
        Route(
            collection + "/calendars/{calendar}/delete",
            guarded(calendars_page.delete_calendar, action=on_post(_calendar("DELETE"))),
            methods=["GET", "POST"],
        ),
        Route(
            collection + "/notifications",
            guarded(notifications_page.save_endpoint, action=_notification("PUT")),
            methods=["POST"],
        ),
        Route(
            collection + "/notifications/{endpoint}/history",
            guarded(notifications_page.history, action=_notification("GET", "/history")),
        ),
        Route(
            collection + "/notifications/{endpoint}/delete",
            guarded(notifications_page.delete_endpoint, action=on_post(_notification("DELETE"))),
            methods=["GET", "POST"],
        ),
        Route(collection + "/new", guarded(editor.new_job)),
        Route(job, guarded(pages.job)),
        Route(job + "/edit", guarded(editor.edit_job)),
        Route(job + "/run", guarded(pages.run_job, action=_arm("POST", "/run")), methods=["POST"]),
        Route(
            job + "/state",
            guarded(pages.job_state, action=_arm("PATCH", state_only=True)),
            methods=["POST"],
        ),
        Route(
            job + "/delete",
            guarded(pages.delete_job, action=on_post(delete_job)),
            methods=["GET", "POST"],
        ),
        Route(job + "/history/{history_id}", guarded(pages.history_entry)),
        Route("/portal/preview", guarded(editor.preview, json=True), methods=["POST"]),
        Route(
            "/portal/jobs/{sub}/{rg}/{collection}/{job}",
            guarded(editor.save_job, json=True, action=_arm("PUT")),
            methods=["PUT"],
        ),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={SchedulerError: pages.unexpected, Exception: pages.unexpected},
    )
    app.state.portal = portal
    return app


def _guard(
    portal: Portal, handler: Handler, *, json: bool, action: Action
) -> Callable[[Request], Any]:
    """The endpoint of a page or action: signed in, CSRF-checked, and allowed the API
    operation ``action`` names for it; the identity and operation go to the audit trail."""
    access = portal.access

    async def endpoint(request: Request) -> Response:
        identity = await access.session(request.cookies.get(COOKIE))
        if identity is None:
            if json:
                return scheduler_error_response(Unauthorized("Sign in again."))
            target = quote(
                request.url.path + ("?" + request.url.query if request.url.query else "")
            )
            return RedirectResponse(f"/signin?next={target}", status_code=303)
        state = request.scope.setdefault("state", {})
        state[IDENTITY] = identity
        form: dict[str, str] = {}
        if request.method != "GET":
            candidate = request.headers.get("x-csrf-token")
            if candidate is None and not json:
                form = await portal.form(request)
                candidate = form.get("csrf")
            if not portal.csrf_ok(request, candidate):
                return HTMLResponse("The form expired; go back and try again.", 403)
        operation = action(request, form)
        state[OPERATION] = operation
        Portal.audit(request, resource=_resource(request))
        try:
            access.authorize(identity, operation)
        except AccessDenied as denied:
            if json:
                return scheduler_error_response(denied)
            return portal.render(
                request, "error.html", status=403, title="Not allowed", detail=denied.message
            )
        return await handler(portal, request)

    return endpoint


def _resource(request: Request) -> str:
    params = request.path_params
    if {"sub", "rg", "collection"} <= set(params):
        return arm_id(params)
    return request.url.path
