"""Sessions and tokens on two real nodes sharing PostgreSQL (issue 11): a cookie from one
node works on the other, and signing out, revoking a token or failing to sign in on one
node counts on the other at once."""

from __future__ import annotations

import re

import httpx

from tests.e2e.harness import API_VERSION, TOKEN
from tests.ha.cluster import Cluster

COLLECTIONS = "/subscriptions/s/providers/Microsoft.Scheduler/jobCollections"


def browser(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)


def csrf(client: httpx.Client) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/").text)
    assert found, "the page carries a CSRF token"
    return found.group(1)


def test_sign_out_on_one_node_ends_the_session_on_the_other(cluster: Cluster) -> None:
    a = cluster.start("a").server
    b = cluster.start("b").server
    with browser(a.base_url) as on_a, browser(b.base_url) as on_b:
        assert on_a.post("/signin", data={"token": TOKEN, "next": "/"}).status_code == 303
        cookie = on_a.cookies["jobclock_session"]
        on_b.cookies.set("jobclock_session", cookie)
        assert on_b.get("/").status_code == 200
        assert on_b.get("/openapi.json").status_code == 200
        assert on_a.post("/signout", data={"csrf": csrf(on_a)}).status_code == 303
        assert on_b.get("/").status_code == 303
        assert on_b.get("/openapi.json").status_code == 401


def test_a_token_made_on_one_node_works_and_is_revoked_on_both(cluster: Cluster) -> None:
    a = cluster.start("a").server
    b = cluster.start("b").server
    admin = {"Authorization": f"Bearer {TOKEN}"}
    made = httpx.post(
        a.base_url + "/jobclock/tokens", json={"name": "ci", "role": "reader"}, headers=admin
    )
    assert made.status_code == 201, made.text
    secret = made.json()["token"]
    reader = {"Authorization": f"Bearer {secret}"}
    params = {"api-version": API_VERSION}
    assert httpx.get(b.base_url + COLLECTIONS, params=params, headers=reader).status_code == 200
    with browser(a.base_url) as on_a, browser(b.base_url) as on_b:
        assert on_a.post("/signin", data={"token": secret, "next": "/"}).status_code == 303
        on_b.cookies.set("jobclock_session", on_a.cookies["jobclock_session"])
        assert on_b.get("/").status_code == 200
        revoked = httpx.delete(b.base_url + "/jobclock/tokens/ci", headers=admin)
        assert revoked.status_code == 200, revoked.text
        for node in (a, b):
            answer = httpx.get(node.base_url + COLLECTIONS, params=params, headers=reader)
            assert answer.status_code == 401
        assert on_a.get("/").status_code == 303
        assert on_b.get("/").status_code == 303


def test_failed_sign_ins_count_across_nodes(cluster: Cluster) -> None:
    a = cluster.start("a").server
    b = cluster.start("b").server
    with browser(a.base_url) as on_a, browser(b.base_url) as on_b:
        for client in (on_a, on_b, on_a, on_b, on_a):
            assert client.post("/signin", data={"token": "guess"}).status_code == 401
        assert on_b.post("/signin", data={"token": TOKEN}).status_code == 429
        assert on_a.post("/signin", data={"token": TOKEN}).status_code == 429


def test_a_refused_write_with_a_nul_in_its_path_is_audited_on_postgresql(
    cluster: Cluster,
) -> None:
    """A fuzzer's find: the 400 was right, but its audit entry failed to store (PostgreSQL
    text holds no NUL), so the refused write was missing from the trail."""
    a = cluster.start("a").server
    admin = {"Authorization": f"Bearer {TOKEN}"}
    path = "/subscriptions/s%00x/resourceGroups/g/providers/Microsoft.Scheduler/jobCollections/c0"
    answer = httpx.put(
        a.base_url + path,
        params={"api-version": API_VERSION},
        json={"location": "West US"},
        headers=admin,
    )
    assert answer.status_code == 400, answer.text
    entries = httpx.get(a.base_url + "/jobclock/audit", headers=admin).json()["value"]
    refused = [e for e in entries if e["status"] == 400]
    assert [e["resource"] for e in refused] == [
        "/subscriptions/s\ufffdx/resourceGroups/g/providers/Microsoft.Scheduler/jobCollections/c0"
    ]
    assert "audit.write_failed" not in cluster.nodes["a"].log()


def test_a_nul_in_a_token_name_or_audit_filter_is_no_500_on_postgresql(
    cluster: Cluster,
) -> None:
    a = cluster.start("a").server
    admin = {"Authorization": f"Bearer {TOKEN}"}
    audit = httpx.get(a.base_url + "/jobclock/audit?identity=a%00b", headers=admin)
    assert audit.status_code == 200, audit.text
    assert audit.json()["value"] == []
    revoke = httpx.delete(a.base_url + "/jobclock/tokens/a%00b", headers=admin)
    assert revoke.status_code == 404, revoke.text
    assert revoke.json()["error"]["code"] == "ResourceNotFound"
