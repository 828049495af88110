"""Wake-ups across nodes (:class:`jobclock.ports.Wakeup`) over PostgreSQL LISTEN/NOTIFY.

``SqlStore.notify`` sends one in the transaction that changes a job or a collection; every
node's engine listens here. On SQLite there is one node, and nothing to listen to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from jobclock.storage.sql_store import WAKEUP_CHANNEL, SqlStore

log = logging.getLogger("jobclock.engine")


class SqlWakeup:
    """Implements :class:`jobclock.ports.Wakeup` on ``store``'s database."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def listen(self, stop: asyncio.Event, changed: Callable[[], None]) -> None:
        if self._store.dialect != "postgresql":
            return
        while not stop.is_set():
            try:
                async with self._store.engine.connect() as conn:
                    raw = await conn.get_raw_connection()
                    driver: Any = raw.driver_connection
                    await driver.add_listener(WAKEUP_CHANNEL, lambda *_: changed())
                    while not stop.is_set() and not driver.is_closed():
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), timeout=5.0)
            except Exception:  # the connection was cut: listen again shortly
                log.warning("engine.listen_lost", extra={"event": "engine.listen_lost"})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
