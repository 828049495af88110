"""The one error tree of jobclock.

Every error a caller can see is a :class:`SchedulerError`. Each leaf carries the Azure error
``code`` and the HTTP ``status`` it maps to (§2.7), so the API maps them in one place and
the CLI turns them into exit codes without knowing the leaves. Messages are written for a
person and name the offending field or resource.
"""

from __future__ import annotations


class SchedulerError(Exception):
    """Root of every error jobclock raises on purpose."""

    code: str = "InternalError"
    status: int = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidDefinition(SchedulerError):
    """A request body or a definition breaks a rule of §3 or §6.1 (400 ``BadRequest``)."""

    code = "BadRequest"
    status = 400

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message, code=code)
        self.field = field


class MalformedJob(InvalidDefinition):
    """The body is not a job object at all: not JSON, wrong types (``Malformed Job Object``)."""

    def __init__(self, detail: str | None = None, *, field: str | None = None) -> None:
        message = "Malformed Job Object" if detail is None else f"Malformed Job Object: {detail}"
        super().__init__(message, field=field)


class InvalidApiVersion(InvalidDefinition):
    """A missing or unsupported ``api-version`` query parameter."""

    code = "InvalidApiVersionParameter"


class NotFound(SchedulerError):
    """The addressed resource does not exist: 404 ``ResourceNotFound``, ARM's one code for
    a missing collection, job or history entry (§2.7, issue 11)."""

    code = "ResourceNotFound"
    status = 404


class CollectionNotFound(NotFound):
    """A job collection does not exist (Azure's message names it, §2.7)."""


class Conflict(SchedulerError):
    """The request conflicts with the state of a resource (409 ``Conflict``)."""

    code = "Conflict"
    status = 409


class QuotaExceeded(Conflict):
    """A plan or quota limit would be exceeded (409, message naming the limit)."""


class UnreadableJob(Conflict):
    """A stored job cannot be read back (written by an older version, or its secrets sealed
    with another key): 409 ``UnreadableJobDefinition``, a state of the resource that no
    retry changes; a PUT replaces the job and a DELETE removes it."""

    code = "UnreadableJobDefinition"


class Forbidden(SchedulerError):
    """The resource refuses writes (403 ``ForbiddenError``)."""

    code = "ForbiddenError"
    status = 403


class AccessDenied(Forbidden):
    """The caller's token is valid but its role may not do this (403, ARM's
    ``AuthorizationFailed``, naming the token, its role and the operation)."""

    code = "AuthorizationFailed"


class TooManyRequests(SchedulerError):
    """Too many attempts in a short time (429); ``retry_after`` is in whole seconds."""

    code = "TooManyRequests"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unauthorized(SchedulerError):
    """The caller did not present a valid token (401)."""

    code = "AuthenticationFailed"
    status = 401


class ActionFailed(SchedulerError):
    """An action attempt failed; the message is what the history entry records."""

    code = "ActionFailed"
    status = 502
