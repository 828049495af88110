"""HttpExecutor against a real aiohttp server on 127.0.0.1 (§5.2, §7)."""

from __future__ import annotations

import asyncio
import base64
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from aiohttp import web

from jobclock.actions.http import HttpExecutor
from jobclock.domain.actions import (
    ActionType,
    BasicAuthentication,
    HttpMethod,
    HttpRequest,
    StorageQueueMessage,
)
from jobclock.domain.execution import AttemptResult, Invocation
from jobclock.domain.secret import Secret
from tests.actions.attempt_context import attempt_context

CONTEXT = attempt_context()
PASSWORD = "s3cret-Pa55word"  # noqa: S105 - a test credential


@dataclass(frozen=True)
class Received:
    method: str
    path_qs: str
    headers: list[tuple[str, str]]  # as sent, in order, names in their original case
    body: bytes
    client_port: int

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None


@dataclass
class Target:
    port: int = 0
    tls_port: int | None = None  # None when no openssl is at hand to make a certificate
    received: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def last(self) -> Received:
        assert self.received, "the target received nothing"
        return self.received[-1]


def _app(target: Target) -> web.Application:
    async def record(request: web.Request) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        target.received.append(
            Received(
                method=request.method,
                path_qs=request.raw_path,
                headers=[(k.decode(), v.decode()) for k, v in request.raw_headers],
                body=await request.read(),
                client_port=peer[1] if peer else 0,
            )
        )

    async def echo(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text="hello")

    async def fixed(request: web.Request) -> web.Response:
        # Date and Server given, so aiohttp adds nothing and the message is predictable.
        headers = {"Date": "Thu, 10 Sep 2015 00:00:00 GMT", "Server": "target", "X-Id": "7"}
        return web.Response(text="all good", headers=headers)

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="boom")

    async def big(request: web.Request) -> web.Response:
        return web.Response(text="a" * 1024 + "b" * 200_000)

    async def latin(request: web.Request) -> web.Response:
        return web.Response(body=b"\xff\xfeok", content_type="application/octet-stream")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(text="too late")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/landing")

    async def redirect_to_slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.3)  # most of the attempt's deadline, before the next hop
        raise web.HTTPFound("/slow")

    async def multi(request: web.Request) -> web.Response:
        response = web.Response(text="cookies")
        response.headers.add("Set-Cookie", "a=1; path=/")
        response.headers.add("Set-Cookie", "b=2; path=/")
        return response

    async def mirror(request: web.Request) -> web.Response:
        # A careless target that reflects the credentials it was sent.
        await record(request)
        authorization = request.headers.get("Authorization", "")
        password = base64.b64decode(authorization.removeprefix("Basic ")).decode()
        return web.Response(text=f"{authorization} {password}", headers={"X-Auth": authorization})

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/fixed", fixed)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/big", big)
    app.router.add_get("/latin", latin)
    app.router.add_get("/slow", slow)
    app.router.add_post("/redirect", redirect)
    app.router.add_get("/redirect-to-slow", redirect_to_slow)
    app.router.add_get("/landing", echo)
    app.router.add_get("/multi", multi)
    app.router.add_get("/mirror", mirror)
    return app


def _self_signed(directory: Path) -> ssl.SSLContext | None:
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A real aiohttp server on its own event loop in a thread; tests use ``asyncio.run``.

    It listens twice: plain HTTP, and HTTPS with a self-signed certificate no client trusts.
    """
    target = Target()
    tls = _self_signed(tmp_path_factory.mktemp("tls"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(_app(target), handler_cancellation=True, shutdown_timeout=0.1)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        target.port = int(runner.addresses[-1][1])
        if tls is not None:
            await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls).start()
            target.tls_port = int(runner.addresses[-1][1])

    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=5)
    yield target
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


@pytest.fixture
def target(server: Target) -> Target:
    server.received.clear()
    return server


def attempt(request: HttpRequest, **options: float | bool) -> AttemptResult:
    return attempts(request, 1, **options)[0]


def attempts(request: HttpRequest, count: int, **options: float | bool) -> list[AttemptResult]:
    async def run() -> list[AttemptResult]:
        executor = HttpExecutor(**options)  # type: ignore[arg-type]
        try:
            invocation = Invocation(ActionType.HTTP, request)
            return [await executor.execute(invocation, CONTEXT) for _ in range(count)]
        finally:
            await executor.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("method", list(HttpMethod), ids=lambda m: m.value)
def test_sends_method_uri_headers_and_body_exactly(target: Target, method: HttpMethod) -> None:
    request = HttpRequest(
        uri=target.url("/echo?a=1&b=x%20y"),
        method=method,
        headers=(("Content-Type", "application/json"), ("X-Custom-Header", "Value One")),
        body='{"name": "Zoë"}',
    )

    result = attempt(request)

    assert result.succeeded, result.message
    received = target.last
    assert received.method == method.value
    assert received.path_qs == "/echo?a=1&b=x%20y"
    assert received.body == '{"name": "Zoë"}'.encode()
    assert ("Content-Type", "application/json") in received.headers
    assert ("X-Custom-Header", "Value One") in received.headers


def test_without_a_body_sends_no_body_and_no_invented_content_type(target: Target) -> None:
    attempt(HttpRequest(uri=target.url("/echo"), method=HttpMethod.POST))

    assert target.last.body == b""
    assert target.last.header("Content-Type") is None


def test_adds_the_six_scheduler_headers(target: Target) -> None:
    attempt(HttpRequest(uri=target.url("/echo"), method=HttpMethod.GET))

    received = target.last
    assert received.header("x-ms-execution-tag") == "c3b168c6a2f1f8d4f9b4a3e2c1d0e9f8"
    assert received.header("x-ms-client-request-id") == "2fd3a5a7-31b5-4c2c-9b8e-3d1c6b6d3e7f"
    assert received.header("x-ms-scheduler-expected-execution-time") == "2015-09-10T00:00:00Z"
    assert received.header("x-ms-scheduler-jobid") == "job1"
    assert received.header("x-ms-scheduler-jobcollectionid") == "coll1"
    assert received.header("x-ms-scheduler-execution-region") == "West Europe"


def test_scheduler_headers_can_be_switched_off(target: Target) -> None:
    attempt(
        HttpRequest(uri=target.url("/echo"), method=HttpMethod.GET), send_scheduler_headers=False
    )

    assert not [name for name, _ in target.last.headers if name.lower().startswith("x-ms-")]


def test_basic_authentication_is_sent_and_never_shown(target: Target) -> None:
    request = HttpRequest(
        uri=target.url("/mirror"),
        method=HttpMethod.GET,
        authentication=BasicAuthentication(username="scheduler", password=Secret(PASSWORD)),
    )

    result = attempt(request)

    token = base64.b64encode(f"scheduler:{PASSWORD}".encode()).decode()
    assert target.last.header("Authorization") == f"Basic {token}"
    assert result.succeeded
    assert PASSWORD not in result.message
    assert token not in result.message
    assert "X-Auth: Basic ***\r\n" in result.message


def test_success_message_has_azure_layout(target: Target) -> None:
    result = attempt(HttpRequest(uri=target.url("/fixed"), method=HttpMethod.GET))

    assert result.succeeded
    assert result.message == (
        "Http Action - Response from host '127.0.0.1': 'OK' Response Headers: "
        "Date: Thu, 10 Sep 2015 00:00:00 GMT\r\n"
        "Server: target\r\n"
        "X-Id: 7\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 8\r\n"
        " Body: all good"
    )


@pytest.mark.parametrize(("code", "reason"), [(201, "Created"), (202, "Accepted")])
def test_any_2xx_succeeds(target: Target, code: int, reason: str) -> None:
    result = attempt(HttpRequest(uri=target.url(f"/status/{code}"), method=HttpMethod.GET))

    assert result.succeeded
    assert result.message.startswith(f"Http Action - Response from host '127.0.0.1': '{reason}' ")


def test_non_2xx_fails_with_its_reason(target: Target) -> None:
    result = attempt(HttpRequest(uri=target.url("/status/500"), method=HttpMethod.GET))

    assert not result.succeeded
    assert result.message.startswith(
        "Http Action - Response from host '127.0.0.1': 'Internal Server Error' Response Headers: "
    )
    assert result.message.endswith("\r\n Body: boom")


def test_body_is_cut_at_exactly_1024_characters(target: Target) -> None:
    result = attempt(HttpRequest(uri=target.url("/big"), method=HttpMethod.GET))

    assert result.succeeded
    assert result.message.endswith("\r\n Body: " + "a" * 1024)


def test_undecodable_body_is_replaced_not_fatal(target: Target) -> None:
    result = attempt(HttpRequest(uri=target.url("/latin"), method=HttpMethod.GET))

    assert result.message.endswith(" Body: \ufffd\ufffdok")


def test_multi_valued_header_is_joined_on_one_line(target: Target) -> None:
    result = attempt(HttpRequest(uri=target.url("/multi"), method=HttpMethod.GET))

    assert "\r\nSet-Cookie: a=1; path=/, b=2; path=/\r\n" in result.message


def test_redirect_is_followed(target: Target) -> None:
    result = attempt(HttpRequest(uri=target.url("/redirect"), method=HttpMethod.POST, body="x"))

    assert result.succeeded
    assert result.message.endswith(" Body: hello")
    assert target.last.path_qs == "/landing"


def test_refused_connection_fails(target: Target) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    result = attempt(HttpRequest(f"http://127.0.0.1:{closed_port}/", HttpMethod.GET))

    assert not result.succeeded
    assert result.message.startswith("Http Action - Request to host '127.0.0.1' failed: ")
    assert len(result.message) > len("Http Action - Request to host '127.0.0.1' failed: ")


def test_timeout_fails_with_the_configured_limit(target: Target) -> None:
    result = attempt(HttpRequest(uri=target.url("/slow"), method=HttpMethod.GET), timeout=0.5)

    assert not result.succeeded
    assert result.message == (
        "Http Action - Request to host '127.0.0.1' failed: the request timed out after 0.5 seconds"
    )


@pytest.mark.parametrize("path", ["/slow", "/redirect-to-slow"])
def test_the_jobs_attempt_timeout_bounds_the_whole_attempt(target: Target, path: str) -> None:
    """``properties.attemptTimeout`` (the context's ``timeout``) wins over the executor's
    60 s, across redirects too: one deadline for the whole attempt."""

    async def run() -> tuple[AttemptResult, float]:
        executor = HttpExecutor()
        context = replace(CONTEXT, timeout=0.4)
        started = time.monotonic()
        try:
            request = HttpRequest(uri=target.url(path), method=HttpMethod.GET)
            result = await executor.execute(Invocation(ActionType.HTTP, request), context)
        finally:
            await executor.aclose()
        return result, time.monotonic() - started

    result, took = asyncio.run(run())
    assert not result.succeeded
    assert result.message.endswith("the request timed out after 0.4 seconds")
    assert took < 2.0  # not the target's delay, and not 60 s


def test_invalid_uri_fails_the_attempt() -> None:
    result = attempt(HttpRequest("nonsense", HttpMethod.GET))

    assert not result.succeeded
    assert (
        result.message == "Http Action - Request to host 'nonsense' failed: invalid URI 'nonsense'"
    )


@pytest.mark.parametrize(("verify_tls", "succeeded"), [(True, False), (False, True)])
def test_tls_certificates_are_verified(target: Target, verify_tls: bool, succeeded: bool) -> None:
    if target.tls_port is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    request = HttpRequest(f"https://127.0.0.1:{target.tls_port}/echo", HttpMethod.GET)

    result = attempt(request, verify_tls=verify_tls)

    assert result.succeeded is succeeded, result.message
    if not succeeded:
        assert "certificate verify failed" in result.message


def test_header_that_cannot_be_sent_fails_the_attempt(target: Target) -> None:
    request = HttpRequest(target.url("/echo"), HttpMethod.GET, headers=(("X-Bad", "a\r\nb"),))

    result = attempt(request)

    assert not result.succeeded
    assert result.message.startswith("Http Action - Request to host '127.0.0.1' failed: ")


def test_connections_are_kept_alive_between_attempts(target: Target) -> None:
    results = attempts(HttpRequest(uri=target.url("/echo"), method=HttpMethod.GET), 3)

    assert all(result.succeeded for result in results)
    assert len({received.client_port for received in target.received}) == 1


def test_a_non_http_action_is_a_programming_error() -> None:
    invocation = Invocation(ActionType.STORAGE_QUEUE, StorageQueueMessage("acct", "q", None, "m"))

    async def run() -> None:
        await HttpExecutor().execute(invocation, CONTEXT)

    with pytest.raises(TypeError, match="StorageQueue"):
        asyncio.run(run())
