"""The HTTP target of ``bench/dispatch.py``: a minimal HTTP/1.1 server in its own process.

A raw asyncio ``Protocol`` on 127.0.0.1 that answers every request ``200 OK`` (2-byte body,
keep-alive) and, while recording, keeps three raw values per request and nothing else: its
arrival time (``time.time()`` when its bytes were read) and the values of its
``x-ms-scheduler-expected-execution-time`` and ``x-ms-scheduler-jobid`` headers, as sent
(jobclock puts both on every HTTP attempt, §5.2 of the spec; the APScheduler workload sends
them itself). Parsing and figures wait until recording has stopped (``bench/lateness.py``):
the target shares the machine with the scheduler it measures.

Control is line-based over stdin/stdout, so the parent needs no extra port:

* on start it prints ``PORT <n>``;
* ``begin`` starts recording (a new window); it answers ``OK <epoch seconds>``;
* ``mark`` closes the window but goes on recording (late arrivals of slots due in it); it
  answers ``OK <epoch seconds>``;
* ``count`` answers ``COUNT <requests recorded so far>``;
* ``end`` or ``end PATH`` stops recording and prints one JSON line over the requests that
  arrived in the window (up to ``mark``, or until now without one): ``count``, ``seconds``
  (window length), ``missing`` (requests without a parsable expected-time header),
  ``connections`` (opened while recording), ``late_ms`` (``min``, ``p50``, ``p99``, ``max``,
  ``mean``: arrival minus the header's instant) and ``late_s_over_1`` (samples later than
  one second). With ``PATH`` it first writes every raw value recorded to that file as JSON
  (``started``, ``marked``, ``ended``, ``connections``, ``arrived``, ``expected``, ``job``);
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
from pathlib import Path
from typing import Any

from lateness import Recording, summary

EXPECTED_HEADER = b"\r\nx-ms-scheduler-expected-execution-time:"
JOB_HEADER = b"\r\nx-ms-scheduler-jobid:"
CONTENT_LENGTH = b"\r\ncontent-length:"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
    b"Connection: keep-alive\r\n\r\nok"
)


def header(head: bytes, lowered: bytes, name: bytes) -> bytes:
    """The raw value of header ``name`` (lower case, with its leading CRLF), b"" if absent."""
    at = lowered.find(name)
    if at < 0:
        return b""
    line_end = lowered.find(b"\r\n", at + 2)
    return head[at + len(name) : None if line_end < 0 else line_end]


class Recorder:
    """The raw values of one recording; requests in arrival order."""

    def __init__(self) -> None:
        self.recording = False
        self.started = self.marked = 0.0
        self.connections = 0
        self.arrived = array("d")
        self.expected: list[bytes] = []
        self.job: list[bytes] = []

    def begin(self) -> float:
        self.recording = True
        self.connections = 0
        self.arrived = array("d")
        self.expected, self.job = [], []
        self.started = time.time()
        self.marked = 0.0
        return self.started

    def mark(self) -> float:
        self.marked = time.time()
        return self.marked

    def end(self, path: str) -> dict[str, Any]:
        self.recording = False
        ended = time.time()
        recording = Recording(
            started=self.started,
            marked=self.marked or ended,
            ended=ended,
            connections=self.connections,
            arrived=self.arrived.tolist(),
            expected=[value.strip().decode("latin-1") for value in self.expected],
            job=[value.strip().decode("latin-1") for value in self.job],
        )
        self.arrived, self.expected, self.job = array("d"), [], []
        if path:
            Path(path).write_text(json.dumps(recording.__dict__))
        return summary(recording)


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
            head = buffer[start:end]
            lowered = head.lower()
            length = header(head, lowered, CONTENT_LENGTH)
            body = int(length) if length else 0
            if end + 4 + body > len(buffer):
                break  # the body is still on its way
            start = end + 4 + body
            answered += 1
            if recorder.recording:
                recorder.arrived.append(arrived)
                recorder.expected.append(header(head, lowered, EXPECTED_HEADER))
                recorder.job.append(header(head, lowered, JOB_HEADER))
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
            command, _, argument = (await reader.readline()).decode().strip().partition(" ")
            if command == "begin":
                print(f"OK {recorder.begin():.6f}", flush=True)
            elif command == "mark":
                print(f"OK {recorder.mark():.6f}", flush=True)
            elif command == "count":
                print(f"COUNT {len(recorder.arrived)}", flush=True)
            elif command == "end":
                print(json.dumps(recorder.end(argument.strip())), flush=True)
            elif command in ("quit", ""):
                break
    finally:
        server.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
