"""One worker process of ``jobclock serve --workers N`` (:mod:`jobclock.workers` starts,
restarts and stops it): an engine, a node of its own, with no API.

It reads wake-ups from stdin (one byte each, forwarded by the server for every job or
collection written) and stops cleanly on SIGTERM or SIGINT. It dies with its server: by
Linux's parent-death signal, and on any system at the end of its stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import signal
import sys

from jobclock import logs
from jobclock.bootstrap import engine_parts, outbound_policy, secret_box
from jobclock.settings import Settings

log = logging.getLogger("jobclock.engine")

_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """Linux: the kernel kills this process when its parent dies. Elsewhere (or if the
    parent died already) the end of stdin does (:func:`_work`)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


async def _work(settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parts = engine_parts(settings, secret_box(settings), outbound_policy(settings), only_own=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def listen() -> None:
        while await reader.read(4096):
            parts.engine.changed()
        # The server is gone without stopping this worker: the node died; so does this.
        log.warning("engine.orphaned", extra={"event": "engine.orphaned"})
        os._exit(1)

    listener = asyncio.create_task(listen())
    try:
        await parts.engine.run_forever(stop)
    finally:
        listener.cancel()
        await parts.close()


def main() -> None:
    """``python -m jobclock.worker PARENT_PID``, started by :class:`Workers` only."""
    _die_with(int(sys.argv[1]))
    logs.configure(logging.INFO)
    # As the server (jobclock.server.run): fewer collector passes under load.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    asyncio.run(_work(Settings.from_environment({})))


if __name__ == "__main__":
    main()
