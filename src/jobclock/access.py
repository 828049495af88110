"""Access use cases shared by the API, the portal and the CLI: tokens with roles, portal
sessions, the sign-in throttle and the audit trail (issue 11).

A created token is ``jc_<id>_<secret>``: the store keeps the id and the SHA-256 digest of
the secret, and a presented token is found by its id and then compared in constant time.
It is shown once, when created. The server's own token (``JOBCLOCK_TOKEN`` or
``jobclock.token``) is the ``admin`` identity and is never stored.

A portal session is a random id in a cookie; the store keeps its digest, the identity and
the token that opened it. Every node reads the same rows, so signing out, revoking the
token or replacing the server's token ends the session on every node at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from jobclock.domain.access import (
    BOOTSTRAP_IDENTITY,
    AuditEntry,
    Identity,
    Operation,
    PortalSession,
    Role,
    StoredToken,
    Throttle,
    permits,
)
from jobclock.domain.collection import NAME_PATTERN, NAME_RULE
from jobclock.domain.errors import (
    AccessDenied,
    Conflict,
    InvalidDefinition,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from jobclock.ports import AccessStore, Clock

SESSION_LIFETIME = timedelta(hours=12)
_TOKEN = re.compile(r"jc_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})")
AUDIT_PAGE = 100


def _nameable(name: str) -> bool:
    """Whether an identity could have this name (a token's, or ``admin`` / ``anonymous``)."""
    return NAME_PATTERN.match(name) is not None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just created: ``secret`` is the whole token, shown this once."""

    token: StoredToken
    secret: str


class AccessService:
    """Who is calling and whether they may; see the module docstring."""

    def __init__(
        self,
        store: AccessStore,
        clock: Clock,
        bootstrap_token: str,
        *,
        throttle: Throttle | None = None,
        session_lifetime: timedelta = SESSION_LIFETIME,
    ) -> None:
        if not bootstrap_token:
            raise ValueError("an API token is required; there is no mode without one")
        self._store = store
        self._clock = clock
        self._bootstrap = bootstrap_token.encode()
        self._bootstrap_fingerprint = "bootstrap:" + _digest("jobclock:" + bootstrap_token)[:32]
        self._csrf_key = hmac.new(self._bootstrap, b"jobclock portal csrf", "sha256").digest()
        self.throttle = throttle or Throttle()
        self.session_lifetime = session_lifetime

    @classmethod
    def in_memory(cls, bootstrap_token: str, clock: Clock) -> AccessService:
        """Over :class:`jobclock.testing.MemoryAccessStore`: one process, nothing kept (tests,
        and an embedded API that has only its own token)."""
        from jobclock.testing import MemoryAccessStore

        return cls(MemoryAccessStore(), clock, bootstrap_token)

    # -- who is calling
    async def authenticate(self, presented: str) -> Identity | None:
        """The identity of a bearer token, or None for a token that is not (or no longer)
        valid. Compared in constant time; a created token costs one indexed read."""
        presented = presented.strip()
        if not presented.isascii():
            return None
        if hmac.compare_digest(presented.encode(), self._bootstrap):
            return Identity(BOOTSTRAP_IDENTITY, Role.ADMIN, self._bootstrap_fingerprint)
        match = _TOKEN.fullmatch(presented)
        if match is None:
            return None
        token = await self._store.token_by_id(match.group(1))
        if token is None or not hmac.compare_digest(_digest(match.group(2)), token.secret_digest):
            return None
        return Identity(token.name, token.role, token.token_id)

    @staticmethod
    def authorize(identity: Identity, operation: Operation) -> None:
        """Raise :class:`AccessDenied` unless the identity's role may perform ``operation``."""
        if not permits(identity.role, operation.permission):
            raise AccessDenied(
                f"The token '{identity.name}' (role '{identity.role.value}') does not have "
                f"authorization to perform action '{operation.name}'."
            )

    # -- tokens
    async def create_token(self, name: str, role: Role, created_by: Identity) -> NewToken:
        if not NAME_PATTERN.match(name):
            raise InvalidDefinition(
                f"The token name '{name}' is invalid: {NAME_RULE}.", field="name"
            )
        if name.lower() == BOOTSTRAP_IDENTITY:
            raise InvalidDefinition(
                f"The token name '{name}' is reserved for the server's own token.", field="name"
            )
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        stored = StoredToken(
            name=name,
            role=role,
            token_id=token_id,
            secret_digest=_digest(secret),
            created_at=self._clock.now(),
            created_by=created_by.name,
        )
        if not await self._store.add_token(stored):
            raise Conflict(f"A token named '{name}' already exists; revoke it first.")
        return NewToken(stored, f"jc_{token_id}_{secret}")

    async def list_tokens(self) -> list[StoredToken]:
        return await self._store.list_tokens()

    async def revoke_token(self, name: str) -> StoredToken:
        """Delete the token; its portal sessions end with it."""
        # A name no token can have names none (and never reaches the database as such).
        removed = await self._store.remove_token(name) if _nameable(name) else None
        if removed is None:
            raise NotFound(f"The token '{name}' could not be found.")
        return removed

    # -- portal sessions
    async def sign_in(self, presented: str, client: str) -> tuple[str, Identity]:
        """A new session cookie for a valid token; :class:`TooManyRequests` after too many
        failures from ``client``, :class:`Unauthorized` for a wrong token."""
        now = self._clock.now()
        wait = self.throttle.retry_after(
            await self._store.failures(client, now - self.throttle.window), now
        )
        if wait is not None:
            seconds = max(1, int(wait.total_seconds() + 0.999))
            raise TooManyRequests(
                f"Too many failed sign-ins from this address; try again in {seconds} s.",
                retry_after=seconds,
            )
        identity = await self.authenticate(presented)
        if identity is None:
            await self._store.add_failure(client, now, now - self.throttle.window)
            raise Unauthorized("That token is not this server's API token, nor one created on it.")
        await self._store.clear_failures(client)
        cookie = secrets.token_urlsafe(32)
        await self._store.add_session(
            _digest(cookie),
            PortalSession(identity.name, identity.fingerprint, now, now + self.session_lifetime),
        )
        return cookie, identity

    async def session(self, cookie: str | None) -> Identity | None:
        """The identity a session cookie stands for, or None (unknown, ended, expired, or
        its token revoked or replaced)."""
        if not cookie or not cookie.isascii() or len(cookie) > 100:
            return None
        session = await self._store.session(_digest(cookie))
        if session is None or session.expires_at <= self._clock.now():
            return None
        if session.token_fingerprint == self._bootstrap_fingerprint:
            return Identity(BOOTSTRAP_IDENTITY, Role.ADMIN, self._bootstrap_fingerprint)
        token = await self._store.token_by_id(session.token_fingerprint)
        if token is None or token.name != session.identity:
            return None
        return Identity(token.name, token.role, token.token_id)

    async def sign_out(self, cookie: str | None) -> None:
        if cookie and cookie.isascii():
            await self._store.remove_session(_digest(cookie))

    def csrf(self, cookie: str) -> str:
        return hmac.new(self._csrf_key, cookie.encode(), "sha256").hexdigest()[:32]

    def csrf_matches(self, cookie: str, candidate: str | None) -> bool:
        return (
            candidate is not None
            and candidate.isascii()
            and cookie.isascii()
            and hmac.compare_digest(candidate, self.csrf(cookie))
        )

    # -- the audit trail
    async def record(self, entry: AuditEntry) -> None:
        await self._store.append_audit(entry)

    async def audit_page(
        self, *, before_id: int | None = None, top: int = AUDIT_PAGE, identity: str | None = None
    ) -> list[AuditEntry]:
        if not 1 <= top <= AUDIT_PAGE:
            raise InvalidDefinition(f"$top must be between 1 and {AUDIT_PAGE}.", field="$top")
        if identity is not None and not _nameable(identity):
            return []  # no entry is any identity's but a token's, admin's or anonymous's
        return await self._store.audit(before_id=before_id, top=top, identity=identity)
