"""One writer at a time on a SQLite file, inside this process, the engine's first.

SQLite has one write lock per database file. Left to SQLite, writers that find it taken
sleep in its busy handler (1, 2, 5 … 100 ms steps) and try again, with no order: under API
load (hundreds of PUT/DELETE a second) the engine's claim or record could lose that race
again and again, so fires went out hundreds of milliseconds late. The gate is the queue
SQLite does not have: every write transaction of the process waits here, in order, and an
*urgent* waiter (the engine's) goes ahead of every API request that has not started yet.
So the engine waits for at most one API transaction, never for a queue of them.

The API and the engine run on different threads, each with its own event loop, so the gate
is thread-safe: a waiter parks on a future of its own loop, and the holder that releases
hands the gate straight to the next waiter (through that waiter's loop), so that nobody who
arrives meanwhile can jump the queue.

Across processes (the worker processes of ``jobclock serve --workers`` and the server, or a
``jobclock`` command beside a server), the holder of a gate also takes an OS lock on a file
beside the database (``<database>.lock``, :class:`FileLock`): the kernel wakes a waiting
process the moment it is released, where SQLite's busy handler would poll in growing
sleeps. A process that cannot create that file meets SQLite's own lock, which
``busy_timeout`` waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import heapq
import itertools
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class FileLock:
    """An exclusive ``flock`` on one file, taken without blocking the event loop: at once
    when it is free (one system call), else on a thread that waits for it."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    async def acquire(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waiting = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, self._fd, fcntl.LOCK_EX))
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The thread takes the lock anyway: release it then, since nobody holds it.
            waiting.add_done_callback(self._taken_too_late)
            raise

    def _taken_too_late(self, waiting: asyncio.Future[None]) -> None:
        if not waiting.cancelled() and waiting.exception() is None:
            self.release()

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)


class WriterGate:
    """A fair, thread-safe async lock with two classes of waiters: urgent ones go first,
    each class in arrival order."""

    def __init__(self, file_lock: FileLock | None = None) -> None:
        self._file_lock = file_lock
        self._lock = threading.Lock()
        self._held = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def held(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            if self._file_lock is None:
                yield
                return
            await self._file_lock.acquire()
            try:
                yield
            finally:
                self._file_lock.release()
        finally:
            self._release()

    @property
    def waiting(self) -> int:
        """How many are queued (for tests and diagnostics)."""
        with self._lock:
            return sum(not future.cancelled() for _, _, future in self._waiting)

    async def _acquire(self, urgent: bool) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if not self._held:
                self._held = True
                return
            future: asyncio.Future[None] = loop.create_future()
            heapq.heappush(self._waiting, (0 if urgent else 1, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            # Granted just before the cancellation arrived: the gate is ours, pass it on.
            if future.done() and not future.cancelled():
                self._release()
            raise

    def _release(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._held = False
                    return
                _, _, future = heapq.heappop(self._waiting)
            if future.cancelled():
                continue
            try:
                future.get_loop().call_soon_threadsafe(self._grant, future)
            except RuntimeError:  # that waiter's loop is closed: it will never run again
                continue
            return

    def _grant(self, future: asyncio.Future[None]) -> None:
        """On the waiter's loop: wake it, or, if it gave up meanwhile, pass the gate on."""
        if future.cancelled():
            self._release()
        else:
            future.set_result(None)


_gates: dict[str, WriterGate] = {}
_gates_lock = threading.Lock()


def gate_for(database: str | None) -> WriterGate:
    """The gate of one SQLite database file, shared by every store of the process that
    opens it (the API's and the engine's). An in-memory database gets a gate of its own."""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return WriterGate()
    key = os.path.realpath(database)
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            file_lock = None
            with contextlib.suppress(OSError):  # a read-only directory: SQLite's lock only
                file_lock = FileLock(f"{key}.lock")
            gate = _gates[key] = WriterGate(file_lock)
        return gate
