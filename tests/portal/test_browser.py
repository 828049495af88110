"""The portal in a real browser (Debian's Chromium through Playwright) against the real
server process: what a person does, checked through the API and at the target."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from jobclock.codec.recurrence import recurrence_from_json
from jobclock.domain.instants import format_instant_seconds
from jobclock.domain.occurrences import preview
from tests.e2e.harness import Api, RunningServer, Target, http_action

SUBSCRIPTION, GROUP = "portal-sub", "portal-rg"


def sign_in(page: Any, server: RunningServer) -> None:
    page.goto(server.base_url + "/")
    page.fill("#token", server.token)
    page.press("#token", "Enter")  # the keyboard is enough
    page.wait_for_url(server.base_url + "/")


def new_collection(server: RunningServer, plan: str = "Unlimited") -> tuple[Api, str]:
    api = Api(server, subscription=SUBSCRIPTION, resource_group=GROUP)
    name = "c" + uuid.uuid4().hex[:8]
    api.create_collection(name, sku=plan)
    return api, name


def collection_url(server: RunningServer, name: str) -> str:
    return f"{server.base_url}/c/{SUBSCRIPTION}/{GROUP}/{name}"


def test_signing_in_and_out(page: Any, server: RunningServer) -> None:
    page.goto(server.base_url + "/")
    assert page.url.startswith(server.base_url + "/signin")
    page.fill("#token", "not-the-token")
    page.click("button[type=submit]")
    assert "not this server's API token" in page.locator(".field-error").inner_text()
    assert page.locator("#token").get_attribute("aria-invalid") == "true"
    page.fill("#token", server.token)
    page.click("button[type=submit]")
    page.wait_for_url(server.base_url + "/")
    assert page.locator("h1").inner_text() == "Job collections"
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r".*/signin$"))
    page.goto(server.base_url + "/")
    assert "/signin" in page.url


def test_creating_a_collection_through_its_form(page: Any, server: RunningServer) -> None:
    sign_in(page, server)
    name = "made" + uuid.uuid4().hex[:6]
    page.fill("#c-name", name)
    page.fill("#c-subscription", SUBSCRIPTION)
    page.fill("#c-resource_group", GROUP)
    page.select_option("#c-plan", "Standard")
    page.fill("input[name=max_jobs]", "7")
    page.click("text=Create collection")
    page.wait_for_url(re.compile(rf".*/c/{SUBSCRIPTION}/{GROUP}/{name}\?done=.*"))
    api = Api(server, subscription=SUBSCRIPTION, resource_group=GROUP)
    body = api.get(api.collection_path(name)).json()
    assert body["properties"]["sku"]["name"] == "Standard"
    assert body["properties"]["quota"]["maxJobCount"] == 7


def test_creating_a_job_through_the_form_with_its_live_preview(
    page: Any, server: RunningServer, target: Target
) -> None:
    api, name = new_collection(server)
    sign_in(page, server)
    page.goto(collection_url(server, name))
    page.click("text=New job")
    page.fill("#job-name", "weekly-report")
    page.fill("#f-properties-action-request-uri", target.url("/report"))
    page.select_option("#f-properties-action-request-method", "POST")
    page.fill("#f-properties-action-request-headers", "Content-Type: application/json")
    page.fill("#f-properties-action-request-body", '{"report": "weekly"}')
    page.fill("#f-properties-startTime", "2026-12-01T00:00:00Z")
    page.select_option("#f-properties-recurrence-frequency", "Week")
    page.fill("#f-properties-recurrence-interval", "1")
    page.click("#advanced summary")
    page.get_by_role("checkbox", name="Mon", exact=True).check()
    page.get_by_role("checkbox", name="Thu", exact=True).check()
    page.fill("#f-properties-recurrence-schedule-hours", "9, 17")
    page.fill("#f-properties-recurrence-schedule-minutes", "30")
    page.fill("#f-properties-recurrence-timeZone", "Europe/Amsterdam")
    recurrence = {
        "frequency": "Week",
        "interval": 1,
        "timeZone": "Europe/Amsterdam",
        "schedule": {"weekDays": ["Monday", "Thursday"], "hours": [9, 17], "minutes": [30]},
    }
    expected = [
        format_instant_seconds(instant).replace("T", " ")
        for instant in preview(
            recurrence_from_json(recurrence),
            datetime(2026, 12, 1, tzinfo=UTC),
            datetime.now(UTC),
            10,
        )
    ]
    first = page.locator("#preview-list li time").first
    first.wait_for()
    page.wait_for_function(
        "expected => document.querySelector('#preview-list time').textContent === expected",
        arg=expected[0],
    )
    assert page.locator("#preview-list li time").all_inner_texts() == expected
    assert page.locator("#preview-list li").first.inner_text().endswith("CET")
    assert page.locator("#calendar td.hit").count() >= 5  # Mondays and Thursdays
    assert '"weekDays"' in page.locator("#json").input_value()
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/weekly-report\?done=Job%20created\.$"))
    assert "Job created." in page.locator(".flash").inner_text()
    stored = api.job(name, "weekly-report")["properties"]
    assert stored["action"]["request"] == {
        "uri": target.url("/report"),
        "method": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": '{"report": "weekly"}',
    }
    assert stored["recurrence"]["schedule"] == recurrence["schedule"]
    assert stored["recurrence"]["timeZone"] == "Europe/Amsterdam"
    assert stored["startTime"].startswith("2026-12-01T00:00:00")


def test_running_a_job_shows_its_history_row(
    page: Any, server: RunningServer, target: Target
) -> None:
    api, name = new_collection(server)
    api.create_job(
        name,
        "ping",
        {"startTime": "2026-01-01T00:00:00Z", "action": http_action(target.url("/ping"))}
        | {"recurrence": {"frequency": "Day", "interval": 1}},
    )
    sign_in(page, server)
    page.goto(collection_url(server, name))
    page.click("text=ping")
    assert page.locator("#history").count() == 0
    page.click("text=Run now")
    # The click's POST redirects back to the job page; a reload while that navigation is
    # still under way fails ("Not attached to an active page", a CI flake).
    page.wait_for_url(re.compile(r".*[?&]done="))
    target.wait_for(1, "/ping")
    api.wait_for_history(name, "ping", 1)
    page.reload()
    row = page.locator("#history tbody tr").first
    assert "Completed" in row.inner_text()
    assert "MainAction" in row.inner_text()
    chart = page.locator("svg.chart").first.get_attribute("aria-label") or ""
    assert chart.endswith(": 1 succeeded, 0 failed")
    row.locator("a").click()
    page.wait_for_url(re.compile(r".*/history/.+"))
    message = page.locator("pre.message").inner_text()
    assert message.startswith("Http Action - Response from host '127.0.0.1': 'OK'")
    assert message.endswith("Body: Hello from the e2e target")  # the full message


def test_saving_an_unchanged_job_from_the_editor_changes_nothing(
    page: Any, server: RunningServer
) -> None:
    """Every field the form shows reads back what it was given: a round trip through the
    editor keeps the whole definition (secrets included), whatever its action types."""
    api, name = new_collection(server)
    properties = {
        "startTime": "2027-01-01T06:00:00Z",
        "state": "Disabled",
        "action": {
            "type": "Http",
            "request": {
                "uri": "http://127.0.0.1:9/in",
                "method": "PUT",
                "headers": {"X-One": "1", "Content-Type": "text/plain"},
                "body": "line 1\nline 2",
                "authentication": {"type": "Basic", "username": "u", "password": "p@ss"},
            },
            "retryPolicy": {"retryType": "Fixed", "retryInterval": "PT2M", "retryCount": 3},
            "errorAction": {
                "type": "ServiceBusTopic",
                "serviceBusTopicMessage": {
                    "namespace": "ns",
                    "topicPath": "alerts",
                    "transportType": "AMQP",
                    "authentication": {
                        "type": "SharedAccessKey",
                        "sasKeyName": "send",
                        "sasKey": "k3y",
                    },
                    "message": "failed",
                    "brokeredMessageProperties": {"Label": "jobclock"},
                    "customMessageProperties": {"source": "portal"},
                },
            },
        },
        "recurrence": {
            "frequency": "Month",
            "interval": 2,
            "count": 12,
            "endTime": "2029-01-01T00:00:00Z",
            "timeZone": "America/New_York",
            "schedule": {
                "minutes": [0, 30],
                "hours": [9],
                "monthDays": [1, -1],
                "monthlyOccurrences": [{"day": "Friday", "occurrence": -1}],
            },
        },
    }
    before = api.create_job(name, "rich", properties)["properties"]
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/jobs/rich/edit")
    page.locator("#preview-list li").first.wait_for()
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/rich\?done=.*"))
    after = api.job(name, "rich")["properties"]
    assert after == before


def test_a_cron_job_keeps_its_expression_through_the_editor(
    page: Any, server: RunningServer
) -> None:
    """A job made with cron (issue 14) shows it on its page and in the editor; saving the
    form unchanged keeps it (the Unit select must not turn it into a frequency)."""
    api, name = new_collection(server)
    recurrence = {
        "cron": "0 9 * * MON-FRI",
        "timeZone": "Europe/Amsterdam",
        "dstPolicy": {"gap": "skip", "fold": "both"},
    }
    properties = {
        "startTime": "2027-01-01T06:00:00Z",
        "action": {"type": "Http", "request": {"uri": "http://127.0.0.1:9/in", "method": "GET"}},
        "recurrence": recurrence,
    }
    before = api.create_job(name, "cron", properties)["properties"]
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/jobs/cron")
    assert "Cron 0 9 * * MON-FRI (Europe/Amsterdam)" in page.inner_text("body")
    page.goto(collection_url(server, name) + "/jobs/cron/edit")
    page.locator("#preview-list li").first.wait_for()
    assert page.input_value("#f-properties-recurrence-cron") == "0 9 * * MON-FRI"
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/cron\?done=.*"))
    after = api.job(name, "cron")["properties"]
    assert after["recurrence"] == recurrence
    assert after == before


def test_an_invalid_field_shows_its_error_beside_it(page: Any, server: RunningServer) -> None:
    api, name = new_collection(server, plan="Standard")
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/new")
    page.fill("#job-name", "too-often")
    page.select_option("#f-properties-recurrence-frequency", "Minute")
    page.fill("#f-properties-recurrence-interval", "0")
    interval = page.locator("#f-properties-recurrence-interval")
    field = page.locator(".field", has=interval)
    field.locator(".field-error").wait_for()
    assert (
        "'recurrence.interval' must be between 1 and" in field.locator(".field-error").inner_text()
    )
    assert interval.get_attribute("aria-invalid") == "true"
    # Saving a rule only the collection knows: Standard runs at most every minute.
    page.fill("#f-properties-recurrence-interval", "30")
    page.select_option("#f-properties-recurrence-frequency", "Second")
    page.select_option("#f-properties-action-request-authentication-type", "Basic")
    page.fill("#f-properties-action-request-authentication-username", "me")
    page.click("#save")
    password = page.locator("#f-properties-action-request-authentication-password")
    error = page.locator(".field", has=password).locator(".field-error")
    error.wait_for()
    assert "Password" in error.inner_text()
    assert page.locator("#form-error").is_visible()
    assert api.get(api.job_path(name, "too-often")).status_code == 404  # nothing stored


def test_secrets_stay_write_only_through_an_edit(
    page: Any, server: RunningServer, target: Target
) -> None:
    api, name = new_collection(server)
    action = http_action(target.url("/secret"))
    action["request"]["authentication"] = {
        "type": "Basic",
        "username": "robot",
        "password": "s3cret-Pa55",
    }
    api.create_job(name, "guarded", {"startTime": "2027-06-01T00:00:00Z", "action": action})
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/jobs/guarded/edit")
    password = page.locator("#f-properties-action-request-authentication-password")
    assert password.input_value() == ""
    assert "stored" in (password.get_attribute("placeholder") or "")
    assert "s3cret-Pa55" not in page.content()
    page.fill("#f-properties-action-request-uri", target.url("/secret2"))
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/guarded\?done=.*"))
    page.click("text=Run now")
    [received] = target.wait_for(1, "/secret2")
    assert received.headers["authorization"] == "Basic cm9ib3Q6czNjcmV0LVBhNTU="


def test_deleting_a_job_asks_for_confirmation(page: Any, server: RunningServer) -> None:
    api, name = new_collection(server)
    api.create_job(
        name,
        "doomed",
        {"action": http_action("http://127.0.0.1:9/"), "startTime": "2027-06-01T00:00:00Z"},
    )
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/jobs/doomed")
    page.click("text=Delete…")
    assert page.locator("h1").inner_text() == "Delete job doomed?"
    page.click("text=Cancel")
    assert api.get(api.job_path(name, "doomed")).status_code == 200
    page.click("text=Delete…")
    page.click("button:has-text('Delete job')")
    page.wait_for_url(re.compile(rf".*/c/{SUBSCRIPTION}/{GROUP}/{name}\?done=.*"))
    assert api.get(api.job_path(name, "doomed")).status_code == 404


def test_filtering_jobs_by_state_and_name(page: Any, server: RunningServer) -> None:
    api, name = new_collection(server)
    for job, state in (("alpha-sync", "Enabled"), ("beta-sync", "Disabled"), ("gamma", "Enabled")):
        api.create_job(
            name,
            job,
            {
                "action": http_action("http://127.0.0.1:9/"),
                "state": state,
                "startTime": "2027-06-01T00:00:00Z",
            },
        )
    sign_in(page, server)
    page.goto(collection_url(server, name))
    page.select_option("select[name=state]", "Enabled")
    page.fill("input[name=q]", "sync")
    page.click("button:has-text('Filter')")
    names = page.locator("table tbody tr td:first-child").all_inner_texts()
    assert names == ["alpha-sync"]


def test_readable_on_a_phone(chromium: Any, server: RunningServer) -> None:
    api, name = new_collection(server)
    api.create_job(
        name, "a-job-with-a-rather-long-name", {"action": http_action("http://127.0.0.1:9/x")}
    )
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    try:
        sign_in(phone, server)
        for path in (
            "/",
            f"/c/{SUBSCRIPTION}/{GROUP}/{name}",
            f"/c/{SUBSCRIPTION}/{GROUP}/{name}/new",
        ):
            phone.goto(server.base_url + path)
            overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
    finally:
        context.close()


def test_a_jobs_page_lists_its_next_runs_and_explains_an_instant(
    page: Any, server: RunningServer
) -> None:
    """Issue 14, item 8: the job page shows the runs the API's preview gives and answers
    "what happened at T?"; the editor keeps jitter, overlapPolicy and catchUp on a save."""
    api, name = new_collection(server)
    properties = {
        "startTime": "2027-01-04T06:00:00Z",
        "action": {"type": "Http", "request": {"uri": "http://127.0.0.1:9/in", "method": "GET"}},
        "recurrence": {
            "frequency": "Day",
            "interval": 1,
            "schedule": {"hours": [9], "minutes": [0]},
            "jitter": "PT10M",
        },
        "overlapPolicy": "Skip",
        "catchUp": {"policy": "once", "window": "PT1H"},
    }
    before = api.create_job(name, "daily", properties)["properties"]
    served = api.get(f"{api.job_path(name, 'daily')}/preview").json()["value"]
    sign_in(page, server)
    page.goto(collection_url(server, name) + "/jobs/daily")
    shown = page.locator("#upcoming time").evaluate_all("nodes => nodes.map(n => n.dateTime)")
    assert [value.replace(".000", "") for value in shown] == served
    page.fill("input[name=explain]", "2027-01-05T10:00:00Z")
    page.click("#explain button")
    page.locator("#explained").wait_for()
    assert page.inner_text("#outcome") == "notScheduled"
    assert "'schedule.hours' [9] has no 10" in page.inner_text("#explain")
    page.fill("input[name=explain]", "not a time")
    page.click("#explain button")
    assert "explain" in page.inner_text("#explain p.error")
    page.goto(collection_url(server, name) + "/jobs/daily/edit")
    page.locator("#preview-list li").first.wait_for()
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/daily\?done=.*"))
    after = api.job(name, "daily")["properties"]
    assert after == before


def test_holiday_calendars_on_the_collection_page_and_in_the_editor(
    page: Any, server: RunningServer
) -> None:
    """Issue 14, item 4: a calendar made, edited and refused through the collection's page;
    a job made in the editor follows it, and its live preview leaves the holidays out."""
    api, name = new_collection(server)
    sign_in(page, server)
    page.goto(collection_url(server, name))
    page.fill("#calendars input[name=name]", "off")
    page.get_by_role("checkbox", name="Saturday", exact=True).check()
    page.get_by_role("checkbox", name="Sunday", exact=True).check()
    page.fill("#calendars textarea[name=dates]", "2027-01-06\n2027-01-07")
    page.click("#calendars button[type=submit]")
    page.wait_for_url(re.compile(r".*\?done=Calendar%20off%20created\.$"))
    stored = api.get(f"{api.collection_path(name)}/calendars/off").json()["properties"]
    assert stored == {
        "dates": ["2027-01-06", "2027-01-07"],
        "weekDays": ["Sunday", "Saturday"],
        "jobs": [],
    }
    # A bad date is refused beside the form, which keeps what was typed; nothing changes.
    page.click("#calendars a:text('Edit')")
    assert page.input_value("#calendars textarea[name=dates]") == "2027-01-06\n2027-01-07"
    page.fill("#calendars textarea[name=dates]", "2027-01-06\n2027-02-30")
    page.click("#calendars button[type=submit]")
    assert "dates[1]" in page.inner_text("#calendar-error")
    assert page.input_value("#calendars textarea[name=dates]") == "2027-01-06\n2027-02-30"
    again = api.get(f"{api.collection_path(name)}/calendars/off").json()["properties"]
    assert again["dates"] == ["2027-01-06", "2027-01-07"]
    # A job that follows it, made in the editor: its preview skips the holidays.
    page.goto(collection_url(server, name) + "/new")
    page.fill("#job-name", "workdays")
    page.fill("#f-properties-action-request-uri", "http://127.0.0.1:9/in")
    page.fill("#f-properties-startTime", "2027-01-04T00:00:00Z")  # a Monday
    page.select_option("#f-properties-recurrence-frequency", "Day")
    page.fill("#f-properties-recurrence-interval", "1")
    page.click("#advanced summary")
    page.fill("#f-properties-recurrence-schedule-hours", "9")
    page.fill("#f-properties-recurrence-schedule-minutes", "0")
    page.fill("#f-properties-recurrence-calendar-name", "off")
    page.select_option("#f-properties-recurrence-calendar-onHoliday", "next")
    page.wait_for_function(
        "() => document.querySelectorAll('#preview-list time').length > 4"
        " && document.querySelectorAll('#preview-list time')[2].textContent"
        " === '2027-01-08 09:00:00Z'"
    )
    shown = page.locator("#preview-list li time").all_inner_texts()[:4]
    assert shown == [
        "2027-01-04 09:00:00Z",
        "2027-01-05 09:00:00Z",
        "2027-01-08 09:00:00Z",  # the 6th and 7th roll onto the 8th's own run
        "2027-01-11 09:00:00Z",
    ]
    page.click("#save")
    page.wait_for_url(re.compile(r".*/jobs/workdays\?done=Job%20created\.$"))
    job = api.job(name, "workdays")["properties"]
    assert job["recurrence"]["calendar"] == {"name": "off", "onHoliday": "next"}
    # Deleting the calendar while the job follows it is refused on the page.
    page.goto(collection_url(server, name) + "/calendars/off/delete")
    assert "workdays" in page.inner_text("main")
    page.click("button.danger")
    assert "followed by 1 job" in page.inner_text("#calendar-error")
    assert api.get(f"{api.collection_path(name)}/calendars/off").status_code == 200
