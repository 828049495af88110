"""ASGI middleware of the ARM surface: response headers, bearer auth, path-segment case.

Pure ASGI classes rather than ``BaseHTTPMiddleware``: they only look at the scope and the
response start, so they stream nothing through extra tasks.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobclock.access import AccessService
from jobclock.api.errors import scheduler_error_response
from jobclock.domain.access import (
    AuditEntry,
    Identity,
    Operation,
    Permission,
    api_operation,
    permits,
    readable,
)
from jobclock.domain.errors import AccessDenied, Unauthorized
from jobclock.ports import Clock

_log = logging.getLogger(__name__)

# Requests that need no token: the liveness probe only.
PUBLIC_ROUTES = frozenset(
    (method, path) for method in ("GET", "HEAD") for path in ("/healthz", "/readyz", "/metrics")
)

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


IDENTITY = "jobclock.identity"
OPERATION = "jobclock.operation"
# Who the audit trail names when no token was accepted (a failed portal sign-in).
ANONYMOUS = "anonymous"


class BearerAuthMiddleware:
    """Who is calling (401 ``AuthenticationFailed`` without a valid bearer token) and whether
    their role may do what the request does (403 ``AuthorizationFailed``).

    Tokens are checked by :class:`AccessService` in constant time. Only
    :data:`PUBLIC_ROUTES` pass without a token, and :data:`DOCUMENTATION_ROUTES` for a
    request the portal marked as signed in. The identity and the operation are left in the
    scope's state for the handlers and the audit trail.
    """

    def __init__(self, app: ASGIApp, access: AccessService) -> None:
        self.app = app
        self._access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], route_path(scope)) in PUBLIC_ROUTES:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if (scope["method"], route_path(scope)) in DOCUMENTATION_ROUTES and state.get(
            PORTAL_SESSION
        ) is True:
            await self.app(scope, receive, send)
            return
        identity, problem = await self._identify(Headers(scope=scope).get("authorization"))
        if identity is None:
            response = scheduler_error_response(Unauthorized(problem))
            response.headers["www-authenticate"] = 'Bearer error="invalid_token"'
            await response(scope, receive, send)
            return
        state[IDENTITY] = identity
        state_only = False
        if scope["method"] == "PATCH" and not permits(identity.role, Permission.ADMINISTER):
            body, receive = await _buffered(receive)
            state_only = is_state_only_patch(body)
        operation = api_operation(scope["method"], route_path(scope), state_only_patch=state_only)
        state[OPERATION] = operation
        try:
            self._access.authorize(identity, operation)
        except AccessDenied as denied:
            await scheduler_error_response(denied)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _identify(self, header: str | None) -> tuple[Identity | None, str]:
        """The caller's identity, or None and why the header is refused."""
        if header is None:
            return None, "Authentication failed. The 'Authorization' header is missing."
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return None, (
                "Authentication failed. The 'Authorization' header is provided in an invalid "
                "format; expected 'Bearer <token>'."
            )
        identity = await self._access.authenticate(credentials)
        if identity is None:
            return None, "Authentication failed. The access token is invalid."
        return identity, ""


def is_state_only_patch(body: bytes) -> bool:
    """Whether a job PATCH changes nothing but ``properties.state`` (enable or disable)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read
        return False
    if not isinstance(document, dict) or not set(document) <= {"properties", "id", "name", "type"}:
        return False
    properties = document.get("properties")
    return isinstance(properties, dict) and set(properties) == {"state"}


# A PATCH body an operator sends is read to classify it; larger ones need an admin anyway.
_MAX_PEEK = 64 * 1024


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the request body (up to :data:`_MAX_PEEK`) and a ``receive`` that replays it."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more and size <= _MAX_PEEK:
        message = await receive()
        if message["type"] != "http.request":
            return b"", receive
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return (b"" if more else body), replay


class AuditMiddleware:
    """Appends every write (API, CLI and portal) to the audit trail: who, through which surface,
    what, on which resource, when, and the answer's status.

    The entry is written before the last byte of the answer is sent, so a client that has
    its answer finds the entry. Only requests with an identity (or a sign-in attempt, which
    the portal names) are recorded; an unauthenticated API call is not, so a flood of bad
    tokens cannot fill the trail. A failure to write the entry is logged and does not change
    the answer.
    """

    def __init__(self, app: ASGIApp, access: AccessService, clock: Clock) -> None:
        self.app = app
        self._access = access
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                try:
                    await self._record(scope, state, status)
                except Exception:  # the answer goes out whatever the trail's trouble
                    _log.exception("audit.write_failed", extra={"event": "audit.write_failed"})
            await send(message)

        await self.app(scope, receive, recording_send)

    async def _record(self, scope: Scope, state: dict[str, Any], status: int) -> None:
        identity: Identity | None = state.get(IDENTITY)
        operation: Operation | None = state.get(OPERATION)
        actor = state.get(AUDIT_ACTOR) or (identity.name if identity is not None else None)
        if actor is None or operation is None or not operation.audited:
            return
        client = scope.get("client")
        entry = AuditEntry(
            at=self._clock.now(),
            identity=actor,
            via=state.get(AUDIT_VIA) or _surface(scope),
            operation=operation.name,
            resource=readable(state.get(AUDIT_RESOURCE) or route_path(scope)),
            status=status,
            request_id=state.get("request_id") or str(uuid.uuid4()),
            client=readable(str(client[0])) if client else "",
        )
        await self._access.record(entry)


def _surface(scope: Scope) -> str:
    """``cli`` for jobclock's own command line (its User-Agent), else ``api``."""
    agent = Headers(scope=scope).get("user-agent", "")
    return "cli" if agent.startswith("jobclock-cli/") else "api"


# What the portal sets in the scope's state for the audit trail (see AuditMiddleware).
AUDIT_ACTOR = "jobclock.audit_actor"
AUDIT_VIA = "jobclock.audit_via"
AUDIT_RESOURCE = "jobclock.audit_resource"


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
    ("jobs", "enable", "disable", "calendars"),
    None,
    ("run", "history", "backfill", "explain"),
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
