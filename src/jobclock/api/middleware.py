"""ASGI middleware of the ARM surface: response headers, bearer auth, path-segment case.

Pure ASGI classes rather than ``BaseHTTPMiddleware``: they only look at the scope and the
response start, so they stream nothing through extra tasks.
"""

from __future__ import annotations

import hmac
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobclock.api.errors import scheduler_error_response
from jobclock.domain.errors import Unauthorized

# Requests that need no token: the liveness probe only.
PUBLIC_ROUTES = frozenset({("GET", "/healthz"), ("HEAD", "/healthz")})

# Read-only documentation that a portal session opens too (the portal's "API" link): the
# portal's router, which checks the session cookie, marks such a request in its scope state
# under PORTAL_SESSION; a client cannot set scope state.
DOCUMENTATION_ROUTES = frozenset(
    (method, path) for method in ("GET", "HEAD") for path in ("/docs", "/openapi.json")
)
PORTAL_SESSION = "jobclock.portal_session"

_NO_CACHE = (("cache-control", "no-cache"), ("pragma", "no-cache"), ("expires", "-1"))


def route_path(scope: Scope) -> str:
    """The path below the application's ``root_path`` (what the router matches)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path


class ResponseHeadersMiddleware:
    """Adds the ARM headers of §2.1 to every response, errors included.

    ``x-ms-request-id`` is new per request; ``x-ms-correlation-request-id`` and
    ``x-ms-client-request-id`` echo the client's when given (the former defaults to the
    request id). The request id is also left in ``scope["state"]["request_id"]``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        request_id = str(uuid.uuid4())
        correlation_id = request_headers.get("x-ms-correlation-request-id") or request_id
        client_request_id = request_headers.get("x-ms-client-request-id")
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["x-ms-request-id"] = request_id
                headers["x-ms-correlation-request-id"] = correlation_id
                if client_request_id is not None:
                    headers["x-ms-client-request-id"] = client_request_id
                for name, value in _NO_CACHE:
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BearerAuthMiddleware:
    """401 ``AuthenticationFailed`` unless ``Authorization: Bearer <token>`` matches.

    The comparison is constant-time. Only :data:`PUBLIC_ROUTES` pass without a token, and
    :data:`DOCUMENTATION_ROUTES` for a request the portal marked as signed in.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token:
            raise ValueError("an API token is required; there is no mode without one")
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], route_path(scope)) in PUBLIC_ROUTES:
            await self.app(scope, receive, send)
            return
        if (scope["method"], route_path(scope)) in DOCUMENTATION_ROUTES and scope.get(
            "state", {}
        ).get(PORTAL_SESSION) is True:
            await self.app(scope, receive, send)
            return
        problem = self._problem(Headers(scope=scope).get("authorization"))
        if problem is None:
            await self.app(scope, receive, send)
            return
        response = scheduler_error_response(Unauthorized(problem))
        response.headers["www-authenticate"] = 'Bearer error="invalid_token"'
        await response(scope, receive, send)

    def _problem(self, header: str | None) -> str | None:
        """Why the header is refused, or None when it carries the token."""
        if header is None:
            return "Authentication failed. The 'Authorization' header is missing."
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return (
                "Authentication failed. The 'Authorization' header is provided in an invalid "
                "format; expected 'Bearer <token>'."
            )
        if not hmac.compare_digest(credentials.strip().encode(), self._token):
            return "Authentication failed. The access token is invalid."
        return None


# Literal segments of the ARM paths in their canonical spelling; None marks a name.
_Slot = tuple[str, ...] | None
_BY_SUBSCRIPTION: tuple[_Slot, ...] = (
    ("subscriptions",),
    None,
    ("providers",),
    ("Microsoft.Scheduler",),
    ("jobCollections",),
)
_BY_RESOURCE_GROUP: tuple[_Slot, ...] = (
    ("subscriptions",),
    None,
    ("resourceGroups",),
    None,
    ("providers",),
    ("Microsoft.Scheduler",),
    ("jobCollections",),
    None,
    ("jobs", "enable", "disable"),
    None,
    ("run", "history"),
)


def canonical_arm_path(path: str) -> str:
    """Respell the literal segments of an ARM path canonically; names are left alone.

    ARM matches ``resourceGroups``, ``providers``, ``Microsoft.Scheduler`` ... in any case.
    Segments are matched by position, so a job named ``history`` keeps its spelling.
    """
    segments = path.split("/")
    # segments[0] is "" (the path starts with "/").
    if len(segments) < 4 or segments[1].lower() != "subscriptions":
        return path
    template = _BY_RESOURCE_GROUP if segments[3].lower() == "resourcegroups" else _BY_SUBSCRIPTION
    for index, slot in enumerate(template, start=1):
        if index >= len(segments):
            break
        if slot is None:
            continue
        lowered = segments[index].lower()
        for literal in slot:
            if literal.lower() == lowered:
                segments[index] = literal
                break
    return "/".join(segments)


class ArmPathCaseMiddleware:
    """Routes ARM paths whatever the case of their literal segments (see above)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            relative = route_path(scope)
            canonical = canonical_arm_path(relative)
            if canonical != relative:
                prefix = scope["path"][: len(scope["path"]) - len(relative)]
                scope = dict(scope, path=prefix + canonical)
        await self.app(scope, receive, send)
