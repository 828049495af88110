"""The portal tells the truth (issue 11): what the editor shows is what the server does,
every refusal is shown, the API link works when signed in, odd cookies are a clear 4xx and
the history fits a phone. Against the real server process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.harness import RunningServer, http_action
from tests.portal.test_browser import collection_url, new_collection, sign_in


def test_a_new_job_starts_when_saved(page: Any, server: RunningServer) -> None:
    """Empty Start means "when saved": a pre-filled page-load time would skip a slot."""
    _, name = new_collection(server)
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/new")
    page.locator("#preview-list li").first.wait_for()
    assert page.locator("#f-properties-startTime").input_value() == ""
    assert '"startTime"' not in page.locator("#json").input_value()
    # The preview counts from now: the first run is when the job is saved.
    first = page.locator("#preview-list li time").first.get_attribute("datetime") or ""
    assert abs(datetime.fromisoformat(first) - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_frequency_the_plan_refuses_is_shown_in_preview_and_save(
    page: Any, server: RunningServer
) -> None:
    api, name = new_collection(server, plan="Standard")
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/new")
    page.locator("#preview-list li").first.wait_for()
    page.fill("#job-name", "every-second")
    page.fill("#f-properties-action-request-uri", "http://127.0.0.1:9/x")
    page.select_option("#f-properties-recurrence-frequency", "Second")
    page.fill("#f-properties-recurrence-interval", "30")
    status = page.locator("#preview-status")
    page.wait_for_function(
        "() => document.querySelector('#preview-status').textContent.includes('Standard')"
    )
    assert page.locator("#preview-list li").count() == 0
    assert "more often than job collection" in status.inner_text()
    page.click("#save")
    error = page.locator("#form-error")
    error.wait_for(state="visible")
    assert "Standard" in error.inner_text()
    assert api.get(api.job_path(name, "every-second")).status_code == 404


@contextmanager
def _session(server: RunningServer) -> Iterator[httpx.Client]:
    """A client signed in to the portal (it holds the session cookie)."""
    with httpx.Client(base_url=server.base_url, follow_redirects=False) as client:
        answer = client.post("/signin", data={"token": server.token, "next": "/"})
        assert answer.status_code in (302, 303), answer.text
        yield client


def test_the_api_documentation_opens_for_a_signed_in_user(server: RunningServer) -> None:
    with _session(server) as client:
        assert client.get("/docs").status_code == 200
        assert client.get("/openapi.json").json()["openapi"].startswith("3.")
        # The session is for reading the documentation, not for calling the API.
        assert (
            client.get("/subscriptions/s/providers/Microsoft.Scheduler/jobCollections").status_code
            == 401
        )
    with httpx.Client(base_url=server.base_url) as anonymous:
        assert anonymous.get("/docs").status_code == 401
        bearer = {"authorization": f"Bearer {server.token}"}
        assert anonymous.get("/openapi.json", headers=bearer).status_code == 200


def test_a_non_ascii_cookie_or_csrf_token_is_a_clear_4xx(server: RunningServer) -> None:
    raw_cookie = "jobclock_session=caf\u00e9.1.\u00e9".encode()
    for path in ("/", "/docs"):
        answer = httpx.get(server.base_url + path, headers={b"cookie": raw_cookie})
        assert 300 <= answer.status_code < 500, (path, answer.status_code)
    with _session(server) as client:
        answer = client.post(
            "/portal/preview",
            content=b"{}",
            headers={"content-type": "application/json", "x-csrf-token": "\u00e9t\u00e9".encode()},
        )
        assert answer.status_code == 403
        answer = client.post("/c/new", data={"csrf": "\u00e9t\u00e9", "name": "x"})
        assert answer.status_code == 403


def test_the_history_fits_a_phone(chromium: Any, server: RunningServer) -> None:
    api, name = new_collection(server)
    api.create_job(
        name,
        "a-job-with-a-rather-long-name",
        {"action": http_action("http://127.0.0.1:9/nothing-listens-here-at-all")},
    )
    api.wait_for_history(name, "a-job-with-a-rather-long-name", 1)
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    try:
        sign_in(phone, server)
        phone.goto(collection_url(server, name) + "/jobs/a-job-with-a-rather-long-name")
        assert phone.locator("#history tbody tr").count() >= 1
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the job page scrolls sideways by {overflow}px on a phone"
        # Nor does the table scroll sideways inside its box: it fits.
        inside = phone.evaluate(
            "(() => { const box = document.querySelector('#history').parentElement;"
            " return box.scrollWidth - box.clientWidth; })()"
        )
        assert inside <= 0, f"the history table is {inside}px wider than a phone"
    finally:
        context.close()


def test_a_save_error_stays_when_the_preview_answers_after_it(
    page: Any, server: RunningServer
) -> None:
    """Saving right after an edit: the preview that edit scheduled answers later, and must
    not wipe the server's refusal off the page."""
    api, name = new_collection(server, plan="Standard")
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/new")
    page.locator("#preview-list li").first.wait_for()
    page.fill("#job-name", "too-soon")
    page.select_option("#f-properties-recurrence-frequency", "Second")
    page.click("#save")
    page.wait_for_function(
        "() => document.querySelector('#preview-status').textContent.includes('Standard')"
    )
    page.wait_for_timeout(300)
    assert page.locator("#form-error").is_visible()
    assert "Standard" in page.locator("#form-error").inner_text()
    assert api.get(api.job_path(name, "too-soon")).status_code == 404
