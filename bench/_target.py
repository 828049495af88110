"""The HTTP target of ``bench/dispatch.py``: a minimal HTTP/1.1 server in its own process.

A raw asyncio ``Protocol`` on 127.0.0.1 that answers every request ``200 OK`` (2-byte body,
keep-alive) and, while a measurement window is open, counts requests and records each one's
lateness: its arrival time (``time.time()`` when its bytes were read) minus the instant in
its ``x-ms-scheduler-expected-execution-time`` header (ISO 8601 UTC, ``...Z``, as jobclock
sends it, §5.2 of the spec; the APScheduler workload sends the same header itself).

Control is line-based over stdin/stdout, so the parent needs no extra port:

* on start it prints ``PORT <n>``;
* ``begin`` opens a window (resets the counters); it answers ``OK``;
* ``end`` closes it and prints one JSON line: ``count``, ``seconds`` (window length),
  ``missing`` (requests without a parsable header), ``connections`` (opened during the
  window), ``late_ms`` (``p50``, ``p99``, ``max``, ``mean``) and ``late_s_over_1`` (samples
  later than one second);
* ``quit`` or end of input stops the process.

Run: ``python bench/_target.py`` (``bench/dispatch.py`` starts and stops it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from array import array
from calendar import timegm
from typing import Any

HEADER = b"\r\nx-ms-scheduler-expected-execution-time:"
CONTENT_LENGTH = b"\r\ncontent-length:"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
    b"Connection: keep-alive\r\n\r\nok"
)


class Recorder:
    """The window's counters; lateness samples in seconds, in a compact array."""

    def __init__(self) -> None:
        self.recording = False
        self.count = 0
        self.missing = 0
        self.connections = 0
        self.late = array("d")
        self.started = 0.0
        # "YYYY-MM-DDTHH:MM:SS" -> epoch seconds; every slot of a second shares one entry.
        self._seconds: dict[bytes, int] = {}

    def begin(self) -> None:
        self.recording = True
        self.count = self.missing = self.connections = 0
        self.late = array("d")
        self.started = time.time()

    def expected(self, value: bytes) -> float | None:
        """Epoch seconds of ``2024-01-01T00:00:01[.123456]Z``; None when unparsable."""
        value = value.strip()
        whole = value[:19]
        base = self._seconds.get(whole)
        if base is None:
            try:
                parsed = time.strptime(whole.decode("ascii"), "%Y-%m-%dT%H:%M:%S")
            except (UnicodeDecodeError, ValueError):
                return None
            base = timegm(parsed)
            if len(self._seconds) > 100_000:
                self._seconds.clear()
            self._seconds[whole] = base
        fraction = value[19:].rstrip(b"Zz")
        if not fraction:
            return float(base)
        try:
            return base + float(fraction)
        except ValueError:
            return None

    def end(self) -> dict[str, Any]:
        self.recording = False
        seconds = time.time() - self.started
        samples = sorted(self.late)
        result: dict[str, Any] = {
            "count": self.count,
            "seconds": seconds,
            "missing": self.missing,
            "connections": self.connections,
            "late_ms": None,
            "late_s_over_1": sum(1 for sample in samples if sample > 1.0),
        }
        if samples:
            last = len(samples) - 1
            result["late_ms"] = {
                "p50": samples[round(0.50 * last)] * 1000,
                "p99": samples[round(0.99 * last)] * 1000,
                "max": samples[last] * 1000,
                "mean": sum(samples) / len(samples) * 1000,
            }
        self.late = array("d")
        return result


class TargetProtocol(asyncio.Protocol):
    """One keep-alive connection: parse request heads (and skip bodies), answer 200."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.recorder.recording:
            self.recorder.connections += 1

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        buffer = self.buffer + data if self.buffer else data
        recorder = self.recorder
        start = answered = 0
        while True:
            end = buffer.find(b"\r\n\r\n", start)
            if end < 0:
                break
            head = buffer[start:end].lower()
            body = 0
            at = head.find(CONTENT_LENGTH)
            if at >= 0:
                line_end = head.find(b"\r\n", at + 2)
                body = int(head[at + len(CONTENT_LENGTH) : None if line_end < 0 else line_end])
            if end + 4 + body > len(buffer):
                break  # the body is still on its way
            start = end + 4 + body
            answered += 1
            if recorder.recording:
                recorder.count += 1
                at = head.find(HEADER)
                expected = None
                if at >= 0:
                    line_end = head.find(b"\r\n", at + 2)
                    value = head[at + len(HEADER) : None if line_end < 0 else line_end]
                    expected = recorder.expected(value)
                if expected is None:
                    recorder.missing += 1
                else:
                    recorder.late.append(arrived - expected)
        self.buffer = buffer[start:]
        if answered and self.transport is not None:
            self.transport.write(RESPONSE * answered)


async def serve(host: str = "127.0.0.1") -> None:
    loop = asyncio.get_running_loop()
    recorder = Recorder()
    server = await loop.create_server(lambda: TargetProtocol(recorder), host, 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while True:
            line = (await reader.readline()).decode().strip()
            if line == "begin":
                recorder.begin()
                print("OK", flush=True)
            elif line == "end":
                print(json.dumps(recorder.end()), flush=True)
            elif line in ("quit", ""):
                break
    finally:
        server.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
