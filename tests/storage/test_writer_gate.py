"""The SQLite writer gate: one holder at a time, urgent waiters first, across threads and
event loops (the API's and the engine's), and a waiter that gives up does not keep it."""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jobclock.storage.sql_store import SqlStore
from jobclock.storage.writer_gate import FileLock, WriterGate, gate_for

pytestmark = pytest.mark.anyio


async def _until(predicate: object, what: str) -> None:
    for _ in range(2000):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"timed out waiting for {what}")


async def test_urgent_waiters_go_before_earlier_ordinary_ones() -> None:
    gate = WriterGate()
    order: list[str] = []

    async def take(name: str, urgent: bool) -> None:
        async with gate.held(urgent=urgent):
            order.append(name)
            await asyncio.sleep(0)

    async with gate.held():
        tasks = [asyncio.create_task(take("api-1", False))]
        await _until(lambda: gate.waiting == 1, "the first waiter")
        tasks.append(asyncio.create_task(take("api-2", False)))
        await _until(lambda: gate.waiting == 2, "the second waiter")
        tasks.append(asyncio.create_task(take("engine", True)))
        await _until(lambda: gate.waiting == 3, "the urgent waiter")
    await asyncio.gather(*tasks)
    assert order == ["engine", "api-1", "api-2"]


async def test_a_cancelled_waiter_passes_the_gate_on() -> None:
    gate = WriterGate()
    got: list[str] = []

    async def take(name: str) -> None:
        async with gate.held():
            got.append(name)

    async with gate.held():
        gone = asyncio.create_task(take("gone"))
        await _until(lambda: gate.waiting == 1, "the waiter")
        later = asyncio.create_task(take("later"))
        await _until(lambda: gate.waiting == 2, "the second waiter")
        gone.cancel()
    await asyncio.wait_for(later, 2)
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert got == ["later"]
    async with asyncio.timeout(1):  # free again
        async with gate.held():
            pass


def test_one_holder_at_a_time_across_threads_and_loops() -> None:
    gate = WriterGate()
    inside = 0
    most = 0
    entries = 0
    guard = threading.Lock()

    async def worker(urgent: bool) -> None:
        nonlocal inside, most, entries
        for _ in range(200):
            async with gate.held(urgent=urgent):
                with guard:
                    inside += 1
                    most = max(most, inside)
                    entries += 1
                await asyncio.sleep(0)
                with guard:
                    inside -= 1

    async def loop_of(urgent: bool) -> None:
        await asyncio.gather(*(worker(urgent) for _ in range(5)))

    threads = [
        threading.Thread(target=asyncio.run, args=(loop_of(index == 0),)) for index in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "a worker never got the gate"
    assert entries == 3 * 5 * 200
    assert most == 1


def test_stores_on_one_file_share_a_gate_and_memory_databases_do_not(tmp_path: Path) -> None:
    assert gate_for(str(tmp_path / "a.db")) is gate_for(str(tmp_path / "." / "a.db"))
    assert gate_for(str(tmp_path / "a.db")) is not gate_for(str(tmp_path / "b.db"))
    assert gate_for(":memory:") is not gate_for(":memory:")


async def test_a_write_transaction_holds_the_write_lock_from_its_first_read(
    tmp_path: Path,
) -> None:
    """What a transaction reads stays true until it commits: another writer waits for it
    (before, the driver began the transaction at the first write, after the reads)."""
    url = f"sqlite:///{tmp_path / 'gate.db'}"
    first, second = SqlStore(url), SqlStore(url, urgent=True)
    await first.create_schema()
    try:
        events: list[str] = []
        async with first.writing_connection() as conn:
            await conn.exec_driver_sql("SELECT count(*) FROM jobs")
            events.append("first read")

            async def other() -> None:
                async with second.writing_connection() as other_conn:
                    events.append("second in")
                    await other_conn.exec_driver_sql("SELECT 1")

            waiting = asyncio.create_task(other())
            await asyncio.sleep(0.05)
            events.append("first commits")
        await asyncio.wait_for(waiting, 2)
        assert events == ["first read", "first commits", "second in"]
    finally:
        await first.close()
        await second.close()


# -- across processes: the file lock ---------------------------------------------------

_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _hold_in_another_process(path: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    return holder


async def test_the_file_lock_waits_for_another_process_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.lock"
    lock = FileLock(str(path))
    holder = _hold_in_another_process(path, 0.5)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    await lock.acquire()
    waited = time.monotonic() - started
    ticker.cancel()
    assert holder.wait(timeout=5) == 0
    assert waited >= 0.2  # it did wait for the other process
    assert ticks >= 10  # and the loop ran meanwhile
    lock.release()


async def test_a_cancelled_file_lock_waiter_leaves_the_lock_free(tmp_path: Path) -> None:
    path = tmp_path / "db.lock"
    lock = FileLock(str(path))
    holder = _hold_in_another_process(path, 0.3)
    waiter = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert holder.wait(timeout=5) == 0
    probe = os.open(path, os.O_RDWR)
    try:

        def free() -> bool:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(probe, fcntl.LOCK_UN)
            return True

        # The waiting thread takes the lock once the holder ends, then gives it back.
        await _until(free, "the file lock to be free")
    finally:
        os.close(probe)


def test_stores_on_one_file_lock_a_file_beside_it(tmp_path: Path) -> None:
    database = tmp_path / "jobclock.db"
    gate_for(str(database))
    assert (tmp_path / "jobclock.db.lock").exists()
