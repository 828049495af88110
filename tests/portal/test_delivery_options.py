"""The editor and the job page for retries that back off (Exponential, maxInterval,
maxAge), the attempt timeout, templated payloads and Standard Webhooks signing, in
Chromium against the real server process. The signing keys are write-only: the real
target verifies each request with the ``standardwebhooks`` library under the keys typed
in the editor (the stored keys are kept, never shown, on every page)."""

from __future__ import annotations

import base64
import json
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks.webhooks import Webhook

from tests.e2e.harness import Received, RunningServer, Target
from tests.portal.test_browser import collection_url, new_collection, sign_in

RETRY_TYPE = "#f-properties-action-retryPolicy-retryType"
RETRY_COUNT = "#f-properties-action-retryPolicy-retryCount"
RETRY_INTERVAL = "#f-properties-action-retryPolicy-retryInterval"
MAX_INTERVAL = "#f-properties-action-retryPolicy-maxInterval"
MAX_AGE = "#f-properties-action-retryPolicy-maxAge"
ATTEMPT_TIMEOUT = "#f-properties-attemptTimeout"
URI = "#f-properties-action-request-uri"
METHOD = "#f-properties-action-request-method"
BODY = "#f-properties-action-request-body"
TEMPLATED = "#f-properties-action-request-template"
KEY_FIELD = "#f-properties-action-request-signing-secret"
PREVIOUS_KEY_FIELD = "#f-properties-action-request-signing-previousSecret"
REMOVE_SIGNING = "#f-properties-action-request-signing-remove"
TEMPLATED_BODY = (
    "{\"for\": \"{{ scheduledTime | add('-P1D') | format('%Y-%m-%d') }}\", "
    '"attempt": {{ attempt }}}'
)


def _key() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def _later() -> str:
    """A start well ahead: the job runs only when Run now says so."""
    return (datetime.now(UTC) + timedelta(days=300)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_now(page: Any, target: Target, path: str) -> Received:
    """Press Run now on the job's page; the request it sends to ``path``."""
    before = len(target.received(path))
    page.click("text=Run now")
    page.wait_for_url(re.compile(r".*[?&]done="))
    return target.wait_for(before + 1, path)[-1]


def _signed_by(received: Received, *keys: str) -> None:
    for key in keys:
        Webhook(key).verify(received.body, received.headers, json_parse=False)


def _no_key_in(text: str, *keys: str) -> None:
    for key in keys:
        assert key not in text
        assert key.removeprefix("whsec_") not in text


def test_a_job_with_backoff_timeout_template_and_signing_made_and_edited_in_the_editor(
    page: Any, server: RunningServer, target: Target
) -> None:
    api, name = new_collection(server)
    secret, previous = _key(), _key()
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/new")
    page.locator("#preview-list li").first.wait_for()
    page.fill("#job-name", "signed")
    page.fill("#f-properties-startTime", _later())
    page.select_option(METHOD, "POST")
    page.fill(URI, target.url("/hook/{{ job }}"))
    page.fill(BODY, TEMPLATED_BODY)
    page.check(TEMPLATED)
    assert not page.locator(MAX_INTERVAL).is_visible()  # Fixed has no cap
    page.select_option(RETRY_TYPE, "Exponential")
    page.fill(RETRY_COUNT, "3")
    page.fill(RETRY_INTERVAL, "PT10S")
    page.fill(MAX_INTERVAL, "PT5M")
    page.fill(MAX_AGE, "PT1H")
    page.fill(ATTEMPT_TIMEOUT, "PT45S")
    assert page.get_attribute(KEY_FIELD, "type") == "password"
    assert page.get_attribute(PREVIOUS_KEY_FIELD, "type") == "password"
    assert page.locator(REMOVE_SIGNING).count() == 0  # nothing stored to remove
    page.fill(KEY_FIELD, secret)
    page.fill(PREVIOUS_KEY_FIELD, previous)
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/signed\?done=Job%20created\.$"))

    # Stored exactly as typed; GET shows the signing without its keys.
    stored = api.job(name, "signed")["properties"]
    request = {
        "uri": target.url("/hook/{{ job }}"),
        "method": "POST",
        "body": TEMPLATED_BODY,
        "template": True,
        "signing": {},
    }
    retry = {
        "retryType": "Exponential",
        "retryInterval": "PT10S",
        "retryCount": 3,
        "maxInterval": "PT5M",
        "maxAge": "PT1H",
    }
    assert stored["action"]["request"] == request
    assert stored["action"]["retryPolicy"] == retry
    assert stored["attemptTimeout"] == "PT45S"
    _no_key_in(json.dumps(stored), secret, previous)

    # The job page says all of it, and shows no key.
    assert page.inner_text("#retries").startswith("Exponential, ")
    assert page.inner_text("#max-interval") == "PT5M"
    assert page.inner_text("#max-age") == "PT1H"
    assert page.inner_text("#attempt-timeout") == "PT45S"
    assert page.inner_text("#delivery") == "Templated · Signed (Standard Webhooks)"
    _no_key_in(page.content(), secret, previous)

    # The server signs under both keys typed, and renders the templates.
    received = _run_now(page, target, "/hook/signed")
    _signed_by(received, secret, previous)
    sent = json.loads(received.body)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", sent["for"])
    assert sent["attempt"] == 0

    # The editor shows the stored keys as set, never their value; a change of the body
    # alone, saved with the key fields empty, keeps both keys.
    page.goto(collection_url(server, name) + "/jobs/signed/edit")
    page.locator("#preview-list li").first.wait_for()
    for selector in (KEY_FIELD, PREVIOUS_KEY_FIELD):
        assert page.input_value(selector) == ""
        assert page.get_attribute(selector, "type") == "password"
        assert "leave empty to keep it" in (page.get_attribute(selector, "placeholder") or "")
    _no_key_in(page.content(), secret, previous)
    _no_key_in(page.input_value("#json"), secret, previous)
    assert page.is_checked(TEMPLATED)
    assert not page.is_checked(REMOVE_SIGNING)
    assert page.input_value(RETRY_TYPE) == "Exponential"
    assert page.input_value(MAX_INTERVAL) == "PT5M"
    assert page.input_value(MAX_AGE) == "PT1H"
    assert page.input_value(ATTEMPT_TIMEOUT) == "PT45S"
    page.fill(BODY, '{"changed": {{ attempt }}}')
    assert '"signing": {}' in page.input_value("#json")
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/signed\?done=Job%20saved\.$"))
    after = api.job(name, "signed")["properties"]
    assert after["action"]["request"] == request | {"body": '{"changed": {{ attempt }}}'}
    assert after["action"]["retryPolicy"] == retry
    assert after["attemptTimeout"] == "PT45S"
    received = _run_now(page, target, "/hook/signed")
    _signed_by(received, secret, previous)
    assert json.loads(received.body) == {"changed": 0}


def test_a_bad_attempt_timeout_is_shown_beside_the_form_with_what_was_typed(
    page: Any, server: RunningServer
) -> None:
    api, name = new_collection(server)
    secret = _key()
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/new")
    page.locator("#preview-list li").first.wait_for()
    page.fill("#job-name", "too-patient")
    page.fill(URI, "http://127.0.0.1:9/{{ job }}")
    page.check(TEMPLATED)
    page.select_option(RETRY_TYPE, "Exponential")
    page.fill(RETRY_INTERVAL, "PT10S")
    page.fill(MAX_INTERVAL, "PT5M")
    page.fill(MAX_AGE, "PT1H")
    page.fill(KEY_FIELD, secret)
    page.fill(ATTEMPT_TIMEOUT, "PT31M")
    page.click("#save")
    timeout = page.locator(ATTEMPT_TIMEOUT)
    error = page.locator(".field", has=timeout).locator(".field-error")
    error.wait_for()
    message = "'properties.attemptTimeout' is PT31M; it must be between 1 second and 30 minutes."
    assert error.inner_text() == message
    assert timeout.get_attribute("aria-invalid") == "true"
    assert page.locator("#form-error").inner_text() == message
    typed = {
        "#job-name": "too-patient",
        URI: "http://127.0.0.1:9/{{ job }}",
        RETRY_TYPE: "Exponential",
        RETRY_INTERVAL: "PT10S",
        MAX_INTERVAL: "PT5M",
        MAX_AGE: "PT1H",
        KEY_FIELD: secret,
        ATTEMPT_TIMEOUT: "PT31M",
    }
    assert {selector: page.input_value(selector) for selector in typed} == typed
    assert page.is_checked(TEMPLATED)
    assert api.get(api.job_path(name, "too-patient")).status_code == 404

    # A cap shorter than the first wait, then a key that is no Standard Webhooks key: each
    # beside its field, the key never in the message.
    page.fill(ATTEMPT_TIMEOUT, "PT2M")
    page.fill(MAX_INTERVAL, "PT5S")
    page.click("#save")
    cap = page.locator(".field", has=page.locator(MAX_INTERVAL)).locator(".field-error")
    cap.wait_for()
    assert "'properties.action.retryPolicy.maxInterval' is PT5S" in cap.inner_text()
    assert page.locator(".field", has=timeout).locator(".field-error").count() == 0
    page.fill(MAX_INTERVAL, "PT5M")
    page.fill(KEY_FIELD, "whsec_not-a-key")
    page.click("#save")
    key_error = page.locator(".field", has=page.locator(KEY_FIELD)).locator(".field-error")
    key_error.wait_for()
    assert "must be a Standard Webhooks key" in key_error.inner_text()
    assert "not-a-key" not in key_error.inner_text()
    assert page.input_value(KEY_FIELD) == "whsec_not-a-key"
    assert api.get(api.job_path(name, "too-patient")).status_code == 404
    page.fill(KEY_FIELD, secret)
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/too-patient\?done=Job%20created\.$"))
    assert api.job(name, "too-patient")["properties"]["attemptTimeout"] == "PT2M"


def test_an_unchanged_save_keeps_everything_and_signing_can_be_removed(
    page: Any, server: RunningServer, target: Target
) -> None:
    """A job made through the API with every new field, on both actions: saved unchanged
    from the editor it stays the same (keys included); "Remove signing" drops the main
    action's keys only."""
    api, name = new_collection(server)
    main_key, error_key = _key(), _key()
    action = {
        "type": "Http",
        "request": {
            "uri": target.url("/main"),
            "method": "POST",
            "headers": {"X-For": "{{ scheduledTime | format('%Y-%m-%d') }}"},
            "body": "{{ job }}",
            "template": True,
            "signing": {"secret": main_key},
        },
        "retryPolicy": {"retryType": "None"},
        "errorAction": {
            "type": "Https",
            "request": {
                "uri": "https://127.0.0.1:9/error",
                "method": "POST",
                "signing": {"secret": error_key},
            },
            "retryPolicy": {
                "retryType": "Exponential",
                "retryInterval": "PT1M",
                "retryCount": 2,
                "maxInterval": "PT4M",
                "maxAge": "PT30M",
            },
        },
    }
    properties = {"startTime": _later(), "attemptTimeout": "PT1M30S", "action": action}
    before = api.create_job(name, "rich", properties)["properties"]
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/jobs/rich")
    assert page.inner_text("#delivery") == "Templated · Signed (Standard Webhooks)"
    assert page.inner_text("#error-delivery") == "Signed (Standard Webhooks)"
    assert page.inner_text("#retries") == "None"
    assert page.locator("#max-interval").count() == 0
    assert page.inner_text("#attempt-timeout") == "PT1M30S"
    error_retries = page.inner_text("#error-retries")
    assert error_retries.startswith("Exponential, ")
    assert error_retries.endswith(" · max interval PT4M · max age PT30M")
    _no_key_in(page.content(), main_key, error_key)

    page.goto(collection_url(server, name) + "/jobs/rich/edit")
    page.locator("#preview-list li").first.wait_for()
    _no_key_in(page.content(), main_key, error_key)
    error_key_field = "#f-properties-action-errorAction-request-signing-secret"
    assert page.input_value(error_key_field) == ""
    assert "leave empty to keep it" in (page.get_attribute(error_key_field, "placeholder") or "")
    assert page.input_value("#f-properties-action-errorAction-retryPolicy-maxAge") == "PT30M"
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/rich\?done=.*"))
    assert api.job(name, "rich")["properties"] == before
    received = _run_now(page, target, "/main")
    _signed_by(received, main_key)
    assert received.body == b"rich"

    page.goto(collection_url(server, name) + "/jobs/rich/edit")
    page.locator("#preview-list li").first.wait_for()
    page.check(REMOVE_SIGNING)
    assert page.is_disabled(KEY_FIELD)
    assert '"signing"' not in page.input_value("#json").split('"errorAction"')[0]
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/rich\?done=.*"))
    after = api.job(name, "rich")["properties"]
    assert "signing" not in after["action"]["request"]
    assert after["action"]["errorAction"] == before["action"]["errorAction"]
    assert "Signed" not in page.inner_text("#delivery")
    received = _run_now(page, target, "/main")
    assert "webhook-signature" not in received.headers


def test_a_message_action_can_be_templated(page: Any, server: RunningServer) -> None:
    api, name = new_collection(server)
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/new")
    page.locator("#preview-list li").first.wait_for()
    page.fill("#job-name", "queued")
    page.fill("#f-properties-startTime", _later())
    page.select_option("#f-properties-action-type", "StorageQueue")
    page.fill("#f-properties-action-queueMessage-storageAccount", "account")
    page.fill("#f-properties-action-queueMessage-queueName", "work")
    page.fill("#f-properties-action-queueMessage-sasToken", "?sv=2015&sig=x")
    page.fill("#f-properties-action-queueMessage-message", "for {{ scheduledTime | iso }}")
    page.check("#f-properties-action-queueMessage-template")
    assert '"template": true' in page.input_value("#json")
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/queued\?done=Job%20created\.$"))
    stored = api.job(name, "queued")["properties"]["action"]["queueMessage"]
    assert stored["template"] is True
    assert stored["message"] == "for {{ scheduledTime | iso }}"
    assert page.inner_text("#delivery") == "Templated"
    assert page.inner_text("#attempt-timeout") == "PT60S (default)"
