"""Every seam of jobclock, as Protocols. Each docstring is the contract.

The domain depends on none of these; the engine, the services and the edges depend on
these and never on a concrete adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from jobclock.domain.access import AuditEntry, PortalSession, StoredToken
from jobclock.domain.execution import AttemptContext, AttemptResult, Invocation


class Clock(Protocol):
    """The one source of "now". Nothing else reads the wall clock.

    ``now()`` always returns an aware UTC datetime and never goes backwards for one clock
    instance. ``sleep_until(instant)`` returns once ``now() >= instant`` (a fake clock returns
    when a test advances it there) or earlier when ``wake()`` is called, so a newly created
    job can shorten the engine's wait.
    """

    def now(self) -> datetime: ...

    async def sleep_until(self, instant: datetime) -> None: ...

    def wake(self) -> None: ...


class ActionExecutor(Protocol):
    """Invokes one action type (one module per type, chosen from a closed registry).

    ``execute`` performs exactly one attempt and never raises for a failure of the target
    (refused connection, timeout, non-2xx, TLS error, broker error): it returns
    ``AttemptResult(succeeded=False, message=...)`` with a message fit for the history
    entry. It raises only for programming errors. It must not log or return secrets.
    Retries are the engine's business, not the executor's.
    """

    async def execute(self, invocation: Invocation, context: AttemptContext) -> AttemptResult: ...

    async def aclose(self) -> None:
        """Release pooled connections; called once at shutdown."""
        ...


class Wakeup(Protocol):
    """Wake-ups across the nodes of one database: a node that changes a job or a collection
    signals, and every node's engine hears it (so a job created through one node fires on
    time on another, and an attempt claimed ahead for a job just disabled is dropped).

    ``listen`` calls ``changed()`` (cheap, never blocking) for each signal until ``stop`` is
    set, then returns. It never raises: a lost connection is logged and listened to again.
    It returns at once where there is nothing to listen to (one node: SQLite). A signal may
    be lost while reconnecting; the engine's own timer still finds the work.
    """

    async def listen(self, stop: asyncio.Event, changed: Callable[[], None]) -> None: ...


class SecretBox(Protocol):
    """Encrypts secrets at rest. ``open(seal(x)) == x``; ``seal`` output is ASCII text and
    reveals nothing of ``x`` but its rough length. ``open`` raises ``ValueError`` for text
    that was not sealed with this box's key."""

    def seal(self, plaintext: str) -> str: ...

    def open(self, sealed: str) -> str: ...


class AccessStore(Protocol):
    """Tokens, portal sessions, failed sign-ins and the audit trail, shared by every node.

    Each method is one transaction of its own and sees what every node has committed, so a
    revoked token or an ended session is refused everywhere from the next request on.
    Names are matched case-insensitively. Secrets never reach the store: a token is kept
    as its public id and a digest, a session as the digest of its id.
    """

    async def add_token(self, token: StoredToken) -> bool:
        """Store a new token; False (and nothing stored) when the name is taken."""
        ...

    async def token_by_id(self, token_id: str) -> StoredToken | None: ...

    async def list_tokens(self) -> list[StoredToken]:
        """Every token, by name."""
        ...

    async def remove_token(self, name: str) -> StoredToken | None:
        """Delete the token and every session it opened; the removed token, or None."""
        ...

    async def add_session(self, digest: str, session: PortalSession) -> None:
        """Store a session and drop the expired ones (of every identity)."""
        ...

    async def session(self, digest: str) -> PortalSession | None:
        """The session with this digest, expired or not (the caller checks the expiry)."""
        ...

    async def remove_session(self, digest: str) -> None:
        """End one session; nothing happens for an unknown digest."""
        ...

    async def add_failure(self, client: str, at: datetime, forget_before: datetime) -> None:
        """Record a failed sign-in of ``client`` and forget every failure before
        ``forget_before`` (of every client), so the table stays small."""
        ...

    async def failures(self, client: str, since: datetime) -> list[datetime]:
        """``client``'s failed sign-ins at or after ``since``, oldest first."""
        ...

    async def clear_failures(self, client: str) -> None: ...

    async def append_audit(self, entry: AuditEntry) -> None:
        """Append one entry (its ``id`` is assigned by the store and increases)."""
        ...

    async def audit(
        self, *, before_id: int | None, top: int, identity: str | None = None
    ) -> list[AuditEntry]:
        """At most ``top`` entries, newest first, with an id below ``before_id`` when given,
        of one identity when given (keyset paging: the last id is the next page's key)."""
        ...
