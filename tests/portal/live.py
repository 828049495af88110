"""The portal and the API on a fake clock, served over a real socket for Chromium.

The real ``jobclock serve`` process reads the wall clock, so a test cannot let hours pass
in it. :func:`live_system` serves the same ASGI app (portal + API over one service) with
uvicorn on 127.0.0.1, in a thread that runs the event loop of a :class:`tests.system.System`
(SQLite, a :class:`FakeClock`, the engine with a recording executor). The test thread moves
the clock and ticks the engine on that loop (:meth:`LiveSystem.at`), so nothing runs
between two steps unless the test says so."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn

from jobclock.api.app import create_app
from jobclock.web import create_portal, with_portal
from tests.system import System, open_system

TOKEN = "live-portal-token"  # noqa: S105 - a test token


@dataclass
class LiveSystem:
    system: System
    base_url: str
    token: str

    def call(self, awaitable: Any) -> Any:
        """Run ``awaitable`` on the server's loop and return its result."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(awaitable, self.system.loop)
        return future.result(timeout=30)

    def at(self, when: datetime) -> int:
        """Move the clock to ``when`` and run the engine until nothing is due."""

        async def step() -> int:
            self.system.clock.set(when)
            return int(await self.system.engine.run_until_idle())

        return int(self.call(step()))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def live_system(tmp_path: Path) -> Iterator[LiveSystem]:
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        try:
            with open_system(tmp_path) as system:
                app = with_portal(
                    create_portal(system.service, TOKEN, system.clock),
                    create_app(system.service, TOKEN),
                )
                port = _free_port()
                config = uvicorn.Config(
                    app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
                )
                server = uvicorn.Server(config)
                holder.update(system=system, server=server, port=port)

                async def run() -> None:
                    task = asyncio.ensure_future(server.serve())
                    # uvicorn tells that it listens only by its `started` flag.
                    while not server.started and not task.done():  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
                    ready.set()
                    await task

                system.loop.run_until_complete(run())
        except BaseException as exc:  # the test thread reports it
            holder["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=serve, name="live-portal", daemon=True)
    thread.start()
    ready.wait(30)
    if "error" in holder or "server" not in holder:
        raise RuntimeError(f"the live portal did not start: {holder.get('error')!r}")
    try:
        yield LiveSystem(holder["system"], f"http://127.0.0.1:{holder['port']}", TOKEN)
    finally:
        holder["server"].should_exit = True
        thread.join(30)
