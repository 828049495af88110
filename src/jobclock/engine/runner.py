"""The engine on a thread and an event loop of its own.

The API and the portal run on the server's main loop; the engine runs here, with its own
store connections, clock and executors, so no burst of requests can delay a fire or a
lease renewal (a request handler that holds the main loop holds only the API). The two
meet only through the database, :meth:`EngineThread.wake` and :meth:`EngineThread.stop`,
both safe to call from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from jobclock.engine.dispatcher import Engine

log = logging.getLogger("jobclock.engine")


@dataclass(frozen=True, slots=True)
class EngineParts:
    """What the engine thread builds on its own loop, and how it closes them."""

    engine: Engine
    close: Callable[[], Awaitable[None]]


class EngineThread:
    """Runs ``build()``'s engine until :meth:`stop`; then it finishes the attempts in flight,
    records them and closes its parts (``Engine.shutdown``)."""

    def __init__(self, build: Callable[[], EngineParts]) -> None:
        self._build = build
        self._thread = threading.Thread(target=self._main, name="jobclock-engine", daemon=True)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._engine: Engine | None = None
        self.error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start the thread and wait until its engine exists (it then runs by itself)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the engine thread did not start")
        if self.error is not None:
            raise RuntimeError("the engine could not be built") from self.error

    def wake(self) -> None:
        """Something changed (a job was written): look for due work now."""
        loop, engine = self._loop, self._engine
        if loop is not None and engine is not None and not loop.is_closed():
            # A loop closed meanwhile (RuntimeError) means the engine has stopped.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(engine.changed)

    def stop(self) -> None:
        """Ask the engine to stop (attempts in flight finish and are recorded)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def problem(self, now: datetime) -> str | None:
        """Why the engine is not ready (see :meth:`Engine.problem`), or None."""
        engine = self._engine
        if not self._thread.is_alive():
            return "the engine has stopped"
        if engine is None:
            return "the engine is starting"
        return engine.problem(now)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as error:  # logged, and the server exits non-zero
            self.error = error
            log.exception("engine.crashed", extra={"event": "engine.crashed"})
        finally:
            self._ready.set()

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        parts = self._build()
        self._engine = parts.engine
        self._ready.set()
        try:
            await parts.engine.run_forever(self._stop)
        finally:
            await parts.close()
