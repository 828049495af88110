"""Per-target caps across nodes (issue 15, item 4): an attempt to a capped host waits for
a permit that the store hands out under the host's lock, shared by every node of the
database; the policy is :func:`jobclock.domain.host_limits.admit`'s."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

from jobclock.domain.actions import HttpRequest
from jobclock.domain.execution import (
    DEFAULT_ATTEMPT_SECONDS,
    EXECUTOR_GRACE_SECONDS,
    AttemptContext,
    Invocation,
)
from jobclock.domain.host_limits import HostLimit, admit, limit_for
from jobclock.ports import Clock, JobStore, Metrics

log = logging.getLogger("jobclock.engine")
# How often the collections' own caps are read again (and at once after a change).
READ_EVERY = timedelta(seconds=5)


class Stopping(Exception):
    """The engine stops while an attempt waits for its host's cap: it is not sent (its
    lease runs out, and it runs after a takeover or this node's restart)."""


class HostCaps:
    """Permits for attempts to the hosts ``rules`` cap."""

    def __init__(
        self,
        store: JobStore,
        clock: Clock,
        node: str,
        rules: tuple[HostLimit, ...],
        metrics: Metrics,
    ) -> None:
        self._store = store
        self._clock = clock
        self._node = node
        self._rules = rules
        self._metrics = metrics
        self._collections: dict[int, tuple[HostLimit, ...]] = {}
        self._next_read: datetime | None = None
        self._reading = asyncio.Lock()
        self._stopping = False

    def stop(self) -> None:
        """The engine stops: attempts still waiting for a permit give up (``Stopping``)."""
        self._stopping = True

    def changed(self) -> None:
        """A collection was written: read the collections' own caps again."""
        self._next_read = None

    async def _collection_rules(self, collection_id: int) -> tuple[HostLimit, ...]:
        # One read at a time: the attempts that start meanwhile wait for its answer (an
        # attempt that went on with the rules of before the read would pass the cap).
        async with self._reading:
            now = self._clock.now()
            if self._next_read is None or now >= self._next_read:
                try:
                    self._collections = await self._store.capped_collections()
                    self._next_read = now + READ_EVERY
                except Exception:  # the database: the last ones read still hold
                    self._next_read = now + READ_EVERY
                    log.exception(
                        "host_limit.unavailable", extra={"event": "host_limit.unavailable"}
                    )
        return self._collections.get(collection_id, ())

    async def admitted(
        self, invocation: Invocation, context: AttemptContext, collection_id: int
    ) -> list[str]:
        """Wait until the target host's caps let the attempt go (its collection's own,
        then the server's); the permits' tokens, to release when it ends. A store that
        cannot answer lets it go (logged)."""
        payload = invocation.payload
        if not isinstance(payload, HttpRequest):
            return []
        host = (urlsplit(payload.uri).hostname or "").lower()
        began = self._clock.now()
        tokens = []
        own = limit_for(await self._collection_rules(collection_id), host)
        if own is not None:
            tokens.append(await self._permit(f"{collection_id}/{host}", own, context))
        server = limit_for(self._rules, host)
        if server is not None:
            tokens.append(await self._permit(host, server, context))
        held = [token for token in tokens if token is not None]
        if own is not None or server is not None:
            waited = (self._clock.now() - began).total_seconds()
            self._metrics.held_back(invocation.type.value, waited)
        return held

    async def _permit(self, key: str, limit: HostLimit, context: AttemptContext) -> str | None:
        token = uuid.uuid4().hex
        seconds = context.seconds(DEFAULT_ATTEMPT_SECONDS) + 2 * EXECUTOR_GRACE_SECONDS
        while True:
            now = self._clock.now()
            try:
                admission = await self._store.acquire_host(
                    key, token, self._node, now, now + timedelta(seconds=seconds),
                    partial(admit, limit, now=now),
                )  # fmt: skip
            except Exception:  # the database: the cap cannot be kept, the attempt goes
                log.exception("host_limit.unavailable", extra={"event": "host_limit.unavailable"})
                return None
            if admission.admitted:
                return token
            if self._stopping:
                raise Stopping
            retry_at = admission.retry_at or now
            await asyncio.sleep(min(max((retry_at - now).total_seconds(), 0.005), 1.0))

    async def released(self, tokens: list[str]) -> None:
        for token in tokens:
            try:
                await self._store.release_host(token)
            except Exception:  # the permit runs out at its attempt's deadline
                log.exception(
                    "host_limit.release_failed", extra={"event": "host_limit.release_failed"}
                )
