"""Outbound authentication of the HttpExecutor against real local peers (§7).

A TLS server that requires a client certificate signed by a test CA, an OAuth2 token
endpoint and a plain target all run in one aiohttp server thread; no client code is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from uuid import uuid4

import pytest
from aiohttp import web

from jobclock.actions.auth import (
    AUTHORITY_VARIABLE,
    DEFAULT_AUTHORITY,
    OAuthTokens,
    authority_from_environment,
    token_endpoint,
)
from jobclock.actions.http import HttpExecutor
from jobclock.domain.actions import (
    ActionType,
    BasicAuthentication,
    ClientCertificateAuthentication,
    HttpAuthentication,
    HttpMethod,
    HttpRequest,
    OAuthAuthentication,
)
from jobclock.domain.execution import AttemptContext, AttemptResult, Invocation
from jobclock.domain.history import ActionName
from jobclock.domain.secret import Secret
from tests.codec.test_certificates import PFX_PASSWORD, Issued, issue

CLIENT_SECRET = "oauth-Client-Secret-42"  # noqa: S105 - a test credential
AUDIENCE = "https://management.core.windows.net/"
T = TypeVar("T")
CONTEXT = AttemptContext(
    collection="coll1",
    job="job1",
    execution_tag="c3b168c6a2f1f8d4f9b4a3e2c1d0e9f8",
    request_id="2fd3a5a7-31b5-4c2c-9b8e-3d1c6b6d3e7f",
    expected_time=datetime(2015, 9, 10, 0, 0, tzinfo=UTC),
    region="West Europe",
    action_name=ActionName.MAIN_ACTION,
    retry_count=0,
    repeat_count=1,
)


# -- the peers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca: Issued
    client: Issued  # signed by the CA
    stranger: Issued  # self-signed, unknown to the server

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"


@dataclass
class Peers:
    pki: Pki
    port: int = 0
    tls_port: int = 0
    # What the TLS server saw: (client certificate subject CN, client port) per request.
    tls_seen: list[tuple[str, int]] = field(default_factory=list)
    # Token requests: (tenant, form) in order.
    token_requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    # Authorization headers the plain target received, per path.
    authorizations: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def authority(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.authority}{path}"

    def tls_url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.tls_port}{path}"

    def token_requests_of(self, tenant: str) -> list[dict[str, str]]:
        return [form for name, form in self.token_requests if name == tenant]


class _MutualTlsServer(ThreadingHTTPServer):
    """An HTTPS server on the stdlib ``ssl`` module that requires a client certificate.

    Each connection is wrapped in its own thread with a blocking socket, so a refused
    handshake sends its TLS alert to the client as a real server (nginx, IIS) does; an
    asyncio server drops the connection without one.
    """

    daemon_threads = True

    def __init__(self, peers: Peers) -> None:
        self.peers = peers
        self.context = _server_context(peers.pki)
        super().__init__(("127.0.0.1", 0), _WhoAmI)

    def finish_request(self, request: Any, client_address: Any) -> None:
        connection = self.context.wrap_socket(
            request, server_side=True, do_handshake_on_connect=False
        )
        with connection:
            try:
                connection.settimeout(5)
                connection.do_handshake()
            except (ssl.SSLError, OSError):
                # The alert is sent. Close gently: closing with the client's request unread
                # would reset the connection, and the client could lose the alert.
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_WR)
                    while connection.recv(4096):
                        pass
                return
            super().finish_request(connection, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _WhoAmI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _MutualTlsServer

    def do_GET(self) -> None:
        peercert = self.connection.getpeercert() or {}
        names = [value for rdn in peercert.get("subject", ()) for _, value in rdn]
        common_name = names[-1] if names else ""
        self.server.peers.tls_seen.append((common_name, self.client_address[1]))
        body = f"hello {common_name}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _plain_app(peers: Peers) -> web.Application:
    async def token(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        form = {key: str(value) for key, value in (await request.post()).items()}
        peers.token_requests.append((tenant, form))
        count = len(peers.token_requests_of(tenant))
        issued = f"tok-{tenant}-{count}"
        kind = tenant.split("-", 1)[0]
        if kind == "denied":
            return web.json_response(
                {"error": "invalid_client", "error_description": "AADSTS7000215"}, status=401
            )
        if kind == "broken":
            return web.Response(status=500, text="oops")
        if kind == "leaky":  # an endpoint that puts the secret it was sent in its error code
            return web.json_response({"error": form.get("client_secret")}, status=400)
        if kind == "empty":
            return web.json_response({"token_type": "Bearer"})
        if kind == "on":  # only an absolute expiry, 1 hour after the test's wall clock
            return web.json_response({"access_token": issued, "expires_on": "1000003600"})
        if kind == "noexpiry":
            return web.json_response({"token_type": "Bearer", "access_token": issued})
        # Entra ID's v1 endpoint sends the numbers as strings.
        return web.json_response(
            {"token_type": "Bearer", "access_token": issued, "expires_in": "3600"}
        )

    async def target(request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization")
        peers.authorizations.append((request.path, authorization))
        if request.path == "/refuse":
            return web.Response(status=401, text="no")
        if request.path == "/mirror":
            return web.Response(text=f"you sent {authorization}", headers={"X-Auth": "same"})
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tenant}/oauth2/token", token)
    app.router.add_post("/realms/{tenant}/protocol/openid-connect/token", token)
    app.router.add_get("/target", target)
    app.router.add_get("/refuse", target)
    app.router.add_get("/mirror", target)
    return app


def _pki(directory: Path) -> Pki:
    ca = issue("jobclock test CA", ca=True)
    server = issue("127.0.0.1", issuer=ca, server=True)
    pki = Pki(directory, ca, issue("scheduler-client", issuer=ca), issue("stranger"))
    pki.ca_file.write_bytes(ca.certificate_pem())
    (directory / "server.pem").write_bytes(server.certificate_pem() + server.key_pem())
    return pki


def _server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.directory / "server.pem")
    context.load_verify_locations(cafile=pki.ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    peers = Peers(_pki(tmp_path_factory.mktemp("pki")))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(_plain_app(peers), shutdown_timeout=0.1)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        peers.port = int(runner.addresses[-1][1])

    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=5)
    tls = _MutualTlsServer(peers)
    peers.tls_port = int(tls.server_address[1])
    tls_thread = threading.Thread(target=tls.serve_forever, daemon=True)
    tls_thread.start()
    yield peers
    tls.shutdown()
    tls.server_close()
    tls_thread.join(timeout=5)
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


@pytest.fixture
def peers(server: Peers) -> Peers:
    server.tls_seen.clear()
    server.token_requests.clear()
    server.authorizations.clear()
    return server


# -- helpers -----------------------------------------------------------------------------------


def run(executor: HttpExecutor, body: Callable[[HttpExecutor], Awaitable[T]]) -> T:
    async def main() -> T:
        try:
            return await body(executor)
        finally:
            await executor.aclose()

    return asyncio.run(main())


def get(uri: str, authentication: HttpAuthentication | None) -> Invocation:
    return Invocation(ActionType.HTTPS, HttpRequest(uri, HttpMethod.GET, (), None, authentication))


def attempts(executor: HttpExecutor, invocation: Invocation, count: int) -> list[AttemptResult]:
    async def body(executor: HttpExecutor) -> list[AttemptResult]:
        return [await executor.execute(invocation, CONTEXT) for _ in range(count)]

    return run(executor, body)


def certificate(
    issued: Issued, password: str | None = PFX_PASSWORD
) -> ClientCertificateAuthentication:
    return ClientCertificateAuthentication(
        Secret(issued.pfx(password)), None if password is None else Secret(password)
    )


def oauth(tenant: str, secret: str = CLIENT_SECRET) -> OAuthAuthentication:
    return OAuthAuthentication(tenant, AUDIENCE, "client-1", Secret(secret))


def tenant(kind: str) -> str:
    return f"{kind}-{uuid4().hex[:8]}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- ClientCertificate -------------------------------------------------------------------------


def test_the_client_certificate_is_presented_in_the_handshake(peers: Peers) -> None:
    executor = HttpExecutor(ca_file=peers.pki.ca_file)

    [result] = attempts(executor, get(peers.tls_url("/whoami"), certificate(peers.pki.client)), 1)

    assert result.succeeded, result.message
    assert "Body: hello scheduler-client" in result.message
    assert [seen for seen, _ in peers.tls_seen] == ["scheduler-client"]


def test_without_a_client_certificate_the_handshake_fails(peers: Peers) -> None:
    executor = HttpExecutor(ca_file=peers.pki.ca_file)

    [result] = attempts(executor, get(peers.tls_url("/whoami"), None), 1)

    assert not result.succeeded
    assert result.message.startswith("Http Action - Request to host '127.0.0.1' failed: ")
    assert "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED]" in result.message, result.message
    assert peers.tls_seen == []


def test_a_certificate_the_server_does_not_trust_is_refused(peers: Peers) -> None:
    executor = HttpExecutor(ca_file=peers.pki.ca_file)
    auth = certificate(peers.pki.stranger)

    [result] = attempts(executor, get(peers.tls_url("/whoami"), auth), 1)

    assert not result.succeeded
    assert result.message.startswith("Http Action - Request to host '127.0.0.1' failed: ")
    assert "alert unknown ca" in result.message, result.message
    assert PFX_PASSWORD not in result.message
    assert peers.tls_seen == []


def test_the_target_certificate_is_still_verified_with_a_client_certificate(peers: Peers) -> None:
    auth = certificate(peers.pki.client)

    [verified] = attempts(HttpExecutor(), get(peers.tls_url("/whoami"), auth), 1)
    [unverified] = attempts(HttpExecutor(verify_tls=False), get(peers.tls_url("/whoami"), auth), 1)

    assert not verified.succeeded
    assert "certificate verify failed" in verified.message
    assert unverified.succeeded, unverified.message


def test_the_tls_context_is_cached_and_its_connection_kept_alive(peers: Peers) -> None:
    executor = HttpExecutor(ca_file=peers.pki.ca_file)

    results = attempts(executor, get(peers.tls_url("/whoami"), certificate(peers.pki.client)), 3)

    assert all(result.succeeded for result in results)
    assert len(peers.tls_seen) == 3
    assert len({port for _, port in peers.tls_seen}) == 1


def test_jobs_with_different_certificates_do_not_share_connections(peers: Peers) -> None:
    other = issue("second-client", issuer=peers.pki.ca)
    first, second = certificate(peers.pki.client), certificate(other, None)

    async def body(executor: HttpExecutor) -> list[AttemptResult]:
        return [
            await executor.execute(get(peers.tls_url("/whoami"), auth), CONTEXT)
            for auth in (first, second, first)
        ]

    results = run(HttpExecutor(ca_file=peers.pki.ca_file), body)

    assert all(result.succeeded for result in results)
    assert [name for name, _ in peers.tls_seen] == [
        "scheduler-client",
        "second-client",
        "scheduler-client",
    ]


def test_the_key_file_is_removed_at_once(
    peers: Peers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    executor = HttpExecutor(ca_file=peers.pki.ca_file)

    [result] = attempts(executor, get(peers.tls_url("/whoami"), certificate(peers.pki.client)), 1)

    assert result.succeeded, result.message
    assert list(tmp_path.iterdir()) == []


def test_an_unusable_pfx_fails_the_attempt_without_a_request(peers: Peers) -> None:
    auth = ClientCertificateAuthentication(Secret("bm90IGEgcGZ4"), Secret(PFX_PASSWORD))

    [result] = attempts(HttpExecutor(), get(peers.tls_url("/whoami"), auth), 1)

    assert not result.succeeded
    assert result.message == (
        "Http Action - Request to host '127.0.0.1' failed: the client certificate cannot be "
        "used: it could not be opened: it is not a PKCS#12 file, it is damaged, or the "
        "password is wrong"
    )
    assert peers.tls_seen == []


# -- ActiveDirectoryOAuth ----------------------------------------------------------------------


def test_a_token_is_fetched_with_client_credentials_and_sent_as_bearer(peers: Peers) -> None:
    name = tenant("ok")
    executor = HttpExecutor(oauth_authority=peers.authority)

    [result] = attempts(executor, get(peers.url("/target"), oauth(name)), 1)

    assert result.succeeded, result.message
    assert peers.token_requests_of(name) == [
        {
            "grant_type": "client_credentials",
            "client_id": "client-1",
            "client_secret": CLIENT_SECRET,
            "resource": AUDIENCE,
        }
    ]
    assert peers.authorizations == [("/target", f"Bearer tok-{name}-1")]


def test_the_token_is_reused_until_it_expires(peers: Peers) -> None:
    name = tenant("ok")
    clock = FakeClock()
    tokens = OAuthTokens(peers.authority, clock=clock)
    invocation = get(peers.url("/target"), oauth(name))

    async def body(executor: HttpExecutor) -> list[AttemptResult]:
        results = [await executor.execute(invocation, CONTEXT) for _ in range(2)]
        clock.now += 3600 - 300 - 1  # still inside the lifetime less the margin
        results.append(await executor.execute(invocation, CONTEXT))
        clock.now += 2  # now within the margin: renewed
        results.append(await executor.execute(invocation, CONTEXT))
        results.append(await executor.execute(invocation, CONTEXT))
        return results

    results = run(HttpExecutor(oauth_tokens=tokens), body)

    assert all(result.succeeded for result in results)
    assert len(peers.token_requests_of(name)) == 2
    assert [authorization for _, authorization in peers.authorizations] == [
        f"Bearer tok-{name}-1",
        f"Bearer tok-{name}-1",
        f"Bearer tok-{name}-1",
        f"Bearer tok-{name}-2",
        f"Bearer tok-{name}-2",
    ]


def test_an_absolute_expiry_is_honoured(peers: Peers) -> None:
    name = tenant("on")
    clock = FakeClock()
    tokens = OAuthTokens(peers.authority, clock=clock, wall_clock=lambda: 1_000_000_000.0)
    invocation = get(peers.url("/target"), oauth(name))

    async def body(executor: HttpExecutor) -> None:
        await executor.execute(invocation, CONTEXT)
        clock.now += 3000
        await executor.execute(invocation, CONTEXT)
        clock.now += 600
        await executor.execute(invocation, CONTEXT)

    run(HttpExecutor(oauth_tokens=tokens), body)

    assert len(peers.token_requests_of(name)) == 2


def test_concurrent_attempts_share_one_token_request(peers: Peers) -> None:
    name = tenant("ok")
    invocation = get(peers.url("/target"), oauth(name))

    async def body(executor: HttpExecutor) -> list[AttemptResult]:
        return list(
            await asyncio.gather(*(executor.execute(invocation, CONTEXT) for _ in range(5)))
        )

    results = run(HttpExecutor(oauth_authority=peers.authority), body)

    assert all(result.succeeded for result in results)
    assert len(peers.token_requests_of(name)) == 1


def test_a_different_secret_never_borrows_a_cached_token(peers: Peers) -> None:
    name = tenant("ok")

    async def body(executor: HttpExecutor) -> list[AttemptResult]:
        return [
            await executor.execute(get(peers.url("/target"), oauth(name, secret)), CONTEXT)
            for secret in (CLIENT_SECRET, "another-secret", CLIENT_SECRET)
        ]

    run(HttpExecutor(oauth_authority=peers.authority), body)

    secrets = [form["client_secret"] for form in peers.token_requests_of(name)]
    assert secrets == [CLIENT_SECRET, "another-secret"]


def test_a_token_without_expiry_is_used_once(peers: Peers) -> None:
    name = tenant("noexpiry")

    attempts(
        HttpExecutor(oauth_authority=peers.authority), get(peers.url("/target"), oauth(name)), 2
    )

    assert len(peers.token_requests_of(name)) == 2


def test_a_refused_token_is_dropped_so_the_retry_gets_a_new_one(peers: Peers) -> None:
    name = tenant("ok")
    invocation = get(peers.url("/refuse"), oauth(name))

    results = attempts(HttpExecutor(oauth_authority=peers.authority), invocation, 2)

    assert [result.succeeded for result in results] == [False, False]
    assert results[0].message.startswith(
        "Http Action - Response from host '127.0.0.1': 'Unauthorized'"
    )
    assert len(peers.token_requests_of(name)) == 2


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("denied", "401 Unauthorized (invalid_client)"),
        ("broken", "500 Internal Server Error"),
        ("empty", "the answer holds no access_token"),
    ],
)
def test_a_token_endpoint_failure_fails_the_attempt(peers: Peers, kind: str, reason: str) -> None:
    name = tenant(kind)

    [result] = attempts(
        HttpExecutor(oauth_authority=peers.authority), get(peers.url("/target"), oauth(name)), 1
    )

    assert not result.succeeded
    assert result.message == (
        "Http Action - Request to host '127.0.0.1' failed: could not obtain an OAuth token "
        f"from '127.0.0.1': {reason}"
    )
    assert peers.authorizations == []


def test_an_unreachable_token_endpoint_fails_the_attempt(peers: Peers) -> None:
    executor = HttpExecutor(oauth_authority=f"http://127.0.0.1:{free_port()}")

    [result] = attempts(executor, get("https://api.example.com/x", oauth(tenant("ok"))), 1)

    assert not result.succeeded
    assert result.message.startswith(
        "Http Action - Request to host 'api.example.com' failed: could not obtain an OAuth "
        "token from '127.0.0.1': "
    )


def test_the_secret_and_the_token_never_reach_a_message(peers: Peers) -> None:
    leaky = tenant("leaky")
    [refused] = attempts(
        HttpExecutor(oauth_authority=peers.authority), get(peers.url("/target"), oauth(leaky)), 1
    )
    name = tenant("ok")
    [mirrored] = attempts(
        HttpExecutor(oauth_authority=peers.authority), get(peers.url("/mirror"), oauth(name)), 1
    )

    assert not refused.succeeded
    assert CLIENT_SECRET not in refused.message
    assert refused.message.endswith("400 Bad Request (***)")
    assert mirrored.succeeded
    assert f"tok-{name}-1" not in mirrored.message
    assert "Body: you sent Bearer ***" in mirrored.message


def test_the_authority_comes_from_the_environment(
    peers: Peers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUTHORITY_VARIABLE, peers.authority + "/")
    name = tenant("ok")

    [result] = attempts(HttpExecutor(), get(peers.url("/target"), oauth(name)), 1)

    assert result.succeeded, result.message
    assert len(peers.token_requests_of(name)) == 1


def test_an_authority_template_reaches_keycloak_style_endpoints(peers: Peers) -> None:
    name = tenant("ok")
    authority = peers.authority + "/realms/{tenant}/protocol/openid-connect/token"

    [result] = attempts(
        HttpExecutor(oauth_authority=authority), get(peers.url("/target"), oauth(name)), 1
    )

    assert result.succeeded, result.message
    assert peers.authorizations == [("/target", f"Bearer tok-{name}-1")]


def test_authority_defaults_and_token_urls() -> None:
    assert (
        authority_from_environment({}) == DEFAULT_AUTHORITY == "https://login.microsoftonline.com"
    )
    assert authority_from_environment({AUTHORITY_VARIABLE: "  "}) == DEFAULT_AUTHORITY
    assert (
        authority_from_environment({AUTHORITY_VARIABLE: "https://sso.local"}) == "https://sso.local"
    )
    assert (
        token_endpoint(DEFAULT_AUTHORITY, "contoso.onmicrosoft.com")
        == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token"
    )
    assert (
        token_endpoint("https://sso.local/", "a/../b")
        == "https://sso.local/a%2F..%2Fb/oauth2/token"
    )
    assert (
        urlsplit(token_endpoint("https://kc/realms/{tenant}/token", "r1")).path
        == "/realms/r1/token"
    )


# -- Basic -------------------------------------------------------------------------------------


def test_basic_is_still_sent(peers: Peers) -> None:
    auth = BasicAuthentication("scheduler", Secret("basic-Pa55"))

    [result] = attempts(HttpExecutor(), get(peers.url("/target"), auth), 1)

    assert result.succeeded
    assert peers.authorizations == [("/target", "Basic c2NoZWR1bGVyOmJhc2ljLVBhNTU=")]


# -- utilities ---------------------------------------------------------------------------------


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
