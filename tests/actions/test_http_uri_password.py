"""A URI with a password sends it as Basic authentication to a real server (issue 11), and
no history message shows it."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobclock.actions.http import HttpExecutor
from jobclock.domain.actions import ActionType, HttpMethod, HttpRequest
from jobclock.domain.execution import AttemptResult, Invocation
from tests.actions.attempt_context import attempt_context

PASSWORD = "Pw-Sekrit-77"  # noqa: S105 - a test credential
CONTEXT = attempt_context()


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str | None] = []  # noqa: RUF012 - one server per module

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        status = 500 if self.path.startswith("/fail") else 200
        payload = f"echo {self.headers.get('Authorization')}".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def attempt(uri: str) -> AttemptResult:
    async def main() -> AttemptResult:
        executor = HttpExecutor()
        try:
            request = HttpRequest(uri, HttpMethod.GET)
            return await executor.execute(Invocation(ActionType.HTTP, request), CONTEXT)
        finally:
            await executor.aclose()

    return asyncio.run(main())


def test_the_target_receives_the_credentials_as_basic_auth(port: int) -> None:
    _Recorder.seen.clear()
    result = attempt(f"http://alice:{PASSWORD}@127.0.0.1:{port}/ok")
    token = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert _Recorder.seen == [f"Basic {token}"]
    assert result.succeeded
    assert PASSWORD not in result.message
    assert token not in result.message


def test_a_failure_message_leaves_the_password_out(port: int) -> None:
    result = attempt(f"http://alice:{PASSWORD}@127.0.0.1:{port}/fail")
    assert not result.succeeded
    assert PASSWORD not in result.message


def test_a_connection_error_leaves_the_password_out() -> None:
    with socket.socket() as sock:  # bound, never listening: the connection is refused
        sock.bind(("127.0.0.1", 0))
        closed = int(sock.getsockname()[1])
        result = attempt(f"http://alice:{PASSWORD}@127.0.0.1:{closed}/")
    assert not result.succeeded
    assert PASSWORD not in result.message
