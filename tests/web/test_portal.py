"""The portal over HTTP, in process: sign-in and sessions on a fake clock, CSRF, routing
beside the API, escaping, write-only secrets, the preview and save endpoints.

(What a person does in a browser is in ``tests/portal``, against the real server.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobclock.api.app import create_app
from jobclock.codec.recurrence import recurrence_from_json
from jobclock.domain.instants import format_instant_seconds
from jobclock.domain.occurrences import preview as engine_preview
from jobclock.domain.records import EngineWrites
from jobclock.services import keep_secrets
from jobclock.web import create_portal, with_portal
from tests.contract.rows import history_row
from tests.system import T0, System, open_system

TOKEN = "portal-test-token"  # noqa: S105 - a test token
COLLECTION = "/c/sub/rg/jc"


class Browser:
    """httpx on the combined app, with the cookie jar of one person."""

    def __init__(self, system: System) -> None:
        self.system = system
        app = with_portal(
            create_portal(system.service, TOKEN, system.clock),
            create_app(system.service, TOKEN),
        )
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.system.run(self.client.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def sign_in(self, token: str = TOKEN) -> httpx.Response:
        return self.post("/signin", data={"token": token, "next": "/"})

    def csrf(self, path: str = "/") -> str:
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', self.get(path).text)
        assert found, "the page carries a CSRF token"
        return found.group(1)


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    with open_system(tmp_path) as opened:
        yield opened


@pytest.fixture
def browser(system: System) -> Iterator[Browser]:
    opened = Browser(system)
    yield opened
    system.run(opened.client.aclose())


def job_body(**properties: Any) -> dict[str, Any]:
    return {
        "properties": {
            "action": {"type": "Http", "request": {"uri": "http://127.0.0.1/", "method": "GET"}},
            **properties,
        }
    }


# -- sign-in -------------------------------------------------------------------------------
def test_pages_need_a_session_and_the_api_keeps_its_bearer_token(browser: Browser) -> None:
    page = browser.get("/c/sub/rg/jc?state=Enabled")
    assert page.status_code == 303
    assert page.headers["location"] == "/signin?next=/c/sub/rg/jc%3Fstate%3DEnabled"
    api = browser.get(
        "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Scheduler/jobCollections?api-version=2016-03-01"
    )
    assert api.status_code == 401
    assert api.json()["error"]["code"] == "AuthenticationFailed"
    assert browser.post("/portal/preview", json={}).status_code == 401


def test_a_wrong_token_is_refused_and_the_right_one_signs_in(browser: Browser) -> None:
    refused = browser.sign_in("not-the-token")
    assert refused.status_code == 401
    assert "not this server&#39;s API token" in refused.text
    assert "jobclock_session" not in browser.client.cookies
    signed = browser.sign_in()
    assert signed.status_code == 303
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert TOKEN not in cookie
    assert browser.get("/").status_code == 200


def test_a_session_ends_after_twelve_hours_and_at_sign_out(browser: Browser) -> None:
    browser.sign_in()
    browser.system.clock.advance(timedelta(hours=11, minutes=59))
    assert browser.get("/").status_code == 200
    browser.system.clock.advance(timedelta(minutes=2))
    assert browser.get("/").status_code == 303
    browser.sign_in()
    signed_out = browser.post("/signout", data={"csrf": browser.csrf()})
    assert signed_out.status_code == 303
    assert browser.get("/").status_code == 303


def test_a_forged_or_altered_cookie_is_not_a_session(browser: Browser) -> None:
    browser.sign_in()
    cookie = browser.client.cookies["jobclock_session"]
    altered = cookie[:-1] + ("A" if cookie[-1] != "A" else "B")
    browser.client.cookies.set("jobclock_session", altered)
    assert browser.get("/").status_code == 303
    browser.client.cookies.set("jobclock_session", "9999999999.x.y")
    assert browser.get("/").status_code == 303
    browser.client.cookies.set("jobclock_session", cookie)
    assert browser.get("/").status_code == 200


def test_sign_in_never_redirects_off_the_server(browser: Browser) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        answer = browser.post("/signin", data={"token": TOKEN, "next": target})
        assert answer.headers["location"] == "/"


# -- forms ---------------------------------------------------------------------------------
def test_a_post_without_the_csrf_token_changes_nothing(browser: Browser) -> None:
    browser.sign_in()
    browser.system.collection()
    answer = browser.post(COLLECTION + "/state", data={"state": "Disabled"})
    assert answer.status_code == 403
    assert browser.get(COLLECTION).text.count("Disable collection") == 1
    saved = browser.request("PUT", "/portal/jobs/sub/rg/jc/x", json=job_body())
    assert saved.status_code == 403
    done = browser.post(
        COLLECTION + "/state", data={"state": "Disabled", "csrf": browser.csrf(COLLECTION)}
    )
    assert done.status_code == 303
    assert "Enable collection" in browser.get(COLLECTION).text


def test_creating_a_collection_and_its_errors(browser: Browser) -> None:
    browser.sign_in()
    csrf = browser.csrf()
    form = {"csrf": csrf, "subscription": "sub", "resource_group": "rg", "plan": "Free"}
    missing = browser.post("/c/new", data=form | {"name": ""})
    assert missing.status_code == 400
    assert "Name is required." in missing.text
    created = browser.post("/c/new", data=form | {"name": "nightly", "max_jobs": "3"})
    assert created.status_code == 303
    assert created.headers["location"].startswith("/c/sub/rg/nightly?done=")
    view = browser.system.run(
        browser.system.service.get_collection(
            __import__("jobclock.refs", fromlist=["CollectionRef"]).CollectionRef(
                "sub", "rg", "nightly"
            )
        )
    )
    assert view.collection.sku.value == "Free"
    again = browser.post("/c/new", data=form | {"name": "NIGHTLY"})
    assert again.status_code == 409
    assert "already exists" in again.text


def test_deleting_asks_first(browser: Browser) -> None:
    browser.sign_in()
    browser.system.collection()
    ref = browser.system.job("doomed", {"startTime": "2024-06-01T00:00:00Z"})
    page = browser.get(COLLECTION + "/jobs/doomed/delete")
    assert page.status_code == 200
    assert "Delete job doomed?" in page.text
    assert browser.system.status(ref) is not None  # still there after the question
    gone = browser.post(COLLECTION + "/jobs/doomed/delete", data={"csrf": browser.csrf(COLLECTION)})
    assert gone.status_code == 303
    assert browser.get(COLLECTION + "/jobs/doomed").status_code == 404


def test_text_from_targets_is_escaped(browser: Browser) -> None:
    browser.sign_in()
    browser.system.collection()
    browser.system.job("echo", {"startTime": "2024-06-01T00:00:00Z"})
    store = browser.system.store

    async def insert() -> None:
        async with store.transaction() as tx:
            collection = (await tx.all_collections())[0]
            record = await tx.find_job(collection.id, "echo")
            assert record is not None
            row = history_row(record.id, message="<script>alert(1)</script>", history_id="h1")
            await tx.apply(EngineWrites(entries=[row]), None)

    browser.system.run(insert())
    for path in (COLLECTION + "/jobs/echo", COLLECTION + "/jobs/echo/history/h1"):
        html = browser.get(path).text
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# -- the editor ----------------------------------------------------------------------------
def test_the_preview_is_the_engines(browser: Browser) -> None:
    browser.sign_in()
    browser.system.collection()
    csrf = browser.csrf(COLLECTION + "/new")
    recurrence = {
        "frequency": "Month",
        "schedule": {"monthlyOccurrences": [{"day": "Friday", "occurrence": -1}], "hours": [9]},
        "timeZone": "Europe/Amsterdam",
    }
    answer = browser.post(
        "/portal/preview",
        json={"startTime": "2024-01-01T00:00:00Z", "recurrence": recurrence},
        headers={"x-csrf-token": csrf},
    )
    assert answer.status_code == 200
    body = answer.json()
    expected = engine_preview(recurrence_from_json(recurrence), T0, browser.system.clock.now(), 10)
    assert [item["utc"] for item in body["occurrences"]] == [
        format_instant_seconds(instant) for instant in expected
    ]
    assert body["occurrences"][0] == {
        "utc": "2024-01-26T08:00:00Z",
        "local": "2024-01-26 09:00:00 CET",
    }
    bad = browser.post(
        "/portal/preview",
        json={"recurrence": {"frequency": "Week", "schedule": {"monthDays": [1]}}},
        headers={"x-csrf-token": csrf},
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "recurrence.schedule.monthDays"


def test_saving_reports_the_field_and_stores_nothing(browser: Browser) -> None:
    browser.sign_in()
    browser.system.collection()
    csrf = {"x-csrf-token": browser.csrf(COLLECTION + "/new")}
    body = job_body()
    body["properties"]["action"]["request"]["authentication"] = {
        "type": "Basic",
        "username": "u",
    }
    answer = browser.request("PUT", "/portal/jobs/sub/rg/jc/j1?new=1", json=body, headers=csrf)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["field"] == "properties.action.request.authentication.password"
    assert browser.get(COLLECTION + "/jobs/j1").status_code == 404
    created = browser.request(
        "PUT", "/portal/jobs/sub/rg/jc/j1?new=1", json=job_body(), headers=csrf
    )
    assert created.status_code == 200
    assert created.json() == {"url": COLLECTION + "/jobs/j1", "created": True}
    again = browser.request("PUT", "/portal/jobs/sub/rg/jc/J1?new=1", json=job_body(), headers=csrf)
    assert again.status_code == 409
    assert again.json()["error"]["field"] == "name"


def test_secrets_are_write_only_and_kept_when_left_empty(browser: Browser) -> None:
    browser.sign_in()
    browser.system.collection()
    body = job_body()
    body["properties"]["action"]["request"]["authentication"] = {
        "type": "Basic",
        "username": "u",
        "password": "hunter2-secret",
    }
    ref = browser.system.job("auth", body["properties"])
    page = browser.get(COLLECTION + "/jobs/auth/edit").text
    assert "hunter2-secret" not in page
    assert '"storedSecrets": ["action.request.authentication.password"]' in page
    csrf = {"x-csrf-token": browser.csrf(COLLECTION + "/new")}
    edited = job_body()
    edited["properties"]["action"]["request"].update(
        uri="http://127.0.0.1/changed", authentication={"type": "Basic", "username": "u"}
    )
    saved = browser.request("PUT", "/portal/jobs/sub/rg/jc/auth", json=edited, headers=csrf)
    assert saved.status_code == 200
    definition = browser.system.status(ref).definition
    request = definition.action.payload
    assert request.uri == "http://127.0.0.1/changed"
    assert request.authentication.password.reveal() == "hunter2-secret"


def test_keep_secrets_only_within_the_same_type() -> None:
    plain = {"properties": {"action": {"type": "Http", "request": {"authentication": {
        "type": "Basic", "username": "u", "password": "p"}}}}}  # fmt: skip
    hidden = {"properties": {"action": {"type": "Http", "request": {"authentication": {
        "type": "Basic", "username": "u", "password": None}}}}}  # fmt: skip

    def auth(body: dict[str, Any]) -> Any:
        return body["properties"]["action"]["request"]["authentication"]

    empty = {"properties": {"action": {"type": "Http", "request": {"authentication": {
        "type": "Basic", "username": "v", "password": ""}}}}}  # fmt: skip
    assert auth(keep_secrets(empty, plain, hidden))["password"] == "p"  # noqa: S105
    new = {"properties": {"action": {"type": "Http", "request": {"authentication": {
        "type": "Basic", "username": "u", "password": "q"}}}}}  # fmt: skip
    assert auth(keep_secrets(new, plain, hidden))["password"] == "q"  # noqa: S105
    other = {"properties": {"action": {"type": "Http", "request": {"authentication": {
        "type": "ActiveDirectoryOAuth", "clientId": "c"}}}}}  # fmt: skip
    assert "password" not in auth(keep_secrets(other, plain, hidden))
    queue = {"properties": {"action": {"type": "StorageQueue", "request": {"authentication": {
        "type": "Basic"}}}}}  # fmt: skip
    assert "password" not in auth(keep_secrets(queue, plain, hidden))


def test_pages_are_not_framed_or_cached_and_load_nothing_from_elsewhere(
    browser: Browser,
) -> None:
    browser.sign_in()
    browser.system.collection()
    browser.system.job("j", {"startTime": "2024-06-01T00:00:00Z"})
    for path in ("/", COLLECTION, COLLECTION + "/jobs/j", COLLECTION + "/jobs/j/edit"):
        page = browser.get(path)
        assert page.status_code == 200, path
        assert page.headers["x-frame-options"] == "DENY"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assert not re.search(r'(src|href)="(https?:)?//', page.text), path
    assert browser.get("/static/editor.js").status_code == 200


def test_the_job_list_pages_and_searches_in_the_store(browser: Browser) -> None:
    browser.sign_in()
    browser.system.collection()
    for index in range(30):
        browser.system.job(f"job-{index:02d}", {"startTime": "2024-06-01T00:00:00Z"})
    first = browser.get(COLLECTION).text
    assert first.count('href="/c/sub/rg/jc/jobs/') == 25
    assert "Next ›" in first
    assert "‹ Previous" not in first
    second = browser.get(COLLECTION + "?page=1").text
    assert re.findall(r"/jobs/(job-\d\d)\"", second) == [f"job-{n}" for n in range(25, 30)]
    assert "Next ›" not in second
    found = browser.get(COLLECTION + "?q=JOB-1&state=Enabled").text
    assert re.findall(r"/jobs/(job-\d\d)\"", found) == [f"job-1{n}" for n in range(10)]
