"""The one place that turns errors into HTTP responses, in Azure's error shape (§2.7).

Every error answer of the API is ``{"error": {"code": ..., "message": ...}}``: the leaves
of :class:`SchedulerError` with their own ``code`` and ``status``, Starlette's routing
errors (404, 405), FastAPI's request validation (400, as ARM answers bad input) and any
unexpected exception (500 ``InternalError``, with no internals in the message).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobclock.domain.errors import SchedulerError

_log = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = (
    "The server encountered an internal error. Retry the request; if the problem "
    "persists, report it with the x-ms-request-id of the response."
)

# Codes for statuses raised by the framework itself rather than by a SchedulerError leaf.
_HTTP_CODES = {
    400: "BadRequest",
    401: "AuthenticationFailed",
    403: "ForbiddenError",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServerBusy",
}


def error_body(code: str, message: str) -> dict[str, Any]:
    """``{"error": {"code": code, "message": message}}``."""
    return {"error": {"code": code, "message": message}}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def scheduler_error_response(exc: SchedulerError) -> JSONResponse:
    """A leaf of the error tree as its own status and code."""
    return error_response(exc.status, exc.code, exc.message)


def internal_error_response() -> JSONResponse:
    return error_response(500, "InternalError", INTERNAL_ERROR_MESSAGE)


def code_for_status(status: int) -> str:
    """Azure's code for a bare HTTP status, e.g. 404 → ``NotFound``."""
    if status in _HTTP_CODES:
        return _HTTP_CODES[status]
    phrase = _phrase(status)
    return "".join(word.capitalize() for word in phrase.replace("-", " ").split())


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _on_scheduler_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SchedulerError)  # noqa: S101 - registered for this type only
    if exc.status >= 500:
        _log.error(
            "api.scheduler_error",
            extra={"event": "api.scheduler_error", "code": exc.code, "path": request.url.path},
        )
    return scheduler_error_response(exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type
    status = exc.status_code
    if status == 404:
        message = f"No operation matches '{request.method} {request.url.path}'."
    elif status == 405:
        message = f"The method '{request.method}' is not allowed on '{request.url.path}'."
    elif isinstance(exc.detail, str) and exc.detail:
        message = exc.detail
    else:
        message = _phrase(status)
    headers = {name.lower(): value for name, value in (exc.headers or {}).items()}
    if status == 405:
        # Starlette names the methods of the first route on the path only.
        headers["allow"] = ", ".join(_allowed_methods(request)) or headers.get("allow", "")
    return error_response(status, code_for_status(status), message, headers or None)


def _allowed_methods(request: Request) -> list[str]:
    """Every method any route declares for the request's path, from the OpenAPI paths."""
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        path = path[len(root) :]
    methods: set[str] = set()
    app = request.app
    if isinstance(app, FastAPI):
        for template, item in app.openapi().get("paths", {}).items():
            pattern, _, _ = compile_path(template)
            if pattern.match(path):
                methods.update(method.upper() for method in item)
    return sorted(methods)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type
    errors = exc.errors()
    if errors:
        first = errors[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = f"'{where}': {first.get('msg', 'invalid value')}."
    else:
        message = "The request is invalid."
    return error_response(400, "BadRequest", message)


async def _on_unexpected_error(request: Request, exc: Exception) -> Response:
    # Last resort for errors raised outside the routes (in a middleware): Starlette still
    # re-raises after sending this, so the server logs the traceback.
    return internal_error_response()


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping on ``app``; pair with :class:`UnexpectedErrorMiddleware`."""
    app.add_exception_handler(SchedulerError, _on_scheduler_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected_error)


class UnexpectedErrorMiddleware:
    """Answer an exception that escaped the routes with 500 ``InternalError``.

    It sits inside the header middleware, so a 500 carries ``x-ms-request-id`` like any
    other answer; the traceback goes to the log (event ``api.unhandled_error``), never to
    the client. An exception after the response started cannot be answered and is re-raised.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            _log.exception(
                "api.unhandled_error",
                extra={
                    "event": "api.unhandled_error",
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                },
            )
            if started:
                raise
            await internal_error_response()(scope, receive, send)
