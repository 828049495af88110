"""The HTTP action's lean client (``http_wire``) against aiohttp, its reference: the same
request bytes reach the target, and every kind of response gives the same attempt result,
whichever path sent it. The peer is a raw asyncio server on 127.0.0.1 that records the
bytes it reads and answers with scripted bytes, so framing is exactly what a test says."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from jobclock.actions.http import HttpExecutor
from jobclock.actions.http_wire import WireClient
from jobclock.actions.registry import LEAN_CLIENT_VARIABLE, build_executors
from jobclock.domain.actions import ActionType, BasicAuthentication, HttpMethod, HttpRequest
from jobclock.domain.execution import AttemptResult, Invocation
from jobclock.domain.secret import Secret
from jobclock.testing import FakeClock
from tests.actions.test_http import CONTEXT

Script = Callable[[bytes], bytes | None]  # the request's bytes -> the answer (None: close)


def _answer(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + body


def _plain(body: bytes = b"fine", status: str = "200 OK", **extra: str) -> bytes:
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    return _answer(status, headers + [(k.replace("_", "-"), v) for k, v in extra.items()], body)


@dataclass
class Peer:
    """A raw HTTP/1.1 server: ``scripts[path]`` answers; ``requests`` are the raw bytes."""

    scripts: dict[str, Script] = field(default_factory=dict)
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    open: int = 0  # connections open now
    most_open: int = 0  # the most that were ever open at once
    port: int = 0
    hang_up_on_reuse: bool = False  # close a kept-alive connection when it is used again
    delay: float = 0.0  # seconds before each answer: a slow target

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                served += 1
                if self.hang_up_on_reuse and served > 1:
                    break
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                raw = head + (await reader.readexactly(length) if length else b"")
                self.requests.append(raw)
                path = raw.split(b" ", 2)[1].decode().split("?", 1)[0]
                answer = self.scripts.get(path, lambda _: _plain())(raw)
                if answer is None:
                    break
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def run(
    peer: Peer, requests: list[HttpRequest], *, lean: bool
) -> tuple[list[AttemptResult], list[bytes]]:
    """Each request through an executor that uses the lean client or only aiohttp."""

    async def go() -> list[AttemptResult]:
        server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
        peer.port = server.sockets[0].getsockname()[1]
        executor = HttpExecutor(timeout=5)
        executor._wire.enabled = lean
        try:
            results = []
            for request in requests:
                resolved = HttpRequest(
                    peer.url(request.uri),
                    request.method,
                    request.headers,
                    request.body,
                    request.authentication,
                )
                results.append(
                    await executor.execute(Invocation(ActionType.HTTP, resolved), CONTEXT)
                )
            return results
        finally:
            await executor.aclose()
            server.close()

    peer.requests.clear()
    results = asyncio.run(go())
    # The two runs have peers on different ports.
    port = str(peer.port)
    results = [
        AttemptResult(result.succeeded, result.message.replace(port, "PORT")) for result in results
    ]
    return results, [raw.replace(port.encode(), b"PORT") for raw in peer.requests]


def both(
    scripts: dict[str, Script], requests: list[HttpRequest]
) -> tuple[list[AttemptResult], list[bytes]]:
    """Run through both paths; assert they agree; return the lean path's results."""
    lean_results, lean_bytes = run(Peer(dict(scripts)), requests, lean=True)
    reference_results, reference_bytes = run(Peer(dict(scripts)), requests, lean=False)
    assert lean_bytes == reference_bytes
    assert lean_results == reference_results
    return lean_results, lean_bytes


BASIC = BasicAuthentication("robot", Secret("s3cret-Pa55word"))


@pytest.mark.parametrize(
    "request_",
    [
        HttpRequest("/a/b?x=1&y=%20z&z=a:b@c", HttpMethod.GET),
        HttpRequest("", HttpMethod.GET),
        HttpRequest("/p", HttpMethod.POST, body="héllo wörld"),
        HttpRequest(
            "/p",
            HttpMethod.PUT,
            headers=(("Content-Type", "application/json"), ("X-Custom", "a, b")),
            body='{"a": 1}',
        ),
        HttpRequest("/p", HttpMethod.POST),
        HttpRequest("/p", HttpMethod.DELETE),
        HttpRequest("/p", HttpMethod.DELETE, body="gone"),
        HttpRequest("/auth", HttpMethod.GET, authentication=BASIC),
        HttpRequest("/h", HttpMethod.GET, headers=(("X-Empty", ""), ("x-ms-scheduler-jobid", "mine"))),
    ],
    ids=["query", "no-path", "post-body", "put-json", "post-empty", "delete", "delete-body",
         "basic", "override"],
)  # fmt: skip
def test_the_target_receives_the_same_bytes(request_: HttpRequest) -> None:
    [result], _ = both({}, [request_])
    assert result.succeeded


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("content-length", _plain(b"hello")),
        ("no-reason", _answer("200 ", [("Content-Length", "2")], b"ok")),
        ("created", _plain(b"", "201 Created")),
        ("no-content", _answer("204 No Content", [("X-A", "1")], b"")),
        ("failure", _plain(b"broken", "503 Service Unavailable", Retry_After="5")),
        (
            "chunked",
            _answer(
                "200 OK",
                [("Transfer-Encoding", "chunked"), ("Content-Type", "text/plain")],
                b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
            ),
        ),
        (
            "gzip",
            _answer(
                "200 OK",
                [("Content-Encoding", "gzip"), ("Content-Length", str(len(gzip.compress(b"zipped"))))],
                gzip.compress(b"zipped"),
            ),
        ),
        (
            "deflate",
            _answer(
                "200 OK",
                [("Content-Encoding", "deflate"), ("Content-Length", str(len(zlib.compress(b"deflated"))))],
                zlib.compress(b"deflated"),
            ),
        ),
        (
            "interim",
            b"HTTP/1.1 100 Continue\r\n\r\n" + _plain(b"after an interim answer"),
        ),
        ("latin-1", _plain("café".encode("latin-1")).replace(b"utf-8", b"iso-8859-1")),
        ("undecodable", _plain(b"\xff\xfe\xfa")),
        ("multi", _answer("200 OK", [("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("Content-Length", "0")], b"")),
        ("close", _plain(b"bye", Connection="close")),
        ("to-the-end", _answer("200 OK", [("Connection", "close")], b"no length, read to the end")),
        ("big", _plain(b"x" * 100_000)),
        ("echo-secret", _plain(b"you sent s3cret-Pa55word")),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)  # fmt: skip
def test_every_kind_of_response_gives_the_same_result(name: str, answer: bytes) -> None:
    scripts: dict[str, Script] = {"/r": lambda _: answer}
    requests = [HttpRequest("/r", HttpMethod.GET, authentication=BASIC)] * 2
    results, _ = both(scripts, requests)
    assert results[0] == results[1]  # the second one on a kept or a new connection
    assert "s3cret-Pa55word" not in results[0].message


def test_connections_are_kept_alive_and_dropped_when_the_target_closes() -> None:
    peer = Peer({"/close": lambda _: _plain(b"bye", Connection="close")})
    run(peer, [HttpRequest("/k", HttpMethod.GET)] * 3, lean=True)
    assert peer.connections == 1
    peer = Peer({"/close": lambda _: _plain(b"bye", Connection="close")})
    run(peer, [HttpRequest("/close", HttpMethod.GET)] * 3, lean=True)
    assert peer.connections == 3


def test_a_target_that_hangs_up_fails_the_attempt_like_aiohttp() -> None:
    results, _ = both({"/drop": lambda _: None}, [HttpRequest("/drop", HttpMethod.POST, body="x")])
    assert (
        results[0].message
        == "Http Action - Request to host '127.0.0.1' failed: Server disconnected"
    )


@pytest.mark.parametrize(
    ("status", "method", "followed_with"),
    [("302 Found", HttpMethod.POST, "GET"), ("303 See Other", HttpMethod.PUT, "GET"),
     ("307 Temporary Redirect", HttpMethod.POST, "POST"), ("301 Moved Permanently", HttpMethod.GET, "GET")],
)  # fmt: skip
def test_redirects_are_followed_as_aiohttp_follows_them(
    status: str, method: HttpMethod, followed_with: str
) -> None:
    scripts: dict[str, Script] = {
        "/from": lambda _: _answer(status, [("Location", "/to?x=1"), ("Content-Length", "0")], b""),
        "/to": lambda raw: _plain(raw.split(b" ", 1)[0]),
    }
    results, sent = both(scripts, [HttpRequest("/from", method, body="payload")])
    assert results[0].message.endswith(f"Body: {followed_with}")
    assert sent[1].startswith(f"{followed_with} /to?x=1 HTTP/1.1".encode())


def test_an_unreachable_target_is_left_to_aiohttp() -> None:
    async def go() -> AttemptResult:
        executor = HttpExecutor(timeout=5)
        try:
            request = HttpRequest("http://127.0.0.1:9/", HttpMethod.GET)
            return await executor.execute(Invocation(ActionType.HTTP, request), CONTEXT)
        finally:
            await executor.aclose()

    result = asyncio.run(go())
    assert result.message.startswith(
        "Http Action - Request to host '127.0.0.1' failed: Cannot connect to host 127.0.0.1:9"
    )


@pytest.mark.parametrize(
    ("uri", "headers"),
    [
        ("https://example.com/", ()),
        ("http://user:pw@example.com/", ()),
        ("http://Example.com/", ()),
        ("http://[::1]:8080/", ()),
        ("http://xn--caf-dma.example/ü", ()),
        ("http://example.com/a b", ()),
        ("http://example.com/a/../b", ()),
        ("http://example.com/./b", ()),
        ("http://example.com/a#frag", ()),
        ("http://example.com/100%", ()),
        ("http://example.com:80/", ()),
        ("http://example.com/?", ()),
        ("http://example.com/", (("Host", "other"),)),
        ("http://example.com/", (("User-Agent", "me"),)),
        ("http://example.com/", (("Content-Length", "3"),)),
        ("http://example.com/", (("Accept", "text/plain"),)),
        ("http://example.com/", (("X-A", "1"), ("x-a", "2"))),
        ("http://example.com/", (("X-Bad", "a\r\nb"),)),
        ("http://example.com/", (("X-Wide", "€"),)),
        ("http://example.com/", (("Bad Name", "1"),)),
        ("http://example.com/", (("X-Spaced", " padded "),)),
    ],
)
def test_only_plain_requests_take_the_lean_path(
    uri: str, headers: tuple[tuple[str, str], ...]
) -> None:
    client = WireClient()
    assert client.plan("GET", uri, list(headers), None) is None
    assert client.plan("GET", "http://example.com:8080/a-b_c~d?q=%20", [("X-A", "1")], None)
    assert WireClient(enabled=False).plan("GET", "http://example.com/", [], None) is None


def test_plain_requests_do_take_the_lean_path() -> None:
    peer = Peer()

    async def go() -> tuple[int, bool]:
        server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
        peer.port = server.sockets[0].getsockname()[1]
        executor = HttpExecutor(timeout=5)
        try:
            request = HttpRequest(peer.url("/plain"), HttpMethod.GET)
            await executor.execute(Invocation(ActionType.HTTP, request), CONTEXT)
            pooled = sum(len(idle) for idle in executor._wire._idle.values())
            return pooled, executor._session is None  # aiohttp never started
        finally:
            await executor.aclose()
            server.close()

    assert asyncio.run(go()) == (1, True)


@pytest.mark.parametrize(
    ("method", "succeeds"),
    [(HttpMethod.GET, True), (HttpMethod.PUT, True), (HttpMethod.POST, False)],
)
def test_a_kept_alive_connection_closed_under_a_request_is_retried_only_when_idempotent(
    method: HttpMethod, succeeds: bool
) -> None:
    results = {}
    for lean in (True, False):
        peer = Peer(hang_up_on_reuse=True)
        results[lean], _ = run(peer, [HttpRequest("/a", method, body="x")] * 2, lean=lean)
    assert results[True] == results[False]
    assert results[True][1].succeeded is succeeds


def test_a_connection_cap_holds_for_plain_requests() -> None:
    cap, count = 2, 8
    peer = Peer(delay=0.1)

    async def go() -> list[AttemptResult]:
        server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
        peer.port = server.sockets[0].getsockname()[1]
        executor = HttpExecutor(timeout=5, connection_limit=cap)
        invocation = Invocation(ActionType.HTTP, HttpRequest(peer.url("/slow"), HttpMethod.GET))
        try:
            return await asyncio.gather(
                *(executor.execute(invocation, CONTEXT) for _ in range(count))
            )
        finally:
            await executor.aclose()
            server.close()

    results = asyncio.run(go())
    assert all(result.succeeded for result in results), results
    assert len(peer.requests) == count
    assert peer.most_open <= cap


@pytest.mark.parametrize(
    ("env", "connections"),
    [({LEAN_CLIENT_VARIABLE: "0"}, 1), ({LEAN_CLIENT_VARIABLE: "1"}, 2), ({}, 2)],
    ids=["off", "on", "unset"],
)
def test_with_the_lean_client_off_every_request_goes_through_aiohttp(
    env: dict[str, str], connections: int
) -> None:
    # The two clients keep separate pools: after a request only aiohttp sends (it sets
    # Accept), plain requests open a second connection if, and only if, the lean client
    # sends them.
    peer = Peer()
    sends = [
        ("/special", HttpMethod.GET, (("Accept", "text/plain"),), None),
        ("/get", HttpMethod.GET, (), None),
        ("/post", HttpMethod.POST, (), "x"),
        ("/put", HttpMethod.PUT, (), "y"),
        ("/delete", HttpMethod.DELETE, (), None),
    ]

    async def go() -> list[AttemptResult]:
        server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
        peer.port = server.sockets[0].getsockname()[1]
        clock = FakeClock(datetime(2015, 9, 10, tzinfo=UTC))
        executor = build_executors(env, clock)[ActionType.HTTP]
        try:
            results = []
            for path, method, headers, body in sends:
                request = HttpRequest(peer.url(path), method, headers, body)
                results.append(
                    await executor.execute(Invocation(ActionType.HTTP, request), CONTEXT)
                )
            return results
        finally:
            await executor.aclose()
            server.close()

    results = asyncio.run(go())
    assert all(result.succeeded for result in results), results
    assert len(peer.requests) == len(sends)
    assert peer.connections == connections


@pytest.mark.parametrize("value", ["no", "false", "2"])
def test_a_lean_client_setting_other_than_0_or_1_is_refused(value: str) -> None:
    clock = FakeClock(datetime(2015, 9, 10, tzinfo=UTC))
    with pytest.raises(ValueError, match=LEAN_CLIENT_VARIABLE):
        build_executors({LEAN_CLIENT_VARIABLE: value}, clock)
