"""Outbound authentication of the HttpExecutor against real local peers (§7).

A TLS server that requires a client certificate signed by a test CA, an OAuth2 token
endpoint and a plain target all run in one aiohttp server thread; no client code is mocked.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit
from uuid import uuid4

import pytest

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
from jobclock.domain.execution import AttemptResult, Invocation
from jobclock.domain.secret import Secret
from jobclock.settings import Settings
from tests.actions.attempt_context import attempt_context
from tests.auth_peers import Peers, running_peers
from tests.codec.test_certificates import PFX_PASSWORD, Issued, issue

CLIENT_SECRET = "oauth-Client-Secret-42"  # noqa: S105 - a test credential
AUDIENCE = "https://management.core.windows.net/"
T = TypeVar("T")
CONTEXT = attempt_context()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    with running_peers(tmp_path_factory.mktemp("pki")) as peers:
        yield peers


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


def test_the_authority_comes_from_the_environment(peers: Peers) -> None:
    # Read by the settings (the only reader of the environment), handed to the executor.
    settings = Settings.load({}, {AUTHORITY_VARIABLE: peers.authority + "/"})
    executor = HttpExecutor(oauth_authority=settings.actions.oauth_authority)
    name = tenant("ok")

    [result] = attempts(executor, get(peers.url("/target"), oauth(name)), 1)

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
