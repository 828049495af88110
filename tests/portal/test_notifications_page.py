"""The collection page's notification endpoints (issue 15, item 5) and the editor's
``expectRunWithin``, in Chromium against the real server process.

The signing keys are write-only: a real receiver on 127.0.0.1 verifies the events the
server sends with the ``standardwebhooks`` library under the keys typed in the form, which
proves an edit with the key fields left empty kept them; no page ever holds a key."""

from __future__ import annotations

import base64
import json
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks.webhooks import Webhook

from tests.e2e.harness import Api, Received, RunningServer, Target, http_action, wait_for
from tests.e2e.test_access import create_token
from tests.portal.test_browser import collection_url, new_collection, sign_in

CARD = "#notifications"
NAME = f"{CARD} input[name=name]"
URI = f"{CARD} input[name=uri]"
LATE_AFTER = f"{CARD} input[name=late_after]"
SECRET = f"{CARD} input[name=secret]"
PREVIOUS = f"{CARD} input[name=previous_secret]"
REMOVE = f"{CARD} input[name=remove_signing]"
SAVE = f"{CARD} button[type=submit]"
EVENTS = ("job.failed", "job.faulted", "occurrence.late", "occurrence.missed")
EXPECT = "#f-properties-expectRunWithin"


def _key() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def _event(name: str) -> str:
    return f"{CARD} input[name='event_{name}']"


def _no_key_in(text: str, *keys: str) -> None:
    for key in keys:
        assert key not in text
        assert key.removeprefix("whsec_") not in text


def _endpoint(api: Api, collection: str, name: str) -> dict[str, Any]:
    response = api.get(f"{api.collection_path(collection)}/notifications/{name}")
    assert response.status_code == 200, response.text
    properties: dict[str, Any] = response.json()["properties"]
    return properties


def _history(api: Api, collection: str, name: str) -> list[dict[str, Any]]:
    response = api.get(f"{api.collection_path(collection)}/notifications/{name}/history")
    assert response.status_code == 200, response.text
    value: list[dict[str, Any]] = response.json()["value"]
    return value


def _failing_job(api: Api, collection: str, job: str) -> None:
    """A job that runs once, two seconds from now, at a port nothing listens on, with no
    retry: it fails (job.failed) and, its only occurrence failed, faults (job.faulted)."""
    start = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    api.create_job(
        collection, job, {"startTime": start, "action": http_action("http://127.0.0.1:9/down")}
    )


def _signed_by(received: Received, *keys: str) -> None:
    for key in keys:
        Webhook(key).verify(received.body, received.headers, json_parse=False)


def test_an_endpoint_made_edited_keeping_its_keys_watched_and_deleted_on_the_page(
    page: Any, server: RunningServer, target: Target
) -> None:
    api, name = new_collection(server)
    secret, previous = _key(), _key()
    sign_in(page, server)
    page.goto(collection_url(server, name))
    assert page.inner_text(f"{CARD} .empty") == "No notification endpoints yet."
    # A new endpoint hears of every event unless unchecked; the keys are password inputs.
    assert all(page.is_checked(_event(event)) for event in EVENTS)
    assert page.locator(REMOVE).count() == 0  # nothing stored to remove
    for selector in (SECRET, PREVIOUS):
        assert page.get_attribute(selector, "type") == "password"
    page.fill(NAME, "ops")
    page.fill(URI, target.url("/hook"))
    page.uncheck(_event("occurrence.late"))
    page.fill(LATE_AFTER, "PT5M")
    page.fill(SECRET, secret)
    page.fill(PREVIOUS, previous)
    page.click(SAVE)
    page.wait_for_url(re.compile(r".*\?done=Notification%20endpoint%20ops%20created\.$"))
    assert _endpoint(api, name, "ops") == {
        "uri": target.url("/hook"),
        "events": ["job.failed", "job.faulted", "occurrence.missed"],
        "lateAfter": "PT5M",
        "signing": {},
    }
    row = page.inner_text("#endpoints tbody tr")
    for shown in ("ops", target.url("/hook"), "job.failed, job.faulted, occurrence.missed"):
        assert shown in row
    assert "PT5M" in row
    assert "signed" in row
    _no_key_in(page.content(), secret, previous)

    # Loaded into the form: what is stored, the key inputs empty and marked as stored.
    page.click("#endpoints a:text('Edit')")
    page.wait_for_url(re.compile(r".*\?notification=ops#notifications$"))
    assert page.input_value(NAME) == "ops"
    assert page.input_value(URI) == target.url("/hook")
    assert page.input_value(LATE_AFTER) == "PT5M"
    assert [page.is_checked(_event(event)) for event in EVENTS] == [True, True, False, True]
    for selector in (SECRET, PREVIOUS):
        assert page.input_value(selector) == ""
        assert page.get_attribute(selector, "type") == "password"
        assert "leave empty to keep it" in (page.get_attribute(selector, "placeholder") or "")
    assert not page.is_checked(REMOVE)
    _no_key_in(page.content(), secret, previous)
    page.fill(LATE_AFTER, "PT2M")
    page.click(SAVE)
    page.wait_for_url(re.compile(r".*\?done=Notification%20endpoint%20ops%20saved\.$"))
    stored = _endpoint(api, name, "ops")
    assert stored["lateAfter"] == "PT2M"
    assert stored["signing"] == {}

    # A job fails: both of its events reach the receiver signed under both keys typed at
    # first, so the edit kept them.
    _failing_job(api, name, "fails")
    received = target.wait_for(2, "/hook", timeout=20)
    types = sorted(json.loads(item.body)["type"] for item in received)
    assert types == ["job.failed", "job.faulted"]
    for item in received:
        _signed_by(item, secret, previous)
    wait_for(
        lambda: [d for d in _history(api, name, "ops") if d["status"] == "delivered"][1:],
        "both deliveries recorded",
    )

    # The delivery history: a row per event, its CloudEvent JSON one click away.
    page.click("#endpoints a:text('History')")
    page.wait_for_url(re.compile(r".*/notifications/ops/history$"))
    assert page.locator("h1").inner_text() == "Notification endpoint ops"
    assert "Signed (Standard Webhooks)" in page.inner_text("#endpoint")
    rows = page.locator("#deliveries tbody tr.delivery")
    events = page.locator("#deliveries tbody tr.event-row")
    assert rows.count() == 2
    served = _history(api, name, "ops")
    for index, delivery in enumerate(served):
        row = rows.nth(index)
        text = row.inner_text()
        assert delivery["eventType"] in text
        assert "delivered" in text
        assert "fails" in text
        assert row.locator("td.num").inner_text() == "1"
        pre = events.nth(index).locator("details.event pre.event-json")
        assert not pre.is_visible()
        assert delivery["eventId"] in events.nth(index).inner_text()
        events.nth(index).locator("details.event summary").click()
        assert pre.is_visible()
        assert json.loads(pre.inner_text()) == delivery["event"]
        answer = events.nth(index).locator("pre.attempt").inner_text()
        assert answer.startswith("Http Action - Response from host '127.0.0.1': 'OK'")
    assert rows.first.locator("a:text('fails')").get_attribute("href") == (
        f"/c/portal-sub/portal-rg/{name}/jobs/fails"
    )
    _no_key_in(page.content(), secret, previous)

    # Remove signing: the keys go, the endpoint stays.
    page.goto(collection_url(server, name) + "?notification=ops")
    page.check(REMOVE)
    page.click(SAVE)
    page.wait_for_url(re.compile(r".*\?done=Notification%20endpoint%20ops%20saved\.$"))
    assert "signing" not in _endpoint(api, name, "ops")
    assert "unsigned" in page.inner_text("#endpoints tbody tr")

    # Delete, after a confirmation.
    page.click("#endpoints a:text('Delete…')")
    assert page.locator("h1").inner_text() == "Delete notification endpoint ops?"
    page.click("text=Cancel")
    assert _endpoint(api, name, "ops")["uri"] == target.url("/hook")
    page.click("#endpoints a:text('Delete…')")
    page.click("button:has-text('Delete endpoint')")
    page.wait_for_url(re.compile(r".*\?done=Notification%20endpoint%20ops%20deleted\.$"))
    gone = api.get(f"{api.collection_path(name)}/notifications/ops")
    assert gone.status_code == 404
    assert page.inner_text(f"{CARD} .empty") == "No notification endpoints yet."


def test_a_refused_endpoint_is_shown_beside_the_form_with_what_was_typed(
    page: Any, server: RunningServer
) -> None:
    api, name = new_collection(server)
    secret = _key()
    sign_in(page, server)
    page.goto(collection_url(server, name))
    page.fill(NAME, "slow")
    page.fill(URI, "https://hooks.example/slow")
    page.uncheck(_event("job.faulted"))
    page.fill(LATE_AFTER, "P2D")
    page.fill(SECRET, secret)
    page.click(SAVE)
    error = page.locator("#notification-error")
    assert error.inner_text() == (
        "'properties.lateAfter' is P2D; it must be between 1 second and 1 day."
    )
    assert page.input_value(NAME) == "slow"
    assert page.input_value(URI) == "https://hooks.example/slow"
    assert page.input_value(LATE_AFTER) == "P2D"
    assert [page.is_checked(_event(event)) for event in EVENTS] == [True, False, True, True]
    # A key typed is never sent back: the page asks for it again.
    assert page.input_value(SECRET) == ""
    assert "type them again" in page.inner_text("#keys-again")
    _no_key_in(page.content(), secret)
    assert api.get(f"{api.collection_path(name)}/notifications/slow").status_code == 404

    # No event at all; then a key that is no Standard Webhooks key (not in the message).
    page.fill(LATE_AFTER, "PT10M")
    for event in EVENTS:
        page.uncheck(_event(event))
    page.click(SAVE)
    assert "Choose at least one event" in error.inner_text()
    assert page.input_value(LATE_AFTER) == "PT10M"
    page.check(_event("occurrence.missed"))
    page.fill(SECRET, "whsec_not-a-key")
    page.click(SAVE)
    assert "must be a Standard Webhooks key" in error.inner_text()
    assert "not-a-key" not in page.content()
    assert page.is_checked(_event("occurrence.missed"))
    assert not page.is_checked(_event("job.failed"))
    page.fill(URI, "ftp://hooks.example/slow")
    page.fill(SECRET, secret)
    page.click(SAVE)
    assert "ftp" in error.inner_text()
    assert page.input_value(URI) == "ftp://hooks.example/slow"
    _no_key_in(page.content(), secret)
    assert api.get(f"{api.collection_path(name)}/notifications/slow").status_code == 404

    # At most 10 endpoints: the 11th is refused (409) on the page.
    for number in range(10):
        body = {"properties": {"uri": f"https://hooks.example/{number}"}}
        made = api.put(f"{api.collection_path(name)}/notifications/e{number}", body)
        assert made.status_code == 201, made.text
    page.goto(collection_url(server, name))
    assert page.locator("#endpoints tbody tr").count() == 10
    page.fill(NAME, "eleventh")
    page.fill(URI, "https://hooks.example/11")
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.click(SAVE)
    assert answer.value.status == 409
    assert "at most 10 notification endpoints" in error.inner_text()
    assert page.input_value(NAME) == "eleventh"

    # An endpoint with no event yet has an empty history; one that does not exist, a 404.
    page.goto(collection_url(server, name) + "/notifications/e0/history")
    assert "No events yet" in page.inner_text("main")
    missing = page.goto(collection_url(server, name) + "/notifications/nope/history")
    assert missing is not None
    assert missing.status == 404
    assert "nope" in page.inner_text("main")


def test_a_reader_sees_the_endpoints_and_their_history_but_changes_nothing(
    page: Any, server: RunningServer
) -> None:
    api, name = new_collection(server)
    made = api.put(
        f"{api.collection_path(name)}/notifications/ops",
        {"properties": {"uri": "https://hooks.example/ops", "signing": {"secret": _key()}}},
    )
    assert made.status_code == 201, made.text
    page.goto(server.base_url + "/")
    page.fill("#token", create_token(server, "reader-" + name, "reader"))
    page.press("#token", "Enter")
    page.wait_for_url(server.base_url + "/")
    page.goto(collection_url(server, name))
    row = page.inner_text("#endpoints tbody tr")
    assert "https://hooks.example/ops" in row
    assert "signed" in row
    assert page.locator(f"{CARD} form").count() == 0
    assert page.locator("#endpoints a:text('Edit')").count() == 0
    page.click("#endpoints a:text('History')")
    page.wait_for_url(re.compile(r".*/notifications/ops/history$"))
    assert "No events yet" in page.inner_text("main")
    # The server refuses the write itself, whatever the page shows.
    csrf = page.get_attribute("form.signout input[name=csrf]", "value")
    refused = page.request.post(
        collection_url(server, name) + "/notifications",
        form={"csrf": csrf or "", "name": "ops", "uri": "https://evil.example/"},
    )
    assert refused.status == 403
    deleted = page.request.post(
        collection_url(server, name) + "/notifications/ops/delete", form={"csrf": csrf or ""}
    )
    assert deleted.status == 403
    assert _endpoint(api, name, "ops")["uri"] == "https://hooks.example/ops"


def test_the_editor_keeps_and_changes_expect_run_within(page: Any, server: RunningServer) -> None:
    """A job made through the API with ``expectRunWithin`` keeps it through an unchanged
    editor save (the editor builds the body from its fields); the job page shows it."""
    api, name = new_collection(server)
    later = (datetime.now(UTC) + timedelta(days=300)).strftime("%Y-%m-%dT%H:%M:%SZ")
    properties = {
        "startTime": later,
        "action": http_action("http://127.0.0.1:9/in"),
        "recurrence": {"frequency": "Day", "interval": 1},
        "expectRunWithin": "PT26H",
    }
    before = api.create_job(name, "nightly", properties)["properties"]
    assert before["expectRunWithin"] == "PT26H"
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/jobs/nightly")
    assert page.inner_text("#expect-run-within") == "PT26H (1 day 2 hours)"
    page.click("text=Edit")
    page.locator("#preview-list li").first.wait_for()
    assert page.input_value(EXPECT) == "PT26H"
    assert '"expectRunWithin": "PT26H"' in page.input_value("#json")
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/nightly\?done=Job%20saved\.$"))
    assert api.job(name, "nightly")["properties"] == before

    # Too short: refused beside the field, what was typed kept, nothing stored.
    page.goto(collection_url(server, name) + "/jobs/nightly/edit")
    page.locator("#preview-list li").first.wait_for()
    page.fill(EXPECT, "PT30S")
    page.click("#save")
    note = page.locator(".field", has=page.locator(EXPECT)).locator(".field-error")
    note.wait_for()
    assert "'properties.expectRunWithin' is PT30S" in note.inner_text()
    assert page.locator(EXPECT).get_attribute("aria-invalid") == "true"
    assert page.input_value(EXPECT) == "PT30S"
    assert api.job(name, "nightly")["properties"]["expectRunWithin"] == "PT26H"
    page.fill(EXPECT, "P2D")
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/nightly\?done=Job%20saved\.$"))
    assert api.job(name, "nightly")["properties"]["expectRunWithin"] == "P2D"
    assert page.inner_text("#expect-run-within") == "P2D (2 days)"

    # Emptied, the watch goes.
    page.goto(collection_url(server, name) + "/jobs/nightly/edit")
    page.locator("#preview-list li").first.wait_for()
    page.fill(EXPECT, "")
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/nightly\?done=Job%20saved\.$"))
    assert "expectRunWithin" not in api.job(name, "nightly")["properties"]
    assert page.locator("#expect-run-within").count() == 0
