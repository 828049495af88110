"""The portal with tokens and roles, on a fake clock (issue 11): the sign-in throttle,
what each role may do from the portal, sign-out and revocation ending sessions, and the
audit page. In-process, over the system's SQLite store with the real access store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobclock.access import AccessService
from jobclock.api.app import create_app
from jobclock.domain.access import Identity, Role
from jobclock.refs import CollectionRef, JobRef
from jobclock.storage.access_store import SqlAccessStore
from jobclock.web import create_portal, with_portal
from tests.system import System, open_system

TOKEN = "portal-access-token"  # noqa: S105 - a test token
COLLECTION = "/c/sub/rg/jc"
JOB = COLLECTION + "/jobs/j"
ADMIN = Identity("admin", Role.ADMIN, "bootstrap")
REF = JobRef(CollectionRef("sub", "rg", "jc"), "j")


class Person:
    """One browser (its own cookie jar) on the shared app."""

    def __init__(self, system: System, app: Any, address: str = "203.0.113.7") -> None:
        self.system = system
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://portal.test")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.system.run(self.client.request(method, path, **kwargs))

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        return self.request("POST", path, data=data or {})

    def sign_in(self, token: str) -> httpx.Response:
        return self.post("/signin", {"token": token, "next": "/"})

    def csrf(self, path: str = "/") -> str:
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', self.get(path).text)
        assert found, "the page carries a CSRF token"
        return found.group(1)


class Site:
    def __init__(self, system: System) -> None:
        self.system = system
        self.access = AccessService(SqlAccessStore(system.store), system.clock, TOKEN)
        self.app = with_portal(
            create_portal(system.service, self.access, system.clock),
            create_app(system.service, self.access),
        )
        self.people: list[Person] = []

    def person(self, address: str = "203.0.113.7") -> Person:
        self.people.append(Person(self.system, self.app, address))
        return self.people[-1]

    def token(self, name: str, role: Role) -> str:
        return str(self.system.run(self.access.create_token(name, role, ADMIN)).secret)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with open_system(tmp_path) as system:
        system.collection()
        # Its first run is a day away: any run in a test is one the test asked for.
        start = "2024-01-02T00:00:00Z"
        system.job("j", {"startTime": start, "recurrence": {"frequency": "Day", "interval": 1}})
        opened = Site(system)
        yield opened
        for person in opened.people:
            system.run(person.client.aclose())


def test_five_wrong_tokens_lock_that_address_out_for_five_minutes(site: Site) -> None:
    attacker = site.person("198.51.100.9")
    for _ in range(5):
        assert attacker.sign_in("guess").status_code == 401
    locked = attacker.sign_in(TOKEN)  # even the right token, while locked
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) == 300
    assert "Too many failed sign-ins" in locked.text
    assert "jobclock_session" not in attacker.client.cookies
    # Someone else, from another address, is not locked out.
    assert site.person("203.0.113.50").sign_in(TOKEN).status_code == 303
    site.system.clock.advance(timedelta(minutes=4, seconds=59))
    assert attacker.sign_in(TOKEN).status_code == 429
    site.system.clock.advance(timedelta(seconds=2))
    assert attacker.sign_in(TOKEN).status_code == 303
    assert attacker.get("/").status_code == 200


def test_a_reader_sees_but_cannot_change(site: Site) -> None:
    reader = site.person()
    assert reader.sign_in(site.token("viewer", Role.READER)).status_code == 303
    page = reader.get(JOB)
    assert page.status_code == 200
    assert "viewer (reader)" in page.text
    csrf = reader.csrf(JOB)
    before = len(site.system.history(REF))
    run = reader.post(JOB + "/run", {"csrf": csrf})
    assert run.status_code == 403
    assert "does not have authorization" in run.text
    assert "jobs/run/action" in run.text
    state = reader.post(JOB + "/state", {"csrf": csrf, "state": "Disabled"})
    assert state.status_code == 403
    assert site.system.status(REF).state.value == "Enabled"
    saved = reader.request(
        "PUT",
        "/portal/jobs/sub/rg/jc/new-one",
        json={"properties": {}},
        headers={"x-csrf-token": csrf},
    )
    assert saved.status_code == 403
    assert saved.json()["error"]["code"] == "AuthorizationFailed"
    assert reader.get("/audit").status_code == 403
    assert "/audit" not in reader.get("/").text  # no link to a page it may not open
    site.system.tick()
    assert len(site.system.history(REF)) == before


def test_an_operator_runs_and_disables_but_does_not_delete(site: Site) -> None:
    operator = site.person()
    assert operator.sign_in(site.token("ops", Role.OPERATOR)).status_code == 303
    csrf = operator.csrf(JOB)
    assert operator.post(JOB + "/run", {"csrf": csrf}).status_code == 303
    assert operator.post(JOB + "/state", {"csrf": csrf, "state": "Disabled"}).status_code == 303
    assert site.system.status(REF).state.value == "Disabled"
    assert operator.post(JOB + "/delete", {"csrf": csrf}).status_code == 403
    assert site.system.status(REF) is not None


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(site: Site) -> None:
    me = site.person()
    assert me.sign_in(TOKEN).status_code == 303
    copy = site.person("192.0.2.1")
    copy.client.cookies.set("jobclock_session", me.client.cookies["jobclock_session"])
    assert copy.get("/").status_code == 200
    assert me.post("/signout", {"csrf": me.csrf()}).status_code == 303
    assert copy.get("/").status_code == 303  # to the sign-in page
    assert copy.request("GET", "/openapi.json").status_code == 401


def test_revoking_a_token_ends_the_sessions_it_opened(site: Site) -> None:
    secret = site.token("temp", Role.OPERATOR)
    person = site.person()
    assert person.sign_in(secret).status_code == 303
    assert person.get("/").status_code == 200
    site.system.run(site.access.revoke_token("temp"))
    assert person.get("/").status_code == 303


def test_replacing_the_servers_token_ends_its_sessions(site: Site) -> None:
    person = site.person()
    assert person.sign_in(TOKEN).status_code == 303
    replaced = AccessService(SqlAccessStore(site.system.store), site.system.clock, "a-new-token")
    cookie = person.client.cookies["jobclock_session"]
    assert site.system.run(replaced.session(cookie)) is None
    identity = site.system.run(site.access.session(cookie))
    assert identity is not None
    assert (identity.name, identity.role) == ("admin", Role.ADMIN)


def test_the_audit_page_lists_portal_writes_with_who_and_outcome(site: Site) -> None:
    operator = site.person()
    operator.sign_in(site.token("ops", Role.OPERATOR))
    csrf = operator.csrf(JOB)
    operator.post(JOB + "/run", {"csrf": csrf})
    operator.post(JOB + "/delete", {"csrf": csrf})
    site.person("198.51.100.1").sign_in("wrong")
    admin = site.person()
    admin.sign_in(TOKEN)
    page = admin.get("/audit")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert (
        'ops</td> <td>portal</td> <td class="wrap">Microsoft.Scheduler/jobCollections/jobs/delete'
        in text
    )
    assert "failed (403)" in text
    assert "jobs/run/action" in text
    assert "succeeded (303)" in text
    assert "anonymous" in text
    assert "failed (401)" in text
    assert (
        "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Scheduler/jobCollections/jc/jobs/j"
        in text
    )
    entries = site.system.run(site.access.audit_page())
    assert all("wrong" not in (e.resource + e.operation + e.identity) for e in entries)


def test_each_role_is_offered_only_what_it_may_do(site: Site) -> None:
    offered = {}
    for name, role in (("r", Role.READER), ("o", Role.OPERATOR), ("a", Role.ADMIN)):
        person = site.person()
        assert person.sign_in(site.token(name, role)).status_code == 303
        job = person.get(JOB).text
        offered[role] = {
            "run": "Run now" in job,
            "state": "Disable job" in job,
            "delete": "Delete…" in job,
            "edit": ">Edit<" in job,
            "new job": "New job" in person.get(COLLECTION).text,
            "new collection": "Create collection" in person.get("/").text,
            "save": 'id="save"' in person.get(JOB + "/edit").text,
            "audit": 'href="/audit"' in person.get("/").text,
        }
    assert {k for k, v in offered[Role.READER].items() if v} == set()
    assert {k for k, v in offered[Role.OPERATOR].items() if v} == {"run", "state"}
    assert all(offered[Role.ADMIN].values()), offered[Role.ADMIN]
