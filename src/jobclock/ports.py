"""Every seam of jobclock, as Protocols. Each docstring is the contract.

The domain depends on none of these; the engine, the services and the edges depend on
these and never on a concrete adapter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

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


class SecretBox(Protocol):
    """Encrypts secrets at rest. ``open(seal(x)) == x``; ``seal`` output is ASCII text and
    reveals nothing of ``x`` but its rough length. ``open`` raises ``ValueError`` for text
    that was not sealed with this box's key."""

    def seal(self, plaintext: str) -> str: ...

    def open(self, sealed: str) -> str: ...
