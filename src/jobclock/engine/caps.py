"""Per-target caps across nodes (issue 15, item 4): an attempt to a capped host waits for
a permit that the store hands out under the host's lock, shared by every node of the
database; the policy is :func:`jobclock.domain.host_limits.admit`'s."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
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

    async def admitted(self, invocation: Invocation, context: AttemptContext) -> str | None:
        """Wait until the target host's cap lets the attempt go; its permit's token (None:
        the host is not capped). A store that cannot answer lets it go (logged)."""
        payload = invocation.payload
        if not self._rules or not isinstance(payload, HttpRequest):
            return None
        host = (urlsplit(payload.uri).hostname or "").lower()
        limit = limit_for(self._rules, host)
        if limit is None:
            return None
        token, began = uuid.uuid4().hex, self._clock.now()
        seconds = context.seconds(DEFAULT_ATTEMPT_SECONDS) + 2 * EXECUTOR_GRACE_SECONDS
        while True:
            now = self._clock.now()
            try:
                admission = await self._store.acquire_host(
                    host, token, self._node, now, now + timedelta(seconds=seconds),
                    partial(admit, limit, now=now),
                )  # fmt: skip
            except Exception:  # the database: the cap cannot be kept, the attempt goes
                log.exception("host_limit.unavailable", extra={"event": "host_limit.unavailable"})
                return None
            if admission.admitted:
                break
            retry_at = admission.retry_at or now
            await asyncio.sleep(min(max((retry_at - now).total_seconds(), 0.005), 1.0))
        waited = (self._clock.now() - began).total_seconds()
        self._metrics.held_back(invocation.type.value, waited)
        return token

    async def released(self, token: str) -> None:
        try:
            await self._store.release_host(token)
        except Exception:  # the permit runs out at its attempt's deadline
            log.exception("host_limit.release_failed", extra={"event": "host_limit.release_failed"})
