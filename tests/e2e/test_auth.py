"""Outbound authentication end to end through the running server: a client certificate in
the TLS handshake of a target that requires one, and an OAuth2 client-credentials token
from a local token endpoint (``JOBCLOCK_OAUTH_AUTHORITY``)."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from tests.auth_peers import Peers, running_peers
from tests.codec.test_certificates import PFX_PASSWORD
from tests.e2e.harness import Api, running_server, unique

SECRET = "e2e-oauth-Secret-77"  # noqa: S105 - a test credential


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    with running_peers(tmp_path_factory.mktemp("pki")) as running:
        yield running


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, peers: Peers) -> Iterator[Api]:
    env = {
        "JOBCLOCK_TLS_CA_FILE": str(peers.pki.ca_file),
        "JOBCLOCK_OAUTH_AUTHORITY": peers.authority,
    }
    with running_server(tmp_path_factory.mktemp("jobclock"), env=env) as server:
        client = Api(server)
        client.create_collection("auth", sku="Standard")
        client.create_collection("free", sku="Free")
        yield client
        client.close()


def _certificate_job(uri: str, pfx: str, password: str | None = PFX_PASSWORD) -> dict[str, object]:
    auth: dict[str, object] = {"type": "ClientCertificate", "pfx": pfx}
    if password is not None:
        auth["password"] = password
    return {
        "action": {
            "type": "Https",
            "request": {"uri": uri, "method": "GET", "authentication": auth},
            "retryPolicy": {"retryType": "None"},
        }
    }


def test_client_certificate_is_presented_and_its_facts_returned(api: Api, peers: Peers) -> None:
    pfx = peers.pki.client.pfx(PFX_PASSWORD)
    job = unique("cert")
    created = api.create_job("auth", job, _certificate_job(peers.tls_url("/who"), pfx))
    auth = created["properties"]["action"]["request"]["authentication"]
    assert auth["type"] == "ClientCertificate"
    assert len(auth["certificateThumbprint"]) == 40
    assert auth["certificateThumbprint"] == auth["certificateThumbprint"].upper()
    assert "CN=scheduler-client" in auth["certificateSubjectName"]
    assert auth["certificateExpirationDate"] == auth["certificateExpiration"]
    assert "pfx" not in auth
    assert "password" not in auth
    [entry] = api.wait_for_history("auth", job, 1)
    assert entry["properties"]["status"] == "Completed", entry
    assert "hello scheduler-client" in entry["properties"]["message"]


def test_target_refuses_a_connection_without_the_certificate(api: Api, peers: Peers) -> None:
    job = unique("nocert")
    api.create_job(
        "auth",
        job,
        {
            "action": {
                "type": "Https",
                "request": {"uri": peers.tls_url("/who"), "method": "GET"},
                "retryPolicy": {"retryType": "None"},
            }
        },
    )
    [entry] = api.wait_for_history("auth", job, 1)
    assert entry["properties"]["status"] == "Failed"
    assert "Request to host '127.0.0.1' failed" in entry["properties"]["message"]


def test_a_pfx_with_the_wrong_password_is_refused_at_put(api: Api, peers: Peers) -> None:
    pfx = peers.pki.client.pfx(PFX_PASSWORD)
    response = api.put(
        api.job_path("auth", unique("badpfx")),
        {"properties": _certificate_job(peers.tls_url("/who"), pfx, "wrong")},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"
    assert "pfx" in response.json()["error"]["message"].lower()


def test_oauth_token_is_fetched_cached_and_sent(api: Api, peers: Peers) -> None:
    tenant = f"contoso-{uuid4().hex[:8]}"
    job = unique("oauth")
    properties = {
        "action": {
            "type": "Http",
            "request": {
                "uri": peers.url("/target"),
                "method": "GET",
                "authentication": {
                    "type": "ActiveDirectoryOAuth",
                    "tenant": tenant,
                    "audience": "https://management.core.windows.net/",
                    "clientId": "client-1",
                    "secret": SECRET,
                },
            },
            "retryPolicy": {"retryType": "None"},
        }
    }
    created = api.create_job("auth", job, properties)
    shown = created["properties"]["action"]["request"]["authentication"]
    assert shown == {
        "type": "ActiveDirectoryOAuth",
        "tenant": tenant,
        "audience": "https://management.core.windows.net/",
        "clientId": "client-1",
    }
    api.wait_for_history("auth", job, 1)
    assert api.post(f"{api.job_path('auth', job)}/run").status_code == 200
    entries = api.wait_for_history("auth", job, 2)
    assert all(e["properties"]["status"] == "Completed" for e in entries)
    [form] = peers.token_requests_of(tenant)  # one token for both runs: it was cached
    assert form["grant_type"] == "client_credentials"
    assert form["client_secret"] == SECRET
    assert ("/target", f"Bearer tok-{tenant}-1") in peers.authorizations
    assert SECRET not in str(api.job("auth", job))
    assert SECRET not in api.server.log()


def test_a_failing_token_endpoint_gives_a_failed_entry(api: Api, peers: Peers) -> None:
    job = unique("denied")
    api.create_job(
        "auth",
        job,
        {
            "action": {
                "type": "Http",
                "request": {
                    "uri": peers.url("/target"),
                    "method": "GET",
                    "authentication": {
                        "type": "ActiveDirectoryOAuth",
                        "tenant": f"denied-{uuid4().hex[:8]}",
                        "audience": "a",
                        "clientId": "c",
                        "secret": SECRET,
                    },
                },
                "retryPolicy": {"retryType": "None"},
            }
        },
    )
    [entry] = api.wait_for_history("auth", job, 1)
    assert entry["properties"]["status"] == "Failed"
    assert "could not obtain an OAuth token" in entry["properties"]["message"]
    assert SECRET not in entry["properties"]["message"]


def test_the_free_plan_refuses_authentication(api: Api, peers: Peers) -> None:
    response = api.put(
        api.job_path("free", unique("basic")),
        {
            "properties": {
                "action": {
                    "type": "Http",
                    "request": {
                        "uri": peers.url("/target"),
                        "method": "GET",
                        "authentication": {"type": "Basic", "username": "u", "password": "p"},
                    },
                },
                "recurrence": {"frequency": "Hour"},
            }
        },
    )
    assert response.status_code == 409
    assert "not available on the 'Free' plan" in response.json()["error"]["message"]
