"""Who may do what: roles, the operation a request performs, and the sign-in throttle.

Pure policy (issue 11). A request is classified into an :class:`Operation` named the way
Azure's activity log and RBAC name them (``Microsoft.Scheduler/jobCollections/jobs/write``);
the operation needs a :class:`Permission`, and a :class:`Role` grants permissions:

- ``reader``: every read.
- ``operator``: also run a job now, enable and disable jobs and collections.
- ``admin``: everything, tokens and the audit trail included.

Anything not recognised needs ``admin``: a new route is closed until it is classified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

# The identity of the server's own token (``JOBCLOCK_TOKEN`` or ``jobclock.token``): an
# admin whose name no created token may take.
BOOTSTRAP_IDENTITY = "admin"


class Role(StrEnum):
    READER = "reader"
    OPERATOR = "operator"
    ADMIN = "admin"

    @classmethod
    def parse(cls, text: str) -> Role:
        for role in cls:
            if role.value == text.strip().lower():
                return role
        raise ValueError(
            f"The role '{text}' is not one of {', '.join(role.value for role in cls)}."
        )


class Permission(IntEnum):
    """Ordered: each role grants everything up to its own level."""

    READ = 0
    OPERATE = 1
    ADMINISTER = 2


_GRANTS = {Role.READER: Permission.READ, Role.OPERATOR: Permission.OPERATE}


def permits(role: Role, permission: Permission) -> bool:
    return permission <= _GRANTS.get(role, Permission.ADMINISTER)


@dataclass(frozen=True, slots=True)
class Operation:
    """What a request does: Azure's operation name and the permission it needs."""

    name: str
    permission: Permission

    @property
    def audited(self) -> bool:
        """Whether the audit trail records it: every operation but a read."""
        return not self.name.endswith("/read")


_PROVIDER = "Microsoft.Scheduler/jobCollections"


def read(name: str) -> Operation:
    return Operation(f"{name}/read", Permission.READ)


def api_operation(method: str, path: str, *, state_only_patch: bool = False) -> Operation:
    """The operation an API request performs (``path`` below the root path, any case).

    ``state_only_patch`` says that a ``PATCH`` of a job changes nothing but
    ``properties.state`` (an enable or disable, which an operator may do).
    """
    method = method.upper()
    segments = [segment.lower() for segment in path.strip("/").split("/") if segment]
    if segments[:1] == ["jobclock"]:
        return _jobclock_operation(method, segments[1:])
    resource = _arm_resource(segments)
    if resource is None:
        return Operation(f"{method} {path}", Permission.ADMINISTER)
    if method in ("GET", "HEAD") or (method == "POST" and resource.endswith("/preview")):
        return read(resource)  # a preview of a body writes nothing
    if method == "DELETE":
        return Operation(f"{resource}/delete", Permission.ADMINISTER)
    if method in ("PUT", "PATCH"):
        operate = method == "PATCH" and resource.endswith("/jobs") and state_only_patch
        return Operation(
            f"{resource}/write", Permission.OPERATE if operate else Permission.ADMINISTER
        )
    if method == "POST" and resource.rsplit("/", 1)[-1] in ("run", "backfill", "enable", "disable"):
        return Operation(f"{resource}/action", Permission.OPERATE)
    return Operation(f"{resource}/{method.lower()}", Permission.ADMINISTER)


def _arm_resource(segments: Sequence[str]) -> str | None:
    """``Microsoft.Scheduler/jobCollections[/enable|/disable|/preview|/jobs[/run|/history
    |/preview|/backfill|/explain]|/calendars]``."""
    if segments[:1] != ["subscriptions"] or "jobcollections" not in segments:
        return None
    start = segments.index("jobcollections")
    if segments[start - 1] != "microsoft.scheduler":
        return None
    tail = segments[start + 1 :]
    if len(tail) == 2 and tail[1] in ("enable", "disable", "preview"):
        return f"{_PROVIDER}/{tail[1]}"
    if len(tail) >= 2 and tail[1] == "jobs":
        if len(tail) == 4 and tail[3] in ("run", "history", "preview", "backfill", "explain"):
            return f"{_PROVIDER}/jobs/{tail[3]}"
        return f"{_PROVIDER}/jobs"
    if len(tail) >= 2 and tail[1] == "calendars":
        return f"{_PROVIDER}/calendars"
    return _PROVIDER


def _jobclock_operation(method: str, segments: Sequence[str]) -> Operation:
    area = segments[0] if segments else ""
    name = f"jobclock/{area}"
    if area in ("tokens", "audit"):
        verb = {"GET": "read", "HEAD": "read", "DELETE": "delete"}.get(method, "write")
        return Operation(f"{name}/{verb}", Permission.ADMINISTER)
    if method in ("GET", "HEAD"):
        return read(name)
    return Operation(f"{name}/{method.lower()}", Permission.ADMINISTER)


# -- the sign-in throttle ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Throttle:
    """At most ``failures`` failed sign-ins from one client within ``window``."""

    failures: int = 5
    window: timedelta = timedelta(minutes=5)

    def retry_after(self, recent: Sequence[datetime], now: datetime) -> timedelta | None:
        """How long the client must wait before its next attempt, or None if it may try.

        ``recent`` are the client's failed attempts (any order); only those within the
        window count, and the wait ends when the oldest of the last ``failures`` leaves it.
        """
        inside = sorted(at for at in recent if now - at < self.window)
        if len(inside) < self.failures:
            return None
        oldest_counted = inside[-self.failures]
        return max(oldest_counted + self.window - now, timedelta(seconds=1))


def readable(text: str) -> str:
    """``text`` with every control character (NUL included, which PostgreSQL text cannot
    hold) replaced by U+FFFD: what the audit trail keeps of a request's path."""
    return "".join("\ufffd" if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in text)


# -- records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request acts as: a token's name and role. ``fingerprint`` names the token
    itself, so that a session opened with it ends when the token is revoked or replaced."""

    name: str
    role: Role
    fingerprint: str


@dataclass(frozen=True, slots=True)
class StoredToken:
    """A token as kept: its public id and the SHA-256 digest of its secret, never the secret."""

    name: str
    role: Role
    token_id: str
    secret_digest: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class PortalSession:
    identity: str
    token_fingerprint: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One write: who, through which surface, what, on which resource, when, and the
    answer's HTTP status. No body, header or query string, so no secret, is ever in it."""

    at: datetime
    identity: str
    via: str
    operation: str
    resource: str
    status: int
    request_id: str
    client: str
    id: int | None = None

    @property
    def outcome(self) -> str:
        return "succeeded" if self.status < 400 else "failed"
