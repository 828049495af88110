"""Benchmark: CPU per request of the HTTP action, against bench/_target.py in its own process.

Prints microseconds of this process's CPU per request and requests per second for
``HttpExecutor`` (the lean client for plain http), the same executor with the lean client
switched off (aiohttp only), and a bare aiohttp ``ClientSession.get`` for reference.
5,000 requests each, 64 at a time, after 500 to warm up.

Run: ``python bench/http_client.py``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from jobclock.actions.http import HttpExecutor
from jobclock.domain.actions import ActionType, HttpMethod, HttpRequest
from jobclock.domain.execution import AttemptContext, Invocation
from jobclock.domain.history import ActionName

COUNT, CONCURRENCY, WARM_UP = 5000, 64, 500


async def measure(label: str, one: Callable[[], Awaitable[None]]) -> None:
    slots = asyncio.Semaphore(CONCURRENCY)

    async def limited() -> None:
        async with slots:
            await one()

    await asyncio.gather(*(limited() for _ in range(WARM_UP)))
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(limited() for _ in range(COUNT)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{label:<32} {1e6 * cpu / COUNT:7.1f} µs CPU/request {COUNT / wall:9,.0f} req/s")


def main() -> None:
    target = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(Path(__file__).with_name("_target.py"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    stdin, stdout = target.stdin, target.stdout
    if stdin is None or stdout is None:
        raise SystemExit("the target has no pipes")
    try:
        port = int(stdout.readline().split()[1])
        asyncio.run(run(f"http://127.0.0.1:{port}/bench"))
    finally:
        stdin.write(b"quit\n")
        stdin.close()
        target.wait(timeout=10)


async def run(url: str) -> None:
    context = AttemptContext(
        collection="c", job="j", execution_tag="0" * 32, request_id="r",
        expected_time=datetime.now(UTC), region="bench", action_name=ActionName.MAIN_ACTION,
        retry_count=0, repeat_count=1,
    )  # fmt: skip
    invocation = Invocation(ActionType.HTTP, HttpRequest(url, HttpMethod.GET))
    for label, lean in (
        ("HttpExecutor (lean client)", True),
        ("HttpExecutor (aiohttp)", False),
    ):
        executor = HttpExecutor()
        executor._wire.enabled = lean

        async def attempt(executor: HttpExecutor = executor) -> None:
            result = await executor.execute(invocation, context)
            assert result.succeeded, result.message

        await measure(label, attempt)
        await executor.aclose()
    async with aiohttp.ClientSession() as session:

        async def bare() -> None:
            async with session.get(url) as response:
                await response.read()

        await measure("aiohttp ClientSession.get", bare)


if __name__ == "__main__":
    main()
