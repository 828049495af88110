"""The portal application and how it shares one server with the API.

Pages live at ``/`` and under ``/c/``; the page scripts call JSON endpoints under
``/portal/``; scripts and styles are served from ``/static/`` (shipped in the package,
nothing comes from the internet). Every other path goes to the API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from jobclock import describe
from jobclock.api.middleware import DOCUMENTATION_ROUTES, PORTAL_SESSION, route_path
from jobclock.domain.collection import NAME_HTML_PATTERN, NAME_RULE
from jobclock.domain.errors import SchedulerError
from jobclock.ports import Clock
from jobclock.services import SchedulerService
from jobclock.web.session import COOKIE, Sessions

_PORTAL_PREFIXES = ("/c/", "/static/", "/portal/")
_PORTAL_PATHS = frozenset({"/", "/signin", "/signout", "/favicon.ico"})

Handler = Callable[["Portal", Request], Awaitable[Response]]


def with_portal(portal: Starlette, api: ASGIApp) -> ASGIApp:
    """One ASGI app: the portal's paths to the portal, everything else to the API. A portal
    session also opens the API's read-only documentation (the portal's "API" link)."""
    sessions: Sessions = portal.state.portal.sessions

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path in _PORTAL_PATHS or path.startswith(_PORTAL_PREFIXES):
            await portal(scope, receive, send)
            return
        if (
            scope["type"] == "http"
            and (scope["method"], route_path(scope)) in DOCUMENTATION_ROUTES
            and sessions.valid(Request(scope).cookies.get(COOKIE))
        ):
            scope = dict(scope, state={**scope.get("state", {}), PORTAL_SESSION: True})
        await api(scope, receive, send)

    return app


class Portal:
    """What every page handler needs: the service, the clock, sessions and templates."""

    def __init__(self, service: SchedulerService, sessions: Sessions, clock: Clock) -> None:
        self.service = service
        self.sessions = sessions
        self.clock = clock
        self.templates = Environment(
            loader=PackageLoader("jobclock.web", "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(
            describe_recurrence=partial(describe.describe_recurrence, cmdlet=False),
            describe_end=describe.describe_end,
            describe_action=describe.describe_action,
            describe_retry=describe.describe_retry,
            when=describe.when,
            quote=lambda text: quote(str(text), safe=""),
            name_pattern=NAME_HTML_PATTERN,
            name_rule=NAME_RULE,
        )

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        cookie = request.cookies.get(COOKIE, "")
        context.setdefault("message", request.query_params.get("done"))
        context.setdefault("error_message", None)
        html = self.templates.get_template(template).render(
            request=request,
            csrf=self.sessions.csrf(cookie) if cookie else "",
            signed_in=self.sessions.valid(cookie),
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=_PAGE_HEADERS)

    def signed_in(self, request: Request) -> bool:
        return self.sessions.valid(request.cookies.get(COOKIE))

    async def form(self, request: Request) -> dict[str, str]:
        """The url-encoded form of a POST, last value of each field."""
        body = (await request.body()).decode("utf-8", errors="replace")
        return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}

    def csrf_ok(self, request: Request, candidate: str | None) -> bool:
        cookie = request.cookies.get(COOKIE, "")
        return self.sessions.csrf_matches(cookie, candidate)


# No caching of pages, no framing by other sites, no sniffing; scripts and styles only
# from this server (the page's JSON data is not a script).
_PAGE_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "content-security-policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
}


def create_portal(service: SchedulerService, token: str, clock: Clock) -> Starlette:
    """The portal over ``service``; sign-in takes ``token`` (the API token)."""
    from jobclock.web import editor, pages

    portal = Portal(service, Sessions(token, clock), clock)

    def guarded(handler: Handler, *, json: bool = False) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            if not portal.signed_in(request):
                if json:
                    return JSONResponse(
                        {"error": {"code": "AuthenticationFailed", "message": "Sign in again."}},
                        status_code=401,
                    )
                target = quote(
                    request.url.path + ("?" + request.url.query if request.url.query else "")
                )
                return RedirectResponse(f"/signin?next={target}", status_code=303)
            if request.method != "GET":
                candidate = request.headers.get("x-csrf-token")
                if candidate is None and not json:
                    candidate = (await portal.form(request)).get("csrf")
                if not portal.csrf_ok(request, candidate):
                    return HTMLResponse("The form expired; go back and try again.", 403)
            return await handler(portal, request)

        return endpoint

    async def signin(request: Request) -> Response:
        # Behind TLS (or a proxy that says so), the cookie is only ever sent over TLS.
        return await pages.signin(portal, request, request.url.scheme == "https")

    async def signout(request: Request) -> Response:
        return await pages.signout(portal, request)

    job = "/c/{sub}/{rg}/{collection}/jobs/{job}"
    collection = "/c/{sub}/{rg}/{collection}"
    routes = [
        Route("/", guarded(pages.dashboard)),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/c/new", guarded(pages.create_collection), methods=["POST"]),
        Route(collection, guarded(pages.collection)),
        Route(collection + "/state", guarded(pages.collection_state), methods=["POST"]),
        Route(collection + "/delete", guarded(pages.delete_collection), methods=["GET", "POST"]),
        Route(collection + "/new", guarded(editor.new_job)),
        Route(job, guarded(pages.job)),
        Route(job + "/edit", guarded(editor.edit_job)),
        Route(job + "/run", guarded(pages.run_job), methods=["POST"]),
        Route(job + "/state", guarded(pages.job_state), methods=["POST"]),
        Route(job + "/delete", guarded(pages.delete_job), methods=["GET", "POST"]),
        Route(job + "/history/{history_id}", guarded(pages.history_entry)),
        Route("/portal/preview", guarded(editor.preview, json=True), methods=["POST"]),
        Route(
            "/portal/jobs/{sub}/{rg}/{collection}/{job}",
            guarded(editor.save_job, json=True),
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
