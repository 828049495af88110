"""The editor of a job created without startTime (issue 11), in Chromium, on a fake clock.

A job created through the API without startTime is anchored when it was saved (and a
chained one re-anchors on each actual start, §4.2). Hours later its editor must preview the
job's real next runs (the API's nextExecutionTime first), say what the effective start is,
and *Save* with nothing changed must leave the job exactly as it was."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from jobclock.domain.instants import format_instant_seconds
from jobclock.services import CollectionRef, JobRef
from tests.e2e.harness import Api, RunningServer, http_action
from tests.portal.live import LiveSystem, live_system
from tests.portal.test_browser import sign_in
from tests.system import T0

SUB, GROUP, COLLECTION = "sub", "rg", "jc"
EVERY_3_HOURS = {"frequency": "Hour", "interval": 3}
EVERY_MINUTE = {"frequency": "Minute", "interval": 1}
MONDAY_THURSDAY = {"frequency": "Week", "schedule": {"weekDays": ["Monday", "Thursday"]}}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveSystem]:
    with live_system(tmp_path) as running:
        yield running


def _server(live: LiveSystem) -> RunningServer:
    """What the e2e helpers read of a server: its URL and token."""
    return cast(RunningServer, live)


def _api(live: LiveSystem) -> Api:
    api = Api(_server(live), subscription=SUB, resource_group=GROUP)
    api.create_collection(COLLECTION)
    return api


def _created(live: LiveSystem, api: Api, name: str, at: datetime, recurrence: Any) -> None:
    """Created through the API at ``at`` without startTime; its first run happens."""
    live.at(at)
    api.create_job(
        COLLECTION, name, {"action": http_action("http://127.0.0.1:9/x"), "recurrence": recurrence}
    )
    live.at(at)


def _editor_url(live: LiveSystem, name: str) -> str:
    return f"{live.base_url}/c/{SUB}/{GROUP}/{COLLECTION}/jobs/{name}/edit"


def _previewed(page: Any) -> list[str]:
    page.locator("#preview-list li").first.wait_for()
    times = page.locator("#preview-list li time")
    return [times.nth(i).get_attribute("datetime") or "" for i in range(times.count())]


def _real_next_runs(live: LiveSystem, name: str) -> list[str]:
    ref = JobRef(CollectionRef(SUB, GROUP, COLLECTION), name)
    runs = live.call(live.system.service.upcoming_runs(ref, 10))
    return [format_instant_seconds(run) for run in runs]


def _save_unchanged(page: Any) -> None:
    page.click("#save")
    page.wait_for_url(re.compile(r".*\?done=Job%20saved\.$"))


def _check_editor_and_save(
    page: Any, live: LiveSystem, api: Api, name: str, anchor: datetime
) -> dict[str, Any]:
    before = api.job(COLLECTION, name)["properties"]
    assert "startTime" not in before
    sign_in(page, _server(live))
    page.goto(_editor_url(live, name))
    shown = _previewed(page)
    real = _real_next_runs(live, name)
    assert shown[0] == before["status"]["nextExecutionTime"].replace(".000", "")
    assert shown == real
    # The effective start is shown; the field stays empty (no startTime was given).
    assert page.locator("#f-properties-startTime").input_value() == ""
    hint = page.locator("#effective-start").inner_text()
    assert format_instant_seconds(anchor).replace("T", " ") in hint
    _save_unchanged(page)
    assert api.job(COLLECTION, name)["properties"] == before
    assert _real_next_runs(live, name) == real
    # The job's page (where the save leads) shows the effective start too.
    shown_start = page.locator("#start").inner_text()
    assert shown_start == "Not set · effective " + format_instant_seconds(anchor).replace("T", " ")
    return before


def test_an_every_3_hours_job_without_start(page: Any, live: LiveSystem) -> None:
    api = _api(live)
    created = T0 + timedelta(hours=10, minutes=17)
    _created(live, api, "every3h", created, EVERY_3_HOURS)
    live.at(T0 + timedelta(hours=11, minutes=40))
    before = _check_editor_and_save(page, live, api, "every3h", created)
    assert before["status"]["nextExecutionTime"] == "2024-01-01T13:17:00Z"
    # Still chained after the save: a run 5 s late moves the next one by 5 s.
    live.at(T0 + timedelta(hours=13, minutes=17, seconds=5))
    status = api.job(COLLECTION, "every3h")["properties"]["status"]
    assert status["nextExecutionTime"] == "2024-01-01T16:17:05Z"


def test_a_week_schedule_without_start(page: Any, live: LiveSystem) -> None:
    api = _api(live)
    created = T0 + timedelta(hours=8, minutes=30)  # Monday 08:30
    _created(live, api, "weekly", created, MONDAY_THURSDAY)
    live.at(T0 + timedelta(days=1, hours=10))  # Tuesday 10:00
    before = _check_editor_and_save(page, live, api, "weekly", created)
    assert before["status"]["nextExecutionTime"] == "2024-01-04T08:30:00Z"


def test_an_every_minute_job_without_start(page: Any, live: LiveSystem) -> None:
    api = _api(live)
    created = T0 + timedelta(seconds=20)
    _created(live, api, "minutely", created, EVERY_MINUTE)
    live.at(T0 + timedelta(seconds=50))
    before = _check_editor_and_save(page, live, api, "minutely", created)
    assert before["status"]["nextExecutionTime"] == "2024-01-01T00:01:20Z"


def test_changing_the_interval_re_anchors_and_the_preview_says_so(
    page: Any, live: LiveSystem
) -> None:
    api = _api(live)
    _created(live, api, "every3h", T0 + timedelta(hours=10, minutes=17), EVERY_3_HOURS)
    now = T0 + timedelta(hours=11, minutes=40)
    live.at(now)
    sign_in(page, _server(live))
    page.goto(_editor_url(live, "every3h"))
    _previewed(page)
    page.fill("#f-properties-recurrence-interval", "2")
    page.wait_for_function(
        "first => document.querySelector('#preview-list time').dateTime === first",
        arg=format_instant_seconds(now),
    )
    shown = _previewed(page)
    page.click("#save")
    page.wait_for_url(re.compile(r".*\?done=Job%20saved\.$"))
    status = api.job(COLLECTION, "every3h")["properties"]["status"]
    assert status["nextExecutionTime"] == shown[0]


def test_a_job_its_collection_disabled_saves_unchanged(page: Any, live: LiveSystem) -> None:
    """The form edits the state the user set (Enabled), not the Disabled the collection
    gave the job: saved unchanged, the job stays as it was."""
    api = _api(live)
    _created(live, api, "every3h", T0 + timedelta(hours=10, minutes=17), EVERY_3_HOURS)
    response = api.post(api.collection_path(COLLECTION) + "/disable")
    assert response.status_code == 200, response.text
    live.at(T0 + timedelta(hours=11, minutes=40))
    before = api.job(COLLECTION, "every3h")["properties"]
    assert before["state"] == "Disabled"
    sign_in(page, _server(live))
    page.goto(_editor_url(live, "every3h"))
    _previewed(page)
    assert page.locator("#f-properties-state").input_value() == "Enabled"
    assert "not scheduled now" in page.locator("#preview-status").inner_text()
    _save_unchanged(page)
    assert api.job(COLLECTION, "every3h")["properties"] == before
